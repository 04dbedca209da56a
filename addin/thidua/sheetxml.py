"""A worksheet's cells read straight from the XML the package check inflated, for the layout every writer uses.

Why not python-calamine for every file: the package check already holds each worksheet inflated (and proved safe);
python-calamine needs them again as a zip, parses the whole part (our report sheet is 168 KB, 80% of it formula text
and conditional formats), and hands back a grid, after which the reader scans the XML again for the extent and the
formula cells. Measured on 300 benchmark forms, one process, best of three, ms per file: python-calamine reading the
report and stamp sheets into grids from the stored copy 0.63, plus 0.15 to cut the three sheets for it; a bare expat
parse of the report sheet alone, with no handler, 0.80 (so expat is no faster way); this module's scan of the report
sheet 0.68 when every row is new and 0.41 when the template's rows recur, as they do across a batch (:class:`_Rows`),
with the extent, the formula cells and the merged ranges found on the way.

The fast path is strict, not clever: :func:`scan` takes a worksheet only when its ``sheetData`` is, token after token,
exactly ``<row …>``, ``</row>`` and cells written the plain way (``r`` first, a value in ``<v>`` or an inline
``<is><t>``, an optional ``<f>``), with no prefix, no CDATA section, no comment and no character it does not know how
to read. Our form writer, openpyxl and LibreOffice write so (tested here); Excel's own files follow the same layout in
ECMA-376 Part 1 §18.3.1 (not checked here against Excel itself: there is none). :func:`grid` types the values only
when the shared strings, the number formats and the workbook's date system are as plain (a text with an ``_xHHHH_``
escape or a carriage return, a rich or phonetic shared string, an error or ISO-date value, a date format it cannot
classify for sure, a date serial with a time of day or before 1 March 1900, the 1904 date system: all give None).
Whatever it does not take, the caller
reads with python-calamine as before, so a file is never read differently, only faster; ``tests/test_sheetxml.py``
reads every fixture and hostile file both ways and compares them cell by cell.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

#: The tokens of ``sheetData``: a cell (groups: column letters, row digits, attributes after ``r``, the formula
#: element, the ``<v>`` text, the inline ``<t>``'s ``xml:space="preserve"``, its text), a row start tag (self-closing
#: or not), a row end tag; and, last, any other ``<`` (group 8). ``findall`` tries the tokens at every ``<`` that no
#: earlier token took, so any tag that is not one of them, or a cell written otherwise, is seen as group 8. Between
#: tokens only character data, which no reader takes from ``sheetData``, can go unseen. One ``findall`` builds the
#: tuples in C: walking the matches in Python to check that they follow each other costs 0.2 ms more on our report
#: sheet.
_TOKEN = re.compile(
    rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"((?: [\w:]+="[^"<>]*")*)\s*'
    rb'(?:/>|>(<f\b[^>]*?(?:/>|>[^<]*</f>))?'
    rb'(?:<v>([^<]*)</v>|<v/>|<is>(?:<t( xml:space="preserve")?>([^<]*)</t>|<t/>)</is>)?</c>)'
    rb'|<row\b(?:\s+[\w:]+="[^"<>]*")*\s*/?>'
    rb'|</row>'
    rb'|(<)'
)
_ATTR = re.compile(rb' ([\w:]+)="([^"<>]*)"')  # the attributes after r, as _TOKEN took them: one space before each
_MERGE_CELLS = re.compile(rb"<mergeCells\b[^>]*?(?:/>|>(.*?)</mergeCells>)", re.S)
_MERGE_CELL = re.compile(rb'\s*<mergeCell ref="([A-Z]{1,3}[1-9][0-9]{0,6}):([A-Z]{1,3}[1-9][0-9]{0,6})"\s*/>')
_ENCODING = re.compile(rb'^\s*<\?xml[^>]*\bencoding\s*=\s*["\']([^"\']*)["\']')
_NUMBER = re.compile(rb"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_ENTITY = re.compile(r"&(?:#([0-9]{1,7});|#x([0-9a-fA-F]{1,6});|(lt|gt|amp|quot|apos);)?")  # a bare "&": no group
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}

#: What the fast path scans at most, so that its memory stays small whatever a file holds: a row's XML (Excel's widest
#: row, 16,384 cells, is about 600 KB written plainly; our form's longest row is 3 KB) and the cells with a value in a
#: sheet (our form has about 250). A larger sheet is read by python-calamine, under the package check's bounds.
MAX_ROW_XML = 1024 * 1024
MAX_CELLS = 100_000
MAX_SHARED_XML = 4 * 1024 * 1024
#: Attribute lists longer than this are read without being kept in a cache; texts longer than MAX_TEXT_CACHED (the
#: form's legend, written with character references, is 1.6 KB) likewise. At most 512 texts are kept.
MAX_CACHED = 512
MAX_TEXT_CACHED = 8 * 1024

# Cell kinds, from the ``t`` attribute
NUMBER, SHARED, TEXT, BOOL, INLINE, VALUE = 0, 1, 2, 3, 4, 5  # VALUE: an inline text, read already (a str)
#: python-calamine trims these from both ends of a ``<t>`` text without ``xml:space="preserve"`` (after resolving
#: references: ``&#32;a&#10;`` gives "a"), not other spaces (no-break, ideographic): such a text with them at an end is
#: left to python-calamine rather than trimmed here by a rule guessed at.
_XML_SPACE = " \t\n\r"
_KINDS = {None: NUMBER, b"n": NUMBER, b"s": SHARED, b"str": TEXT, b"inlineStr": INLINE, b"b": BOOL}


class NotPlain(Exception):
    """The part holds something the fast path does not read: the caller reads it with python-calamine."""


@dataclass
class SheetScan:
    """A worksheet's cells as found: ``(row, column, kind, style, text)`` 0-based, text as in the XML (unescaped
    later), or read already for an inline string (kind VALUE: a str); cells with a value only; the extent of those
    cells; the formula cells (A1 ref -> has a cached value); the merged ranges in document order."""

    cells: list[tuple[int, int, int, int, Any]] = field(default_factory=list)
    rows: int = 0
    cols: int = 0
    far: str = ""
    formulas: dict[str, bool] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)


#: Column letters (one to three, as _TOKEN takes them: 18,278 at most) -> column number.
_COLS: dict[bytes, int] = {}


def _col(letters: bytes) -> int:
    """The column number of ``letters``, kept in :data:`_COLS`."""
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    _COLS[letters] = n
    return n


def _attrs(text: bytes) -> tuple[int, int]:
    """Kind and style of a cell from its attributes after ``r``, kept by the text when short (the same few strings
    recur in every file; the scan looks in :data:`_ATTRS` itself before calling this)."""
    found = _parse_attrs(text)
    if len(text) <= MAX_CACHED and len(_ATTRS) < 1024:
        _ATTRS[text] = found
    return found


def _parse_attrs(text: bytes) -> tuple[int, int]:
    pairs = _ATTR.findall(text)
    found = dict(pairs)
    if len(found) != len(pairs):
        raise NotPlain("attribute twice")
    kind = _KINDS.get(found.get(b"t"))
    if kind is None:  # an error (e), an ISO date (d) or anything else: python-calamine reads it
        raise NotPlain(f"t={found.get(b't')!r}")
    style = found.get(b"s", b"0")
    if not style.isdigit():
        raise NotPlain("s")
    # other attributes (cm, vm, ph, or a prefixed x:s, which is not s) change no value: only t and s are read
    return kind, int(style)


_ATTRS: dict[bytes, tuple[int, int]] = {b"": (NUMBER, 0)}  # attributes after r -> (kind, style), see _attrs


def scan(xml: bytes | bytearray) -> SheetScan | None:
    """The cells of a worksheet part, or None when it is not written in the plain layout (see the module's text)."""
    try:
        return _scan(xml)
    except NotPlain:
        return None


def _scan(xml: bytes | bytearray) -> SheetScan:
    head = _ENCODING.match(xml)
    if head is not None and head.group(1).upper() not in (b"UTF-8", b"UTF8"):
        raise NotPlain("encoding")
    # A CDATA section or a comment (where a tag could be text) begins with "<!": a one-byte search (memchr) first,
    # as "!" is rare in a worksheet (never in ours), then the two bytes
    if b"!" in xml and b"<!" in xml:
        raise NotPlain("CDATA or comment")
    start = xml.find(b"<sheetData")
    if start < 0:
        raise NotPlain("sheetData")
    open_end = xml.find(b">", start)
    if open_end < 0 or xml[start + 10] not in b" />":
        raise NotPlain("sheetData")
    out = SheetScan()
    if xml[open_end - 1] == 0x2F:  # <sheetData/>
        after = open_end + 1
        if xml.find(b"sheetData", after) >= 0:
            raise NotPlain("sheetData")
    else:
        # from the first start tag to the last end tag: another sheetData tag in between is a "<" no token takes
        end = xml.rfind(b"</sheetData>")
        if end < open_end:
            raise NotPlain("sheetData")
        _cells(xml, open_end + 1, end, out)
        after = end + 12
    _merged(xml, after, out)
    return out


@dataclass
class _Row:
    """What one row's XML holds (see :func:`_cells`): its cells with a value, its formula cells, and the cells that
    took its own extent further, in order."""

    cells: list[tuple[int, int, int, int, Any]]
    formulas: dict[str, bool]
    reach: list[tuple[int, int, bytes, bytes]]  # row, column, and the reference's letters and digits


class _Rows:
    """Rows already scanned, by their exact XML: a form's rows that no unit types into (titles, the legend, the
    table's heading, the section rows) are the same bytes in every file of a batch, about half of the report sheet.
    A row is kept once it has been seen twice (a row a unit typed into is seldom seen again: it is not kept), at most
    :data:`MAX_ENTRIES` rows and :data:`MAX_BYTES` of XML; when full it starts again empty (the template's rows are
    learnt back from the next two files)."""

    MAX_ENTRIES = 512
    MAX_BYTES = 512 * 1024  # our form's rows: 93 KB
    MAX_ROW = 16 * 1024  # a longer row is kept only in this sheet's scan
    MAX_SEEN = 16 * 1024

    def __init__(self) -> None:
        self.entries: dict[bytes, _Row] = {}
        self.size = 0
        self.seen: set[int] = set()  # hashes of the rows seen once

    def scan(self, piece: bytes) -> _Row:
        row = self.entries.get(piece)
        if row is None:
            row = _scan_row(piece)
            if len(piece) <= self.MAX_ROW:
                key = hash(piece)  # kept by the bytes object since the lookup above
                if key not in self.seen:
                    if len(self.seen) >= self.MAX_SEEN:
                        self.seen.clear()
                    self.seen.add(key)
                    return row
                if len(self.entries) >= self.MAX_ENTRIES or self.size + len(piece) > self.MAX_BYTES:
                    self.entries.clear()
                    self.size = 0
                self.entries[piece] = row
                self.size += len(piece)
        return row


_rows = _Rows()


def _cells(xml: bytes | bytearray, pos: int, end: int, out: SheetScan) -> None:
    """The cells of ``sheetData`` (from ``pos`` to ``end``), row by row: the region is cut at each ``</row>`` and
    each piece scanned by :data:`_TOKEN` (or found among the rows already scanned). Cutting cannot hide a tag: a
    ``</row>`` inside a token would leave an attribute or a text open, whose ``<`` no token then takes."""
    cells, formulas = out.cells, out.formulas
    rows = cols = 0
    far: tuple[bytes, bytes] | None = None
    for piece in bytes(xml[pos:end]).split(b"</row>"):
        if len(piece) > MAX_ROW_XML:
            raise NotPlain("a row too long")
        row = _rows.scan(piece)
        if row.cells:
            cells += row.cells
            if len(cells) > MAX_CELLS:
                raise NotPlain("too many cells")
        if row.formulas:
            formulas.update(row.formulas)
            if len(formulas) > MAX_CELLS:
                raise NotPlain("too many formulas")
        for r, c, letters, digits in row.reach:  # as thidua.package.sheet_extent: the last cell that took the grid
            if r > rows or c > cols:  # further
                if r > rows:
                    rows = r
                if c > cols:
                    cols = c
                far = (letters, digits)
    out.rows, out.cols = rows, cols
    if far is not None:
        out.far = (far[0] + far[1]).decode()


def _scan_row(piece: bytes) -> _Row:
    cells: list[tuple[int, int, int, int, Any]] = []
    formulas: dict[str, bool] = {}
    reach: list[tuple[int, int, bytes, bytes]] = []
    rows = cols = 0
    known, texts = _ATTRS, _INLINE
    for letters, digits, attrs, formula, value, preserve, inline, other in _TOKEN.findall(piece):
        if not value and not inline:  # a row tag, a cell with no value (or an empty one: "" as for a blank cell)
            if formula:
                formulas[(letters + digits).decode()] = False
            elif other:
                raise NotPlain("a tag other than a row or a plain cell")
            continue
        if formula:
            formulas[(letters + digits).decode()] = bool(value)
        kind, style = known.get(attrs) or _attrs(attrs)
        if value:
            if kind == INLINE:  # an inline string's text is in <is>, not in <v>
                raise NotPlain("inlineStr with <v>")
            text = value
        else:
            if kind != INLINE:  # <is> in a cell of another type
                raise NotPlain("<is> without inlineStr")
            kind = VALUE
            text = texts.get((inline, preserve)) or _inline(inline, preserve)
        row, col = int(digits), _COLS.get(letters) or _col(letters)
        cells.append((row - 1, col - 1, kind, style, text))
        if row > rows or col > cols:
            if row > rows:
                rows = row
            if col > cols:
                cols = col
            reach.append((row, col, letters, digits))  # its reference made only if it is the farthest (_cells)
    return _Row(cells, formulas, reach)


def _inline(raw: bytes, preserve: bytes) -> str:
    """An inline string's text as python-calamine gives it; NotPlain for a text without ``xml:space="preserve"``
    that python-calamine would trim (an XML space at an end). Kept in :data:`_INLINE` when short (a row a unit typed
    into still has the form's code, label and unit), at most MAX_CACHED of them."""
    value = text(raw)
    if not preserve and value and (value[0] in _XML_SPACE or value[-1] in _XML_SPACE):
        raise NotPlain("a text python-calamine trims")
    if value and len(raw) <= MAX_TEXT_CACHED:
        if len(_INLINE) >= MAX_CACHED:
            _INLINE.clear()
        _INLINE[(raw, preserve)] = value
    return value


_INLINE: dict[tuple[bytes, bytes], str] = {}  # (inline text as in the XML, its preserve attribute) -> its text


def _merged(xml: bytes | bytearray, pos: int, out: SheetScan) -> None:
    """The ``mergeCells`` after ``sheetData``: every ``mergeCell`` of the part must be in it, plainly written."""
    m = _MERGE_CELLS.search(xml, pos)
    if m is None:
        if xml.find(b"mergeCell", pos) >= 0:
            raise NotPlain("mergeCells")
        return
    body = m.group(1) or b""
    at = 0
    for cell in _MERGE_CELL.finditer(body):
        if cell.start() != at:
            raise NotPlain("mergeCell")
        at = cell.end()
        out.merged.append(f"{cell.group(1).decode()}:{cell.group(2).decode()}")
        if len(out.merged) > MAX_CELLS:
            raise NotPlain("too many merged ranges")
    if body[at:].strip() or xml.find(b"mergeCell", m.end()) >= 0 or xml.find(b"mergeCell", pos, m.start()) >= 0:
        raise NotPlain("mergeCell")


# ----------------------------------------------------------------------------------------------------------------------
# Values


def text(raw: bytes) -> str:
    """:func:`_text`, kept by the bytes when short (the form's own labels recur in every file of a batch)."""
    return _text_cached(raw) if len(raw) <= MAX_TEXT_CACHED else _text(raw)


def _text(raw: bytes) -> str:
    """XML character data as a string: the five named entities and character references; an escape of the OOXML
    kind (``_x000D_``), a carriage return (XML would normalise it), an unknown entity or bad UTF-8 is not plain."""
    if b"_x" in raw or b"\r" in raw:
        raise NotPlain("escape")
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotPlain("utf-8") from exc
    if "&" not in s:
        return s
    return _ENTITY.sub(_entity, s)


_text_cached = functools.lru_cache(maxsize=512)(_text)


def _entity(m: re.Match[str]) -> str:
    dec, hexa, name = m.groups()
    if name is not None:
        return _NAMED[name]
    if dec is None and hexa is None:
        raise NotPlain("entity")
    code = int(dec) if dec is not None else int(hexa, 16)
    if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF:
        if code == 0xD:
            raise NotPlain("carriage return")
        return chr(code)
    raise NotPlain("character reference")


_SI = re.compile(rb"<si>(?:<t( xml:space=\"preserve\")?>([^<]*)</t>|<t/>)</si>|<si/>")


def shared_strings(xml: bytes | bytearray | None) -> list[str] | None:
    """The shared strings of a workbook, when every one is a plain ``<si><t>…</t></si>`` (rich text runs and phonetic
    guides are left to python-calamine); [] when there is no such part; None otherwise, and for a part larger than
    MAX_SHARED_XML (a form's strings are some 20 KB: a larger table is not held as Python strings)."""
    if xml is None:
        return []
    if len(xml) > MAX_SHARED_XML:
        return None
    try:
        start = xml.find(b"<si")
        if start < 0:
            return [] if b"<sst" in xml and b"<x:" not in xml else None
        end = xml.rfind(b"</sst>")
        if end < start:
            return None
        out, pos = [], start
        for m in _SI.finditer(xml, start, end):
            if m.start() != pos:
                return None
            pos = m.end()
            preserve, raw = m.group(1, 2)
            value = text(raw) if raw else ""
            if not preserve and value and (value[0] in _XML_SPACE or value[-1] in _XML_SPACE):
                return None  # python-calamine trims it
            out.append(value)
        return out if not xml[pos:end].strip() else None
    except NotPlain:
        return None


# ----------------------------------------------------------------------------------------------------------------------
# Number formats: which cell styles show a date


#: Built-in number formats (ECMA-376 Part 1, 18.8.30 numFmt): plain numbers, and dates or times. Every other built-in
#: id (durations 45–47, the locale-dependent 27–36 and 50–81) is left to python-calamine.
_BUILTIN_NUMBER = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 37, 38, 39, 40, 41, 42, 43, 44, 48, 49})
_BUILTIN_DATE = frozenset(range(14, 23))
_QUOTED = re.compile(r'"[^"]*"|\\.|_.')
_BRACKET = re.compile(r"\[([^\]\[]*)\]")
_ELAPSED = re.compile(r"h+|m+|s+", re.IGNORECASE)


