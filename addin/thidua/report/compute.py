"""Every figure of a report, computed once from the consolidated months (no wording, no Word, no files).

A report covers a :class:`~thidua.period.Span` (a month, a quarter, a half-year or the year): :class:`SpanData` holds
one :class:`~thidua.model.PeriodData` per month of the span, as ``thidua.consolidate.load_period`` gives it. From them
:func:`compute` derives, per target, the end month's units that met it / fell short / had no valid report, the months
each unit met it over the span, the span's totals of every count indicator, the highlights; the submission grid; and,
when given, the previous year's figures. The wording, the Word renderer and the appendix all read these objects, so a
sentence and a table can never be computed two ways.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalogue import Catalogue, Target
from ..model import CARRIED, LATE, MISSING, NOT_DUE, ON_TIME, REJECTED, PeriodData
from ..period import MONTH, YEAR, Period, Span
from ..report_text import clean_text, pct

STATUSES = (ON_TIME, LATE, REJECTED, MISSING)


def target_number(value: Any) -> int | None:
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return int(digits) if digits else None


def number(value: Any) -> int | float | None:
    """A count figure (bool, text and NaN are not)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and value == value:
        return value
    return None


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().casefold() in ("true", "1", "đạt", "yes")
    return bool(value) and value == value


# ----------------------------------------------------------------------------------------------------------------------
# One month


class MonthView:
    """Dictionaries over one month's tables (built once, read many times)."""

    def __init__(self, data: PeriodData):
        self.period = data.period
        self.units = [str(u) for u in data.units]
        v = data.values
        cols = [v[c].tolist() for c in ("unit", "code", "column", "value")] if len(v) else [[], [], [], []]
        self.values: dict[tuple[str, str, str], Any] = {
            (str(u), str(c), str(col)): val for u, c, col, val in zip(*cols, strict=True)}
        #: units whose year-to-date figures are carried forward from an earlier month (no file of their own this
        #: month): unit -> that month; their rows are in ``values`` (year-to-date only) but they did not report
        self.carried: dict[str, str] = {str(u): str(p) for u, p in (getattr(data, "carried", None) or {}).items()}
        own = cols[0]
        if CARRIED in v.columns and len(v):
            own = [u for u, c in zip(cols[0], v[CARRIED].tolist(), strict=True) if c is None or c != c]
        a = data.assessments
        self.reported = set(map(str, own)) | (set(map(str, a["unit"].tolist())) if len(a) else set())
        self.met = self._met(data.attainment)
        self.prev_met = self._met(data.previous)
        self.reasons: dict[tuple[str, int], str] = {}
        at = data.attainment
        if at is not None and len(at):
            for u, t, r in zip(at["unit"].tolist(), at["target"].tolist(), at["reason"].tolist(), strict=True):
                n = target_number(t)
                if n is not None:
                    self.reasons[(str(u), n)] = r if isinstance(r, str) else ""  # cleaned where written
        self.assessment: dict[tuple[str, int], tuple[str, str]] = {}
        if len(a):
            for u, t, s, e in zip(*(a[c].tolist() for c in ("unit", "target", "assessment", "explanation")),
                                  strict=True):
                n = target_number(t)
                if n is not None:  # cleaned where it is written (clean_text on every note costs ~0.1 s a month)
                    self.assessment[(str(u), n)] = (s if isinstance(s, str) else "", e if isinstance(e, str) else "")
        #: unit -> {month text -> status}, January to this month (the submission grid)
        self.grid: dict[str, dict[str, str]] = {}
        s = data.status
        if s is not None and len(s):
            for u, p, st in zip(s["unit"].tolist(), s["period"].tolist(), s["status"].tolist(), strict=True):
                self.grid.setdefault(str(u), {})[str(p)] = str(st)
        me = str(self.period)
        self.status = {u: self.grid.get(u, {}).get(me, ON_TIME if u in self.reported else MISSING)
                       for u in self.units}
        #: the month is due (months before the movement's first month are not: never counted as missed)
        self.due = not self.status or any(st != NOT_DUE for st in self.status.values())

    @staticmethod
    def _met(frame) -> dict[tuple[str, int], bool]:
        out: dict[tuple[str, int], bool] = {}
        if frame is None or not len(frame):
            return out
        for u, t, m in zip(frame["unit"].tolist(), frame["target"].tolist(), frame["met"].tolist(), strict=True):
            n = target_number(t)
            if n is not None:
                out[(str(u), n)] = _true(m)
        return out

    def value(self, unit: str, code: str, column: str) -> Any:
        return self.values.get((unit, code, column))


