"""The secretary's macro workbook ThiDua2024.xlsm, built from macros/ and checked without Excel: olevba and olefile read
its VBA project back, openpyxl re-saves it, LibreOffice opens it and presses every button, and the rebuild check proves
the committed workbook matches the sources."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import olefile
import openpyxl
import pytest
import xlwings
from lo import needs_soffice
from oletools.olevba import VBA_Parser
from thidua.excel import ACTIONS
from thidua.office import soffice
from thidua.vba import VbaModule, build_vba_project
from thidua.workbook import (
    BUTTONS,
    CONTROL_CODENAME,
    MASTER_SHEETS,
    RIBBON_PART,
    RIBBON_REL_TYPE,
    SETTINGS,
    SHEET_CONTROL,
    SHEET_XLWINGS,
    SHEETS,
    STATUS_NAME,
    XLWINGS_CONF,
    build_workbook,
    build_workbook_bytes,
    project_modules,
    sheet_codenames,
    write_zip,
    xlwings_bas_version,
)

ROOT = Path(__file__).resolve().parents[1]
MACROS = ROOT / "macros"
COMMITTED = ROOT / "workbook" / "ThiDua2024.xlsm"
CHECKER = ROOT / "tools" / "check_workbook.py"
XLWINGS_DIR = Path(xlwings.__file__).parent
NS = {"v": "urn:schemas-microsoft-com:vml", "x": "urn:schemas-microsoft-com:office:excel"}
UI_NS = "{http://schemas.microsoft.com/office/2006/01/customui}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_workbook(tmp_path_factory.mktemp("built") / "ThiDua2024.xlsm")


def parts(path: Path | bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(path) if isinstance(path, bytes) else path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def source_code(file: Path) -> str:
    """An exported module's source as the project stores it: no class header, no Attribute lines, LF line ends."""
    lines = file.read_bytes().decode("ascii").replace("\r\n", "\n").split("\n")
    if lines[0].startswith("VERSION ") and "END" in lines:
        lines = lines[lines.index("END") + 1 :]
    while lines and lines[0].startswith("Attribute "):
        lines.pop(0)
    return "\n".join(lines)


def olevba_modules(path: Path) -> dict[str, str]:
    """Module file name (``Buttons.bas``) -> code as olevba prints it, without Attribute lines, LF line ends."""
    parser = VBA_Parser(str(path))
    try:
        found = {}
        for _, _, name, code in parser.extract_all_macros():
            lines = code.replace("\r\n", "\n").split("\n")
            found[name] = "\n".join(line for line in lines if not line.startswith("Attribute VB_"))
        return found
    finally:
        parser.close()


def expected_names() -> set[str]:
    own = {f.name for f in MACROS.iterdir() if f.suffix in (".bas", ".cls")}
    generated = {f"{code}.cls" for code in sheet_codenames().values() if f"{code}.cls" not in own}
    return own | generated | {"xlwings.bas", "Dictionary.cls"}


def buttons_in(path: Path) -> list[tuple[str, str]]:
    """(caption, macro) of every form button of the control sheet, read from its VML drawing."""
    files = parts(path)
    vml = [name for name in files if name.startswith("xl/drawings/vmlDrawing")]
    assert len(vml) == 1
    root = ET.fromstring(files[vml[0]])
    found = []
    for shape in root.iter("{urn:schemas-microsoft-com:vml}shape"):
        data = shape.find("x:ClientData", NS)
        if data is None or data.get("ObjectType") != "Button":
            continue
        caption = "".join(shape.find("v:textbox", NS).itertext()).strip()
        found.append((caption, data.findtext("x:FmlaMacro", namespaces=NS)))
    return found


def ribbon_actions(xml: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(xml)
    return [(b.get("label"), b.get("onAction")) for b in root.iter(f"{UI_NS}button")]


# --- the VBA project -------------------------------------------------------------------------------------------------


def test_olevba_lists_every_module_identical_to_macros(built: Path) -> None:
    modules = olevba_modules(built)
    assert set(modules) == expected_names()
    for file in MACROS.iterdir():
        if file.suffix in (".bas", ".cls"):
            assert modules[file.name] == source_code(file), file.name
    for code in sheet_codenames().values():
        if not (MACROS / f"{code}.cls").exists():
            assert modules[f"{code}.cls"].strip() == "Option Explicit"


def test_vba_project_opens_strictly(built: Path) -> None:
    data = parts(built)["xl/vbaProject.bin"]
    ole = olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT)
    streams = {"/".join(p) for p in ole.listdir()}
    assert {"PROJECT", "PROJECTwm", "VBA/_VBA_PROJECT", "VBA/dir"} <= streams
    assert {s.removeprefix("VBA/") for s in streams if s.startswith("VBA/") and not s.startswith("VBA/_")} == {
        name.rsplit(".", 1)[0] for name in expected_names()} | {"dir"}
    ole.close()


