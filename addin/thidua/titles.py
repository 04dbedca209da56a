"""Collective emulation titles at tổng kết: which unit meets which criterion of which title, and why.

The criteria, their thresholds and their legal references are versioned data (``data/titles.toml``); this module holds
one registry of small check functions (``CHECKS``), each answering met / not met / "chưa đủ dữ liệu" with a reason in
Vietnamese. A missing figure is never guessed: the answer is "chưa đủ dữ liệu" and the reason names the indicator.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .catalogue import Catalogue
from .errors import CatalogueError
from .model import PeriodData
from .report_text import fmt_int, fmt_pct, read_data_file

MET, NOT_MET, NO_DATA = "dat", "khong_dat", "chua_du_du_lieu"
STATUS_VI = {MET: "Đạt", NOT_MET: "Không đạt", NO_DATA: "Chưa đủ dữ liệu"}
NO_PROPOSAL = "Không đề xuất"
NO_DATA_PROPOSAL = "Chưa đủ dữ liệu để đề xuất"


@dataclass(frozen=True)
class Criterion:
    code: str
    text: str
    reference: str
    check: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class Title:
    code: str
    name: str
    reference: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class TitleRules:
    version: str
    valid_from: dt.date
    law: str
    decree: str
    titles: tuple[Title, ...]
    messages: dict[str, str] = field(hash=False, compare=False)
    source: str = ""

    def title(self, code: str) -> Title:
        return next(t for t in self.titles if t.code == code)


@dataclass
class CriterionResult:
    criterion: Criterion
    status: str
    reason: str

    @property
    def status_vi(self) -> str:
        return STATUS_VI[self.status]


@dataclass
class TitleResult:
    title: Title
    status: str
    criteria: list[CriterionResult]

    @property
    def status_vi(self) -> str:
        return STATUS_VI[self.status]


@dataclass
class UnitTitles:
    """Every title's result for one unit and the proposal drawn from them."""

    unit: str
    name: str
    results: list[TitleResult]
    proposal: str | None  # title code, or None
    proposal_text: str
    note: str = ""

    def result(self, code: str) -> TitleResult:
        return next(r for r in self.results if r.title.code == code)


# ----------------------------------------------------------------------------------------------------------------------
# Facts: one unit's values of the period


class Facts:
    """One unit's typed values by (indicator code, column); ``reported`` is False when the unit has no current file."""

    def __init__(self, cat: Catalogue, values: dict[tuple[str, str], Any], reported: bool, period: str):
        self.cat = cat
        self.values = values
        self.reported = reported
        self.period = period

    def get(self, code: str, column: str) -> Any:
        value = self.values.get((code, column))
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def name(self, code: str) -> str:
        try:
            return self.cat.indicator(code).name
        except KeyError:
            return code

    def unit_of(self, code: str) -> str:
        try:
            return self.cat.indicator(code).unit
        except KeyError:
            return ""


Result = tuple[str, str]
Check = Callable[[dict[str, Any], Facts, "Context"], Result]


@dataclass
class Context:
    rules: TitleRules
    done: dict[str, TitleResult]
    yes: str = "Có"

    def msg(self, key: str, **values: Any) -> str:
        return self.rules.messages[key].format(**values)


def _missing(ctx: Context, facts: Facts, code: str) -> Result:
    if not facts.reported:
        return NO_DATA, ctx.msg("no_report", period=facts.period)
    return NO_DATA, ctx.msg("no_data", code=code, name=facts.name(code))


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    return None


def _count(op: Callable[[float, float], bool]) -> Check:
    def check(spec: dict[str, Any], facts: Facts, ctx: Context) -> Result:
        value = _number(facts.get(spec["indicator"], spec["column"]))
        if value is None:
            return _missing(ctx, facts, spec["indicator"])
        status = MET if op(value, spec["value"]) else NOT_MET
        if value == 0 and "count_zero" in ctx.rules.messages:  # "không có …", not "0 người …"
            return status, ctx.msg("count_zero", label=spec["label"], requirement=spec["requirement"])
        return status, ctx.msg("count", value=fmt_int(value), label=spec["label"], requirement=spec["requirement"])

    return check


