"""Read a returned unit file into a typed :class:`Submission`.

The reader never runs anything in the file (no macros, no external links, no recalculation): it reads cell values with
python-calamine and looks at the raw sheet XML only to tell which input cells hold a formula. It never raises for a bad
file: whatever it cannot read becomes a :class:`ReadProblem` that the validator turns into a finding.

Cells are located from the form's own structure: the table's columns from their headings, each row from its code in
column A, and the result is compared with the layout recorded in the form's stamp.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_calamine

from . import sheetxml
from .atomic import is_temp_name
from .catalogue import CODE_RE, Catalogue, default_catalogue
from .domain import canonical_choice, is_percent_format, parse_date_text
from .guards import display_name
from .layout import (
    COLUMNS,
    FILE_PREFIX,
    HEADER,
    HEADER_LABEL_COL,
    SHEET_REPORT,
    SHEET_STAMP,
    STAMP_KEYS,
    a1,
    stamp_checksum,
)
from .package import MAX_FILE_BYTES, PackageCheck, inspect_package, local_name, parse_xml
from .typed import encode_value

NAME_RE = re.compile(rf"^{FILE_PREFIX}_(\d{{4}}-\d{{2}})_([A-Z][A-Z0-9_]*)", re.IGNORECASE)


#: Files a batch leaves out without a word: macOS metadata (``.DS_Store``, ``._name``), LibreOffice's lock files
#: (``.~lock.name#``), Windows' ``Thumbs.db``/``desktop.ini``, and other hidden files that are not workbooks. A hidden
#: file named like a workbook (``..xlsx``, ``.\\..\\x.xlsx``) is read: it may be a unit's file with an odd name.
SYSTEM_FILE_RE = re.compile(r"^(\._|\.~lock\.|\.ds_store$|thumbs\.db$|desktop\.ini$)", re.IGNORECASE)
WORKBOOK_SUFFIX_RE = re.compile(r"\.(xlsx|xlsm|xltx|xltm|xls|xlsb|ods)$", re.IGNORECASE)


def is_system_file(name: str) -> bool:
    """True for a file a batch leaves out without a finding (see SYSTEM_FILE_RE), and for a temporary file of an
    interrupted atomic write (:func:`thidua.atomic.is_temp_name`)."""
    if name.startswith("."):
        return not WORKBOOK_SUFFIX_RE.search(name) or bool(SYSTEM_FILE_RE.match(name)) or is_temp_name(name)
    return bool(SYSTEM_FILE_RE.match(name))


def nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _norm_label(text: Any) -> str:
    """A label as compared: NFC, single spaces, no trailing colon, case-folded. The same labels recur in every file:
    short texts are normalised once (a cache kept small whatever a file holds)."""
    if text is None:
        return ""
    text = text if type(text) is str else str(text)
    return _norm_short(text) if len(text) <= MAX_LABEL_CACHED else _norm_text(text)


def _norm_text(text: str) -> str:
    return " ".join(nfc(text).split()).rstrip(":").strip().casefold()


MAX_LABEL_CACHED = 200
_norm_short = functools.lru_cache(maxsize=2048)(_norm_text)


#: ``a1`` for the cells the reader looks at, which are the same in every file.
_a1 = functools.lru_cache(maxsize=8192)(a1)


@dataclass
class ReadProblem:
    """Something the reader could not read or did not find where the form puts it."""

    code: str
    detail: str = ""
    sheet: str | None = None
    cell: str | None = None
    indicator: str | None = None
    count: int = 1  # rows moved together (row_moved)


@dataclass
class Cell:
    """One input cell: its A1 address, the typed value (None when empty or not of the expected type), the raw text as
    found, and ``issue``, a code saying why a non-empty value could not be typed."""

    cell: str
    value: Any = None
    raw: str = ""
    issue: str | None = None
    formula: bool = False

    @property
    def empty(self) -> bool:
        return self.raw == "" and not self.formula

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Results come back from the validator's worker processes pickled, ~130 cells a file: as a tuple each, they
        # pickle and unpickle in half the time of the default (a class reference and an attribute dict per cell)
        return _cell, (self.cell, self.value, self.raw, self.issue, self.formula)


def _cell(ref: str, value: Any, raw: str, issue: str | None, formula: bool) -> Cell:
    cell = object.__new__(Cell)
    cell.cell, cell.value, cell.raw, cell.issue, cell.formula = ref, value, raw, issue, formula
    return cell


@dataclass
class IndicatorEntry:
    code: str
    row: int
    label: str
    month: Cell | None = None
    ytd: Cell | None = None
    note: Cell | None = None

    def column(self, key: str) -> Cell | None:
        return getattr(self, key)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _indicator_entry, (self.code, self.row, self.label, self.month, self.ytd, self.note)


def _indicator_entry(code: str, row: int, label: str, month: Cell | None, ytd: Cell | None,
                     note: Cell | None) -> IndicatorEntry:
    entry = object.__new__(IndicatorEntry)
    entry.code, entry.row, entry.label, entry.month, entry.ytd, entry.note = code, row, label, month, ytd, note
    return entry


@dataclass
class TargetEntry:
    number: int
    row: int
    assessment: Cell
    explanation: Cell


@dataclass
class Submission:
    path: Path
    file_name: str
    size: int = 0
    sha256: str = ""
    mtime: float = 0.0
    macro_enabled: bool = False
    sheet: str | None = None
    stamp: dict[str, str] | None = None
    stamp_ok: bool = False
    name_period: str | None = None
    name_unit: str | None = None
    header: dict[str, Cell] = field(default_factory=dict)
    indicators: dict[str, IndicatorEntry] = field(default_factory=dict)
    targets: dict[int, TargetEntry] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    problems: list[ReadProblem] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """True when the file could be opened and holds our report sheet."""
        return self.sheet is not None

    @property
    def unit_code(self) -> str | None:
        if self.stamp_ok and self.stamp:
            return self.stamp.get("unit_code")
        cell = self.header.get("unit_code")
        return str(cell.value) if cell and cell.value else self.name_unit

    @property
    def period(self) -> str | None:
        if self.stamp_ok and self.stamp:
            return self.stamp.get("period")
        cell = self.header.get("period")
        return _period_from_header(cell.raw) if cell else self.name_period

    def values(self) -> dict[tuple[str, str], Any]:
        """Typed values by (indicator code, column key) for every cell that could be typed."""
        out = {}
        for code, entry in self.indicators.items():
            for key in ("month", "ytd"):
                c = entry.column(key)
                if c is not None and c.value is not None:
                    out[(code, key)] = c.value
        return out

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A validator's process sends every result back pickled: a thousand files, 180,000 cells and entries. They
        # travel as the rows the ledger stores (stored_rows) and a few references into them (_pack), not as objects:
        # 0.1 ms a file less to pickle, unpickle and turn into rows (benchmarks/consolidate.py). The entries are made
        # again only if asked for (__getattr__); the ledger takes the rows as they came.
        rows, indicators, targets = _pack(self)
        return _unpacked, (self.path, self.file_name, self.size, self.sha256, self.mtime, self.macro_enabled,
                           self.sheet, self.stamp, self.stamp_ok, self.name_period, self.name_unit, self.header,
                           self.merged, self.problems, rows, indicators, targets)

    def __getattr__(self, name: str) -> Any:
        # Only for a submission unpickled by _unpacked, whose entries are made on first use: every other attribute
        # of a Submission is set by its __init__, and these two are in its __dict__ from then on
        if name in ("indicators", "targets"):
            packed = self.__dict__.pop("_packed", None)
            if packed is not None:
                self.__dict__.pop("_rows", None)  # the entries may now change: the rows are made from them again
                self.indicators, self.targets = _entries(*packed)
                return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


#: A stored cell: indicator code (or "T" and a target's number), column key, value as text and its type
#: (:func:`thidua.typed.encode_value`), raw text, A1 cell. The ledger stores them so (``file_values``, with the file
#: id before and the unit and period after: :data:`thidua.ledger.VALUES_INSERT`).
StoredRow = tuple[str, str, str | None, str | None, str, str]


def stored_rows(sub: Submission) -> list[StoredRow]:
    """The cells of ``sub`` the ledger stores: each indicator's month, year-to-date and (when not empty) note cell,
    each target's assessment and explanation, in that order; as they came from a validator's process when they did."""
    rows = sub.__dict__.get("_rows")
    return rows if rows is not None else _pack(sub)[0]


_Spec = Any  # how _pack carries a cell: None (none), an index into the stored rows (the cell they describe), its A1
#               reference alone (an empty cell that is not stored: an empty note), or its fields


def _pack(sub: Submission) -> tuple[list[StoredRow], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The stored rows of ``sub``, and its entries with each cell as a :data:`_Spec`. A cell is carried by its row
    when that describes it whole: no issue, no formula, and a value that is None, a whole number or a text (these
    decode exactly from the row)."""
    rows: list[StoredRow] = []
    indicators = [(code, entry.row, entry.label, _spec(rows, code, "month", entry.month),
                   _spec(rows, code, "ytd", entry.ytd), _spec(rows, code, "note", entry.note))
                  for code, entry in sub.indicators.items()]
    targets = [(number, target.row, _spec(rows, f"T{number}", "assessment", target.assessment),
                _spec(rows, f"T{number}", "explanation", target.explanation))
               for number, target in sub.targets.items()]
    return rows, indicators, targets


