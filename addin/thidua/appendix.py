"""The report's appendix (.xlsx): unit × target attainment and every count figure, in a machine-readable layout.

Layout (documented for other tools in docs/appendix.md):

- sheet ``Phụ lục``: title rows, the column headings on row :data:`HEADER_ROW`, one row per unit from
  :data:`FIRST_DATA_ROW`, then a "Tổng cộng" row that is not part of the data;
- sheet ``Danh hiệu`` (tổng kết only): one row per unit × title × criterion with the result and the reason;
- hidden sheet ``_thidua_phuluc``: the stamp, key in column A and value in column B (department, period, kind,
  catalogue id and version, the column keys, the number of rows, and a SHA-256 checksum of the data).

Every string is written as a string (XlsxWriter ``write_string`` with formula/URL/number conversion off), so a unit's
text that starts with "=" stays text. The file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlsxwriter

from . import __version__
from .atomic import atomic_path
from .catalogue import Catalogue, Organisation
from .findings import ERROR, Finding
from .model import MISSING, STATUS_VI, PeriodData
from .period import Period
from .report_text import KIND_VI, KINDS, TONG_KET, clean_text, fmt_int

if TYPE_CHECKING:
    from .report import Report

SHEET = "Phụ lục"
SHEET_TITLES = "Danh hiệu"
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
    title_rows: list[list[Any]] = field(default_factory=list)


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


def _target_number(value: Any) -> int | None:
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return int(digits) if digits else None


def build_table(data: PeriodData, cat: Catalogue, kind: str, report: Report | None = None) -> AppendixTable:
    """The appendix rows of ``data`` (one per unit, in the order of ``data.units``)."""
    from .report import Lookup

    look = Lookup(data, cat)
    counts = [(ind, col) for ind in cat.indicators if ind.kind == "count" for col in ind.periods]
    columns = ["stt", "unit_code", "unit_name", "status"] + [f"T{t.number}" for t in cat.targets] + ["targets_met"]
    labels = ["STT", "Mã đơn vị", "Tên phòng, đơn vị", "Tình hình nộp báo cáo"]
    labels += [f"Nội dung {t.number}" for t in cat.targets] + ["Số nội dung đạt"]
    for ind, col in counts:
        columns.append(f"{ind.code}|{col}")
        labels.append(f"{ind.code}. {ind.name} ({'tháng' if col == 'month' else 'lũy kế'}, {ind.unit})")
    titles = report.titles if report is not None and kind == TONG_KET else None
    if titles is not None and report is not None and report.title_rules is not None:
        columns.append("title_proposal")
        labels.append("Đề xuất danh hiệu")
        for title in report.title_rules.titles:
            columns.append(f"title:{title.code}")
            labels.append(f"Tiêu chuẩn “{title.name}”")

    status = {}
    frame = data.status
    if frame is not None and len(frame):
        for unit, per, st in frame[["unit", "period", "status"]].itertuples(index=False):
            if str(per) == str(data.period):
                status[str(unit)] = str(st)
    by_unit = {t.unit: t for t in titles} if titles else {}
    rows: list[list[Any]] = []
    for i, unit in enumerate(look.units, start=1):
        reported = unit in look.reported
        marks = []
        for t in cat.targets:
            known = (unit, t.number) in look.met
            marks.append((MET_VI if look.met[(unit, t.number)] else NOT_MET_VI) if known else None)
        row: list[Any] = [i, unit, look.name(unit), STATUS_VI.get(status.get(unit, MISSING), status.get(unit))]
        row += [*marks, sum(m == MET_VI for m in marks)]
        for ind, col in counts:
            value = look.value(unit, ind.code, col) if reported else None
            row.append(value if isinstance(value, int) and not isinstance(value, bool) else None)
        if titles is not None and report is not None and report.title_rules is not None:
            ut = by_unit.get(unit)
            row.append(ut.proposal_text if ut else None)
            for title in report.title_rules.titles:
                row.append(ut.result(title.code).status_vi if ut else None)
        rows.append([(clean_text(v) or None) if isinstance(v, str) else v for v in row])

    title_rows: list[list[Any]] = []
    if titles:
        for ut in titles:
            for res in ut.results:
                for c in res.criteria:
                    title_rows.append([ut.unit, ut.name, res.title.name, c.criterion.code, c.criterion.text,
                                       c.status_vi, c.reason, c.criterion.reference])
    return AppendixTable(columns, labels, rows, title_rows)


def _org(cat: Catalogue, period: Period, report: Report | None) -> Organisation:
    return report.org if report is not None else cat.organisation(period.last_day)


def stamp_for(data: PeriodData, cat: Catalogue, kind: str, table: AppendixTable, report: Report | None = None,
              generated_at: dt.datetime | None = None) -> dict[str, Any]:
    org = _org(cat, data.period, report)
    stamp: dict[str, Any] = {
        "schema": STAMP_SCHEMA,
        "kind": STAMP_KIND,
        "department": org.issuing_body_name,
        "department_code": org.doc_code,
        "parent_body": org.parent_body,
        "period": str(data.period),
        "report_kind": kind,
        "catalogue_id": cat.id,
        "catalogue_version": cat.version,
        "titles_version": report.title_rules.version if report is not None and report.title_rules else "",
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


def write_appendix(
    data: PeriodData,
    cat: Catalogue,
    kind: str,
    out: Path | str,
    report: Report | None = None,
    generated_at: dt.datetime | None = None,
) -> Path:
    """Write the appendix of ``data`` to ``out`` (atomically) and return its path."""
    if kind not in KINDS:
        raise ValueError(kind)
    out = Path(out)
    table = build_table(data, cat, kind, report)
    stamp = stamp_for(data, cat, kind, table, report, generated_at)
    org = _org(cat, data.period, report)
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
        label = f"tháng {data.period.month} năm {data.period.year}" if kind != TONG_KET else f"năm {data.period.year}"
        ws.merge_range(0, 0, 0, min(ncols - 1, 12), "PHỤ LỤC", f_title)
        ws.merge_range(1, 0, 1, min(ncols - 1, 12),
                       f"Kết quả thực hiện phong trào thi đua {label} của các phòng, đơn vị thuộc "
                       f"{org.issuing_body_name}", f_title)
        ws.merge_range(2, 0, 2, min(ncols - 1, 12),
                       f"({KIND_VI[kind]} — kỳ {data.period}; danh mục {cat.id} phiên bản {cat.version})", f_sub)
        ws.set_row(HEADER_ROW - 1, 90)
        for c, text in enumerate(table.labels):
            ws.write_string(HEADER_ROW - 1, c, text, f_head)
        for r, row in enumerate(table.rows):
            for c, value in enumerate(row):
                key = table.columns[c]
                fmt = f_text if key in ("unit_name", "title_proposal") else f_num if isinstance(value, int) else f_cell
                _write(ws, FIRST_DATA_ROW - 1 + r, c, value, fmt)
        total_row = FIRST_DATA_ROW - 1 + len(table.rows)
        ws.write_string(total_row, 2, "Tổng cộng", f_total)
        for c, key in enumerate(table.columns):
            values = [row[c] for row in table.rows]
            if key.startswith("T") and key[1:].isdigit():
                ws.write_string(total_row, c, f"{sum(v == MET_VI for v in values)}/{len(values)}", f_total)
            elif "|" in key or key == "targets_met":
                ws.write_number(total_row, c, sum(v for v in values if isinstance(v, int)), f_total)
            elif c not in (2,):
                ws.write_blank(total_row, c, None, f_total)
        ws.set_column(0, 0, 5)
        ws.set_column(1, 1, 10)
        ws.set_column(2, 2, 34)
        ws.set_column(3, 3, 13)
        ws.set_column(4, 4 + len(cat.targets), 10)
        ws.set_column(5 + len(cat.targets), ncols - 1, 12)
        ws.freeze_panes(FIRST_DATA_ROW - 1, 3)

        if table.title_rows:
            wt = wb.add_worksheet(SHEET_TITLES)
            heads = ["Mã đơn vị", "Tên phòng, đơn vị", "Danh hiệu", "Mã tiêu chí", "Tiêu chí", "Kết quả",
                     "Căn cứ đánh giá", "Căn cứ pháp lý"]
            for c, text in enumerate(heads):
                wt.write_string(0, c, text, f_head)
            for r, row in enumerate(table.title_rows, start=1):
                for c, value in enumerate(row):
                    _write(wt, r, c, value, f_text)
            for c, width in enumerate((10, 30, 24, 10, 50, 14, 60, 40)):
                wt.set_column(c, c, width)
            wt.freeze_panes(1, 2)

        st = wb.add_worksheet(STAMP_SHEET)
        for r, (key, value) in enumerate(stamp.items()):
            st.write_string(r, 0, key)
            _write(st, r, 1, value)
        st.hide()
        ws.activate()
        wb.close()
    return out


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

    from .package import MAX_FILE_BYTES, inspect_package
    from .rules import read_problem_title

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
