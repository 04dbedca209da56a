"""The hostile corpus: every kind of bad file a unit may send, built from a correctly filled form.

Each :class:`Case` writes one or more files into a folder and says what validation must say about them: the finding
codes (with their cells where they have one), or that the file is read as valid. Most files are built here from the
bytes of a generated form; three come from LibreOffice (``tests/fixtures``, see ``make_fixtures.py``) and one is
encrypted by msoffcrypto-tool, both writers independent of ours.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.cell import TYPE_STRING
from thidua.catalogue import Catalogue
from thidua.layout import (
    COLUMNS,
    HEADER,
    HEADER_VALUE_COL,
    SHEET_REPORT,
    SHEET_STAMP,
    FormLayout,
    a1,
    file_name,
    stamp_checksum,
)
from thidua.vba import VbaModule, build_vba_project

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GIB = 1 << 30

#: Notes that a spreadsheet, a shell or a terminal could take for something else; each must stay plain text.
DANGEROUS_NOTES = (
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example/x","Bấm vào đây")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


@dataclass
class Corpus:
    """What a case builds from: the catalogue, correctly filled forms and where each input cell is."""

    catalogue: Catalogue
    form: Callable[..., Path]  # form(unit="VP", period=PERIOD) -> a correctly filled form (do not modify)
    period: Any

    def at(self, key: str, column: str) -> str:
        return a1(FormLayout.for_catalogue(self.catalogue).rows[key], COLUMNS[column][0])

    def bytes_of(self, unit: str = "VP", period: Any = None) -> bytes:
        return self.form(unit, period or self.period).read_bytes()

    def name(self, unit: str = "VP", period: Any = None) -> str:
        return file_name(unit, str(period or self.period))


@dataclass
class Case:
    """One hostile input: ``build(corpus, folder)`` writes the files; ``expect`` maps each file name to the set of
    (code, cell) pairs its findings must be (exactly: one clear finding, not a cascade); with ``valid`` the files
    must also be valid (warnings and information only)."""

    name: str
    build: Callable[[Corpus, Path], dict[str, set[tuple[str, str | None]]]]
    valid: bool = False


# ----------------------------------------------------------------------------------------------------------------------
# Zip helpers


def rezip(data: bytes, replace: dict[str, bytes | None] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of the zip ``data`` with members replaced (None removes one) or added."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    dst.writestr(info.filename, replace[info.filename])
            else:
                dst.writestr(info.filename, src.read(info.filename))
        for name, payload in add.items():
            dst.writestr(name, payload)
    return out.getvalue()


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written by hand, so that headers can lie: each member is (name, stored bytes, method, CRC, declared
    uncompressed size). PKZIP APPNOTE 4.3.7 (local header) and 4.3.12 (central directory header)."""
    body, central = bytearray(), bytearray()
    for name, payload, method, crc, size in members:
        raw_name = name.encode()
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(payload), size,
                            len(raw_name), 0) + raw_name + payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(payload), size,
                               len(raw_name), 0, 0, 0, 0, 0, offset) + raw_name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0)
    return bytes(body + central + end)


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def zeros_bomb(size: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 1 MiB) and its CRC, built in milliseconds: one MiB
    compressed with a full flush (which resets the history, so the piece can be repeated) then an empty final
    block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    mib = bytes(1 << 20)
    piece = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    count = size >> 20
    crc = 0
    for _ in range(count):  # zlib's Python API has no crc32_combine; 1 GiB takes about 0.15 s
        crc = zlib.crc32(mib, crc)
    return piece * count + b"\x03\x00", crc


def members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


# ----------------------------------------------------------------------------------------------------------------------
# Workbook edits with openpyxl


def edit(src: Path, dst: Path, change: Callable[[openpyxl.Workbook], None]) -> Path:
    wb = openpyxl.load_workbook(src)
    change(wb)
    wb.save(dst)
    return dst


def put_text(ws, ref: str, text: str) -> None:
    ws[ref].value = text
    ws[ref].data_type = TYPE_STRING


def forge_stamp(wb: openpyxl.Workbook, **fields: str) -> None:
    """Change fields of the hidden stamp and recompute its checksum (a forger can: the checksum is no signature)."""
    ws = wb[SHEET_STAMP]
    rows = {str(r[0].value): r[1] for r in ws.iter_rows(min_col=1, max_col=2) if r[0].value}
    for key, value in fields.items():
        rows[key].value = value
    values = {k: str(c.value) for k, c in rows.items()}
    rows["checksum"].value = stamp_checksum(values)


# ----------------------------------------------------------------------------------------------------------------------
# The cases