def _ratio(op: Callable[[float, float], bool]) -> Check:
    def check(spec: dict[str, Any], facts: Facts, ctx: Context) -> Result:
        (ncode, ncol), (dcode, dcol) = spec["numerator"], spec["denominator"]
        num, den = _number(facts.get(ncode, ncol)), _number(facts.get(dcode, dcol))
        if num is None:
            return _missing(ctx, facts, ncode)
        if den is None:
            return _missing(ctx, facts, dcode)
        if den <= 0:
            return NO_DATA, ctx.msg("ratio_no_base", code=dcode)
        share = num / den
        status = MET if op(share, spec["value"]) else NOT_MET
        reason = ctx.msg(
            "ratio", num=fmt_int(num), den=fmt_int(den), label=spec["label"], pct=fmt_pct(100 * share),
            requirement=spec["requirement"],
        )
        return status, reason

    return check


def _choice_in(spec: dict[str, Any], facts: Facts, ctx: Context) -> Result:
    value = facts.get(spec["indicator"], spec["column"])
    if value is None:
        return _missing(ctx, facts, spec["indicator"])
    value = unicodedata.normalize("NFC", str(value)).strip()
    status = MET if value in spec["accept"] else NOT_MET
    return status, ctx.msg("choice", value=value, requirement=spec["requirement"])


def _is_yes(spec: dict[str, Any], facts: Facts, ctx: Context) -> Result:
    value = facts.get(spec["indicator"], spec["column"])
    if value is None:
        return _missing(ctx, facts, spec["indicator"])
    value = unicodedata.normalize("NFC", str(value)).strip()
    status = MET if value == ctx.yes else NOT_MET
    return status, ctx.msg("yes", value=value, requirement=spec["requirement"])


def _all_of(spec: dict[str, Any], facts: Facts, ctx: Context) -> Result:
    results = [CHECKS[sub["type"]](sub, facts, ctx) for sub in spec["checks"]]
    statuses = {s for s, _ in results}
    status = NOT_MET if NOT_MET in statuses else NO_DATA if NO_DATA in statuses else MET
    return status, "; ".join(r for _, r in results)


def _title_met(spec: dict[str, Any], facts: Facts, ctx: Context) -> Result:
    other = ctx.done[spec["title"]]
    return other.status, ctx.msg("title", status=other.status_vi, title=other.title.name)


#: The check registry: a new kind of criterion is one function here and one test.
CHECKS: dict[str, Check] = {
    "count_at_least": _count(lambda v, n: v >= n),
    "count_at_most": _count(lambda v, n: v <= n),
    "ratio_at_least": _ratio(lambda s, t: s >= t - 1e-12),
    "ratio_above": _ratio(lambda s, t: s > t + 1e-12),
    "choice_in": _choice_in,
    "is_yes": _is_yes,
    "all_of": _all_of,
    "title_met": _title_met,
}
_NEEDS = {
    "count_at_least": ("indicator", "column", "value", "label", "requirement"),
    "count_at_most": ("indicator", "column", "value", "label", "requirement"),
    "ratio_at_least": ("numerator", "denominator", "value", "label", "requirement"),
    "ratio_above": ("numerator", "denominator", "value", "label", "requirement"),
    "choice_in": ("indicator", "column", "accept", "requirement"),
    "is_yes": ("indicator", "column", "requirement"),
    "all_of": ("checks",),
    "title_met": ("title",),
}


# ----------------------------------------------------------------------------------------------------------------------
# Loading


def _check_spec(spec: Any, cat: Catalogue | None, seen_titles: set[str], path: Any, entry: str) -> None:
    if not isinstance(spec, dict) or spec.get("type") not in CHECKS:
        raise CatalogueError(path, entry, f"phép kiểm tra không hợp lệ (chỉ nhận: {', '.join(CHECKS)})")
    kind = spec["type"]
    for key in _NEEDS[kind]:
        if key not in spec:
            raise CatalogueError(path, entry, f"phép kiểm tra “{kind}” thiếu trường “{key}”")
    if kind == "all_of":
        for sub in spec["checks"]:
            _check_spec(sub, cat, seen_titles, path, entry)
        return
    if kind == "title_met":
        if spec["title"] not in seen_titles:
            raise CatalogueError(path, entry, f"danh hiệu “{spec['title']}” phải được khai báo trước")
        return
    refs = [(spec["indicator"], spec["column"])] if "indicator" in spec else [tuple(spec["numerator"]),
                                                                              tuple(spec["denominator"])]
    for code, column in refs:
        if cat is None:
            continue
        try:
            ind = cat.indicator(code)
        except KeyError:
            raise CatalogueError(path, entry, f"chỉ tiêu “{code}” không có trong danh mục") from None
        if column not in ind.periods:
            raise CatalogueError(path, entry, f"chỉ tiêu “{code}” không có cột “{column}”")