def _spec(rows: list[StoredRow], code: str, column: str, cell: Cell | None) -> _Spec:
    """Add the stored row of ``cell`` to ``rows`` (none for a missing cell or an empty note); its :data:`_Spec`."""
    if cell is None:
        return None
    value, raw = cell.value, cell.raw
    if raw == "" and column == "note" and not cell.formula:  # an empty note is not stored (Cell.empty)
        return cell.cell if value is None and cell.issue is None else (cell.cell, value, raw, cell.issue, False)
    text, kind = encode_value(value)
    rows.append((code, column, text, kind, raw or "", cell.cell))
    if cell.issue is None and not cell.formula and type(raw) is str and type(value) in _WHOLE:
        return len(rows) - 1
    return (cell.cell, value, raw, cell.issue, cell.formula)


_WHOLE = frozenset({type(None), int, str})  # exactly these: not a bool, nor a subclass of int or str


def _cell_of(rows: list[StoredRow], spec: _Spec) -> Cell | None:
    if spec is None:
        return None
    if type(spec) is tuple:
        return _cell(*spec)
    if type(spec) is str:
        return _cell(spec, None, "", None, False)
    _code, _column, text, kind, raw, ref = rows[spec]
    return _cell(ref, int(text) if kind == "int" else text, raw, None, False)  # text is None when the cell is empty


def _entries(rows: list[StoredRow], indicators: list[tuple[Any, ...]], targets: list[tuple[Any, ...]]
             ) -> tuple[dict[str, IndicatorEntry], dict[int, TargetEntry]]:
    """The entries :func:`_pack` carried."""
    return ({code: _indicator_entry(code, row, label, _cell_of(rows, month), _cell_of(rows, ytd), _cell_of(rows, note))
             for code, row, label, month, ytd, note in indicators},
            {number: TargetEntry(number, row, _cell_of(rows, assessment), _cell_of(rows, explanation))
             for number, row, assessment, explanation in targets})


