"""Wording and Vietnamese formatting for the review reports.

The wording the office edits lives in ``data/report.toml`` (text blocks with ``{placeholders}``); this module loads it,
fills placeholders with a clear message when one is unknown, and formats numbers, percentages and dates the way an
administrative document writes them (``1.234``, ``88,9%``, ``ngày 05 tháng 9 năm 2024``).
"""

from __future__ import annotations

import datetime as dt
import re
import string
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import CatalogueError, ThiDuaError

SO_KET, TONG_KET = "so-ket", "tong-ket"
KINDS = (SO_KET, TONG_KET)
KIND_KEYS = {SO_KET: "so_ket", TONG_KET: "tong_ket"}
KIND_VI = {SO_KET: "Sơ kết", TONG_KET: "Tổng kết"}

WORDING_FILE = "report.toml"
#: Top-level tables every wording file must have.
REQUIRED_TABLES = (
    "document", "subject", "intro", "headings", "situation", "direction", "targets", "target_common", "discipline",
    "assessment", "next_steps", "proposals", "titles", "table", "chart",
)
OFFICE_FILE = "office.toml"

#: Control characters, zero-width and line/paragraph separators, and the bidirectional marks, embeddings, overrides
#: and isolates (a U+202E in a unit's note would make the rest of a line read backwards).
_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff"
                      r"\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
#: Surrogates (category Cs) and private-use characters (category Co): one regular expression instead of a per-character
#: category lookup (the report cleans every table cell; that loop was a third of a 1,000-unit tổng kết).
_SURROGATE_PRIVATE = re.compile("[\ud800-\udfff\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")


# ----------------------------------------------------------------------------------------------------------------------
# Formatting


def fmt_int(value: int | float | None) -> str:
    """``1234`` -> ``1.234`` (Vietnamese thousands separator); ``None`` -> ``0``."""
    n = round(value or 0)
    text = f"{abs(n):,}".replace(",", ".")
    return f"-{text}" if n < 0 else text


def fmt_number(value: float, decimals: int = 1) -> str:
    """``88.888`` -> ``88,9``; an integral value has no decimals (``100``)."""
    rounded = round(float(value), decimals)
    if rounded == int(rounded):
        return fmt_int(int(rounded))
    whole, frac = f"{abs(rounded):.{decimals}f}".split(".")
    whole = fmt_int(int(whole))
    return f"{'-' if rounded < 0 else ''}{whole},{frac.rstrip('0')}"


def fmt_pct(value: float | None) -> str:
    """A share in percent (``88.9`` -> ``88,9%``); ``None`` -> ``—``. A share below 100 never prints as 100% and a
    share above 0 never as 0% (``99.95`` -> ``99,9%``, ``0.04`` -> ``0,1%``)."""
    if value is None:
        return "—"
    shown = round(float(value), 1)
    if shown >= 100 and value < 100:
        shown = 99.9
    elif shown <= 0 < value:
        shown = 0.1
    return f"{fmt_number(shown)}%"


def pct(part: float, whole: float) -> float:
    """``part`` of ``whole`` in percent; 0/0 is 100 (nothing to do counts as done, as in the attainment rule)."""
    if not whole:
        return 100.0
    return 100.0 * part / whole


def date_parts(day: dt.date) -> tuple[str, str, str]:
    """Day, month and year as written in an administrative document (Nghị định 30/2020/NĐ-CP).

    A day below 10 and the months 1 and 2 get a leading zero; other months are written without one.
    """
    d = f"{day.day:02d}"
    m = f"{day.month:02d}" if day.month in (1, 2) else str(day.month)
    return d, m, str(day.year)


def date_line(place: str, day: dt.date) -> str:
    """``Kon Tum, ngày 05 tháng 9 năm 2024``."""
    d, m, y = date_parts(day)
    return f"{place}, ngày {d} tháng {m} năm {y}"


def clean_text(value: Any, max_length: int | None = None) -> str:
    """Text from a unit made safe for a document: NFC, control and bidirectional characters removed, spaces collapsed,
    shortened. The result is only ever written as plain text (a run, a text cell), never as markup or a field."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = _CONTROL.sub(" ", text)
    text = _SURROGATE_PRIVATE.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    if max_length and len(text) > max_length:
        text = text[: max_length - 1].rstrip(" ,;:.") + "…"
    return text


def join_vi(items: list[str], last: str = " và ") -> str:
    """``a, b và c``."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + last + items[-1]


# ----------------------------------------------------------------------------------------------------------------------
# Wording


class _Formatter(string.Formatter):
    def __init__(self, source: str, entry: str):
        super().__init__()
        self.source = source
        self.entry = entry

    def get_value(self, key, args, kwargs):
        try:
            return super().get_value(key, args, kwargs)
        except (KeyError, IndexError):
            raise ThiDuaError(
                f"Tệp lời văn báo cáo {self.source}, mục “{self.entry}”: không có trường thay thế “{{{key}}}”. "
                "Hãy sửa lại tên trường theo danh sách ghi ở đầu tệp."
            ) from None


