"""The rule registry and each rule type: the exact (code, cell) pairs it yields on a crafted file, none on a clean
one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import unicodedata
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import PERIOD
from thidua import rules
from thidua.catalogue import DATA, RULES, load_catalogue
from thidua.findings import ERROR, INFO, WARNING
from thidua.layout import COLUMNS, HEADER, HEADER_VALUE_COL, SHEET_REPORT, SHEET_STAMP, FormLayout, a1
from thidua.package import OLE_MAGIC
from thidua.validate import validate_file, validate_paths

DOCS = Path(__file__).resolve().parents[1] / "docs" / "findings.md"


@pytest.fixture(scope="module")
def at(catalogue):
    """``at(key, column)``: the A1 cell of an indicator (or "T<n>") in a column of the form."""
    rows = FormLayout.for_catalogue(catalogue).rows
    return lambda key, column: a1(rows[key], COLUMNS[column][0])


@pytest.fixture(scope="module")
def row(catalogue):
    rows = FormLayout.for_catalogue(catalogue).rows
    return lambda key: rows[key]


def pairs(path, catalogue, period=PERIOD, history=None) -> set[tuple[str, str | None]]:
    return {(f.code, f.cell) for f in validate_file(path, catalogue, period, history).findings}


def value_of(path: Path, ref: str):
    return openpyxl.load_workbook(path)[SHEET_REPORT][ref].value


PREPARER = a1(HEADER["preparer"][0], HEADER_VALUE_COL)
PREPARED_ON = a1(HEADER["prepared_on"][0], HEADER_VALUE_COL)
UNIT_CELL = a1(HEADER["unit_code"][0], HEADER_VALUE_COL)
PERIOD_CELL = a1(HEADER["period"][0], HEADER_VALUE_COL)


# ----------------------------------------------------------------------------------------------------------------------
# The registry


def test_every_catalogue_rule_name_has_a_registered_check():
    for name in RULES:
        assert rules.checks_for_rule(name), f"no check implements the catalogue rule {name!r}"
    implemented = {r for c in rules.REGISTRY.values() for r in c.rules}
    assert implemented <= set(RULES)


def test_codes_are_stable_shaped_unique_and_described():
    seen = set()
    for chk in rules.REGISTRY.values():
        assert chk.family in rules.FAMILIES
        assert chk.func.__doc__, f"check {chk.name} needs a docstring"
        assert chk.codes
        for code in chk.codes:
            assert re.fullmatch(r"[EWI]-[A-Z]+(-[A-Z0-9]+)+", code.code)
            assert code.code[0] == {ERROR: "E", WARNING: "W", INFO: "I"}[code.severity]
            assert unicodedata.is_normalized("NFC", code.description) and code.description
            assert code.code not in seen or rules.CODES[code.code] == code
            seen.add(code.code)
    assert set(rules.CODES) == seen | {"E-INTERNAL"}
    with pytest.raises(ValueError):
        rules.Code("W-X-Y", ERROR, "mức độ không khớp với mã")


def test_docs_findings_table_is_the_generated_one():
    assert DOCS.read_text(encoding="utf-8") == rules.findings_table_markdown(), (
        "docs/findings.md is stale: regenerate with  python -m thidua.rules > docs/findings.md"
    )
    for code in rules.CODES:
        assert f"`{code}`" in DOCS.read_text(encoding="utf-8")


def test_a_clean_file_has_no_finding(make_form, catalogue):
    assert pairs(make_form(), catalogue) == set()
    assert pairs(make_form(unit="TTDK"), catalogue) == set()


# ----------------------------------------------------------------------------------------------------------------------
# Read


def _zip(members: dict[str, bytes], level: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _truncated(path: Path) -> bytes:
    return path.read_bytes()[: path.stat().st_size // 2]


@pytest.mark.parametrize(
    ("make_bytes", "code"),
    [
        (lambda form: b"", "E-READ-EMPTY"),
        (lambda form: "Báo cáo tháng 9".encode(), "E-READ-NOT-EXCEL"),
        (_truncated, "E-READ-CORRUPT"),
        (lambda form: OLE_MAGIC + b"\0" * 600 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 600,
         "E-READ-ENCRYPTED"),
        (lambda form: OLE_MAGIC + b"\0" * 2000, "E-READ-LEGACY-XLS"),
        (lambda form: _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}),
         "E-READ-ODS"),
        (lambda form: _zip({"word/document.xml": b"<w:document/>", "[Content_Types].xml": b"<Types/>"}),
         "E-READ-NOT-WORKBOOK"),
        (lambda form: _zip({"xl/workbook.xml": b"\0" * 3_000_000}), "E-READ-ZIP-BOMB"),
        (lambda form: _zip({"xl/workbook.xml": b"<workbook", "[Content_Types].xml": b"garbage"}), "E-READ-UNREADABLE"),
    ],
    ids=["empty", "not-zip", "truncated", "encrypted", "xls", "ods", "docx", "zip-bomb", "broken-parts"],
)
def test_unreadable_file(make_form, catalogue, tmp_path, make_bytes, code):
    path = tmp_path / "ThiDua_2024-09_VP.xlsx"
    path.write_bytes(make_bytes(make_form(name="src/form.xlsx")))
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {(code, None)}
    assert not result.valid
    assert "gửi lại" in result.findings[0].message


def test_unreadable_file_too_large(catalogue, tmp_path):
    path = tmp_path / "ThiDua_2024-09_VP.xlsx"
    with open(path, "wb") as fh:
        fh.truncate(21 * 1024 * 1024)  # sparse: nothing is written
    assert pairs(path, catalogue) == {("E-READ-TOO-LARGE", None)}


def test_owner_file_is_listed_as_info_not_error(catalogue, tmp_path):
    path = tmp_path / "~$ThiDua_2024-09_VP.xlsx"
    path.write_bytes(b"\x0bNguyen Van A" + b"\0" * 150)
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.severity) for f in result.findings} == {("I-READ-OWNER-FILE", INFO)}
    assert result.valid and result.unit is None


def test_not_our_form(make_form, catalogue, tmp_path):
    plain = tmp_path / "ThiDua_2024-09_VP.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "Báo cáo thi đua tự làm"
    wb.save(plain)
    assert pairs(plain, catalogue) == {("E-READ-NOT-FORM", None)}
    # The form's content copied into a workbook without the stamp: the content is still checked.
    copied = make_form(name="copied/ThiDua_2024-09_VP.xlsx")
    wb = openpyxl.load_workbook(copied)
    del wb[SHEET_STAMP]
    wb.save(copied)
    assert pairs(copied, catalogue) == {("E-READ-NOT-FORM", None)}


def _add_member(path: Path, name: str, data: bytes, out: Path) -> Path:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr(name, data)
    return out


def test_macro_enabled_is_a_warning_and_data_is_read(make_form, catalogue, tmp_path):
    out = tmp_path / "ThiDua_2024-09_VP.xlsm"
    path = _add_member(make_form(name="src/form.xlsx"), "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not run", out)
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {("W-READ-MACRO", None)}
    assert result.valid and result.submission.indicators["1.1"].month.value is not None
    assert "không chạy" in result.findings[0].message


# ----------------------------------------------------------------------------------------------------------------------
# Identity


def test_stamp_tampered(make_form, catalogue):
    path = make_form()
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_STAMP]
    for r in ws.iter_rows():
        if r[0].value == "unit_code":
            r[1].value = "KHTC"
    wb.save(path)
    assert pairs(path, catalogue) == {("E-ID-STAMP", None)}


def test_template_and_catalogue_version(make_form, catalogue):
    newer = dataclasses.replace(catalogue, version="2025.1", template_id="TD2025-DV-1")
    assert pairs(make_form(), newer) == {("E-ID-TEMPLATE", None), ("E-ID-CATALOGUE", None)}
    assert pairs(make_form(), catalogue) == set()


def test_unit_unknown_and_unit_differs_from_file_name(make_form, catalogue):
    without_vp = dataclasses.replace(catalogue, units=tuple(u for u in catalogue.units if u.code != "VP"))
    assert pairs(make_form(), without_vp) == {("E-ID-UNIT-UNKNOWN", UNIT_CELL)}
    assert pairs(make_form(name="ThiDua_2024-09_KHTC.xlsx"), catalogue) == {("E-ID-UNIT-NAME", UNIT_CELL)}


def test_period_differs_from_request_and_from_file_name(make_form, catalogue):
    from thidua.period import Period

    # Another period than the one checked is recorded for its own period, with a warning (validate and consolidate
    # say the same); only a period that cannot be told is an error.
    assert pairs(make_form(), catalogue, period=Period(2024, 10)) == {("W-ID-PERIOD-OTHER", PERIOD_CELL)}
    assert pairs(make_form(), catalogue, period=None) == set()
    assert pairs(make_form(name="ThiDua_2024-08_VP.xlsx"), catalogue, period=None) == {
        ("E-ID-PERIOD-NAME", PERIOD_CELL)
    }


def test_duplicates_are_noted_not_punished(make_form, catalogue):
    from thidua.layout import COLUMNS, FormLayout, a1

    note = a1(FormLayout.for_catalogue(catalogue).rows["7.5"], COLUMNS["note"][0])
    old = make_form(name="a/ThiDua_2024-09_VP.xlsx")
    new = make_form({note: "Bổ sung minh chứng"}, name="ThiDua_2024-09_VP - bản sửa.xlsx")
    other = make_form(unit="KHTC")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_600, 1_700_000_600))
    results = {r.path.name: r for r in validate_paths([old, new, other], catalogue, PERIOD)}
    # the older version is noted as superseded by the newer valid one; the newer one is used and has no finding
    assert {(f.code, f.cell) for f in results[old.name].findings} == {("I-ID-SUPERSEDED", None)}
    assert results[new.name].findings == [] and results[other.name].findings == []
    assert all(r.valid for r in results.values())
    assert new.name in results[old.name].findings[0].message
    assert "cũ hơn" in results[old.name].findings[0].message


def test_identical_copies_are_noted_once(make_form, catalogue, tmp_path):
    first = make_form(name="ThiDua_2024-09_VP.xlsx")
    copy = tmp_path / "copy" / "ThiDua_2024-09_VP (1).xlsx"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    results = {r.path.name: r for r in validate_paths([first, copy], catalogue, PERIOD)}
    assert results[first.name].findings == []
    assert {(f.code, f.cell) for f in results[copy.name].findings} == {("I-ID-IDENTICAL", None)}
    assert all(r.valid for r in results.values())


def test_a_faulty_file_beside_its_newer_correction_keeps_its_own_errors_only(make_form, catalogue):
    from thidua.layout import COLUMNS, FormLayout, a1

    layout = FormLayout.for_catalogue(catalogue)
    bad = make_form({a1(layout.rows["1.2"], COLUMNS["month"][0]): "mười"}, name="ThiDua_2024-09_VP.xlsx")
    good = make_form(name="ThiDua_2024-09_VP (sửa).xlsx")
    os.utime(bad, (1_700_000_000, 1_700_000_000))
    os.utime(good, (1_700_000_600, 1_700_000_600))
    results = {r.path.name: r for r in validate_paths([bad, good], catalogue, PERIOD)}
    assert results[good.name].findings == []
    codes = {f.code for f in results[bad.name].findings}
    assert "I-ID-SUPERSEDED" in codes and "E-ID-DUPLICATE" not in codes and not results[bad.name].valid


# ----------------------------------------------------------------------------------------------------------------------
# Structure


def test_report_sheet_renamed_or_missing(make_form, catalogue):
    renamed = make_form()
    wb = openpyxl.load_workbook(renamed)
    wb[SHEET_REPORT].title = "Sheet1"
    wb.save(renamed)
    result = validate_file(renamed, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {("W-STRUCT-SHEET-RENAMED", None)}
    assert result.valid
    wb = openpyxl.load_workbook(renamed)
    wb["Sheet1"]["A12"] = "Số TT"
    wb.save(renamed)
    assert pairs(renamed, catalogue) == {("E-STRUCT-SHEET-MISSING", None)}


def test_table_heading_or_column_missing(make_form, catalogue, fill_cells):
    ytd_head = a1(11, COLUMNS["ytd"][0])
    assert pairs(fill_cells(make_form(), {ytd_head: "Lũy kế"}), catalogue) == {("E-STRUCT-COLUMN-MISSING", ytd_head)}
    assert pairs(fill_cells(make_form(), {"A12": "Số TT"}), catalogue) == {("E-STRUCT-TABLE-MISSING", None)}


def test_rows_missing_moved_and_labels_changed(make_form, catalogue, at, row):
    label = at("1.1", "name")
    changed = make_form({label: "Tổng số người"})
    assert pairs(changed, catalogue) == {("W-STRUCT-LABEL-CHANGED", label)}
    missing = make_form({at("1.2", "code"): None})
    result = validate_file(missing, catalogue, PERIOD)
    assert {(f.code, f.cell, f.indicator) for f in result.findings} == {("E-STRUCT-ROW-MISSING", None, "1.2")}
    moved = make_form()
    wb = openpyxl.load_workbook(moved)
    last = catalogue.indicators[-1].code
    wb[SHEET_REPORT].insert_rows(row(last) + 1)  # one blank row above the last indicator
    wb.save(moved)
    assert pairs(moved, catalogue) == {("W-STRUCT-ROW-MOVED", a1(row(last) + 1, 0))}


def test_merged_cells_over_inputs(make_form, catalogue, at):
    path = make_form()
    wb = openpyxl.load_workbook(path)
    month, ytd = at("1.1", "month"), at("1.1", "ytd")
    wb[SHEET_REPORT].merge_cells(f"{month}:{ytd}")
    wb.save(path)
    assert pairs(path, catalogue) == {("E-STRUCT-MERGED", month)}


def test_merged_cells_over_inputs_of_moved_rows(make_form, catalogue, at, row):
    """The inputs are out of row order when rows were moved (here the first and the last indicator swapped): a merged
    range is still tested against the inputs of its rows."""
    path = make_form()
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    first, last = catalogue.indicators[0], catalogue.indicators[-1]
    a, b = row(first.code) + 1, row(last.code) + 1
    for col in range(1, ws.max_column + 1):
        top, bottom = ws.cell(a, col), ws.cell(b, col)
        top.value, bottom.value = bottom.value, top.value
    month = at(first.code, "month").replace(str(a), str(b))  # the first indicator's cells, now in the last one's row
    ytd = at(first.code, "ytd").replace(str(a), str(b))
    ws.merge_cells(f"{month}:{ytd}")
    wb.save(path)
    found = pairs(path, catalogue)
    assert ("E-STRUCT-MERGED", month) in found
    assert {code for code, _cell in found} >= {"W-STRUCT-ROW-MOVED", "E-STRUCT-MERGED"}


def test_the_same_merged_range_over_other_inputs_is_judged_again(make_form, catalogue, at, row):
    """What a merged range covers is kept from file to file by the ranges and the input cells' places: the same range
    over the last indicator's cells, then over the first indicator's (the rows swapped), names each its own."""
    first, last = catalogue.indicators[0], catalogue.indicators[-1]
    a, b = row(first.code) + 1, row(last.code) + 1
    merged = f"{at(last.code, 'month')}:{at(last.code, 'ytd')}"
    found = {}
    for swap in (False, True, False):
        path = make_form()
        wb = openpyxl.load_workbook(path)
        ws = wb[SHEET_REPORT]
        if swap:
            for col in range(1, ws.max_column + 1):
                top, bottom = ws.cell(a, col), ws.cell(b, col)
                top.value, bottom.value = bottom.value, top.value
        ws.merge_cells(merged)
        wb.save(path)
        result = validate_file(path, catalogue, PERIOD)
        found.setdefault(swap, []).append({f.indicator for f in result.findings if f.code == "E-STRUCT-MERGED"})
    assert found == {False: [{last.code}, {last.code}], True: [{first.code}]}


def test_input_cells_in_form_order_with_what_the_form_expects(make_form, catalogue):
    from thidua.reader import read_submission

    sub = read_submission(make_form(), catalogue)
    want = [("text", "người lập biểu", None, True, None), ("date", "ngày lập biểu", None, False, None)]
    for t in catalogue.targets:
        key = f"T{t.number}"
        want += [("choice", f"tự đánh giá nội dung {t.number}", key, True, None),
                 ("text", f"giải trình của nội dung {t.number}", key, False, None)]
        for ind in t.indicators:
            want += [(ind.kind, f"chỉ tiêu {ind.code} ({rules.COLUMN_VI[c]})", ind.code, ind.required, ind)
                     for c in ind.periods]
            want.append(("text", f"ghi chú của chỉ tiêu {ind.code}", ind.code, False, None))
    got = rules.input_cells(sub, catalogue)
    assert [(ic.kind, ic.what, ic.key, ic.required, ic.indicator) for ic in got] == want
    first = catalogue.indicators[0]
    cells = [sub.header["preparer"], sub.header["prepared_on"]]
    for t in catalogue.targets:
        cells += [sub.targets[t.number].assessment, sub.targets[t.number].explanation]
        for ind in t.indicators:
            entry = sub.indicators[ind.code]
            cells += [entry.column(c) for c in ind.periods] + [entry.note]
    assert all(ic.cell is c for ic, c in zip(got, cells, strict=True))  # the submission's own cells
    choices = {ic.what: ic.choices for ic in got}
    assert choices["tự đánh giá nội dung 1"] == catalogue.assessment_choices
    # each is the object the class would make: equal, frozen, its fields in the class's order
    ic = got[4]
    assert ic == rules.InputCell(ic.cell, ic.kind, ic.what, ic.key, ic.required, ic.choices, ic.indicator)
    assert list(vars(ic)) == [f.name for f in dataclasses.fields(rules.InputCell)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ic.kind = "text"  # type: ignore[misc]
    # cells a file does not have are not listed: a header value, a target's row, an indicator's row
    del sub.header["prepared_on"], sub.targets[1], sub.indicators[first.code]
    again = [(ic.kind, ic.what) for ic in rules.input_cells(sub, catalogue)]
    assert ("date", "ngày lập biểu") not in again and len(again) == len(want) - 1 - 2 - len(first.periods) - 1


def test_input_cells_are_listed_once_per_run_and_never_reused_across_runs(make_form, catalogue, at):
    from thidua.reader import read_submission

    sub = read_submission(make_form(), catalogue)
    calls = []
    real = rules.input_cells

    def counting(*args):
        calls.append(args)
        return real(*args)

    try:
        rules.input_cells = counting
        assert rules.run_checks(sub, catalogue, PERIOD) == []
        assert len(calls) == 1  # every check of the run shares one list
        # the next run lists them again: a change of the submission in between is seen
        sub.indicators["2.1"].month.value = None
        sub.indicators["2.1"].month.raw = ""
        codes = {(f.code, f.cell) for f in rules.run_checks(sub, catalogue, PERIOD)}
        assert len(calls) == 2 and codes == {("E-REQ-MISSING", at("2.1", "month"))}
    finally:
        rules.input_cells = real
    ctx = rules.Context(sub, catalogue)
    assert ctx.inputs() is ctx.inputs() and ctx.inputs() == list(real(sub, catalogue))


# ----------------------------------------------------------------------------------------------------------------------
# Completeness


def test_required_inputs(make_form, catalogue, at):
    path = make_form({at("2.1", "month"): None, at("T1", "assessment"): None, PREPARER: None,
                      at("7.4", "month"): None, at("T2", "note"): None})  # 7.4 and explanations are optional
    assert pairs(path, catalogue) == {
        ("E-REQ-MISSING", at("2.1", "month")),
        ("E-REQ-MISSING", at("T1", "assessment")),
        ("E-REQ-MISSING", PREPARER),
    }
    blank_spaces = make_form({at("2.3", "month"): "   "})
    assert pairs(blank_spaces, catalogue) == {("E-REQ-MISSING", at("2.3", "month"))}


# ----------------------------------------------------------------------------------------------------------------------
# Type and domain


def test_numbers(make_form, catalogue, at):
    path = make_form({at("2.1", "month"): "1.234", at("3.1", "month"): 2.5, at("6.1", "month"): True,
                      at("7.1", "month"): -3})
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {
        ("E-TYPE-TEXT-NUMBER", at("2.1", "month")),
        ("E-TYPE-NOT-INTEGER", at("3.1", "month")),
        ("E-TYPE-NOT-NUMBER", at("6.1", "month")),
        ("E-TYPE-NEGATIVE", at("7.1", "month")),
    }
    text = next(f for f in result.findings if f.code == "E-TYPE-TEXT-NUMBER")
    assert text.value == "1.234" and "hàng nghìn" in text.message and "1234" in text.message


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("1.234", ["hàng nghìn", "1234"]),
        ("12.345.678", ["hàng nghìn", "12345678"]),
        ("1,5", ["dấu phẩy", "số nguyên"]),
        ("2.5", ["thập phân", "số nguyên"]),
        ("100%", ["phần trăm", "số nguyên"]),
        (" 12 ", ["khoảng trắng", "12"]),
        ("12", ["dạng chữ", "12"]),
        ("12 người", ["kèm chữ", "12"]),
        ("không có", ["là chữ", "số nguyên"]),
    ],
)
def test_number_text_hint(raw, says):
    hint = rules.number_text_hint(raw)
    for word in says:
        assert word in hint


def test_values_outside_the_list(make_form, catalogue, at):
    path = make_form({at("3.3", "month"): "Có rồi", at("3.4", "month"): 1, at("T2", "assessment"): "Tốt",
                      at("7.3", "month"): "Hội nghị"})
    assert pairs(path, catalogue) == {
        ("E-TYPE-NOT-IN-LIST", at("3.3", "month")),
        ("E-TYPE-NOT-IN-LIST", at("3.4", "month")),
        ("E-TYPE-NOT-IN-LIST", at("T2", "assessment")),
        ("E-TYPE-NOT-IN-LIST", at("7.3", "month")),
    }


def test_list_values_accepted_as_the_form_accepts_them_and_stored_canonical(make_form, catalogue, at):
    """Case, NFD and surplus spaces pass the form's list validation and live checks: the validator accepts them too
    and keeps the listed spelling."""
    from thidua.reader import read_submission

    nfd = unicodedata.normalize("NFD", "Không")
    path = make_form({at("3.3", "month"): "có", at("3.4", "month"): nfd, at("T2", "assessment"): "  đạt ",
                      at("7.3", "month"): "chưa  TỔ chức"})
    assert pairs(path, catalogue) == set()
    sub = read_submission(path, catalogue)
    assert sub.indicators["3.3"].month.value == "Có" and sub.indicators["3.4"].month.value == "Không"
    assert sub.targets[2].assessment.value == "Đạt" and sub.indicators["7.3"].month.value == "Chưa tổ chức"


def test_dates_typed_as_text_or_not_dates(make_form, catalogue, at):
    path = make_form({PREPARED_ON: "ngày 20", at("7.4", "month"): True})
    assert pairs(path, catalogue) == {("E-TYPE-DATE-TEXT", PREPARED_ON), ("E-TYPE-NOT-DATE", at("7.4", "month"))}


def test_day_first_date_text_is_a_date_and_month_first_is_reported(make_form, catalogue, at):
    """An English-locale PC keeps 20/09/2024 as text: it is the date the form asks for (day first). 9/20/2024 is
    only a date month first: reported with its own message."""
    from thidua.reader import read_submission

    path = make_form({PREPARED_ON: "20/09/2024", at("7.4", "month"): "5/6/2024"})
    assert pairs(path, catalogue) == set()
    sub = read_submission(path, catalogue)
    assert sub.header["prepared_on"].value == dt.date(2024, 9, 20)
    assert sub.indicators["7.4"].month.value == dt.date(2024, 6, 5)
    wrong = validate_file(make_form({PREPARED_ON: "9/20/2024"}), catalogue, PERIOD).findings
    assert [(f.code, f.cell) for f in wrong] == [("E-TYPE-DATE-TEXT", PREPARED_ON)]
    assert "tháng/ngày/năm" in wrong[0].message


def test_percent_in_a_count_cell_is_reported(make_form, catalogue, at):
    """Typing "100%" stores 1 in a cell formatted as a percentage: flagged, not taken as 1."""
    path = make_form({at("1.2", "month"): 1})
    wb = openpyxl.load_workbook(path)
    wb[SHEET_REPORT][at("1.2", "month")].number_format = "0%"
    wb.save(path)
    found = validate_file(path, catalogue, PERIOD).findings
    assert [(f.code, f.cell, f.value) for f in found] == [("E-TYPE-PERCENT", at("1.2", "month"), "100%")]


def test_inserted_row_text_and_changed_unit_are_reported(make_form, catalogue, at, row):
    path = make_form({at("1.1", "unit"): "%"})
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    r = row("2.1") + 2  # 1-based row just below 2.1
    ws.insert_rows(r)
    ws.cell(row=r, column=COLUMNS["note"][0] + 1).value = "Tổ chức 2 buổi tại trụ sở"
    wb.save(path)
    found = {f.code: f for f in validate_file(path, catalogue, PERIOD).findings}
    assert set(found) == {"E-STRUCT-ROW-TEXT", "E-STRUCT-UNIT-CHANGED", "W-STRUCT-ROW-MOVED"}
    text = found["E-STRUCT-ROW-TEXT"]
    assert text.indicator == "2.1" and text.cell == a1(r - 1, COLUMNS["note"][0])
    assert "KHÔNG được đọc" in text.message and "chỉ tiêu 2.1" in text.message
    unit = found["E-STRUCT-UNIT-CHANGED"]
    assert unit.cell == at("1.1", "unit") and "“người”" in unit.message


def _set_cached_value(path: Path, ref: str, cached: str) -> None:
    """Give the formula in ``ref`` a cached value, as Excel stores one after calculating."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    xml = members[sheet].decode()
    pattern = re.compile(rf'(<c r="{ref}"[^>]*>)<f>([^<]*)</f>(?:<v\s*/>|<v></v>)?')
    assert pattern.search(xml)
    members[sheet] = pattern.sub(lambda m: f"{m.group(1)}<f>{m.group(2)}</f><v>{cached}</v>", xml).encode()
    path.write_bytes(_zip(members))