def test_xlwings_modules_come_from_the_installed_package(built: Path) -> None:
    modules = olevba_modules(built)
    assert modules["xlwings.bas"] == source_code(XLWINGS_DIR / "xlwings.bas")
    assert modules["Dictionary.cls"] == source_code(XLWINGS_DIR / "addin" / "Dictionary.cls")
    assert xlwings_bas_version(modules["xlwings.bas"]) == xlwings.__version__
    assert f"'Version: {xlwings.__version__}\n" in modules["xlwings.bas"]
    assert not (MACROS / "xlwings.bas").exists() and not (MACROS / "Dictionary.cls").exists()


#: xlwings' own standalone template, saved by Excel: the reference for what Excel writes.
XLWINGS_TEMPLATE = XLWINGS_DIR / "quickstart_standalone.xlsm"


def olevba_headers(path: Path) -> dict[str, list[str]]:
    """Module file name -> its Attribute header lines, as olevba prints them (module-level attributes only)."""
    parser = VBA_Parser(str(path))
    try:
        headers = {}
        for _, _, name, code in parser.extract_all_macros():
            lines = code.replace("\r\n", "\n").split("\n")
            headers[name] = [line for line in lines[: next((i for i, x in enumerate(lines)
                                                           if not x.startswith("Attribute VB_")), len(lines))]]
        return headers
    finally:
        parser.close()


def test_class_module_attributes_are_those_of_xlwings_own_template(built: Path) -> None:
    """The Dictionary class carries the header Excel wrote into xlwings' template: VB_Base of a class module,
    VB_Exposed = True (from Dictionary.cls), VB_TemplateDerived / VB_Customizable and the description, in Excel's
    order; the document modules' headers match the template's too."""
    ours, excel_saved = olevba_headers(built), olevba_headers(XLWINGS_TEMPLATE)
    assert ours["Dictionary.cls"] == excel_saved["Dictionary.cls"]
    assert 'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"' in ours["Dictionary.cls"]
    assert "Attribute VB_Exposed = True" in ours["Dictionary.cls"]
    assert ours["ThisWorkbook.cls"] == excel_saved["ThisWorkbook.cls"]
    assert ours["Sheet2.cls"] == excel_saved["Sheet2.cls"]
    assert ours["xlwings.bas"] == excel_saved["xlwings.bas"] == ['Attribute VB_Name = "xlwings"']


def test_vba_project_stream_as_excel_writes_it(built: Path) -> None:
    """_VBA_PROJECT of a source-only project, reserved bytes included, equals the one in xlwings' Excel-saved
    templates (every one of them that has no compiled cache)."""
    def stream(path: Path) -> bytes:
        ole = olefile.OleFileIO(parts(path)["xl/vbaProject.bin"])
        try:
            return ole.openstream("VBA/_VBA_PROJECT").read()
        finally:
            ole.close()

    templates = [XLWINGS_TEMPLATE, XLWINGS_DIR / "quickstart_addin.xlam", XLWINGS_DIR / "addin" / "xlwings.xlam"]
    assert {stream(t) for t in templates} == {stream(built)} == {bytes.fromhex("CC61FFFF000100")}


def test_macros_hold_no_logic() -> None:
    """Every line of macros/ is a comment, a declaration, a Sub frame, one RunPython line into the bridge, or a call
    of a button Sub (the ribbon callbacks)."""
    buttons = {b.macro for b in BUTTONS}
    commands = {}
    for file in sorted(MACROS.iterdir()):
        raw = file.read_bytes()
        assert raw.isascii(), f"{file.name} must be ASCII"
        assert b"\n" not in raw.replace(b"\r\n", b""), f"{file.name}: CRLF line ends"
        sub = None
        for line in source_code(file).split("\n"):
            text = line.strip()
            if not text or text.startswith("'") or text == "Option Explicit":
                continue
            if m := re.fullmatch(r"Public Sub (\w+)\((control As IRibbonControl)?\)", text):
                sub = m[1]
                continue
            if text == "End Sub":
                sub = None
                continue
            assert sub is not None, f"{file.name}: code outside a Sub: {text!r}"
            if m := re.fullmatch(r'RunPython "import thidua\.xlentry as x; x\.(\w+)\(\)"', text):
                assert m[1] in ACTIONS and sub in buttons
                commands[sub] = m[1]
            else:
                assert sub == f"On{text}" and text in buttons, f"{file.name}: {text!r} is logic"
    assert sorted(commands) == sorted(buttons)
    assert sorted(commands.values()) == sorted(ACTIONS)


