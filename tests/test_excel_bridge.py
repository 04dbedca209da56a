"""The Excel bridge (thidua.excel) without Excel: the commands the buttons send (recorded by pressing them in
LibreOffice) executed against the file-based workbook, the expected problems as status messages, and the live
xlwings side driven through a fake xlwings book."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook
from test_workbook import MACROS, expected_command, press_buttons, source_code
from thidua import excel
from thidua.catalogue import default_catalogue
from thidua.demo import MISTAKES, make_inbox
from thidua.master import MASTER_SHEETS, SHEET_FINDINGS, findings_table, write_master
from thidua.model import PeriodData
from thidua.office import soffice
from thidua.period import Period
from thidua.reader import read_submission
from thidua.sink import OpenpyxlSink
from thidua.workbook import BUTTONS, SHEET_CONTROL, STATUS_NAME, build_workbook
from thidua.xlsink import XlwingsSink, cell_value

PERIOD = Period(2024, 9)


@pytest.fixture(autouse=True)
def install_folder(tmp_path: Path, monkeypatch) -> Path:
    """The install folder (its log) inside the test's folder; no %TEMP% / %TMP% variables, which on Windows would make
    pytest's own folders temporary locations."""
    monkeypatch.setenv("THIDUA_HOME", str(tmp_path / "install"))
    for name in ("TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "install"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A built workbook and the demo inbox, made once: tests copy them."""
    root = tmp_path_factory.mktemp("template")
    build_workbook(root / "ThiDua2024.xlsm")
    make_inbox(default_catalogue(), PERIOD, root / "demo-forms", root / str(PERIOD))
    return root


@pytest.fixture
def desk(template: Path, tmp_path: Path) -> Path:
    """The secretary's year folder: ThiDua2024.xlsm beside the month's inbox "2024-09" (the workbook's default settings:
    an empty inbox setting means the folder named after the period)."""
    shutil.copy(template / "ThiDua2024.xlsm", tmp_path)
    shutil.copytree(template / str(PERIOD), tmp_path / str(PERIOD))
    return tmp_path


@pytest.fixture(scope="module")
def button_commands(template: Path, tmp_path_factory) -> dict[str, str]:
    """Button macro -> the command string it passes to RunPython: recorded by pressing the buttons in LibreOffice
    (see test_workbook), or read from the VBA source where LibreOffice is not installed."""
    if soffice() is None:
        return {b.macro: expected_command(b.macro) for b in BUTTONS}
    records = press_buttons(template / "ThiDua2024.xlsm", tmp_path_factory.mktemp("press"))
    pressed = {caption: command for _, _, caption, command in (r for r in records if r[0] == "pressed")}
    return {b.macro: pressed[b.caption] for b in BUTTONS}


def setting(book: Path, name: str, value: Any) -> None:
    """Type ``value`` into the settings cell ``name`` (as the secretary would)."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ((sheet, ref),) = wb.defined_names[name].destinations
    wb[sheet][ref.replace("$", "")].value = value
    wb.save(book)


def status(book: Path) -> str:
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ((sheet, ref),) = wb.defined_names[STATUS_NAME].destinations
    return wb[sheet][ref.replace("$", "")].value


def press(command: str, book: Path) -> excel.FileBook:
    """Execute a button's command string with the bridge bound to the workbook file; return the FileBook."""
    with excel.bound(book) as bound:
        exec(command, {})
    return bound


def sheet_values(book: Path, name: str) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(book)).get_sheet_by_name(name).to_python()


# --- the buttons' commands, executed ----------------------------------------------------------------------------------


def test_button_commands_are_the_bridge_entry_points(button_commands: dict[str, str]) -> None:
    assert set(button_commands.values()) == {f"import thidua.xlentry as x; x.{name}()" for name in excel.ACTIONS}


def test_make_forms_writes_the_forms(desk: Path, button_commands: dict[str, str]) -> None:
    press(button_commands["MakeForms"], desk / "ThiDua2024.xlsm")
    forms = sorted((desk / "ket-qua" / "bieu" / "2024-09").iterdir())
    assert [f.name for f in forms] == sorted(f"ThiDua_2024-09_{u.code}.xlsx" for u in default_catalogue().units)
    assert all(read_submission(f).readable for f in forms)
    assert status(desk / "ThiDua2024.xlsm").startswith("Đã tạo 9 biểu báo cáo tháng 09/2024")


