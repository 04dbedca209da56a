"""The fast path of the reader (thidua.sheetxml) reads every file exactly as python-calamine does, or not at all.

Every file here is read twice: by python-calamine from the unit's own bytes (an independent reader, not fed by the
package check), and by the cells the package check scanned. Where the fast path takes a sheet, both must give the
same values cell by cell, the same merged ranges, and the same formula cells as the reader's own formula scanner
(``reader._formula_cells``). The corpus: our forms, every hostile case, LibreOffice's re-save of a form and its own
fixture, and workbooks written by openpyxl with every kind of value and number format a unit could produce.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
from conftest import PERIOD
from hostile import CASES, Corpus
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lo import needs_soffice
from thidua import reader, sheetxml
from thidua.office import convert
from thidua.package import inspect_package
from thidua.reader import _formula_cells, _plain_sheets, read_submission

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def cells(rows: list[list[Any]]) -> dict[tuple[int, int], Any]:
    """The non-empty cells of a grid, by position (the two readers may size the grid differently around blanks)."""
    return {(r, c): v for r, row in enumerate(rows) for c, v in enumerate(row) if v != ""}


def both_ways(data: bytes) -> list[tuple[str, dict | None, dict, list | None, list]]:
    """For each sheet python-calamine lists: (name, fast cells or None, calamine cells, fast merged ranges or None,
    calamine merged ranges). Asserts on the way that the fast path's formula cells are the formula scanner's."""
    check = inspect_package(data)
    if not check.ok:
        return []
    parts = _plain_sheets(bytes(check.parts["xl/workbook.xml"]), bytes(check.parts["xl/_rels/workbook.xml.rels"]))
    styles = sheetxml.styles(bytes(check.parts["xl/styles.xml"]) if "xl/styles.xml" in check.parts else None)
    strings = sheetxml.shared_strings(check.parts.get("xl/sharedStrings.xml"))
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    out = []
    for name in wb.sheet_names:
        sheet = wb.get_sheet_by_name(name)
        try:
            theirs = sheet.to_python(skip_empty_area=False)
        except BaseException as exc:  # python-calamine cannot read it (a Rust panic is a BaseException): nor may we
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            theirs = None
        merged = [f"{reader.a1(r0, c0)}:{reader.a1(r1, c1)}" for (r0, c0), (r1, c1) in sheet.merged_cell_ranges or []]
        part = (parts or {}).get(unicodedata.normalize("NFC", name))
        found = check.scans.get(part) if part else None
        rows = sheetxml.grid(found, strings, styles) if found is not None else None
        if rows is not None:
            assert theirs is not None, name
            assert found.formulas == _formula_cells(bytes(check.sheets[part])), name
        out.append((name, None if rows is None else cells(rows), cells(theirs or []),
                    None if rows is None else found.merged, merged))
    return out


def assert_read_alike(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader gives the same submission from the fast path as from python-calamine (the fast path turned off)."""
    fast = read_submission(path)
    with monkeypatch.context() as m:
        m.setattr(reader, "_read_plain", lambda *_a: False)
        slow = read_submission(path)
    assert fast.header == slow.header and fast.indicators == slow.indicators and fast.targets == slow.targets
    assert fast.merged == slow.merged and fast.problems == slow.problems, path.name
    assert (fast.stamp, fast.stamp_ok, fast.sheet) == (slow.stamp, slow.stamp_ok, slow.sheet)


def assert_same(data: bytes, label: str) -> int:
    """Both readers agree on every sheet the fast path takes; the number of sheets it took."""
    taken = 0
    for name, ours, theirs, our_merged, their_merged in both_ways(data):
        if ours is None:
            continue
        taken += 1
        assert ours == theirs, (label, name, {k: (ours.get(k), theirs.get(k)) for k in ours.keys() ^ theirs.keys()
                                              | {k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k]}})
        assert type_map(ours) == type_map(theirs), (label, name)
        assert our_merged == their_merged, (label, name)
    return taken


