"""Consolidated sample data (a :class:`~thidua.model.PeriodData`) built without a ledger, for tests and demos of the
report: figures from :func:`thidua.samples.sample_figures`, plus a few units that fall short, send late, are rejected
or send nothing, all deterministic."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable

import pandas as pd

from .catalogue import Catalogue
from .model import (
    ASSESSMENT_COLUMNS,
    ATTAINMENT_COLUMNS,
    LATE,
    MISSING,
    ON_TIME,
    REJECTED,
    STATUS_COLUMNS,
    VALUE_COLUMNS,
    PeriodData,
)
from .period import Period
from .samples import ACTIVITIES, sample_figures

#: Year-end rating choices of indicator 3.13, best first.
RATINGS = ("Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ")
SHORT_REASONS = (
    "Một số hồ sơ phải lấy ý kiến cơ quan phối hợp nên giải quyết quá hạn",
    "Hệ thống ký số gián đoạn trong tháng, một số văn bản phải ký tay",
    "Đơn vị thiếu nhân lực do cán bộ đi học, chưa tổ chức đủ các buổi tuyên truyền",
)


def _year_end_figures(cat: Catalogue, unit: str, staff: int) -> dict[tuple[str, str], object]:
    """Values of the optional year-end indicators (1.5-1.8, 3.13) where the catalogue has them."""
    rng = random.Random(f"{unit}/titles")
    lao_dong_tien_tien = round(staff * rng.choice((0.45, 0.6, 0.75, 0.85, 0.9)))
    wanted: dict[tuple[str, str], object] = {
        ("1.5", "ytd"): staff if rng.random() < 0.8 else staff - 1,
        ("1.6", "ytd"): lao_dong_tien_tien,
        ("1.7", "ytd"): min(lao_dong_tien_tien, rng.choice((0, 1, 2))),
        ("1.8", "ytd"): "Có",
        ("3.13", "ytd"): rng.choice(RATINGS),
    }
    codes = {(i.code, c) for i in cat.indicators for c in i.periods}
    return {k: v for k, v in wanted.items() if k in codes}


def _attainment(units: list[str], cat: Catalogue, period: Period, absent: set[str],
                short: dict[tuple[str, int], str]) -> pd.DataFrame:
    rows = []
    for u in units:
        for t in cat.targets:
            if u in absent:
                rows.append((u, t.number, False, "Chưa nộp báo cáo."))
            elif (u, t.number) in short:
                rows.append((u, t.number, False, f"Tự đánh giá “Không đạt”: {short[(u, t.number)]}"))
            else:
                rows.append((u, t.number, True, None))
    return pd.DataFrame(rows, columns=ATTAINMENT_COLUMNS, dtype=object).astype({"target": int, "met": bool})


def _default_short(units: list[str], cat: Catalogue, period: Period) -> dict[tuple[str, int], str]:
    rng = random.Random(f"{period}/short")
    picks = rng.sample(units, k=min(3, len(units)))
    targets = [t.number for t in cat.targets]
    return {(u, rng.choice(targets)): SHORT_REASONS[i % len(SHORT_REASONS)] for i, u in enumerate(picks)}


def sample_period_data(
    cat: Catalogue,
    period: Period,
    units: Iterable[str] | None = None,
    *,
    late: Iterable[str] | None = None,
    missing: Iterable[str] | None = None,
    rejected: Iterable[str] | None = None,
    short: dict[tuple[str, int], str] | None = None,
    year_end: bool | None = None,
    without: Iterable[tuple[str, str, str]] = (),
    previous: bool = True,
) -> PeriodData:
    """A consistent PeriodData for ``period``.

    ``late``/``missing``/``rejected``: unit codes with that status this month (default: one of each, chosen from the
    period); ``short``: (unit, target) -> explanation of a self-assessed "Không đạt"; ``year_end``: fill the optional
    year-end indicators (default: in December); ``without``: (unit, code, column) values left empty.
    """
    codes = list(units) if units is not None else [u.code for u in cat.units]
    rng = random.Random(f"{period}/status")
    pool = list(codes)
    rng.shuffle(pool)
    late = set(late) if late is not None else set(pool[:1])
    missing = set(missing) if missing is not None else set(pool[1:2])
    rejected = set(rejected) if rejected is not None else set(pool[2:3])
    absent = missing | rejected
    reporting = [u for u in codes if u not in absent]
    short = dict(short) if short is not None else _default_short(reporting, cat, period)
    year_end = period.month == 12 if year_end is None else year_end
    drop = set(without)

    values, assessments = [], []
    for code in reporting:
        unit = cat.unit(code)
        if unit is None:
            continue
        figures = sample_figures(cat, unit, period)
        if year_end:
            figures.update(_year_end_figures(cat, code, int(figures.get(("1.1", "month")) or 0)))
        file = f"ThiDua_{period}_{code}.xlsx"
        for (ind, col), value in figures.items():
            if (code, ind, col) in drop:
                value = None
            values.append((code, ind, col, value, None if value is None else str(value), None, file))
        note_rng = random.Random(f"{code}/{period}/notes")
        for t in cat.targets:
            if (code, t.number) in short:
                assessments.append((code, t.number, "Không đạt", short[(code, t.number)], None, file))
            else:
                assessments.append((code, t.number, "Đạt", note_rng.choice(ACTIVITIES), None, file))

    status = []
    for code in codes:
        for month in period.months_of_year():
            if month == period:
                st = MISSING if code in missing else REJECTED if code in rejected else LATE if code in late else ON_TIME
            else:
                st = LATE if random.Random(f"{code}/{month}/late").random() < 0.1 else ON_TIME
            when = None if st == MISSING else dt.datetime(month.year, month.month, 20 if st != LATE else 28)
            reason = {MISSING: "Chưa nhận được báo cáo.", REJECTED: "Bị trả lại do sai mẫu.",
                      LATE: "Nộp sau hạn."}.get(st)
            status.append((code, str(month), st, when, None if st == MISSING else f"ThiDua_{month}_{code}.xlsx",
                           reason))

    prev = pd.DataFrame(columns=ATTAINMENT_COLUMNS)
    if previous and period.month > 1:
        p = period.previous()
        prev_short = _default_short(codes, cat, p)
        prev = _attainment(codes, cat, p, set(), prev_short)

    return PeriodData(
        period=period,
        units=codes,
        values=pd.DataFrame(values, columns=VALUE_COLUMNS, dtype=object),
        assessments=pd.DataFrame(assessments, columns=ASSESSMENT_COLUMNS, dtype=object),
        attainment=_attainment(codes, cat, period, absent, short),
        status=pd.DataFrame(status, columns=STATUS_COLUMNS, dtype=object),
        previous=prev,
    )
