"""The master sheets: one period's consolidated tables laid out for the secretary, written through a sink.

:func:`master_tables` turns a :class:`~thidua.model.PeriodData` into plain tables (header + rows of Python values);
:func:`write_master` hands them to any :class:`~thidua.sink.SheetSink` (a file via openpyxl, or the live workbook via
xlwings). Nothing here knows about a workbook library.

Sheets: "Tổng hợp" (every unit × target and indicator), "Theo nội dung" (attainment per target, totals, units that do
not meet it, with a chart), "Tình hình nộp" (unit × month submission status) and "Kết quả kiểm tra" (the findings).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from .catalogue import Catalogue
from .findings import SEVERITY_VI
from .model import DUE_STATUSES, FILE_STATUS_VI, STATUS_COLUMNS, STATUS_VI, PeriodData
from .period import Period
from .sink import SheetSink

SHEET_SUMMARY = "Tổng hợp"
SHEET_BY_TARGET = "Theo nội dung"
SHEET_STATUS = "Tình hình nộp"
SHEET_RECEIVED = "Tệp đã nhận"
SHEET_FINDINGS = "Kết quả kiểm tra"
MASTER_SHEETS = (SHEET_SUMMARY, SHEET_BY_TARGET, SHEET_STATUS, SHEET_RECEIVED, SHEET_FINDINGS)

STATUS_FILLS = {"Đúng hạn": "C6EFCE", "Trễ hạn": "FFEB9C", "Chưa nộp": "EDEDED", "Bị trả lại": "FFC7CE",
                "Chưa phát động": "FFFFFF"}
ROW_TARGET, ROW_INDICATOR, ROW_UNIT = "Nội dung", "Chỉ tiêu", "Đơn vị chưa đạt"


@dataclass
class Table:
    """One master sheet: the arguments of :meth:`SheetSink.write_table`."""

    sheet: str
    header: list[str]
    rows: list[list[Any]]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chart:
    sheet: str
    options: dict[str, Any]


def _clean(value: Any) -> Any:
    """pandas' missing markers as None."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return None if value != value else value
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _cols(frame: pd.DataFrame, *names: str) -> list[list[Any]]:
    """Columns of a table as plain lists (iterating lists is much faster than iterating Series)."""
    return [frame[name].tolist() for name in names]


def _unit_names(data: PeriodData, catalogue: Catalogue) -> dict[str, str]:
    names = {u.code: u.name for u in catalogue.units}
    return {code: names.get(code, "(không có trong danh sách đơn vị)") for code in data.units}


def summary_table(data: PeriodData, catalogue: Catalogue) -> Table:
    """"Tổng hợp": per unit with a current file, each target's row then its indicators' rows."""
    header = ["Mã đơn vị", "Tên đơn vị", "Nội dung", "Mã chỉ tiêu", "Tên nội dung / chỉ tiêu", "Đơn vị tính",
              "Tháng báo cáo", "Lũy kế từ đầu năm", "Tự đánh giá nội dung", "Giải trình / ghi chú", "Tệp nguồn",
              "Ô nguồn"]
    # Per unit: indicator code -> [month, ytd, note], each (value, cell, file) or None
    cells: dict[str, dict[str, list[Any]]] = {}
    slot = {"month": 0, "ytd": 1, "note": 2}
    v = data.values
    last_unit: Any = object()
    by_code: dict[str, list[Any]] = {}
    for unit, code, column, value, cell, file in zip(*_cols(v, "unit", "code", "column", "value", "cell", "file"),
                                                     strict=True):
        i = slot.get(column)
        if i is None:
            continue
        if unit is not last_unit:  # a unit's rows come together: look its table up once
            last_unit = unit
            by_code = cells.setdefault(unit, {})
        triple = by_code.get(code)
        if triple is None:
            triple = by_code[code] = [None, None, None]
        kind = type(value)
        triple[i] = (value if kind is int or kind is str else _clean(value), cell, file)
    a = data.assessments
    assess = {
        (u, int(t)): (_clean(s), _clean(e), c, f)
        for u, t, s, e, c, f in zip(*_cols(a, "unit", "target", "assessment", "explanation", "cell", "file"),
                                    strict=True)
    }
    present = set(v["unit"]) | set(a["unit"])
    names = _unit_names(data, catalogue)
    layout = [(target, str(target.number), [(ind.code, ind.name, ind.unit or None) for ind in target.indicators])
              for target in catalogue.targets]
    none3 = (None, None, None)
    rows: list[list[Any]] = []
    append = rows.append
    for unit in data.units:
        if unit not in present:
            continue
        name = names[unit]
        by_code = cells.get(unit, {})
        carried_from = None
        if unit in data.carried:
            month = data.carried[unit]
            carried_from = (f"Chưa có báo cáo {data.period.label}; lũy kế lấy theo báo cáo tháng "
                            f"{month[5:7]}/{month[:4]}")
        for target, number_text, indicators in layout:
            number = target.number
            assessment, explanation, a_cell, a_file = assess.get((unit, number), (None, None, None, None))
            append([unit, name, number, number_text, target.title, None, None, None, assessment, explanation, a_file,
                    a_cell])
            for code, ind_name, ind_unit in indicators:
                month, ytd, note = by_code.get(code, none3)
                m_ref = month[1] if month is not None else None
                y_ref = ytd[1] if ytd is not None else None
                if m_ref and y_ref:
                    ref = f"{m_ref}, {y_ref}"
                else:
                    ref = m_ref or y_ref or None
                source = (month[2] if month is not None else ytd[2] if ytd is not None
                          else note[2] if note is not None else a_file)
                if carried_from is not None and source is not None:
                    source = f"{carried_from}: {source}"
                append([
                    unit, name, number, code, ind_name, ind_unit,
                    month[0] if month else None, ytd[0] if ytd else None, assessment,
                    note[0] if note else None, source, ref,
                ])
    return Table(SHEET_SUMMARY, header, rows, {
        "widths": [10, 30, 8, 9, 60, 9, 12, 12, 12, 45, 30, 10],
        "freeze": "C2",
        "text_columns": (0, 1, 3, 4, 5, 9, 10, 11),
        "title": f"Tổng hợp báo cáo thi đua {data.period.label}" + carried_note(data),
    })