def test_build_refuses_a_button_without_its_macro(tmp_path: Path) -> None:
    shutil.copytree(MACROS, tmp_path / "macros")
    buttons = tmp_path / "macros" / "Buttons.bas"
    buttons.write_bytes(buttons.read_bytes().replace(b"Public Sub WriteReport()", b"Public Sub WriteReports()"))
    from thidua.errors import ThiDuaError

    with pytest.raises(ThiDuaError, match="WriteReport"):
        build_workbook_bytes(tmp_path / "macros")


# --- sheets, names, buttons, xlwings.conf ----------------------------------------------------------------------------


def test_sheets_names_and_settings(built: Path) -> None:
    wb = openpyxl.load_workbook(built, keep_vba=True)
    assert wb.sheetnames == list(SHEETS)
    assert not any(name.endswith(".py") for name in wb.sheetnames)
    assert wb[SHEET_CONTROL].sheet_properties.codeName == CONTROL_CODENAME
    assert {ws.title: ws.sheet_properties.codeName for ws in wb.worksheets} == sheet_codenames()
    control = wb[SHEET_CONTROL]
    for setting in SETTINGS:
        ((sheet, ref),) = wb.defined_names[setting.name].destinations
        assert sheet == SHEET_CONTROL
        cell = control[ref.replace("$", "")]
        assert control.cell(cell.row, cell.column - 1).value == setting.label  # labelled on its left
        assert (cell.value or "") == setting.default
        assert cell.number_format == "@"  # "2024-09" must not become a date
    ((sheet, ref),) = wb.defined_names[STATUS_NAME].destinations
    assert control[ref.replace("$", "")].value
    kinds = [dv for dv in control.data_validations.dataValidation if dv.type == "list"]
    assert len(kinds) == 1 and kinds[0].formula1 == '"sơ kết,tổng kết"'
    for name in MASTER_SHEETS:
        assert wb[name]["A1"].value == name.upper()


def test_buttons_call_their_macros(built: Path) -> None:
    assert buttons_in(built) == [(b.caption, f"[0]!{b.macro}") for b in BUTTONS]


def test_user_visible_text_is_nfc_vietnamese(built: Path) -> None:
    files = parts(built)
    for name in ("xl/sharedStrings.xml", "xl/workbook.xml", RIBBON_PART, "docProps/core.xml", "docProps/app.xml",
                 *[n for n in files if n.endswith(".vml")]):
        text = files[name].decode("utf-8")
        assert unicodedata.is_normalized("NFC", text), name
    assert "Bảng điều khiển" in files["xl/workbook.xml"].decode()
    assert "Thi đua 2024" in files[RIBBON_PART].decode()


def test_xlwings_conf_sheet_as_xlwings_reads_it(built: Path) -> None:
    ws = openpyxl.load_workbook(built)[SHEET_XLWINGS]
    # xlwings.bas: keys from A1 down to the last cell before the first empty one (Range("A1").End(xlDown)), values in B
    config = {}
    row = 1
    while ws.cell(row, 1).value not in (None, ""):
        key = ws.cell(row, 1).value.upper()
        assert key not in config, "a duplicate key makes Dictionary.Add fail in xlwings.bas"
        config[key] = ws.cell(row, 2).value
        assert ws.cell(row, 3).value, f"{key} has no explanation in column C"
        row += 1
    assert list(config) == [key.upper() for key, _, _ in XLWINGS_CONF]
    assert {"INTERPRETER_WIN", "TEMP DIR", "PYTHONPATH", "ADD_WORKBOOK_TO_PYTHONPATH", "CONDA PATH",
            "CONDA ENV"} <= set(config)
    assert config["INTERPRETER_WIN"] == r"C:\ThiDua2024\.venv\Scripts\pythonw.exe"  # the install folder's
    assert config["TEMP DIR"] == r"C:\ThiDua2024\tmp"  # ASCII, not %TEMP% under a user name with diacritics
    assert not any("%" in str(v) or "Users" in str(v) for v in config.values())
    for key in ("ADD_WORKBOOK_TO_PYTHONPATH", "DEBUG UDFS", "USE UDF SERVER", "SHOW CONSOLE"):
        assert config[key] is False  # xlwings compares these with True/False: never empty
    assert ws.cell(row + 2, 1).value  # the notes, after a blank row


