"""The catalogue: the seven targets, their indicators and declared rules, the organisation and the units.

Everything here is data loaded from TOML files shipped in ``thidua/data``; the loader refuses a broken file with a
message naming the file and the entry (:class:`thidua.errors.CatalogueError`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import CatalogueError

KINDS = ("count", "yesno", "date", "text", "choice")
PERIOD_COLUMNS = ("month", "ytd")
#: The rule vocabulary: name -> kinds of value it accepts. The rule engine implements one check per name.
RULES: dict[str, str] = {
    "max": "code",
    "numerator_of": "code",
    "target": "target",
    "sum_of": "codes",
    "date_within": "scope",
    "max_length": "int",
}
DATE_SCOPES = ("period", "year_to_period")
CODE_RE = re.compile(r"^[1-9]\d*\.[1-9]\d*$")
UNIT_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    unit: str
    kind: str
    required: bool
    periods: tuple[str, ...]
    target_number: int
    choices: tuple[str, ...] = ()
    rules: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: What the figure is, for the unit (shown in the cell's input message and in the guide), e.g. a position at
    #: the month's last day rather than what happened during the month.
    note: str = ""
    #: A year-end figure: asked at tổng kết (December's form), optional in other months.
    year_end: bool = False

    @property
    def whole(self) -> str | None:
        """The indicator this one is a part of (``numerator_of`` or ``max``), if any."""
        return self.rules.get("numerator_of") or self.rules.get("max")

    @property
    def target(self) -> Any:
        return self.rules.get("target")


@dataclass(frozen=True)
class Target:
    number: int
    title: str
    text: str
    explain_if: str
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Organisation:
    valid_from: dt.date
    valid_to: dt.date | None
    parent_body: str
    issuing_body: str
    issuing_body_name: str
    doc_code: str
    place: str
    signer_prefix: str
    signer_title: str
    signer_name: str
    khoi_name: str
    khoi_lead: str
    deadline_day: int
    deadline_month_offset: int
    recipients: tuple[str, ...]
    archive: str

    def deadline(self, year: int, month: int) -> dt.date:
        """The day a unit's form for ``year-month`` is due."""
        m0 = year * 12 + (month - 1) + self.deadline_month_offset
        y, m = divmod(m0, 12)
        m += 1
        last = (dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)).day
        return dt.date(y, m, min(self.deadline_day, last))


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class Catalogue:
    id: str
    version: str
    template_id: str
    year: int
    title: str
    plan: str
    assessment_choices: tuple[str, ...]
    yesno_choices: tuple[str, ...]
    targets: tuple[Target, ...]
    organisations: tuple[Organisation, ...]
    units: tuple[Unit, ...]
    source: str = ""
    #: The movement's first month ``YYYY-MM`` (organisation.toml ``[movement]``): months of the year before it are not
    #: due, never counted as missed. None: from January.
    first_month: str | None = None
    organisation_source: str = "organisation.toml"  # the organisation file it was loaded from, named in errors

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        cached = self.__dict__.get("_indicators")  # asked for several times per file read
        if cached is None:
            cached = tuple(i for t in self.targets for i in t.indicators)
            object.__setattr__(self, "_indicators", cached)
        return cached

    def indicator(self, code: str) -> Indicator:
        return self._by_code()[code]

    def _by_code(self) -> dict[str, Indicator]:
        cached = self.__dict__.get("_codes")
        if cached is None:
            cached = {i.code: i for i in self.indicators}
            object.__setattr__(self, "_codes", cached)
        return cached

    def target(self, number: int) -> Target:
        return self.targets[number - 1]

    def unit(self, code: str) -> Unit | None:
        return next((u for u in self.units if u.code == code), None)

    def is_due(self, month: str) -> bool:
        """A unit's form for ``month`` (``YYYY-MM``) is due: the month is not before the movement's first month."""
        return self.first_month is None or month[:4] != self.first_month[:4] or month >= self.first_month

    def organisation(self, on: dt.date) -> Organisation:
        """The organisation configuration valid on ``on``."""
        for org in self.organisations:
            if org.valid_from <= on and (org.valid_to is None or on <= org.valid_to):
                return org
        raise CatalogueError(
            self.organisation_source, on.strftime("%d/%m/%Y"), "không có cấu hình cơ quan nào có hiệu lực vào ngày này"
        )


