"""The unit form: one per unit, protected, validated, stamped, printable — and readable by LibreOffice."""

from __future__ import annotations

import openpyxl
import pytest
from lo import needs_soffice
from openpyxl.utils.cell import range_boundaries
from python_calamine import CalamineWorkbook
from thidua.catalogue import load_catalogue
from thidua.form import HELPER_COL, form_formulas, guide_lines, legend_text, write_forms
from thidua.layout import (
    COLUMNS,
    HEADER,
    HEADER_VALUE_COL,
    SHEET_GUIDE,
    SHEET_REPORT,
    SHEET_STAMP,
    STATUS_ROW,
    TABLE_HEADER_ROW,
    FormLayout,
    a1,
)
from thidua.office import convert
from thidua.period import Period
from thidua.reader import read_submission

PERIOD = Period(2024, 9)


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


@pytest.fixture(scope="module")
def forms(cat, tmp_path_factory):
    return write_forms(cat, PERIOD, tmp_path_factory.mktemp("forms"))


def expected_inputs(cat) -> set[str]:
    layout = FormLayout.for_catalogue(cat)
    cells = {a1(HEADER["preparer"][0], HEADER_VALUE_COL), a1(HEADER["prepared_on"][0], HEADER_VALUE_COL)}
    for target in cat.targets:
        r = layout.rows[f"T{target.number}"]
        cells |= {a1(r, COLUMNS["assessment"][0]), a1(r, COLUMNS["note"][0])}
        for ind in target.indicators:
            r = layout.rows[ind.code]
            cells |= {a1(r, COLUMNS[p][0]) for p in ind.periods}
            cells.add(a1(r, COLUMNS["note"][0]))
    return cells


def test_one_form_per_unit_named_for_unit_and_period(cat, forms):
    assert sorted(p.name for p in forms) == sorted(f"ThiDua_2024-09_{u.code}.xlsx" for u in cat.units)
    for path in forms:
        sub = read_submission(path, cat)
        assert sub.stamp_ok and sub.problems == []
        assert (sub.unit_code, sub.period) == (path.stem.split("_")[2], "2024-09")


def test_inputs_unlocked_with_validation_everything_else_locked(cat, forms):
    wb = openpyxl.load_workbook(forms[0])
    ws = wb[SHEET_REPORT]
    assert ws.protection.sheet is True
    assert wb[SHEET_GUIDE].protection.sheet is True
    inputs = expected_inputs(cat)
    validated: dict[str, str] = {}
    for dv in ws.data_validations.dataValidation:
        for rng in str(dv.sqref).split():
            c0, r0, c1, r1 = range_boundaries(rng)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    validated[f"{openpyxl.utils.get_column_letter(c)}{r}"] = dv
    unlocked = set()
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row + 5, max_col=ws.max_column + 3):
        for cell in row:
            if not cell.protection.locked:
                unlocked.add(cell.coordinate)
    assert unlocked == inputs
    assert set(validated) == inputs
    for ref, dv in validated.items():
        assert dv.errorTitle and dv.error and dv.promptTitle and dv.prompt, ref
        assert dv.showErrorMessage, ref
    kinds = {dv.type for dv in validated.values()}
    assert kinds == {"whole", "list", "custom", "textLength"}  # dates: custom, see test_date_cells_accept_day_first


def test_validation_matches_the_indicator_kind(cat, forms):
    ws = openpyxl.load_workbook(forms[0])[SHEET_REPORT]
    layout = FormLayout.for_catalogue(cat)
    by_cell = {}
    for dv in ws.data_validations.dataValidation:
        for rng in str(dv.sqref).split():
            by_cell[rng] = dv
    expect = {"count": "whole", "yesno": "list", "choice": "list", "date": "custom", "text": "textLength"}
    for ind in cat.indicators:
        for p in ind.periods:
            dv = by_cell[a1(layout.rows[ind.code], COLUMNS[p][0])]
            assert dv.type == expect[ind.kind], ind.code
            if ind.kind == "count":
                assert dv.operator == "greaterThanOrEqual" and dv.formula1 == "0"
            if ind.kind == "yesno":
                assert dv.formula1 == '"Có,Không"'


def test_live_checks_and_conditional_formatting(cat, forms):
    ws = openpyxl.load_workbook(forms[0])[SHEET_REPORT]
    layout = FormLayout.for_catalogue(cat)
    check = COLUMNS["check"][0]
    for key, r in layout.rows.items():
        assert str(ws[a1(r, check)].value).startswith("="), key
    f = ws[a1(layout.rows["1.2"], check)].value
    assert "Đạt 100%" in f and "Chưa nhập" in f and "D14" in f
    assert "Sai: số tháng lớn hơn lũy kế" in ws[a1(layout.rows["4.5"], check)].value
    rules = [r for cf in ws.conditional_formatting for r in cf.rules]
    assert any(r.type == "containsBlanks" for r in rules)
    assert any(r.type == "beginsWith" and r.text == "Chưa nhập" for r in rules)


def test_stamp_is_very_hidden_and_print_setup(cat, forms):
    wb = openpyxl.load_workbook(forms[0])
    assert wb[SHEET_STAMP].sheet_state == "veryHidden"
    ws = wb[SHEET_REPORT]
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9
    assert ws.print_title_rows == "$12:$12"
    assert ws.freeze_panes == "C13"
    meta = {m.name: m.visible for m in CalamineWorkbook.from_path(str(forms[0])).sheets_metadata}
    assert str(meta[SHEET_STAMP]).lower().endswith("veryhidden")