def test_validate_inbox_lists_findings_and_writes_return_packages(desk: Path, button_commands: dict[str, str]) -> None:
    book = desk / "ThiDua2024.xlsm"
    press(button_commands["ValidateInbox"], book)
    rows = sheet_values(book, SHEET_FINDINGS)
    header = findings_table(PeriodData(PERIOD, []), default_catalogue()).header
    assert rows[0] == header
    units_with_errors = {r[1] for r in rows[1:] if r[3] == "Lỗi"}
    assert units_with_errors == {m.unit for m in MISTAKES}
    returns = {p.name for p in (desk / "ket-qua" / "tra-lai" / "2024-09").iterdir()}
    assert len(returns) >= len(MISTAKES)
    assert not (desk / "thidua-ledger.sqlite").exists()  # checking records nothing
    assert status(book).startswith("Đã kiểm tra 9 tệp: 5 hợp lệ, 4 có lỗi")


def test_consolidate_fills_the_master_sheets_like_the_cli(desk: Path, tmp_path: Path,
                                                          button_commands: dict[str, str]) -> None:
    book = desk / "ThiDua2024.xlsm"
    cli_book = tmp_path / "cli" / "ThiDua2024.xlsm"
    cli_book.parent.mkdir()
    shutil.copy(book, cli_book)
    press(button_commands["Consolidate"], book)
    assert (desk / "thidua-ledger.sqlite").is_file()
    assert status(book).startswith("Đã tổng hợp tháng 09/2024: 9 tệp mới (5 được dùng, 4 bị trả lại)")
    from thidua.cli import app

    result = CliRunner().invoke(app, ["consolidate", str(desk / "2024-09"), "--period", "2024-09", "--ledger",
                                      str(tmp_path / "cli" / "ledger.sqlite"), "--workbook", str(cli_book)])
    assert result.exit_code in (0, 1), result.output
    for name in MASTER_SHEETS:
        ours = sheet_values(book, name)
        assert len(ours) > 1, name
        assert ours == sheet_values(cli_book, name), name
    wb = openpyxl.load_workbook(book, keep_vba=True)  # the master sheets keep their VBA code names
    codenames = ["Sheet2", "Sheet3", "Sheet4", "Sheet5", "Sheet6"]
    assert [wb[name].sheet_properties.codeName for name in MASTER_SHEETS] == codenames


def test_consolidate_saves_the_workbook_once(desk: Path) -> None:
    """The button saves the workbook itself ("Đã lưu bảng tính."): one save, so one backup of the previous file."""
    from thidua.sink import backups

    book = desk / "ThiDua2024.xlsm"
    outcome = excel.run("consolidate", book)
    assert outcome.ok and outcome.message.endswith("Đã lưu bảng tính.") and status(book) == outcome.message
    assert len(backups(book)) == 1


def test_cli_consolidate_keeps_the_sheet_code_names(desk: Path) -> None:
    from thidua.cli import app

    book = desk / "ThiDua2024.xlsm"
    CliRunner().invoke(app, ["consolidate", str(desk / "2024-09"), "--period", "2024-09", "--workbook", str(book)])
    wb = openpyxl.load_workbook(book, keep_vba=True)
    codenames = ["Sheet2", "Sheet3", "Sheet4", "Sheet5", "Sheet6"]
    assert [wb[name].sheet_properties.codeName for name in MASTER_SHEETS] == codenames


def test_write_report_after_consolidation(desk: Path, button_commands: dict[str, str]) -> None:
    pytest.importorskip("thidua.report", reason="report.py (thidua report) is not there yet")
    book = desk / "ThiDua2024.xlsm"
    press(button_commands["Consolidate"], book)
    press(button_commands["WriteReport"], book)
    out = desk / "ket-qua" / "bao-cao"
    assert {p.name for p in out.iterdir()} >= {"BaoCao_SoKet_2024-09.docx", "PhuLuc_SoKet_2024-09.xlsx"}
    assert status(book).startswith("Đã viết báo cáo sơ kết tháng 9 năm 2024")
    setting(book, "TD_Kind", "tổng kết")
    press(button_commands["WriteReport"], book)
    assert (out / "BaoCao_TongKet_2024-01-09.docx").is_file()  # the year from January (as thidua report)
    setting(book, "TD_Kind", "sơ kết")
    setting(book, "TD_Period", "2024-Q3")  # the same cell takes a quarter, a half-year or a year for the report
    press(button_commands["WriteReport"], book)
    assert (out / "BaoCao_SoKet_2024-Q3.docx").is_file()


def test_open_output(desk: Path, button_commands: dict[str, str]) -> None:
    bound = press(button_commands["OpenOutput"], desk / "ThiDua2024.xlsm")
    assert bound.opened == [desk / "ket-qua"] and (desk / "ket-qua").is_dir()
    assert bound.alerts == []


def test_every_action_keeps_macros_buttons_and_ribbon(desk: Path) -> None:
    from test_workbook import buttons_in, olevba_modules, parts

    book = desk / "ThiDua2024.xlsm"
    before_modules, before_buttons = olevba_modules(book), buttons_in(book)
    for action in excel.ACTIONS:
        excel.run(action, book)
    assert olevba_modules(book) == before_modules
    assert buttons_in(book) == before_buttons
    assert "customUI/customUI.xml" in parts(book)


