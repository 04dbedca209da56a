"""Where master tables are written: one small interface (:class:`SheetSink`) and its file-based implementation.

The consolidation builds plain tables (a header and rows of Python values) and hands them to a sink; it never touches
a workbook library itself. Two sinks exist: :class:`OpenpyxlSink` here (files, used by the command line) and a live
one over xlwings (the buttons in ThiDua2024.xlsm). A sink implements three methods:

``write_table(sheet_name, header, rows, *, widths=None, freeze="A2", autofilter=True, text_columns=(),
number_formats=None, fills=None, title=None)``
    Create (or replace, keeping its position) the sheet ``sheet_name`` holding one table: ``header`` in row 1 (bold,
    shaded, wrapped), ``rows`` from row 2. Values: ``int``/``float`` → number, ``bool`` → TRUE/FALSE,
    ``date``/``datetime`` → date cell (dd/mm/yyyy [hh:mm]), ``str`` → **always text** (a string starting with "=", "+",
    "-" or "@" is never a formula), ``None`` → empty. ``widths``: column widths in characters; ``freeze``: the
    top-left cell of the scrolling area (None: no frozen panes); ``autofilter``: filter buttons on the header;
    ``text_columns``: 0-based columns whose values are written as text even when they are numbers;
    ``number_formats``: 0-based column → Excel number format for its numbers (e.g. ``"0.0%"``); ``fills``: exact cell
    text → background colour (``"RRGGBB"``); ``title``: printed as the page header. Every table prints on A4 landscape,
    one page wide, with the header row repeated on each page.
``add_chart(sheet_name, *, title, categories, values, first_row, last_row, anchor, y_title="", percent=False)``
    Optional. A bar chart of table column ``values`` against column ``categories`` (0-based columns) for the data
    rows ``first_row``..``last_row`` (0-based indices into ``rows``), placed at cell ``anchor``.
``save() -> Path | None``
    Write everything out; return the backup made of the previous file, if any.

:class:`OpenpyxlSink` writes a fresh .xlsx (``keep_vba=False``), or replaces only its own sheets in an existing macro
workbook loaded with ``openpyxl.load_workbook(path, keep_vba=True)`` (``keep_vba=True``), leaving the VBA project,
buttons, ribbon and every other sheet alone. It refuses, before writing anything, a target that is open in Excel (an
owner file ``~$<name>`` beside it) or read-only. It writes atomically and keeps the previous file in
``.backup/<stem>.<YYYYmmdd-HHMMSS><suffix>`` beside it (the last :data:`KEEP_BACKUPS`).

Speed: openpyxl lays out each sheet (header, styles, widths, panes, filter, print setup, charts) with one prototype
row per kind of cell; on saving, the prototype rows are replaced by the data rows generated directly as sheet XML
with the prototypes' style indices, and their text added to the shared-string table. Text therefore always lands as a
shared string (``t="s"``): it cannot become a formula. The rows are made column by column in blocks, each distinct
value's cell text once per block, and a block is compressed on a thread of its own while the next one is made.
"""

from __future__ import annotations

import collections
import concurrent.futures
import copy
import datetime as dt
import hashlib
import io
import itertools
import math
import os
import re
import shutil
import stat
import struct
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import openpyxl
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.utils.exceptions import InvalidFileException

from .atomic import atomic_path
from .errors import ThiDuaError
from .zlibs import FAST_LEVEL, zlib

KEEP_BACKUPS = 5
BACKUP_DIR = ".backup"
MAX_CELL_TEXT = 32767
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
HEADER_FILL = "DDEBF7"
WRAP_FROM_WIDTH = 30
DEFAULT_WIDTH = 14
LINE_HEIGHT = 15  # points per line of 11 pt text
MAX_ROW_HEIGHT = 409


def _lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column ``width`` characters wide (an estimate: Excel and LibreOffice do not
    fit row heights of a file they open, so the writer sets them)."""
    per_line = max(1.0, width * 1.1)
    return sum(max(1, math.ceil(len(part) / per_line)) for part in str(text).split("\n"))


class SheetSink(Protocol):
    """Writes master tables into a workbook (see the module docstring for the exact semantics)."""

    def write_table(
        self,
        sheet_name: str,
        header: list[str],
        rows: list[list[Any]],
        *,
        widths: list[float] | None = None,
        freeze: str | None = "A2",
        autofilter: bool = True,
        text_columns: Iterable[int] = (),
        number_formats: dict[int, str] | None = None,
        fills: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None: ...

    def add_chart(
        self,
        sheet_name: str,
        *,
        title: str,
        categories: int,
        values: int,
        first_row: int,
        last_row: int,
        anchor: str,
        y_title: str = "",
        percent: bool = False,
    ) -> None: ...

    def save(self) -> Path | None: ...


# ----------------------------------------------------------------------------------------------------------------------
# Target checks and backups


def owner_file(path: Path) -> Path:
    """Excel's lock ("owner") file for ``path``: ``~$<name>`` beside it while the workbook is open."""
    return path.with_name("~$" + path.name)