def _bytes_case(name: str, payload: Callable[[Corpus], bytes], code: str, file: str | None = None) -> Case:
    def build(c: Corpus, folder: Path):
        target = file or f"{name}.xlsx"
        (folder / target).write_bytes(payload(c))
        return {target: {(code, None)}}

    return Case(name, build)


def _sheet_xml(c: Corpus) -> tuple[bytes, str]:
    """A filled form and the part of its report sheet (the first sheet)."""
    return c.bytes_of(), "xl/worksheets/sheet1.xml"


def _entity_bomb(c: Corpus) -> bytes:
    data, part = _sheet_xml(c)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read(part)
    lol = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    lol[1] = '<!ENTITY lol1 "' + "&lol;" * 10 + '">'
    doctype = "<!DOCTYPE worksheet [" + "".join(lol) + "]>"
    head, rest = _split_prolog(xml)
    return rezip(data, {part: head + doctype.encode() + rest.replace(b"<v>", b"<v>&lol9;", 1)})


def _split_prolog(xml: bytes) -> tuple[bytes, bytes]:
    """(XML declaration, the rest): where a DOCTYPE goes."""
    if xml.lstrip().startswith(b"<?xml"):
        head, rest = xml.split(b"?>", 1)
        return head + b"?>", rest
    return b'<?xml version="1.0" encoding="UTF-8"?>', xml


def _external_entity(c: Corpus) -> bytes:
    data, part = _sheet_xml(c)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read(part)
    head, rest = _split_prolog(xml)
    # in UTF-16: a DTD the byte search must find whatever the encoding
    doc = (head.replace(b"UTF-8", b"UTF-16").replace(b"utf-8", b"UTF-16")
           + b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + rest.replace(b"<v>", b"<v>&xxe;", 1))
    return rezip(data, {part: doc.decode("utf-8").encode("utf-16")})


def _lying_bomb(c: Corpus) -> bytes:
    """The form with its report sheet replaced by a 1 GiB stream whose headers declare 60 KB."""
    stream, _crc = zeros_bomb(GIB)
    parts = members(c.bytes_of())
    entries = []
    for name, payload in parts:
        if name == "xl/worksheets/sheet1.xml":
            entries.append((name, stream, 8, zlib.crc32(bytes(60_000)), 60_000))
        else:
            entries.append((name, deflate(payload), 8, zlib.crc32(payload), len(payload)))
    return raw_zip(entries)


def _honest_bomb(c: Corpus) -> bytes:
    """A 1 MB file whose report sheet inflates to 1 GiB, sizes declared truthfully."""
    stream, crc = zeros_bomb(GIB)
    entries = []
    for name, payload in members(c.bytes_of()):
        if name == "xl/worksheets/sheet1.xml":
            entries.append((name, stream, 8, crc, GIB))
        else:
            entries.append((name, deflate(payload), 8, zlib.crc32(payload), len(payload)))
    return raw_zip(entries)


def _duplicate_member(c: Corpus) -> bytes:
    entries = [(n, deflate(p), 8, zlib.crc32(p), len(p)) for n, p in members(c.bytes_of())]
    extra = b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
    entries.append(("xl/workbook.xml", deflate(extra), 8, zlib.crc32(extra), len(extra)))
    return raw_zip(entries)


def _truncated(c: Corpus) -> bytes:
    data = c.bytes_of()
    return data[: len(data) * 2 // 3]


def _encrypted(c: Corpus) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(c.bytes_of())).encrypt("matkhau", out)
    return out.getvalue()


def _word(c: Corpus) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def _fixture(name: str, target: str, code: str, cells: tuple[str, ...] = (None,), valid: bool = False) -> Case:
    def build(c: Corpus, folder: Path):
        shutil.copy(FIXTURES / name, folder / target)
        return {target: {(code, cell) for cell in cells}}

    return Case(f"libreoffice:{name}", build, valid)


def _workbook_case(name: str, change: Callable[[Corpus, openpyxl.Workbook], set[tuple[str, str | None]]],
                   unit: str = "VP", valid: bool = False, file: str | None = None) -> Case:
    def build(c: Corpus, folder: Path):
        target = file or c.name(unit)
        expected: set[tuple[str, str | None]] = set()

        def apply(wb):
            expected.update(change(c, wb))

        edit(c.form(unit, c.period), folder / target, apply)
        return {target: expected}

    return Case(name, build, valid)


def _renamed(c, wb):
    wb[SHEET_REPORT].title = "Sheet1"
    return {("W-STRUCT-SHEET-RENAMED", None)}