# --- expected problems: a message, never a traceback ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "prepare", "expected"),
    [
        ("validate_inbox", lambda d: shutil.rmtree(d / "2024-09"),
         "Lỗi: Ô “Thư mục hộp thư đến” trên trang “Bảng điều khiển”: chưa có thư mục hộp thư của kỳ"),
        ("consolidate", lambda d: [p.unlink() for p in (d / "2024-09").iterdir()],
         "Lỗi: Chưa có gì để tổng hợp"),
        ("make_forms", lambda d: setting(d / "ThiDua2024.xlsm", "TD_Period", "2024-13"),
         "Lỗi: Ô “Kỳ báo cáo (NNNN-TT)” trên trang “Bảng điều khiển”: Kỳ báo cáo “2024-13” không hợp lệ"),
        ("make_forms", lambda d: setting(d / "ThiDua2024.xlsm", "TD_Period", None),
         "Lỗi: Ô “Kỳ báo cáo (NNNN-TT)” trên trang “Bảng điều khiển”: chưa nhập kỳ báo cáo"),
        ("write_report", lambda d: None,
         "Lỗi: Ô “Sổ theo dõi (tệp lưu hồ sơ đã nhận)” trên trang “Bảng điều khiển”: chưa có sổ theo dõi"),
        ("write_report", lambda d: setting(d / "ThiDua2024.xlsm", "TD_Kind", "báo cáo quý"),
         "Lỗi: Ô “Loại báo cáo” trên trang “Bảng điều khiển”: chỉ chọn “sơ kết” hoặc “tổng kết”"),
        ("validate_inbox", lambda d: setting(d / "ThiDua2024.xlsm", "TD_Inbox", "."),
         "Lỗi: Ô “Thư mục hộp thư đến” trên trang “Bảng điều khiển”: hộp thư đến không được là thư mục chứa chính"),
        ("make_forms", lambda d: setting(d / "ThiDua2024.xlsm", "TD_Units", "khong-co.toml"),
         "Lỗi: Ô “Danh sách đơn vị (tệp .toml)” trên trang “Bảng điều khiển”: không tìm thấy tệp danh sách đơn vị"),
    ],
)
def test_expected_problems_become_a_status_message(desk: Path, action: str, prepare, expected: str) -> None:
    book = desk / "ThiDua2024.xlsm"
    prepare(desk)
    with excel.bound(book) as bound:
        outcome = excel.ACTIONS[action]()
    assert not outcome.ok
    assert outcome.message.startswith(expected), outcome.message
    assert "Traceback" not in outcome.message
    assert bound.alerts == [outcome.message]
    assert status(book) == outcome.message


def test_an_unexpected_error_is_logged_not_shown(desk: Path, tmp_path: Path, monkeypatch) -> None:
    import thidua.form

    def broken(*args, **kwargs):
        raise RuntimeError("hỏng")

    monkeypatch.setattr(thidua.form, "write_forms", broken)
    outcome = excel.run("make_forms", desk / "ThiDua2024.xlsm")
    assert not outcome.ok and outcome.message.startswith("Lỗi không mong đợi (RuntimeError: hỏng).")
    log_file = tmp_path / "install" / "nhat-ky" / "thidua-excel.log"  # under the install folder (THIDUA_HOME here)
    assert str(log_file) in outcome.message
    log = log_file.read_text(encoding="utf-8")
    assert "Traceback" in log and "RuntimeError: hỏng" in log


# --- settings are read by name, paths resolved ------------------------------------------------------------------------


def test_settings_are_read_by_name_not_position(desk: Path) -> None:
    book = desk / "ThiDua2024.xlsm"
    wb = openpyxl.load_workbook(book, keep_vba=True)
    wb[SHEET_CONTROL]["F30"] = "2024-08"
    wb.defined_names["TD_Period"].attr_text = f"'{SHEET_CONTROL}'!$F$30"
    wb.save(book)
    excel.run("make_forms", book)
    assert (desk / "ket-qua" / "bieu" / "2024-08").is_dir()


def test_period_typed_as_a_date_and_paths_with_quotes_and_variables(desk: Path, monkeypatch) -> None:
    book = desk / "ThiDua2024.xlsm"
    monkeypatch.setenv("THIDUA_TEST_OUT", str(desk / "elsewhere"))
    setting(book, "TD_Period", dt.datetime(2024, 7, 1))  # Excel turned "2024-07" into a date
    setting(book, "TD_Output", '"%THIDUA_TEST_OUT%"' if sys.platform == "win32" else '"$THIDUA_TEST_OUT"')
    outcome = excel.run("make_forms", book)
    assert outcome.ok, outcome.message
    assert len(list((desk / "elsewhere" / "bieu" / "2024-07").iterdir())) == 9