# ----------------------------------------------------------------------------------------------------------------------
# The span


@dataclass
class PreviousYear:
    """The previous year's figures to compare with (from its ledger or its tổng kết appendix)."""

    year: int
    source: str
    target_pct: dict[int, float]
    figures: dict[str, float]
    on_time_pct: float | None = None


@dataclass
class SpanData:
    """One PeriodData per month of ``span`` (in order), and optionally the previous year's figures."""

    span: Span
    months: list[PeriodData]
    previous_year: PreviousYear | None = None

    @classmethod
    def of(cls, data: PeriodData | SpanData) -> SpanData:
        if isinstance(data, SpanData):
            return data
        return cls(Span.of_month(data.period), [data])

    @property
    def end(self) -> PeriodData:
        return self.months[-1]


def load_span(ledger: Any, span: Span, catalogue: Catalogue, previous_year: PreviousYear | None = None) -> SpanData:
    """Each month of ``span`` from the ledger (``thidua.consolidate.load_period``), the ledger opened once."""
    from ..consolidate import load_period
    from ..ledger import open_ledger

    led, opened = open_ledger(ledger)
    try:
        months = [load_period(led, month, catalogue) for month in span.months]
    finally:
        if opened:
            led.close()
    return SpanData(span, months, previous_year)


# ----------------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Highlight:
    unit: str
    name: str
    text: str


@dataclass
class TargetResult:
    number: int
    title: str
    total: int
    #: end month: units that met the target, units that reported but fell short (code, reason), units without a
    #: valid report (missing or rejected)
    met: list[str]
    short: list[tuple[str, str]]
    absent: list[str]
    prev_met: int | None
    #: over the span: months met per unit, months due, unit-months met
    months_met: dict[str, int]
    due_months: int
    monthly_pct: list[float]
    raw: dict[str, float] = field(default_factory=dict)
    highlights: list[Highlight] = field(default_factory=list)
    previous_year_pct: float | None = None

    @property
    def met_count(self) -> int:
        return len(self.met)

    @property
    def pct(self) -> float:
        return pct(len(self.met), self.total) if self.total else 0.0

    @property
    def prev_pct(self) -> float | None:
        return None if self.prev_met is None or not self.total else pct(self.prev_met, self.total)

    @property
    def span_met(self) -> int:
        return sum(self.months_met.values())

    @property
    def span_due(self) -> int:
        return self.total * self.due_months

    @property
    def span_pct(self) -> float:
        return pct(self.span_met, self.span_due) if self.span_due else 0.0

    @property
    def all_months(self) -> int:
        """Units that met the target in every month of the span."""
        return sum(1 for n in self.months_met.values() if n == self.due_months)


@dataclass
class Discipline:
    """Submission status: the end month's units by status, the span's unit-months by status, per month counts, and the
    grid from January to the end month."""

    end: dict[str, list[str]]
    span_counts: dict[str, int]
    per_month: list[tuple[Period, dict[str, int]]]
    grid: dict[str, list[str | None]]
    grid_months: list[Period]
    ytd_counts: dict[str, int]

    @property
    def span_due(self) -> int:
        return sum(self.span_counts.values())

    @property
    def ytd_due(self) -> int:
        return sum(self.ytd_counts.values())