def test_formulas_in_input_cells(make_form, catalogue, at):
    path = make_form()
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    ws[at("2.1", "month")] = "=1+1"
    ws[at("3.1", "month")] = "=D14*0"
    ws[at("1.1", "note")] = '=HYPERLINK("http://example.invalid")'
    wb.save(path)
    _set_cached_value(path, at("2.1", "month"), "2")
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {
        ("E-TYPE-FORMULA", at("2.1", "month")),
        ("E-TYPE-FORMULA-NO-CACHE", at("3.1", "month")),
        ("E-TYPE-FORMULA-NO-CACHE", at("1.1", "note")),
    }
    # The same text typed as text is not a formula.
    assert pairs(make_form({at("1.1", "note"): '=HYPERLINK("http://example.invalid")'}), catalogue) == set()


@pytest.mark.parametrize(
    ("day", "flagged"),
    [(dt.date(2023, 12, 31), True), (dt.date(2024, 1, 1), False), (dt.date(2024, 9, 30), False),
     (dt.date(2024, 10, 1), True)],
)
def test_date_within_year_to_period(make_form, catalogue, at, day, flagged):
    path = make_form({at("7.4", "month"): day})
    assert pairs(path, catalogue) == ({("E-TYPE-DATE-RANGE", at("7.4", "month"))} if flagged else set())


