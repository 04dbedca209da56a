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
ON_TIME, LATE, MISSING, REJECTED = "on_time", "late", "missing", "rejected"
STATUS_VI = {ON_TIME: "Đúng hạn", LATE: "Trễ hạn", MISSING: "Chưa nộp", REJECTED: "Bị trả lại"}

VALUE_COLUMNS = ["unit", "code", "column", "value", "raw", "cell", "file"]
ASSESSMENT_COLUMNS = ["unit", "target", "assessment", "explanation", "cell", "file"]
ATTAINMENT_COLUMNS = ["unit", "target", "met", "reason"]
STATUS_COLUMNS = ["unit", "period", "status", "received_at", "file", "reason"]


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
    - ``status``: one row per unit × month from January to the period: STATUS_COLUMNS.
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