@dataclass
class Figures:
    span: Span
    period: Period  # the end month
    units: list[str]
    names: dict[str, str]
    reported: list[str]  # units with a valid report in the end month
    staff: int
    targets: list[TargetResult]
    discipline: Discipline
    #: span-wide figures by placeholder (m_, s_, y_, rm_, rs_, ry_, yes_), unformatted
    raw: dict[str, float]
    previous_year: PreviousYear | None
    views: list[MonthView]

    @property
    def due_views(self) -> list[MonthView]:
        """The months of the span that were due (all of them unless the movement started within the span)."""
        due = [v for v in self.views if v.due]
        return due or self.views[-1:]

    @property
    def carried(self) -> dict[str, str]:
        """Units whose year-to-date figures at the end month are carried forward: unit -> month they come from."""
        return self.views[-1].carried

    @property
    def total(self) -> int:
        return len(self.units)

    def name(self, unit: str) -> str:
        return self.names.get(unit, unit)


def _sum(view: MonthView, units: list[str], code: str, column: str) -> int | float:
    return sum(n for u in units if (n := number(view.values.get((u, code, column)))) is not None)


def indicator_figures(cat: Catalogue, views: list[MonthView], units: list[str]) -> dict[str, float]:
    """The span's figures of every indicator: ``m_`` end month, ``s_`` sum over the span's months (month figures),
    ``y_`` year to date at the end month, ``rm_``/``rs_``/``ry_`` their shares (%) of the indicator's whole, ``yes_``
    units answering "Có" (or other than the first choice) in the end month."""
    end = views[-1]
    out: dict[str, float] = {"reported": len(end.reported & set(units))}
    yes = cat.yesno_choices[0] if cat.yesno_choices else "Có"
    for ind in cat.indicators:
        key = ind.code.replace(".", "_")
        if ind.kind == "count":
            if "month" in ind.periods:
                out[f"m_{key}"] = _sum(end, units, ind.code, "month")
                out[f"s_{key}"] = sum(_sum(v, units, ind.code, "month") for v in views)
            if "ytd" in ind.periods:
                out[f"y_{key}"] = _sum(end, units, ind.code, "ytd")
        elif ind.kind in ("yesno", "choice"):
            column = ind.periods[0]
            count = 0
            for u in units:
                value = end.values.get((u, ind.code, column))
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                value = clean_text(value)
                if (ind.kind == "yesno" and value == yes) or (ind.kind == "choice" and ind.choices
                                                                and value != ind.choices[0]):
                    count += 1
            out[f"yes_{key}"] = count
    for ind in cat.indicators:
        whole = ind.rules.get("numerator_of")
        if ind.kind != "count" or not whole:
            continue
        key, wkey = ind.code.replace(".", "_"), whole.replace(".", "_")
        for prefix in ("m", "s", "y"):
            if f"{prefix}_{key}" not in out:
                continue
            base = out.get(f"{prefix}_{wkey}")
            if base is not None:
                out[f"r{prefix}_{key}"] = pct(out[f"{prefix}_{key}"], base)
    return out


def _stable_rank(*parts: Any) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode("utf-8")).hexdigest()


def _highlights(target: Target, views: list[MonthView], units: list[str], names: dict[str, str], quoted: set[str],
                span: Span, max_quotes: int, max_len: int) -> list[Highlight]:
    """What the units themselves reported for ``target`` over the span (its text indicators such as 7.5, then the
    notes of a met self-assessment), one quote per unit, units spread over the targets by a stable rule: a fixed
    pseudo-random order of units per target and span, units not yet quoted under another target first."""
    text_codes = [(ind.code, ind.periods[0]) for ind in target.indicators if ind.kind == "text"]
    best: dict[str, str] = {}
    for view in reversed(views):  # the latest month first
        for u in units:
            if u in best:
                continue
            for code, column in text_codes:
                text = clean_text(view.values.get((u, code, column)), max_len)
                if text:
                    best[u] = text
                    break
            else:
                if view.met.get((u, target.number)):
                    _a, note = view.assessment.get((u, target.number), ("", ""))
                    note = clean_text(note, max_len)
                    if note:
                        best[u] = note
    order = sorted(best, key=lambda u: (u in quoted, _stable_rank(span, target.number, u)))
    out: list[Highlight] = []
    seen: set[str] = set()
    for u in order:
        text = best[u]
        if text.casefold() in seen:
            continue
        seen.add(text.casefold())
        out.append(Highlight(u, names.get(u, u), text))
        quoted.add(u)
        if len(out) >= max_quotes:
            break
    return out