def whole_column(part: Indicator, column: str, whole: Indicator) -> str | None:
    """The column of ``whole`` a part's ``column`` is compared with.

    The same column when the whole has it. Otherwise the whole's month figure, but only for a part that has no month
    figure of its own: a year-to-date count of events is not comparable with one month's count (4.4 hồ sơ đã giải quyết
    lũy kế vs 4.3 hồ sơ phải giải quyết trong tháng), and the part's month figure is already compared month to month.
    """
    if column in whole.periods:
        return column
    if "month" in whole.periods and "month" not in part.periods:
        return "month"
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Loading

DATA = resources.files("thidua") / "data"


def _read_toml(path: Path | Any) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark (old Notepad) is not part of the TOML
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(path, "(tệp)", f"không đọc được tệp ({exc})") from None
    try:
        return tomllib.loads(nfc(text))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(path, "(cú pháp)", f"lỗi cú pháp TOML: {exc}") from None


#: The layout version of the data files (``schema = …`` at the top of units.toml and organisation.toml).
DATA_SCHEMA = 1


def _check_schema(data: dict, path: Any) -> dict:
    """Refuse a data file written for another layout version than this program reads."""
    schema = data.get("schema", DATA_SCHEMA)
    if schema != DATA_SCHEMA or isinstance(schema, bool):
        raise CatalogueError(path, "schema", f"phiên bản cấu trúc {schema!r} không được hỗ trợ (chương trình này đọc "
                                             f"phiên bản {DATA_SCHEMA}): hãy dùng tệp đúng mẫu kèm theo chương trình")
    return data