def _unpacked(path: Path, file_name: str, size: int, sha256: str, mtime: float, macro_enabled: bool, sheet: str | None,
              stamp: dict[str, str] | None, stamp_ok: bool, name_period: str | None, name_unit: str | None,
              header: dict[str, Cell], merged: list[str], problems: list[ReadProblem], rows: list[StoredRow],
              indicators: list[tuple[Any, ...]], targets: list[tuple[Any, ...]]) -> Submission:
    """A submission as :meth:`Submission.__reduce__` carried it: its entries made on first use."""
    sub = object.__new__(Submission)
    sub.__dict__.update(path=path, file_name=file_name, size=size, sha256=sha256, mtime=mtime,
                        macro_enabled=macro_enabled, sheet=sheet, stamp=stamp, stamp_ok=stamp_ok,
                        name_period=name_period, name_unit=name_unit, header=header, merged=merged, problems=problems,
                        _rows=rows, _packed=(rows, indicators, targets))
    return sub


def _period_from_header(text: str) -> str | None:
    m = re.match(r"^\s*(\d{1,2})\s*/\s*(\d{4})\s*$", text or "")
    if m and 1 <= int(m.group(1)) <= 12:
        return f"{m.group(2)}-{int(m.group(1)):02d}"
    m = re.match(r"^\s*(\d{4})-(\d{2})\s*$", text or "")
    return f"{m.group(1)}-{m.group(2)}" if m else None


# ----------------------------------------------------------------------------------------------------------------------
# Typing of cell values


def _raw_text(value: Any) -> str:
    kind = type(value)
    if kind is str:  # most values: the same as nfc(str(value)) below
        return unicodedata.normalize("NFC", value)
    if kind is int:  # the figures: digits are NFC
        return str(value)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S") if value.time() != dt.time() else value.strftime("%d/%m/%Y")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return nfc(str(value))


def type_value(kind: str, value: Any) -> tuple[Any, str | None]:
    """Type a raw cell value for an indicator kind: ``(typed value or None, issue code or None)``."""
    if value is None or (isinstance(value, str) and value == ""):
        return None, None
    if kind == "count":
        if isinstance(value, bool):
            return None, "not_number"
        if isinstance(value, int):
            return value, None
        if isinstance(value, float):
            return (int(value), None) if value.is_integer() else (None, "not_integer")
        if isinstance(value, str):
            return None, "text_in_number"
        return None, "not_number"
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date(), None
        if isinstance(value, dt.date):
            return value, None
        if isinstance(value, str):
            return parse_date_text(value)
        return None, "not_date"
    if kind in ("yesno", "choice"):
        if isinstance(value, str):
            text = nfc(value).strip()
            return (text, None) if text else (None, None)
        return None, "not_in_list"
    # text
    text = nfc(_raw_text(value))
    return (text, None) if text.strip() else (None, None)


# ----------------------------------------------------------------------------------------------------------------------
# File-level checks before calamine sees the file

_FORMULA_RE = re.compile(rb"<(?:\w+:)?f[\s>/]")
_F_NAME_RE = re.compile(rb"f[\s>/]")
_PREFIX_RE = re.compile(rb"<\w+:")
_TAG_RE = re.compile(rb"<(/?)(?:\w+:)?(\w+)")
_CELL_START_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/?)>")
_CELL_END_RE = re.compile(rb"</(?:\w+:)?c>")
_CACHED_RE = re.compile(rb"<(?:\w+:)?v>[^<]")
_REF_RE = re.compile(rb'\br="([A-Z]{1,3}[0-9]{1,7})"')
_PLAIN_CELL_RE = re.compile(rb'<c [^<>]*?\br="([A-Z]{1,3}[0-9]{1,7})"[^<>/]*>')


def _formula_tags(xml: bytes | bytearray) -> Iterator[tuple[int, int]]:
    """Start and end of every match of ``_FORMULA_RE``, in order, as ``finditer`` finds them, but twice as fast: ``f``
    followed by a space, ``>`` or ``/`` is searched for (rare: ``f`` seldom ends a word), not every ``<``, then the
    ``<`` or ``<prefix:`` before it is checked. A prefix's ``<`` lies after the previous candidate (a prefix is word
    characters only), so the look-back never goes further and the search stays linear."""
    floor = 0
    for m in _F_NAME_RE.finditer(xml):
        at = m.start()
        if at and xml[at - 1] == 0x3C:  # "<f"
            yield at - 1, m.end()
        elif at and xml[at - 1] == 0x3A:  # ":f": a prefix "<x:" before it?
            lt = xml.rfind(b"<", floor, at)
            if lt >= 0 and _PREFIX_RE.fullmatch(xml, lt, at):
                yield lt, m.end()
        floor = at + 2