def _discipline(views: list[MonthView], units: list[str], span: Span) -> Discipline:
    end = views[-1]
    grid_months = end.period.months_of_year()
    grid = {u: [end.grid.get(u, {}).get(str(m)) for m in grid_months] for u in units}
    in_span = {str(m) for m in span.months}
    span_counts = dict.fromkeys(STATUSES, 0)
    ytd_counts = dict.fromkeys(STATUSES, 0)
    per_month: list[tuple[Period, dict[str, int]]] = []
    for i, month in enumerate(grid_months):
        counts = dict.fromkeys(STATUSES, 0)
        for u in units:
            st = grid[u][i]
            if st in counts:
                counts[st] += 1
        for st, n in counts.items():
            ytd_counts[st] += n
            if str(month) in in_span:
                span_counts[st] += n
        if str(month) in in_span:
            per_month.append((month, counts))
    by_status: dict[str, list[str]] = {st: [] for st in STATUSES}
    for u in units:
        by_status.setdefault(end.status.get(u, MISSING), []).append(u)
    return Discipline(by_status, span_counts, per_month, grid, grid_months, ytd_counts)


def compute(data: PeriodData | SpanData, cat: Catalogue, max_quotes: int = 3, max_len: int = 220) -> Figures:
    """Every figure of the report of ``data`` (a month's PeriodData or a SpanData)."""
    sd = SpanData.of(data)
    views = [MonthView(m) for m in sd.months]
    end = views[-1]
    units = list(end.units)
    names = {u.code: u.name for u in cat.units}
    reported = [u for u in units if u in end.reported]
    raw = indicator_figures(cat, views, units)
    staff = int(raw.get("m_1_1", 0))
    quoted: set[str] = set()
    due = [v for v in views if v.due] or views[-1:]
    prev_has = bool(end.prev_met) and sd.span.kind == MONTH
    results = []
    for target in cat.targets:
        n = target.number
        met = [u for u in units if end.met.get((u, n))]
        short = []
        for u in reported:
            if not end.met.get((u, n)):
                short.append((u, end.reasons.get((u, n), "")))
        absent = [u for u in units if u not in end.reported]
        months_met = {u: sum(1 for v in due if v.met.get((u, n))) for u in units}
        monthly = [pct(sum(1 for u in units if v.met.get((u, n))), len(units)) if units else 0.0 for v in due]
        prev_met = sum(1 for u in units if end.prev_met.get((u, n))) if prev_has else None
        res = TargetResult(n, target.title, len(units), met, short, absent, prev_met, months_met, len(due),
                           monthly, raw)
        res.highlights = _highlights(target, views, units, names, quoted, sd.span, max_quotes, max_len)
        if sd.previous_year is not None:
            res.previous_year_pct = sd.previous_year.target_pct.get(n)
        results.append(res)
    return Figures(sd.span, end.period, units, names, reported, staff, results, _discipline(views, units, sd.span),
                   raw, sd.previous_year, views)


# ----------------------------------------------------------------------------------------------------------------------
# The previous year


def year_summary(fig: Figures, source: str) -> PreviousYear:
    """The figures of a year's report that a later year compares with."""
    figures = {k[2:]: v for k, v in fig.raw.items() if k.startswith("s_")}
    figures.update({k[2:]: v for k, v in fig.raw.items() if k.startswith("y_") and k[2:] not in figures})
    d = fig.discipline
    on_time = pct(d.span_counts[ON_TIME], d.span_due) if d.span_due else None
    return PreviousYear(fig.span.year, source, {t.number: t.span_pct for t in fig.targets}, figures, on_time)


def previous_year_from_ledger(ledger: Path | str, year: int, cat: Catalogue) -> PreviousYear:
    span = Span(YEAR, year, 12)
    return year_summary(compute(load_span(ledger, span, cat), cat), str(ledger))
