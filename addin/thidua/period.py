"""Reporting periods: one calendar month, written ``YYYY-MM``."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .errors import ThiDuaError

_PERIOD_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``YYYY-MM``; raise :class:`ThiDuaError` with a Vietnamese message otherwise."""
        m = _PERIOD_RE.match(str(text))
        if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
            raise ThiDuaError(f"Kỳ báo cáo “{text}” không hợp lệ: cần dạng NNNN-TT, ví dụ 2024-09.")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def try_parse(cls, text: object) -> Period | None:
        try:
            return cls.parse(str(text))
        except ThiDuaError:
            return None

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """Vietnamese label, e.g. ``tháng 09/2024``."""
        return f"tháng {self.month:02d}/{self.year}"

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last_day(self) -> dt.date:
        return self.next().first_day - dt.timedelta(days=1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def months_of_year(self) -> list[Period]:
        """January up to and including this month."""
        return [Period(self.year, m) for m in range(1, self.month + 1)]


# ----------------------------------------------------------------------------------------------------------------------
# Report spans: a month, a quarter, a half-year or a year (``2024-06``, ``2024-Q2``, ``2024-H1``, ``2024``)

MONTH, QUARTER, HALF, YEAR = "month", "quarter", "half", "year"
_SPAN_RE = re.compile(r"^\s*(\d{4})(?:-(?:(\d{1,2})|[Qq]([1-4])|[Hh]([12])))?\s*$")
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True)
class Span:
    """The months a report covers. ``kind`` is month, quarter, half or year; ``index`` the month (1-12), quarter (1-4)
    or half (1-2); for a year ``index`` is the last month covered (12 for the whole year, less for a tổng kết written
    before the year's last forms are in)."""

    kind: str
    year: int
    index: int

    @classmethod
    def parse(cls, text: str) -> Span:
        """``2024-06`` (month), ``2024-Q2`` (quarter), ``2024-H1`` (half-year) or ``2024`` (year)."""
        m = _SPAN_RE.match(str(text))
        if not m or not 2000 <= int(m.group(1)) <= 2100 or (m.group(2) and not 1 <= int(m.group(2)) <= 12):
            raise ThiDuaError(f"Kỳ báo cáo “{text}” không hợp lệ: cần dạng 2024-06 (tháng), 2024-Q2 (quý), "
                              "2024-H1 (6 tháng đầu năm), 2024-H2 (6 tháng cuối năm) hoặc 2024 (cả năm).")
        year = int(m.group(1))
        if m.group(2):
            return cls(MONTH, year, int(m.group(2)))
        if m.group(3):
            return cls(QUARTER, year, int(m.group(3)))
        if m.group(4):
            return cls(HALF, year, int(m.group(4)))
        return cls(YEAR, year, 12)

    @classmethod
    def of_month(cls, period: Period) -> Span:
        return cls(MONTH, period.year, period.month)

    @classmethod
    def year_to(cls, period: Period) -> Span:
        """The year of ``period`` from January up to and including it (a tổng kết)."""
        return cls(YEAR, period.year, period.month)

    @property
    def first(self) -> Period:
        start = {MONTH: self.index, QUARTER: 3 * self.index - 2, HALF: 6 * self.index - 5, YEAR: 1}[self.kind]
        return Period(self.year, start)

    @property
    def last(self) -> Period:
        end = {MONTH: self.index, QUARTER: 3 * self.index, HALF: 6 * self.index, YEAR: self.index}[self.kind]
        return Period(self.year, end)

    @property
    def months(self) -> list[Period]:
        return [Period(self.year, m) for m in range(self.first.month, self.last.month + 1)]

    def __str__(self) -> str:
        if self.kind == MONTH:
            return str(Period(self.year, self.index))
        if self.kind == QUARTER:
            return f"{self.year:04d}-Q{self.index}"
        if self.kind == HALF:
            return f"{self.year:04d}-H{self.index}"
        return f"{self.year:04d}" if self.index == 12 else f"{self.year:04d}-01-{self.index:02d}"

    @property
    def label(self) -> str:
        """``tháng 6 năm 2024``, ``quý II năm 2024``, ``6 tháng đầu năm 2024``, ``năm 2024``."""
        if self.kind == MONTH:
            return f"tháng {self.index} năm {self.year}"
        if self.kind == QUARTER:
            return f"quý {_ROMAN[self.index]} năm {self.year}"
        if self.kind == HALF:
            return f"6 tháng {'đầu' if self.index == 1 else 'cuối'} năm {self.year}"
        return f"năm {self.year}"

    @property
    def short(self) -> str:
        """``Tháng 6/2024``, ``Quý II/2024``, ``6 tháng đầu năm 2024``, ``Năm 2024``."""
        if self.kind == MONTH:
            return f"Tháng {self.index}/{self.year}"
        if self.kind == QUARTER:
            return f"Quý {_ROMAN[self.index]}/{self.year}"
        return self.label[0].upper() + self.label[1:]

    def next(self) -> Span:
        """The span of the same kind that follows (a year's successor is the whole next year)."""
        if self.kind == YEAR:
            return Span(YEAR, self.year + 1, 12)
        count = {MONTH: 12, QUARTER: 4, HALF: 2}[self.kind]
        return Span(self.kind, self.year + self.index // count, self.index % count + 1)