def type_map(found: dict) -> dict:
    return {k: type(v) for k, v in found.items()}


@pytest.fixture(scope="module")
def corpus(catalogue, session_forms) -> Corpus:
    return Corpus(catalogue, session_forms, PERIOD)


def test_our_forms_are_read_the_fast_way_and_as_python_calamine_reads_them(corpus):
    for unit in ("VP", "QLVT", "TTRA"):
        assert assert_same(corpus.bytes_of(unit), unit) == 3  # the report, the guide and the stamp
    blank = corpus.form("VP", PERIOD, filled=False).read_bytes()
    assert assert_same(blank, "blank") == 3


def test_every_hostile_file_is_read_as_python_calamine_reads_it_or_left_to_it(corpus, tmp_path):
    taken = files = 0
    for case in CASES:
        folder = tmp_path / case.name
        folder.mkdir()
        for name in case.build(corpus, folder):
            path = folder / name
            if not path.is_file() or path.stat().st_size > 30_000_000:
                continue
            data = path.read_bytes()
            if not data.startswith(b"PK"):
                continue
            files += 1
            taken += assert_same(data, f"{case.name}/{name}")
    assert files >= 20 and taken >= 40, (files, taken)


@needs_soffice
def test_libreoffice_files_are_read_the_fast_way_and_as_python_calamine_reads_them(corpus, tmp_path, monkeypatch):
    """LibreOffice writes shared strings, its own styles and cached formula values: its re-save of our form and its
    own fixture are taken by the fast path, and read alike."""
    src = corpus.form("QLVT", PERIOD)
    resaved = convert(src, tmp_path / "lo", "xlsx:Calc MS Excel 2007 XML")[0]
    data = resaved.read_bytes()
    assert "xl/sharedStrings.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert assert_same(data, "resaved") == 3
    assert assert_same((FIXTURES / "lo-formula.xlsx").read_bytes(), "lo-formula") >= 1
    fast = read_submission(resaved)
    assert fast.readable and fast.stamp_ok and len(fast.indicators) == len(corpus.catalogue.indicators)
    assert_read_alike(resaved, monkeypatch)


FORMATS = ["General", "0", "0.00", "#,##0", "0%", "0.00E+00", "@", "dd/mm/yyyy", "d/m/yy", "mmm-yy", "yyyy-mm-dd",
           "[$-42A]dd/mm/yyyy", "[$-1010000]d/m/yyyy;@", "hh:mm", "h:mm:ss", "[h]:mm:ss", "[mm]:ss", "hh:mm AM/PM",
           '#,##0 "đ"', '"Ngày "dd', "#,##0_);[Red](#,##0)", "[Red]0", "[Magenta]0", "[<100]0;0", "\\d0", "_d0",
           "0;dd/mm/yyyy", "dd/mm/yyyy;0", "#,##0.00 [$₫-42A]", "General;@", "mm:ss", "yyyy\"năm\""]


