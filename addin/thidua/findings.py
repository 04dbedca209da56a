"""Findings: what validation says about a file, one object per problem, with where it is.

A finding has a stable ``code`` (documented in docs/findings.md, generated from the rule registry), a ``severity``
(``error`` blocks consolidation of the file, ``warning`` does not, ``info`` is for the record), a Vietnamese message
that says what is wrong and what to do, and its place: file, sheet, A1 cell, indicator code and the value found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)
SEVERITY_VI = {ERROR: "Lỗi", WARNING: "Cảnh báo", INFO: "Thông tin"}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    file: str = ""
    sheet: str | None = None
    cell: str | None = None
    indicator: str | None = None
    value: Any = None

    def __post_init__(self) -> None:
        # A file name that is not valid UTF-8 (possible on Linux) inside the message or the value: its display form
        # (thidua.guards.display_name), which can be stored, shown and written anywhere.
        from .guards import clean_text

        for name in ("message", "file", "value"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, clean_text(value))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["value"] is not None and not isinstance(data["value"], (int, float, str, bool)):
            data["value"] = str(data["value"])
        return data


@dataclass
class FileResult:
    """One file's validation result: the submission read from it and every finding about it."""

    path: Path
    unit: str | None
    period: str | None
    findings: list[Finding] = field(default_factory=list)
    submission: Any = None  # thidua.reader.Submission (Any to avoid an import cycle)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "unit": self.unit,
            "period": self.period,
            "valid": self.valid,
            "findings": [f.to_dict() for f in self.findings],
        }