def check_target(path: Path, *, must_exist: bool = False) -> None:
    """Refuse, with a Vietnamese message, a target that cannot be replaced safely right now."""
    path = Path(path)
    if must_exist and not path.is_file():
        raise ThiDuaError(f"Không tìm thấy sổ tổng hợp “{path}”.")
    if path.is_dir():
        raise ThiDuaError(f"“{path}” là một thư mục, không phải tệp Excel.")
    if owner_file(path).exists():
        raise ThiDuaError(
            f"Tệp “{path.name}” đang được mở trong Excel (có tệp khóa “{owner_file(path).name}” bên cạnh). "
            "Hãy đóng tệp trong Excel rồi chạy lại; chưa có gì được ghi."
        )
    if path.exists():
        mode = path.stat().st_mode
        if not (mode & stat.S_IWUSR) or not os.access(path, os.W_OK):
            raise ThiDuaError(
                f"Tệp “{path.name}” đang ở chế độ chỉ đọc nên không ghi được. "
                "Hãy bỏ thuộc tính chỉ đọc rồi chạy lại; chưa có gì được ghi."
            )
        try:  # on Windows, a workbook open in Excel cannot be opened for writing
            with open(path, "r+b"):
                pass
        except PermissionError:
            raise ThiDuaError(
                f"Tệp “{path.name}” đang bị chương trình khác (thường là Excel) giữ. "
                "Hãy đóng tệp rồi chạy lại; chưa có gì được ghi."
            ) from None
    folder = path.parent if path.parent.exists() else next((p for p in path.parents if p.exists()), Path("."))
    if not os.access(folder, os.W_OK):
        raise ThiDuaError(f"Không có quyền ghi vào thư mục “{folder}”; chưa có gì được ghi.")


_BACKUP_RE = re.compile(r"\.(\d{8}-\d{6})(?:-(\d+))?$")


def _backup_key(path: Path) -> tuple[str, int]:
    m = _BACKUP_RE.search(path.stem)
    return (m.group(1), int(m.group(2) or 1)) if m else ("", 0)


def backups(target: Path) -> list[Path]:
    """The backups of ``target``, oldest first."""
    folder = target.parent / BACKUP_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"{glob_escape(target.stem)}.*{target.suffix}")
             if _BACKUP_RE.search(p.stem) and p.stem.rsplit(".", 1)[0] == target.stem]
    return sorted(found, key=_backup_key)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def make_backup(target: Path, keep: int = KEEP_BACKUPS) -> Path | None:
    """Copy ``target`` (if it exists) into ``.backup`` beside it and keep only the last ``keep`` backups. The copy is
    atomic too: a backup is complete or absent, never cut short (by a full disk or a killed process)."""
    if not target.exists():
        return None
    folder = target.parent / BACKUP_DIR
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    n = max((k for ts, k in map(_backup_key, backups(target)) if ts == stamp), default=0) + 1
    dest = folder / f"{target.stem}.{stamp}{f'-{n}' if n > 1 else ''}{target.suffix}"
    with atomic_path(dest) as tmp:
        shutil.copy2(target, tmp)
    for old in backups(target)[:-keep] if keep > 0 else backups(target):
        old.unlink()
    return dest


