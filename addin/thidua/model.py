"""The consolidated data of one period, as the ledger hands it to the master sheets and the report.

Produced by ``thidua.consolidate.load_period`` from the ledger; consumed by the master writer and the report. Tables are
pandas DataFrames built once per run (never cell by cell).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .findings import Finding
from .period import Period

#: Submission status values of the "Tình hình nộp" grid.
ON_TIME, LATE, MISSING, REJECTED, NOT_DUE = "on_time", "late", "missing", "rejected", "not_due"
#: The statuses of a month that was due (counted in every tally), then the one of a month before the movement's
#: first month (not due: shown, never counted as missed).
DUE_STATUSES = (ON_TIME, LATE, MISSING, REJECTED)
STATUS_VI = {ON_TIME: "Đúng hạn", LATE: "Trễ hạn", MISSING: "Chưa nộp", REJECTED: "Bị trả lại",
             NOT_DUE: "Chưa phát động"}

VALUE_COLUMNS = ["unit", "code", "column", "value", "raw", "cell", "file"]
#: A column the ledger's ``values`` table adds (others, e.g. sample data, may leave it out): None for a figure of the
#: period's own file; for a year-to-date figure carried forward from an earlier month (the unit has no accepted file
#: for the period), that month ``YYYY-MM``.
CARRIED = "carried"
ASSESSMENT_COLUMNS = ["unit", "target", "assessment", "explanation", "cell", "file"]
ATTAINMENT_COLUMNS = ["unit", "target", "met", "reason"]
STATUS_COLUMNS = ["unit", "period", "status", "received_at", "file", "reason"]
#: Every file of the year up to the period, as the ledger holds it (the detail behind the status grid).
RECEIVED_COLUMNS = ["unit", "period", "file", "container", "received_on", "received_how", "file_status", "reason"]
#: ``file_status`` values: the file in use, replaced by a newer one, older than the one in use, rejected.
FILE_STATUS_VI = {"current": "Đang dùng", "superseded": "Đã được thay", "older": "Cũ hơn tệp đang dùng",
                  "rejected": "Bị trả lại"}


@dataclass
class PeriodData:
    """Everything consolidated for one period.

    - ``values``: one row per unit × indicator × column ("month", "ytd", and "note" for a non-empty note) of the current
      file of each unit:
      VALUE_COLUMNS (value typed: int, str or date; None when empty).
    - ``assessments``: one row per unit × target: ASSESSMENT_COLUMNS (assessment "Đạt"/"Không đạt"/None).
    - ``attainment``: one row per unit × target: ATTAINMENT_COLUMNS; ``met`` is True when every "target" rule of
      the
      target's indicators is met (a 0/0 ratio counts as met: nothing to do) and the self-assessment is "Đạt".
    - ``status``: one row per unit × month from January to the period: STATUS_COLUMNS (``received_at`` is the day the
      month's first accepted file counts as received).
    - ``received``: every file of the year up to the period (RECEIVED_COLUMNS): when it counts as received and how
      that is known, its state in the ledger, why — corrections and rejections stay visible behind the grid.
    - ``carried``: units without an accepted file for the period whose year-to-date figures are carried forward
      from their latest earlier month: unit -> that month ``YYYY-MM`` (their rows in ``values`` say so in
      ``carried``; month figures are never carried).
    - ``previous``: the same ``attainment`` table for the previous month (empty when unknown), for the change
      month on month.
    - ``findings``: the findings of the period's files (current and rejected).
    """

    period: Period
    units: list[str]
    values: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VALUE_COLUMNS))
    assessments: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ASSESSMENT_COLUMNS))
    attainment: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ATTAINMENT_COLUMNS))
    status: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STATUS_COLUMNS))
    previous: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ATTAINMENT_COLUMNS))
    findings: list[Finding] = field(default_factory=list)
    carried: dict[str, str] = field(default_factory=dict)
    received: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RECEIVED_COLUMNS))
