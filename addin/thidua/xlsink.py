"""The live sink: :class:`thidua.sink.SheetSink` over xlwings, writing into the workbook open in Excel.

Same contract as :class:`thidua.sink.OpenpyxlSink` (see :mod:`thidua.sink`), adapted to a live workbook:

- a table's sheet is cleared and reused (never deleted: its VBA code name and position stay), or added at the end;
- all values of a table go to Excel in **one** bulk write (``sheet.range("A1").value = [header, *rows]``); a COM call
  per cell would take minutes on a master sheet;
- every string is sent with a leading apostrophe, Excel's prefix character, so that it is stored as text (a unit's
  note "=HYPERLINK(…)", "1.234" or "01/02" never becomes a formula, a number or a date); the apostrophe is not part
  of the cell's value;
- formatting goes per column or per range (widths, number formats, date columns, header style, fills as conditional
  formats), never per cell. Formatting that only the Windows object model offers (frozen panes, filter buttons, print
  setup, chart title) is best effort: if it fails, the data is still written.

This module imports no xlwings itself: it is handed an ``xlwings.Book``, so the tests drive it with a fake book.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .layout import col_letter

log = logging.getLogger(__name__)

HEADER_FILL = "#DDEBF7"
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
TEXT_PREFIX = "'"
XL_LANDSCAPE, XL_PAPER_A4 = 2, 9


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _text_of(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_value(value: Any, as_text: bool = False) -> Any:
    """The value to hand to Excel for one cell (see the module docstring)."""
    if _missing(value):
        return None
    if as_text and not isinstance(value, str):
        value = _text_of(value)
    if isinstance(value, str):
        return TEXT_PREFIX + value if value else None
    if isinstance(value, bool):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return cell_value(value.item(), as_text)
    return TEXT_PREFIX + str(value)


def _best_effort(what: str, action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception as exc:  # cosmetic formatting only: never lose the data for it
        log.info("xlsink: %s skipped (%s: %s)", what, type(exc).__name__, exc)


class XlwingsSink:
    """Live sink over an ``xlwings.Book`` (see the module docstring)."""

    def __init__(self, book: Any):
        self.book = book
        self.rows: dict[str, int] = {}  # sheet -> data rows written (for charts)

    def _sheet(self, name: str) -> Any:
        sheets = self.book.sheets
        if name in [s.name for s in sheets]:
            sheet = sheets[name]
            for chart in list(sheet.charts):
                chart.delete()
            _best_effort("autofilter off", lambda: setattr(sheet.api, "AutoFilterMode", False))
            sheet.clear()
            return sheet
        return sheets.add(name, after=sheets[len(sheets) - 1])

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
        ncols = len(header)
        text_cols = frozenset(text_columns)
        values = [[cell_value(h, True) for h in header]]
        date_cols: dict[int, str] = {}
        for row in rows:
            out = []
            for c in range(ncols):
                value = row[c] if c < len(row) else None
                out.append(cell_value(value, c in text_cols))
                if c not in text_cols and isinstance(value, dt.date) and c not in date_cols:
                    date_cols[c] = DATETIME_FORMAT if isinstance(value, dt.datetime) else DATE_FORMAT
            values.append(out)
        sheet = self._sheet(sheet_name)
        last_row, last_col = len(rows) + 1, col_letter(max(ncols, 1) - 1)
        formats = {**{c: f for c, f in (number_formats or {}).items() if c not in text_cols}, **date_cols}
        if rows:
            for c, number_format in sorted(formats.items()):
                letter = col_letter(c)
                sheet.range(f"{letter}2:{letter}{last_row}").number_format = number_format
        sheet.range("A1").value = values  # the one bulk write of the table
        head = sheet.range(f"A1:{last_col}1")
        head.font.bold = True
        head.color = HEADER_FILL
        _best_effort("header wrap", lambda: setattr(head.api, "WrapText", True))
        for c, width in enumerate(widths or []):
            if c < ncols:
                sheet.range(f"{col_letter(c)}1").column_width = width
        if rows and fills:
            body = sheet.range(f"A2:{last_col}{last_row}")
            for text, colour in fills.items():
                formula = '="' + text.replace('"', '""') + '"'
                _best_effort("fill", lambda f=formula, c=colour: body.conditional_formats.add_cell_value(
                    "equal_to", f, fill_color="#" + c.lstrip("#")))
        if freeze:
            _best_effort("frozen panes", lambda: self._freeze(sheet, freeze))
        if autofilter and ncols:
            _best_effort("autofilter", lambda: sheet.range(f"A1:{last_col}{last_row}").api.AutoFilter(1))
        _best_effort("print setup", lambda: self._print_setup(sheet, title))
        self.rows[sheet_name] = len(rows)

    def _freeze(self, sheet: Any, cell: str) -> None:
        """Freeze the rows above and the columns left of ``cell`` (Windows object model)."""
        match = re.fullmatch(r"([A-Z]+)(\d+)", cell.upper())
        if not match:
            return
        col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(match[1]))) - 1
        sheet.activate()
        window = self.book.app.api.ActiveWindow
        window.FreezePanes = False
        window.SplitColumn = col
        window.SplitRow = int(match[2]) - 1
        window.FreezePanes = True

    @staticmethod
    def _print_setup(sheet: Any, title: str | None) -> None:
        setup = sheet.api.PageSetup
        setup.Orientation = XL_LANDSCAPE
        setup.PaperSize = XL_PAPER_A4
        setup.PrintTitleRows = "$1:$1"
        setup.Zoom = False
        setup.FitToPagesWide = 1
        setup.FitToPagesTall = False
        if title:
            setup.CenterHeader = title.replace("&", "&&")
        setup.CenterFooter = "Trang &P/&N"

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
        if last_row < first_row:
            return
        sheet = self.book.sheets[sheet_name]
        top_left = sheet.range(anchor)
        height = max(220.0, 14.0 * (last_row - first_row + 1) + 90)
        chart = sheet.charts.add(left=top_left.left, top=top_left.top, width=620, height=height)
        cat, val = col_letter(categories), col_letter(values)
        first, last = first_row + 2, last_row + 2
        chart.chart_type = "bar_clustered"
        chart.set_source_data(sheet.range(f"{cat}{first}:{cat}{last},{val}{first}:{val}{last}"))

        def titles() -> None:
            native = chart.api[1] if isinstance(chart.api, tuple) else chart.api
            native.HasTitle = True
            native.ChartTitle.Text = title
            native.HasLegend = False

        _best_effort("chart title", titles)

    def save(self) -> Path | None:
        """Nothing to do: the secretary saves the open workbook herself (Excel keeps it unsaved until then)."""
        return None
