"""The monthly sơ kết and year-end tổng kết report: PeriodData -> .docx (+ appendix .xlsx, optional PDF).

Three steps, each a plain function:

- :func:`build_report` computes every figure from a :class:`~thidua.model.PeriodData` and lays the text out as blocks
  (headings, paragraphs, tables, the chart) using the editable wording of ``data/report.toml``;
- :func:`render_docx` writes the blocks as an administrative document in the format of Nghị định 30/2020/NĐ-CP
  (A4, margins, Times New Roman, the two-column header, the date line, "Nơi nhận", the signature block, page numbers
  from page 2); all organisation data comes from the dated configuration (``catalogue.organisation(report_date)``);
- :func:`write_report` writes the .docx and the appendix .xlsx atomically and, on request, converts to PDF through
  LibreOffice (:func:`convert_to_pdf`).

Text that comes from units is inserted as plain text runs, control characters stripped (:func:`clean_text`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docx
import pandas as pd
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, Twips

from .atomic import atomic_path
from .catalogue import Catalogue, Organisation, Target
from .errors import ThiDuaError
from .model import LATE, MISSING, ON_TIME, REJECTED, PeriodData
from .period import Period
from .report_text import (
    KINDS,
    SO_KET,
    TONG_KET,
    Wording,
    clean_text,
    date_line,
    default_wording,
    fmt_int,
    fmt_number,
    fmt_pct,
    join_vi,
    pct,
)
from .titles import NO_DATA, TitleRules, UnitTitles, default_title_rules, evaluate_titles

FONT = "Times New Roman"
BODY_PT = 14
FILE_STEMS = {SO_KET: "SoKet", TONG_KET: "TongKet"}
ALIGN = {
    "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
}


class PdfUnavailable(ThiDuaError):
    """The PDF could not be made (LibreOffice missing, failed or too slow); the .docx is already written."""


# ----------------------------------------------------------------------------------------------------------------------
# Blocks: what the document says, independent of Word


@dataclass
class Heading:
    text: str
    level: int = 1  # 1: I., II. (bold caps) · 2: 1., 2. (bold) · 3: 2.1. (bold italic)


@dataclass
class Para:
    text: str
    italic: bool = False
    bold: bool = False
    align: str = "justify"
    indent: bool = True


@dataclass
class TableBlock:
    header: list[str]
    rows: list[list[str]]
    widths_cm: list[float]
    aligns: list[str]
    caption: str = ""
    #: Rows shown as a group heading: first cell kept, the others merged into one.
    group_rows: set[int] = field(default_factory=set)


@dataclass
class ChartBlock:
    caption: str


@dataclass
class TargetResult:
    number: int
    title: str
    met: int
    total: int
    pct: float
    prev_met: int | None
    prev_pct: float | None
    figures: dict[str, str]
    quotes: list[tuple[str, str]]
    shortfalls: list[tuple[str, str]]

    @property
    def delta_pp(self) -> float | None:
        return None if self.prev_pct is None else self.pct - self.prev_pct


@dataclass
class StatusSummary:
    on_time: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    ytd_on_time: int = 0
    ytd_due: int = 0


@dataclass
class Report:
    """A built report: header data, blocks, and the figures they were made from."""

    kind: str
    period: Period
    report_date: dt.date
    org: Organisation
    catalogue_id: str
    catalogue_version: str
    number_line: str
    date_text: str
    subject: str
    blocks: list[Any]
    targets: list[TargetResult]
    status: StatusSummary
    units_total: int
    units_reported: int
    staff_total: int
    titles: list[UnitTitles] | None
    title_rules: TitleRules | None
    wording: Wording
    chart_title: str = ""
    chart_labels: tuple[str, str, str] = ("", "", "")
    appendix_blocks: list[Any] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------------------------
# Figures from PeriodData


def _target_number(value: Any) -> int | None:
    m = re.search(r"\d+", str(value))
    return int(m.group()) if m else None


def _is_true(value: Any) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "đạt", "yes")
    return bool(value)


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and not (isinstance(value, float) and pd.isna(value)):
        return value
    return None


class Lookup:
    """Fast access to one PeriodData's tables."""

    def __init__(self, data: PeriodData, cat: Catalogue):
        self.data = data
        self.cat = cat
        self.units = list(data.units)
        self.values: dict[tuple[str, str, str], Any] = {}
        for unit, code, column, value in data.values[["unit", "code", "column", "value"]].itertuples(index=False):
            self.values[(str(unit), str(code), str(column))] = value
        with_values = {k[0] for k in self.values}
        self.reported = [u for u in self.units if u in with_values]
        self.met = self._attainment(data.attainment)
        self.prev_met = self._attainment(data.previous)
        self.reasons: dict[tuple[str, int], str] = {}
        for unit, target, _met, reason in data.attainment[["unit", "target", "met", "reason"]].itertuples(index=False):
            n = _target_number(target)
            if n is not None:
                self.reasons[(str(unit), n)] = clean_text(reason)
        self.assessment: dict[tuple[str, int], tuple[str, str]] = {}
        cols = ["unit", "target", "assessment", "explanation"]
        for unit, target, assessment, explanation in data.assessments[cols].itertuples(index=False):
            n = _target_number(target)
            if n is not None:
                self.assessment[(str(unit), n)] = (clean_text(assessment), clean_text(explanation))

    @staticmethod
    def _attainment(frame: pd.DataFrame) -> dict[tuple[str, int], bool]:
        out: dict[tuple[str, int], bool] = {}
        if frame is None or not len(frame):
            return out
        for unit, target, met in frame[["unit", "target", "met"]].itertuples(index=False):
            n = _target_number(target)
            if n is not None:
                out[(str(unit), n)] = _is_true(met)
        return out

    def name(self, unit: str) -> str:
        u = self.cat.unit(unit)
        return u.name if u else unit

    def value(self, unit: str, code: str, column: str) -> Any:
        return self.values.get((unit, code, column))

    def total(self, code: str, column: str) -> int | float:
        """Sum of a count indicator over the units that reported it."""
        return sum(n for u in self.units if (n := _as_number(self.value(u, code, column))) is not None)

    def answered_not_first(self, code: str, column: str) -> int:
        """Units that answered "Có" (yes/no) or chose other than the first choice (choice)."""
        ind = self.cat.indicator(code)
        count = 0
        for u in self.units:
            v = self.value(u, code, column)
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            v = clean_text(v)
            if ind.kind == "yesno" and v == self.cat.yesno_choices[0]:
                count += 1
            elif ind.kind == "choice" and ind.choices and v != ind.choices[0]:
                count += 1
        return count


