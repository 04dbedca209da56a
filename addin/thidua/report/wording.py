"""The report's text: the computed :class:`~thidua.report.compute.Figures` laid out as blocks (headings, paragraphs,
tables, charts, appendices) with the editable wording of ``data/report.toml`` and the office's own ``office.toml``.

Every sentence takes its numbers from the same objects as the tables; a count of zero takes the wording's "không có"
variant; a list of units that fall short always adds up with the units that met the target and the units without a
valid report to the whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..catalogue import Catalogue, Organisation
from ..errors import ThiDuaError
from ..model import LATE, MISSING, ON_TIME, REJECTED
from ..period import MONTH, YEAR, Period, Span
from ..report_text import (
    KINDS,
    SO_KET,
    TONG_KET,
    OfficeText,
    Wording,
    clean_text,
    date_line,
    date_parts,
    default_wording,
    fmt_int,
    fmt_number,
    fmt_pct,
    join_vi,
    load_office_text,
    pct,
    sentences,
)
from ..titles import NO_DATA, TitleRules, UnitTitles, default_title_rules, evaluate_titles
from .compute import Figures, SpanData, TargetResult, compute

ROMAN = ("I", "II", "III", "IV", "V", "VI")
STATUS_MARK = {ON_TIME: "Đ", LATE: "T", REJECTED: "L", MISSING: "C"}


# ----------------------------------------------------------------------------------------------------------------------
# Blocks: what the document says, independent of Word


@dataclass
class Heading:
    text: str
    level: int = 1  # 0: centred title · 1: I., II. (bold caps) · 2: 1., 2. (bold) · 3: 2.1. (bold italic)


@dataclass
class Para:
    text: str
    italic: bool = False
    bold: bool = False
    align: str = "justify"
    indent: bool = True
    keep_with_next: bool = False


@dataclass
class TableBlock:
    header: list[str]
    rows: list[list[str]]
    widths_cm: list[float]
    aligns: list[str]
    caption: str = ""
    #: Rows shown as a group heading: first cell kept, the others merged into one.
    group_rows: set[int] = field(default_factory=set)
    size: float = 12


@dataclass
class ChartBlock:
    caption: str
    kind: str = "bars"  # bars (per target, this month and the one before) · trend (per month)


@dataclass
class Appendix:
    """A numbered appendix of the report: its own section and page numbers."""

    roman: str
    title: str
    caption: str
    blocks: list[Any]


@dataclass
class Report:
    """A built report: header data, blocks, appendices and the figures they were made from."""

    kind: str
    span: Span
    period: Period  # the span's last month
    report_date: dt.date
    org: Organisation
    catalogue_id: str
    catalogue_version: str
    number_line: str
    date_text: str
    subject: str
    blocks: list[Any]
    figures: Figures
    titles: list[UnitTitles] | None
    title_rules: TitleRules | None
    wording: Wording
    office: OfficeText
    chart_title: str = ""
    chart_labels: tuple[str, str, str] = ("", "", "")
    appendices: list[Appendix] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> list[TargetResult]:
        return self.figures.targets

    @property
    def units_total(self) -> int:
        return self.figures.total

    @property
    def units_reported(self) -> int:
        return len(self.figures.reported)


def default_report_date(cat: Catalogue, period: Period, today: dt.date | None = None) -> dt.date:
    """Today, clipped into a sensible date for a report ending with month ``period``: not before the units' deadline of
    that month, not after the end of the following month, and within the organisation configuration valid for it."""
    today = today or dt.date.today()
    org = cat.organisation(period.last_day)
    lower = org.deadline(period.year, period.month)
    upper = period.next().last_day
    if org.valid_to is not None:
        upper = min(upper, org.valid_to)
    return min(max(today, lower), upper)


def _span_in(span: Span) -> str:
    if span.kind == MONTH:
        return f"Trong tháng {span.index}"
    if span.kind == YEAR:
        return "Trong năm" if span.index == 12 else f"Từ đầu năm đến hết tháng {span.index}"
    return "Trong " + span.label.rsplit(" năm ", 1)[0]


def plan_citation(cat: Catalogue, org: Organisation, office: OfficeText) -> str:
    """The plan on first citation: type, number and symbol, date, issuing body (NĐ 30/2020, Phụ lục I, II.6.b) when the
    office has given its number; its name otherwise."""
    if office.plan_number and office.plan_date:
        d, m, y = date_parts(office.plan_date)
        return (f"Kế hoạch số {office.plan_number} ngày {d}/{m}/{y} của {org.issuing_body_name} về phát động phong "
                f"trào thi đua năm {office.plan_date.year}")
    return cat.plan


def _base(cat: Catalogue, org: Organisation, fig: Figures, kind: str, office: OfficeText) -> dict[str, Any]:
    span, end = fig.span, fig.period
    nxt = span.next() if kind == SO_KET else Span(YEAR, span.year + 1, 12)
    prev = end.previous()
    return {
        "issuing_body_name": org.issuing_body_name,
        "issuing_body": org.issuing_body,
        "parent_body": org.parent_body,
        "doc_code": org.doc_code,
        "khoi_name": org.khoi_name,
        "khoi_lead": org.khoi_lead,
        "plan": plan_citation(cat, org, office),
        "plan_short": f"Kế hoạch số {office.plan_number}" if office.plan_number and office.plan_date else cat.plan,
        "year": str(span.year),
        "next_year": str(span.year + 1),
        "span_label": span.label,
        "span_label_upper": span.label.upper(),
        "span_in": _span_in(span),
        "ytd_label": "Cả năm" if kind == TONG_KET and end.month == 12 else "Lũy kế từ đầu năm",
        "end_label": f"tháng {end.month} năm {end.year}",
        "end_short": f"Tháng {end.month}/{end.year}",
        "prev_label": f"tháng {prev.month} năm {prev.year}",
        "prev_short": f"Tháng {prev.month}/{prev.year}",
        "months": str(len(fig.due_views)),
        "next_span_label": nxt.label,
        "next_span_label_upper": nxt.label.upper(),
        "units_total": fmt_int(fig.total),
        "units_reported": fmt_int(len(fig.reported)),
        "staff_total": fmt_int(fig.staff),
        "targets_total": fmt_int(len(fig.targets)),
    }


def figure_values(raw: dict[str, float]) -> dict[str, str]:
    """Placeholders of the figures: counts as ``1.234``, shares (r…) as ``88,9%``."""
    return {k: fmt_pct(v) if k[0] == "r" and k[1] in "msy" else fmt_int(v) for k, v in raw.items()}


def _names(w: Wording, names: list[str], roman: str) -> str:
    """``a, b và c``; a long list is cut after ``max_names`` with a reference to the appendix."""
    limit = int(w.get("target_common.max_names"))
    if len(names) <= limit:
        return join_vi(names)
    rest = w.text("target_common.more", rest=fmt_int(len(names) - limit), roman=roman)
    return ", ".join(names[:limit]) + " " + rest


def as_clause(text: str) -> str:
    """A sentence turned into a clause inside parentheses: no final full stop, first letter lowered unless the first
    word is an abbreviation (``Chưa nộp báo cáo.`` -> ``chưa nộp báo cáo``)."""
    text = clean_text(text).rstrip(" .;")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def _delta(w: Wording, res: TargetResult, base: dict[str, Any]) -> str:
    if res.prev_pct is None:
        return w.text("target_common.delta_none", **base)
    delta = round(res.pct, 1) - round(res.prev_pct, 1)
    values = dict(base, prev_pct=fmt_pct(res.prev_pct), pp=fmt_number(abs(delta)))
    if delta > 0:
        return w.text("target_common.delta_up", **values)
    if delta < 0:
        return w.text("target_common.delta_down", **values)
    return w.text("target_common.delta_same", **values)


def _absent_words(w: Wording, fig: Figures, units: list[str]) -> list[str]:
    end = fig.views[-1]
    out = []
    for u in units:
        key = "direction.absent_rejected" if end.status.get(u) == REJECTED else "direction.absent_missing"
        out.append(f"{fig.name(u)} ({w.text(key)})")
    return out


def _target_paras(w: Wording, fig: Figures, res: TargetResult, base: dict[str, Any], kind: str,
                  values: dict[str, str]) -> list[Any]:
    blocks: list[Any] = [Para(sentences(w, f"targets.{res.number}", None, dict(base, **values), fig.raw))]
    t = dict(base, total=fmt_int(res.total), met=fmt_int(res.met_count), pct=fmt_pct(res.pct))
    roman = "I"
    if fig.span.kind == MONTH:
        t["delta"] = _delta(w, res, base)
        blocks.append(Para(w.text("target_common.attainment", **t)))
        if res.met_count == res.total:
            blocks.append(Para(w.text("target_common.all_met", **t)))
        max_len = int(w.get("target_common.max_quote_length"))
        if res.short:
            items = []
            for u, reason in res.short:
                reason = as_clause(reason or w.text("target_common.not_met_reason"))
                _a, explanation = fig.views[-1].assessment.get((u, res.number), ("", ""))
                explanation = clean_text(explanation, max_len)
                if explanation and as_clause(explanation).casefold() not in reason.casefold():
                    reason = w.text("target_common.shortfall_explained", reason=reason, explanation=explanation)
                items.append(w.text("target_common.shortfall_item", unit=fig.name(u), reason=reason))
            blocks.append(Para(w.text("target_common.shortfalls", count=fmt_int(len(res.short)),
                                      items="; ".join(_limit(w, items, roman)))))
        if res.absent:
            blocks.append(Para(w.text("target_common.absent", count=fmt_int(len(res.absent)),
                                      units=_names(w, _absent_words(w, fig, res.absent), roman))))
    else:
        t.update(span_met=fmt_int(res.span_met), span_due=fmt_int(res.span_due), span_pct=fmt_pct(res.span_pct),
                 all_months=fmt_int(res.all_months))
        key = "target_common.attainment_span" if res.all_months else "target_common.attainment_span_none"
        blocks.append(Para(w.text(key, **t)))
        partial = [u for u in fig.units if res.months_met[u] < res.due_months]
        if not partial:
            blocks.append(Para(w.text("target_common.all_met_span", **t)))
        else:
            rank = {u: i for i, u in enumerate(fig.units)}
            partial.sort(key=lambda u: (res.months_met[u], rank[u]))
            items = [w.text("target_common.partial_item", unit=fig.name(u), k=res.months_met[u], n=res.due_months)
                     for u in partial]
            blocks.append(Para(w.text("target_common.partial_span", count=fmt_int(len(partial)),
                                      items=_names(w, items, roman))))
    if res.previous_year_pct is not None and fig.previous_year is not None:
        now = res.span_pct if fig.span.kind != MONTH else res.pct
        change = _change(w, res.previous_year_pct, now)
        blocks.append(Para(w.text("target_common.previous_year", prev_year=fig.previous_year.year,
                                  prev_year_pct=fmt_pct(res.previous_year_pct), change=change)))
    if res.highlights:
        quotes = "; ".join(w.text("target_common.quote", unit=h.name, text=h.text) for h in res.highlights)
        blocks.append(Para(w.text("target_common.activities", quotes=quotes)))
    return blocks


def _limit(w: Wording, items: list[str], roman: str) -> list[str]:
    limit = int(w.get("target_common.max_names"))
    if len(items) <= limit:
        return items
    return [*items[:limit], w.text("target_common.more", rest=fmt_int(len(items) - limit), roman=roman)]


def _change(w: Wording, before: float, after: float) -> str:
    values = {"before": fmt_pct(before), "after": fmt_pct(after)}
    if round(after, 1) > round(before, 1):
        return w.text("assessment.change_up", **values)
    if round(after, 1) < round(before, 1):
        return w.text("assessment.change_down", **values)
    return w.text("assessment.change_same", **values)


def _discipline(w: Wording, fig: Figures, base: dict[str, Any]) -> list[Any]:
    d = fig.discipline
    names = {st: [fig.name(u) for u in d.end.get(st, [])] for st in (ON_TIME, LATE, REJECTED, MISSING)}
    if fig.span.kind == MONTH:
        values = dict(base, on_time=fmt_int(len(names[ON_TIME])), late=fmt_int(len(names[LATE])),
                      missing=fmt_int(len(names[MISSING])), rejected=fmt_int(len(names[REJECTED])),
                      late_units=_names(w, names[LATE], "II"), missing_units=_names(w, names[MISSING], "II"),
                      rejected_units=_names(w, names[REJECTED], "II"))
        paras: list[Any] = [Para(w.text("discipline.intro", **values))]
        if len(names[ON_TIME]) == fig.total:
            paras.append(Para(w.text("discipline.all_good", **values)))
        for key, st in (("late", LATE), ("rejected", REJECTED), ("missing", MISSING)):
            if names[st]:
                paras.append(Para(f"- {w.text(f'discipline.{key}', **values)}"))
        if d.ytd_due:
            paras.append(Para(w.text("discipline.ytd", ytd_pct=fmt_pct(pct(d.ytd_counts[ON_TIME], d.ytd_due)),
                                     ytd_on_time=fmt_int(d.ytd_counts[ON_TIME]), ytd_due=fmt_int(d.ytd_due), **base)))
        return paras
    c = d.span_counts
    parts = [w.text(f"discipline.part_{key}", n=fmt_int(c[st]))
             for key, st in (("late", LATE), ("rejected", REJECTED), ("missing", MISSING)) if c[st]]
    text = w.text("discipline.intro_span", on_time=fmt_int(c[ON_TIME]), due=fmt_int(d.span_due),
                  on_time_pct=fmt_pct(pct(c[ON_TIME], d.span_due) if d.span_due else 0.0),
                  parts=("; " + ", ".join(parts)) if parts else "", roman="II", **base)
    paras = [Para(text)]
    if not parts:
        paras.append(Para(w.text("discipline.all_good_span", **base)))
    rows = [[f"Tháng {m.month}/{m.year}", *(fmt_int(counts[st]) for st in (ON_TIME, LATE, REJECTED, MISSING))]
            for m, counts in d.per_month]
    rows.append([w.text("discipline.table_total"), *(fmt_int(c[st]) for st in (ON_TIME, LATE, REJECTED, MISSING))])
    paras.append(TableBlock(list(w.get("discipline.table_headers")), rows, [4.5, 3.0, 3.0, 3.0, 3.0],
                            ["left", "center", "center", "center", "center"],
                            w.text("discipline.table_caption", **base)))
    return paras


def _summary_table(w: Wording, fig: Figures, base: dict[str, Any]) -> TableBlock:
    results = fig.targets
    prev_year = fig.previous_year
    rows = []
    if fig.span.kind == MONTH:
        header = list(w.get("table.headers"))
        for r in results:
            delta = "—" if r.prev_pct is None else _signed(round(r.pct, 1) - round(r.prev_pct, 1))
            rows.append([w.text("table.row_label", n=r.number, title=r.title), f"{fmt_int(r.met_count)}/"
                         f"{fmt_int(r.total)}", fmt_pct(r.pct), fmt_pct(r.prev_pct), delta])
        avg = _avg([r.pct for r in results])
        prevs = [r.prev_pct for r in results]
        avg_prev = _avg(prevs) if all(p is not None for p in prevs) and prevs else None
        rows.append([w.text("table.total_label"), "", fmt_pct(avg), fmt_pct(avg_prev),
                     "—" if avg_prev is None else _signed(round(avg, 1) - round(avg_prev, 1))])
        widths = [7.3, 2.3, 2.2, 2.2, 2.5]
    else:
        header = list(w.get("table.headers_span"))
        for r in results:
            rows.append([w.text("table.row_label", n=r.number, title=r.title),
                         f"{fmt_int(r.span_met)}/{fmt_int(r.span_due)}", fmt_pct(r.span_pct),
                         f"{fmt_int(r.all_months)}/{fmt_int(r.total)}", f"{fmt_int(r.met_count)}/{fmt_int(r.total)}"])
        rows.append([w.text("table.total_label"), "", fmt_pct(_avg([r.span_pct for r in results])), "", ""])
        widths = [7.3, 2.4, 2.1, 2.2, 2.5]
    if prev_year is not None:
        header += list(w.get("table.headers_previous"))
        widths = [w_ * 0.82 for w_ in widths] + [1.9, 2.1]
        for row, r in zip(rows, results, strict=False):
            now = r.span_pct if fig.span.kind != MONTH else r.pct
            before = r.previous_year_pct
            row += [fmt_pct(before), "—" if before is None else _signed(round(now, 1) - round(before, 1))]
        befores = [r.previous_year_pct for r in results]
        if all(b is not None for b in befores):
            now_avg = _avg([r.span_pct if fig.span.kind != MONTH else r.pct for r in results])
            rows[-1] += [fmt_pct(_avg(befores)), _signed(round(now_avg, 1) - round(_avg(befores), 1))]
        else:
            rows[-1] += ["—", "—"]
    return TableBlock(header, rows, widths, ["left"] + ["center"] * (len(header) - 1),
                      w.text("table.caption", **base))


def _compare_table(w: Wording, cat: Catalogue, fig: Figures, base: dict[str, Any]) -> TableBlock | None:
    prev = fig.previous_year
    if prev is None:
        return None
    rows = []
    for ind in cat.indicators:
        if ind.kind != "count":
            continue
        key = ind.code.replace(".", "_")
        now = fig.raw.get(f"s_{key}", fig.raw.get(f"y_{key}"))
        before = prev.figures.get(key)
        if now is None or before is None:
            continue
        rows.append([f"{ind.code}. {ind.name} ({ind.unit})", fmt_int(now), fmt_int(before),
                     _signed(now - before, integer=True)])
    if not rows:
        return None
    header = [str(h).format(year=base["year"], prev_year=prev.year) for h in w.get("table.compare_headers")]
    return TableBlock(header, rows, [9.5, 2.3, 2.3, 2.4], ["left", "center", "center", "center"],
                      w.text("table.compare_caption", prev_year=prev.year, **base))


def _signed(value: float, integer: bool = False) -> str:
    text = fmt_int(abs(value)) if integer else fmt_number(abs(value))
    return ("+" if value > 0 else "-" if value < 0 else "") + text


def _avg(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _assessment(w: Wording, fig: Figures, base: dict[str, Any], values: dict[str, str]) -> list[Any]:
    results = fig.targets
    multi = fig.span.kind != MONTH
    rate = (lambda r: r.span_pct) if multi else (lambda r: r.pct)
    d = fig.discipline
    counts = d.span_counts if multi else {st: len(d.end.get(st, [])) for st in (ON_TIME, LATE, REJECTED, MISSING)}
    due = sum(counts.values())
    avg = _avg([rate(r) for r in results])
    full = [r for r in results if fig.total and rate(r) >= 100]
    short = [r for r in results if r not in full]
    v = dict(base, **values, avg_pct=fmt_pct(avg), on_time_pct=fmt_pct(pct(counts[ON_TIME], due) if due else 0.0),
             full_count=fmt_int(len(full)), full_list=join_vi([f"nội dung {r.number}" for r in full]),
             short_count=fmt_int(len(short)), short_list=join_vi([f"nội dung {r.number}" for r in short]))
    tone = ("high" if avg >= float(w.get("assessment.high_from"))
            else "mid" if avg >= float(w.get("assessment.mid_from")) else "low")
    blocks: list[Any] = [Heading(w.text("headings.strengths", **base), 2)]
    blocks.append(Para(f"- {w.text(f'assessment.strengths_{tone}', **v)}"))
    blocks.append(Para(f"- {w.text('assessment.strengths_rate', **v)}"))
    if full:
        blocks.append(Para(f"- {w.text('assessment.strengths_full', **v)}"))
    if fig.previous_year is not None:
        befores = [r.previous_year_pct for r in results]
        if all(b is not None for b in befores):
            blocks.append(Para(f"- {w.text('assessment.previous_year', prev_year=fig.previous_year.year, change=_change(w, _avg(befores), avg), **base)}"))  # noqa: E501
    blocks.append(Heading(w.text("headings.weaknesses", **base), 2))
    weak = []
    if short:
        low = min(round(rate(r), 1) for r in short)
        lowest = [r for r in short if round(rate(r), 1) == low]
        lv = dict(lowest=join_vi([str(r.number) for r in lowest]), lowest_pct=fmt_pct(min(rate(r) for r in lowest)))
        key = ("lowest_all" if len(lowest) == len(short) and len(short) > 1
               else "lowest_many" if len(lowest) > 1 else "lowest_one")
        weak.append(w.text("assessment.weaknesses_targets", lowest_text=w.text(f"assessment.{key}", **lv), **v))
    parts = [w.text(f"assessment.report_{key}", n=fmt_int(counts[st]))
             for key, st in (("late", LATE), ("rejected", REJECTED), ("missing", MISSING)) if counts[st]]
    if parts:
        weak.append(w.text("assessment.weaknesses_reports", parts=", ".join(parts)))
    if fig.raw.get("s_1_3"):
        weak.append(w.text("assessment.weaknesses_discipline", **v))
    if fig.raw.get("s_5_3"):
        weak.append(w.text("assessment.weaknesses_violations", **v))
    blocks += [Para(f"- {t}") for t in weak] or [Para(w.text("assessment.weaknesses_none", **v))]
    blocks.append(Heading(w.text("headings.causes", **base), 2))
    if not weak:
        blocks.append(Para(w.text("assessment.causes_none", **v)))
        return blocks
    blocks += [Para(f"- {t}") for t in w.lines("assessment.causes", **v)]
    reasons: list[str] = []
    seen: set[str] = set()
    max_len = int(w.get("target_common.max_quote_length"))
    for view in reversed(fig.views):
        for r in results:
            for u in fig.units:
                if view.met.get((u, r.number)) is False:
                    _a, explanation = view.assessment.get((u, r.number), ("", ""))
                    text = clean_text(explanation, max_len)
                    if text and text.casefold() not in seen:
                        seen.add(text.casefold())
                        reasons.append(f"“{text}” ({fig.name(u)})")
    reasons = reasons[: int(w.get("assessment.max_reasons"))]
    if reasons:
        blocks.append(Para(f"- {w.text('assessment.causes_units', reasons='; '.join(reasons), **base)}"))
    return blocks


def _titles_blocks(w: Wording, titles: list[UnitTitles], rules: TitleRules, fig: Figures, base: dict[str, Any],
                   number: int) -> list[Any]:
    """The report to the Khối states only the totals; the per-unit list is a document of its own."""
    blocks: list[Any] = [Heading(w.text("headings.titles", n=number, **base), 2),
                         Para(w.text("titles.intro", law=rules.law, **base))]
    for title in reversed(rules.titles):
        count = sum(1 for t in titles if t.proposal == title.code)
        key = "titles.count" if count else "titles.count_none"
        blocks.append(Para(f"- {w.text(key, title=title.name, count=fmt_int(count), **base)}"))
    lacking = sum(1 for t in titles if t.proposal is None and t.results and t.results[0].status == NO_DATA)
    if lacking:
        blocks.append(Para(f"- {w.text('titles.no_data', count=fmt_int(lacking), **base)}"))
    if fig.period.month != 12:
        blocks.append(Para(w.text("titles.provisional", **base), italic=True))
    return blocks


def _appendices(w: Wording, cat: Catalogue, fig: Figures, base: dict[str, Any], caption_values: dict[str, Any]
                ) -> list[Appendix]:
    """Phụ lục I: each unit against each target; Phụ lục II: the submission grid January to the end month."""
    multi = fig.span.kind != MONTH
    header = ["STT", "Tên phòng, đơn vị"] + [f"ND {t.number}" for t in cat.targets] + ["Số nội dung đạt"]
    rows = []
    end = fig.views[-1]
    for i, u in enumerate(fig.units, start=1):
        cells = [str(i), fig.name(u)]
        if multi:
            cells += [f"{r.months_met[u]}/{r.due_months}" for r in fig.targets]
            cells.append(str(sum(1 for r in fig.targets if r.months_met[u] == r.due_months)))
        else:
            marks = ["—" if u not in end.reported else "Đ" if end.met.get((u, r.number)) else "K"
                     for r in fig.targets]
            cells += [*marks, str(marks.count("Đ"))]
        rows.append(cells)
    n = len(cat.targets)
    name_w = 16.5 - 1.05 - 1.6 - 1.3 * n
    first = Appendix("I", w.text("document.appendix_targets", **base), w.text("document.appendix_caption",
                                                                             **caption_values),
                     [TableBlock(header, rows, [1.05, name_w] + [1.3] * n + [1.6], ["center", "left"] +
                                 ["center"] * (n + 1), size=11),
                      Para(w.text("document.appendix_targets_legend_span" if multi
                                  else "document.appendix_targets_legend_month", **base), italic=True, indent=False)])
    d = fig.discipline
    months = d.grid_months
    header2 = ["STT", "Tên phòng, đơn vị"] + [f"T{m.month}" for m in months]
    rows2 = [[str(i), fig.name(u)] + [STATUS_MARK.get(st or "", "") for st in d.grid[u]]
             for i, u in enumerate(fig.units, start=1)]
    cw = 0.95  # "T12" in 11 pt bold with the cell margins
    second = Appendix("II", w.text("document.appendix_status", **base), w.text("document.appendix_caption",
                                                                              **caption_values),
                      [TableBlock(header2, rows2, [1.05, 16.5 - 1.05 - cw * len(months)] + [cw] * len(months),
                                  ["center", "left"] + ["center"] * len(months), size=11),
                       Para(w.text("document.appendix_status_legend", **base), italic=True, indent=False)])
    return [first, second]


def build_report(
    data: Any,
    cat: Catalogue,
    kind: str = SO_KET,
    report_date: dt.date | None = None,
    wording: Wording | None = None,
    title_rules: TitleRules | None = None,
    office: OfficeText | None = None,
) -> Report:
    """Compute the figures of ``data`` (a month's PeriodData or a SpanData) and lay out the report (no file written)."""
    if kind not in KINDS:
        raise ThiDuaError(f"Loại báo cáo “{kind}” không hợp lệ: chỉ nhận {', '.join(KINDS)}.")
    w = wording or default_wording()
    office = office or load_office_text()
    sd = SpanData.of(data)
    fig = compute(sd, cat, int(w.get("target_common.max_quotes")), int(w.get("target_common.max_quote_length")))
    period = fig.period
    report_date = report_date or default_report_date(cat, period)
    org = cat.organisation(report_date)
    base = _base(cat, org, fig, kind, office)
    values = figure_values(fig.raw)

    titles = rules = None
    if kind == TONG_KET:
        rules = title_rules or default_title_rules()
        titles = evaluate_titles(sd.end, cat, rules)

    blocks: list[Any] = [Para(w.text("intro", kind, **base))]
    blocks.append(Heading(w.text("headings.situation", **base), 1))
    blocks += [Para(t) for t in w.lines("situation", kind, **base)]
    blocks.append(Heading(w.text("headings.results", **base), 1))
    blocks.append(Heading(w.text("headings.direction", **base), 2))
    blocks += [Para(t) for t in w.lines("direction", kind, **base)]
    absent = [u for u in fig.units if u not in fig.views[-1].reported]
    if absent:
        blocks.append(Para(w.text("direction.reported", **base)))
        blocks.append(Para(w.text("direction.absent", count=fmt_int(len(absent)),
                                  units=_names(w, _absent_words(w, fig, absent), "II"), **base)))
        carried = [u for u in absent if u in fig.carried]
        if carried:
            items = [w.text("direction.carried_item", unit=fig.name(u), month=int(fig.carried[u][5:7]),
                            year=fig.carried[u][:4]) for u in carried]
            blocks.append(Para(w.text("direction.carried", count=fmt_int(len(carried)),
                                      items=_names(w, items, "I"), **base)))
    else:
        blocks.append(Para(w.text("direction.reported_all", **base)))
    blocks.append(Heading(w.text("headings.targets", **base), 2))
    for res in fig.targets:
        blocks.append(Heading(w.text("headings.target", n=res.number, title=res.title, **base), 3))
        blocks += _target_paras(w, fig, res, base, kind, values)
    blocks.append(Heading(w.text("headings.discipline", **base), 2))
    blocks += _discipline(w, fig, base)
    blocks.append(Heading(w.text("headings.summary", **base), 2))
    blocks.append(Para(w.text("table.summary_note", **base)))
    blocks.append(_summary_table(w, fig, base))
    compare = _compare_table(w, cat, fig, base)
    if compare is not None:
        blocks.append(compare)
    trend = fig.span.kind != MONTH
    blocks.append(ChartBlock(w.text("chart.trend_caption" if trend else "chart.caption", **base),
                             "trend" if trend else "bars"))
    section = 5
    if office.sector_results:
        blocks.append(Heading(w.text("headings.sector", **base), 2))
        blocks += [Para(t) for t in office.sector_results]
        section += 1
    if titles is not None and rules is not None:
        blocks += _titles_blocks(w, titles, rules, fig, base, section)
    blocks.append(Heading(w.text("headings.assessment", **base), 1))
    blocks += _assessment(w, fig, base, values)
    blocks.append(Heading(w.text("headings.next_steps", kind, **base), 1))
    blocks += [Para(f"- {t}") for t in [*w.lines("next_steps", kind, **base), *office.next_steps]]
    blocks.append(Heading(w.text("headings.proposals", **base), 1))
    blocks += [Para(f"- {t}") for t in [*w.lines("proposals", kind, **base), *office.proposals]]

    d_type = str(w.get("document.type_code"))
    number = office.report_number or str(w.get("document.number_placeholder"))
    day, month, year = date_parts(report_date)
    caption_values = dict(base, number=number, type_code=d_type, day=day, month=month, report_year=year)
    appendices = _appendices(w, cat, fig, base, caption_values)
    return Report(
        kind=kind, span=fig.span, period=period, report_date=report_date, org=org, catalogue_id=cat.id,
        catalogue_version=cat.version, number_line=f"Số: {number}/{d_type}-{org.doc_code}",
        date_text=date_line(org.place, report_date), subject=w.text("subject", kind, **base), blocks=blocks,
        figures=fig, titles=titles, title_rules=rules, wording=w, office=office,
        chart_title=w.text("chart.trend_title" if trend else "chart.title", **base),
        chart_labels=(w.text("chart.xlabel", **base), w.text("chart.current", **base),
                      w.text("chart.previous", **base)),
        appendices=appendices, values=dict(base, **values),
    )


def titles_summary(titles: list[UnitTitles]) -> dict[str, int]:
    """Counts of proposals by title (for the CLI and JSON output)."""
    out: dict[str, int] = {}
    for t in titles:
        out[t.proposal_text] = out.get(t.proposal_text, 0) + 1
    return out