# --- the ribbon -------------------------------------------------------------------------------------------------------


def test_ribbon_part_and_2006_relationship(built: Path) -> None:
    files = parts(built)
    rels = ET.fromstring(files["_rels/.rels"])
    ribbon = [r for r in rels if r.get("Target") == RIBBON_PART]
    assert len(ribbon) == 1 and ribbon[0].get("Type") == RIBBON_REL_TYPE
    assert "/2007/relationships/ui/extensibility" not in files["_rels/.rels"].decode()
    root = ET.fromstring(files[RIBBON_PART])
    assert root.tag == f"{UI_NS}customUI"
    (tab,) = root.iter(f"{UI_NS}tab")
    assert tab.get("label") == "Thi đua 2024"
    actions = [action for _, action in ribbon_actions(files[RIBBON_PART])]
    assert actions == [f"On{b.macro}" for b in BUTTONS]
    ribbon_module = source_code(MACROS / "Ribbon.bas")
    for action in actions:
        assert f"Public Sub {action}(control As IRibbonControl)" in ribbon_module


# --- reproducible build, openpyxl round trip --------------------------------------------------------------------------


def test_build_is_reproducible(built: Path) -> None:
    again = build_workbook_bytes()
    assert again == built.read_bytes()
    with zipfile.ZipFile(built) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_openpyxl_keep_vba_round_trip(built: Path, tmp_path: Path) -> None:
    saved = tmp_path / "saved.xlsm"
    openpyxl.load_workbook(built, keep_vba=True).save(saved)
    assert olevba_modules(saved) == olevba_modules(built)
    assert buttons_in(saved) == buttons_in(built)
    files = parts(saved)
    assert files[RIBBON_PART] == parts(built)[RIBBON_PART]
    assert RIBBON_REL_TYPE in files["_rels/.rels"].decode()
    # The control: without keep_vba the macros, the buttons and the ribbon vanish silently.
    lost = tmp_path / "lost.xlsm"
    openpyxl.load_workbook(built).save(lost)
    assert "xl/vbaProject.bin" not in parts(lost) and RIBBON_PART not in parts(lost)


# --- the rebuild check ------------------------------------------------------------------------------------------------


def check(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECKER), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_committed_workbook_is_up_to_date() -> None:
    result = check()
    assert result.returncode == 0, result.stdout + result.stderr