def target_figures(look: Lookup, target: Target) -> dict[str, str]:
    """The placeholders of one target's figures paragraph (see the head of data/report.toml)."""
    out: dict[str, str] = {"reported": fmt_int(len(look.reported))}
    for ind in target.indicators:
        key = ind.code.replace(".", "_")
        for column in ind.periods:
            prefix = "m" if column == "month" else "y"
            if ind.kind == "count":
                value = look.total(ind.code, column)
                out[f"{prefix}_{key}"] = fmt_int(value)
                whole = ind.rules.get("numerator_of")
                if whole:
                    whole_ind = look.cat.indicator(whole)
                    whole_col = column if column in whole_ind.periods else whole_ind.periods[0]
                    out[f"r{prefix}_{key}"] = fmt_pct(pct(value, look.total(whole, whole_col)))
            elif ind.kind in ("yesno", "choice"):
                out[f"yes_{key}"] = fmt_int(look.answered_not_first(ind.code, column))
    return out


def _quotes(look: Lookup, target: Target, max_quotes: int, max_len: int) -> list[tuple[str, str]]:
    seen: set[str] = set()
    quotes: list[tuple[str, str]] = []
    sources: list[tuple[str, str]] = []
    for u in look.units:
        if look.met.get((u, target.number)):
            _a, note = look.assessment.get((u, target.number), ("", ""))
            sources.append((u, note))
    for ind in target.indicators:
        if ind.kind == "text":
            for u in look.units:
                for column in ind.periods:
                    sources.append((u, clean_text(look.value(u, ind.code, column))))
    for u, text in sources:
        text = clean_text(text, max_len)
        if text and text.casefold() not in seen and len(quotes) < max_quotes:
            seen.add(text.casefold())
            quotes.append((look.name(u), text))
    return quotes


def as_clause(text: str) -> str:
    """A sentence turned into a clause inside parentheses: no final full stop, first letter lowered unless the first
    word is an abbreviation (``Chưa nộp báo cáo.`` -> ``chưa nộp báo cáo``)."""
    text = clean_text(text).rstrip(" .;")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def _shortfalls(look: Lookup, target: Target, w: Wording) -> list[tuple[str, str]]:
    """Units that reported but fell short of ``target``, with the reason (units without a valid report are said once,
    in the direction section)."""
    out = []
    max_len = int(w.get("target_common.max_quote_length"))
    for u in look.reported:
        if look.met.get((u, target.number)):
            continue
        reason = as_clause(look.reasons.get((u, target.number)) or w.text("target_common.not_met_reason"))
        _a, explanation = look.assessment.get((u, target.number), ("", ""))
        explanation = clean_text(explanation, max_len)
        if explanation and as_clause(explanation).casefold() not in reason.casefold():
            reason = w.text("target_common.shortfall_explained", reason=reason, explanation=explanation)
        out.append((look.name(u), reason))
    return out


def status_summary(look: Lookup, period: Period) -> StatusSummary:
    summary = StatusSummary()
    frame = look.data.status
    current: dict[str, str] = {}
    if frame is not None and len(frame):
        for unit, per, status in frame[["unit", "period", "status"]].itertuples(index=False):
            p = Period.try_parse(per) if not isinstance(per, Period) else per
            if p is None or p.year != period.year or p > period:
                continue
            summary.ytd_due += 1
            summary.ytd_on_time += status == ON_TIME
            if p == period:
                current[str(unit)] = str(status)
    buckets = {ON_TIME: summary.on_time, LATE: summary.late, REJECTED: summary.rejected, MISSING: summary.missing}
    for u in look.units:
        buckets.get(current.get(u, MISSING), summary.missing).append(look.name(u))
    return summary


# ----------------------------------------------------------------------------------------------------------------------
# Building the report


def default_report_date(cat: Catalogue, period: Period, today: dt.date | None = None) -> dt.date:
    """Today, clipped into a sensible date for ``period``: not before the units' deadline of the period, not after the
    end of the following month, and within the organisation configuration that was valid for the period."""
    today = today or dt.date.today()
    org = cat.organisation(period.last_day)
    lower = org.deadline(period.year, period.month)
    upper = period.next().last_day
    if org.valid_to is not None:
        upper = min(upper, org.valid_to)
    return min(max(today, lower), upper)