def _need(data: dict, key: str, typ: type | tuple[type, ...], path: Any, entry: str) -> Any:
    if key not in data:
        raise CatalogueError(path, entry, f"thiếu trường “{key}”")
    value = data[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise CatalogueError(path, entry, f"trường “{key}” có kiểu không đúng ({value!r})")
    return value


def _load_indicator(raw: dict, target_number: int, path: Any) -> Indicator:
    code = str(raw.get("code", "?"))
    entry = f"chỉ tiêu {code}"
    _need(raw, "code", str, path, entry)
    if not CODE_RE.match(code) or int(code.split(".")[0]) != target_number:
        raise CatalogueError(path, entry, f"mã phải có dạng “{target_number}.<số>”")
    kind = _need(raw, "kind", str, path, entry)
    if kind not in KINDS:
        raise CatalogueError(path, entry, f"loại giá trị “{kind}” không được hỗ trợ (chỉ nhận: {', '.join(KINDS)})")
    periods = tuple(_need(raw, "periods", list, path, entry))
    if not periods or any(p not in PERIOD_COLUMNS for p in periods) or len(set(periods)) != len(periods):
        raise CatalogueError(path, entry, '“periods” phải là ["month"], ["ytd"] hoặc ["month", "ytd"]')
    choices = tuple(raw.get("choices", ()))
    if kind == "choice" and not choices:
        raise CatalogueError(path, entry, "chỉ tiêu loại “choice” phải có danh sách “choices”")
    rules = raw.get("rules", {})
    if not isinstance(rules, dict):
        raise CatalogueError(path, entry, "“rules” phải là một bảng")
    for name in rules:
        if name not in RULES:
            raise CatalogueError(path, entry, f"quy tắc “{name}” không tồn tại (chỉ nhận: {', '.join(RULES)})")
    unknown = set(raw) - {"code", "name", "unit", "kind", "required", "periods", "choices", "rules", "note",
                          "year_end"}
    if unknown:
        raise CatalogueError(path, entry, f"trường không xác định: {', '.join(sorted(unknown))}")
    return Indicator(
        code=code,
        name=_need(raw, "name", str, path, entry),
        unit=str(raw.get("unit", "")),
        kind=kind,
        required=bool(_need(raw, "required", bool, path, entry)),
        periods=periods,
        target_number=target_number,
        choices=choices,
        rules=dict(rules),
        note=str(raw.get("note", "")),
        year_end=bool(raw.get("year_end", False)),
    )


def _check_rules(ind: Indicator, codes: dict[str, Indicator], path: Any) -> None:
    entry = f"chỉ tiêu {ind.code}"
    for name, value in ind.rules.items():
        shape = RULES[name]
        if shape == "code":
            if value not in codes:
                raise CatalogueError(path, entry, f"quy tắc “{name}” tham chiếu chỉ tiêu không tồn tại “{value}”")
            if value == ind.code or codes[value].kind != "count" or ind.kind != "count":
                raise CatalogueError(path, entry, f"quy tắc “{name}” chỉ áp dụng giữa hai chỉ tiêu số lượng khác nhau")
        elif shape == "codes":
            if not isinstance(value, list) or not value:
                raise CatalogueError(path, entry, f"quy tắc “{name}” phải là danh sách mã chỉ tiêu")
            for ref in value:
                if ref not in codes:
                    raise CatalogueError(path, entry, f"quy tắc “{name}” tham chiếu chỉ tiêu không tồn tại “{ref}”")
        elif shape == "target":
            ok = (ind.kind == "count" and (value == 0 or (value == "100%" and "numerator_of" in ind.rules))) or (
                ind.kind == "yesno" and value in ("Có", "Không")
            )
            if not ok:
                raise CatalogueError(path, entry, f"mục tiêu “{value}” không phù hợp với loại chỉ tiêu “{ind.kind}”")
        elif shape == "scope":
            if ind.kind != "date" or value not in DATE_SCOPES:
                raise CatalogueError(
                    path, entry, f"quy tắc “{name}” chỉ nhận {', '.join(DATE_SCOPES)} cho chỉ tiêu ngày"
                )
        elif shape == "int" and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise CatalogueError(path, entry, f"quy tắc “{name}” phải là số nguyên dương")


def _load_targets(data: dict, path: Any) -> tuple[Target, ...]:
    targets = []
    codes: dict[str, Indicator] = {}
    raw_targets = _need(data, "targets", list, path, "targets")
    for pos, raw in enumerate(raw_targets, start=1):
        entry = f"nội dung {raw.get('number', pos)}"
        number = _need(raw, "number", int, path, entry)
        if number != pos:
            raise CatalogueError(path, entry, f"các nội dung phải đánh số liên tục từ 1 (gặp {number} ở vị trí {pos})")
        indicators = []
        for ind_raw in _need(raw, "indicators", list, path, entry):
            ind = _load_indicator(ind_raw, number, path)
            if ind.code in codes:
                raise CatalogueError(path, f"chỉ tiêu {ind.code}", "mã chỉ tiêu bị trùng")
            codes[ind.code] = ind
            indicators.append(ind)
        targets.append(
            Target(
                number=number,
                title=_need(raw, "title", str, path, entry),
                text=_need(raw, "text", str, path, entry),
                explain_if=str(raw.get("explain_if", "Không đạt")),
                indicators=tuple(indicators),
            )
        )
    for ind in codes.values():
        _check_rules(ind, codes, path)
    return tuple(targets)


def _load_organisations(data: dict, path: Any) -> tuple[Organisation, ...]:
    orgs = []
    for pos, raw in enumerate(_need(data, "organisation", list, path, "organisation"), start=1):
        entry = f"organisation #{pos}"
        valid_from = _need(raw, "valid_from", dt.date, path, entry)
        valid_to = raw.get("valid_to")
        if valid_to is not None and (not isinstance(valid_to, dt.date) or valid_to < valid_from):
            raise CatalogueError(path, entry, "“valid_to” phải là ngày không sớm hơn “valid_from”")
        day = _need(raw, "deadline_day", int, path, entry)
        if not 1 <= day <= 31:
            raise CatalogueError(path, entry, "“deadline_day” phải từ 1 đến 31")
        orgs.append(
            Organisation(
                valid_from=valid_from,
                valid_to=valid_to,
                deadline_day=day,
                deadline_month_offset=int(raw.get("deadline_month_offset", 0)),
                recipients=tuple(_need(raw, "recipients", list, path, entry)),
                **{
                    k: _need(raw, k, str, path, entry)
                    for k in (
                        "parent_body",
                        "issuing_body",
                        "issuing_body_name",
                        "doc_code",
                        "place",
                        "signer_prefix",
                        "signer_title",
                        "signer_name",
                        "khoi_name",
                        "khoi_lead",
                        "archive",
                    )
                },
            )
        )
    orgs.sort(key=lambda o: o.valid_from)
    for a, b in itertools.pairwise(orgs):
        if a.valid_to is None or a.valid_to >= b.valid_from:
            raise CatalogueError(path, f"organisation từ {b.valid_from:%d/%m/%Y}", "thời gian hiệu lực chồng lấn")
    return tuple(orgs)


def _load_first_month(data: dict, path: Any) -> str | None:
    """``[movement] first_month = "YYYY-MM"``: the first month whose form is due (None when not set)."""
    movement = data.get("movement")
    if movement is None:
        return None
    if not isinstance(movement, dict):
        raise CatalogueError(path, "movement", "phải là một bảng [movement]")
    raw = movement.get("first_month")
    if raw is None:
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", raw.strip()):
        raise CatalogueError(path, "movement", "“first_month” phải có dạng NNNN-TT, ví dụ 2024-08")
    return raw.strip()


def _load_units(data: dict, path: Any) -> tuple[Unit, ...]:
    units: dict[str, Unit] = {}
    for pos, raw in enumerate(_need(data, "units", list, path, "units"), start=1):
        entry = f"đơn vị #{pos}"
        code = _need(raw, "code", str, path, entry)
        if not UNIT_CODE_RE.match(code):
            raise CatalogueError(
                path, f"đơn vị {code}", "mã đơn vị chỉ gồm chữ in hoa không dấu, số và “_” (tối đa 20)"
            )
        if code in units:
            raise CatalogueError(path, f"đơn vị {code}", "mã đơn vị bị trùng")
        units[code] = Unit(code, _need(raw, "name", str, path, f"đơn vị {code}"), str(raw.get("kind", "")))
    if not units:
        raise CatalogueError(path, "units", "danh sách đơn vị trống")
    return tuple(units.values())


def load_catalogue(
    catalogue: Path | str | None = None,
    organisation: Path | str | None = None,
    units: Path | str | None = None,
) -> Catalogue:
    """Load and check the catalogue; each argument defaults to the file shipped in the package."""
    cat_path = Path(catalogue) if catalogue else DATA / "catalogue.toml"
    org_path = Path(organisation) if organisation else DATA / "organisation.toml"
    unit_path = Path(units) if units else DATA / "units.toml"
    data = _read_toml(cat_path)
    head = _need(data, "catalogue", dict, cat_path, "catalogue")
    org_data = _check_schema(_read_toml(org_path), org_path)
    return Catalogue(
        id=_need(head, "id", str, cat_path, "catalogue"),
        version=_need(head, "version", str, cat_path, "catalogue"),
        template_id=_need(head, "template_id", str, cat_path, "catalogue"),
        year=_need(head, "year", int, cat_path, "catalogue"),
        title=_need(head, "title", str, cat_path, "catalogue"),
        plan=_need(head, "plan", str, cat_path, "catalogue"),
        assessment_choices=tuple(_need(head, "assessment_choices", list, cat_path, "catalogue")),
        yesno_choices=tuple(_need(head, "yesno_choices", list, cat_path, "catalogue")),
        targets=_load_targets(data, cat_path),
        organisations=_load_organisations(org_data, org_path),
        units=_load_units(_check_schema(_read_toml(unit_path), unit_path), unit_path),
        source=str(cat_path),
        first_month=_load_first_month(org_data, org_path),
        organisation_source=str(org_path) if organisation else "organisation.toml",
    )


@cache
def default_catalogue() -> Catalogue:
    return load_catalogue()