def _formula_cells(xml: bytes, tags: Iterable[tuple[int, int]] | None = None) -> dict[str, bool]:
    """A1 ref -> whether a cached value is present, for every cell that holds a formula; ``tags``: the formula
    elements' offsets when the package check found them (:func:`thidua.package.reader_copy`), else they are searched.

    A scan of the raw XML with regular expressions: no DTD, no entity is ever expanded, nothing is evaluated. The
    cost is per formula, not per cell: each ``<f>`` (``<x:f>`` with a namespace prefix, or a self-closing ``<f/>`` of
    a shared formula) is found, then its cell's start tag by looking back over the tags before it. A cell's content
    runs from its start tag to the first ``</c>``, so the look-back stops at any ``c`` tag: a start tag is the cell
    (unless self-closing), an end tag means the ``<f>`` is in no cell. It never looks back past the previous
    ``<f>``: a cell starting before that one would have been found from it, which keeps the scan linear.
    """
    found: dict[str, bool] = {}
    floor = 0  # where the previous <f> was: no look-back goes further
    done = 0  # the end of the last formula cell found: any <f> before it belongs to that cell
    for at, tag_end in _formula_tags(xml) if tags is None else tags:
        lower, floor = floor, at
        if at < done:
            continue
        if tags is not None:  # the whole <f> element: first the layout every writer uses, in four cheap steps
            lt = xml.rfind(b"<c ", lower, at)  # <c r="H13" s="5" t="str"><f>…</f>, then <v>…</v></c> or no value
            cell = _PLAIN_CELL_RE.fullmatch(xml, lt, at) if lt >= 0 else None
            if cell is not None:
                for empty in (b"</c>", b"<v></v></c>", b"<v/></c>"):  # no cached value (XlsxWriter: <v></v>)
                    if xml.startswith(empty, tag_end):
                        found[cell.group(1).decode()] = False
                        done = tag_end + len(empty)
                        break
                if at < done:
                    continue
                if xml.startswith(b"<v>", tag_end) and not xml.startswith(b"<v></v>", tag_end):
                    end = xml.find(b"</v></c>", tag_end)
                    if end >= 0 and xml.find(b"<", tag_end + 3, end) < 0:
                        found[cell.group(1).decode()] = True
                        done = end + 8
                        continue
        start = None
        back = at
        while True:
            lt = xml.rfind(b"<", lower, back)
            if lt < 0:
                break
            back = lt
            tag = _TAG_RE.match(xml, lt)
            if tag is not None and tag.group(2) == b"c":
                if not tag.group(1):
                    start = _CELL_START_RE.match(xml, lt)
                break
        if start is None or start.group(2) == b"/":
            continue
        end = _CELL_END_RE.search(xml, tag_end)
        if end is None:
            break
        done = end.end()
        ref = _REF_RE.search(start.group(1))
        if ref:
            found[ref.group(1).decode()] = _CACHED_RE.search(xml, start.end(), end.start()) is not None
    return found


def _sheet_part(check: PackageCheck, sheet_name: str) -> str | None:
    """The zip member holding ``sheet_name``, from workbook.xml and its relationships (parsed with defusedxml from the
    bytes the package check inflated). Every form of a batch has the same two parts: the answer is kept by their
    bytes (a pure function of them), so they are parsed once per batch rather than once per file."""
    wb, rels = check.parts.get("xl/workbook.xml"), check.parts.get("xl/_rels/workbook.xml.rels")
    if wb is None or rels is None or len(wb) > MAX_CACHED_PART or len(rels) > MAX_CACHED_PART:
        return _sheet_part_of(check.xml("xl/workbook.xml"), check.xml("xl/_rels/workbook.xml.rels"), sheet_name)
    return _sheet_part_cached(bytes(wb), bytes(rels), sheet_name)


MAX_CACHED_PART = 64 * 1024


@functools.lru_cache(maxsize=32)
def _sheet_part_cached(wb: bytes, rels: bytes, sheet_name: str) -> str | None:
    return _sheet_part_of(parse_xml(wb), parse_xml(rels), sheet_name)


def _sheet_part_of(wb: Any, rels: Any, sheet_name: str) -> str | None:
    if wb is None or rels is None:
        return None
    return next((part or None for name, part in _sheet_list(wb, rels) if name == sheet_name), None)