# ----------------------------------------------------------------------------------------------------------------------
# XML helpers

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def _xml_text(text: str) -> str:
    if len(text) > MAX_CELL_TEXT:
        text = text[: MAX_CELL_TEXT - 1] + "…"
    if "_x" in text:  # a literal "_x0041_" typed by a unit: escape its underscore, or Excel would read "A"
        text = _ESCAPE_LIKE.sub(r"_x005F_\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "\r" in text:  # an XML parser turns a raw CR into LF: a character reference survives
        text = text.replace("\r", "&#13;")
    if _ILLEGAL_XML.search(text):
        text = _ILLEGAL_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text


def _serial(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        delta = value - dt.datetime(1899, 12, 30)
        return repr(delta.days + delta.seconds / 86400)
    return str((value - _EXCEL_EPOCH).days)


# Kinds of prototype cells: each gets one row of styled cells whose style index the data rows reuse.
TEXT, NUMBER, DATE, DATETIME, BOOL = "text", "number", "date", "datetime", "bool"


@dataclass
class _Table:
    sheet: str
    header: list[str]
    rows: list[list[Any]] | RowBlocks
    text_columns: frozenset[int]
    fills: dict[str, str]
    kinds: list[tuple[str, str | None]] = field(default_factory=list)  # prototype rows, in order
    wrap: dict[int, float] = field(default_factory=dict)  # wrapped columns -> width


class OpenpyxlSink:
    """File-based sink (see the module docstring)."""

    def __init__(self, path: Path | str, keep_vba: bool = False, *, keep_backups: int = KEEP_BACKUPS,
                 strings: Iterable[str] = ()):
        self.path = Path(path)
        self.strings = list(strings)  # the shared-string table starts with these (see Renderer)
        self.keep_vba = keep_vba
        self.keep_backups = keep_backups
        check_target(self.path, must_exist=keep_vba)
        self._loaded = _file_signature(self.path) if keep_vba else None  # what the kept sheets were read from
        if keep_vba:
            try:
                # Never re-save a macro workbook any other way: without keep_vba the macros and buttons vanish.
                self.wb = openpyxl.load_workbook(self.path, keep_vba=True)
            except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
                raise ThiDuaError(f"Không mở được sổ “{self.path.name}” ({type(exc).__name__}: {exc}).") from None
        else:
            if self.path.suffix.lower() != ".xlsx":
                raise ThiDuaError(f"Tệp tổng hợp mới phải có đuôi .xlsx (nhận được “{self.path.name}”).")
            self.wb = openpyxl.Workbook()
            self.wb.remove(self.wb.active)
        self.tables: dict[str, _Table] = {}
        self._header_font = Font(bold=True)
        self._header_fill = PatternFill("solid", fgColor=HEADER_FILL)
        self._border = Border(*(Side(style="thin", color="A6A6A6"),) * 4)

    # -- the interface -------------------------------------------------------------------------------------------------

    def write_table(
        self,
        sheet_name: str,
        header: list[str],
        rows: list[list[Any]],
        *,
        widths: list[float] | None = None,
        freeze: str | None = "A2",
        autofilter: bool = True,
        text_columns: Iterable[int] = (),
        number_formats: dict[int, str] | None = None,
        fills: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        wb = self.wb
        index, code_name, state = None, None, "visible"
        if sheet_name in wb.sheetnames:
            old = wb[sheet_name]
            index = wb.sheetnames.index(sheet_name)
            code_name, state = old.sheet_properties.codeName, old.sheet_state
            wb.remove(old)
        ws = wb.create_sheet(sheet_name, index)
        if code_name:  # the sheet's VBA document module stays attached to it
            ws.sheet_properties.codeName = code_name
        ws.sheet_state = state
        ncols = len(header)
        table = _Table(sheet_name, header, rows, frozenset(text_columns), dict(fills or {}))
        number_formats = number_formats or {}
        # Cells of the same look share one style array, copied (openpyxl's own idiom, as in copy_worksheet): setting
        # each style object on each cell makes openpyxl hash the object against the workbook's list every time
        # (1,250 cells a master: 40 ms of a 0.3 s re-run).
        looks: dict[tuple[Any, ...], Any] = {}
        for c, text in enumerate(header, start=1):
            cell = ws.cell(row=1, column=c, value=text)
            cell.data_type = TYPE_STRING
            if "header" in looks:
                cell._style = copy.copy(looks["header"])
                continue
            cell.font = self._header_font
            cell.fill = self._header_fill
            cell.border = self._border
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            looks["header"] = copy.copy(cell._style)
        widths = [widths[c] if widths and c < len(widths) else DEFAULT_WIDTH for c in range(ncols)]
        for c, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(c)].width = width
        ws.row_dimensions[1].height = max(_lines(text, width) for text, width in zip(header, widths, strict=True)) \
            * LINE_HEIGHT + 4
        table.wrap = {c: widths[c] for c in range(ncols) if widths[c] >= WRAP_FROM_WIDTH}
        # Prototype rows: one per kind of cell, each cell styled as the data cells of that kind in that column.
        table.kinds = [(TEXT, None), (NUMBER, None), (DATE, None), (DATETIME, None), (BOOL, None)]
        table.kinds += [(TEXT, colour) for colour in dict.fromkeys(table.fills.values())]
        for r, (kind, colour) in enumerate(table.kinds, start=2):
            for c in range(1, ncols + 1):
                cell = ws.cell(row=r, column=c, value=0)
                wrap = c - 1 in table.wrap and kind == TEXT
                number_format = None
                if kind == NUMBER:
                    number_format = "@" if c - 1 in table.text_columns else number_formats.get(c - 1, "General")
                elif kind == DATE:
                    number_format = DATE_FORMAT
                elif kind == DATETIME:
                    number_format = DATETIME_FORMAT
                elif kind == TEXT and c - 1 in table.text_columns:
                    number_format = "@"
                look = (wrap, number_format, colour)
                if look in looks:
                    cell._style = copy.copy(looks[look])
                    continue
                cell.border = self._border
                cell.alignment = Alignment(vertical="top", wrap_text=wrap)
                if number_format is not None:
                    cell.number_format = number_format
                if colour:
                    cell.fill = PatternFill("solid", fgColor=colour)
                looks[look] = copy.copy(cell._style)
        last = get_column_letter(max(ncols, 1))
        if freeze:
            ws.freeze_panes = freeze
        if autofilter:
            ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
        ws.print_area = f"A1:{last}{len(rows) + 1}"  # the table, not a chart beside it
        ws.print_title_rows = "1:1"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_options.gridLines = False
        ws.page_margins.left = ws.page_margins.right = 0.4
        if title:
            ws.oddHeader.center.text = title.replace("&", "&&")
        ws.oddFooter.center.text = "Trang &P/&N"
        self.tables[sheet_name] = table

    def add_chart(
        self,
        sheet_name: str,
        *,
        title: str,
        categories: int,
        values: int,
        first_row: int,
        last_row: int,
        anchor: str,
        y_title: str = "",
        percent: bool = False,
    ) -> None:
        ws = self.wb[sheet_name]
        chart = BarChart()
        chart.type = "bar"
        chart.style = 10
        chart.title = title
        chart.y_axis.title = y_title or None
        chart.legend = None
        chart.height = max(7.5, 0.9 * (last_row - first_row + 1) + 3)
        chart.width = 22
        data = Reference(ws, min_col=values + 1, min_row=first_row + 2, max_row=last_row + 2)
        col = get_column_letter(categories + 1)
        cats = f"${col}${first_row + 2}:${col}${last_row + 2}"
        chart.add_data(data, titles_from_data=False)
        # Categories are text: a string reference, or Excel would label the bars 1, 2, 3…
        chart.series[0].cat = AxDataSource(strRef=StrRef(f=f"{quote_sheetname(ws.title)}!{cats}"))
        chart.series[0].tx = None
        chart.dataLabels = DataLabelList()
        chart.dataLabels.showVal = True
        for flag in ("showCatName", "showSerName", "showLegendKey", "showPercent", "showLeaderLines"):
            setattr(chart.dataLabels, flag, False)
        if percent:
            chart.y_axis.number_format = "0%"
            chart.y_axis.scaling.min = 0
            chart.y_axis.scaling.max = 1
        chart.y_axis.delete = False
        chart.x_axis.delete = False
        chart.x_axis.scaling.orientation = "maxMin"  # first row at the top
        ws.add_chart(chart, anchor)

    def save(self) -> Path | None:
        """Write the workbook atomically, backing up the previous file; return the backup's path (or None)."""
        check_target(self.path, must_exist=self.keep_vba)
        buf = io.BytesIO()
        self.wb.save(buf)
        backup = None
        try:
            with atomic_path(self.path) as tmp:
                # the new file gets the old one's permissions (atomic_path)
                _patch_package(buf, tmp, self.tables, self.strings)
                backup = make_backup(self.path, self.keep_backups)
                self._check_unchanged()
        except PermissionError as exc:
            raise ThiDuaError(
                f"Không ghi được “{self.path.name}” ({exc.strerror}). Nếu tệp đang mở trong Excel, hãy đóng rồi chạy "
                "lại; tệp cũ vẫn giữ nguyên."
            ) from None
        return backup


    def _check_unchanged(self) -> None:
        """Refuse to replace a workbook that another program (Excel, a sync client) saved after it was loaded: its
        change would be lost, silently, except in the backup."""
        if self._loaded is not None and _file_signature(self.path) != self._loaded:
            raise ThiDuaError(
                f"Sổ “{self.path.name}” vừa được chương trình khác (thường là Excel) lưu lại trong lúc đang ghi bảng "
                "tổng hợp: không ghi đè để khỏi mất thay đổi đó; sổ giữ nguyên như chương trình kia đã lưu. Hãy đóng "
                "sổ trong Excel (hoặc chờ đồng bộ xong) rồi chạy lại."
            )


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    """Size, modification time and file id: any save changes at least one."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


# ----------------------------------------------------------------------------------------------------------------------
# The package patch: data rows straight into the sheet XML


_SHEET_RE = re.compile(r"<(?:\w+:)?sheet\b[^>]*>")
_REL_RE = re.compile(r"<Relationship\b[^>]*>")
_ATTR_RE = re.compile(r'([\w:]+)="([^"]*)"')
_ROW_RE = re.compile(r"<row\b[^>]*?(?:/>|>.*?</row>)", re.S)
_CELL_RE = re.compile(r"<c\b([^>]*?)(?:/>|>.*?</c>)", re.S)


def _attrs(tag: str) -> dict[str, str]:
    return dict(_ATTR_RE.findall(tag))


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">") \
        .replace("&amp;", "&")


def _sheet_parts(zin: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> zip member, from the workbook part and its relationships."""
    wb = zin.read("xl/workbook.xml").decode("utf-8")
    rels = zin.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets = {}
    for tag in _REL_RE.findall(rels):
        a = _attrs(tag)
        target = a.get("Target", "")
        targets[a.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    out = {}
    for tag in _SHEET_RE.findall(wb):
        a = _attrs(tag)
        rid = a.get("r:id") or next((v for k, v in a.items() if k.endswith(":id")), None)
        out[_unescape(a.get("name", ""))] = targets.get(rid, "")
    return out


class _Strings:
    """The shared-string table of the data rows (openpyxl itself writes its few strings inline).

    ``base``: strings the table starts with, in that order (see :class:`BaseStrings`). A frozen view
    (:meth:`frozen`) of the base gives no index for any other text: such a cell is written as an inline string, so
    that rows rendered against the base alone stay valid whatever else the table holds (cached blocks of rows)."""

    def __init__(self, base: Iterable[str] = ()) -> None:
        self.index: dict[str, int] = {}
        for text in base:
            self.index.setdefault(text, len(self.index))
        self.base_index = dict(self.index)
        self.base_digest = hashlib.sha256("\0".join(self.base_index).encode("utf-8", "replace")).hexdigest()
        self.refs = 0
        self.is_frozen = False

    def add(self, text: str) -> int | None:
        if self.is_frozen:
            return None
        i = self.index[text] = len(self.index)
        return i

    def frozen(self) -> _Strings:
        """A view of the base of the table (nothing added since), counting its own references, that adds nothing."""
        view = _Strings.__new__(_Strings)
        view.index, view.base_index, view.base_digest = self.base_index, self.base_index, self.base_digest
        view.refs, view.is_frozen = 0, True
        return view

    def render(self) -> str:
        items = "".join(f'<si><t xml:space="preserve">{_xml_text(t)}</t></si>' for t in self.index)
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_MAIN_NS}" '
                f'count="{max(self.refs, len(self.index))}" uniqueCount="{len(self.index)}">{items}</sst>')


def _text_tail(style: str, i: int | None, text: str) -> str:
    """The end of a text cell: a shared string, or (``i`` None) an inline string."""
    if i is not None:
        return f'"{style} t="s"><v>{i}</v></c>'
    return f'"{style} t="inlineStr"><is><t xml:space="preserve">{_xml_text(text)}</t></is></c>'


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _add_sst_part(content_types: str, rels: str) -> tuple[str, str]:
    """Declare ``xl/sharedStrings.xml`` in the content types and the workbook's relationships."""
    if "/xl/sharedStrings.xml" not in content_types:
        override = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}"/>'
        content_types = content_types.replace("</Types>", override + "</Types>")
    if _SST_REL not in rels:
        ids = set(re.findall(r'\bId="([^"]+)"', rels))
        n = len(ids) + 1
        while f"rId{n}" in ids:
            n += 1
        rel = f'<Relationship Type="{_SST_REL}" Target="sharedStrings.xml" Id="rId{n}"/>'
        rels = rels.replace("</Relationships>", rel + "</Relationships>")
    return content_types, rels