def _deleted_row(c, wb):
    row = FormLayout.for_catalogue(c.catalogue).rows["2.1"] + 1
    wb[SHEET_REPORT].delete_rows(row)
    return {("E-STRUCT-ROW-MISSING", None), ("W-STRUCT-ROW-MOVED", None)}


def _inserted_row(c, wb):
    wb[SHEET_REPORT].insert_rows(FormLayout.for_catalogue(c.catalogue).rows["3.1"] + 1)
    return {("W-STRUCT-ROW-MOVED", None)}


def _merged(c, wb):
    ref = c.at("1.3", "month")
    wb[SHEET_REPORT].merge_cells(f"{ref}:{c.at('1.3', 'ytd')}")
    return {("E-STRUCT-MERGED", ref)}


def _formula_no_cache(c, wb):
    ref = c.at("1.1", "month")
    wb[SHEET_REPORT][ref] = "=40+2"
    return {("E-TYPE-FORMULA-NO-CACHE", ref)}


TEXT_NUMBERS = {"1.1": "1.234", "2.1": "1,5", "3.1": "100%", "5.1": " 12 "}


def _text_numbers(c, wb):
    found = set()
    for code, text in TEXT_NUMBERS.items():
        ref = c.at(code, "month")
        put_text(wb[SHEET_REPORT], ref, text)
        found.add(("E-TYPE-TEXT-NUMBER", ref))
    return found


def _date_text(c, wb):
    ind = c.catalogue.indicator("7.4")
    ref = c.at("7.4", ind.periods[0])
    put_text(wb[SHEET_REPORT], ref, "09/25/2024")  # month first: 05/09/2024 as text is read day first, as typed
    return {("E-TYPE-DATE-TEXT", ref)}


def _long_note(c, wb):
    ref = c.at("1.1", "note")
    put_text(wb[SHEET_REPORT], ref, "Minh chứng " * 9_091)  # 100,001 characters
    return {("E-TYPE-CELL-LIMIT", ref)}


def _dangerous_notes(c, wb):
    codes = [i.code for i in c.catalogue.indicators][: len(DANGEROUS_NOTES)]
    for code, text in zip(codes, DANGEROUS_NOTES, strict=True):
        put_text(wb[SHEET_REPORT], c.at(code, "note"), text)
    return set()


def _unknown_unit(c, wb):
    forge_stamp(wb, unit_code="XYZ")
    put_text(wb[SHEET_REPORT], a1(HEADER["unit_code"][0], HEADER_VALUE_COL), "XYZ")
    return {("E-ID-UNIT-UNKNOWN", a1(HEADER["unit_code"][0], HEADER_VALUE_COL))}


def _far_cell(c, wb):
    wb[SHEET_REPORT]["XFD1048576"] = 1
    return {("E-READ-SHEET-TOO-BIG", None)}


def _nfd(c: Corpus, folder: Path):
    """Every text of the file and the file's name in NFD (as macOS writes them)."""
    data = c.bytes_of("QLVT")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        texts = {n: z.read(n) for n in z.namelist() if n.endswith(".xml")}
    nfd = {n: unicodedata.normalize("NFD", x.decode("utf-8")).encode("utf-8") for n, x in texts.items()}
    name = unicodedata.normalize("NFD", "ThiDua_2024-09_QLVT (bản sửa).xlsx")
    (folder / name).write_bytes(rezip(data, nfd))
    return {name: set()}


def _duplicates(c: Corpus, folder: Path):
    first, second = c.name("KHTC"), c.name("KHTC").replace(".xlsx", " (1).xlsx")
    shutil.copy(c.form("KHTC", c.period), folder / first)
    edit(c.form("KHTC", c.period), folder / second,
         lambda wb: put_text(wb[SHEET_REPORT], a1(HEADER["preparer"][0], HEADER_VALUE_COL), "Người khác"))
    os.utime(folder / first, (1_725_000_000, 1_725_000_000))
    os.utime(folder / second, (1_725_000_600, 1_725_000_600))
    # no error: the newer valid version is used, the older one is noted as superseded
    return {first: {("I-ID-SUPERSEDED", None)}, second: set()}


def _other_period(c: Corpus, folder: Path):
    other = type(c.period)(2024, 8)
    name = file_name("QLCL", str(other))
    shutil.copy(c.form("QLCL", other), folder / name)
    cell = a1(HEADER["period"][0], HEADER_VALUE_COL)
    return {name: {("W-ID-PERIOD-OTHER", cell)}}  # recorded for August, with a warning


