"""The reader: a filled form reads back exactly — also after LibreOffice re-saved it and with all text in NFD."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lo import needs_soffice
from thidua.catalogue import load_catalogue
from thidua.form import write_forms
from thidua.office import convert
from thidua.package import inspect_package, reader_copy
from thidua.period import Period
from thidua.reader import Submission, read_submission, type_value
from thidua.samples import fill_form, sample_fill

PERIOD = Period(2024, 9)


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


@pytest.fixture(scope="module")
def blank(cat, tmp_path_factory) -> Path:
    return write_forms(cat, PERIOD, tmp_path_factory.mktemp("blank"), ["QLVT"])[0]


@pytest.fixture(scope="module")
def filled(cat, blank, tmp_path_factory):
    values = sample_fill(cat, cat.unit("QLVT"), PERIOD)
    # edge values a unit may legitimately type
    t7_note = next(ref for ref, v in values.values.items() if isinstance(v, str) and ref.startswith("G"))
    values.set(t7_note, "=SUM(A1:A2) là công thức nhưng ở đây chỉ là chữ; “ngoặc kép” và xuống\ndòng")
    path = tmp_path_factory.mktemp("filled") / "ThiDua_2024-09_QLVT.xlsx"
    fill_form(blank, path, values)
    return path, values.values


def cells_of(sub: Submission) -> dict[str, object]:
    """Every non-empty input value the reader returned, by A1 cell."""
    out = {}
    for cell in sub.header.values():
        out[cell.cell] = cell.value
    for entry in sub.indicators.values():
        for cell in (entry.month, entry.ytd, entry.note):
            if cell is not None:
                out[cell.cell] = cell.value
    for t in sub.targets.values():
        out[t.assessment.cell] = t.assessment.value
        out[t.explanation.cell] = t.explanation.value
    return {k: v for k, v in out.items() if v is not None}


def expected(values: dict) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "")}


def test_round_trip_returns_exactly_the_values_with_their_cells(cat, filled):
    path, values = filled
    sub = read_submission(path, cat)
    assert sub.problems == []
    got = cells_of(sub)
    got.pop("D4"), got.pop("D5"), got.pop("D6")  # locked header cells written by the form itself
    assert got == expected(values)
    assert all(type(v) is int for (code, col), v in sub.values().items() if cat.indicator(code).kind == "count")
    assert isinstance(sub.header["prepared_on"].value, dt.date)
    assert sub.unit_code == "QLVT" and sub.period == "2024-09"


def nfd_copy(src: Path, dst: Path) -> Path:
    wb = openpyxl.load_workbook(src)
    for ws in wb.worksheets:
        ws.title = unicodedata.normalize("NFD", ws.title)
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.data_type == "s":
                    cell.value = unicodedata.normalize("NFD", cell.value)
                    cell.data_type = "s"
    wb.save(dst)
    return dst


def test_nfd_text_and_nfd_file_name_read_the_same(cat, filled, tmp_path):
    path, _values = filled
    name = unicodedata.normalize("NFD", "ThiDua_2024-09_QLVT — bản sửa Đăng kiểm.xlsx")
    copy = nfd_copy(path, tmp_path / name)
    sub = read_submission(copy, cat)
    assert sub.problems == []
    assert cells_of(sub) == cells_of(read_submission(path, cat))
    assert all(unicodedata.is_normalized("NFC", v) for v in cells_of(sub).values() if isinstance(v, str))
    assert sub.name_period == "2024-09" and sub.name_unit == "QLVT"


@needs_soffice
def test_after_libreoffice_resave_the_values_are_the_same(cat, filled, tmp_path):
    path, _values = filled
    resaved = convert(path, tmp_path / "lo", "xlsx:Calc MS Excel 2007 XML")[0]
    sub = read_submission(resaved, cat)
    assert sub.stamp_ok, sub.problems
    assert [p.code for p in sub.problems] == []
    assert cells_of(sub) == cells_of(read_submission(path, cat))


def test_formula_in_an_input_cell_is_not_trusted(cat, blank, tmp_path):
    wb = openpyxl.load_workbook(blank)
    ws = wb["Báo cáo"]
    ws["D14"] = "=10+15"  # 1.1, month
    ws["D7"] = "Nguyễn Văn A"
    wb.save(tmp_path / "f.xlsx")
    sub = read_submission(tmp_path / "f.xlsx", cat)
    cell = sub.indicators["1.1"].month
    assert cell.formula and cell.value is None and cell.issue == "formula_no_cache"
    assert sub.header["preparer"].value == "Nguyễn Văn A"


@pytest.mark.parametrize(
    ("kind", "raw", "value", "issue"),
    [
        ("count", 12.0, 12, None),
        ("count", 1.5, None, "not_integer"),
        ("count", "1.234", None, "text_in_number"),
        ("count", " 12 ", None, "text_in_number"),
        ("count", True, None, "not_number"),
        ("date", dt.datetime(2024, 9, 5), dt.date(2024, 9, 5), None),
        ("date", "05/09/2024", dt.date(2024, 9, 5), None),
            ("date", "09/20/2024", None, "date_month_first"),
            ("date", "2024-09-05", None, "date_as_text"),
        ("date", 45540.0, None, "not_date"),
        ("yesno", " Có ", "Có", None),
        ("yesno", unicodedata.normalize("NFD", "Không"), "Không", None),
        ("choice", 3.0, None, "not_in_list"),
        ("text", 12.0, "12", None),
        ("count", None, None, None),
    ],
)
def test_type_value(kind, raw, value, issue):
    assert type_value(kind, raw) == (value, issue)


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a.xlsx", b"", "empty_file"),
        ("~$a.xlsx", b"\x00owner", "owner_file"),
        ("a.xlsx", b"hello, this is not a workbook", "not_zip"),
        ("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "legacy_xls"),
        ("a.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le"), "encrypted"),
        ("a.xlsx", b"PK\x03\x04" + b"\x00" * 40, "zip_corrupt"),
    ],
)
def test_unreadable_files_become_problems(cat, tmp_path, name, data, code):
    path = tmp_path / name
    path.write_bytes(data)
    sub = read_submission(path, cat)
    assert [p.code for p in sub.problems] == [code]
    assert not sub.readable


def test_truncated_form_is_a_problem_not_a_crash(cat, filled, tmp_path):
    data = filled[0].read_bytes()
    (tmp_path / "t.xlsx").write_bytes(data[: len(data) // 2])
    sub = read_submission(tmp_path / "t.xlsx", cat)
    assert sub.problems and not sub.readable


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_damage_never_crashes_the_reader(cat, filled, tmp_path, cuts):
    data = bytearray(filled[0].read_bytes())
    for pos, byte in cuts:
        data[pos % len(data)] = byte
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(bytes(data))
    sub = read_submission(path, cat)
    assert isinstance(sub, Submission)


def test_renamed_sheet_is_found_and_reported(cat, filled, tmp_path):
    wb = openpyxl.load_workbook(filled[0])
    wb["Báo cáo"].title = "Sheet1"
    wb.save(tmp_path / "r.xlsx")
    sub = read_submission(tmp_path / "r.xlsx", cat)
    assert [p.code for p in sub.problems] == ["sheet_renamed"]
    assert sub.values() == read_submission(filled[0], cat).values()


def test_a_chart_sheet_beside_a_renamed_report_sheet_is_no_obstacle(cat, filled, tmp_path):
    """python-calamine reads from the parts the package check kept: a chart sheet is among them (calamine lists it),
    and the search for a renamed report sheet looks at worksheets only."""
    wb = openpyxl.load_workbook(filled[0])
    wb.create_chartsheet("Biểu đồ", 0)
    wb["Báo cáo"].title = "Sheet1"
    wb.save(tmp_path / "c.xlsx")
    sub = read_submission(tmp_path / "c.xlsx", cat)
    assert [p.code for p in sub.problems] == ["sheet_renamed"]
    assert sub.values() == read_submission(filled[0], cat).values()


def test_inserted_row_moves_values_and_is_reported(cat, filled, tmp_path):
    wb = openpyxl.load_workbook(filled[0])
    wb["Báo cáo"].insert_rows(20)
    wb.save(tmp_path / "i.xlsx")
    sub = read_submission(tmp_path / "i.xlsx", cat)
    assert "row_moved" in {p.code for p in sub.problems}
    assert sub.values() == read_submission(filled[0], cat).values()


# ----------------------------------------------------------------------------------------------------------------------
# Which cells hold a formula: the raw XML scan


def formula_cells_cell_by_cell(xml: bytes) -> dict[str, bool]:
    """The reference: every ``<c>`` element in turn, its content searched for an ``<f>`` (the scan the reader did before
    it went from formula to cell)."""
    import re

    found: dict[str, bool] = {}
    pos = 0
    while True:
        m = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/?)>").search(xml, pos)
        if not m:
            return found
        pos = m.end()
        if m.group(2) == b"/":
            continue
        body = re.compile(rb"(.*?)</(?:\w+:)?c>", re.S).match(xml, pos)
        if not body:
            return found
        pos = body.end()
        if re.search(rb"<(?:\w+:)?f[\s>/]", body.group(1)):
            ref = re.search(rb'\br="([A-Z]{1,3}[0-9]{1,7})"', m.group(1))
            if ref:
                found[ref.group(1).decode()] = re.search(rb"<(?:\w+:)?v>[^<]", body.group(1)) is not None


def sheet(cells: str, tail: str = "") -> bytes:
    return (f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{cells}'
            f"</sheetData>{tail}</worksheet>").encode()


@pytest.mark.parametrize(
    ("cells", "tail", "expected"),
    [
        ('<row r="14"><c r="D14"><f>10+15</f><v>25</v></c><c r="E14" t="n"><v>3</v></c></row>', "", {"D14": True}),
        ('<row r="14"><c r="D14"><f>10+15</f></c><c r="E14"><f>1</f><v></v></c></row>', "",
         {"D14": False, "E14": False}),
        # a namespace prefix on every element
        ('<x:row r="3"><x:c r="E3" t="n"><x:f>A1</x:f><x:v>4</x:v></x:c></x:row>', "", {"E3": True}),
        # the cells sharing a formula carry only a self-closing <f/>
        ('<row r="5"><c r="F5"><f t="shared" ref="F5:F6" si="0">A5</f><v>7</v></c>'
         '<c r="F6"><f t="shared" si="0"/><v>8</v></c><c r="F7"><f t="shared" si="0"/></c></row>', "",
         {"F5": True, "F6": True, "F7": False}),
        # conditional formatting and data validation formulas are not cells
        ('<row r="1"><c r="A1" s="2"/><c r="B1" t="inlineStr"><is><t>f</t></is></c></row>',
         '<conditionalFormatting sqref="H13"><cfRule type="expression" priority="1"><formula>H13="x"</formula>'
         '</cfRule></conditionalFormatting><dataValidations count="1"><dataValidation sqref="D14"><formula1>0'
         "</formula1></dataValidation></dataValidations>", {}),
        # escaped text that looks like a tag, attributes in another order, white space before <f>, <v> before <f>
        ('<row r="7"><c r="A7" t="inlineStr"><is><t>&lt;f&gt;x&lt;/f&gt;</t></is></c>'
         '<c s="3" r="G7" t="str">\n  <f>"a"</f><v>a</v></c><c r="H7"><v>1</v><f>1</f></c></row>', "",
         {"G7": True, "H7": True}),
        # an <f> outside any cell, and a cell without a reference
        ('<row r="9"><f>bogus</f><c r="A9"><v>1</v></c><c t="n"><f>2</f><v>2</v></c></row>', "", {}),
        # two formulas in one cell, and a cell of another element's name
        ('<row r="2"><c r="B2"><f>1</f><f>2</f><v>3</v></c><cx r="C2"><f>4</f></cx></row>', "", {"B2": True}),
        ("", "", {}),
    ],
)
def test_formula_cells_are_found_from_their_formulas(cells, tail, expected):
    from thidua.reader import _formula_cells

    xml = sheet(cells, tail)
    assert _formula_cells(xml) == expected == formula_cells_cell_by_cell(xml)
    # the same from the formula elements the package check found while cutting the reader's copy
    copy, spans = reader_copy(xml)
    assert spans is not None and _formula_cells(xml, spans) == expected
    assert b"<f" not in copy and b":f>" not in copy


_CELL = st.builds(
    lambda prefix, col, row, formula, cached, closed, extra: (
        f'<{prefix}c r="{col}{row}" s="1"/>' if closed else
        f'<{prefix}c r="{col}{row}"{extra}>'
        + {"none": "", "plain": f"<{prefix}f>A1+1</{prefix}f>", "shared": f'<{prefix}f t="shared" si="0"/>',
           "array": f'<{prefix}f t="array" ref="{col}{row}">SUM(A1:A2)</{prefix}f>'}[formula]
        + {"value": f"<{prefix}v>12</{prefix}v>", "empty": f"<{prefix}v></{prefix}v>", "none": "",
           "text": f"<{prefix}is><{prefix}t>&lt;f&gt;</{prefix}t></{prefix}is>"}[cached]
        + f"</{prefix}c>"
    ),
    prefix=st.sampled_from(["", "x:"]),
    col=st.sampled_from(["A", "D", "H", "AB"]),
    row=st.integers(1, 99),
    formula=st.sampled_from(["none", "plain", "shared", "array"]),
    cached=st.sampled_from(["value", "empty", "none", "text"]),
    closed=st.booleans(),
    extra=st.sampled_from(["", ' t="n"', ' t="str"', ' t="inlineStr"']),
)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(_CELL, max_size=30), tail=st.sampled_from(["", "<conditionalFormatting><cfRule><formula>1"
                                                                     "</formula></cfRule></conditionalFormatting>"]))
def test_formula_scan_finds_what_a_cell_by_cell_scan_finds(cells, tail):
    from thidua.reader import _formula_cells

    xml = sheet('<row r="1">' + "".join(cells) + "</row>", tail)
    assert _formula_cells(xml) == formula_cells_cell_by_cell(xml) == _formula_cells(xml, reader_copy(xml)[1])


def _calamine_view(parts: dict[str, bytes]) -> list:
    """Every sheet's rows and merged ranges as python-calamine reads them from an uncompressed package of ``parts``."""
    import io
    import zipfile

    import python_calamine

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, bytes(data))
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(buf.getvalue()))
    out = []
    for name in wb.sheet_names:
        ws = wb.get_sheet_by_name(name)
        out.append((name, ws.to_python(skip_empty_area=False), ws.merged_cell_ranges))
    return out