def _style_map(sheet_xml: str, table: _Table) -> dict[tuple[str, str | None], list[str]]:
    """(kind, fill colour) -> per column the ``s="n"`` attribute text of the prototype cells."""
    rows = {}
    for row in _ROW_RE.findall(sheet_xml):
        r = int(_attrs(row[: row.index(">")])["r"])
        rows[r] = row
    styles: dict[tuple[str, str | None], list[str]] = {}
    ncols = len(table.header)
    for i, kind in enumerate(table.kinds):
        row = rows.get(i + 2, "")
        attrs = [""] * ncols
        for cell in _CELL_RE.finditer(row):
            a = _attrs(cell.group(1))
            col = _col_index(a["r"])
            if col < ncols and "s" in a:
                attrs[col] = f' s="{a["s"]}"'
        styles[kind] = attrs
    return styles


def _col_index(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch) - 64
    return n - 1


CHUNK_ROWS = 4096
ROWS_LEVEL = FAST_LEVEL  # the data rows: most of a master's bytes, written fast (thidua.zlibs)
WRITE_AHEAD = 2  # blocks of rows waiting to be compressed
SWITCH_INTERVAL = 0.0005  # seconds, while the compressing thread runs (see _deflated)


def _row_heads(columns: list[tuple[Any, ...]], first: int, wrap: dict[int, float]) -> list[str]:
    """The ``<row>`` start tags of a block of rows, with a height for rows whose wrapped text needs several lines."""
    n = len(columns[0]) if columns else 0
    lines: list[int] | None = None
    for c, width in wrap.items():
        per_line = width * 1.1
        col = columns[c]
        try:
            distinct = set(col)
        except TypeError:  # an unhashable value: not text, so not measured
            distinct = {v for v in col if type(v) is str}
            col = tuple(v if type(v) is str else None for v in col)
        tall: dict[str, int] = {}  # each distinct text that needs more than one line, measured once
        for v in distinct:
            if type(v) is str and (len(v) > per_line or "\n" in v):
                k = _lines(v, width)
                if k > 1:
                    tall[v] = k
        if tall:
            ks = list(map(tall.get, col, itertools.repeat(1, n)))  # only texts are keys: anything else is 1
            lines = ks if lines is None else list(map(max, lines, ks))
    if lines is None:
        return [f'<row r="{r}">' for r in range(first, first + n)]
    ends = {k: ">" if k == 1 else f' ht="{min(MAX_ROW_HEIGHT, k * LINE_HEIGHT + 2)}" customHeight="1">'
            for k in set(lines)}
    return [f'<row r="{r}"{end}' for r, end in zip(range(first, first + n), map(ends.__getitem__, lines), strict=True)]