def test_date_within_period(make_form, at, tmp_path):
    text = (DATA / "catalogue.toml").read_text(encoding="utf-8")
    assert 'date_within = "year_to_period"' in text
    path = tmp_path / "catalogue.toml"
    path.write_text(text.replace('date_within = "year_to_period"', 'date_within = "period"'), encoding="utf-8")
    strict = load_catalogue(path)
    form = make_form({at("7.4", "month"): dt.date(2024, 8, 31)})
    assert pairs(form, strict) == {("E-TYPE-DATE-RANGE", at("7.4", "month"))}
    assert pairs(make_form({at("7.4", "month"): dt.date(2024, 9, 1)}), strict) == set()


def test_max_length(make_form, catalogue, at):
    limit = catalogue.indicator("7.5").rules["max_length"]
    assert pairs(make_form({at("7.5", "month"): "Đ" * (limit + 1)}), catalogue) == {
        ("E-TYPE-TOO-LONG", at("7.5", "month"))
    }
    assert pairs(make_form({at("7.5", "month"): "Đ" * limit}), catalogue) == set()


# ----------------------------------------------------------------------------------------------------------------------
# Relations


def test_part_larger_than_whole(make_form, catalogue, at, session_forms):
    staff = value_of(session_forms(), at("1.1", "month"))
    path = make_form({
        at("1.2", "month"): staff + 1,  # same column
        at("1.5", "ytd"): staff + 1,  # a year-to-date-only part against the whole's month figure
        at("1.6", "ytd"): 2, at("1.7", "ytd"): 3,  # same column (ytd)
    })
    assert pairs(path, catalogue) == {
        ("E-REL-PART-GT-WHOLE", at("1.2", "month")),
        ("E-REL-PART-GT-WHOLE", at("1.5", "ytd")),
        ("E-REL-PART-GT-WHOLE", at("1.7", "ytd")),
    }