def test_number_formats_are_classed_as_python_calamine_classes_them(tmp_path):
    """Each custom format, on a date serial: a date from python-calamine exactly where the fast path says date; the
    formats it does not class for sure make the sheet python-calamine's."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, code in enumerate(FORMATS, start=1):
        ws.cell(row=i, column=1, value=45555).number_format = code
        ws.cell(row=i, column=2, value=45555.0).number_format = code
    buf = io.BytesIO()
    wb.save(buf)
    theirs = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(buf.getvalue())).get_sheet_by_index(0)
    rows = theirs.to_python(skip_empty_area=False)
    classed = 0
    for code, row in zip(FORMATS, rows, strict=True):
        try:
            is_date = sheetxml.format_kind(code)
        except sheetxml.NotPlain:
            continue
        classed += 1
        assert isinstance(row[0], dt.date) == is_date, (code, row)
    assert classed >= 20
    # the workbook as a whole: one unclassed format is enough to leave it to python-calamine
    assert assert_same(buf.getvalue(), "formats") == 0


def test_values_of_every_kind_read_alike():
    wb = openpyxl.Workbook()
    ws = wb.active
    values = [1, -2.5, 1e-7, 123456789012, 0, True, False, "chữ", " khoảng trắng ", "a & b < c > d \"e\" 'f'",
              "xuống\ndòng", "\ttab", "😀 ngoài BMP", dt.date(2024, 9, 30), dt.date(1900, 3, 1), dt.date(9999, 12, 31),
              "=cmd|' /C calc'!A0", "#DIV/0! viết tay", "Đ", unicodedata.normalize("NFD", "Nguyễn")]
    for i, v in enumerate(values, start=1):
        cell = ws.cell(row=i, column=1, value=v)
        if isinstance(v, str) and v.startswith("="):
            cell.data_type = "s"
        if isinstance(v, dt.date):
            cell.number_format = "dd/mm/yyyy"
    ws["C3"] = "=A1+1"  # a formula without a cached value
    ws.merge_cells("D1:E2")
    ws["Z100"] = "xa"
    buf = io.BytesIO()
    wb.save(buf)
    assert assert_same(buf.getvalue(), "values") == 1


def sheet_xml(data: str, after: str = "") -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxml'
            f'formats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData>{after}</worksheet>').encode()


@pytest.mark.parametrize("xml", [
    sheet_xml('<row r="1"><x:c r="A1"><x:v>1</x:v></x:c></row>'),  # a prefix
    sheet_xml('<row r="1"><c><v>1</v></c></row>'),  # a cell without its reference
    sheet_xml('<row r="1"><c t="s" r="A1"><v>1</v></c></row>'),  # r not first
    sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[<f>1</f>]]></t></is></c></row>'),
    sheet_xml('<row r="1"><!-- a comment --><c r="A1"><v>1</v></c></row>'),
    sheet_xml('<row r="1"><c r="A1" t="e"><v>#DIV/0!</v></c></row>'),  # an error
    sheet_xml('<row r="1"><c r="A1" t="d"><v>2024-09-01</v></c></row>'),  # an ISO date
    sheet_xml('<row r="1"><c r="A1" t="inlineStr"><is><r><t>a</t></r><r><t>b</t></r></is></c></row>'),  # rich
    sheet_xml('<row r="1"><c r="A1"><v>1</v><extLst/></c></row>'),
    sheet_xml('<row r="1"><c r="A1" t="s"><is><t>a</t></is></c></row>'),  # inline text in a cell of another type
    sheet_xml('<row r="1"><c r="A1" t="inlineStr"><v>a</v></c></row>'),  # an inline string's text in <v>
    sheet_xml("") + b"<!-- <sheetData/> -->",  # sheetData named three times
    sheet_xml('<row r="1"><c r="A1"><v>1</v></c></row>', '<mergeCells count="1"><mergeCell ref="a1:b1"/></mergeCells>'),
    b'<?xml version="1.0" encoding="ISO-8859-1"?><worksheet><sheetData/></worksheet>',
    b"<?xml version='1.0' encoding='windows-1258'?><worksheet><sheetData/></worksheet>",
])
def test_what_is_not_plainly_written_is_left_to_python_calamine(xml):
    assert sheetxml.scan(xml) is None


@pytest.mark.parametrize("raw", [b"a_x000D_b", b"a\rb", b"&nbsp;", b"a & b", b"&#0;", b"\xff"])
def test_texts_that_are_not_plain_are_left_to_python_calamine(raw):
    with pytest.raises(sheetxml.NotPlain):
        sheetxml.text(raw)


def test_values_that_are_not_plain_are_left_to_python_calamine():
    found = sheetxml.scan(sheet_xml('<row r="1"><c r="A1" s="1"><v>30</v></c></row>'))
    dates = sheetxml.Styles(frozenset({1}), 2)
    assert sheetxml.grid(found, [], dates) is None  # a date before 1 March 1900 (the 1900 leap-year bug)
    found = sheetxml.scan(sheet_xml('<row r="1"><c r="A1" s="1"><v>45555.5</v></c></row>'))
    assert sheetxml.grid(found, [], dates) is None  # a date and time
    found = sheetxml.scan(sheet_xml('<row r="1"><c r="A1"><v>1_000</v></c></row>'))
    assert sheetxml.grid(found, [], dates) is None  # Python's float() would take it
    found = sheetxml.scan(sheet_xml('<row r="1"><c r="A1" t="s"><v>3</v></c></row>'))
    assert sheetxml.grid(found, ["a"], dates) is None  # no such shared string
    assert sheetxml.shared_strings(b'<sst><si><r><t>a</t></r></si></sst>') is None
    assert sheetxml.shared_strings(b'<sst><si><t>a</t><rPh sb="0" eb="1"><t>b</t></rPh></si></sst>') is None
    assert sheetxml.shared_strings(b'<sst count="2"><si><t>a &amp; b</t></si><si><t/></si></sst>') == ["a & b", ""]
    many = b"<sst>" + b"<si><t>a</t></si>" * (sheetxml.MAX_SHARED_XML // 17 + 1) + b"</sst>"
    assert sheetxml.shared_strings(many) is None  # not held as Python strings: python-calamine's


def test_the_reader_gives_the_same_submission_both_ways(corpus, monkeypatch, tmp_path):
    """The whole reading (header, table, findings) from the fast path and from python-calamine, for a filled form
    and a form with problems of every kind the reader itself finds."""
    paths = [corpus.form(unit, PERIOD) for unit in ("VP", "QLVT")]
    tmp = tmp_path
    for case in CASES:
        if case.name in ("row-deleted", "row-inserted", "merged-inputs", "formula-no-cache", "text-numbers",
                         "date-as-text", "note-100000-chars", "formula-like-notes", "unknown-unit", "nfd-text-and-name",
                         "macro-xlsm", "lo-formula.xlsx"):
            folder = tmp / case.name
            folder.mkdir(exist_ok=True)
            paths += [folder / n for n in case.build(corpus, folder)]
    assert len(paths) >= 13
    for path in paths:
        assert_read_alike(path, monkeypatch)


def test_the_scan_stays_small_whatever_a_sheet_holds(monkeypatch):
    """A row longer than MAX_ROW_XML, more valued or formula cells or merged ranges than MAX_CELLS: left to
    python-calamine (under the package check's bounds) rather than held in memory as Python objects."""
    row = "".join(f'<c r="{reader.a1(0, c)}"><v>{c}</v></c>' for c in range(40))
    formulas = "".join(f'<c r="{reader.a1(1, c)}"><f>1</f></c>' for c in range(40))
    merged = "".join(f'<mergeCell ref="{reader.a1(5, 2 * c)}:{reader.a1(5, 2 * c + 1)}"/>' for c in range(40))
    xml = sheet_xml(f'<row r="1">{row}</row><row r="2">{formulas}</row>',
                    f'<mergeCells count="40">{merged}</mergeCells>')
    assert len(sheetxml.scan(xml).cells) == 40
    monkeypatch.setattr(sheetxml, "MAX_CELLS", 39)
    assert sheetxml.scan(xml) is None
    monkeypatch.setattr(sheetxml, "MAX_CELLS", 100)
    monkeypatch.setattr(sheetxml, "MAX_ROW_XML", len(row) - 1)
    assert sheetxml.scan(xml) is None
    monkeypatch.setattr(sheetxml, "MAX_ROW_XML", 1 << 20)
    assert len(sheetxml.scan(xml).merged) == 40
    monkeypatch.setattr(sheetxml, "MAX_CELLS", 39)
    no_values = sheet_xml(f'<row r="2">{formulas}</row>', f'<mergeCells count="40">{merged}</mergeCells>')
    assert sheetxml.scan(no_values) is None  # 40 formulas
    assert sheetxml.scan(sheet_xml("", f'<mergeCells count="40">{merged}</mergeCells>')) is None  # 40 ranges


def test_the_caches_keep_only_short_texts():
    long = ("chữ " * 2000).encode()
    assert len(long) > sheetxml.MAX_TEXT_CACHED
    before = sheetxml._text_cached.cache_info().currsize
    assert sheetxml.text(long) == long.decode()
    assert sheetxml._text_cached.cache_info().currsize == before
    rows = sheetxml._Rows()
    short, big = b'<row r="1"><c r="A1"><v>1</v></c>', b'<row r="1">' + b'<c r="A1"><v>1</v></c>' * 2000
    for _ in range(3):
        assert rows.scan(short).cells == rows.scan(big).cells[:1] == [(0, 0, sheetxml.NUMBER, 0, b"1")]
    assert list(rows.entries) == [short]  # kept once seen twice; the long row never


def test_a_row_is_kept_once_seen_twice_and_the_cache_starts_again_when_full(monkeypatch):
    monkeypatch.setattr(sheetxml._Rows, "MAX_ENTRIES", 3)
    rows = sheetxml._Rows()
    pieces = [f'<row r="{n}"><c r="A{n}"><v>{n}</v></c>'.encode() for n in range(1, 6)]
    for piece in pieces:
        rows.scan(piece)
    assert rows.entries == {}
    for piece in pieces[:3]:
        rows.scan(piece)
    assert list(rows.entries) == pieces[:3]
    rows.scan(pieces[3])
    assert list(rows.entries) == [pieces[3]] and rows.size == len(pieces[3])


def test_the_farthest_cell_when_a_row_holds_cells_of_other_rows():
    """Cells placed by their own references, whatever row element holds them: the extent and the farthest cell are
    those of :func:`thidua.package.sheet_extent`, from a fresh scan and from the rows kept."""
    from thidua.package import sheet_extent

    for body in ('<row r="1"><c r="A1"><v>1</v></c><c r="C3"><v>1</v></c><c r="B2"><v>1</v></c></row>'
                 '<row r="2"><c r="D2"><v>1</v></c></row>',
                 '<row r="4"><c r="B4"><v>1</v></c></row><row r="2"><c r="A2"><v>1</v></c><c r="E2"><v>1</v></c>'
                 '</row><row r="5"><c r="A5"><v>1</v></c><c r="C5"><v>1</v></c></row>'):
        xml = sheet_xml(body)
        for _ in range(3):
            found = sheetxml.scan(xml)
            assert (found.rows, found.cols, found.far) == sheet_extent(xml), body


def test_a_member_checked_before_is_counted_again_not_inflated_again(corpus, monkeypatch):
    """The template's parts are inflated and checked once per process; the same compressed bytes are then counted
    against each file's budget without inflating them again. Other bytes under the same name, size and CRC (the
    same part compressed otherwise) are inflated and checked as ever; a cached member still counts in the budget."""
    from thidua import package

    monkeypatch.setattr(package, "_verified", package._Verified())
    inflated: list[str] = []
    real = package._inflate

    def counting(data, info, *args, **kwargs):
        inflated.append(info.filename)
        return real(data, info, *args, **kwargs)

    monkeypatch.setattr(package, "_inflate", counting)
    data = corpus.bytes_of("VP")
    members = zipfile.ZipFile(io.BytesIO(data)).namelist()
    first = inspect_package(data)
    inspect_package(data)  # seen twice: kept now
    inflated.clear()
    third = inspect_package(data)
    assert third.ok and inflated == [] and third.inflated == first.inflated
    assert third.parts.keys() == first.parts.keys() and third.scans.keys() == first.scans.keys()
    assert all(third.parts[k] == first.parts[k] for k in first.parts)
    # the same parts, compressed at another level: the same names, sizes and CRCs, other bytes
    other = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(other, "w") as dst:
        for name in members:
            dst.writestr(name, src.read(name), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    recompressed = inspect_package(other.getvalue())

    def raw(blob: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            return {i.filename: bytes(package._raw(blob, i)) for i in z.infolist()}

    before, after = raw(data), raw(other.getvalue())
    changed = {name for name in members if before[name] != after[name]}
    assert recompressed.ok and len(changed) >= 5 and set(inflated) == changed
    # the budget counts cached members too
    total = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    inflated.clear()
    refused = inspect_package(data, budget=total - 1)
    assert [p.code for p in refused.problems] == ["zip_bomb"] and inflated == []


SST = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_sheet_data(rows: str, strings: list[str] | None = None) -> bytes:
    """A workbook written by openpyxl whose one sheet's ``sheetData`` is ``rows``; with ``strings`` (each an ``<si>``
    element's content), a shared strings part too."""
    wb = openpyxl.Workbook()
    wb.active["A1"] = 1
    for ref, fmt in (("B1", "dd/mm/yyyy"), ("C1", "0%"), ("D1", "[$-42A]d/m/yyyy")):  # cell styles 1, 2 and 3
        wb.active[ref] = 45000
        wb.active[ref].number_format = fmt
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start, end = text.index("<sheetData>"), text.index("</sheetData>") + len("</sheetData>")
                data = (text[:start] + f"<sheetData>{rows}</sheetData>" + text[end:]).encode()
            elif strings is not None and info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST}"/>'
                                                  "</Types>".encode())
            elif strings is not None and info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", f'<Relationship Id="rIdSst" Type="{SST_REL}" '
                                                         'Target="sharedStrings.xml"/></Relationships>'.encode())
            dst.writestr(info, data)
        if strings is not None:
            body = "".join(f"<si>{si}</si>" for si in strings)
            dst.writestr("xl/sharedStrings.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns='
                         f'"http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{len(strings)}" '
                         f'uniqueCount="{len(strings)}">{body}</sst>')
    return out.getvalue()