def format_kind(code: str) -> bool:
    """True for a custom number format that shows a date or time, False for a plain number format, by the rule
    python-calamine applies: only the first section counts (what a positive number shows); quoted text, an escaped
    character (backslash) and a padding character (``_``) are no part of it, nor is a bracket (a colour, a locale
    such as ``[$-42A]``, a condition); a day, month, year, hour or second letter makes it a date. NotPlain for what
    the fast path does not classify for sure: an elapsed-time bracket (``[h]``: python-calamine gives a duration), an
    AM/PM marker, a quote that is not closed or holds an escape, a bracket that is not closed."""
    if '"' in code and ("\\" in code or "_" in code):
        raise NotPlain(f"format {code!r}")
    bare = _QUOTED.sub("", code)
    if '"' in bare:
        raise NotPlain(f"format {code!r}")
    first = bare.split(";", 1)[0]
    for m in _BRACKET.finditer(first):
        if _ELAPSED.fullmatch(m.group(1)):
            raise NotPlain(f"format {code!r}")
    first = _BRACKET.sub("", first)
    if "[" in first or "]" in first:
        raise NotPlain(f"format {code!r}")
    if first.strip().casefold() == "general":
        return False
    if "a" in first.lower():
        raise NotPlain(f"format {code!r}")
    return any(ch in "dmyhsDMYHS" for ch in first)


