"""The report's appendix (.xlsx): unit × target attainment and every count figure, printable and machine-readable.

Layout (documented for other tools in docs/appendix.md):

- sheet ``Phụ lục``: title rows, the column headings on row :data:`HEADER_ROW`, one row per unit from
  :data:`FIRST_DATA_ROW`, then a "Tổng cộng" row that is not part of the data. The columns are those of the span's last
  month (status, Đạt/Không đạt per target, month and year-to-date figures) and, for a span of several months, the
  months each unit met each target (``T<n>:months`` of ``due_months``) and the span's totals (``<code>|span``);
- sheet ``Tình hình nộp``: the submission grid, January to the span's last month;
- hidden sheet ``_thidua_phuluc``: the stamp, key in column A and value in column B (department, period, span, kind,
  catalogue id and version, the column keys, the number of rows, and a SHA-256 checksum of the data).

Both visible sheets print on A4 landscape, fitted to the page width, heading rows repeated, page numbers in the footer;
no internal identifier is printed. Every string is written as a string (XlsxWriter ``write_string``; formula, URL and
number conversion off), so a unit's text that starts with "=" stays text. The file is written atomically.

This module reads the computed report (:mod:`thidua.report.wording`, :mod:`thidua.report.compute`); nothing in those
imports it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xlsxwriter

from .. import __version__
from ..atomic import atomic_path
from ..catalogue import Catalogue
from ..errors import ThiDuaError
from ..findings import ERROR, Finding
from ..model import MISSING, STATUS_VI
from ..period import MONTH
from ..report_text import KIND_VI, KINDS, clean_text, date_parts, fmt_int, pct
from .compute import PreviousYear, number
from .wording import Report, build_report

SHEET = "Phụ lục"
SHEET_STATUS = "Tình hình nộp"
STAMP_SHEET = "_thidua_phuluc"
STAMP_KIND = "thidua-phuluc"
STAMP_SCHEMA = "1"
HEADER_ROW = 5  # 1-based, as Excel shows it
FIRST_DATA_ROW = 6
MET_VI, NOT_MET_VI = "Đạt", "Không đạt"
#: Stamp fields covered by the checksum (with the column keys and the data rows).
CHECKED_FIELDS = ("department", "department_code", "period", "report_kind", "catalogue_id", "catalogue_version")
STATUS_FROM_VI = {v: k for k, v in STATUS_VI.items()}


@dataclass
class AppendixTable:
    columns: list[str]
    labels: list[str]
    rows: list[list[Any]]
    status_months: list[str] = field(default_factory=list)
    status_rows: list[list[Any]] = field(default_factory=list)


def canonical(value: Any) -> Any:
    """The value as the checksum sees it: integral numbers as int, text NFC-trimmed, empty as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return int(value) if value.is_integer() else round(value, 6)
    if isinstance(value, int):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def checksum(stamp: dict[str, Any], columns: list[str], rows: list[list[Any]]) -> str:
    payload = {
        **{k: canonical(stamp.get(k)) for k in CHECKED_FIELDS},
        "columns": list(columns),
        "rows": [[canonical(v) for v in row] for row in rows],
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_table(report: Report, cat: Catalogue) -> AppendixTable:
    """The appendix rows of a built report (one per unit, in the order of the report's units)."""
    fig = report.figures
    end = fig.views[-1]
    multi = fig.span.kind != MONTH
    counts = [(ind, col) for ind in cat.indicators if ind.kind == "count" for col in ind.periods]
    spans = [ind for ind in cat.indicators if ind.kind == "count" and "month" in ind.periods] if multi else []
    columns = ["stt", "unit_code", "unit_name", "status"] + [f"T{t.number}" for t in cat.targets] + ["targets_met"]
    labels = ["STT", "Mã đơn vị", "Tên phòng, đơn vị", f"Tình hình nộp báo cáo tháng {fig.period.month}"]
    labels += [f"Nội dung {t.number} (tháng {fig.period.month})" for t in cat.targets] + ["Số nội dung đạt"]
    columns.append("ytd_from")
    labels.append("Số liệu lũy kế lấy từ báo cáo tháng")
    if multi:
        columns += [f"T{t.number}:months" for t in cat.targets] + ["due_months"]
        labels += [f"Nội dung {t.number}: số tháng đạt" for t in cat.targets] + ["Số tháng của kỳ"]
    for ind, col in counts:
        columns.append(f"{ind.code}|{col}")
        when = f"tháng {fig.period.month}" if col == "month" else "lũy kế"
        labels.append(f"{ind.code}. {ind.name} ({when}, {ind.unit})")
    for ind in spans:
        columns.append(f"{ind.code}|span")
        labels.append(f"{ind.code}. {ind.name} (cả kỳ, {ind.unit})")
    span_sums = {ind.code: {u: sum(number(v.values.get((u, ind.code, "month"))) or 0 for v in fig.views)
                            for u in fig.units} for ind in spans}
    rows: list[list[Any]] = []
    for i, unit in enumerate(fig.units, start=1):
        reported = unit in end.reported
        marks = []
        for t in cat.targets:
            known = (unit, t.number) in end.met
            marks.append((MET_VI if end.met[(unit, t.number)] else NOT_MET_VI) if known else None)
        status = end.status.get(unit, MISSING)
        row: list[Any] = [i, unit, fig.name(unit), STATUS_VI.get(status, status)]
        row += [*marks, sum(m == MET_VI for m in marks), end.carried.get(unit)]
        if multi:
            row += [r.months_met[unit] for r in fig.targets] + [len(fig.due_views)]
        for ind, col in counts:
            # a carried-forward year-to-date figure is shown (the report's totals include it; docs/appendix.md)
            value = end.values.get((unit, ind.code, col)) if reported or col == "ytd" else None
            row.append(value if isinstance(value, int) and not isinstance(value, bool) else None)
        for ind in spans:
            row.append(span_sums[ind.code][unit])
        rows.append([(clean_text(v) or None) if isinstance(v, str) else v for v in row])
    d = fig.discipline
    status_rows = [[i, u, fig.name(u)] + [STATUS_VI.get(st or "", "") for st in d.grid[u]]
                   for i, u in enumerate(fig.units, start=1)]
    return AppendixTable(columns, labels, rows, [f"Tháng {m.month}" for m in d.grid_months], status_rows)


def stamp_for(report: Report, cat: Catalogue, table: AppendixTable, generated_at: dt.datetime | None = None
              ) -> dict[str, Any]:
    org = report.org
    stamp: dict[str, Any] = {
        "schema": STAMP_SCHEMA,
        "kind": STAMP_KIND,
        "department": org.issuing_body_name,
        "department_code": org.doc_code,
        "parent_body": org.parent_body,
        "period": str(report.period),
        "span": str(report.span),
        "report_kind": report.kind,
        "catalogue_id": cat.id,
        "catalogue_version": cat.version,
        "titles_version": report.title_rules.version if report.title_rules else "",
        "generated_at": (generated_at or dt.datetime.now().replace(microsecond=0)).isoformat(),
        "generator": f"thidua {__version__}",
        "sheet": SHEET,
        "header_row": HEADER_ROW,
        "first_data_row": FIRST_DATA_ROW,
        "rows": len(table.rows),
        "columns": json.dumps(table.columns, ensure_ascii=False),
    }
    stamp["checksum"] = checksum(stamp, table.columns, table.rows)
    return stamp


def _write(ws, row: int, col: int, value: Any, fmt=None) -> None:
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool):
        ws.write_number(row, col, int(value), fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    else:
        ws.write_string(row, col, clean_text(value), fmt)


def _print_setup(ws, header_rows: int, last_col: int) -> None:
    """A4 landscape, fitted to the page width, the heading rows repeated on every page, page numbers in the footer."""
    ws.set_paper(9)
    ws.set_landscape()
    ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.6)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(header_rows - 1)
    ws.print_area(0, 0, ws.dim_rowmax or 0, last_col)
    ws.set_footer("&C&\"Times New Roman\"&10Trang &P/&N")
    ws.hide_gridlines(0)