def test_cells_without_a_value_read_as_blanks_whatever_their_type():
    """An error, ISO-date or unknown type on a cell with no value: blank for python-calamine, and for the fast path
    (which takes the sheet: the type of a cell with no value changes nothing)."""
    data = with_sheet_data('<row r="1"><c r="A1" t="e"><v></v></c><c r="B1" t="d"/><c r="C1" t="e"/>'
                           '<c r="D1" t="e"><f>1/0</f></c><c r="E1" t="zz"/><c r="F1"><v>2</v></c></row>')
    assert assert_same(data, "typed blanks") == 1


@pytest.mark.parametrize("rows", [
    '<row r="1"><c r="A1" x:s="1" s="0"><v>45000</v></c><c r="B1" cm="1" x:t="e" t="n"><v>2</v></c></row>',  # prefixed
    '<row r="1"><c r="A1"><v>1</v></c><c r="A1"><v>2</v></c></row>',  # one cell twice: the last one counts
    '<row r="1"><c r="A1"><v>1</v></c></row><row r="1"><c r="A1"><v>3</v></c></row>',  # one row twice
    '<row r="2"><c r="B2"><v>5</v></c></row><row r="1"><c r="A1"><v>1</v></c></row>',  # rows out of order
    '<row r="1"><c r="B1"><v>1</v></c><c r="A1"><v>2</v></c></row>',  # cells out of order
])
def test_cells_repeated_or_out_of_order_read_alike(rows):
    assert assert_same(with_sheet_data(rows), rows) == 1