@needs_soffice
def test_every_form_opens_in_libreoffice(forms, tmp_path):
    pdfs = convert(forms, tmp_path / "pdf", "pdf")
    assert all(p.stat().st_size > 5000 for p in pdfs)
    csvs = convert(forms[:1], tmp_path / "csv", "csv")
    text = csvs[0].read_text(encoding="utf-8", errors="replace")
    assert "Mã đơn vị" in text or "M" in text


def _depth(formula: str) -> int:
    depth = deepest = 0
    for part in formula.split('"')[::2]:  # outside string literals
        for ch in part:
            depth += (ch == "(") - (ch == ")")
            deepest = max(deepest, depth)
    return deepest


def test_live_check_formulas_fit_excel_limits_and_never_show_an_error(cat):
    """Excel: at most 8,192 characters and 64 nesting levels per formula; every check is wrapped in IFERROR."""
    formulas = form_formulas(cat)
    assert max(len(f) for f in formulas.values()) <= 8192
    assert max(_depth(f) for f in formulas.values()) <= 64
    checks = {ref: f for ref, f in formulas.items() if ref.startswith(("H", a1(STATUS_ROW, HEADER_VALUE_COL)[0]))}
    assert all(f.startswith("=IFERROR(") for ref, f in checks.items() if ref[0] == "H"), checks
    status = formulas[a1(STATUS_ROW, HEADER_VALUE_COL)]
    assert status.startswith("=IFERROR(") and "ISERROR" in status and "SUMPRODUCT" in status


def test_date_cells_accept_day_first_text_and_a_helper_reads_it(cat, forms):
    """An English-locale PC keeps 20/09/2024 as text: the data validation lets two slashes through and a hidden
    helper cell reads the date day first for the live check (thidua.domain)."""
    ws = openpyxl.load_workbook(forms[0])[SHEET_REPORT]
    layout = FormLayout.for_catalogue(cat)
    ref = a1(layout.rows["7.4"], COLUMNS["month"][0])
    dv = next(dv for dv in ws.data_validations.dataValidation if str(dv.sqref) == ref)
    assert dv.type == "custom" and len(dv.formula1) <= 255 and "DATE(2024,1,1)" in dv.formula1
    helper = ws[a1(layout.rows["7.4"], HELPER_COL)].value
    assert helper.startswith("=IF(ISNUMBER(D") and "FIND(\"/\"" in helper
    assert ws.column_dimensions[a1(0, HELPER_COL)[0]].hidden


def test_screen_print_signature_and_explanations(cat, forms):
    wb = openpyxl.load_workbook(forms[0])
    ws = wb[SHEET_REPORT]
    assert ws.sheet_view.zoomScale == 85
    frozen = sum(ws.row_dimensions[r].height or 15 for r in range(1, TABLE_HEADER_ROW + 2))
    assert frozen <= 190, frozen  # points above the table; was 208 (24 + 10 × 15 + 34)
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert "NGƯỜI LẬP BIỂU" in texts and "THỦ TRƯỞNG ĐƠN VỊ" in texts
    assert any(t.startswith("Kon Tum, ngày") for t in texts)
    assert legend_text(cat) in texts and "viền đỏ là ô bắt buộc" in legend_text(cat)
    assert "1.5, 1.6, 1.7, 1.8, 3.13" in legend_text(cat)
    last = max(r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=1).value or ws.cell(row=r, column=2).value)
    assert ws.print_area.endswith(f"$H${last}")  # the signature block is printed
    guide = [c.value for c in wb[SHEET_GUIDE]["A"] if c.value]
    joined = " ".join(guide)
    for needle in ("viền đỏ là ô bắt buộc", "không được tự đánh giá “Đạt”", "ẩn hẳn", "checksum", "ngày cuối tháng",
                   "Chỉ tiêu cuối năm (1.5, 1.6, 1.7, 1.8, 3.13)"):
        assert needle in joined, needle
    assert all(line in guide for line in guide_lines(cat))
    assert wb[SHEET_GUIDE].page_setup.orientation == "portrait"
    # the figures that are a position at a date say so where the unit types them
    layout = FormLayout.for_catalogue(cat)
    prompts = {str(dv.sqref): dv.prompt for dv in ws.data_validations.dataValidation}
    for code in ("1.1", "4.2", "4.6"):
        assert "không phải số phát sinh trong tháng" in prompts[a1(layout.rows[code], COLUMNS["month"][0])], code
    assert all(len(p or "") <= 255 for p in prompts.values())


def test_domain_rules_python_side():
    """The Python half of each rule in thidua.domain (the formula half runs in LibreOffice: test_unit_side_lo)."""
    import datetime as dt
    import unicodedata

    from thidua.domain import canonical_choice, choice_array, is_percent_format, parse_date_text

    choices = ("Chưa tổ chức", "Sơ kết", "Tổng kết")
    assert canonical_choice(" chưa  TỔ chức ", choices) == "Chưa tổ chức"
    assert canonical_choice(unicodedata.normalize("NFD", "sơ kết"), choices) == "Sơ kết"
    assert canonical_choice("Sơ kết tháng", choices) is None and canonical_choice(1, choices) is None
    array = choice_array(("Có", "Không"))
    assert array.count('"') == 8 and unicodedata.normalize("NFD", "Có") in array  # NFC and NFD of each
    assert parse_date_text("20/09/2024") == (dt.date(2024, 9, 20), None)
    assert parse_date_text(" 5/6/2024 ") == (dt.date(2024, 6, 5), None)
    assert parse_date_text("9/20/2024") == (None, "date_month_first")
    assert parse_date_text("31/02/2024") == (None, "date_as_text")
    assert parse_date_text("20/09/24") == (None, "date_as_text")
    assert is_percent_format(None, 9) and is_percent_format("0.0%") and not is_percent_format('0" %"')
    assert not is_percent_format("General") and not is_percent_format("dd/mm/yyyy")
