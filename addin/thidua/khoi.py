"""One level up: the emulation cluster (Khối thi đua) rolls up its member departments' report appendices.

Sở Xây dựng, as cluster lead, collects each member department's appendix (.xlsx written by :mod:`thidua.appendix`),
and :func:`consolidate_khoi` checks each one's stamp (period, catalogue, checksum) and adds them up: one row per
department with its units' attainment per target and the sums of every count figure. Problems are findings, never
exceptions: an appendix of another period, of another catalogue, edited after it was made, or unreadable is left out
and reported; an older catalogue version or a second appendix of the same department is a warning.

Finding codes (see docs/appendix.md): ``E-PHULUC-*`` from reading an appendix, ``E-KHOI-PERIOD``,
``E-KHOI-CATALOGUE``, ``W-KHOI-VERSION``, ``W-KHOI-DUPLICATE``, ``W-KHOI-KIND``, ``E-KHOI-EMPTY``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from . import __version__
from .appendix import MET_VI, Appendix, canonical, read_appendix
from .atomic import atomic_path
from .catalogue import Catalogue
from .findings import ERROR, SEVERITY_VI, WARNING, Finding
from .model import LATE, MISSING, ON_TIME, REJECTED, STATUS_VI
from .period import Period
from .report_text import KIND_VI, clean_text, fmt_int, pct

SHEET_SUMMARY = "Tổng hợp Khối"
SHEET_UNITS = "Chi tiết đơn vị"
SHEET_FINDINGS = "Kết quả kiểm tra"
STAMP_SHEET = "_thidua_khoi"
STAMP_KIND = "thidua-khoi"
TOTAL_LABEL = "Toàn Khối"


@dataclass
class KhoiResult:
    """What one roll-up saw and produced."""

    period: Period
    table: pd.DataFrame
    units: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    used: list[Appendix] = field(default_factory=list)
    left_out: list[Path] = field(default_factory=list)
    out: Path | None = None

    @property
    def has_errors(self) -> bool:
        return any(f.severity == ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": str(self.period),
            "departments": json.loads(self.table.to_json(orient="records", force_ascii=False)),
            "used": [str(a.path) for a in self.used],
            "left_out": [str(p) for p in self.left_out],
            "findings": [f.to_dict() for f in self.findings],
            "out": str(self.out) if self.out else None,
        }


def _finding(path: Path, code: str, severity: str, message: str, value: Any = None) -> Finding:
    return Finding(code, severity, message, str(path), None, None, None, value)


def _target_keys(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c.startswith("T") and c[1:].isdigit()]


def _figure_keys(cat: Catalogue, appendices: list[Appendix]) -> list[str]:
    """Every ``code|column`` key: the catalogue's order first, then keys only some appendices have."""
    keys = [f"{i.code}|{c}" for i in cat.indicators if i.kind == "count" for c in i.periods]
    for a in appendices:
        keys += [c for c in a.columns if "|" in c and c not in keys]
    return keys


def _check(appendix: Appendix, period: Period, cat: Catalogue) -> list[Finding]:
    s = appendix.stamp
    out: list[Finding] = []
    if str(s.get("period")) != str(period):
        out.append(_finding(
            appendix.path, "E-KHOI-PERIOD", ERROR,
            f"Phụ lục của {s.get('department')} là của kỳ {s.get('period')}, không phải kỳ đang tổng hợp {period}: "
            "không đưa vào tổng hợp. Đề nghị cơ quan gửi phụ lục đúng kỳ.", s.get("period")))
    if str(s.get("catalogue_id")) != cat.id:
        out.append(_finding(
            appendix.path, "E-KHOI-CATALOGUE", ERROR,
            f"Phụ lục của {s.get('department')} lập theo danh mục “{s.get('catalogue_id')}”, khác danh mục của Khối "
            f"“{cat.id}”: các chỉ tiêu không so sánh được, không đưa vào tổng hợp.", s.get("catalogue_id")))
    elif str(s.get("catalogue_version")) != cat.version:
        out.append(_finding(
            appendix.path, "W-KHOI-VERSION", WARNING,
            f"Phụ lục của {s.get('department')} lập theo danh mục phiên bản {s.get('catalogue_version')}, khác phiên "
            f"bản {cat.version}: vẫn tổng hợp theo mã chỉ tiêu; chỉ tiêu không có trong phụ lục để trống.",
            s.get("catalogue_version")))
    return out