def carried_note(data: PeriodData) -> str:
    """Said wherever year-to-date totals are shown: which units' figures are carried forward from an earlier month."""
    if not data.carried:
        return ""
    listed = ", ".join(f"{u} (tháng {m[5:7]}/{m[:4]})" for u, m in sorted(data.carried.items()))
    return (f" — lũy kế từ đầu năm gồm {len(data.carried)} đơn vị chưa có báo cáo hợp lệ {data.period.label}, lấy "
            f"theo báo cáo gần nhất: {listed}")


def _ratio(met: int, total: int) -> float | None:
    return met / total if total else None


@dataclass
class ByTarget:
    """What "Theo nội dung" is made of, summed over units (:func:`by_target_parts`; the master's cache keeps it per
    block of units, :mod:`thidua.derived`): units that meet each target, this month and the previous one, the totals
    of each indicator column, and per target the units that do not meet it, in unit order, with why and their
    explanation."""

    total: int
    met: Counter[int]
    prev_met: Counter[int]
    prev_total: int
    sums: dict[tuple[str, str], int]
    yes: dict[tuple[str, str], int]
    answered: dict[tuple[str, str], int]
    failing: dict[int, list[tuple[str, Any, Any]]]


def by_target_parts(data: PeriodData) -> ByTarget:
    att = data.attainment
    met = Counter(int(t) for t, m in zip(*_cols(att, "target", "met"), strict=True) if bool(m))
    prev = data.previous
    prev_met = Counter(int(t) for t, m in zip(*_cols(prev, "target", "met"), strict=True) if bool(m))
    prev_total = len(set(prev["unit"])) if len(prev) else 0
    v = data.values
    sums: dict[tuple[str, str], int] = {}
    yes: dict[tuple[str, str], int] = {}
    answered: dict[tuple[str, str], int] = {}
    for code, column, value in zip(*_cols(v, "code", "column", "value"), strict=True):
        if column == "note":
            continue
        kind = type(value)
        if kind is not int and kind is not str:
            value = _clean(value)
            if value is None:
                continue
        if kind is int or (isinstance(value, int) and not isinstance(value, bool)):
            key = (code, column)
            sums[key] = sums.get(key, 0) + value
        elif isinstance(value, str):
            key = (code, column)
            answered[key] = answered.get(key, 0) + 1
            if value == "Có":
                yes[key] = yes.get(key, 0) + 1
    a = data.assessments
    explanations = {(u, int(t)): _clean(e) for u, t, e in zip(*_cols(a, "unit", "target", "explanation"), strict=True)}
    failing: dict[int, list[tuple[str, Any, Any]]] = {}
    for unit, target, ok, reason in zip(*_cols(att, "unit", "target", "met", "reason"), strict=True):
        if not bool(ok):
            number = int(target)
            failing.setdefault(number, []).append((unit, _clean(reason), explanations.get((unit, number))))
    return ByTarget(len(data.units), met, prev_met, prev_total, sums, yes, answered, failing)