def _macro(c: Corpus, folder: Path):
    """A unit's .xlsm whose macro would start a program when the workbook opens."""
    project = build_vba_project([
        VbaModule("ThisWorkbook", 'Private Sub Workbook_Open()\r\n    Shell "calc.exe"\r\nEnd Sub\r\n', "document"),
        VbaModule("Module1", 'Sub Auto_Open()\r\n    Shell "cmd /c echo x > C:\\\\x.txt"\r\nEnd Sub\r\n', "standard"),
    ])
    data = c.bytes_of("QLCL")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        types = z.read("[Content_Types].xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    types = types.replace("spreadsheetml.sheet.main+xml", "sheet.macroEnabled.main+xml").replace(
        "</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    rels = rels.replace("</Relationships>", '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/'
                        'relationships/vbaProject" Target="vbaProject.bin"/></Relationships>')
    name = c.name("QLCL").replace(".xlsx", ".xlsm")
    (folder / name).write_bytes(rezip(data, {"[Content_Types].xml": types.encode(), "xl/_rels/workbook.xml.rels":
                                             rels.encode()}, {"xl/vbaProject.bin": project}))
    return {name: {("W-READ-MACRO", None)}}


def _owner(c: Corpus, folder: Path):
    name = "~$" + c.name("VP")
    (folder / name).write_bytes(b"\x0bNguyen Hoa" + b"\x20" * 43 + b"\x00" * 111)
    return {name: {("I-READ-OWNER-FILE", None)}}


def _too_large(c: Corpus, folder: Path):
    name = "rat-lon.xlsx"
    with open(folder / name, "wb") as fh:
        fh.write(b"PK\x03\x04")
        fh.truncate(21 * 1024 * 1024)  # sparse: nothing really written
    return {name: {("E-READ-TOO-LARGE", None)}}


def _odd_name(c: Corpus, folder: Path):
    name = "..\\..\\Windows\\ThiDua_2024-09_QLKCHT; rm -rf ~ $(calc) `x` & ‮gpj.xlsx"
    shutil.copy(c.form("QLKCHT", c.period), folder / name)
    return {name: set()}


def _simple(name: str, build: Callable[[Corpus, Path], dict], valid: bool = False) -> Case:
    return Case(name, build, valid)


CASES: list[Case] = [
    _bytes_case("not-zip", lambda c: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "E-READ-NOT-EXCEL"),
    _bytes_case("truncated", _truncated, "E-READ-CORRUPT"),
    _bytes_case("zip-bomb-declared", _honest_bomb, "E-READ-ZIP-BOMB"),
    _bytes_case("zip-bomb-lying", _lying_bomb, "E-READ-ZIP-BOMB"),
    _bytes_case("xml-entity-bomb", _entity_bomb, "E-READ-XML-DTD"),
    _bytes_case("xml-external-entity-utf16", _external_entity, "E-READ-XML-DTD"),
    _bytes_case("duplicate-member", _duplicate_member, "E-READ-CORRUPT"),
    _bytes_case("encrypted", _encrypted, "E-READ-ENCRYPTED"),
    _bytes_case("word-renamed", _word, "E-READ-NOT-WORKBOOK"),
    _bytes_case("empty", lambda c: b"", "E-READ-EMPTY"),
    _fixture("lo-legacy.xls", "ThiDua_2024-09_VP.xls", "I-READ-CONVERTED", valid=True),
    _fixture("lo-form.ods", "ThiDua_2024-09_VP.ods", "I-READ-CONVERTED", valid=True),
    _fixture("lo-formula.xlsx", "ThiDua_2024-09_VP.xlsx", "E-TYPE-FORMULA", ("D15", "G15")),
    _simple("owner-file", _owner, valid=True),
    _simple("too-large", _too_large),
    _simple("macro-xlsm", _macro, valid=True),
    _workbook_case("sheet-renamed", _renamed, valid=True),
    _workbook_case("row-deleted", _deleted_row),
    _workbook_case("row-inserted", _inserted_row, valid=True),
    _workbook_case("merged-inputs", _merged),
    _workbook_case("formula-no-cache", _formula_no_cache),
    _workbook_case("text-numbers", _text_numbers),
    _workbook_case("date-as-text", _date_text),
    _workbook_case("note-100000-chars", _long_note),
    _workbook_case("formula-like-notes", _dangerous_notes, unit="TTDK", valid=True),
    _workbook_case("unknown-unit", _unknown_unit, file="ThiDua_2024-09_XYZ.xlsx"),
    _workbook_case("far-cell", _far_cell),
    _simple("nfd-text-and-name", _nfd, valid=True),
    _simple("duplicates", _duplicates, valid=True),
    _simple("other-period", _other_period, valid=True),
    _simple("odd-file-name", _odd_name, valid=True),
]