def roll_up(appendix_paths: Iterable[Path | str], period: Period | str, catalogue: Catalogue) -> KhoiResult:
    """Read and check every appendix, keep the usable ones and add them up (nothing is written)."""
    period = period if isinstance(period, Period) else Period.parse(str(period))
    findings: list[Finding] = []
    accepted: list[Appendix] = []
    left_out: list[Path] = []
    for path in appendix_paths:
        appendix = read_appendix(path)
        problems = appendix.findings + (_check(appendix, period, catalogue) if appendix.stamp.get("kind") and
                                        appendix.ok else [])
        findings += problems
        if any(f.severity == ERROR for f in problems):
            left_out.append(appendix.path)
        else:
            accepted.append(appendix)

    # One appendix per department: the one generated last wins.
    by_dept: dict[str, Appendix] = {}
    for a in accepted:
        key = str(a.stamp.get("department_code") or a.stamp.get("department"))
        other = by_dept.get(key)
        if other is None:
            by_dept[key] = a
            continue
        newer, older = (a, other) if str(a.stamp.get("generated_at")) >= str(other.stamp.get("generated_at")) \
            else (other, a)
        by_dept[key] = newer
        left_out.append(older.path)
        findings.append(_finding(
            older.path, "W-KHOI-DUPLICATE", WARNING,
            f"Có hai phụ lục của {older.stamp.get('department')} cho kỳ {period}: dùng tệp lập sau "
            f"({newer.path.name}, lúc {newer.stamp.get('generated_at')}), bỏ tệp này.", key))
    used = list(by_dept.values())
    kinds = {str(a.stamp.get("report_kind")) for a in used}
    if len(kinds) > 1:
        for a in used:
            findings.append(_finding(
                a.path, "W-KHOI-KIND", WARNING,
                f"Các phụ lục không cùng loại báo cáo ({', '.join(sorted(KIND_VI.get(k, k) for k in kinds))}); phụ lục "
                f"này là {KIND_VI.get(str(a.stamp.get('report_kind')), a.stamp.get('report_kind'))}.",
                a.stamp.get("report_kind")))
    if not used:
        findings.append(_finding(Path("."), "E-KHOI-EMPTY", ERROR,
                                 f"Không có phụ lục hợp lệ nào của kỳ {period} để tổng hợp."))
    table, units = _tables(used, catalogue)
    return KhoiResult(period, table, units, findings, used, left_out)


