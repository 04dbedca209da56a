Attribute VB_Name = "Ribbon"
' Callbacks of the ribbon tab (customUI/customUI.xml): each one presses the button of the same name.
Option Explicit

Public Sub OnMakeForms(control As IRibbonControl)
    MakeForms
End Sub

Public Sub OnValidateInbox(control As IRibbonControl)
    ValidateInbox
End Sub

Public Sub OnConsolidate(control As IRibbonControl)
    Consolidate
End Sub

Public Sub OnWriteReport(control As IRibbonControl)
    WriteReport
End Sub

Public Sub OnOpenOutput(control As IRibbonControl)
    OpenOutput
End Sub
