"""What a returned file is, from its bytes, before any spreadsheet library parses it.

A unit's file may be anything: another kind of file renamed, a truncated download, an encrypted or legacy workbook, or
a file built to hurt the reader. :func:`inspect_package` classifies it and, for an OOXML package, proves it safe to
hand to python-calamine and openpyxl:

* **Bounded inflation.** Every zip member is inflated here, with zlib (:mod:`thidua.zlibs`), in small chunks,
  counted against the declared size of the member and a budget for the whole file (:data:`MAX_UNCOMPRESSED_BYTES`).
  :mod:`zipfile` is not enough on its own: it trusts the size declared in the header and silently stops reading there,
  while the Rust reader inside python-calamine inflates a member's stream to its end. A member whose stream is longer
  than declared (a "lying header" zip bomb), a total over the budget, a bad CRC, a truncated stream, two members with
  the same name, or a compression method Excel never writes is refused before any library reads the file. Memory
  stays at one chunk per member; time is bounded by the budget.
* **Inflated once.** The parts a reader needs (the workbook, its relationships, styles, shared strings and every
  worksheet) are kept as inflated here (:attr:`PackageCheck.parts`), and each worksheet's cells are scanned in the
  same pass (:mod:`thidua.sheetxml`): the reader types them from there, and only a file not plainly written is handed
  to python-calamine, as an uncompressed copy of these parts (:meth:`PackageCheck.stored_package`). Nothing is
  inflated twice, and no reader ever sees bytes this module has not counted, checked and bounded. A member whose
  compressed bytes were already checked in this process (the parts of the template every form shares) is counted
  again, not inflated again (:class:`_Verified`).
* **No DTD.** Office Open XML never uses a document type declaration, so a part that declares one (the way an entity
  expansion bomb, "billion laughs", or an external entity is written) is refused. The search covers UTF-8 and UTF-16
  parts. Behind this check, openpyxl parses with defusedxml (:func:`require_defusedxml` makes sure it does), and the
  package's own small XML reads use defusedxml (:func:`read_xml`).

Nothing in the file is ever run: macros are noted (``macro_enabled``), never executed, and no external link, query or
OLE object is followed.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from . import zlibs
from .sheetxml import SheetScan, scan
from .zlibs import zlib

#: Bounds for a returned file (the generated form is about 40 KB, 300 KB unzipped).
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
MAX_MEMBERS = 2000
#: A member larger than this must not be more compressed than MAX_RATIO (sheet XML compresses about 10:1).
RATIO_FLOOR = 1_000_000
MAX_RATIO = 200
CHUNK = 64 * 1024
#: A worksheet is read into a dense grid from A1 to its last cell with a value (python-calamine allocates that grid at
#: once and aborts the whole process when it cannot: two values at A1 and XFD1048576 are enough). Worksheets are
#: therefore measured first and refused beyond these bounds (our form is about 80 × 8 cells, 60 KB of XML).
MAX_SHEET_CELLS = 1_000_000
MAX_SHEET_XML = 16 * 1024 * 1024

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # PKZIP APPNOTE 4.3.7: local file header, 30 bytes
_DTD_MARKS = tuple(
    mark.encode(enc) for mark in ("<!DOCTYPE", "<!ENTITY") for enc in ("utf-8", "utf-16-le", "utf-16-be")
)
_DTD_RE = re.compile(b"|".join(re.escape(m) for m in _DTD_MARKS))
_OVERLAP = max(len(m) for m in _DTD_MARKS) - 1
#: Parts that hold XML (images, printer settings and the VBA project are binary: searched for no DTD).
_XML_PART_RE = re.compile(r"\.(xml|rels|vml)$", re.IGNORECASE)
_SHEET_PART_RE = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)
#: Parts python-calamine reads to give a worksheet's values and merged ranges: kept, as inflated, for the reader (the
#: package parts, styles for dates, shared strings for text (python-calamine looks for both at these fixed names),
#: every worksheet, and chart sheets, which it lists among the sheets). Nothing else is read from a unit's file: a
#: sheet elsewhere (a macro or dialog sheet, a worksheet outside xl/worksheets, not measured above) cannot be read.
_READER_PART_RE = re.compile(r"^(\[Content_Types\]\.xml|_rels/\.rels|xl/workbook\.xml|xl/_rels/workbook\.xml\.rels"
                             r"|xl/styles\.xml|xl/sharedStrings\.xml|xl/(?:worksheets|chartsheets)/[^/]+\.xml)$",
                             re.IGNORECASE)
_CELL_TAG_RE = re.compile(rb"<c[ >]")
#: A fixed time for the members of the stored copy (zipfile would otherwise ask for the local time of each).
_STORED_TIME = (1980, 1, 1, 0, 0, 0)
_ROW_OR_CELL_RE = re.compile(rb"<(?:\w+:)?(row|c)(?=[\s/>])([^>]*?)(/?)>")
_CELL_END_RE = re.compile(rb"</(?:\w+:)?c>")
_VALUE_RE = re.compile(rb"<(?:\w+:)?(?:v|is)(?=[\s/>])")
_CELL_REF_RE = re.compile(rb' r="([A-Za-z]{1,3})([0-9]{1,7})"')
_R_ATTR_RE = re.compile(rb'\br="([A-Za-z]{0,3})([0-9]{0,7})"')


@dataclass
class Problem:
    """Why a file cannot be read (``code`` as in reader.ReadProblem) and a detail for the message."""

    code: str
    detail: str = ""


@dataclass
class PackageCheck:
    """The result of :func:`inspect_package`: ``zip`` is open when the file is an OOXML workbook safe to read."""

    zip: zipfile.ZipFile | None = None
    problems: list[Problem] = field(default_factory=list)
    sheets: dict[str, bytes] = field(default_factory=dict)  # worksheet XML by part, inflated once, for the reader
    parts: dict[str, bytes] = field(default_factory=dict)  # every part the reader needs (sheets too), as inflated
    scans: dict[str, SheetScan] = field(default_factory=dict)  # worksheet part -> its cells, when plainly written
    readable: dict[str, bytes] = field(default_factory=dict)  # worksheet part -> its reader_copy, when much smaller
    formulas: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # worksheet part -> its <f> elements
    macro_enabled: bool = False
    inflated: int = 0  # bytes inflated to check the package (also when it was refused)

    @property
    def ok(self) -> bool:
        return self.zip is not None

    def stored_package(self) -> bytes:
        """The reader's parts as an uncompressed zip, for python-calamine to read from memory (from the bytes inflated
        and checked here: no second inflation; the CRC is recomputed by zipfile over bytes already proved). Each
        worksheet is handed over as its :func:`reader_copy` (the cells and merged ranges, no formula text).

        Only a file that is not plainly written comes here (see :mod:`thidua.sheetxml`, which reads the others from
        the scanned cells). Measured on our form: python-calamine reads both sheets in 1.2 ms from the reader copy
        (34 KB of the report sheet's 168 KB, the rest formula text and conditional formats) instead of 1.8 ms from
        the whole parts (200 files, ``benchmarks/profile_stages.py``)."""
        for name, xml in self.sheets.items():
            self.cut(name, xml)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for name, data in self.parts.items():
                zf.writestr(zipfile.ZipInfo(name, _STORED_TIME), self.readable.get(name, data))
        return out.getvalue()

    def cut(self, name: str, xml: bytes) -> bytes:
        """The worksheet python-calamine reads: its :func:`reader_copy` when that is much smaller (kept, with the
        formula elements' offsets), else the part as it is. Cut once, when python-calamine is to read it."""
        if name in self.readable:
            return self.readable[name]
        readable, spans = reader_copy(xml)
        if spans is not None:
            self.formulas[name] = spans
        if len(readable) > len(xml) * 3 // 4:  # not worth a second copy in memory: read as it is
            return xml
        self.readable[name] = readable
        return readable

    def xml(self, name: str, limit: int = 4 * 1024 * 1024) -> Element | None:
        """A kept part parsed with defusedxml, as :func:`read_xml` does from the zip (None when missing, too large or
        not well-formed)."""
        data = self.parts.get(name)
        return None if data is None else parse_xml(data, limit)


def parse_xml(data: bytes | bytearray, limit: int = 4 * 1024 * 1024) -> Element | None:
    """XML bytes parsed with defusedxml (no DTD, no entity, no external reference); None when too large or not
    well-formed."""
    if len(data) > limit:
        return None
    try:
        return SafeET.fromstring(bytes(data))
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        return None


class _Refused(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(detail)
        self.code, self.detail = code, detail


def mb(n: int) -> str:
    """A size in MB as Vietnamese writes it (decimal comma)."""
    return f"{n / 1_048_576:.1f}".replace(".", ",") + " MB"


def inspect_package(data: bytes, *, budget: int = MAX_UNCOMPRESSED_BYTES) -> PackageCheck:
    """Classify ``data`` and, for an OOXML workbook, check every member by bounded inflation. Never raises."""
    check = PackageCheck()
    if not data:
        check.problems.append(Problem("empty_file"))
        return check
    if data.startswith(OLE_MAGIC):
        encrypted = "EncryptedPackage".encode("utf-16-le") in data
        check.problems.append(Problem("encrypted" if encrypted else "legacy_xls"))
        return check
    if not data.startswith(ZIP_MAGIC):
        check.problems.append(Problem("not_zip"))
        return check
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        _check_directory(infos, budget)
        names = {i.filename for i in infos}
        mimetype = zf.getinfo("mimetype") if "mimetype" in names else None
        if mimetype is not None and mimetype.file_size <= 200 and b"opendocument.spreadsheet" in zf.read(mimetype):
            check.problems.append(Problem("ods"))
            return check
        if "xl/workbook.xml" not in names:
            check.problems.append(Problem("not_workbook"))
            return check
        for info in infos:
            _member(data, info, check, budget)
    except _Refused as exc:
        check.problems.append(Problem(exc.code, exc.detail))
        return check
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, *zlibs.ERRORS,
            NotImplementedError, struct.error) as exc:
        check.problems.append(Problem("zip_corrupt", f"{type(exc).__name__}: {exc}"))
        return check
    check.zip = zf
    if "xl/vbaProject.bin" in names:
        check.macro_enabled = True
    return check


class _Verified:
    """Members already inflated and checked in this process, by their exact compressed bytes (with name, method,
    declared size and CRC): the forms of a batch come from one template, and the parts a unit does not touch (the
    theme, the styles, the guide sheet, the workbook's own parts) are byte for byte the same in every file that one
    program saved. Inflation is deterministic, so the same compressed bytes inflate to the same part, which passed
    every check the first time: it is counted against this file's budget again, not inflated again. Only checked
    parts are kept (a refusal is never cached), and only members whose name, declared size and CRC were seen before
    (the unit's own sheet, different in every file, is never kept, nor are its bytes copied to be compared); at most
    :data:`MAX_ENTRIES` of them and :data:`MAX_BYTES` in all, the least recently used dropped first. Measured on the
    1,000 benchmark forms: 9 of 14 members hit, 0.2 ms a file saved of 1.0 ms of package check."""

    MAX_ENTRIES = 32
    MAX_BYTES = 4 * 1024 * 1024
    MAX_MEMBER = 256 * 1024  # compressed bytes: a larger member is the unit's own, checked each time
    MAX_SEEN = 4096

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[Any, ...], tuple[bytes | None, SheetScan | None]] = OrderedDict()
        self.size = 0
        self.seen: set[tuple[str, int, int, int]] = set()  # (name, method, size, CRC) of the members seen

    def known(self, meta: tuple[str, int, int, int]) -> bool:
        """Whether a member with this name, method, size and CRC was seen before (noting it when not)."""
        if meta in self.seen:
            return True
        if len(self.seen) >= self.MAX_SEEN:
            self.seen.clear()
        self.seen.add(meta)
        return False

    def get(self, key: tuple[Any, ...]) -> tuple[bytes | None, SheetScan | None] | None:
        hit = self.entries.get(key)
        if hit is not None:
            self.entries.move_to_end(key)
        return hit

    def put(self, key: tuple[Any, ...], kept: bytes | None, found: SheetScan | None) -> None:
        cost = len(key[-1]) + (len(kept) if kept is not None else 0)
        if cost > self.MAX_BYTES // 4:
            return
        self.entries[key] = (kept, found)
        self.size += cost
        while len(self.entries) > self.MAX_ENTRIES or self.size > self.MAX_BYTES:
            old_key, (old_kept, _found) = self.entries.popitem(last=False)
            self.size -= len(old_key[-1]) + (len(old_kept) if old_kept is not None else 0)


_verified = _Verified()


def _member(data: bytes, info: zipfile.ZipInfo, check: PackageCheck, budget: int) -> None:
    """Inflate and check one member (or find it among the members already checked), keeping what a reader needs."""
    is_sheet = _SHEET_PART_RE.match(info.filename) is not None
    wanted = is_sheet or _READER_PART_RE.match(info.filename) is not None
    key = None
    meta = (info.filename, info.compress_type, info.file_size, info.CRC)
    if info.compress_size <= _Verified.MAX_MEMBER and _verified.known(meta):
        key = (*meta, bytes(_raw(data, info)))  # the same compressed bytes, not only the same CRC
        hit = _verified.get(key)
        if hit is not None:
            if info.file_size > budget - check.inflated:
                raise _Refused("zip_bomb", f"vượt giới hạn {mb(budget)} sau giải nén")
            check.inflated += info.file_size
            kept, found = hit
            if kept is not None:
                _keep(check, info.filename, kept, found, is_sheet)
            return
    keep = bytearray() if wanted else None
    _inflate(data, info, check, budget, keep, MAX_SHEET_XML if is_sheet else None)
    kept = bytes(keep) if keep is not None else None
    found = None
    if kept is not None:
        found = scan(kept) if is_sheet else None
        if found is not None:  # its cells, read in the same pass: the grid a reader allocates is its extent
            _bound_extent(info.filename, found.rows, found.cols, found.far)
        elif is_sheet:  # python-calamine will read it: from its cut copy, whose grid is bounded here
            _check_extent(info.filename, check.cut(info.filename, kept))
        _keep(check, info.filename, kept, found, is_sheet)
    if key is not None and (found is not None or not is_sheet):
        _verified.put(key, kept, found)


def _keep(check: PackageCheck, name: str, kept: bytes, found: SheetScan | None, is_sheet: bool) -> None:
    check.parts[name] = kept
    if is_sheet:
        check.sheets[name] = kept
        if found is not None:
            check.scans[name] = found


def _check_directory(infos: list[zipfile.ZipInfo], budget: int) -> None:
    """Refuse from the central directory alone what needs no inflating: too many members, duplicate names, a declared
    total over the budget or an impossible compression ratio, encrypted members."""
    if len(infos) > MAX_MEMBERS:
        raise _Refused("zip_bomb", f"{len(infos)} phần trong tệp nén")
    seen: set[str] = set()
    total = 0
    for info in infos:
        key = info.filename.casefold()
        if key in seen:  # readers disagree on which copy counts: never guess
            raise _Refused("zip_corrupt", f"phần “{info.filename}” xuất hiện hai lần")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise _Refused("encrypted", info.filename)
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _Refused("zip_bomb", f"phần “{info.filename}” nén {info.file_size // max(info.compress_size, 1)}:1")
    if total > budget:
        raise _Refused("zip_bomb", f"khai báo {mb(total)} sau giải nén, giới hạn {mb(budget)}")


def _raw(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The compressed bytes of a member, located through its local header."""
    start = info.header_offset
    head = data[start:start + _LOCAL_HEADER.size]
    if len(head) < _LOCAL_HEADER.size:
        raise _Refused("zip_corrupt", f"phần “{info.filename}” bị cắt ngang")
    magic, *_rest, name_len, extra_len = _LOCAL_HEADER.unpack(head)
    if magic != ZIP_MAGIC:
        raise _Refused("zip_corrupt", f"phần “{info.filename}” không có phần đầu hợp lệ")
    begin = start + _LOCAL_HEADER.size + name_len + extra_len
    raw = memoryview(data)[begin:begin + info.compress_size]
    if len(raw) < info.compress_size:
        raise _Refused("zip_corrupt", f"phần “{info.filename}” bị cắt ngang")
    return raw


def _inflate(data: bytes, info: zipfile.ZipInfo, check: PackageCheck, budget: int,
             keep: bytearray | None = None, cap: int | None = None) -> None:
    """Inflate one member in chunks, counting into ``check.inflated``. Refuse it when it inflates past its declared
    size or the budget left, fails its CRC, is cut short, or declares a DTD (XML parts). ``keep`` receives the inflated
    bytes of a part the reader needs (a worksheet: at most ``cap``, MAX_SHEET_XML)."""
    raw = _raw(data, info)
    limit = min(info.file_size, budget - check.inflated)
    xml = _XML_PART_RE.search(info.filename) is not None
    produced, crc, tail = 0, 0, b""

    def take(out: bytes) -> None:
        nonlocal produced, crc, tail
        produced += len(out)
        check.inflated += len(out)
        if produced > limit:
            if produced > info.file_size:
                raise _Refused("zip_bomb", f"phần “{info.filename}” giải nén ra nhiều hơn kích thước khai báo "
                                           f"({info.file_size} byte)")
            raise _Refused("zip_bomb", f"vượt giới hạn {mb(budget)} sau giải nén")
        crc = zlib.crc32(out, crc)  # zlib-ng's where installed (thidua.zlibs)
        if xml:
            # "<!" is rare in Office XML (no comments, no CDATA): a search for the one byte "!" first (memchr, where a
            # search for "<!" walks every "<"), then for "<!" and its UTF-16 form, then the marks; then the seam
            if (b"!" in out and (b"<!" in out or b"<\0!" in out) and _DTD_RE.search(out)) \
                    or _DTD_RE.search(tail + out[:_OVERLAP]):
                raise _Refused("xml_dtd", info.filename)
            tail = out[-_OVERLAP:] if len(out) >= _OVERLAP else (tail + out)[-_OVERLAP:]
        if keep is not None:
            if cap is not None and len(keep) + len(out) > cap:
                raise _Refused("sheet_too_big", f"phần “{info.filename}” lớn hơn {mb(MAX_SHEET_XML)}")
            keep.extend(out)

    if info.compress_type == zipfile.ZIP_STORED:
        for at in range(0, len(raw), CHUNK):
            take(bytes(raw[at:at + CHUNK]))
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        at = 0
        while not d.eof:
            if d.unconsumed_tail:
                chunk = d.unconsumed_tail
            elif at < len(raw):
                chunk, at = raw[at:at + CHUNK], at + CHUNK
            else:
                break
            take(d.decompress(chunk, CHUNK))
        if not d.eof:
            raise _Refused("zip_corrupt", f"phần “{info.filename}” bị cắt ngang")
    else:  # bzip2, LZMA, deflate64…: never written by Excel or LibreOffice
        raise _Refused("zip_corrupt", f"phần “{info.filename}” dùng kiểu nén {info.compress_type} không hỗ trợ")
    if produced != info.file_size:
        raise _Refused("zip_corrupt", f"phần “{info.filename}” ngắn hơn kích thước khai báo")
    if crc != info.CRC:
        raise _Refused("zip_corrupt", f"phần “{info.filename}” sai mã kiểm tra CRC")


_FORMULA_ELEMENT_RE = re.compile(rb"<(?:\w+:)?f(?=[\s/>])[^>]*?(?:/>|>[^<]*</(?:\w+:)?f\s*>)")


_SHEET_DATA_END_RE = re.compile(rb"</(?:\w+:)?sheetData\s*>")
_MERGE_CELLS_RE = re.compile(rb"<(?:\w+:)?mergeCells(?=[\s/>])[^>]*?(?:/>|>.*?</(?:\w+:)?mergeCells\s*>)", re.S)
_ROOT_END_RE = re.compile(rb"</(?:\w+:)?worksheet\s*>\s*\Z")


def reader_copy(xml: bytes | bytearray) -> tuple[bytes, list[tuple[int, int]] | None]:
    """What python-calamine needs of a worksheet to give its values and merged ranges, and where its formulas are.

    The copy is the part up to the end of its ``sheetData`` with every formula element (``<f>…</f>``, ``<f …/>``,
    any prefix) taken out, then its ``mergeCells``, then the root's end tag. A cell keeps its cached value (``<v>``),
    which is what python-calamine gives for a formula cell. The conditional formats, data validations, print settings
    and extensions after ``sheetData`` are never read. The formulas are the ``(start, end)`` offsets in ``xml`` of
    the elements taken out (a formula's text holds no ``<``: it would be ``&lt;``), for the reader to tell which cells
    hold one (``thidua.reader._formula_cells``) without a second scan.

    ``(the part as it is, None)`` when it cannot be cut that way for sure: ``sheetData`` named other than in exactly
    one start and one end tag, no root end tag at the end, or a CDATA section (where ``<f>`` could be text: Excel
    never writes one)."""
    data = xml
    if b"<![CDATA[" in data or data.count(b"sheetData") != 2:
        return bytes(data), None
    end = _SHEET_DATA_END_RE.match(data, data.rfind(b"<", 0, data.rfind(b"sheetData")))
    root = _ROOT_END_RE.match(data, max(data.rfind(b"</"), 0))
    if end is None or root is None:
        return bytes(data), None
    spans = [m.span() for m in _FORMULA_ELEMENT_RE.finditer(data, 0, end.start())]
    pieces, at = [], 0
    for start, stop in spans:
        pieces.append(data[at:start])
        at = stop
    pieces.append(data[at:end.end()])
    merged = _MERGE_CELLS_RE.search(data, end.end(), root.start())
    pieces += [merged.group(0) if merged else b"", root.group(0)]
    return b"".join(pieces), spans


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def sheet_extent(xml: bytes | bytearray) -> tuple[int, int, str]:
    """Rows and columns of the grid from A1 to the last cell holding a value or inline text, as a reader places the
    cells (a cell or row without ``r`` follows the previous one), and the reference of the farthest cell."""
    rows = cols = 0
    far = ""
    row = 0  # 1-based row of the current <row>
    col = 0  # 1-based column of the previous cell in the row
    for m in _ROW_OR_CELL_RE.finditer(xml):
        kind, attrs, closed = m.group(1), m.group(2), m.group(3)
        ref = _R_ATTR_RE.search(attrs)
        if kind == b"row":
            row = int(ref.group(2)) if ref and ref.group(2) else row + 1
            col = 0
            continue
        if ref and ref.group(1):
            col = _col_number(ref.group(1))
            if ref.group(2):
                row = int(ref.group(2))
        else:
            col += 1
        if closed:
            continue
        end = _CELL_END_RE.search(xml, m.end())
        if end is None or not _VALUE_RE.search(xml, m.end(), end.start()):
            continue
        if row > rows or col > cols:
            rows, cols = max(rows, row), max(cols, col)
            far = _ref(row, col)
    return rows, cols, far


def _ref(row: int, col: int) -> str:
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row}"


def _quick_extent(xml: bytes | bytearray) -> tuple[int, int] | None:
    """An upper bound of the grid when every cell carries its ``r`` (Excel, LibreOffice, openpyxl and XlsxWriter all
    write it), from one byte-level search: the last row and the farthest column of any cell, valued or not. None when
    the cells cannot be counted that way (a cell without ``r``, a namespace prefix): then :func:`sheet_extent`."""
    refs = _CELL_REF_RE.findall(xml)
    if len(refs) != len(_CELL_TAG_RE.findall(xml)):  # every "<c " and "<c>": one regex pass, not two byte counts
        return None
    last_row = max((int(row) for row in {row for _col, row in refs}), default=0)
    last_col = max((_col_number(col) for col in {col for col, _row in refs}), default=0)
    return last_row, last_col


def _check_extent(part: str, xml: bytearray) -> None:
    quick = _quick_extent(xml)
    if quick is not None and quick[0] * quick[1] <= MAX_SHEET_CELLS:
        return
    _bound_extent(part, *sheet_extent(xml))


def _bound_extent(part: str, rows: int, cols: int, far: str) -> None:
    if rows * cols > MAX_SHEET_CELLS:
        raise _Refused("sheet_too_big", f"phần “{part}” có dữ liệu tới ô {far} ({rows} dòng × {cols} cột)")


def read_xml(zf: zipfile.ZipFile, name: str, limit: int = 4 * 1024 * 1024) -> Element | None:
    """A small XML part parsed with defusedxml (no DTD, no entity, no external reference); None when the part is
    missing, too large or not well-formed."""
    try:
        info = zf.getinfo(name)
        if info.file_size > limit:
            return None
        return SafeET.fromstring(zf.read(name))
    except (KeyError, SafeET.ParseError, DefusedXmlException, zipfile.BadZipFile, ValueError, OSError):
        return None


def require_defusedxml() -> None:
    """Make sure openpyxl parses with defusedxml (it does when defusedxml is installed, unless the environment
    variable OPENPYXL_DEFUSEDXML turns it off): a unit's file is never parsed otherwise."""
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        from .errors import ThiDuaError

        raise ThiDuaError("openpyxl không dùng defusedxml (biến môi trường OPENPYXL_DEFUSEDXML?): chương trình "
                          "không mở tệp của đơn vị khi chưa bật chế độ đọc XML an toàn.")


def local_name(element: Element | Any) -> str:
    """An element's tag without its namespace."""
    tag = getattr(element, "tag", "")
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_UNCOMPRESSED_BYTES",
    "PackageCheck",
    "Problem",
    "inspect_package",
    "local_name",
    "mb",
    "parse_xml",
    "read_xml",
    "require_defusedxml",
]