def _column_xml(values: tuple[Any, ...], rnums: list[str], c: int, letter: str, styles, table: _Table,
                strings: _Strings) -> list[str]:
    """The cells of one column for a block of rows ("" where empty), typed as the module docstring says."""
    text_s, num_s = styles[(TEXT, None)][c], styles[(NUMBER, None)][c]
    pre = f'<c r="{letter}'
    num_tail = f'"{num_s}><v>'
    fills = {text: styles[(TEXT, colour)][c] for text, colour in table.fills.items()}
    index, add = strings.index, strings.add
    as_text = c in table.text_columns
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= {str}:  # the common cases first, as comprehensions; each distinct value's tail is made once
        tails: dict[Any, str] = {}
        inline: set[str] = set()  # texts written inline (a frozen table: not in its base)
        for v in dict.fromkeys(values):  # in order of first appearance: the same rows, the same string table
            if v:
                i = index.get(v)
                if i is None:
                    i = add(v)
                    if i is None:
                        inline.add(v)
                tails[v] = _text_tail(fills.get(v, text_s) if fills else text_s, i, v)
        # every text cell refers to the table but those inline, counted in one pass (not one count per text:
        # a block's notes are mostly each its own, and that was quadratic, 0.12 s for a column of 4,096 of them)
        strings.refs += len(values) - values.count(None) - values.count("") - (
            sum(map(inline.__contains__, values)) if inline else 0)
        return [f"{pre}{rs}{tails[v]}" if v else "" for v, rs in zip(values, rnums, strict=True)]
    if kinds == {int} and not as_text:
        tails = {v: f"{num_tail}{v}</v></c>" for v in set(values) if v is not None}
        return [f"{pre}{rs}{tails[v]}" if v is not None else "" for v, rs in zip(values, rnums, strict=True)]
    out: list[str] = []
    append = out.append
    texts = 0
    text_tails: dict[str, tuple[str, bool]] = {}  # each distinct text's and number's tail, made once
    int_tails: dict[int, str] = {}
    for v, rs in zip(values, rnums, strict=True):
        if v is None:
            append("")
            continue
        t = type(v)
        if t is int and not as_text:
            tail = int_tails.get(v)
            if tail is None:
                tail = int_tails[v] = f"{num_tail}{v}</v></c>"
            append(f"{pre}{rs}{tail}")
            continue
        if t is not str and as_text:
            v, t = _text_of(v), str
        if t is str:
            if not v:
                append("")
                continue
            found = text_tails.get(v)
            if found is None:
                i = index.get(v)
                if i is None:
                    i = add(v)
                found = text_tails[v] = (_text_tail(fills.get(v, text_s) if fills else text_s, i, v), i is not None)
            texts += found[1]
            append(f"{pre}{rs}{found[0]}")
        elif t is int:
            append(f"{pre}{rs}{num_tail}{v}</v></c>")
        else:
            append(_other_cell(v, f"{pre}{rs}", c, styles, strings))
    strings.refs += texts
    return out


