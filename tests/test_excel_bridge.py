"""The Excel bridge (thidua.excel) without Excel: the commands the buttons send (recorded by pressing them in
LibreOffice) executed against the file-based workbook, the expected problems as status messages, and the live
xlwings side driven through a fake xlwings book."""

from __future__ import annotations

import datetime as dt
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


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A built workbook and the demo inbox, made once: tests copy them."""
    root = tmp_path_factory.mktemp("template")
    build_workbook(root / "ThiDua2024.xlsm")
    make_inbox(default_catalogue(), PERIOD, root / "demo-forms", root / "hop-thu-den")
    return root


@pytest.fixture
def desk(template: Path, tmp_path: Path) -> Path:
    """The secretary's folder: ThiDua2024.xlsm beside the inbox "hop-thu-den" (the workbook's default settings)."""
    shutil.copy(template / "ThiDua2024.xlsm", tmp_path)
    shutil.copytree(template / "hop-thu-den", tmp_path / "hop-thu-den")
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
    assert set(button_commands.values()) == {f"import thidua.excel as x; x.{name}()" for name in excel.ACTIONS}


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

    result = CliRunner().invoke(app, ["consolidate", str(desk / "hop-thu-den"), "--period", "2024-09", "--ledger",
                                      str(tmp_path / "cli" / "ledger.sqlite"), "--workbook", str(cli_book)])
    assert result.exit_code in (0, 1), result.output
    for name in MASTER_SHEETS:
        ours = sheet_values(book, name)
        assert len(ours) > 1, name
        assert ours == sheet_values(cli_book, name), name
    wb = openpyxl.load_workbook(book, keep_vba=True)  # the master sheets keep their VBA code names
    codenames = ["Sheet2", "Sheet3", "Sheet4", "Sheet5", "Sheet6"]
    assert [wb[name].sheet_properties.codeName for name in MASTER_SHEETS] == codenames


def test_cli_consolidate_keeps_the_sheet_code_names(desk: Path) -> None:
    from thidua.cli import app

    book = desk / "ThiDua2024.xlsm"
    CliRunner().invoke(app, ["consolidate", str(desk / "hop-thu-den"), "--period", "2024-09", "--workbook", str(book)])
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
    assert status(book).startswith("Đã viết báo cáo sơ kết tháng 09/2024")
    setting(book, "TD_Kind", "tổng kết")
    press(button_commands["WriteReport"], book)
    assert (out / "BaoCao_TongKet_2024-09.docx").is_file()


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
        ("validate_inbox", lambda d: shutil.rmtree(d / "hop-thu-den"),
         "Lỗi: Ô “Thư mục hộp thư đến” trên trang “Bảng điều khiển”: không tìm thấy thư mục"),
        ("consolidate", lambda d: [p.unlink() for p in (d / "hop-thu-den").iterdir()],
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
    monkeypatch.setattr(excel, "LOG_FILE", tmp_path / "thidua-excel.log")
    outcome = excel.run("make_forms", desk / "ThiDua2024.xlsm")
    assert not outcome.ok and outcome.message.startswith("Lỗi không mong đợi (RuntimeError: hỏng).")
    assert str(tmp_path / "thidua-excel.log") in outcome.message
    log = (tmp_path / "thidua-excel.log").read_text(encoding="utf-8")
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
