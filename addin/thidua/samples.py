"""Realistic sample data: filled unit forms for demos, tests and benchmarks.

Values are generated deterministically from (unit, period) so that year-to-date figures add up month after month.
Filling writes into a generated form with openpyxl (text always as text, never as a formula).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.cell import TYPE_STRING

from .atomic import atomic_path
from .catalogue import Catalogue, Unit
from .layout import COLUMNS, HEADER, HEADER_VALUE_COL, SHEET_REPORT, FormLayout, a1
from .period import Period

ACTIVITIES = (
    "Tổ chức quán triệt Chỉ thị 34-CT/TW tại cuộc họp giao ban cơ quan",
    "Phát động đợt thi đua cao điểm chào mừng Quốc khánh 2/9",
    "Xây dựng mô hình “Cơ quan không giấy tờ” trong xử lý văn bản",
    "Triển khai ký số 100% văn bản đi trên hệ thống quản lý văn bản điều hành",
    "Tổ chức kiểm tra việc chấp hành nội quy, giờ giấc làm việc",
    "Chia sẻ kinh nghiệm rút ngắn thời gian giải quyết hồ sơ đăng kiểm",
    "Hưởng ứng ủng hộ Quỹ “Vì người nghèo” của tỉnh",
    "Tham gia Cuộc thi tìm hiểu văn hóa công sở do Sở Nội vụ phát động",
)
PREPARERS = ("Nguyễn Thị Hoa", "Trần Văn Nam", "Lê Thị Thu Hà", "Phạm Quốc Huy", "Y Blôk", "A Thuận", "Đinh Văn Tùng")


@dataclass
class FilledForm:
    """What a unit writes into its form: values by A1 cell, and which ones are text."""

    values: dict[str, Any] = field(default_factory=dict)

    def set(self, cell: str, value: Any) -> None:
        self.values[cell] = value


def _month_figures(cat: Catalogue, unit: Unit, period: Period) -> dict[str, int]:
    """Monthly count figures of one unit for one month (deterministic)."""
    rng = random.Random(f"{unit.code}/{period}")
    staff = random.Random(unit.code).randint(8, 45)
    dossiers = rng.randint(0, 60) if unit.kind == "don-vi" or unit.code in ("QLVT", "QLKCHT") else rng.randint(0, 5)
    pending = rng.randint(0, min(5, dossiers))
    settled = dossiers - pending
    letters = rng.randint(0, 3)
    docs = rng.randint(15, 90)
    proposals = rng.randint(0, 4)
    awards = rng.randint(1, 4) if period.month in (1, 6, 12) else 0
    year_end = period.month == 12
    return {
        "1.1": staff,
        "1.2": staff,
        "1.3": 0,
        "1.4": 0,
        # year-end ratings: only known in December
        "1.5": staff if year_end else 0,
        "1.6": staff * 4 // 5 if year_end else 0,
        "1.7": 1 + staff // 20 if year_end else 0,
        "2.1": rng.randint(1, 3),
        "2.2": staff,
        "3.1": rng.randint(0, 2),
        "3.11": 12 + len(unit.code),
        "3.12": min(12 + len(unit.code), period.month + len(unit.code) % 3),
        "4.1": rng.randint(3, 10),
        "4.2": 10,
        "4.3": dossiers,
        "4.4": settled,
        "4.5": settled,
        "4.6": pending,
        "4.7": docs,
        "4.8": docs,
        "5.1": letters,
        "5.2": letters,
        "5.3": 0,
        "6.1": rng.randint(0, 1),
        "6.2": proposals,
        "6.3": 0,
        "6.4": awards,
        "6.5": awards // 2,
        "7.1": rng.randint(0, 2),
        "7.2": rng.randint(0, 1),
    }


#: Year-to-date figures that are a state at the end of the month, not a sum of monthly figures.
SNAPSHOT_YTD = frozenset({"1.4", "1.5", "1.6", "1.7", "3.11", "3.12"})


def sample_figures(cat: Catalogue, unit: Unit, period: Period) -> dict[tuple[str, str], Any]:
    """Typed values by (code, column) for one unit and month, year-to-date figures consistent with earlier months."""
    months = [_month_figures(cat, unit, p) for p in period.months_of_year()]
    this = months[-1]
    rng = random.Random(f"{unit.code}/{period}/x")
    out: dict[tuple[str, str], Any] = {}
    for ind in cat.indicators:
        for col in ind.periods:
            if ind.kind == "count":
                if col == "month" or ind.code in SNAPSHOT_YTD:
                    value = this.get(ind.code, 0)
                else:
                    value = sum(m.get(ind.code, 0) for m in months)
                out[(ind.code, col)] = value
            elif ind.kind == "yesno":
                out[(ind.code, col)] = "Có" if ind.target == "Có" or rng.random() < 0.6 else "Không"
            elif ind.kind == "choice":
                out[(ind.code, col)] = ind.choices[2 if period.month == 12 else (1 if period.month in (6, 7) else 0)]
            elif ind.kind == "date":
                out[(ind.code, col)] = dt.date(period.year, min(period.month, 6), 28) if period.month >= 6 else None
            else:
                out[(ind.code, col)] = rng.choice(ACTIVITIES)
    return out


def sample_fill(cat: Catalogue, unit: Unit, period: Period) -> FilledForm:
    """A correct, complete filling of a unit's form."""
    layout = FormLayout.for_catalogue(cat)
    rng = random.Random(f"{unit.code}/{period}/fill")
    filled = FilledForm()
    filled.set(a1(HEADER["preparer"][0], HEADER_VALUE_COL), rng.choice(PREPARERS))
    prepared = min(period.last_day, dt.date(period.year, period.month, 20))
    filled.set(a1(HEADER["prepared_on"][0], HEADER_VALUE_COL), prepared)
    for (code, col), value in sample_figures(cat, unit, period).items():
        if value is not None:
            filled.set(a1(layout.rows[code], COLUMNS[col][0]), value)
    for target in cat.targets:
        r = layout.rows[f"T{target.number}"]
        filled.set(a1(r, COLUMNS["assessment"][0]), "Đạt")
        filled.set(a1(r, COLUMNS["note"][0]), rng.choice(ACTIVITIES))
    return filled


def fill_form(form: Path, out: Path, filled: FilledForm) -> Path:
    """Write ``filled`` into a copy of the blank ``form`` at ``out`` (text cells stay text)."""
    wb = openpyxl.load_workbook(form)
    ws = wb[SHEET_REPORT]
    for ref, value in filled.values.items():
        cell = ws[ref]
        cell.value = value
        if isinstance(value, str):
            cell.data_type = TYPE_STRING  # a note starting with "=" stays text
    with atomic_path(out) as tmp:
        wb.save(tmp)
    return out
