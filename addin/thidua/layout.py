"""Where things are on a unit form: shared by the form writer and the reader, and stamped into every form.

The reader does not trust these positions blindly: it finds the table from the header labels and each row from its code
in column A, and compares what it found with the layout recorded in the form's stamp.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .catalogue import Catalogue

SHEET_REPORT = "Báo cáo"
SHEET_GUIDE = "Hướng dẫn"
SHEET_STAMP = "_thidua"
STAMP_SCHEMA = "1"
FILE_PREFIX = "ThiDua"

#: Table columns: key -> (column index, heading on the form).
COLUMNS: dict[str, tuple[int, str]] = {
    "code": (0, "Mã"),
    "name": (1, "Nội dung thi đua / chỉ tiêu"),
    "unit": (2, "Đơn vị tính"),
    "month": (3, "Tháng báo cáo"),
    "ytd": (4, "Lũy kế từ đầu năm"),
    "assessment": (5, "Tự đánh giá"),
    "note": (6, "Giải trình / minh chứng / ghi chú"),
    "check": (7, "Kiểm tra tự động"),
}

#: Header block: key -> (row index, label). The label sits in column B, the value in column D.
HEADER: dict[str, tuple[int, str]] = {
    "unit_code": (3, "Mã đơn vị"),
    "unit_name": (4, "Tên đơn vị"),
    "period": (5, "Kỳ báo cáo"),
    "preparer": (6, "Người lập biểu"),
    "prepared_on": (7, "Ngày lập biểu"),
}
HEADER_LABEL_COL = 1
HEADER_VALUE_COL = 3
STATUS_ROW = 9
TABLE_HEADER_ROW = 11


def col_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def a1(row: int, col: int) -> str:
    """Zero-based (row, col) -> ``A1`` reference."""
    return f"{col_letter(col)}{row + 1}"


@dataclass(frozen=True)
class FormLayout:
    """Rows of the indicator table (zero-based): target rows keyed ``T<n>``, indicator rows by code."""

    rows: dict[str, int]
    last_row: int

    @classmethod
    def for_catalogue(cls, catalogue: Catalogue) -> FormLayout:
        rows: dict[str, int] = {}
        row = TABLE_HEADER_ROW + 1
        for target in catalogue.targets:
            rows[f"T{target.number}"] = row
            row += 1
            for ind in target.indicators:
                rows[ind.code] = row
                row += 1
        return cls(rows=rows, last_row=row - 1)

    def to_json(self) -> str:
        return json.dumps(self.rows, separators=(",", ":"), sort_keys=False)


def file_name(unit_code: str, period: str) -> str:
    """The form's file name: tells a human and the reader which unit and period it is for."""
    return f"{FILE_PREFIX}_{period}_{unit_code}.xlsx"


STAMP_KEYS = ("schema", "template_id", "catalogue_id", "catalogue_version", "period", "unit_code", "sheet", "layout")


def stamp_checksum(fields: dict[str, str]) -> str:
    """A checksum over the stamp's fields. It makes accidental or casual edits of the hidden stamp evident; it is not
    a signature (the algorithm is public), so it does not stop a determined forger."""
    text = "thidua-stamp\n" + "\n".join(f"{k}={fields.get(k, '')}" for k in STAMP_KEYS)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def make_stamp(catalogue: Catalogue, unit_code: str, period: str) -> dict[str, str]:
    fields = {
        "schema": STAMP_SCHEMA,
        "template_id": catalogue.template_id,
        "catalogue_id": catalogue.id,
        "catalogue_version": catalogue.version,
        "period": period,
        "unit_code": unit_code,
        "sheet": SHEET_REPORT,
        "layout": FormLayout.for_catalogue(catalogue).to_json(),
    }
    fields["checksum"] = stamp_checksum(fields)
    return fields