@dataclass(frozen=True)
class Styles:
    dates: frozenset[int]  # cell styles (cellXfs index) whose number format shows a date or time
    count: int  # cellXfs entries


def styles(xml: bytes | None) -> Styles | None:
    """Which cell styles of a workbook show dates, from styles.xml parsed with defusedxml; kept by the part's bytes
    when it is not large (the forms of a batch mostly share one). None when a style could not be classified."""
    return _styles_cached(xml) if xml is None or len(xml) <= 256 * 1024 else _styles(xml)


def number_formats(xml: bytes) -> tuple[dict[int, str], tuple[int, ...]] | None:
    """From styles.xml (parsed with defusedxml): the custom number formats by id (ECMA-376 Part 1 §18.8.31 numFmts)
    and each cell style's number format id, in order (§18.8.10 cellXfs; 0 where it has none); None when the part is
    not well-formed. Kept by the part's bytes when it is not large: the forms of a batch mostly share one."""
    return _number_formats_cached(xml) if len(xml) <= 256 * 1024 else _number_formats(xml)


def _number_formats(xml: bytes) -> tuple[dict[int, str], tuple[int, ...]] | None:
    from .package import local_name, parse_xml

    root = parse_xml(xml)
    if root is None:
        return None
    codes: dict[int, str] = {}
    xfs: tuple[int, ...] = ()
    for el in root.iter():
        name = local_name(el)
        if name == "numFmt":
            key = el.get("numFmtId") or ""
            if key.isdigit():
                codes[int(key)] = el.get("formatCode") or ""
        elif name == "cellXfs":
            xfs = tuple(int(fmt) if fmt and fmt.isdigit() else 0
                        for fmt in (x.get("numFmtId") for x in el if local_name(x) == "xf"))
    return codes, xfs


