Attribute VB_Name = "Buttons"
' The secretary's buttons on the control sheet. No logic here: each macro is one RunPython line into the
' Python module thidua.xlentry, which imports the bridge thidua.excel and turns any failure, an import failure
' included, into a message box (RunPython comes from the module xlwings, standalone mode).
Option Explicit

Public Sub MakeForms()
    RunPython "import thidua.xlentry as x; x.make_forms()"
End Sub

Public Sub ValidateInbox()
    RunPython "import thidua.xlentry as x; x.validate_inbox()"
End Sub

Public Sub Consolidate()
    RunPython "import thidua.xlentry as x; x.consolidate()"
End Sub

Public Sub WriteReport()
    RunPython "import thidua.xlentry as x; x.write_report()"
End Sub

Public Sub OpenOutput()
    RunPython "import thidua.xlentry as x; x.open_output()"
End Sub