def _period_words(period: Period) -> dict[str, str]:
    prev, nxt = period.previous(), period.next()
    return {
        "year": str(period.year),
        "month": str(period.month),
        "next_year": str(period.year + 1),
        "period_label": f"tháng {period.month} năm {period.year}",
        "period_short": f"Tháng {period.month}/{period.year}",
        "prev_period_label": f"tháng {prev.month} năm {prev.year}",
        "prev_period_short": f"Tháng {prev.month}/{prev.year}",
        "next_period_label": f"tháng {nxt.month} năm {nxt.year}",
        "next_period_label_upper": f"THÁNG {nxt.month} NĂM {nxt.year}",
    }


def _delta_text(w: Wording, res: TargetResult, base: dict[str, Any]) -> str:
    if res.prev_pct is None:
        return w.text("target_common.delta_none", **base)
    delta = res.pct - res.prev_pct
    values = dict(base, prev_pct=fmt_pct(res.prev_pct), pp=fmt_number(abs(delta)))
    if round(delta, 1) > 0:
        return w.text("target_common.delta_up", **values)
    if round(delta, 1) < 0:
        return w.text("target_common.delta_down", **values)
    return w.text("target_common.delta_same", **values)


def build_report(
    data: PeriodData,
    cat: Catalogue,
    kind: str = SO_KET,
    report_date: dt.date | None = None,
    wording: Wording | None = None,
    title_rules: TitleRules | None = None,
) -> Report:
    """Compute the figures of ``data`` and lay out the report's blocks (no file is written)."""
    if kind not in KINDS:
        raise ThiDuaError(f"Loại báo cáo “{kind}” không hợp lệ: chỉ nhận {', '.join(KINDS)}.")
    w = wording or default_wording()
    period = data.period
    report_date = report_date or default_report_date(cat, period)
    org = cat.organisation(report_date)
    look = Lookup(data, cat)
    total = len(look.units)
    staff = int(look.total("1.1", "month")) if any(i.code == "1.1" for i in cat.indicators) else 0
    base: dict[str, Any] = {
        "issuing_body_name": org.issuing_body_name,
        "issuing_body": org.issuing_body,
        "parent_body": org.parent_body,
        "doc_code": org.doc_code,
        "khoi_name": org.khoi_name,
        "khoi_lead": org.khoi_lead,
        "plan": cat.plan,
        "units_total": fmt_int(total),
        "units_reported": fmt_int(len(look.reported)),
        "staff_total": fmt_int(staff),
        "targets_total": fmt_int(len(cat.targets)),
        **_period_words(period),
    }
    max_quotes = int(w.get("target_common.max_quotes"))
    max_len = int(w.get("target_common.max_quote_length"))

    # Per-target results.
    results: list[TargetResult] = []
    has_prev = bool(len(data.previous)) if data.previous is not None else False
    for target in cat.targets:
        met = sum(1 for u in look.units if look.met.get((u, target.number)))
        prev_met = sum(1 for u in look.units if look.prev_met.get((u, target.number))) if has_prev else None
        results.append(
            TargetResult(
                number=target.number,
                title=target.title,
                met=met,
                total=total,
                pct=pct(met, total) if total else 0.0,
                prev_met=prev_met,
                prev_pct=(pct(prev_met, total) if total else 0.0) if prev_met is not None else None,
                figures=target_figures(look, target),
                quotes=_quotes(look, target, max_quotes, max_len),
                shortfalls=_shortfalls(look, target, w),
            )
        )
    status = status_summary(look, period)

    titles = None
    rules = None
    if kind == TONG_KET:
        rules = title_rules or default_title_rules()
        titles = evaluate_titles(data, cat, rules)

    blocks: list[Any] = [Para(w.text("intro", kind, **base))]
    # I. Situation
    blocks.append(Heading(w.text("headings.situation", **base), 1))
    blocks += [Para(t) for t in w.lines("situation", kind, **base)]
    # II. Results
    blocks.append(Heading(w.text("headings.results", **base), 1))
    blocks.append(Heading(w.text("headings.direction", **base), 2))
    blocks += [Para(t) for t in w.lines("direction", kind, **base)]
    absent = [look.name(u) for u in look.units if u not in look.reported]
    if absent:
        blocks.append(Para(w.text("target_common.absent", count=fmt_int(len(absent)), units=join_vi(absent), **base)))
    blocks.append(Heading(w.text("headings.targets", **base), 2))
    for res in results:
        values = dict(base, n=res.number, title=res.title)
        blocks.append(Heading(w.text("headings.target", **values), 3))
        values.update(res.figures)
        blocks.append(Para(w.text(f"targets.{res.number}", kind, **values)))
        attain = dict(values, met=fmt_int(res.met), total=fmt_int(res.total), pct=fmt_pct(res.pct))
        attain["delta"] = _delta_text(w, res, base)
        blocks.append(Para(w.text("target_common.attainment", kind, **attain)))
        if res.quotes:
            quotes = "; ".join(w.text("target_common.quote", unit=u, text=t) for u, t in res.quotes)
            blocks.append(Para(w.text("target_common.activities", quotes=quotes)))
        if res.shortfalls:
            items = "; ".join(w.text("target_common.shortfall_item", unit=u, reason=r) for u, r in res.shortfalls)
            blocks.append(Para(w.text("target_common.shortfalls", count=fmt_int(len(res.shortfalls)), items=items)))
        else:
            blocks.append(Para(w.text("target_common.no_shortfalls")))
    # 3. Submission discipline
    blocks.append(Heading(w.text("headings.discipline", **base), 2))
    blocks += _discipline_paras(w, status, base)
    # 4. Summary table and chart
    blocks.append(Heading(w.text("headings.summary", **base), 2))
    blocks.append(_summary_table(w, results, base))
    blocks.append(ChartBlock(w.text("chart.caption", **base)))
    # III. Assessment
    blocks.append(Heading(w.text("headings.assessment", **base), 1))
    blocks += _assessment_blocks(w, results, status, look, base, total)
    # IV. Next steps
    blocks.append(Heading(w.text("headings.next_steps", kind, **base), 1))
    blocks += [Para(f"- {t}") for t in w.lines("next_steps", kind, **base)]
    # V. Proposals
    blocks.append(Heading(w.text("headings.proposals", **base), 1))
    blocks += [Para(f"- {t}") for t in w.lines("proposals", kind, **base)]
    appendix_blocks: list[Any] = []
    if titles is not None and rules is not None:
        blocks += _titles_blocks(w, titles, rules, period, base)
        appendix_blocks = _titles_appendix(w, titles, rules, base, org)

    d_type = str(w.get("document.type_code"))
    number_line = f"Số: {w.get('document.number_placeholder')}/{d_type}-{org.doc_code}"
    return Report(
        kind=kind,
        period=period,
        report_date=report_date,
        org=org,
        catalogue_id=cat.id,
        catalogue_version=cat.version,
        number_line=number_line,
        date_text=date_line(org.place, report_date),
        subject=w.text("subject", kind, **base),
        blocks=blocks,
        targets=results,
        status=status,
        units_total=total,
        units_reported=len(look.reported),
        staff_total=staff,
        titles=titles,
        title_rules=rules,
        wording=w,
        chart_title=w.text("chart.title", **base),
        chart_labels=(
            w.text("chart.xlabel", **base), w.text("chart.current", **base), w.text("chart.previous", **base)
        ),
        appendix_blocks=appendix_blocks,
    )