_number_formats_cached = functools.lru_cache(maxsize=8)(_number_formats)


def _styles(xml: bytes | None) -> Styles | None:
    if xml is None:
        return Styles(frozenset(), 0)
    found = number_formats(xml)
    if found is None:
        return None
    codes, xfs = found
    dates = set()
    for i, fid in enumerate(xfs):
        try:
            if fid in codes:
                is_date = format_kind(codes[fid])
            elif fid in _BUILTIN_DATE:
                is_date = True
            elif fid in _BUILTIN_NUMBER:
                is_date = False
            else:
                return None
        except NotPlain:
            return None
        if is_date:
            dates.add(i)
    return Styles(frozenset(dates), len(xfs))


_styles_cached = functools.lru_cache(maxsize=8)(_styles)

_EPOCH = dt.datetime(1899, 12, 30)
_MAX_SERIAL = 2958466  # 1 January 10000


def _date(serial: float) -> dt.date:
    """A whole date serial of the 1900 system as python-calamine gives it, a date. Only from 61 (1 March 1900) on,
    where the 1900 leap-year bug no longer shifts the count, up to the year 9999; a serial with a time of day (python-
    calamine gives a date and time, rounded its own way) or outside that range is not plain."""
    if not serial.is_integer() or not 61 <= serial < _MAX_SERIAL:
        raise NotPlain("date serial")
    return (_EPOCH + dt.timedelta(days=int(serial))).date()