def _other_cell(v: Any, start: str, c: int, styles, strings: _Strings) -> str:
    if isinstance(v, bool):
        return f'{start}"{styles[(BOOL, None)][c]} t="b"><v>{int(v)}</v></c>'
    if isinstance(v, dt.datetime):
        return f'{start}"{styles[(DATETIME, None)][c]}><v>{_serial(v)}</v></c>'
    if isinstance(v, dt.date):
        return f'{start}"{styles[(DATE, None)][c]}><v>{_serial(v)}</v></c>'
    if isinstance(v, (int, float)):  # float, numpy and other number types
        number = float(v)
        if not math.isfinite(number):
            return ""
        shown = str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
        return f'{start}"{styles[(NUMBER, None)][c]}><v>{shown}</v></c>'
    text = str(v)
    i = strings.index.get(text)
    if i is None:
        i = strings.add(text)
    strings.refs += i is not None
    return f"{start}{_text_tail(styles[(TEXT, None)][c], i, text)}"


def _rows_xml(table: _Table, styles: dict[tuple[str, str | None], list[str]], strings: _Strings,
              rows: list[list[Any]] | None = None, first_row: int = 2) -> Iterator[str]:
    """The data rows (``table.rows``, or ``rows`` placed from sheet row ``first_row``) as sheet XML, in blocks of
    :data:`CHUNK_ROWS` rows (built column by column: faster)."""
    ncols = len(table.header)
    letters = [get_column_letter(c + 1) for c in range(ncols)]
    rows = table.rows if rows is None else rows
    for start in range(0, len(rows), CHUNK_ROWS):
        block = rows[start:start + CHUNK_ROWS]
        if set(map(len, block)) != {ncols}:
            block = [row if len(row) == ncols else [*row[:ncols], *[None] * (ncols - len(row))] for row in block]
        first = start + first_row
        rnums = list(map(str, range(first, first + len(block))))
        values = list(zip(*block, strict=True))
        cells = [_column_xml(values[c], rnums, c, letters[c], styles, table, strings) for c in range(ncols)]
        heads = _row_heads(values, first, table.wrap)
        yield "".join(map("".join, zip(heads, *cells, ["</row>"] * len(block), strict=True)))


def _text_of(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _split_sheet(xml: str, table: _Table) -> tuple[str, str, dict[tuple[str, str | None], list[str]]]:
    """The sheet XML before and after its data rows (the header row kept, the prototype rows dropped), and the
    prototypes' styles."""
    styles = _style_map(xml, table)
    start = xml.index("<sheetData>") + len("<sheetData>")
    end = xml.index("</sheetData>")
    first = _ROW_RE.search(xml, start)
    header = first.group(0) if first and first.start() < end else ""
    last = get_column_letter(max(len(table.header), 1))
    head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}{len(table.rows) + 1}"/>', xml[:start],
                  count=1)
    return head + header, xml[end:], styles


# ----------------------------------------------------------------------------------------------------------------------
# Zip members from pieces of deflate data
#
# A sheet is written as a sequence of pieces, each the raw deflate data of a fresh compressor ended with
# Z_SYNC_FLUSH: such a piece ends on a byte boundary, is not a final block and refers to nothing before it, so pieces
# made at different times (a block of rows cached by an earlier run, see :class:`RowBlocks`) concatenate into one
# valid deflate stream, closed by an empty final block. The member's CRC-32 is combined from the pieces' own
# (:func:`crc32_combine`), so a cached piece is never inflated again.


@dataclass(frozen=True)
class Piece:
    """Raw deflate data of ``size`` uncompressed bytes whose CRC-32 is ``crc`` (see above)."""

    data: bytes
    crc: int
    size: int


def deflate_piece(raw: bytes, level: int = 1) -> Piece:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return Piece(compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH), zlib.crc32(raw), len(raw))


_FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed codes: the end of a deflate stream
_CRC_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """``a * b`` modulo the CRC-32 polynomial (bit-reflected), as zlib's ``multmodp``."""
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table, p = [], 1 << 30  # x^1
    for _ in range(32):
        table.append(p)
        p = _multmodp(p, p)
    return table


