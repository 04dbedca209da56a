"""Typed values as text: how the ledger stores a cell's value (``file_values.value`` and ``type``), and how a
submission's cells travel from a validator's process (:meth:`thidua.reader.Submission.__reduce__`)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def encode_value(value: Any) -> tuple[str | None, str | None]:
    """A typed value as ``(text, type)``; ``(None, None)`` for an empty value."""
    kind = type(value)
    if kind is int:
        return str(value), "int"
    if kind is str:
        return value, "str"
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("1" if value else "0"), "bool"
    if isinstance(value, int):
        return str(value), "int"
    if isinstance(value, float):
        return repr(value), "float"
    if isinstance(value, dt.datetime):
        return value.isoformat(), "datetime"
    if isinstance(value, dt.date):
        return value.isoformat(), "date"
    return str(value), "str"


def decode_value(text: str | None, kind: str | None) -> Any:
    """The inverse of :func:`encode_value`."""
    if text is None or kind is None:
        return None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text == "1"
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "datetime":
        return dt.datetime.fromisoformat(text)
    return text