def test_python_m_thidua_excel_file_mode(desk: Path) -> None:
    command = [sys.executable, "-m", "thidua.excel", "--file", "open_output", str(desk / "ThiDua2024.xlsm")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert "Đã mở thư mục kết quả" in result.stdout


# --- the live side: xlwings, through a fake book ----------------------------------------------------------------------


class FakeFont:
    bold = None


class FakeRange:
    def __init__(self, sheet: FakeSheet, address: str):
        self.sheet, self.address = sheet, address
        self.font = FakeFont()
        self.left = self.top = 0.0

    @property
    def value(self) -> Any:
        return self.sheet.cells.get(self.address)

    @value.setter
    def value(self, value: Any) -> None:
        self.sheet.writes.append((self.address, value))
        self.sheet.cells[self.address] = value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("number_format", "column_width", "color"):
            self.sheet.formats.append((self.address, name, value))
        object.__setattr__(self, name, value)

    @property
    def api(self) -> Any:
        raise RuntimeError("no COM on this machine")

    @property
    def conditional_formats(self) -> Any:
        return SimpleNamespace(add_cell_value=lambda *a, **k: self.sheet.formats.append((self.address, "cf", a, k)))


class FakeCharts(list):
    def add(self, **kwargs: Any) -> Any:
        chart = SimpleNamespace(delete=lambda: self.remove(chart), set_source_data=lambda r: None, api=None, **kwargs)
        self.append(chart)
        return chart


class FakeSheet:
    def __init__(self, name: str):
        self.name = name
        self.cells: dict[str, Any] = {}
        self.writes: list[tuple[str, Any]] = []
        self.formats: list[tuple] = []
        self.cleared = 0
        self.charts = FakeCharts()

    def range(self, address: str) -> FakeRange:
        return FakeRange(self, address)

    def clear(self) -> None:
        self.cleared += 1
        self.cells.clear()

    def activate(self) -> None:
        pass

    @property
    def api(self) -> Any:
        raise RuntimeError("no COM on this machine")


class FakeSheets(list):
    def __getitem__(self, key: Any) -> FakeSheet:
        if isinstance(key, str):
            return next(s for s in self if s.name == key)
        return list.__getitem__(self, key)

    def add(self, name: str, after: FakeSheet | None = None) -> FakeSheet:
        sheet = FakeSheet(name)
        self.insert(self.index(after) + 1 if after is not None else 0, sheet)
        return sheet


class FakeBook:
    """The few xlwings Book features the bridge uses; settings cells live on the control sheet."""

    def __init__(self, folder: Path, settings: dict[str, Any]):
        self.fullname = str(folder / "ThiDua2024.xlsm")
        self.sheets = FakeSheets([FakeSheet(SHEET_CONTROL), FakeSheet("Tổng hợp")])
        control = self.sheets[SHEET_CONTROL]
        self.names = {}
        for row, (name, value) in enumerate({**settings, STATUS_NAME: None}.items(), start=5):
            control.cells[f"C{row}"] = value
            self.names[name] = SimpleNamespace(refers_to_range=control.range(f"C{row}"))
        self.alerts: list[tuple] = []
        self.app = SimpleNamespace(alert=lambda *a, **k: self.alerts.append((a, k)))

    def status(self) -> str:
        return self.names[STATUS_NAME].refers_to_range.value


def test_cell_values_for_excel() -> None:
    assert cell_value("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell_value("1.234") == "'1.234"
    assert cell_value("") is None and cell_value(None) is None and cell_value(float("nan")) is None
    assert cell_value(7) == 7 and cell_value(True) is True
    assert cell_value(7, as_text=True) == "'7" and cell_value(7.0, as_text=True) == "'7"
    assert cell_value(dt.date(2024, 9, 5)) == dt.datetime(2024, 9, 5)
    assert cell_value(dt.date(2024, 9, 5), as_text=True) == "'05/09/2024"


def test_xlwings_sink_writes_each_table_in_one_bulk_write(tmp_path: Path) -> None:
    """The master written through the live sink: one value write per sheet, the existing sheet cleared and reused,
    a new one added at the end, and the same values as the file sink."""
    from thidua.consolidate import consolidate

    cat = default_catalogue()
    inbox = tmp_path / "inbox"
    make_inbox(cat, PERIOD, tmp_path / "forms", inbox)
    data = consolidate(inbox, PERIOD, cat, ledger=tmp_path / "ledger.sqlite", write=False).data
    book = FakeBook(tmp_path, {})
    old = book.sheets["Tổng hợp"]
    write_master(data, cat, XlwingsSink(book))
    assert [s.name for s in book.sheets] == [SHEET_CONTROL, *MASTER_SHEETS]
    assert book.sheets["Tổng hợp"] is old and old.cleared == 1
    file_sink = OpenpyxlSink(tmp_path / "master.xlsx")
    write_master(data, cat, file_sink)
    file_sink.save()
    for name in MASTER_SHEETS:
        sheet = book.sheets[name]
        assert [address for address, _ in sheet.writes] == ["A1"], name
        written = sheet.writes[0][1]
        expected = sheet_values(tmp_path / "master.xlsx", name)
        shown = [[_shown(v) for v in row] for row in written]
        assert shown == [[_shown(v) for v in row] for row in expected], name
        assert all(not (isinstance(v, str) and v[:1] in "=+-@") for row in written for v in row)
    assert len(book.sheets["Theo nội dung"].charts) == 1


def _shown(value: Any) -> Any:
    """A cell as the user sees it: the prefix apostrophe is not part of the value; empty text is an empty cell."""
    if isinstance(value, str):
        value = value.removeprefix("'")
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    return value


def test_live_entry_point_through_xlwings_book_caller(tmp_path: Path, monkeypatch) -> None:
    import xlwings as xw

    book = FakeBook(tmp_path, {"TD_Period": "2024-09", "TD_Output": "ket-qua"})
    monkeypatch.setattr(xw.Book, "caller", classmethod(lambda cls: book))
    outcome = excel.make_forms()
    assert outcome.ok, outcome.message
    assert book.status() == "'" + outcome.message  # written as text
    assert len(list((tmp_path / "ket-qua" / "bieu" / "2024-09").iterdir())) == 9
    assert book.alerts == []
    book.names["TD_Period"].refers_to_range.value = "tháng 9"
    outcome = excel.make_forms()
    assert not outcome.ok and book.alerts == [((outcome.message,), {"title": "ThiDua 2024", "mode": "critical"})]


def test_live_book_on_onedrive_needs_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    import xlwings as xw

    book = FakeBook(tmp_path, {"TD_Period": "2024-09", "TD_Output": "ket-qua"})
    book.fullname = "https://d.docs.live.net/0123456789abcdef/ThiDua2024.xlsm"
    monkeypatch.setattr(xw.Book, "caller", classmethod(lambda cls: book))
    outcome = excel.open_output()
    assert not outcome.ok and "OneDrive/SharePoint" in outcome.message and "đường dẫn đầy đủ" in outcome.message


def test_vba_button_module_matches_the_actions() -> None:
    code = source_code(MACROS / "Buttons.bas")
    assert re.findall(r"x\.(\w+)\(\)", code) == list(excel.ACTIONS)


# --- every failure, at every step: one Vietnamese message, a log line, nothing half-written ---------------------------


def workbook_state(book: Path) -> dict[str, list[list[Any]]]:
    """Every sheet's values (an empty string and an empty cell alike: openpyxl's save drops the former), the status
    cell left out."""
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ((sheet, ref),) = wb.defined_names[STATUS_NAME].destinations
    wb[sheet][ref.replace("$", "")].value = None
    return {ws.title: [[cell.value if cell.value != "" else None for cell in row] for row in ws.iter_rows()]
            for ws in wb.worksheets}


def log_lines(install_folder: Path) -> list[str]:
    log = install_folder / "nhat-ky" / "thidua-excel.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def consolidated(desk: Path) -> None:
    assert excel.run("consolidate", desk / "ThiDua2024.xlsm").ok


def half_writing(real: str):
    """A library function that writes part of its output, then fails (write_master: one sheet, then an error)."""
    def broken(data, cat, sink):
        sink.write_table("Tổng hợp", ["nửa chừng"], [["chưa xong"]])
        raise RuntimeError("hỏng giữa chừng")
    return broken


def raising(*args, **kwargs):
    raise RuntimeError("hỏng giữa chừng")


#: action -> (what to prepare, the library function its button calls) for the "library call" step.
LIBRARY_CALLS = {
    "make_forms": (None, ("thidua.form", "write_forms", raising)),
    "validate_inbox": (None, ("thidua.validate", "validate_report", raising)),
    "consolidate": (None, ("thidua.master", "write_master", half_writing("write_master"))),
    "write_report": (consolidated, ("thidua.report", "write_report", raising)),
    "open_output": (None, ("thidua.excel", "FileBook.open_folder", raising)),
}


def _patch(monkeypatch, module: str, attribute: str, value) -> None:
    target = sys.modules[module] if module in sys.modules else __import__(module, fromlist=["_"])
    owner, _, name = attribute.rpartition(".")
    monkeypatch.setattr(getattr(target, owner) if owner else target, name, value)


@pytest.mark.parametrize("action", list(excel.ACTIONS))
def test_a_failing_library_call_leaves_nothing_half_written(action: str, desk: Path, install_folder: Path,
                                                            monkeypatch) -> None:
    book = desk / "ThiDua2024.xlsm"
    prepare, (module, attribute, value) = LIBRARY_CALLS[action]
    if prepare:
        prepare(desk)
    before = workbook_state(book)
    _patch(monkeypatch, module, attribute, value)
    with excel.bound(book) as bound:
        outcome = excel.ACTIONS[action]()
    assert not outcome.ok
    assert outcome.message.startswith("Lỗi không mong đợi (RuntimeError: hỏng giữa chừng).")
    assert "Traceback" not in outcome.message and "thidua-excel.log" in outcome.message
    assert bound.alerts == [outcome.message]  # one message box
    assert status(book) == outcome.message
    assert workbook_state(book) == before  # the half-written sheet was discarded
    lines = log_lines(install_folder)
    assert any(f" {action}: Lỗi không mong đợi" in line for line in lines)
    assert any("RuntimeError: hỏng giữa chừng" in line for line in lines)  # the traceback, for the technician


@pytest.mark.parametrize("action", list(excel.ACTIONS))
def test_a_failing_status_write_stops_before_anything_runs(action: str, desk: Path, install_folder: Path,
                                                           monkeypatch) -> None:
    book = desk / "ThiDua2024.xlsm"
    before = book.read_bytes()

    def locked(self, text):
        raise PermissionError("trang được bảo vệ")

    monkeypatch.setattr(excel.FileBook, "write_status", locked)
    with excel.bound(book) as bound:
        outcome = excel.ACTIONS[action]()
        bound.save = lambda: None  # nothing to save: the file must stay as it was
    assert not outcome.ok and outcome.message.startswith("Lỗi: không ghi được vào ô TRẠNG THÁI")
    assert "chưa làm gì" in outcome.message
    assert bound.alerts == [outcome.message]
    assert book.read_bytes() == before
    assert not (desk / "ket-qua").exists() and not (desk / "thidua-ledger.sqlite").exists()
    assert any("không ghi được vào ô TRẠNG THÁI" in line for line in log_lines(install_folder))


@pytest.mark.parametrize("action", list(excel.ACTIONS))
def test_a_failing_caller_shows_one_message(action: str, desk: Path, install_folder: Path, monkeypatch) -> None:
    """xw.Book.caller() fails (Excel busy, a dialog open): no workbook to write to, so a message box without it."""
    import xlwings as xw

    shown = []
    monkeypatch.setattr(excel.xlentry, "show_message", lambda text, **kw: shown.append(text))
    monkeypatch.setattr(xw.Book, "caller", classmethod(lambda cls: (_ for _ in ()).throw(RuntimeError("COM bận"))))
    before = (desk / "ThiDua2024.xlsm").read_bytes()
    outcome = excel.ACTIONS[action]()
    assert not outcome.ok and outcome.message.startswith("Lỗi: chương trình không kết nối được với bảng tính")
    assert shown == [outcome.message]
    assert (desk / "ThiDua2024.xlsm").read_bytes() == before and not (desk / "ket-qua").exists()
    assert any("RuntimeError: COM bận" in line for line in log_lines(install_folder))


IMPORT_BREAKERS = {  # a package the bridge needs, broken the ways a PC breaks it: when thidua.excel is imported
    # (xlsxwriter, through thidua.workbook) and when the entry point reaches Excel (xlwings)
    "xlsxwriter": 'raise ImportError("DLL load failed while importing _xlsx: The specified module could not be found")',
    "xlwings": "raise OSError(126, 'The specified module could not be found')",
}


@pytest.mark.parametrize("package", list(IMPORT_BREAKERS))
@pytest.mark.parametrize("action", ["make_forms", "consolidate"])
def test_an_import_failure_is_a_message_not_a_traceback(action: str, package: str, tmp_path: Path,
                                                        install_folder: Path) -> None:
    """The button's exact command in a fresh Python whose ``package`` cannot be imported, as xlwings runs it
    (``python -c "<command>" --wb=... --from_xl=1 ...``): exit status 0 (xlwings shows stderr only on an error
    status), nothing on stderr, the Vietnamese message (a message box on Windows, standard output here) and the log."""
    broken = tmp_path / "broken"
    (broken / package).mkdir(parents=True)
    (broken / package / "__init__.py").write_text(IMPORT_BREAKERS[package] + "\n", encoding="utf-8")
    command = expected_command(next(b.macro for b, name in zip(BUTTONS, excel.ACTIONS, strict=True) if name == action))
    env = {**os.environ, "PYTHONPATH": str(broken), "THIDUA_HOME": str(install_folder)}
    result = subprocess.run([sys.executable, "-B", "-c", command, "--wb=ThiDua2024.xlsm", "--from_xl=1",
                             "--hwnd=0"], capture_output=True, text=True, encoding="utf-8", timeout=120, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("Lỗi: chương trình ThiDua trên máy này chưa cài đủ hoặc bị hỏng")
    assert "cai-dat.bat" in result.stdout and "Traceback" not in result.stdout
    lines = log_lines(install_folder)
    assert lines[0].split(" ", 2)[2].startswith(f"{action}: Lỗi: chương trình ThiDua")
    assert any("Traceback" in line for line in lines)


def test_a_package_missing_inside_an_action_is_the_same_message(desk: Path, install_folder: Path,
                                                                 monkeypatch) -> None:
    import thidua.form

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pandas'", name="pandas")

    monkeypatch.setattr(thidua.form, "write_forms", missing)
    with excel.bound(desk / "ThiDua2024.xlsm") as bound:
        outcome = excel.make_forms()
    assert outcome.message.startswith("Lỗi: chương trình ThiDua trên máy này chưa cài đủ hoặc bị hỏng (không nạp được "
                                      "“pandas”, ModuleNotFoundError)")
    assert bound.alerts == [outcome.message] and not (desk / "ket-qua" / "bieu").exists()
    assert any("ModuleNotFoundError" in line for line in log_lines(install_folder))


def test_xlentry_needs_only_the_standard_library() -> None:
    code = ("import sys, thidua.xlentry as x; "
            "print(sorted(m for m in sys.modules if m.startswith(('thidua', 'xlwings', 'pandas', 'openpyxl'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "['thidua', 'thidua.xlentry']", result.stderr
    from thidua import xlentry

    assert [name for name in excel.ACTIONS if callable(getattr(xlentry, name, None))] == list(excel.ACTIONS)


def test_xlentry_guards_against_a_bug_in_an_entry_point(install_folder: Path, monkeypatch) -> None:
    from thidua import xlentry

    shown = []
    monkeypatch.setattr(xlentry, "show_message", lambda text, **kw: shown.append(text))
    monkeypatch.setitem(excel.ACTIONS, "open_output", lambda: 1 / 0)
    assert xlentry.open_output() is None
    assert len(shown) == 1 and shown[0].startswith("Lỗi không mong đợi (ZeroDivisionError")
    assert any("ZeroDivisionError" in line for line in log_lines(install_folder))


# --- where the workbook and the ledger are ----------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "env", "expected"), [
    (r"C:\Users\Nguyễn Văn A\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\AB12CD34", {}, True),
    (r"C:\Users\A\AppData\Local\Microsoft\Windows\Temporary Internet Files\Content.Outlook\X1", {}, True),
    (r"C:\Users\A\AppData\Local\Microsoft\Olk\Attachments\ooa-1234", {}, True),
    (r"c:\users\a\appdata\local\temp\Temp1_thidua.zip", {"TEMP": r"C:\Users\A\AppData\Local\Temp"}, True),
    (r"C:\Users\A\AppData\Local\Temp", {"TMP": "C:\\Users\\A\\AppData\\Local\\Temp\\"}, True),
    (r"C:\ThiDua2024", {"TEMP": r"C:\Users\A\AppData\Local\Temp"}, False),
    (r"C:\Users\A\Documents\Temperature", {"TEMP": r"C:\Users\A\Documents\Temp"}, False),
    (r"\\server\share\ThiDua", {}, False),
])
def test_temporary_locations(folder: str, env: dict[str, str], expected: bool) -> None:
    assert excel.temporary_location(folder, env) is expected


@pytest.mark.parametrize("action", list(excel.ACTIONS))
def test_refuses_a_workbook_opened_from_a_temporary_folder(action: str, desk: Path, monkeypatch) -> None:
    book = desk / "ThiDua2024.xlsm"
    before = workbook_state(book)
    monkeypatch.setenv("TEMP", str(desk.parent))
    with excel.bound(book) as bound:
        outcome = excel.ACTIONS[action]()
    assert not outcome.ok and outcome.message.startswith("Lỗi: Bảng tính đang được mở từ thư mục tạm")
    assert "Lưu Như (File › Save As)" in outcome.message and bound.alerts == [outcome.message]
    assert not (desk / "ket-qua").exists() and not (desk / "thidua-ledger.sqlite").exists()
    assert workbook_state(book) == before


def test_network_shares(monkeypatch) -> None:
    assert excel.network_share(r"\\server\share\thidua-ledger.sqlite")
    assert excel.network_share("//server/share/thidua-ledger.sqlite")
    monkeypatch.setattr(excel, "_drive_type", lambda root: 4)  # DRIVE_REMOTE: a mapped drive such as Z:
    assert excel.network_share(Path.cwd() / "thidua-ledger.sqlite")
    monkeypatch.setattr(excel, "_drive_type", lambda root: 3)  # DRIVE_FIXED
    assert not excel.network_share(Path.cwd() / "thidua-ledger.sqlite")


def test_a_ledger_on_a_network_share_is_warned_about(desk: Path, install_folder: Path, monkeypatch) -> None:
    book = desk / "ThiDua2024.xlsm"
    monkeypatch.setattr(excel, "_drive_type", lambda root: 4)
    with excel.bound(book) as bound:
        outcome = excel.consolidate()
    assert outcome.ok, outcome.message
    assert "Cảnh báo: sổ theo dõi" in outcome.message and "ổ mạng dùng chung" in outcome.message
    assert bound.warnings == [outcome.message] and bound.alerts == []
    assert any("ổ mạng dùng chung" in line for line in log_lines(install_folder))
    setting(book, "TD_Ledger", "//server/share/thidua-ledger.sqlite")
    monkeypatch.setattr(excel, "_drive_type", lambda root: 3)
    with excel.bound(book) as bound:
        outcome = excel.validate_inbox()
    assert outcome.ok and "//server/share/thidua-ledger.sqlite" in outcome.message


# --- saving after consolidation, status bar progress (live side) ------------------------------------------------------


class FakeApp:
    """xlwings App: message boxes and the status bar, recorded."""

    def __init__(self) -> None:
        self.alerts: list[tuple] = []
        self.status_bars: list[Any] = []

    def alert(self, *args: Any, **kwargs: Any) -> None:
        self.alerts.append((args, kwargs))

    @property
    def status_bar(self) -> Any:
        return self.status_bars[-1] if self.status_bars else False

    @status_bar.setter
    def status_bar(self, value: Any) -> None:
        self.status_bars.append(value)


def live_desk(tmp_path: Path, monkeypatch, save_error: Exception | None = None) -> FakeBook:
    import xlwings as xw

    make_inbox(default_catalogue(), PERIOD, tmp_path / "forms", tmp_path / "hop-thu-den")
    book = FakeBook(tmp_path, {"TD_Inbox": "hop-thu-den", "TD_Period": "2024-09", "TD_Kind": "sơ kết",
                               "TD_Ledger": "thidua-ledger.sqlite", "TD_Output": "ket-qua"})
    book.app = FakeApp()
    book.saved = []

    def save() -> None:
        if save_error is not None:
            raise save_error
        book.saved.append(book.status())

    book.save = save
    monkeypatch.setattr(xw.Book, "caller", classmethod(lambda cls: book))
    return book


def test_live_consolidate_saves_the_workbook_and_shows_progress(tmp_path: Path, monkeypatch) -> None:
    book = live_desk(tmp_path, monkeypatch)
    outcome = excel.consolidate()
    assert outcome.ok and outcome.message.endswith("Đã lưu bảng tính.")
    assert book.saved == ["'" + outcome.message]  # saved once, with the final status in it
    shown = book.app.status_bars
    assert shown[0] == "ThiDua 2024: Đang tổng hợp…" and shown[-1] is False  # Excel's status bar given back
    assert any("Đang điền các trang tổng hợp" in str(s) for s in shown)
    assert book.app.alerts == []


def test_live_consolidate_asks_to_save_when_excel_cannot(tmp_path: Path, monkeypatch) -> None:
    book = live_desk(tmp_path, monkeypatch, save_error=RuntimeError("tệp chỉ đọc"))
    outcome = excel.consolidate()
    assert outcome.ok and "Chưa lưu được bảng tính (RuntimeError: tệp chỉ đọc)" in outcome.message
    assert "Ctrl+S" in outcome.message and book.status() == "'" + outcome.message
    assert book.app.alerts == [((outcome.message,), {"title": "ThiDua 2024", "mode": "info"})]


def test_live_status_bar_failures_do_not_fail_the_action(tmp_path: Path, monkeypatch) -> None:
    book = live_desk(tmp_path, monkeypatch)

    class NoStatusBar(FakeApp):
        @property
        def status_bar(self) -> Any:
            return False

        @status_bar.setter
        def status_bar(self, value: Any) -> None:
            raise RuntimeError("Excel bận")

    book.app = NoStatusBar()
    outcome = excel.make_forms()
    assert outcome.ok, outcome.message


def test_live_alert_falls_back_to_a_message_box_without_xlwings(tmp_path: Path, monkeypatch) -> None:
    book = live_desk(tmp_path, monkeypatch)
    shown = []
    monkeypatch.setattr(excel.xlentry, "show_message", lambda text, **kw: shown.append(text))
    book.app.alert = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("COM"))
    book.names["TD_Period"].refers_to_range.value = "2024-13"
    outcome = excel.make_forms()
    assert not outcome.ok and shown == [outcome.message]