_X2N = _x2n_table()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of ``A + B`` from ``crc32(A)``, ``crc32(B)`` and ``len(B)`` (zlib's ``crc32_combine``, which
    Python's zlib does not offer)."""
    p, k, n = 1 << 31, 3, len2  # x^(8 * len2) mod P, then times crc1
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return _multmodp(p, crc1) ^ crc2


@dataclass(frozen=True)
class ToKeep:
    """A block of sheet XML to compress like any other, whose piece is also handed to ``keep`` (to be cached)."""

    raw: bytes
    keep: Callable[[Piece], None]


def _deflate_kept(block: ToKeep, level: int) -> Piece:
    piece = deflate_piece(block.raw, level)
    block.keep(piece)
    return piece


def _deflated(blocks: Iterable[bytes | Piece | ToKeep], level: int = ROWS_LEVEL) -> Iterator[Piece]:
    """``blocks`` as pieces, in order: raw bytes are compressed on a thread of its own (zlib releases the GIL) while
    the next block is made, at most :data:`WRITE_AHEAD` waiting; pieces pass as they are.

    The thread needs the GIL for a moment between its steps; with the default switch interval (5 ms) it would wait that
    long each time while the caller makes rows, and fall behind. The interval is shortened meanwhile."""
    interval = sys.getswitchinterval()
    pending: collections.deque[Piece | concurrent.futures.Future[Piece]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="thidua-deflate") as pool:
        sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
        try:
            for block in blocks:
                if isinstance(block, Piece):
                    pending.append(block)
                elif isinstance(block, ToKeep):
                    pending.append(pool.submit(_deflate_kept, block, level))
                else:
                    pending.append(pool.submit(deflate_piece, block, level))
                while len(pending) > WRITE_AHEAD:
                    first = pending.popleft()
                    yield first if isinstance(first, Piece) else first.result()
            while pending:
                first = pending.popleft()
                yield first if isinstance(first, Piece) else first.result()
        finally:
            sys.setswitchinterval(interval)
            for left in pending:
                if not isinstance(left, Piece):
                    left.cancel()


def _dos_time(date_time: tuple[int, ...]) -> tuple[int, int]:
    year, month, day, hour, minute, second = date_time[:6]
    if year < 1980:
        year, month, day, hour, minute, second = 1980, 1, 1, 0, 0, 0
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


class _ZipOut:
    """A zip file of deflated members, each written from pieces (:class:`Piece`); no ZIP64 (a master is far below
    4 GB and 65,535 members)."""

    def __init__(self, fh: Any):
        self.fh = fh
        self.entries: list[tuple[bytes, int, int, int, int, int, int, int, int]] = []

    def write(self, info: zipfile.ZipInfo, pieces: Iterable[Piece]) -> None:
        name = info.filename.encode("utf-8")
        flags = 0 if name.isascii() else 0x800
        dos_time, dos_date = _dos_time(info.date_time)
        offset = self.fh.tell()
        self.fh.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, zipfile.ZIP_DEFLATED, dos_time, dos_date,
                                  0, 0, 0, len(name), 0) + name)
        crc = size = compressed = 0
        for piece in pieces:
            self.fh.write(piece.data)
            crc = crc32_combine(crc, piece.crc, piece.size)
            size += piece.size
            compressed += len(piece.data)
        self.fh.write(_FINAL_BLOCK)
        compressed += len(_FINAL_BLOCK)
        if max(size, compressed, offset) >= 0xFFFFFFFF:
            raise ThiDuaError("Lỗi nội bộ: tệp tổng hợp vượt quá 4 GB.")
        end = self.fh.tell()
        self.fh.seek(offset + 14)
        self.fh.write(struct.pack("<3L", crc, compressed, size))
        self.fh.seek(end)
        self.entries.append((name, flags, dos_time, dos_date, crc, compressed, size, offset, info.external_attr))

    def close(self) -> None:
        start = self.fh.tell()
        for name, flags, dos_time, dos_date, crc, compressed, size, offset, external in self.entries:
            self.fh.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, flags, zipfile.ZIP_DEFLATED, dos_time,
                                      dos_date, crc, compressed, size, len(name), 0, 0, 0, 0, external, offset) + name)
        length = self.fh.tell() - start
        count = len(self.entries)
        self.fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, length, start, 0))


class Renderer:
    """What a :class:`RowBlocks` gets to make its blocks: ``render(rows, first_row)`` -> (sheet XML of the rows as
    bytes, the number of shared-string references in it), made against the base of the string table only
    (:class:`BaseStrings`; any other text inline), so that the bytes stay valid in any later file with the same base;
    ``key``: everything besides the rows and their place that the bytes depend on (the columns' styles and kinds, the
    base of the string table); ``add_refs(n)``: count the references of a block taken from a cache."""

    def __init__(self, table: _Table, styles: dict[tuple[str, str | None], list[str]], strings: _Strings):
        self.table, self.styles, self.strings = table, styles, strings
        digest = hashlib.sha256(repr((sorted(styles.items(), key=repr), table.header, sorted(table.text_columns),
                                      sorted(table.fills.items()), sorted(table.wrap.items()))).encode("utf-8"))
        digest.update(strings.base_digest.encode("ascii"))
        self.key = digest.hexdigest()

    def render(self, rows: list[list[Any]], first_row: int) -> tuple[bytes, int]:
        view = self.strings.frozen()
        xml = "".join(_rows_xml(self.table, self.styles, view, rows, first_row))
        self.strings.refs += view.refs
        return xml.encode("utf-8", "replace"), view.refs

    def add_refs(self, n: int) -> None:
        self.strings.refs += n

    def portable(self) -> Renderer:
        """A copy that renders the same bytes and pickles small: the table without its rows, the string table's base
        alone (what :meth:`render` reads), for another process (:mod:`thidua.blockwork`)."""
        copy_ = Renderer.__new__(Renderer)
        copy_.table = replace(self.table, rows=[])
        copy_.styles, copy_.strings, copy_.key = self.styles, self.strings.frozen(), self.key
        return copy_