def _discipline_paras(w: Wording, s: StatusSummary, base: dict[str, Any]) -> list[Para]:
    values = dict(
        base,
        on_time=fmt_int(len(s.on_time)), late=fmt_int(len(s.late)), missing=fmt_int(len(s.missing)),
        rejected=fmt_int(len(s.rejected)), late_units=join_vi(s.late), missing_units=join_vi(s.missing),
        rejected_units=join_vi(s.rejected),
    )
    paras = [Para(w.text("discipline.intro", **values))]
    if not (s.late or s.missing or s.rejected):
        paras.append(Para(w.text("discipline.all_good", **values)))
    for key, units in (("late", s.late), ("rejected", s.rejected), ("missing", s.missing)):
        if units:
            paras.append(Para(f"- {w.text(f'discipline.{key}', **values)}"))
    if s.ytd_due:
        paras.append(Para(w.text(
            "discipline.ytd", ytd_pct=fmt_pct(pct(s.ytd_on_time, s.ytd_due)), ytd_on_time=fmt_int(s.ytd_on_time),
            ytd_due=fmt_int(s.ytd_due), **base,
        )))
    return paras


def _summary_table(w: Wording, results: list[TargetResult], base: dict[str, Any]) -> TableBlock:
    rows = []
    for r in results:
        delta = "—" if r.delta_pp is None else (("+" if r.delta_pp > 0 else "") + fmt_number(r.delta_pp))
        rows.append([
            w.text("table.row_label", n=r.number, title=r.title), f"{fmt_int(r.met)}/{fmt_int(r.total)}",
            fmt_pct(r.pct), fmt_pct(r.prev_pct), delta,
        ])
    avg = sum(r.pct for r in results) / len(results) if results else 0.0
    prevs = [r.prev_pct for r in results if r.prev_pct is not None]
    avg_prev = sum(prevs) / len(prevs) if len(prevs) == len(results) and prevs else None
    avg_delta = "—" if avg_prev is None else (("+" if avg - avg_prev > 0 else "") + fmt_number(avg - avg_prev))
    rows.append([w.text("table.total_label"), "", fmt_pct(avg), fmt_pct(avg_prev), avg_delta])
    return TableBlock(list(w.get("table.headers")), rows, [7.3, 2.3, 2.2, 2.2, 2.5],
                      ["left", "center", "center", "center", "center"], w.text("table.caption", **base))