def test_a_year_to_date_flow_is_not_compared_with_a_month_figure(make_form, catalogue, at, session_forms):
    """4.4 (settled, with month and ytd) max 4.3 (to settle this month): only the month figures compare."""
    form = session_forms()
    month_total = value_of(form, at("4.3", "month"))
    path = make_form({at("4.4", "ytd"): month_total + 50, at("4.5", "ytd"): month_total + 50})
    assert pairs(path, catalogue) == set()


def test_sum_of(make_form, catalogue, at, session_forms):
    total = value_of(session_forms(), at("4.3", "month"))
    assert pairs(make_form({at("4.3", "month"): total + 1}), catalogue) == {("E-REL-SUM", at("4.3", "month"))}


def test_month_larger_than_year_to_date(make_form, catalogue, at, session_forms):
    ytd = value_of(session_forms(), at("2.1", "ytd"))
    path = make_form({at("2.1", "month"): ytd + 1})
    assert pairs(path, catalogue) == {("E-REL-MONTH-GT-YTD", at("2.1", "ytd"))}


# ----------------------------------------------------------------------------------------------------------------------
# Targets


def test_targets_not_met(make_form, catalogue, at, session_forms):
    form = session_forms()
    staff = value_of(form, at("1.1", "month"))
    explained = {at(f"T{n}", "assessment"): "Không đạt" for n in (1, 2, 5)}
    path = make_form({
        **explained,
        at("1.2", "month"): staff - 1,  # 100%: not met
        at("1.3", "month"): 1, at("1.3", "ytd"): 1,  # target 0: not met
        at("2.3", "month"): "Không",  # target "Có": not met
        at("5.1", "month"): 0, at("5.2", "month"): 0,  # 0/0: nothing happened, met
    })
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {
        ("W-TARGET-RATIO", at("1.2", "month")),
        ("W-TARGET-ZERO", at("1.3", "month")),
        ("W-TARGET-YESNO", at("2.3", "month")),
    }
    ratio = next(f for f in result.findings if f.code == "W-TARGET-RATIO")
    assert "chưa đạt 100%" in ratio.message and f"{staff - 1}/{staff}" in ratio.message
    assert result.valid  # warnings do not block consolidation