def _sheet_list(wb: Any, rels: Any) -> Iterator[tuple[str, str]]:
    """Each sheet of workbook.xml in order: its NFC name and its part through the relationships ("" when none)."""
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter() if local_name(r) == "Relationship"}
    for sheet in wb.iter():
        if local_name(sheet) != "sheet":
            continue
        rid = next((v for k, v in sheet.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
        target = (targets.get(rid) or "").lstrip("/")
        yield nfc(sheet.get("name") or ""), (target if not target or target.startswith("xl/") else f"xl/{target}")


def _precheck(sub: Submission, data: bytes) -> PackageCheck | None:
    """Classify the file from its bytes (see :mod:`thidua.package`); the check (with an open ZipFile when it is an
    OOXML workbook proved safe to read), or None for an Excel owner file."""
    if sub.file_name.startswith("~$"):
        sub.problems.append(ReadProblem("owner_file", "tệp khóa tạm của Excel"))
        return None
    check = inspect_package(data)
    sub.problems.extend(ReadProblem(p.code, p.detail) for p in check.problems)
    if check.macro_enabled:
        sub.macro_enabled = True
        sub.problems.append(ReadProblem("macro_enabled"))
    return check


# ----------------------------------------------------------------------------------------------------------------------


def read_submission(path: Path | str, catalogue: Catalogue | None = None) -> Submission:
    """Read one returned file. Never raises for a bad file; see ``Submission.problems``."""
    cat = catalogue or default_catalogue()
    path = Path(path)
    sub = Submission(path=path, file_name=nfc(display_name(path.name)))  # a name not valid UTF-8: "\xff" shown
    m = NAME_RE.match(sub.file_name)
    if m:
        sub.name_period, sub.name_unit = m.group(1), m.group(2).upper()
    try:
        st = path.stat()
        sub.size, sub.mtime = st.st_size, st.st_mtime
        if st.st_size > MAX_FILE_BYTES:
            sub.problems.append(ReadProblem("too_large", f"{st.st_size} byte"))
            return sub
        data = path.read_bytes()
    except OSError as exc:
        sub.problems.append(ReadProblem("unreadable", str(exc)))
        return sub
    sub.sha256 = hashlib.sha256(data).hexdigest()
    check = _precheck(sub, data)
    if check is None or check.zip is None:
        if check is not None:
            _read_other_format(sub, data, cat)
        return sub
    try:
        _read_workbook(sub, data, check, cat)
    except (python_calamine.CalamineError, ValueError, KeyError, OSError, zipfile.BadZipFile, EOFError) as exc:
        sub.problems.append(ReadProblem("unreadable", f"{type(exc).__name__}: {exc}"))
        sub.sheet = None
    except BaseException as exc:  # calamine raises plain exceptions for some malformed parts, and turns a Rust panic
        # (e.g. a huge number in a date-formatted cell) into pyo3's PanicException, which is a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        sub.problems.append(ReadProblem("unreadable", f"{type(exc).__name__}: {exc}"))
        sub.sheet = None
    return sub


def _read_other_format(sub: Submission, data: bytes, cat: Catalogue) -> None:
    """A .xls or .ods file is read by its own path (thidua.convert)."""
    from .convert import CONVERTIBLE, read_converted

    problem = next((p for p in sub.problems if p.code in CONVERTIBLE), None)
    if problem is not None:
        read_converted(sub, data, problem, cat)


def _read_workbook(sub: Submission, data: bytes, check: PackageCheck, cat: Catalogue) -> None:
    if _read_plain(sub, check, cat):
        return
    # python-calamine reads the parts the package check inflated, from an uncompressed copy: one inflation per file
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(check.stored_package()))
    names = {nfc(n): n for n in wb.sheet_names}
    sheet_name = find_report_sheet(sub, wb, names)
    if sheet_name is None:
        return
    sheet = wb.get_sheet_by_name(names[sheet_name])
    rows = sheet.to_python(skip_empty_area=False)
    sub.sheet = sheet_name
    try:
        merged = sheet.merged_cell_ranges or []
    except Exception:  # not available for every format
        merged = []
    sub.merged = [f"{a1(r0, c0)}:{a1(r1, c1)}" for (r0, c0), (r1, c1) in merged]
    part = _sheet_part(check, sheet_name) or ""
    xml = check.sheets.get(part)  # inflated once, by the package check
    formulas = _formula_cells(xml, check.formulas.get(part)) if xml is not None else {}
    header = _read_report(sub, rows, formulas, cat)
    finish_submission(sub, rows, cat, lambda: _percent_cells(check, xml), header)


def _read_plain(sub: Submission, check: PackageCheck, cat: Catalogue) -> bool:
    """Read the stamp and the report sheet from the cells the package check scanned (:mod:`thidua.sheetxml`), when
    both sheets, the shared strings, the number formats and the date system are plainly written; False, with ``sub``
    untouched, when anything is not (then python-calamine reads the file). The same reading as python-calamine's,
    cell by cell (``tests/test_sheetxml.py``), without a second parse of the sheets."""
    wb, rels = check.parts.get("xl/workbook.xml"), check.parts.get("xl/_rels/workbook.xml.rels")
    if wb is None or rels is None or len(wb) > MAX_CACHED_PART or len(rels) > MAX_CACHED_PART:
        return False
    sheets = _plain_sheets(bytes(wb), bytes(rels))
    if sheets is None or SHEET_STAMP not in sheets:
        return False
    styles = sheetxml.styles(bytes(check.parts["xl/styles.xml"]) if "xl/styles.xml" in check.parts else None)
    strings: list[list[str] | None] = []  # parsed on first use

    def rows_of(name: str) -> list[list[Any]] | None:
        found = check.scans.get(sheets[name])
        if found is None:
            return None
        if not strings:
            strings.append(sheetxml.shared_strings(check.parts.get("xl/sharedStrings.xml")))
        return sheetxml.grid(found, strings[0], styles)

    stamp_rows = rows_of(SHEET_STAMP)
    if stamp_rows is None:
        return False
    problems = len(sub.problems)
    _read_stamp(sub, stamp_rows)
    sheet_name = _stamped_sheet(sub)
    rows = rows_of(sheet_name) if sheet_name in sheets else None
    if rows is None:  # renamed, or not plain: python-calamine reads the whole file again, from the start
        sub.stamp, sub.stamp_ok = None, False
        del sub.problems[problems:]
        return False
    found = check.scans[sheets[sheet_name]]
    sub.sheet = sheet_name
    sub.merged = list(found.merged)
    xml = check.sheets.get(sheets[sheet_name])
    header = _read_report(sub, rows, found.formulas, cat)
    finish_submission(sub, rows, cat, lambda: _percent_cells(check, xml), header)
    return True


@functools.lru_cache(maxsize=32)
def _plain_sheets(wb: bytes, rels: bytes) -> dict[str, str] | None:
    """NFC sheet name -> its part, from workbook.xml and its relationships (parsed with defusedxml, kept by their
    bytes: the forms of a batch share them); None for a workbook in the 1904 date system, two sheets of one NFC name
    or a sheet whose part cannot be found (python-calamine reads those)."""
    book, links = parse_xml(wb), parse_xml(rels)
    if book is None or links is None:
        return None
    for el in book.iter():
        if local_name(el) == "workbookPr" and (el.get("date1904") or "").lower() in ("1", "true"):
            return None
    out: dict[str, str] = {}
    for name, part in _sheet_list(book, links):
        if not part or name in out:
            return None
        out[name] = part
    return out


def find_report_sheet(sub: Submission, wb: python_calamine.CalamineWorkbook, names: dict[str, str]) -> str | None:
    """Read the stamp, then find the report sheet: the stamp's, else (renamed) the worksheet carrying our table's
    header labels; its NFC name, or None (with the problem noted). Shared by every format the reader takes."""
    if SHEET_STAMP in names:
        _read_stamp(sub, wb.get_sheet_by_name(names[SHEET_STAMP]).to_python(skip_empty_area=False))
    else:
        sub.problems.append(ReadProblem("no_stamp"))
    wanted = _stamped_sheet(sub)
    sheet_name = wanted if wanted in names else None
    if sheet_name is None:
        # A renamed report sheet: take the visible sheet that carries our header labels.
        try:
            worksheets = {m.name for m in wb.sheets_metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet}
        except Exception:  # a format without sheet types: every sheet may be the one
            worksheets = set(wb.sheet_names)
        for name in wb.sheet_names:
            if nfc(name) == SHEET_STAMP or name not in worksheets:  # a chart, dialog or macro sheet holds no table
                continue
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            if _find_table_header(rows) is not None:
                sheet_name = nfc(name)
                sub.problems.append(ReadProblem("sheet_renamed", f"“{sheet_name}”", sheet=sheet_name))
                break
    if sheet_name is None:
        sub.problems.append(ReadProblem("sheet_missing", SHEET_REPORT))
    return sheet_name


def _stamped_sheet(sub: Submission) -> str:
    """The report sheet's name: the stamp's when the stamp is intact, else the form's."""
    return (sub.stamp or {}).get("sheet", SHEET_REPORT) if sub.stamp_ok else SHEET_REPORT


def _read_stamp(sub: Submission, rows: list[list[Any]]) -> None:
    fields = {}
    for row in rows:
        if len(row) >= 2 and isinstance(row[0], str) and row[0]:
            fields[nfc(row[0]).strip()] = nfc(_raw_text(row[1]))
    sub.stamp = fields
    if not fields.get("template_id") or "checksum" not in fields:
        sub.problems.append(ReadProblem("no_stamp", "thiếu dấu nhận dạng"))
        return
    if stamp_checksum(fields) != fields.get("checksum"):
        sub.problems.append(ReadProblem("stamp_tampered"))
        return
    sub.stamp_ok = True


def _cell_at(rows: list[list[Any]], r: int, c: int) -> Any:
    if 0 <= r < len(rows):
        row = rows[r]
        if 0 <= c < len(row):
            v = row[c]
            return None if v == "" else v
    return None


_HEADINGS = {_norm_text(title): key for key, (_c, title) in COLUMNS.items()}


def _find_table_header(rows: list[list[Any]]) -> tuple[int, dict[str, int]] | None:
    """The table's header row and the column of each heading, found by the headings' text. A text longer than
    MAX_LABEL_CACHED characters is no heading (the longest is a few words): the rows above the table hold the form's
    long legend, which is not normalised again for every file."""
    for r, row in enumerate(rows[:200]):
        cols = {}
        for c, v in enumerate(row):
            if type(v) is str and v and len(v) <= MAX_LABEL_CACHED:
                key = _HEADINGS.get(_norm_short(v))
                if key is not None:
                    cols[key] = c
        if "code" in cols and "month" in cols:
            return r, cols
    return None


def _make_cell(rows, formulas: dict[str, bool], r: int, c: int, kind: str) -> Cell:
    return _cell_of_row(_row_at(rows, r), formulas, r, c, kind)


_NO_ROW: list[Any] = []


def _row_at(rows: list[list[Any]], r: int) -> list[Any]:
    """Row ``r`` of the sheet, or an empty row beyond it."""
    return rows[r] if 0 <= r < len(rows) else _NO_ROW


def _cell_of_row(row: list[Any], formulas: dict[str, bool], r: int, c: int, kind: str) -> Cell:
    """:func:`_make_cell` of the cell in column ``c`` of ``row`` (row ``r`` of the sheet, or _NO_ROW)."""
    ref = _a1(r, c)
    raw_value = row[c] if 0 <= c < len(row) else None
    if raw_value == "":
        raw_value = None
    if raw_value is None:  # most cells of a form: what type_value and _raw_text give for None
        cell = _cell(ref, None, "", None, False)
    elif kind == "text":  # type_value's text is the raw text itself (already NFC)
        raw = _raw_text(raw_value)
        cell = _cell(ref, raw if raw.strip() else None, raw, None, False)
    elif kind == "count" and type(raw_value) is float and raw_value.is_integer():  # most figures, as read
        number = int(raw_value)  # what type_value and _raw_text give for it
        cell = _cell(ref, number, str(number), None, False)
    else:
        value, issue = type_value(kind, raw_value)
        cell = _cell(ref, value, _raw_text(raw_value), issue, False)
    if ref in formulas:
        cell.formula = True
        cell.issue = "formula" if formulas[ref] else "formula_no_cache"
        cell.value = None
    return cell


def _row_codes(rows: list[list[Any]], start: int, code_col: int) -> tuple[dict[str, int], dict[int, int]]:
    codes: dict[str, int] = {}
    targets: dict[int, int] = {}
    for r in range(start, len(rows)):
        v = _cell_at(rows, r, code_col)
        if v is None:
            continue
        text = _raw_text(v).strip()
        if CODE_RE.match(text):
            codes.setdefault(text, r)
        elif text.isdigit():
            targets.setdefault(int(text), r)
    return codes, targets


def _read_report(sub: Submission, rows: list[list[Any]], formulas: dict[str, bool], cat: Catalogue
                 ) -> tuple[int, dict[str, int]] | None:
    """Read the header block and the table into ``sub``; the table's header row and columns (None when not found)."""
    # Header block: label in column B (or anywhere in the row's first columns), value in the next non-empty cell
    labels = {_norm_label(label): key for key, (_r, label) in HEADER.items()}
    for r, row in enumerate(rows[:40]):
        for c, label in enumerate(row[:HEADER_LABEL_COL + 2]):
            if label is None or label == "":  # an empty cell is no label
                continue
            key = labels.get(_norm_label(label))
            if key and key not in sub.header:
                vc = next((cc for cc in range(c + 1, c + 6) if _cell_at(rows, r, cc) is not None), c + 2)
                if key in ("preparer", "prepared_on"):
                    vc = c + 2
                sub.header[key] = _make_cell(rows, formulas, r, vc, "date" if key == "prepared_on" else "text")
        if len(sub.header) == len(HEADER):  # every label found: the rows below cannot change anything
            break
    found = _find_table_header(rows)
    if found is None:
        sub.problems.append(ReadProblem("table_missing", sheet=sub.sheet))
        return None
    head_row, cols = found
    for key in COLUMNS:
        if key not in cols:
            sub.problems.append(
                ReadProblem("column_missing", COLUMNS[key][1], sheet=sub.sheet, cell=a1(head_row, COLUMNS[key][0]))
            )
    expected = json.loads(sub.stamp.get("layout", "{}")) if sub.stamp_ok and sub.stamp else {}
    codes, target_rows = _row_codes(rows, head_row + 1, cols["code"])
    moves: list[tuple[int, int, str | None]] = []  # (row expected, row found, indicator) of every moved row
    for target in cat.targets:
        r = target_rows.get(target.number)
        if r is None:
            sub.problems.append(ReadProblem("row_missing", f"nội dung {target.number}", sheet=sub.sheet))
            continue
        sub.targets[target.number] = TargetEntry(
            number=target.number,
            row=r,
            assessment=_make_cell(rows, formulas, r, cols.get("assessment", COLUMNS["assessment"][0]), "choice"),
            explanation=_make_cell(rows, formulas, r, cols.get("note", COLUMNS["note"][0]), "text"),
        )
        _note_move(moves, expected.get(f"T{target.number}"), r, None)
    # Each indicator's row: its label, month, year-to-date and note cells (a loop run for every indicator of every
    # file: the columns looked up once)
    name_col = cols.get("name", 1)
    month_col, ytd_col, note_col = cols.get("month"), cols.get("ytd"), cols.get("note")
    indicators = sub.indicators
    for ind in cat.indicators:
        code = ind.code
        r = codes.get(code)
        if r is None:
            sub.problems.append(ReadProblem("row_missing", ind.name, sheet=sub.sheet, indicator=code))
            continue
        row = rows[r]  # a row of the sheet: _row_codes found the code in it
        label = row[name_col] if name_col < len(row) else None
        if label == "":
            label = None
        periods, kind = ind.periods, ind.kind
        indicators[code] = _indicator_entry(
            code, r, _raw_text(label),
            _cell_of_row(row, formulas, r, month_col, kind) if month_col is not None and "month" in periods else None,
            _cell_of_row(row, formulas, r, ytd_col, kind) if ytd_col is not None and "ytd" in periods else None,
            _cell_of_row(row, formulas, r, note_col, "text") if note_col is not None else None)
        if label != ind.name and _norm_label(label) != _norm_label(ind.name):  # the same text: the same label
            sub.problems.append(
                ReadProblem(
                    "label_changed",
                    _raw_text(label),
                    sheet=sub.sheet,
                    cell=a1(r, name_col),
                    indicator=code,
                )
            )
        want = expected.get(code)
        if want is not None and want != r:
            moves.append((want, r, code))
    _report_moves(sub, moves)
    return found


def _note_move(moves: list[tuple[int, int, str | None]], want: int | None, row: int, indicator: str | None) -> None:
    if want is not None and want != row:
        moves.append((want, row, indicator))


def _report_moves(sub: Submission, moves: list[tuple[int, int, str | None]]) -> None:
    """One problem per block of rows moved by the same offset (a deleted or inserted row moves every row below it:
    that is one thing to say, not forty)."""
    moves.sort()
    i = 0
    while i < len(moves):
        j = i
        while j + 1 < len(moves) and moves[j + 1][0] == moves[j][0] + 1 \
                and moves[j + 1][1] - moves[j + 1][0] == moves[i][1] - moves[i][0]:
            j += 1
        (w1, r1, indicator), (w2, r2, _) = moves[i], moves[j]
        detail = f"dòng {w1 + 1} → {r1 + 1}" if i == j else f"dòng {w1 + 1}–{w2 + 1} → {r1 + 1}–{r2 + 1}"
        sub.problems.append(ReadProblem("row_moved", detail, sheet=sub.sheet, cell=a1(r1, 0), indicator=indicator,
                                        count=j - i + 1))
        i = j + 1


# ----------------------------------------------------------------------------------------------------------------------
# Domain pass, shared by every read path (.xlsx here, .xls/.ods in thidua.convert)


def finish_submission(sub: Submission, rows: list[list[Any]], cat: Catalogue, percent_cells=None,
                      header: tuple[int, dict[str, int]] | None = None) -> None:
    """What the form's live checks also see (thidua.domain): list values stored canonical (case, Unicode form and
    spaces ignored), count cells formatted as a percentage (``percent_cells()`` gives their A1 refs, asked only when
    there is a count figure to check), text typed into rows inserted in the table, and a changed "Đơn vị tính".
    ``header``: the table's header as :func:`_read_report` found it (found again when not given)."""
    counts: list[Cell] = []
    for target in cat.targets:
        entry = sub.targets.get(target.number)
        if entry is not None:
            _canonical(entry.assessment, cat.assessment_choices)
    for ind in cat.indicators:
        entry = sub.indicators.get(ind.code)
        if entry is None:
            continue
        for key in ind.periods:
            c = entry.column(key)
            if c is None:
                continue
            if ind.kind in ("yesno", "choice"):
                _canonical(c, cat.yesno_choices if ind.kind == "yesno" else ind.choices)
            elif ind.kind == "count" and c.issue is None and c.value is not None:
                counts.append(c)
    if counts and percent_cells is not None:
        percent = percent_cells()
        for c in counts:
            if c.cell in percent:
                c.issue, c.raw = "percent", f"{c.value * 100:g}%"
                c.value = None
    _scan_rows(sub, rows, cat, header)


def _canonical(c: Cell, choices: tuple[str, ...]) -> None:
    if isinstance(c.value, str) and c.issue is None:
        c.value = canonical_choice(c.value, choices) or c.value


def _scan_rows(sub: Submission, rows: list[list[Any]], cat: Catalogue,
               header: tuple[int, dict[str, int]] | None = None) -> None:
    """Rows of the table without a code of the form that hold something (a row inserted and typed into: its text is
    not read), and indicator rows whose "Đơn vị tính" was changed."""
    found = header or _find_table_header(rows)
    if found is None or not sub.indicators:
        return
    _head, cols = found
    code_col = cols["code"]
    unit_col = cols.get("unit", COLUMNS["unit"][0])
    for ind in cat.indicators:
        entry = sub.indicators.get(ind.code)
        if entry is None:
            continue
        text = _cell_at(rows, entry.row, unit_col)
        if text != ind.unit and _norm_label(text) != _norm_label(ind.unit):  # the same text: the same unit
            sub.problems.append(ReadProblem("unit_changed", _raw_text(text), sheet=sub.sheet,
                                            cell=a1(entry.row, unit_col), indicator=ind.code))
    coded = {e.row: e.code for e in sub.indicators.values()} | {t.row: f"T{t.number}" for t in sub.targets.values()}
    known = {i.code for i in cat.indicators} | {str(t.number) for t in cat.targets}
    # A form row whose code was deleted is reported as a missing row (E-STRUCT-ROW-MISSING), not as an inserted one.
    lost = {_norm_label(i.name) for i in cat.indicators if i.code not in sub.indicators}
    name_col = cols.get("name", COLUMNS["name"][0])
    table_cols = sorted({code_col, *(cols.get(k, COLUMNS[k][0]) for k in
                                     ("name", "unit", "month", "ytd", "assessment", "note"))})
    above = None
    for r in range(min(coded), max(coded) + 1):
        if r in coded:
            above = coded[r]
            continue
        code = _cell_at(rows, r, code_col)
        if (code is not None and _raw_text(code).strip() in known) or (
                lost and _norm_label(_cell_at(rows, r, name_col)) in lost):
            continue
        typed = [(c, _raw_text(v)) for c in table_cols if (v := _cell_at(rows, r, c)) is not None
                 and _raw_text(v).strip()]
        if typed:
            sub.problems.append(ReadProblem("row_text", " | ".join(t for _c, t in typed), sheet=sub.sheet,
                                            cell=a1(r, typed[0][0]), indicator=above))


_XF_RE = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,3}[0-9]{1,7})\"[^>]*?\bs=\"([0-9]+)\"")
_XF_RE_REV = re.compile(rb"<(?:\w+:)?c\b[^>]*?\bs=\"([0-9]+)\"[^>]*?\br=\"([A-Z]{1,3}[0-9]{1,7})\"")