def write_appendix(
    data: Any,
    cat: Catalogue,
    kind: str,
    out: Path | str,
    report: Report | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write the appendix of ``data`` (a PeriodData or SpanData; or the already built ``report``) to ``out``
    (atomically) and return its path."""
    if kind not in KINDS:
        raise ValueError(kind)
    out = Path(out)
    report = report or build_report(data, cat, kind)
    table = build_table(report, cat)
    stamp = stamp_for(report, cat, table, generated_at)
    org = report.org
    w = report.wording
    day, month, year = date_parts(report.report_date)
    number_text = report.office.report_number or str(w.get("document.number_placeholder"))
    caption = (f"(Kèm theo Báo cáo số {number_text}/{w.get('document.type_code')}-{org.doc_code} ngày {day} tháng "
               f"{month} năm {year} của {org.issuing_body_name})")
    with atomic_path(out) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                            "strings_to_numbers": False})
        base = {"font_name": "Times New Roman", "font_size": 11}
        f_title = wb.add_format({**base, "bold": True, "font_size": 13, "align": "center"})
        f_sub = wb.add_format({**base, "italic": True, "align": "center"})
        f_head = wb.add_format({**base, "bold": True, "text_wrap": True, "align": "center", "valign": "vcenter",
                                "border": 1, "bg_color": "#DDEBF7"})
        f_cell = wb.add_format({**base, "border": 1, "valign": "top"})
        f_text = wb.add_format({**base, "border": 1, "valign": "top", "text_wrap": True})
        f_num = wb.add_format({**base, "border": 1, "valign": "top", "num_format": "#,##0"})
        f_total = wb.add_format({**base, "border": 1, "bold": True, "num_format": "#,##0"})
        ws = wb.add_worksheet(SHEET)
        ncols = len(table.columns)
        width = min(ncols - 1, 14)
        ws.merge_range(0, 0, 0, width, "PHỤ LỤC", f_title)
        ws.merge_range(1, 0, 1, width, f"KẾT QUẢ THỰC HIỆN PHONG TRÀO THI ĐUA {report.span.label.upper()} CỦA CÁC "
                       f"PHÒNG, ĐƠN VỊ THUỘC {org.issuing_body_name.upper()}", f_title)
        ws.merge_range(2, 0, 2, width, caption, f_sub)
        ws.set_row(HEADER_ROW - 1, 90)
        for c, text in enumerate(table.labels):
            ws.write_string(HEADER_ROW - 1, c, text, f_head)
        for r, row in enumerate(table.rows):
            for c, value in enumerate(row):
                key = table.columns[c]
                fmt = f_text if key == "unit_name" else f_num if isinstance(value, int) else f_cell
                _write(ws, FIRST_DATA_ROW - 1 + r, c, value, fmt)
        total_row = FIRST_DATA_ROW - 1 + len(table.rows)
        ws.write_string(total_row, 2, "Tổng cộng", f_total)
        for c, key in enumerate(table.columns):
            values = [row[c] for row in table.rows]
            if key.startswith("T") and key[1:].isdigit():
                ws.write_string(total_row, c, f"{sum(v == MET_VI for v in values)}/{len(values)}", f_total)
            elif "|" in key or key in ("targets_met", "due_months") or key.endswith(":months"):
                ws.write_number(total_row, c, sum(v for v in values if isinstance(v, int)), f_total)
            elif c != 2:
                ws.write_blank(total_row, c, None, f_total)
        ws.set_column(0, 0, 5)
        ws.set_column(1, 1, 9)
        ws.set_column(2, 2, 30)
        ws.set_column(3, 3, 12)
        ws.set_column(4, ncols - 1, 10)
        ws.freeze_panes(FIRST_DATA_ROW - 1, 3)
        _print_setup(ws, HEADER_ROW, ncols - 1)

        wg = wb.add_worksheet(SHEET_STATUS)
        last = 2 + len(table.status_months)
        wg.merge_range(0, 0, 0, last, "TÌNH HÌNH GỬI BÁO CÁO HẰNG THÁNG CỦA CÁC PHÒNG, ĐƠN VỊ NĂM "
                       f"{report.span.year}", f_title)
        wg.merge_range(1, 0, 1, last, caption, f_sub)
        for c, text in enumerate(["STT", "Mã đơn vị", "Tên phòng, đơn vị", *table.status_months]):
            wg.write_string(3, c, text, f_head)
        for r, row in enumerate(table.status_rows, start=4):
            for c, value in enumerate(row):
                _write(wg, r, c, value, f_text if c == 2 else f_cell)
        wg.set_column(0, 0, 5)
        wg.set_column(1, 1, 9)
        wg.set_column(2, 2, 30)
        wg.set_column(3, last, 10)
        wg.freeze_panes(4, 3)
        _print_setup(wg, 4, last)

        st = wb.add_worksheet(STAMP_SHEET)
        for r, (key, value) in enumerate(stamp.items()):
            st.write_string(r, 0, key)
            _write(st, r, 1, value)
        st.hide()
        ws.activate()
        wb.close()
    return out


def previous_year_from_appendix(path: Path | str, cat: Catalogue) -> PreviousYear:
    """The previous year from its tổng kết appendix: the share of unit-months (or of units) meeting each target and the
    totals of its figure columns."""
    a = read_appendix(path)
    if not a.ok:
        raise ThiDuaError("Không dùng được phụ lục năm trước: " + "; ".join(f.message for f in a.findings))
    year = int(str(a.stamp.get("period", "0"))[:4] or 0)
    target_pct: dict[int, float] = {}
    for t in cat.targets:
        met_col = f"T{t.number}:months"
        if met_col in a.columns and "due_months" in a.columns:
            met = sum(number(r.get(met_col)) or 0 for r in a.rows)
            due = sum(number(r.get("due_months")) or 0 for r in a.rows)
            target_pct[t.number] = pct(met, due) if due else 0.0
        elif f"T{t.number}" in a.columns and a.rows:
            target_pct[t.number] = pct(sum(1 for r in a.rows if r.get(f"T{t.number}") == MET_VI), len(a.rows))
    figures: dict[str, float] = {}
    for col in a.columns:
        if "|" not in col:
            continue
        code, column = col.split("|", 1)
        key = code.replace(".", "_")
        if column == "span" or (column == "ytd" and key not in figures):
            figures[key] = sum(number(r.get(col)) or 0 for r in a.rows)
    return PreviousYear(year, str(path), target_pct, figures)


# ----------------------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class Appendix:
    path: Path
    stamp: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def period(self) -> str:
        return str(self.stamp.get("period", ""))


def _finding(path: Path, code: str, message: str, sheet: str | None = None, cell: str | None = None,
             value: Any = None, severity: str = ERROR) -> Finding:
    return Finding(code, severity, message, str(path), sheet, cell, None, value)


def read_appendix(path: Path | str) -> Appendix:
    """Read an appendix back: stamp, rows as dicts keyed by the stamp's column keys, and findings
    (``E-PHULUC-UNREADABLE``, ``E-PHULUC-STAMP``, ``E-PHULUC-SCHEMA``, ``E-PHULUC-SHEET``, ``E-PHULUC-LAYOUT``,
    ``E-PHULUC-CHECKSUM``; see docs/appendix.md). Never raises for a bad file."""
    from python_calamine import CalamineWorkbook

    from ..package import MAX_FILE_BYTES, inspect_package
    from ..rules import read_problem_title

    path = Path(path)
    result = Appendix(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"tệp lớn hơn {MAX_FILE_BYTES // 1_048_576} MB")
        data = path.read_bytes()
        check = inspect_package(data)  # bombs, DTDs, oversized sheets: refused before python-calamine parses
        if not check.ok:
            problem = check.problems[0]
            raise ValueError(read_problem_title(problem.code) + (f" ({problem.detail})" if problem.detail else ""))
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(wb.sheet_names)
    except BaseException as exc:  # any reader failure is a finding, not a crash (a calamine panic is a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        result.findings.append(_finding(path, "E-PHULUC-UNREADABLE", f"Không đọc được tệp phụ lục: {exc}"))
        return result
    if STAMP_SHEET not in names:
        result.findings.append(_finding(
            path, "E-PHULUC-STAMP",
            f"Tệp không có trang dấu “{STAMP_SHEET}”: không phải phụ lục do ThiDua tạo, hoặc đã bị lưu lại làm mất "
            "trang ẩn này. Đề nghị cơ quan gửi lại tệp phụ lục gốc."))
        return result
    for row in wb.get_sheet_by_name(STAMP_SHEET).to_python(skip_empty_area=False):
        if row and row[0] not in (None, ""):
            result.stamp[str(row[0])] = canonical(row[1]) if len(row) > 1 else None
    stamp = result.stamp
    if stamp.get("kind") != STAMP_KIND:
        result.findings.append(_finding(path, "E-PHULUC-STAMP", "Trang dấu không phải của phụ lục báo cáo ThiDua.",
                                        STAMP_SHEET, value=stamp.get("kind")))
        return result
    if str(stamp.get("schema")) != STAMP_SCHEMA:
        result.findings.append(_finding(
            path, "E-PHULUC-SCHEMA",
            f"Phụ lục theo cấu trúc phiên bản {stamp.get('schema')}, công cụ này đọc phiên bản {STAMP_SCHEMA}. "
            "Hãy dùng cùng phiên bản ThiDua.", STAMP_SHEET, value=stamp.get("schema")))
        return result
    sheet = str(stamp.get("sheet") or SHEET)
    if sheet not in names:
        result.findings.append(_finding(path, "E-PHULUC-SHEET", f"Không có trang “{sheet}”.", value=sheet))
        return result
    try:
        columns = json.loads(str(stamp.get("columns")))
        first = int(stamp.get("first_data_row") or FIRST_DATA_ROW)
        count = int(stamp.get("rows") or 0)
        if not isinstance(columns, list):
            raise ValueError("columns")
    except (ValueError, TypeError):
        result.findings.append(_finding(path, "E-PHULUC-LAYOUT", "Trang dấu bị hỏng (danh sách cột, số dòng).",
                                        STAMP_SHEET))
        return result
    grid = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    rows = []
    for r in range(first - 1, first - 1 + count):
        line = list(grid[r]) if r < len(grid) else []
        line += [None] * (len(columns) - len(line))
        rows.append([canonical(v) for v in line[: len(columns)]])
    result.columns = [str(c) for c in columns]
    result.rows = [dict(zip(result.columns, row, strict=True)) for row in rows]
    if checksum(stamp, result.columns, rows) != stamp.get("checksum"):
        result.findings.append(_finding(
            path, "E-PHULUC-CHECKSUM",
            "Số liệu của phụ lục không khớp mã kiểm tra: tệp đã bị sửa sau khi tạo. Đề nghị cơ quan gửi lại phụ lục "
            "gốc do ThiDua tạo (mọi điều chỉnh số liệu phải làm trên biểu của đơn vị rồi lập lại báo cáo).", sheet))
    return result


def describe(appendix: Appendix) -> str:
    """``Sở Giao thông vận tải — 2024-09 (Sơ kết), 9 đơn vị``."""
    s = appendix.stamp
    kind = KIND_VI.get(str(s.get("report_kind")), str(s.get("report_kind")))
    return f"{s.get('department')} — {s.get('period')} ({kind}), {fmt_int(len(appendix.rows))} đơn vị"