def _assessment_blocks(
    w: Wording, results: list[TargetResult], s: StatusSummary, look: Lookup, base: dict[str, Any], total: int
) -> list[Any]:
    full = [r for r in results if total and r.met == r.total]
    short = [r for r in results if not total or r.met < r.total]
    avg = sum(r.pct for r in results) / len(results) if results else 0.0
    values = dict(
        base,
        avg_pct=fmt_pct(avg),
        on_time_pct=fmt_pct(pct(len(s.on_time), total) if total else 0.0),
        full_count=fmt_int(len(full)),
        full_list=join_vi([f"nội dung {r.number}" for r in full]),
        short_count=fmt_int(len(short)),
        short_list=join_vi([f"nội dung {r.number}" for r in short]),
        late=fmt_int(len(s.late)), missing=fmt_int(len(s.missing)), rejected=fmt_int(len(s.rejected)),
    )
    blocks: list[Any] = [Heading(w.text("headings.strengths", **base), 2)]
    blocks += [Para(f"- {t}") for t in w.lines("assessment.strengths", **values)]
    if full:
        blocks.append(Para(f"- {w.text('assessment.strengths_full', **values)}"))
    blocks.append(Heading(w.text("headings.weaknesses", **base), 2))
    weak = []
    if short:
        lowest = min(short, key=lambda r: (r.pct, r.number))
        weak.append(w.text("assessment.weaknesses_targets", lowest=lowest.number, lowest_pct=fmt_pct(lowest.pct),
                           **values))
    if s.late or s.missing or s.rejected:
        weak.append(w.text("assessment.weaknesses_reports", **values))
    blocks += [Para(f"- {t}") for t in weak] or [Para(w.text("assessment.weaknesses_none", **values))]
    blocks.append(Heading(w.text("headings.causes", **base), 2))
    blocks += [Para(f"- {t}") for t in w.lines("assessment.causes", **values)]
    reasons: list[str] = []
    seen: set[str] = set()
    max_len = int(w.get("target_common.max_quote_length"))
    for r in results:
        for u in look.units:
            if look.met.get((u, r.number)) is False:
                _a, explanation = look.assessment.get((u, r.number), ("", ""))
                text = clean_text(explanation, max_len)
                if text and text.casefold() not in seen:
                    seen.add(text.casefold())
                    reasons.append(f"“{text}” ({look.name(u)})")
    reasons = reasons[: int(w.get("assessment.max_reasons"))]
    if reasons:
        blocks.append(Para(f"- {w.text('assessment.causes_units', reasons='; '.join(reasons), **base)}"))
    return blocks


def _titles_blocks(
    w: Wording, titles: list[UnitTitles], rules: TitleRules, period: Period, base: dict[str, Any]
) -> list[Any]:
    blocks: list[Any] = [Heading(w.text("headings.titles", **base), 2), Para(w.text("titles.intro", **base))]
    for title in reversed(rules.titles):
        units = [t.name for t in titles if t.proposal == title.code]
        if units:
            text = w.text("titles.propose", title=title.name, count=fmt_int(len(units)), units=join_vi(units), **base)
            blocks.append(Para(f"- {text}"))
        else:
            blocks.append(Para(f"- {w.text('titles.propose_none', title=title.name, **base)}"))
    lacking = [t.name for t in titles if t.proposal is None and t.results and t.results[0].status == NO_DATA]
    if lacking:
        text = w.text("titles.no_data", count=fmt_int(len(lacking)), units=join_vi(lacking), **base)
        blocks.append(Para(f"- {text}"))
    if period.month != 12:
        blocks.append(Para(w.text("titles.provisional", **base), italic=True))
    return blocks


def _titles_appendix(
    w: Wording, titles: list[UnitTitles], rules: TitleRules, base: dict[str, Any], org: Organisation
) -> list[Any]:
    values = dict(base, number=w.get("document.number_placeholder"), type_code=w.get("document.type_code"))
    blocks: list[Any] = [
        Heading(w.text("document.appendix_title", **values), 0),
        Para(w.text("document.appendix_subtitle", **values), bold=True, align="center", indent=False),
        Para(w.text("document.appendix_caption", **values), italic=True, align="center", indent=False),
    ]
    rows: list[list[str]] = []
    groups: set[int] = set()
    for i, unit in enumerate(titles, start=1):
        proposal = unit.proposal_text + (f" ({unit.note})" if unit.note else "")
        groups.add(len(rows))
        rows.append([f"{i}", f"{unit.name} — đề xuất: {proposal}", "", "", ""])
        for res in unit.results:
            for c in res.criteria:
                rows.append(["", res.title.name, f"{c.criterion.code}. {c.criterion.text}", c.status_vi, c.reason])
    blocks.append(TableBlock(["STT", "Danh hiệu", "Tiêu chí", "Kết quả", "Căn cứ đánh giá"], rows,
                             [1.2, 2.6, 5.0, 2.0, 5.7], ["center", "left", "left", "center", "left"],
                             group_rows=groups))
    blocks.append(Para(f"Căn cứ: {rules.law}; {rules.decree}. Số điều, điểm cụ thể của từng tiêu chí: cần đối chiếu "
                       f"văn bản gốc (bộ tiêu chí phiên bản {rules.version}).", italic=True))
    return blocks


# ----------------------------------------------------------------------------------------------------------------------
# Chart


def _chart_font() -> str:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in (FONT, "Liberation Serif", "Tinos", "DejaVu Serif") if n in names), "DejaVu Sans")