class RowBlocks(Protocol):
    """The rows of a table made in blocks, some possibly taken from a cache (:meth:`OpenpyxlSink.write_table` takes
    one in place of a list of rows). ``len()`` is the number of rows; ``blocks(renderer)`` yields, in order, each block
    as sheet XML bytes or as a :class:`Piece` of deflate data, made with ``renderer`` (:class:`Renderer`)."""

    def __len__(self) -> int: ...

    def blocks(self, renderer: Renderer) -> Iterator[bytes | Piece | ToKeep]: ...

    # Optional: ``start(renderer)``, called with the renderer that ``blocks`` will get, before any member of the file
    # is written (another process may begin rendering blocks then: thidua.blockwork)


def _sheet_blocks(head: str, tail: str, table: _Table, styles: dict[tuple[str, str | None], list[str]],
                  strings: _Strings) -> Iterator[bytes]:
    """A sheet whose rows are a list, its rows rendered here (adding their text to ``strings``)."""
    yield head.encode("utf-8")
    for chunk in _rows_xml(table, styles, strings):
        yield chunk.encode("utf-8", "replace")
    yield tail.encode("utf-8")


def _blocks_of(head: str, tail: str, rows: RowBlocks, renderer: Renderer) -> Iterator[bytes | Piece | ToKeep]:
    """A sheet whose rows come in blocks (:class:`RowBlocks`)."""
    yield head.encode("utf-8")
    yield from rows.blocks(renderer)
    yield tail.encode("utf-8")


def _patch_package(buf: io.BytesIO, dest: Path, tables: dict[str, _Table], base: Iterable[str] = ()) -> None:
    """Copy the package openpyxl wrote into ``dest``, with the data rows of ``tables`` streamed into their sheets and
    their text into a shared-string table that starts with ``base``."""
    buf.seek(0)
    with zipfile.ZipFile(buf) as zin:
        parts = {_sheet_parts(zin)[sheet]: table for sheet, table in tables.items()}
        names = zin.namelist()
        strings = _Strings(base)
        sst, types, rels = "xl/sharedStrings.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"
        if sst in names:  # openpyxl 3.1 writes its strings inline: a table of its own is not expected
            raise ThiDuaError("Lỗi nội bộ: sổ đã có bảng chuỗi dùng chung (sharedStrings.xml).")
        ct_xml, rels_xml = _add_sst_part(zin.read(types).decode("utf-8"), zin.read(rels).decode("utf-8"))
        patched = {types: ct_xml.encode("utf-8"), rels: rels_xml.encode("utf-8")}
        infos = zin.infolist()
        # Made before any member is written, in this order: the renderer of each sheet whose rows come in blocks (a
        # helper process may render some of them: it is asked now, RowBlocks.start), then every sheet written from
        # a list of rows, while it renders. The bytes are those of writing each member in turn: the blocks are
        # rendered against the base of the string table alone, so the other sheets' strings enter the table in the
        # same order either way.
        blocked: dict[str, tuple[str, str, Renderer]] = {}
        for info in infos:
            table = parts.get(info.filename)
            if table is not None and not isinstance(table.rows, list):
                head, tail, styles = _split_sheet(zin.read(info.filename).decode("utf-8"), table)
                renderer = Renderer(table, styles, strings)
                blocked[info.filename] = (head, tail, renderer)
                start = getattr(table.rows, "start", None)
                if start is not None:
                    start(renderer)
        made: dict[str, list[Piece]] = {}
        for info in infos:
            table = parts.get(info.filename)
            if table is not None and isinstance(table.rows, list):
                head, tail, styles = _split_sheet(zin.read(info.filename).decode("utf-8"), table)
                made[info.filename] = list(_deflated(_sheet_blocks(head, tail, table, styles, strings)))
        with open(dest, "wb") as fh:
            out = _ZipOut(fh)
            for info in infos:
                if info.filename in made:
                    out.write(info, made.pop(info.filename))
                elif info.filename in blocked:
                    head, tail, renderer = blocked[info.filename]
                    out.write(info, _deflated(_blocks_of(head, tail, parts[info.filename].rows, renderer)))
                else:
                    data = patched.get(info.filename)
                    out.write(info, [deflate_piece(zin.read(info.filename) if data is None else data, 6)])
            sst_info = zipfile.ZipInfo(sst, date_time=infos[0].date_time if infos else (1980, 1, 1, 0, 0, 0))
            out.write(sst_info, [deflate_piece(strings.render().encode("utf-8", "replace"), 6)])
            out.close()