class Wording:
    """The editable text blocks of the report, loaded from ``report.toml``."""

    def __init__(self, data: dict[str, Any], source: str):
        self.data = data
        self.source = source

    def get(self, dotted: str, kind: str | None = None) -> Any:
        """The block at ``a.b.c``; a table keyed by report kind (``so_ket``/``tong_ket``) is resolved with ``kind``."""
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise CatalogueError(self.source, dotted, "thiếu mục lời văn này")
            node = node[part]
        if isinstance(node, dict) and kind is not None and KIND_KEYS[kind] in node:
            node = node[KIND_KEYS[kind]]
        return node

    def has(self, dotted: str) -> bool:
        try:
            self.get(dotted)
        except CatalogueError:
            return False
        return True

    def text(self, dotted: str, kind: str | None = None, **values: Any) -> str:
        """Fill the block's placeholders; an unknown placeholder is a clear error naming the entry."""
        block = self.get(dotted, kind)
        if not isinstance(block, str):
            raise CatalogueError(self.source, dotted, "mục này phải là một đoạn văn (chuỗi)")
        return _Formatter(self.source, dotted).vformat(block, (), values).strip()

    def lines(self, dotted: str, kind: str | None = None, **values: Any) -> list[str]:
        """A list block (paragraphs), each one filled."""
        block = self.get(dotted, kind)
        if isinstance(block, str):
            block = [block]
        if not isinstance(block, list) or not all(isinstance(b, str) for b in block):
            raise CatalogueError(self.source, dotted, "mục này phải là danh sách các đoạn văn")
        fmt = _Formatter(self.source, dotted)
        return [fmt.vformat(b, (), values).strip() for b in block]


def sentences(w: Wording, dotted: str, kind: str | None, values: dict[str, Any], raw: dict[str, float]) -> str:
    """A paragraph made of sentence entries: a string, or a table ``{text, zero, key}`` whose ``zero`` wording (may be
    empty: the sentence is left out) replaces ``text`` when the figure ``key`` is 0 — a report writes "không có", not
    "0 vụ"."""
    block = w.get(dotted, kind)
    if isinstance(block, (str, dict)):
        block = [block]
    if not isinstance(block, list):
        raise CatalogueError(w.source, dotted, "mục này phải là danh sách các câu")
    fmt = _Formatter(w.source, dotted)
    out = []
    for entry in block:
        if isinstance(entry, dict):
            if "text" not in entry or "key" not in entry:
                raise CatalogueError(w.source, dotted, "câu có điều kiện phải có “text” và “key”")
            keys = entry["key"] if isinstance(entry["key"], list) else [entry["key"]]
            for key in keys:
                if key not in raw:
                    raise CatalogueError(w.source, dotted, f"không có số liệu “{key}” để xét câu “không có”")
            text = entry.get("zero", "") if all(not raw[k] for k in keys) else entry["text"]
        else:
            text = entry
        text = fmt.vformat(str(text), (), values).strip()
        if text:
            out.append(text)
    return " ".join(out)


def read_data_file(path: Path | str | None, default: str, what: str) -> tuple[Any, dict[str, Any]]:
    """``(source, table)`` of a TOML data file (``path``, or the shipped ``data/<default>``), NFC; a file that cannot
    be read or parsed is a :class:`CatalogueError` naming it and ``what`` it is."""
    source = Path(path) if path else resources.files("thidua") / "data" / default
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(source, "(tệp)", f"không đọc được tệp {what} ({exc})") from None
    try:
        return source, tomllib.loads(unicodedata.normalize("NFC", text))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(source, "(cú pháp)", f"lỗi cú pháp TOML: {exc}") from None


def load_wording(path: Path | str | None = None) -> Wording:
    """Load the wording file (default: the one shipped in the package)."""
    source, data = read_data_file(path, WORDING_FILE, "lời văn báo cáo")
    for key in REQUIRED_TABLES:
        if key not in data:
            raise CatalogueError(source, key, "thiếu mục lời văn bắt buộc")
    return Wording(data, str(source))


@cache
def default_wording() -> Wording:
    return load_wording()


# ----------------------------------------------------------------------------------------------------------------------
# What the office writes itself


@dataclass(frozen=True)
class OfficeText:
    """The parts of a report only the office can write (``office.toml``, edited by Văn phòng Sở): the plan's number and
    date for its first citation, the report's number, the Sở's own sector results, extra next steps and proposals.
    Anything left empty is left out of the report: no bracketed placeholder is ever printed."""

    plan_number: str = ""
    plan_date: dt.date | None = None
    report_number: str = ""
    sector_results: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    proposals: tuple[str, ...] = ()
    source: str = ""


def load_office_text(path: Path | str | None = None) -> OfficeText:
    """Load the office's own text (default: the shipped, empty ``office.toml``)."""
    source, data = read_data_file(path, OFFICE_FILE, "nội dung do Văn phòng Sở viết")

    def paragraphs(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CatalogueError(source, key, "phải là danh sách các đoạn văn")
        return tuple(t for t in (clean_text(v) for v in value) if t)

    plan_date = data.get("plan_date")
    if plan_date is not None and not isinstance(plan_date, dt.date):
        raise CatalogueError(source, "plan_date", "phải là ngày dạng 2024-08-12")
    return OfficeText(
        plan_number=clean_text(data.get("plan_number", "")),
        plan_date=plan_date,
        report_number=clean_text(data.get("report_number", "")),
        sector_results=paragraphs("sector_results"),
        next_steps=paragraphs("next_steps"),
        proposals=paragraphs("proposals"),
        source=str(source),
    )