def render_chart(report: Report, out: Path) -> Path:
    """A horizontal bar chart of attainment per target (this period and, when known, the previous one)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    xlabel, current, previous = report.chart_labels
    labels = [report.wording.text("chart.ylabel", n=r.number) for r in report.targets]
    ys = list(range(len(report.targets)))
    with plt.rc_context({"font.family": _chart_font(), "font.size": 10}):
        fig, ax = plt.subplots(figsize=(16 / 2.54, 8.5 / 2.54), dpi=200)
        has_prev = all(r.prev_pct is not None for r in report.targets) and report.targets
        h = 0.38 if has_prev else 0.6
        bars = ax.barh([y - (h / 2 if has_prev else 0) for y in ys], [r.pct for r in report.targets], height=h,
                       color="#1f4e79", label=current)
        for rect, r in zip(bars, report.targets, strict=True):
            ax.text(rect.get_width() + 1, rect.get_y() + rect.get_height() / 2, fmt_pct(r.pct), va="center", fontsize=8)
        if has_prev:
            ax.barh([y + h / 2 for y in ys], [r.prev_pct or 0 for r in report.targets], height=h, color="#9dc3e6",
                    label=previous)
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 112)
        ax.set_xticks(range(0, 101, 20))
        ax.set_xlabel(xlabel)
        ax.set_title(report.chart_title, fontsize=10, fontweight="bold")
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(out, format="png")
        plt.close(fig)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Word rendering


#: Schema order (ECMA-376): children of pPr that come after pBdr, and of tblPr after tblBorders.
_PPR_AFTER_PBDR = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct", "w:topLinePunct",
    "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
    "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
    "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange",
)
_TBLPR_AFTER_BORDERS = ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription",
                        "w:tblPrChange")


def _set_rfonts(rpr) -> None:
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.get_or_add_rFonts() if hasattr(rpr, "get_or_add_rFonts") else None
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(1 if rpr.find(qn("w:rStyle")) is not None else 0, rfonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        rfonts.set(qn(attr), FONT)


def _setup_styles(document) -> None:
    """Times New Roman everywhere: document defaults, every style, no theme fonts."""
    styles = document.styles.element
    for rfonts in styles.iter(qn("w:rFonts")):
        _set_rfonts(rfonts.getparent())
    defaults = styles.find(qn("w:docDefaults"))
    if defaults is not None:
        rpr_default = defaults.find(qn("w:rPrDefault"))
        if rpr_default is not None:
            rpr = rpr_default.find(qn("w:rPr"))
            if rpr is not None:
                _set_rfonts(rpr)
    for style in document.styles:
        font = getattr(style, "font", None)
        if font is None:
            continue
        font.name = FONT
        _set_rfonts(style.element.get_or_add_rPr())
    normal = document.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    pf = normal.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(6)
    pf.line_spacing = 1.15
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY


def _run(paragraph, text: str, size: float = BODY_PT, bold: bool = False, italic: bool = False,
         underline: bool = False):
    """A plain text run (never a field or hyperlink), Times New Roman."""
    run = paragraph.add_run(clean_text(text))
    run.font.name = FONT
    _set_rfonts(run._element.get_or_add_rPr())
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    if underline:
        run.font.underline = True
    return run


def _para(container, text: str = "", size: float = BODY_PT, bold: bool = False, italic: bool = False,
          align: str = "justify", indent: bool = False, after: float = 6, before: float = 0, underline: bool = False):
    p = container.add_paragraph()
    pf = p.paragraph_format
    pf.alignment = ALIGN[align]
    pf.space_after = Pt(after)
    pf.space_before = Pt(before)
    pf.line_spacing = 1.15 if align == "justify" else 1.0
    if indent:
        pf.first_line_indent = Cm(1.27)
    if text:
        _run(p, text, size, bold, italic, underline)
    return p


def _rule(container, width_cm: float, column_cm: float) -> None:
    """A short centred horizontal line (a bottom border on an empty, narrow paragraph)."""
    p = _para(container, "", size=2, align="center", after=0)
    side = max((column_cm - width_cm) / 2, 0)
    p.paragraph_format.left_indent = Cm(side)
    p.paragraph_format.right_indent = Cm(side)
    ppr = p._p.get_or_add_pPr()
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    border.append(bottom)
    ppr.insert_element_before(border, *_PPR_AFTER_PBDR)
    # An empty run carrying the font keeps "every run is Times New Roman" true and the line thin.
    _run(p, "", size=2)


def _keep_rows_whole(table) -> None:
    """No row of ``table`` is split across two pages (the header block, the signature block)."""
    for row in table.rows:
        trpr = row._tr.get_or_add_trPr()
        trpr.append(OxmlElement("w:cantSplit"))


def _no_borders(table) -> None:
    tblpr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tblpr.insert_element_before(borders, *_TBLPR_AFTER_BORDERS)


def _fixed_widths(table, widths_cm: list[float]) -> None:
    table.autofit = False  # python-docx writes <w:tblLayout w:type="fixed"/>
    for row in table.rows:
        for cell, width in zip(row.cells, widths_cm, strict=False):
            cell.width = Cm(width)
    for col, width in zip(table.columns, widths_cm, strict=False):
        col.width = Cm(width)


def _cell(cell, lines: Iterable[tuple[str, dict[str, Any]]]) -> None:
    first = True
    for text, fmt in lines:
        p = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        p.paragraph_format.alignment = ALIGN[fmt.pop("align", "center")]
        p.paragraph_format.space_after = Pt(fmt.pop("after", 0))
        p.paragraph_format.space_before = Pt(fmt.pop("before", 0))
        p.paragraph_format.line_spacing = 1.0
        _run(p, text, **fmt)


def _page_number_header(section) -> None:
    """Page numbers from page 2, centred at the top: a different first-page header and a PAGE field."""
    section.different_first_page_header_footer = True
    header = section.header
    header.is_linked_to_previous = False
    p = header.paragraphs[0]
    p.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(0)

    def field_run(kind: str | None = None, instr: str | None = None, text: str | None = None):
        run = _run(p, text or "", size=BODY_PT)
        if kind:
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            run._r.append(fld)
        if instr:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = instr
            run._r.append(el)
        return run

    field_run("begin")
    field_run(instr=" PAGE ")
    field_run("separate")
    field_run(text="2")
    field_run("end")
    first = section.first_page_header
    first.is_linked_to_previous = False
    _run(first.paragraphs[0], "")


def _header_table(document, report: Report, text_width: float) -> None:
    org = report.org
    left, right = 6.3, text_width - 6.3
    table = document.add_table(rows=2, cols=2)
    _no_borders(table)
    _keep_rows_whole(table)
    _fixed_widths(table, [left, right])
    _cell(table.cell(0, 0), [
        (org.parent_body.upper(), {"size": 13}),
        (org.issuing_body.upper(), {"size": 13, "bold": True}),
    ])
    _rule(table.cell(0, 0), 2.4, left)
    _cell(table.cell(0, 1), [
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", {"size": 13, "bold": True}),
        ("Độc lập - Tự do - Hạnh phúc", {"size": 14, "bold": True, "underline": True}),
    ])
    _cell(table.cell(1, 0), [(report.number_line, {"size": 13, "before": 6})])
    _cell(table.cell(1, 1), [(report.date_text, {"size": 14, "italic": True, "before": 6})])


def _signature(document, report: Report, text_width: float) -> None:
    org = report.org
    w = report.wording
    table = document.add_table(rows=1, cols=2)
    _no_borders(table)
    _keep_rows_whole(table)
    left = 8.3
    _fixed_widths(table, [left, text_width - left])
    recipients = list(org.recipients)
    lead = [r for r in recipients if org.khoi_lead and r.startswith(org.khoi_lead)]
    recipients = lead + [r for r in recipients if r not in lead]
    lines: list[tuple[str, dict[str, Any]]] = [(str(w.get("document.recipients_label")),
                                                {"size": 12, "bold": True, "italic": True, "align": "left"})]
    lines += [(f"- {r};", {"size": 11, "align": "left"}) for r in recipients]
    lines.append((f"- {org.archive}", {"size": 11, "align": "left"}))
    _cell(table.cell(0, 0), lines)
    _cell(table.cell(0, 1), [
        (org.signer_prefix, {"size": 14, "bold": True}),
        (org.signer_title, {"size": 14, "bold": True, "after": 72}),
        (org.signer_name, {"size": 14, "bold": True}),
    ])


def _table_block(document, block: TableBlock, size: float = 12) -> None:
    table = document.add_table(rows=1 + len(block.rows), cols=len(block.header))
    table.style = document.styles["Table Grid"]
    _fixed_widths(table, block.widths_cm)
    table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))  # repeat the heading row on each page
    for c, text in enumerate(block.header):
        _cell(table.cell(0, c), [(text, {"size": size, "bold": True})])
    for r, row in enumerate(block.rows, start=1):
        if r - 1 in block.group_rows:
            cell = table.cell(r, 1).merge(table.cell(r, len(row) - 1))
            _cell(table.cell(r, 0), [(row[0], {"size": size, "bold": True})])
            _cell(cell, [(row[1], {"size": size, "bold": True, "align": "left"})])
            continue
        for c, text in enumerate(row):
            _cell(table.cell(r, c), [(text, {"size": size, "align": block.aligns[c]})])


def render_docx(report: Report, out: Path, chart_png: Path | None = None) -> Path:
    """Write ``report`` as a .docx at ``out`` (atomically)."""
    document = docx.Document()
    _setup_styles(document)
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    # 15 mm is 850.4 twips: Word stores whole twips, so 851 keeps the margin inside the decree's 15-20 mm.
    section.left_margin, section.right_margin = Mm(30), Twips(851)
    section.header_distance, section.footer_distance = Mm(10), Mm(10)
    text_width = 21.0 - 3.0 - 1.5
    _page_number_header(section)
    # The default template starts with one empty paragraph: reuse nothing, remove it.
    for p in list(document.paragraphs):
        p._p.getparent().remove(p._p)

    _header_table(document, report, text_width)
    _para(document, str(report.wording.get("document.title")), bold=True, align="center", before=18, after=0)
    _para(document, report.subject, bold=True, align="center", after=0)
    _rule(document, 4.0, text_width)
    _para(document, "", after=6)
    for block in report.blocks:
        _render_block(document, block, chart_png)
    _signature(document, report, text_width)
    if report.appendix_blocks:
        for i, block in enumerate(report.appendix_blocks):
            _render_block(document, block, None, table_size=11)
            if i == 0:  # the appendix starts on a new page
                document.paragraphs[-1].paragraph_format.page_break_before = True
    with atomic_path(out) as tmp:
        document.save(str(tmp))
    return out


def _render_block(document, block: Any, chart_png: Path | None, table_size: float = 12) -> None:
    if isinstance(block, Heading):
        if block.level == 0:
            _para(document, block.text, bold=True, align="center", after=0)
        elif block.level == 1:
            _para(document, block.text, bold=True, indent=True, before=6)
        elif block.level == 2:
            _para(document, block.text, bold=True, indent=True)
        else:
            _para(document, block.text, bold=True, italic=True, indent=True)
    elif isinstance(block, Para):
        _para(document, block.text, bold=block.bold, italic=block.italic, indent=block.indent, align=block.align)
    elif isinstance(block, TableBlock):
        if block.caption:
            _para(document, block.caption, italic=True, align="center", after=3)
        _table_block(document, block, table_size)
        _para(document, "", after=0)
    elif isinstance(block, ChartBlock):
        if chart_png is None:
            return
        p = _para(document, "", align="center", after=0)
        p.add_run().add_picture(str(chart_png), width=Cm(15.5))
        _fix_runs_font(p)
        _para(document, block.caption, italic=True, align="center", size=12)


def _fix_runs_font(paragraph) -> None:
    for run in paragraph.runs:
        run.font.name = FONT
        _set_rfonts(run._element.get_or_add_rPr())


# ----------------------------------------------------------------------------------------------------------------------
# PDF


def convert_to_pdf(docx_path: Path, out_dir: Path | None = None, timeout: float = 180) -> Path:
    """Convert ``docx_path`` to PDF with LibreOffice headless, using a private, throw-away profile.

    Raise :class:`PdfUnavailable` (message in Vietnamese) when LibreOffice is missing, fails or exceeds ``timeout``.
    """
    docx_path = Path(docx_path)
    out_dir = Path(out_dir or docx_path.parent)
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        raise PdfUnavailable(
            "Không tìm thấy LibreOffice (lệnh soffice) trên máy nên chưa tạo được tệp PDF. "
            f"Báo cáo Word đã được ghi tại {docx_path}; có thể mở bằng Word và lưu thành PDF."
        )
    with tempfile.TemporaryDirectory(prefix="thidua-lo-") as work:
        profile = Path(work) / "profile"
        target = Path(work) / "out"
        target.mkdir()
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nologo",
               "--convert-to", "pdf", "--outdir", str(target), str(docx_path)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PdfUnavailable(
                f"LibreOffice không chuyển xong sang PDF trong {int(timeout)} giây. "
                f"Báo cáo Word đã được ghi tại {docx_path}."
            ) from None
        produced = target / f"{docx_path.stem}.pdf"
        if proc.returncode != 0 or not produced.exists():
            detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            raise PdfUnavailable(
                "LibreOffice không tạo được tệp PDF" + (f" ({detail[0]})" if detail else "") +
                f". Báo cáo Word đã được ghi tại {docx_path}."
            )
        final = out_dir / produced.name
        with atomic_path(final) as tmp:
            shutil.copyfile(produced, tmp)
    return final


# ----------------------------------------------------------------------------------------------------------------------
# Orchestration


@dataclass
class ReportFiles:
    docx: Path
    appendix: Path
    pdf: Path | None = None
    warnings: list[str] = field(default_factory=list)
    report: Report | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "docx": str(self.docx),
            "appendix": str(self.appendix),
            "pdf": str(self.pdf) if self.pdf else None,
            "warnings": list(self.warnings),
        }


def file_stem(kind: str, period: Period) -> str:
    return f"{FILE_STEMS[kind]}_{period}"


def write_report(
    data: PeriodData,
    cat: Catalogue,
    kind: str,
    out_dir: Path | str,
    report_date: dt.date | None = None,
    pdf: bool = False,
    wording: Wording | None = None,
    title_rules: TitleRules | None = None,
    pdf_timeout: float = 180,
) -> ReportFiles:
    """Build the report of ``data`` and write ``BaoCao_<Kind>_<period>.docx`` and ``PhuLuc_<Kind>_<period>.xlsx`` in
    ``out_dir`` (and the PDF with ``pdf=True``; a PDF that cannot be made becomes a warning, not an error)."""
    from .appendix import write_appendix
    from .atomic import WriteFailed, atomic_set, write_problem

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(data, cat, kind, report_date, wording, title_rules)
    stem = file_stem(kind, data.period)
    docx_path = out_dir / f"BaoCao_{stem}.docx"
    with atomic_set():  # the .docx and its appendix replace the old pair together, or not at all
        try:
            with tempfile.TemporaryDirectory(prefix="thidua-chart-") as tmp:
                chart = render_chart(report, Path(tmp) / "chart.png")
                render_docx(report, docx_path, chart)
        except OSError as exc:  # the chart goes to the system's temporary folder, outside atomic_path: name it
            problem = write_problem(exc, tempfile.gettempdir())
            if problem is None:
                raise
            raise WriteFailed(docx_path, problem) from exc
        appendix_path = write_appendix(data, cat, kind, out_dir / f"PhuLuc_{stem}.xlsx", report=report)
    files = ReportFiles(docx_path, appendix_path, report=report)
    if pdf:
        try:
            files.pdf = convert_to_pdf(docx_path, out_dir, timeout=pdf_timeout)
        except PdfUnavailable as exc:
            files.warnings.append(exc.message)
    return files


def titles_summary(titles: list[UnitTitles]) -> dict[str, int]:
    """Counts of proposals by title (for the CLI and JSON output)."""
    out: dict[str, int] = {}
    for t in titles:
        out[t.proposal_text] = out.get(t.proposal_text, 0) + 1
    return out
