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