def by_target_table(data: PeriodData, catalogue: Catalogue, parts: ByTarget | None = None) -> tuple[Table, Chart]:
    """"Theo nội dung": the seven targets' attainment first (the chart's data), then per target its indicators'
    totals and the units that do not meet it, with why and their explanation. ``parts``: what it is made of, when
    known already (else :func:`by_target_parts` of ``data``)."""
    header = ["Nội dung", "Loại dòng", "Mã", "Tên nội dung / chỉ tiêu / đơn vị", "Số đơn vị đạt", "Tổng số đơn vị",
              "Tỷ lệ đạt", "Tỷ lệ tháng trước", "Số liệu tháng (tổng)", "Lũy kế từ đầu năm (tổng)", "Lý do chưa đạt",
              "Giải trình của đơn vị"]
    p = parts if parts is not None else by_target_parts(data)
    total = p.total
    rows: list[list[Any]] = []
    for target in catalogue.targets:
        n = p.met.get(target.number, 0)
        prev_ratio = _ratio(p.prev_met.get(target.number, 0), p.prev_total) if p.prev_total else None
        rows.append([target.number, ROW_TARGET, f"Nội dung {target.number}", target.title, n, total,
                     _ratio(n, total), prev_ratio, None, None,
                     f"{total - n} đơn vị chưa đạt" if total - n else None, None])
    names = _unit_names(data, catalogue)
    for target in catalogue.targets:
        for ind in target.indicators:
            figures = []
            for column in ("month", "ytd"):
                if column not in ind.periods:
                    figures.append(None)
                elif ind.kind == "count":
                    figures.append(p.sums.get((ind.code, column), 0))
                elif ind.kind == "yesno":
                    figures.append(f"Có: {p.yes.get((ind.code, column), 0)}/{p.answered.get((ind.code, column), 0)}")
                else:
                    figures.append(None)
            rows.append([target.number, ROW_INDICATOR, ind.code, ind.name, None, None, None, None, *figures, None,
                         None])
        for unit, reason, explanation in p.failing.get(target.number, []):
            rows.append([target.number, ROW_UNIT, unit, names.get(unit, unit), None, None, None, None, None, None,
                         reason, explanation])
    table = Table(SHEET_BY_TARGET, header, rows, {
        "widths": [9, 16, 12, 55, 10, 10, 10, 11, 14, 14, 50, 45],
        "freeze": "E2",
        "text_columns": (1, 2, 3, 10, 11),
        "number_formats": {6: "0.0%", 7: "0.0%"},
        "title": f"Kết quả theo nội dung thi đua {data.period.label}" + carried_note(data),
    })
    chart = Chart(SHEET_BY_TARGET, {
        "title": f"Tỷ lệ đơn vị đạt theo nội dung — {data.period.label}",
        "categories": 2,
        "values": 6,
        "first_row": 0,
        "last_row": len(catalogue.targets) - 1,
        "anchor": "N2",
        "y_title": "Tỷ lệ đơn vị đạt",
        "percent": True,
    })
    return table, chart


def status_table(data: PeriodData, catalogue: Catalogue) -> Table:
    """"Tình hình nộp": unit × month of the year; months after the period are left blank."""
    months = list(range(1, 13))
    header = ["Mã đơn vị", "Tên đơn vị", *[f"Tháng {m}" for m in months],
              *[STATUS_VI[k] for k in DUE_STATUSES], f"Ghi chú ({data.period.label})"]
    grid: dict[tuple[str, int], str] = {}
    notes: dict[str, Any] = {}
    s = data.status
    this = str(data.period)
    month_of: dict[Any, tuple[int, bool]] = {}  # period -> (month, is the period's)
    for unit, period, status, reason in zip(*_cols(s, "unit", "period", "status", "reason"), strict=True):
        known = month_of.get(period)
        if known is None:
            text = str(period)
            known = month_of[period] = (int(text[5:7]), text == this)
        month, current = known
        grid[(unit, month)] = status
        if current:
            notes[unit] = _clean(reason)
    names = _unit_names(data, catalogue)
    rows = []
    for unit in data.units:
        statuses = [grid.get((unit, m)) for m in months]
        counts = Counter(x for x in statuses if x)
        rows.append([unit, names[unit], *[STATUS_VI.get(x) if x else None for x in statuses],
                     *[counts.get(k, 0) for k in DUE_STATUSES], notes.get(unit)])
    return Table(SHEET_STATUS, header, rows, {
        "widths": [10, 34, *[11] * 12, 9, 9, 9, 9, 50],
        "freeze": "C2",
        "text_columns": (0, 1, 18),
        "fills": STATUS_FILLS,
        "title": f"Tình hình nộp báo cáo năm {data.period.year} (đến {data.period.label})",
    })