def test_self_assessment_contradicted_by_figures(make_form, catalogue, at, session_forms):
    docs = value_of(session_forms(), at("4.7", "month"))
    path = make_form({at("4.8", "month"): docs - 3})
    assert pairs(path, catalogue) == {("W-TARGET-RATIO", at("4.8", "month")),
                                      ("E-TARGET-CONTRADICTION", at("T4", "assessment"))}
    honest = make_form({at("4.8", "month"): docs - 3, at("T4", "assessment"): "Không đạt"})
    assert pairs(honest, catalogue) == {("W-TARGET-RATIO", at("4.8", "month"))}


def test_not_met_needs_an_explanation(make_form, catalogue, at):
    path = make_form({at("T3", "assessment"): "Không đạt", at("T3", "note"): None})
    assert pairs(path, catalogue) == {("E-TARGET-NO-EXPLANATION", at("T3", "note"))}
    reason = "Chưa triển khai kịp do thiếu kinh phí"
    explained = make_form({at("T3", "assessment"): "Không đạt", at("T3", "note"): reason})
    assert pairs(explained, catalogue) == set()


# ----------------------------------------------------------------------------------------------------------------------
# History


class FakeHistory:
    def __init__(self, data: dict[tuple[str, str], tuple[str, int]]):
        self.data = data
        self.asked: list[tuple[str, str, str]] = []

    def earlier_ytd(self, unit: str, period: str, code: str) -> tuple[str, int] | None:
        self.asked.append((unit, period, code))
        return self.data.get((unit, code))