def _tables(used: list[Appendix], cat: Catalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    targets = [f"T{t.number}" for t in cat.targets]
    figures = _figure_keys(cat, used)
    summary, unit_rows = [], []
    for a in used:
        s = a.stamp
        statuses = [r.get("status") for r in a.rows]
        row: dict[str, Any] = {
            "department": s.get("department"),
            "department_code": s.get("department_code"),
            "period": s.get("period"),
            "report_kind": s.get("report_kind"),
            "catalogue_version": s.get("catalogue_version"),
            "file": a.path.name,
            "units": len(a.rows),
            "on_time": statuses.count(STATUS_VI[ON_TIME]),
            "late": statuses.count(STATUS_VI[LATE]),
            "missing": statuses.count(STATUS_VI[MISSING]),
            "rejected": statuses.count(STATUS_VI[REJECTED]),
        }
        for t in targets:
            met = sum(r.get(t) == MET_VI for r in a.rows)
            row[f"{t}_met"] = met
            row[f"{t}_pct"] = round(pct(met, len(a.rows)), 1) if a.rows else None
        row["avg_pct"] = round(sum(row[f"{t}_pct"] or 0 for t in targets) / len(targets), 1) if a.rows else None
        for key in figures:
            values = [r.get(key) for r in a.rows if isinstance(r.get(key), int)]
            row[key] = sum(values) if values else None
        summary.append(row)
        for r in a.rows:
            unit_rows.append({"department": s.get("department"), "department_code": s.get("department_code"),
                              **{k: r.get(k) for k in a.columns}})
    return pd.DataFrame(summary), pd.DataFrame(unit_rows)


def consolidate_khoi(
    appendix_paths: Iterable[Path | str],
    period: Period | str,
    catalogue: Catalogue,
    out: Path | str | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Roll up the member departments' appendices of ``period``: (one row per department, findings). With ``out``,
    also write the cluster master .xlsx there (atomically)."""
    result = roll_up(appendix_paths, period, catalogue)
    if out is not None:
        write_khoi_master(result, catalogue, Path(out))
    return result.table, result.findings


# ----------------------------------------------------------------------------------------------------------------------
# The cluster master workbook


SUMMARY_HEADINGS = {
    "department": "Cơ quan",
    "department_code": "Mã",
    "report_kind": "Loại báo cáo",
    "units": "Số phòng, đơn vị",
    "on_time": "Nộp đúng hạn",
    "late": "Nộp trễ hạn",
    "missing": "Chưa nộp",
    "rejected": "Bị trả lại",
    "avg_pct": "Tỷ lệ đạt bình quân (%)",
}


def _summary_columns(result: KhoiResult, cat: Catalogue) -> list[tuple[str, str]]:
    cols = [(k, SUMMARY_HEADINGS[k]) for k in ("department", "department_code", "report_kind", "units", "on_time",
                                              "late", "missing", "rejected")]
    for t in cat.targets:
        cols.append((f"T{t.number}_met", f"Nội dung {t.number}: số đơn vị đạt"))
        cols.append((f"T{t.number}_pct", f"Nội dung {t.number}: tỷ lệ (%)"))
    cols.append(("avg_pct", SUMMARY_HEADINGS["avg_pct"]))
    names = {f"{i.code}|{c}": f"{i.code}. {i.name} ({'tháng' if c == 'month' else 'lũy kế'})"
             for i in cat.indicators for c in i.periods}
    for key in _figure_keys(cat, result.used):
        cols.append((key, names.get(key, key)))
    return cols


def _write(ws, row: int, col: int, value: Any, fmt=None) -> None:
    value = canonical(value) if not isinstance(value, float) else (None if value != value else value)
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt)
    else:
        ws.write_string(row, col, clean_text(value), fmt)


def write_khoi_master(result: KhoiResult, cat: Catalogue, out: Path) -> Path:
    """The cluster master: summary per department with a cluster total, every unit row, the findings, a stamp."""
    out = Path(out)
    org = cat.organisation(result.period.last_day)
    cols = _summary_columns(result, cat)
    with atomic_path(out) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                            "strings_to_numbers": False})
        base = {"font_name": "Times New Roman", "font_size": 11}
        f_title = wb.add_format({**base, "bold": True, "font_size": 13})
        f_head = wb.add_format({**base, "bold": True, "text_wrap": True, "align": "center", "valign": "vcenter",
                                "border": 1, "bg_color": "#DDEBF7"})
        f_cell = wb.add_format({**base, "border": 1, "valign": "top", "text_wrap": True})
        f_num = wb.add_format({**base, "border": 1, "valign": "top", "num_format": "#,##0.##"})
        f_total = wb.add_format({**base, "border": 1, "bold": True, "num_format": "#,##0.##"})

        ws = wb.add_worksheet(SHEET_SUMMARY)
        ws.write_string(0, 0, f"TỔNG HỢP KẾT QUẢ PHONG TRÀO THI ĐUA CỦA {org.khoi_name.upper()}", f_title)
        ws.write_string(1, 0, f"Kỳ {result.period} — {len(result.used)} cơ quan; {len(result.left_out)} tệp không đưa "
                              "vào tổng hợp (xem trang “Kết quả kiểm tra”).")
        header = 3
        for c, (_key, label) in enumerate(cols):
            ws.write_string(header, c, label, f_head)
        ws.set_row(header, 75)
        records = result.table.to_dict("records") if len(result.table) else []
        for r, rec in enumerate(records, start=header + 1):
            for c, (key, _label) in enumerate(cols):
                value = rec.get(key)
                _write(ws, r, c, value, f_num if isinstance(value, (int, float)) else f_cell)
        total = header + 1 + len(records)
        ws.write_string(total, 0, TOTAL_LABEL, f_total)
        units_total = sum(int(rec.get("units") or 0) for rec in records)
        for c, (key, _label) in enumerate(cols):
            if c == 0:
                continue
            if key.endswith("_pct") and key.startswith("T"):
                met = sum(int(rec.get(key.replace("_pct", "_met")) or 0) for rec in records)
                _write(ws, total, c, round(pct(met, units_total), 1) if units_total else None, f_total)
            elif key == "avg_pct":
                vals = [sum(int(rec.get(f"T{t.number}_met") or 0) for rec in records) for t in cat.targets]
                avg = sum(pct(v, units_total) for v in vals) / len(vals) if units_total and vals else None
                _write(ws, total, c, round(avg, 1) if avg is not None else None, f_total)
            elif key in ("department_code", "report_kind"):
                ws.write_blank(total, c, None, f_total)
            else:
                nums = [rec.get(key) for rec in records if isinstance(rec.get(key), (int, float))
                        and rec.get(key) == rec.get(key)]
                _write(ws, total, c, int(sum(nums)) if nums else None, f_total)
        ws.set_column(0, 0, 34)
        ws.set_column(1, len(cols) - 1, 12)
        ws.freeze_panes(header + 1, 1)

        wu = wb.add_worksheet(SHEET_UNITS)
        ucols = list(result.units.columns) if len(result.units) else ["department"]
        for c, key in enumerate(ucols):
            wu.write_string(0, c, key, f_head)
        for r, rec in enumerate(result.units.to_dict("records") if len(result.units) else [], start=1):
            for c, key in enumerate(ucols):
                value = rec.get(key)
                _write(wu, r, c, value, f_num if isinstance(value, (int, float)) else f_cell)
        wu.set_column(0, 0, 28)
        wu.set_column(3, 4, 30)
        wu.freeze_panes(1, 0)

        wf = wb.add_worksheet(SHEET_FINDINGS)
        for c, text in enumerate(("Tệp", "Mã", "Mức độ", "Nội dung", "Giá trị")):
            wf.write_string(0, c, text, f_head)
        for r, f in enumerate(result.findings, start=1):
            for c, value in enumerate((Path(f.file).name, f.code, SEVERITY_VI.get(f.severity, f.severity), f.message,
                                       None if f.value is None else str(f.value))):
                _write(wf, r, c, value, f_cell)
        if not result.findings:
            wf.write_string(1, 0, "Không có vấn đề nào.")
        wf.set_column(0, 0, 34)
        wf.set_column(1, 2, 18)
        wf.set_column(3, 3, 90)
        wf.set_column(4, 4, 14)

        st = wb.add_worksheet(STAMP_SHEET)
        stamp = {
            "schema": "1", "kind": STAMP_KIND, "khoi": org.khoi_name, "period": str(result.period),
            "catalogue_id": cat.id, "catalogue_version": cat.version,
            "departments": json.dumps([a.stamp.get("department_code") for a in result.used], ensure_ascii=False),
            "files": json.dumps([a.path.name for a in result.used], ensure_ascii=False),
            "generated_at": dt.datetime.now().replace(microsecond=0).isoformat(),
            "generator": f"thidua {__version__}",
        }
        for r, (key, value) in enumerate(stamp.items()):
            st.write_string(r, 0, key)
            st.write_string(r, 1, str(value))
        st.hide()
        ws.activate()
        wb.close()
    result.out = out
    return out


def run_khoi(appendix_paths: Iterable[Path | str], period: Period | str, catalogue: Catalogue,
             out: Path | str) -> KhoiResult:
    """Roll up and write the cluster master at ``out``."""
    result = roll_up(appendix_paths, period, catalogue)
    write_khoi_master(result, catalogue, Path(out))
    return result


def run_khoi_cli(
    appendix_paths: Iterable[Path | str],
    period: Period,
    catalogue: Catalogue,
    out: Path | str,
    as_json: bool = False,
    say: Callable[[str], Any] = print,
    emit_json: Callable[[Any], Any] | None = None,
) -> int:
    """The CLI body shared by ``thidua khoi`` and ``thidua consolidate --level khoi``: roll up, write, tell; returns the
    exit status (0 done, 1 done but some appendices were left out or flagged as errors)."""
    from .guards import check_not_an_input

    check_not_an_input(Path(out), appendix_paths)  # the Khối workbook never replaces a member's appendix
    result = run_khoi(appendix_paths, period, catalogue, out)
    if as_json:
        (emit_json or (lambda d: print(json.dumps(d, ensure_ascii=False, indent=2, default=str))))(result.to_dict())
    else:
        say(f"Tổng hợp Khối kỳ {period}: {len(result.used)} cơ quan được tổng hợp, {len(result.left_out)} tệp bị loại.")
        for a in result.used:
            say(f"  • {a.stamp.get('department')} ({a.path.name}): {fmt_int(len(a.rows))} phòng, đơn vị")
        for f in result.findings:
            say(f"  [{SEVERITY_VI.get(f.severity, f.severity)}] {f.code} — {Path(f.file).name}: {f.message}")
        say(f"Bảng tổng hợp Khối: {result.out}")
    return 1 if result.has_errors else 0