def received_table(data: PeriodData, catalogue: Catalogue) -> Table:
    """"Tệp đã nhận": every file of the year up to the period — the detail behind "Tình hình nộp": when each counts
    as received and how that is known, which one is used, corrections and rejections."""
    header = ["Mã đơn vị", "Tên đơn vị", "Kỳ", "Tệp", "Gửi kèm (thư, tệp nén)", "Ngày nhận", "Căn cứ ngày nhận",
              "Tình trạng", "Ghi chú"]
    names = _unit_names(data, catalogue)
    rows = []
    r = data.received
    for unit, period, file, container, day, how, status, reason in zip(
            *_cols(r, "unit", "period", "file", "container", "received_on", "received_how", "file_status", "reason"),
            strict=True):
        shown = f"{period[5:7]}/{period[:4]}" if isinstance(period, str) and len(period) == 7 else period
        rows.append([unit, names.get(unit, unit), shown, file, _clean(container), day, how,
                     FILE_STATUS_VI.get(status, status), _clean(reason)])
    return Table(SHEET_RECEIVED, header, rows, {
        "widths": [10, 30, 9, 36, 28, 12, 20, 18, 70],
        "freeze": "C2",
        "text_columns": (0, 1, 2, 3, 4, 6, 7, 8),
        "number_formats": {5: "dd/mm/yyyy"},
        "fills": {"Bị trả lại": "FFC7CE", "Đang dùng": "C6EFCE"},
        "title": f"Các tệp đã nhận năm {data.period.year} (đến {data.period.label}); ngày nhận dùng để tính đúng hạn: "
                 "ngày Văn phòng nhập, ngày gửi thư điện tử, ngày nhận của đợt, hoặc ngày lưu tệp",
    })


def findings_table(data: PeriodData, catalogue: Catalogue) -> Table:
    """"Kết quả kiểm tra": every finding of the period's current and outstanding rejected files."""
    header = ["Tệp", "Mã đơn vị", "Mã lỗi", "Mức độ", "Trang tính", "Ô", "Chỉ tiêu", "Giá trị", "Nội dung"]
    unit_of: dict[str, str] = {}
    if data.findings:
        # The first frame that names a file gives its unit. The files of the values and assessments (the period's
        # current files, and those figures are carried from) are all among the year's files in ``received``, which
        # comes first: those tables (large, possibly not made yet: LazyPeriodData) are looked at only for a finding
        # whose file the first two do not name.
        for frame in (data.received, data.status):
            # each (file, unit) pair once
            for file, unit in dict.fromkeys(zip(*_cols(frame, "file", "unit"), strict=True)):
                if _clean(file):
                    unit_of.setdefault(file, unit)
        if any(f.file not in unit_of for f in data.findings):
            for frame in (data.values, data.assessments):
                for file, unit in dict.fromkeys(zip(*_cols(frame, "file", "unit"), strict=True)):
                    if _clean(file):
                        unit_of.setdefault(file, unit)
    rows = []
    for f in data.findings:
        value = f.value
        if isinstance(value, dt.date):
            value = value.strftime("%d/%m/%Y")
        rows.append([f.file, unit_of.get(f.file), f.code, SEVERITY_VI.get(f.severity, f.severity), f.sheet, f.cell,
                     f.indicator, None if value is None else str(value), f.message])
    return Table(SHEET_FINDINGS, header, rows, {
        "widths": [32, 10, 20, 10, 12, 8, 9, 20, 80],
        "freeze": "A2",
        "text_columns": tuple(range(len(header))),
        "fills": {"Lỗi": "FFC7CE", "Cảnh báo": "FFEB9C"},
        "title": f"Kết quả kiểm tra báo cáo {data.period.label}",
    })



def validation_findings_table(results: list, period: Period, catalogue: Catalogue) -> Table:
    """The "Kết quả kiểm tra" table of a validation run (``FileResult`` list), laid out exactly as the master's."""
    findings = [replace(f, file=r.path.name) for r in results for f in r.findings]
    files = pd.DataFrame([{"unit": r.unit, "period": r.period, "file": r.path.name} for r in results],
                         columns=STATUS_COLUMNS)
    return findings_table(PeriodData(period, [], status=files, findings=findings), catalogue)

def master_tables(data: PeriodData, catalogue: Catalogue) -> tuple[list[Table], list[Chart]]:
    by_target, chart = by_target_table(data, catalogue)
    tables = [summary_table(data, catalogue), by_target, status_table(data, catalogue),
              received_table(data, catalogue), findings_table(data, catalogue)]
    return tables, [chart]


def write_master(data: PeriodData, catalogue: Catalogue, sink: SheetSink) -> None:
    """Write the master sheets through ``sink`` (the caller saves)."""
    tables, charts = master_tables(data, catalogue)
    for table in tables:
        sink.write_table(table.sheet, table.header, table.rows, **table.options)
    add_chart = getattr(sink, "add_chart", None)
    if add_chart is not None:
        for chart in charts:
            add_chart(chart.sheet, **chart.options)