@needs_soffice
def test_the_reader_copy_reads_as_the_whole_part(cat, filled, tmp_path):
    """python-calamine gives the same rows (formula cells' cached values included) and merged ranges from the reader's
    copy of each worksheet as from the whole part: for our form, LibreOffice's re-save of it (other XML habits:
    shared strings, formulas everywhere) and LibreOffice's own formula fixture."""
    path, _values = filled
    resaved = convert(path, tmp_path / "lo", "xlsx:Calc MS Excel 2007 XML")[0]
    fixture = Path(__file__).parent / "fixtures" / "lo-formula.xlsx"
    for source in (path, resaved, fixture):
        check = inspect_package(source.read_bytes())
        check.stored_package()  # the copies are cut when python-calamine is to read them (a sheet not plainly written)
        assert check.ok and "xl/worksheets/sheet1.xml" in check.readable, (source, check.problems)  # the report
        for part, copy in check.readable.items():
            assert len(copy) <= len(check.sheets[part]) * 3 // 4 and part in check.formulas  # cut, kept when worth it
        full = _calamine_view(check.parts)
        cut = _calamine_view({**check.parts, **check.readable})
        assert cut == full, source
        assert any(merged for _n, _rows, merged in full)


@pytest.mark.parametrize(
    "xml",
    [
        # a CDATA section, where "<f>" is text
        sheet('<row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[<f>1</f>]]></t></is></c></row>'),
        # no end tag of sheetData, or two of them
        b'<worksheet><sheetData/></worksheet>',
        sheet("") + b"<!-- </sheetData> -->",
        # not ending with the root's end tag
        sheet('<row r="1"><c r="A1"><f>1</f><v>1</v></c></row>')[:-5],
    ],
)
def test_the_reader_copy_is_the_whole_part_when_it_cannot_be_cut_for_sure(xml):
    assert reader_copy(xml) == (xml, None)


def test_the_reader_copy_keeps_cells_values_and_merged_ranges_only():
    xml = sheet('<row r="1"><c r="A1"><f>1+1</f><v>2</v></c><c r="B1" t="s"><v>0</v></c></row>',
                '<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells><conditionalFormatting sqref="A1">'
                '<cfRule type="expression" priority="1"><formula>A1&gt;1</formula></cfRule></conditionalFormatting>'
                '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>')
    copy, spans = reader_copy(xml)
    assert copy == sheet('<row r="1"><c r="A1"><v>2</v></c><c r="B1" t="s"><v>0</v></c></row>',
                         '<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>')
    assert [xml[a:b] for a, b in spans] == [b"<f>1+1</f>"]