def _percent_cells(check: PackageCheck, xml: bytes | bytearray | None) -> set[str]:
    """A1 refs of the sheet's cells whose number format shows a percentage (styles.xml, ECMA-376 18.8.10 cellXfs and
    18.8.31 numFmts); empty when no cell style of the workbook does, without scanning the sheet. styles.xml is read
    from the bytes the package check kept (no second inflation)."""
    raw = check.parts.get("xl/styles.xml")
    if raw is None or xml is None:
        return set()
    if b"%" not in raw and not re.search(rb'numFmtId="(?:9|10)"', raw):  # the common case: no percentage anywhere
        return set()
    formats = sheetxml.number_formats(bytes(raw))  # parsed once per batch when the forms share their styles
    if formats is None:
        return set()
    codes, xfs = formats
    percent_xf = {str(i) for i, fmt in enumerate(xfs) if is_percent_format(codes.get(fmt), fmt)}
    if not percent_xf:
        return set()
    out = {m.group(1).decode() for m in _XF_RE.finditer(xml) if m.group(2).decode() in percent_xf}
    out |= {m.group(2).decode() for m in _XF_RE_REV.finditer(xml) if m.group(1).decode() in percent_xf}
    return out


__all__ = [
    "STAMP_KEYS",
    "Cell",
    "IndicatorEntry",
    "ReadProblem",
    "Submission",
    "TargetEntry",
    "read_submission",
    "type_value",
]