_TEXTS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\ufffe\uffff"),
                 max_size=12)


def _text_xml(text: str) -> str:
    from xml.sax.saxutils import escape

    out = []
    for ch in escape(text):  # some characters as references, as our own writer does
        code = ord(ch)
        if code < 0x20 and ch not in "\t\n":
            return ""  # not representable in XML 1.0: no such text
        out.append(f"&#{code};" if code > 0x7F and code % 3 == 0 else ch)
    return "".join(out)


@st.composite
def _cells(draw) -> str:
    rows = []
    for r in sorted(draw(st.sets(st.integers(1, 30), min_size=1, max_size=6))):
        cells = []
        for c in sorted(draw(st.sets(st.integers(0, 12), min_size=1, max_size=5))):
            ref = f"{chr(65 + c)}{r}"
            kind = draw(st.sampled_from(["n", "none", "str", "inline", "b", "e", "blank", "formula"]))
            if kind == "n":
                value = draw(st.one_of(st.integers(-10**12, 10**12).map(str),
                                       st.floats(allow_nan=False, allow_infinity=False).map(repr),
                                       st.sampled_from(["1.", ".5", "-0", "1e5", "1E-3", "007"])))
                style = draw(st.sampled_from(["", ' s="0"', ' s="1"', ' s="2"', ' s="3"']))  # 1 and 3: dates
                cells.append(f'<c r="{ref}"{style} t="n"><v>{value}</v></c>')
            elif kind == "none":
                style = draw(st.sampled_from(["", ' s="1"', ' s="3"']))
                cells.append(f'<c r="{ref}"{style}><v>{draw(st.integers(0, 99999))}</v></c>')
            elif kind == "str":
                cells.append(f'<c r="{ref}" t="str"><f>A1</f><v>{_text_xml(draw(_TEXTS))}</v></c>')
            elif kind == "inline":
                space = draw(st.sampled_from(["", ' xml:space="preserve"']))
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t{space}>{_text_xml(draw(_TEXTS))}</t></is></c>')
            elif kind == "b":
                cells.append(f'<c r="{ref}" t="b"><v>{draw(st.sampled_from(["0", "1"]))}</v></c>')
            elif kind == "e":
                cells.append(f'<c r="{ref}" t="e"><v>#DIV/0!</v></c>')
            elif kind == "blank":
                cells.append(f'<c r="{ref}" s="0"/>')
            else:
                cells.append(f'<c r="{ref}"><f>SUM(A1:A2)</f></c>')
        rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    return "".join(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cells())
