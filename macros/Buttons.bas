Attribute VB_Name = "Buttons"
' The secretary's buttons on the control sheet. No logic here: each macro is one RunPython line into the
' Python bridge thidua.excel (RunPython comes from the module xlwings, standalone mode).
Option Explicit

Public Sub MakeForms()
    RunPython "import thidua.excel as x; x.make_forms()"
End Sub

Public Sub ValidateInbox()
    RunPython "import thidua.excel as x; x.validate_inbox()"
End Sub

Public Sub Consolidate()
    RunPython "import thidua.excel as x; x.consolidate()"
End Sub

Public Sub WriteReport()
    RunPython "import thidua.excel as x; x.write_report()"
End Sub

Public Sub OpenOutput()
    RunPython "import thidua.excel as x; x.open_output()"
End Sub