def test_year_to_date_lower_than_an_earlier_month(make_form, catalogue, at, session_forms):
    ytd = value_of(session_forms(), at("2.1", "ytd"))
    path = make_form()
    history = FakeHistory({("VP", "2.1"): ("2024-08", ytd + 1), ("VP", "4.7"): ("2024-08", 0)})
    assert pairs(path, catalogue, history=history) == {("E-HIST-YTD-DECREASED", at("2.1", "ytd"))}
    assert ("VP", "2024-09", "2.1") in history.asked
    same = FakeHistory({("VP", "2.1"): ("2024-08", ytd)})
    assert pairs(path, catalogue, history=same) == set()
    later_or_last_year = FakeHistory({("VP", "2.1"): ("2024-10", ytd + 1), ("VP", "4.7"): ("2023-12", 10**6)})
    assert pairs(path, catalogue, history=later_or_last_year) == set()


# ----------------------------------------------------------------------------------------------------------------------
# A check that crashes


def test_a_crashing_check_becomes_an_internal_finding(make_form, catalogue, at, monkeypatch):
    def exploding(ctx):
        """Always crashes."""
        yield from ()
        raise RuntimeError("boom")

    registry = dict(rules.REGISTRY)
    registry["exploding"] = rules.Check("exploding", "type", (rules.E_TYPE_NEGATIVE,), exploding)
    monkeypatch.setattr(rules, "REGISTRY", registry)
    path = make_form({at("2.1", "month"): None})
    found = pairs(path, catalogue)
    assert found == {("E-INTERNAL", None), ("E-REQ-MISSING", at("2.1", "month"))}

    class BrokenHistory:
        def earlier_ytd(self, unit, period, code):
            raise ConnectionError("ledger offline")

    result = validate_file(path, catalogue, PERIOD, history=BrokenHistory())
    internal = [f for f in result.findings if f.code == "E-INTERNAL"]
    assert len(internal) == 2 and any("ledger offline" in f.message for f in internal)
    assert ("E-REQ-MISSING", at("2.1", "month")) in {(f.code, f.cell) for f in result.findings}


def test_many_merged_ranges_are_judged_but_not_kept():
    """What merged ranges cover is kept for the next file only for a list of ranges of our form's kind of size: a file
    listing hundreds is judged the same, and leaves nothing behind."""
    refs = tuple(f"{col}{row}" for row in range(14, 60) for col in "DEG")
    many = tuple(f"D{row}:E{row}" for row in range(14, 60)) + tuple(f"A{n}:B{n}" for n in range(100, 400))
    rules._covers.clear()
    got = rules._merged_covers(many, refs)
    assert got == rules._find_covers(many, refs) and len(got) == 46 and got[0] == ("D14:E14", [0, 1])
    assert rules._covers == {}
    few = many[:3]
    assert rules._merged_covers(few, refs) == rules._find_covers(few, refs) and len(rules._covers) == 1