def test_any_sheet_is_read_as_python_calamine_reads_it_or_left_to_it(rows):
    """Random rows of every kind of cell (numbers written every way, texts with markup characters, references and
    characters outside the BMP, formulas with and without cached values, booleans, errors, blanks): where the fast
    path takes the sheet, it reads what python-calamine reads, cell by cell."""
    taken = assert_same(with_sheet_data(rows), rows)
    event(f"taken by the fast path: {bool(taken)}")


@st.composite
def _shared(draw) -> tuple[str, list[str]]:
    strings = []
    for _ in range(draw(st.integers(1, 8))):
        space = draw(st.sampled_from(["", ' xml:space="preserve"']))
        strings.append(draw(st.sampled_from([f"<t{space}>{_text_xml(draw(_TEXTS))}</t>", "<t/>"])))
    cells = []
    for r in range(1, draw(st.integers(1, 6)) + 1):
        index = draw(st.integers(0, len(strings) - 1))
        cells.append(f'<row r="{r}"><c r="A{r}" t="s"><v>{index}</v></c><c r="B{r}"><v>{r}</v></c></row>')
    return "".join(cells), strings


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_shared())
def test_any_shared_strings_are_read_as_python_calamine_reads_them_or_left_to_it(sheet):
    rows, strings = sheet
    taken = assert_same(with_sheet_data(rows, strings), rows + "".join(strings))
    event(f"taken by the fast path: {bool(taken)}")


def test_shared_strings_are_read_by_the_fast_path():
    data = with_sheet_data('<row r="1"><c r="A1" t="s"><v>1</v></c><c r="B1" t="s"><v>0</v></c></row>',
                           ['<t xml:space="preserve"> Đạt </t>', "<t>Chưa đạt &amp; &#7885;</t>"])
    assert assert_same(data, "shared") == 1