def load_title_rules(path: Path | str | None = None, catalogue: Catalogue | None = None) -> TitleRules:
    """Load ``titles.toml`` (default: the shipped one); with ``catalogue``, check every indicator it names exists."""
    source, data = read_data_file(path, "titles.toml", "tiêu chuẩn danh hiệu")
    titles: list[Title] = []
    seen: set[str] = set()
    for pos, raw in enumerate(data.get("titles", []), start=1):
        code = str(raw.get("code", f"#{pos}"))
        criteria = []
        for crit in raw.get("criteria", []):
            entry = f"danh hiệu {code}, tiêu chí {crit.get('code', '?')}"
            for key in ("code", "text", "reference", "check"):
                if key not in crit:
                    raise CatalogueError(source, entry, f"thiếu trường “{key}”")
            _check_spec(crit["check"], catalogue, seen, source, entry)
            criteria.append(Criterion(crit["code"], crit["text"], crit["reference"], crit["check"]))
        if not criteria:
            raise CatalogueError(source, f"danh hiệu {code}", "chưa có tiêu chí nào")
        titles.append(Title(code, str(raw.get("name", code)), str(raw.get("reference", "")), tuple(criteria)))
        seen.add(code)
    if not titles:
        raise CatalogueError(source, "titles", "chưa khai báo danh hiệu nào")
    messages = data.get("messages", {})
    for key in ("no_data", "no_report", "count", "ratio", "ratio_no_base", "choice", "yes", "title"):
        if key not in messages:
            raise CatalogueError(source, f"messages.{key}", "thiếu câu thông báo")
    return TitleRules(
        version=str(data.get("version", "")),
        valid_from=data.get("valid_from", dt.date(2024, 1, 1)),
        law=str(data.get("law", "")),
        decree=str(data.get("decree", "")),
        titles=tuple(titles),
        messages=dict(messages),
        source=str(source),
    )


@cache
def default_title_rules() -> TitleRules:
    return load_title_rules()


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation


def unit_facts(data: PeriodData, cat: Catalogue) -> dict[str, Facts]:
    """Each unit's values of the period, keyed by unit code."""
    by_unit: dict[str, dict[tuple[str, str], Any]] = {u: {} for u in data.units}
    for unit, code, column, value in data.values[["unit", "code", "column", "value"]].itertuples(index=False):
        by_unit.setdefault(unit, {})[(str(code), str(column))] = value
    reported = set(data.values["unit"]) if len(data.values) else set()
    return {u: Facts(cat, v, u in reported, str(data.period)) for u, v in by_unit.items()}


def evaluate_unit(facts: Facts, rules: TitleRules, yes: str = "Có") -> list[TitleResult]:
    ctx = Context(rules, {}, yes)
    results = []
    for title in rules.titles:
        crits = []
        for crit in title.criteria:
            status, reason = CHECKS[crit.check["type"]](crit.check, facts, ctx)
            crits.append(CriterionResult(crit, status, reason))
        statuses = {c.status for c in crits}
        status = NOT_MET if NOT_MET in statuses else NO_DATA if NO_DATA in statuses else MET
        result = TitleResult(title, status, crits)
        ctx.done[title.code] = result
        results.append(result)
    return results


def propose(results: list[TitleResult]) -> tuple[str | None, str, str]:
    """The highest title met; (code, text, note). Titles are declared from the lowest to the highest."""
    met = [r for r in results if r.status == MET]
    if met:
        best = met[-1]
        higher = results[results.index(best) + 1:]
        note = ""
        if any(r.status == NO_DATA for r in higher):
            names = ", ".join(f"“{r.title.name}”" for r in higher if r.status == NO_DATA)
            note = f"chưa đủ dữ liệu để xét danh hiệu {names}"
        return best.title.code, best.title.name, note
    if results and results[0].status == NO_DATA:
        return None, NO_DATA_PROPOSAL, ""
    return None, NO_PROPOSAL, ""


def evaluate_titles(data: PeriodData, cat: Catalogue, rules: TitleRules | None = None) -> list[UnitTitles]:
    """Evaluate every title for every unit of ``data`` (normally the December period of the year)."""
    rules = rules or default_title_rules()
    yes = cat.yesno_choices[0] if cat.yesno_choices else "Có"
    out = []
    for code, facts in unit_facts(data, cat).items():
        unit = cat.unit(code)
        results = evaluate_unit(facts, rules, yes)
        proposal, text, note = propose(results)
        out.append(UnitTitles(code, unit.name if unit else code, results, proposal, text, note))
    order = {u: i for i, u in enumerate(data.units)}
    out.sort(key=lambda t: order.get(t.unit, len(order)))
    return out