def grid(found: SheetScan, strings: list[str] | None, style: Styles | None) -> list[list[Any]] | None:
    """The sheet as python-calamine's ``to_python(skip_empty_area=False)`` gives it (rows from A1 to the last cell with
    a value, "" for an empty cell), or None when a value is not plain."""
    if style is None:
        return None
    rows: list[list[Any]] = [[""] * found.cols for _ in range(found.rows)]
    dates, nstyles = style.dates, style.count
    try:
        for r, c, kind, s, raw in found.cells:
            if kind == VALUE:  # most cells: read once for a row kept by _Rows (the form's labels, codes, units)
                value = raw
            elif kind == NUMBER:
                if not raw.isdigit() and _NUMBER.fullmatch(raw) is None:  # ASCII digits: a number (most figures)
                    raise NotPlain("number")
                value: Any = float(raw)
                if s and s >= nstyles:
                    raise NotPlain("style")
                if s in dates:
                    value = _date(value)
            elif kind == TEXT:
                value = text(raw)
            elif kind == SHARED:
                if strings is None or not raw.isdigit() or int(raw) >= len(strings):
                    raise NotPlain("shared string")
                value = strings[int(raw)]
            else:  # BOOL
                if raw not in (b"0", b"1"):
                    raise NotPlain("boolean")
                value = raw == b"1"
            rows[r][c] = value
    except NotPlain:
        return None
    return rows


__all__ = ["SheetScan", "format_kind", "grid", "scan", "shared_strings", "styles", "text"]