def test_rebuild_check_passes_on_a_fresh_build(built: Path) -> None:
    result = check("--workbook", built, "--macros", MACROS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rebuild_check_fails_when_a_bas_file_is_edited_without_rebuilding(built: Path, tmp_path: Path) -> None:
    macros = tmp_path / "macros"
    shutil.copytree(MACROS, macros)
    bas = macros / "Buttons.bas"
    bas.write_bytes(bas.read_bytes().replace(b"x.consolidate()", b"x.consolidate()  "))
    result = check("--workbook", built, "--macros", macros)
    assert result.returncode == 1
    assert "xl/vbaProject.bin: differs (streams: VBA/Buttons)" in result.stdout


def test_rebuild_check_fails_on_an_edited_part_and_ignores_only_timestamps(built: Path, tmp_path: Path) -> None:
    files = parts(built)
    core = files["docProps/core.xml"].decode()
    assert core.count("2024-01-01T00:00:00Z") == 2  # created and modified
    files["docProps/core.xml"] = core.replace("2024-01-01T00:00:00Z", "2031-05-06T07:08:09Z").encode()
    stamped = tmp_path / "stamped.xlsm"
    stamped.write_bytes(write_zip(files))
    assert check("--workbook", stamped, "--macros", MACROS).returncode == 0
    files["xl/worksheets/sheet1.xml"] += b" "
    edited = tmp_path / "edited.xlsm"
    edited.write_bytes(write_zip(files))
    result = check("--workbook", edited, "--macros", MACROS)
    assert result.returncode == 1 and "xl/worksheets/sheet1.xml: differs" in result.stdout


# --- LibreOffice presses the buttons ----------------------------------------------------------------------------------

#: Stands in for xlwings.bas, which LibreOffice cannot compile: records the command it is given in a cell.
STUB_RUNPYTHON = """Public Function RunPython(PythonCommand As String)
    ThisWorkbook.Worksheets("xlwings.conf").Range("H1").Value = PythonCommand
End Function
"""
RECORD_CELL = "H1"

HARNESS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Harness" script:language="StarBasic">
Sub Emit(out, fields)
  out.writeString(Join(fields, Chr(9)) &amp; Chr(10))
End Sub

Function Recorded(rec)
  For w = 1 To 100
    If rec.getString() &lt;&gt; "" Then Exit For
    Wait 50
  Next
  Recorded = rec.getString()
End Function

Sub Run
  sfa = createUnoService("com.sun.star.ucb.SimpleFileAccess")
  out = createUnoService("com.sun.star.io.TextOutputStream")
  out.setOutputStream(sfa.openFileWrite(ConvertToURL("{result}")))
  out.setEncoding("UTF-8")
  On Error Goto Failed
  Dim args(0) As New com.sun.star.beans.PropertyValue
  args(0).Name = "MacroExecutionMode"
  args(0).Value = 4
  doc = StarDesktop.loadComponentFromURL(ConvertToURL("{book}"), "_blank", 0, args())
  rec = doc.Sheets.getByName("xlwings.conf").getCellRangeByName("{cell}")
  controller = doc.getCurrentController()
  For s = 0 To doc.Sheets.getCount() - 1
    sheet = doc.Sheets.getByIndex(s)
    forms = sheet.getDrawPage().getForms()
    For f = 0 To forms.getCount() - 1
      form = forms.getByIndex(f)
      For c = 0 To form.getCount() - 1
        model = form.getByIndex(c)
        events = form.getScriptEvents(c)
        For e = LBound(events) To UBound(events)
          Emit(out, Array("bound", sheet.Name, model.Label, events(e).ListenerType, events(e).EventMethod, _
                          events(e).ScriptCode))
        Next
        rec.setString("")
        controller.setActiveSheet(sheet)
        controller.getControl(model).getAccessibleContext().doAccessibleAction(0)
        Emit(out, Array("pressed", sheet.Name, model.Label, Recorded(rec)))
      Next
    Next
  Next
{ribbon}
  doc.close(True)
  out.closeOutput()
  Exit Sub
Failed:
  Emit(out, Array("error", Err, Error$, Erl))
  out.closeOutput()
End Sub
</script:module>
"""
RIBBON_CALL = """  rec.setString("")
  doc.getScriptProvider().getScript("{uri}").invoke(Array(Nothing), Array(), Array())
  Emit(out, Array("ribbon", "{action}", Recorded(rec)))
"""


def harness_copy(built: Path, dest: Path) -> Path:
    """The built workbook with its VBA project rebuilt from the same modules except xlwings' two: ``xlwings`` becomes
    a stub RunPython that records its argument, ``Dictionary`` an empty class (LibreOffice cannot compile their
    ``#If`` blocks). Every other part, the buttons' VML included, is the built workbook's."""
    modules = []
    for module in project_modules(MACROS):
        if module.name == "xlwings":
            module = VbaModule("xlwings", STUB_RUNPYTHON, "standard")
        elif module.name == "Dictionary":
            module = VbaModule("Dictionary", "Option Explicit\n", "class")
        modules.append(module)
    files = parts(built)
    files["xl/vbaProject.bin"] = build_vba_project(modules)
    dest.write_bytes(write_zip(files))
    return dest


def module_of(sub: str) -> str:
    for file in MACROS.glob("*.bas"):
        if re.search(rf"^Public Sub {sub}\(", source_code(file), re.MULTILINE):
            return file.stem
    raise AssertionError(f"no module defines {sub}")


def run_soffice(command: list[str], timeout: float = 180) -> None:
    """Run LibreOffice in its own process group; on a timeout kill the whole group (soffice.bin included), so that a
    modal dialog in a headless run cannot leave a process behind."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"LibreOffice did not finish within {timeout:.0f} s: {command[-1]}") from None


def press_buttons(built: Path, tmp: Path) -> list[list[str]]:
    """Open the workbook in LibreOffice headless, press every form button (its accessible "click" action, which runs
    the macro LibreOffice bound to it from the file) and call every ribbon callback named in customUI.xml; return
    the harness's records: ``bound`` (sheet, caption, listener, method, script), ``pressed`` (sheet, caption,
    command), ``ribbon`` (callback, command) or ``error``."""
    book, result, profile = harness_copy(built, tmp / "harness.xlsm"), tmp / "result.tsv", tmp / "lo-profile"
    binary = soffice()
    assert binary is not None
    command = [binary, "--headless", "--invisible", "--norestore", f"-env:UserInstallation={profile.as_uri()}"]
    run_soffice([*command, "--terminate_after_init"])
    library = profile / "user" / "basic" / "Standard"
    ribbon = "".join(
        RIBBON_CALL.format(action=action,
                           uri=f"vnd.sun.star.script:VBAProject.{module_of(action)}.{action}?language=Basic&amp;"
                               "location=document")
        for _, action in ribbon_actions(parts(built)[RIBBON_PART]))
    (library / "Harness.xba").write_text(HARNESS.format(result=result, book=book, cell=RECORD_CELL, ribbon=ribbon),
                                         encoding="utf-8")
    index = (library / "script.xlb").read_text(encoding="utf-8")
    (library / "script.xlb").write_text(
        index.replace('"Module1"/>', '"Module1"/><library:element library:name="Harness"/>'), encoding="utf-8")
    run_soffice([*command, "macro:///Standard.Harness.Run"])
    assert result.exists(), "the LibreOffice harness did not run"
    return [line.split("\t") for line in result.read_text(encoding="utf-8").splitlines()]


def expected_command(macro: str) -> str:
    match = re.search(rf'Public Sub {macro}\(\)\n\s*RunPython "([^"]+)"', source_code(MACROS / "Buttons.bas"))
    assert match, macro
    return match[1]


@needs_soffice
def test_libreoffice_presses_every_button_and_ribbon_callback(built: Path, tmp_path: Path) -> None:
    records = press_buttons(built, tmp_path)
    assert [r for r in records if r[0] == "error"] == []
    macro_of = {caption: macro.removeprefix("[0]!") for caption, macro in buttons_in(built)}
    bound = [r[1:] for r in records if r[0] == "bound"]
    assert [(sheet, caption) for sheet, caption, *_ in bound] == [(SHEET_CONTROL, b.caption) for b in BUTTONS]
    for _, caption, listener, method, script in bound:  # the file's FmlaMacro, as LibreOffice bound it
        assert (listener, method) == ("XActionListener", "actionPerformed")
        assert script == (f"vnd.sun.star.script:VBAProject.{module_of(macro_of[caption])}.{macro_of[caption]}"
                          "?language=Basic&location=document")
    pressed = {caption: command for _, _, caption, command in (r for r in records if r[0] == "pressed")}
    assert pressed == {b.caption: f"import thidua.xlentry as x; x.{name}()" for b, name in zip(BUTTONS, ACTIONS,
                                                                                               strict=True)}
    assert pressed == {b.caption: expected_command(b.macro) for b in BUTTONS}
    ribbon = {action: command for _, action, command in (r for r in records if r[0] == "ribbon")}
    assert ribbon == {f"On{b.macro}": pressed[b.caption] for b in BUTTONS}


@needs_soffice
def test_libreoffice_harness_sees_a_changed_command(tmp_path: Path, monkeypatch) -> None:
    """The harness can fail: built from sources whose first button runs another command, pressing it records that
    command, not the expected one."""
    macros = tmp_path / "macros"
    shutil.copytree(MACROS, macros)
    bas = macros / "Buttons.bas"
    bas.write_bytes(bas.read_bytes().replace(b"x.make_forms()", b"x.open_output()"))
    book = build_workbook(tmp_path / "changed.xlsm", macros)
    monkeypatch.setattr(sys.modules[__name__], "MACROS", macros)
    records = press_buttons(book, tmp_path)
    pressed = {caption: command for _, _, caption, command in (r for r in records if r[0] == "pressed")}
    assert pressed[BUTTONS[0].caption] == "import thidua.xlentry as x; x.open_output()"
    ribbon = {action: command for _, action, command in (r for r in records if r[0] == "ribbon")}
    assert ribbon[f"On{BUTTONS[0].macro}"] == "import thidua.xlentry as x; x.open_output()"
