"""Validation rules: one registry of small check functions, driven by the catalogue.

Each rule type is one function ``(ctx) -> Iterator[Finding]`` registered with :func:`check`, which carries the rule's
family, its stable finding codes with their severity and a Vietnamese description (the table in docs/findings.md is
generated from the registry by :func:`findings_table_markdown`). Rules declared in the catalogue (``max``,
``numerator_of``, ``target``, ``sum_of``, ``date_within``, ``max_length``) map to their check by name; the engine runs
such a check once per indicator that declares the rule, with ``ctx.indicator`` and ``ctx.rule`` set.

A check only yields findings: it never prints, never raises for bad data and never touches Excel. If a check itself
crashes, the engine turns the exception into an ``E-INTERNAL`` finding and goes on with the other checks.

Finding codes read ``<severity letter>-<family>-<what>``: ``E`` error (blocks consolidation of the file), ``W``
warning (does not), ``I`` information. Codes are stable: never reuse or rename one.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from .catalogue import Catalogue, Indicator, Target, whole_column
from .domain import date_bounds
from .findings import ERROR, INFO, SEVERITY_VI, WARNING, Finding
from .layout import SHEET_REPORT
from .period import Period
from .reader import Cell, Submission
from .report_text import fmt_int

# ----------------------------------------------------------------------------------------------------------------------
# Registry

#: Families in report order: key -> Vietnamese name.
FAMILIES: dict[str, str] = {
    "read": "Đọc tệp",
    "identity": "Nhận dạng biểu",
    "structure": "Cấu trúc biểu",
    "completeness": "Đầy đủ số liệu",
    "type": "Kiểu và miền giá trị",
    "relations": "Quan hệ giữa các số liệu",
    "targets": "Mục tiêu thi đua",
    "history": "So với kỳ trước",
    "internal": "Lỗi chương trình",
}
_PREFIX = {ERROR: "E", WARNING: "W", INFO: "I"}

#: What a check needs before it can run: nothing; a file that could be opened as a workbook; the report sheet.
NEEDS_NOTHING, NEEDS_OPENED, NEEDS_SHEET = "nothing", "opened", "sheet"


@dataclass(frozen=True)
class Code:
    """A stable finding code with its severity and a Vietnamese description (for the documentation table)."""

    code: str
    severity: str
    description: str

    def __post_init__(self) -> None:
        if self.severity not in _PREFIX or not self.code.startswith(_PREFIX[self.severity] + "-"):
            raise ValueError(f"finding code {self.code} does not match its severity {self.severity}")


@dataclass(frozen=True)
class Check:
    name: str
    family: str
    codes: tuple[Code, ...]
    func: Callable[[Any], Iterator[Finding]]
    rules: tuple[str, ...] = ()  # catalogue rule names this check implements (run once per declaring indicator)
    scope: str = "file"  # "file": once per file; "rule": per declared rule; "batch": once per batch of files
    needs: str = NEEDS_SHEET


#: Every check, by name, in registration order (which is also report order within a family).
REGISTRY: dict[str, Check] = {}
#: Every finding code -> its Code.
CODES: dict[str, Code] = {}


def check(family: str, *codes: Code, rules: Iterable[str] = (), scope: str | None = None,
          needs: str = NEEDS_SHEET) -> Callable:
    """Register a check function under its family, with the finding codes it may yield."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family}")

    def register(func: Callable) -> Callable:
        rule_names = tuple(rules)
        chk = Check(func.__name__, family, tuple(codes), func, rule_names, scope or ("rule" if rule_names else "file"),
                    needs)
        if chk.name in REGISTRY:
            raise ValueError(f"check {chk.name} registered twice")
        for code in codes:
            if code.code in CODES and CODES[code.code] != code:
                raise ValueError(f"finding code {code.code} registered twice")
            CODES[code.code] = code
        REGISTRY[chk.name] = chk
        return func

    return register


def checks_for_rule(rule_name: str) -> list[Check]:
    """The checks implementing a rule name of the catalogue vocabulary (``thidua.catalogue.RULES``)."""
    return [c for c in REGISTRY.values() if rule_name in c.rules]


# ----------------------------------------------------------------------------------------------------------------------
# Context


class History(Protocol):
    """Earlier submissions of the same unit, as the ledger knows them."""

    def earlier_ytd(self, unit: str, period: str, code: str) -> tuple[str, int] | None:
        """The latest month before ``period`` with a year-to-date figure for ``code``, and that figure."""


COLUMN_VI = {"month": "tháng báo cáo", "ytd": "lũy kế từ đầu năm"}
MAX_SHOWN = 60
MAX_VALUE = 255


@dataclass
class Context:
    """What a check sees: the submission, the catalogue, the period asked for and the unit's history."""

    sub: Submission
    catalogue: Catalogue
    period: Period | None = None
    history: History | None = None
    indicator: Indicator | None = None
    rule: Any = None
    #: Shared by the contexts of one :func:`run_checks` call: what several checks derive from the submission (its
    #: input cells), worked out once per run instead of once per check.
    shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def inputs(self) -> list[InputCell]:
        """``input_cells`` of the submission, listed once per run."""
        found = self.shared.get("inputs")
        if found is None:
            found = self.shared["inputs"] = list(input_cells(self.sub, self.catalogue))
        return found

    @property
    def file(self) -> str:
        return str(self.sub.path)

    @property
    def sheet(self) -> str:
        return self.sub.sheet or SHEET_REPORT

    def finding(self, code: str, message: str, cell: str | None = None, indicator: str | None = None,
                value: Any = None, sheet: str | bool | None = True) -> Finding:
        """A finding of a registered ``code`` about this file; ``sheet=True`` means the report sheet when there is a
        cell."""
        spec = CODES[code]
        if sheet is True:
            sheet = self.sheet if cell else None
        return Finding(code=code, severity=spec.severity, message=message, file=self.file, sheet=sheet or None,
                       cell=cell, indicator=indicator, value=clip(value, MAX_VALUE))

    def merged_over_inputs(self) -> list[tuple[str, list[InputCell]]]:
        """Each merged range that covers input cells, with those cells, listed once per run."""
        found = self.shared.get("merged")
        if found is None:
            inputs = self.inputs()
            if not self.sub.merged:
                found = []
            else:
                covers = _merged_covers(tuple(self.sub.merged), tuple([ic.cell.cell for ic in inputs]))
                found = [(rng, [inputs[i] for i in covered]) for rng, covered in covers]
            self.shared["merged"] = found
        return found

    def merged_hidden(self) -> set[str]:
        """Input cells hidden under a merged range (all but its top-left cell)."""
        return {ic.cell.cell for rng, covered in self.merged_over_inputs() for ic in covered
                if ic.cell.cell != rng.split(":")[0]}

    def target_status(self, ind: Indicator) -> TargetStatus | None:
        """:func:`target_status` of ``ind``, worked out once per run (two checks ask for every target indicator)."""
        cache = self.shared.setdefault("target_status", {})
        if ind.code not in cache:
            cache[ind.code] = target_status(ind, self.sub, self.catalogue)
        return cache[ind.code]

    def problems(self, *codes: str) -> list:
        return [p for p in self.sub.problems if p.code in codes]

    def cell(self, code: str, column: str) -> Cell | None:
        return _cell_of(self.sub, code, column)

    def count(self, code: str, column: str | None) -> int | None:
        """A count figure when it was read as a non-negative whole number; None otherwise."""
        return _count(_cell_of(self.sub, code, column)) if column is not None else None

    @property
    def data_period(self) -> Period | None:
        """The period the file's figures are about: the file's own, else the one asked for."""
        return Period.try_parse(self.sub.period) if self.sub.period else self.period


def _cell_of(sub: Submission, code: str, column: str | None) -> Cell | None:
    entry = sub.indicators.get(code)
    return entry.column(column) if entry is not None and column is not None else None


def _count(c: Cell | None) -> int | None:
    """The cell's figure when it was read as a non-negative whole number; None otherwise."""
    v = c.value if c is not None else None
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def clip(value: Any, limit: int = MAX_SHOWN) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


def shown(text: Any) -> str:
    """A unit's text quoted in a message: shortened, control characters made visible."""
    s = "" if text is None else str(text)
    s = "".join(ch if unicodedata.category(ch)[0] != "C" else "�" for ch in s)
    return f"“{clip(s)}”"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def num(value: float, digits: int = 1) -> str:
    """A number in Vietnamese notation (decimal comma)."""
    return f"{value:.{digits}f}".replace(".", ",")


def date_vi(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def period_vi(text: str | Period | None) -> str:
    p = text if isinstance(text, Period) else Period.try_parse(text) if text else None
    return p.label if p else shown(text)


# ----------------------------------------------------------------------------------------------------------------------
# Input cells of a submission


@dataclass(frozen=True)
class InputCell:
    """One cell the unit types into, with what the form expects there."""

    cell: Cell
    kind: str  # count | yesno | choice | date | text
    what: str  # Vietnamese, e.g. "chỉ tiêu 1.2 (tháng báo cáo)"
    key: str | None = None  # indicator code, "T<n>" for a target row, None for the header
    required: bool = False
    choices: tuple[str, ...] = ()
    indicator: Indicator | None = field(default=None, compare=False)


def _input(cell: Cell, kind: str, what: str, key: str | None = None, required: bool = False,
           choices: tuple[str, ...] = (), indicator: Indicator | None = None) -> InputCell:
    """``InputCell(...)``, made several times faster: a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; here the fields go into the new object's ``__dict__`` at once (an equal, frozen object)."""
    ic = object.__new__(InputCell)
    ic.__dict__.update(cell=cell, kind=kind, what=what, key=key, required=required, choices=choices,
                       indicator=indicator)
    return ic


#: Where each input cell of a form is, in form order: (part, number or code, column, the InputCell's other fields).
#: ``part``: "header" (a key of ``Submission.header``), "target" (a target's "assessment" or "explanation") or
#: "indicator" (an indicator's "month", "ytd" or "note"). The same for every file of a catalogue: made once per
#: catalogue (:func:`_input_plan`), so that a file costs only its cells.
_Plan = tuple[tuple[str, Any, str, dict[str, Any]], ...]


def _fields(kind: str, what: str, key: str | None = None, required: bool = False, choices: tuple[str, ...] = (),
            indicator: Indicator | None = None) -> dict[str, Any]:
    """An InputCell's fields but its cell, in the order of the class (the cell first, set per file)."""
    return {"cell": None, "kind": kind, "what": what, "key": key, "required": required, "choices": choices,
            "indicator": indicator}


def _input_plan(cat: Catalogue) -> _Plan:
    found = cat.__dict__.get("_input_plan")  # the catalogue is frozen: kept beside its own caches
    if found is not None:
        return found
    plan: list[tuple[str, Any, str, dict[str, Any]]] = [
        ("header", "preparer", "", _fields("text", "người lập biểu", required=True)),
        ("header", "prepared_on", "", _fields("date", "ngày lập biểu")),
    ]
    for target in cat.targets:
        key = f"T{target.number}"
        plan.append(("target", target.number, "assessment", _fields(
            "choice", f"tự đánh giá nội dung {target.number}", key, True, cat.assessment_choices)))
        plan.append(("target", target.number, "explanation", _fields(
            "text", f"giải trình của nội dung {target.number}", key)))
        for ind in target.indicators:
            choices = cat.yesno_choices if ind.kind == "yesno" else ind.choices
            for col in ind.periods:
                plan.append(("indicator", ind.code, col, _fields(
                    ind.kind, f"chỉ tiêu {ind.code} ({COLUMN_VI[col]})", ind.code, ind.required, choices, ind)))
            plan.append(("indicator", ind.code, "note", _fields("text", f"ghi chú của chỉ tiêu {ind.code}", ind.code)))
    found = tuple(plan)
    object.__setattr__(cat, "_input_plan", found)
    return found


def input_cells(sub: Submission, cat: Catalogue) -> list[InputCell]:
    """Every input cell found in the submission, in form order (see :data:`_Plan`)."""
    out: list[InputCell] = []
    append = out.append
    header, targets, indicators = sub.header, sub.targets, sub.indicators
    new = object.__new__
    for part, which, column, fields in _input_plan(cat):
        if part == "indicator":
            entry = indicators.get(which)
            cell = getattr(entry, column) if entry is not None else None
        elif part == "target":
            entry = targets.get(which)
            cell = getattr(entry, column) if entry is not None else None
        else:
            cell = header.get(which)
        if cell is None:
            continue
        ic = new(InputCell)
        d = ic.__dict__  # as _input: an equal, frozen object, its fields in their order
        d.update(fields)
        d["cell"] = cell
        append(ic)
    return out


def _merged_covers(merged: tuple[str, ...], refs: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    """Each merged range of ``merged`` that covers cells of ``refs`` (the input cells' A1 references, in form order),
    with the indexes of those cells. Ranges are tested against the inputs, never walked cell by cell (a file may merge
    A1:XFD1048576, or list a range many times). Kept by its arguments: the files of a batch mostly have the form's own
    merged ranges and its input cells in their places (0.04 ms a file); at most 64 of them, each of at most
    MAX_KEPT_MERGED ranges (a file may list thousands: those are not kept)."""
    if len(merged) > MAX_KEPT_MERGED:
        return _find_covers(merged, refs)
    key = (merged, refs)
    found = _covers.get(key)
    if found is None:
        found = _find_covers(merged, refs)
        if len(_covers) >= 64:
            _covers.clear()
        _covers[key] = found
    return found


MAX_KEPT_MERGED = 256  # our form has 13 merged ranges


_covers: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, list[int]]]] = {}


def _find_covers(merged: tuple[str, ...], refs: tuple[str, ...]) -> list[tuple[str, list[int]]]:
    # inputs by row (and their place in form order): a range looks only at the inputs of its rows. The form's order
    # is its rows' order unless rows were moved: sorted only then
    inputs = [(pos[0], i, pos[1]) for i, ref in enumerate(refs) if (pos := parse_a1(ref))]
    rows = [r for r, _i, _c in inputs]
    if rows != sorted(rows):
        inputs.sort()
        rows = [r for r, _i, _c in inputs]
    found = []
    for rng in dict.fromkeys(merged):
        parts = rng.split(":")
        first, last = parse_a1(parts[0]), parse_a1(parts[-1])
        if not first or not last or first == last:
            continue
        covered = sorted(i for _r, i, c in inputs[bisect_left(rows, first[0]):bisect_right(rows, last[0])]
                         if first[1] <= c <= last[1])  # in form order
        if covered:
            found.append((rng, covered))
    return found


def is_blank(cell: Cell | None) -> bool:
    return cell is not None and cell.value is None and cell.issue is None and not cell.formula


_A1_RE = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")


@functools.lru_cache(maxsize=4096)
def parse_a1(ref: str) -> tuple[int, int] | None:
    """``A1`` -> zero-based (row, col) (cached: the same cells recur in every file)."""
    m = _A1_RE.match(ref or "")
    if not m:
        return None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


# ----------------------------------------------------------------------------------------------------------------------
# Read: the file itself

E_READ_EMPTY = Code("E-READ-EMPTY", ERROR, "Tệp rỗng (0 byte)")
E_READ_TOO_LARGE = Code("E-READ-TOO-LARGE", ERROR, "Tệp vượt quá giới hạn 20 MB")
E_READ_UNREADABLE = Code("E-READ-UNREADABLE", ERROR, "Không mở, không đọc được tệp")
E_READ_ENCRYPTED = Code("E-READ-ENCRYPTED", ERROR, "Tệp được đặt mật khẩu mở")
E_READ_LEGACY_XLS = Code("E-READ-LEGACY-XLS", ERROR, "Tệp định dạng Excel 97-2003 (.xls) không đọc được")
E_READ_NOT_EXCEL = Code("E-READ-NOT-EXCEL", ERROR, "Tệp không phải tệp Excel (hoặc tệp khác bị đổi tên)")
E_READ_CORRUPT = Code("E-READ-CORRUPT", ERROR, "Tệp Excel bị hỏng hoặc không trọn vẹn (bị cắt ngang)")
E_READ_ZIP_BOMB = Code("E-READ-ZIP-BOMB", ERROR, "Dung lượng sau giải nén bất thường: không đọc")
E_READ_XML_DTD = Code("E-READ-XML-DTD", ERROR, "Tệp chứa khai báo DTD/thực thể XML (Excel không tạo ra): không đọc")
E_READ_SHEET_TOO_BIG = Code("E-READ-SHEET-TOO-BIG", ERROR, "Trang tính trải quá 1.000.000 ô: không đọc")
E_READ_ODS = Code("E-READ-ODS", ERROR, "Tệp định dạng OpenDocument (.ods) không đọc được")
I_READ_CONVERTED = Code("I-READ-CONVERTED", INFO, "Tệp .xls hoặc .ods: đã đọc bằng cách chuyển đổi (nên gửi .xlsx)")
E_READ_NOT_WORKBOOK = Code("E-READ-NOT-WORKBOOK", ERROR, "Tệp nén không phải sổ tính Excel (ví dụ tệp Word)")
I_READ_OWNER_FILE = Code("I-READ-OWNER-FILE", INFO, "Tệp khóa tạm “~$…” của Excel: bỏ qua")
E_READ_NOT_FORM = Code("E-READ-NOT-FORM", ERROR, "Không phải biểu do Văn phòng Sở phát hành (không có dấu nhận dạng)")
W_READ_MACRO = Code("W-READ-MACRO", WARNING, "Tệp có macro: chỉ đọc số liệu, không chạy macro")

#: Read problems that mean the file could not be opened as a workbook at all.
FATAL_READ = ("owner_file", "empty_file", "too_large", "unreadable", "encrypted", "legacy_xls", "not_zip",
              "zip_corrupt", "zip_bomb", "xml_dtd", "sheet_too_big", "ods", "not_workbook", "internal")

RESEND = "Đề nghị đơn vị điền vào đúng biểu mẫu .xlsx đã được gửi và gửi lại tệp."
_READ_MESSAGES: dict[str, tuple[Code, str]] = {
    "empty_file": (E_READ_EMPTY, "Tệp rỗng (0 byte), không có dữ liệu; có thể bị lỗi khi sao chép hoặc gửi. "
                                 "Đề nghị đơn vị gửi lại tệp biểu đã điền."),
    "too_large": (E_READ_TOO_LARGE, "Tệp quá lớn ({detail}), vượt giới hạn 20 MB của biểu báo cáo. Đề nghị đơn vị "
                                    "không chèn ảnh hay tệp đính kèm vào biểu và gửi lại đúng biểu đã điền."),
    "unreadable": (E_READ_UNREADABLE, "Không đọc được tệp ({detail}). Đề nghị đơn vị mở tệp bằng Excel, lưu lại dạng "
                                      ".xlsx rồi gửi lại."),
    "encrypted": (E_READ_ENCRYPTED, "Tệp được đặt mật khẩu mở nên không đọc được. Đề nghị đơn vị gỡ mật khẩu (Excel: "
                                    "Tệp > Thông tin > Bảo vệ sổ làm việc > Mã hóa bằng mật khẩu, xóa mật khẩu rồi "
                                    "lưu) và gửi lại."),
    "legacy_xls": (E_READ_LEGACY_XLS, "Tệp ở định dạng Excel 97-2003 (.xls) và không đọc được ({detail}). Đề nghị "
                                      "đơn vị mở tệp, chọn Tệp > Lưu thành (File > Save As), chọn kiểu “Sổ làm việc "
                                      "Excel (*.xlsx)” rồi gửi lại tệp .xlsx."),
    "not_zip": (E_READ_NOT_EXCEL, "Tệp không phải tệp Excel (.xlsx): có thể là tệp khác bị đổi tên hoặc tệp đã hỏng. "
                + RESEND),
    "zip_corrupt": (E_READ_CORRUPT, "Tệp Excel bị hỏng hoặc không trọn vẹn (có thể bị cắt ngang khi tải lên, sao "
                                    "chép). Đề nghị đơn vị mở thử tệp trên máy của mình rồi gửi lại."),
    "zip_bomb": (E_READ_ZIP_BOMB, "Tệp có dung lượng sau giải nén bất thường ({detail}), có thể bị hỏng hoặc không "
                                  "an toàn nên không được đọc. " + RESEND),
    "xml_dtd": (E_READ_XML_DTD, "Một phần XML trong tệp ({detail}) có khai báo DTD hoặc thực thể XML. Excel và "
                                "LibreOffice không bao giờ tạo ra nội dung này; đây có thể là tệp được tạo ra để gây "
                                "hại nên không được đọc. " + RESEND),
    "sheet_too_big": (E_READ_SHEET_TOO_BIG, "Trang tính quá lớn: {detail}, vượt giới hạn 1.000.000 ô của một trang. "
                                            "Thường do có ô nhập nhầm ở rất xa bảng. Đề nghị đơn vị xóa các dòng, "
                                            "cột thừa (Ctrl+End để tìm ô cuối) rồi gửi lại."),
    "ods": (E_READ_ODS, "Tệp ở định dạng OpenDocument (.ods) và không đọc được ({detail}). Đề nghị đơn vị mở tệp bằng "
                        "LibreOffice, chọn Tệp > Lưu thành, chọn định dạng “Excel 2007-365 (.xlsx)” và gửi lại."),
    "not_workbook": (E_READ_NOT_WORKBOOK, "Tệp không phải sổ tính Excel (có thể là tài liệu Word hoặc tệp nén khác bị "
                                          "đổi tên). " + RESEND),
}


def read_problem_title(code: str) -> str:
    """A read problem's code (``zip_bomb``…) in a few Vietnamese words: its finding's description."""
    found = _READ_MESSAGES.get(code)
    return found[0].description if found else "tệp bị hỏng"


@check("read", *(c for c, _m in _READ_MESSAGES.values()), needs=NEEDS_NOTHING)
def unreadable_file(ctx: Context) -> Iterator[Finding]:
    """The file could not be opened as a workbook: say why and what to send instead."""
    for p in ctx.problems(*_READ_MESSAGES):
        code, message = _READ_MESSAGES[p.code]
        message = message.format(detail=clip(p.detail, 200) or "không rõ nguyên nhân")
        if p.code == "unreadable" and "TimeDelta" in p.detail:  # python-calamine's panic on a date out of range
            message += (" Nguyên nhân thường gặp: một ô ngày (ví dụ “Ngày lập biểu”) chứa số âm hoặc số quá lớn; "
                        "đề nghị nhập lại ngày dạng ngày/tháng/năm.")
        yield ctx.finding(code.code, message)


@check("read", I_READ_OWNER_FILE, needs=NEEDS_NOTHING)
def owner_file(ctx: Context) -> Iterator[Finding]:
    """Excel's lock file ``~$name.xlsx``: listed, skipped, not an error."""
    for _p in ctx.problems("owner_file"):
        yield ctx.finding(I_READ_OWNER_FILE.code,
                          "Đây là tệp khóa tạm do Excel tạo ra khi có người đang mở một tệp (tên bắt đầu bằng “~$”), "
                          "không phải biểu báo cáo: đã bỏ qua. Nếu không ai đang mở tệp thì có thể xóa tệp này.")


CONVERTED_VI = {"xls": "Excel 97-2003 (.xls)", "ods": "OpenDocument (.ods)"}


@check("read", I_READ_CONVERTED, needs=NEEDS_OPENED)
def converted(ctx: Context) -> Iterator[Finding]:
    """A .xls or .ods file: read with the same checks, said so (some checks of the .xlsx form do not apply)."""
    for p in ctx.problems("converted"):
        yield ctx.finding(I_READ_CONVERTED.code,
                          f"Tệp ở định dạng {CONVERTED_VI.get(p.detail, p.detail)}, không phải biểu mẫu .xlsx đã "
                          "phát: số liệu đã được đọc bằng cách chuyển đổi và kiểm tra như biểu .xlsx (riêng việc ô "
                          "nhập liệu có chứa công thức hay định dạng phần trăm thì không kiểm tra được). Kỳ sau đề "
                          "nghị lưu đúng định dạng .xlsx (Tệp > Lưu thành > Sổ làm việc Excel .xlsx).",
                          value=p.detail)


@check("read", E_READ_NOT_FORM, needs=NEEDS_OPENED)
def not_our_form(ctx: Context) -> Iterator[Finding]:
    """A workbook without the form's stamp: not a form of ours."""
    if ctx.problems("no_stamp"):
        yield ctx.finding(E_READ_NOT_FORM.code,
                          "Tệp không phải biểu báo cáo do Văn phòng Sở phát hành (không có dấu nhận dạng của biểu): có "
                          "thể đơn vị đã chép nội dung sang tệp mới hoặc dùng mẫu khác. " + RESEND)


@check("read", W_READ_MACRO, needs=NEEDS_OPENED)
def macro_enabled(ctx: Context) -> Iterator[Finding]:
    """A macro-enabled workbook: the data is read, nothing in it is run."""
    if ctx.problems("macro_enabled"):
        yield ctx.finding(W_READ_MACRO.code,
                          "Tệp có chứa macro (VBA). Chương trình chỉ đọc số liệu, không chạy macro nào trong tệp. Đề "
                          "nghị đơn vị dùng đúng biểu mẫu .xlsx (không có macro) ở các kỳ sau.")


# ----------------------------------------------------------------------------------------------------------------------
# Identity: which unit, which period, which template

E_ID_STAMP = Code("E-ID-STAMP", ERROR, "Dấu nhận dạng của biểu đã bị sửa")
E_ID_TEMPLATE = Code("E-ID-TEMPLATE", ERROR, "Biểu theo mẫu khác mẫu hiện hành")
E_ID_CATALOGUE = Code("E-ID-CATALOGUE", ERROR, "Biểu theo phiên bản danh mục chỉ tiêu khác phiên bản hiện hành")
E_ID_UNIT_UNKNOWN = Code("E-ID-UNIT-UNKNOWN", ERROR, "Mã đơn vị không có trong danh sách đơn vị")
E_ID_UNIT_NAME = Code("E-ID-UNIT-NAME", ERROR, "Đơn vị trong biểu khác đơn vị ghi ở tên tệp")
E_ID_PERIOD = Code("E-ID-PERIOD", ERROR, "Không xác định được kỳ báo cáo của biểu")
W_ID_PERIOD_OTHER = Code("W-ID-PERIOD-OTHER", WARNING,
                         "Biểu của kỳ khác kỳ đang kiểm tra (vẫn được ghi nhận cho kỳ của biểu)")
E_ID_PERIOD_NAME = Code("E-ID-PERIOD-NAME", ERROR, "Kỳ báo cáo của biểu khác kỳ ghi ở tên tệp")
I_ID_IDENTICAL = Code("I-ID-IDENTICAL", INFO,
                      "Tệp trùng hệt (cùng nội dung) với một tệp khác trong đợt: chỉ dùng một bản")
I_ID_SUPERSEDED = Code("I-ID-SUPERSEDED", INFO,
                       "Đơn vị gửi nhiều bản cho cùng kỳ: bản này không được dùng vì đã có bản mới hơn hợp lệ")


def _header_cell(ctx: Context, key: str) -> str | None:
    c = ctx.sub.header.get(key)
    return c.cell if c is not None else None


def _identified(ctx: Context) -> bool:
    """Whether there is anything to identify: a valid stamp, or the report sheet of a file without one."""
    return ctx.sub.stamp_ok or ctx.sub.readable


@check("identity", E_ID_STAMP, needs=NEEDS_OPENED)
def stamp_tampered(ctx: Context) -> Iterator[Finding]:
    """The hidden stamp was edited: unit and period cannot be trusted."""
    if ctx.problems("stamp_tampered"):
        yield ctx.finding(E_ID_STAMP.code,
                          "Dấu nhận dạng (trang ẩn) của biểu đã bị sửa nên không xác định chắc chắn được đơn vị và kỳ "
                          "báo cáo. " + RESEND)


@check("identity", E_ID_TEMPLATE, E_ID_CATALOGUE, needs=NEEDS_OPENED)
def template_version(ctx: Context) -> Iterator[Finding]:
    """The form was generated from another template or catalogue version than the current one."""
    if not ctx.sub.stamp_ok or not ctx.sub.stamp:
        return
    stamp, cat = ctx.sub.stamp, ctx.catalogue
    if stamp.get("template_id") != cat.template_id:
        yield ctx.finding(E_ID_TEMPLATE.code,
                          f"Biểu dùng mẫu {shown(stamp.get('template_id'))}, khác mẫu hiện hành “{cat.template_id}”. "
                          "Đề nghị đơn vị điền vào biểu mẫu mới nhất đã được gửi và gửi lại.",
                          value=stamp.get("template_id"))
    found = (stamp.get("catalogue_id"), stamp.get("catalogue_version"))
    if found != (cat.id, cat.version):
        yield ctx.finding(E_ID_CATALOGUE.code,
                          f"Biểu được tạo theo danh mục chỉ tiêu phiên bản {shown(found[1])}, khác phiên bản hiện hành "
                          f"“{cat.version}”: các chỉ tiêu có thể đã thay đổi. Đề nghị đơn vị điền vào biểu mẫu mới "
                          "nhất đã được gửi và gửi lại.", value=found[1])


@check("identity", E_ID_UNIT_UNKNOWN, E_ID_UNIT_NAME, needs=NEEDS_OPENED)
def unit_identity(ctx: Context) -> Iterator[Finding]:
    """The unit is known, and the same as the one in the file name."""
    if not _identified(ctx):
        return
    sub, cell = ctx.sub, _header_cell(ctx, "unit_code")
    unit = sub.unit_code
    if not unit or ctx.catalogue.unit(unit) is None:
        what = f"Mã đơn vị {shown(unit)} không có" if unit else "Không xác định được mã đơn vị: không có"
        yield ctx.finding(E_ID_UNIT_UNKNOWN.code,
                          f"{what} trong danh sách đơn vị của Sở. Đề nghị đơn vị dùng đúng biểu mẫu đã được gửi cho "
                          "đơn vị mình; nếu đơn vị mới được thành lập, báo Văn phòng Sở bổ sung danh sách.",
                          cell=cell, value=unit)
    elif sub.name_unit and sub.name_unit != unit:
        yield ctx.finding(E_ID_UNIT_NAME.code,
                          f"Biểu là của đơn vị “{unit}” nhưng tên tệp ghi đơn vị {shown(sub.name_unit)}: có thể đã gửi "
                          "nhầm biểu của đơn vị khác hoặc đổi tên tệp. Đề nghị kiểm tra, gửi đúng biểu của đơn vị mình "
                          "và giữ nguyên tên tệp.", cell=cell, value=unit)


@check("identity", E_ID_PERIOD, W_ID_PERIOD_OTHER, E_ID_PERIOD_NAME, needs=NEEDS_OPENED)
def period_identity(ctx: Context) -> Iterator[Finding]:
    """The file's period is known and the one in the file name. A file of another period than the one being checked
    (March's correction dropped into April's inbox) is recorded for its own period, with a warning: validate and
    consolidate say the same of it."""
    if not _identified(ctx):
        return
    sub, cell = ctx.sub, _header_cell(ctx, "period")
    found = sub.period
    if found is None:
        yield ctx.finding(E_ID_PERIOD.code,
                          "Không xác định được kỳ báo cáo của biểu. " + RESEND, cell=cell,
                          value=sub.header["period"].raw if "period" in sub.header else None)
        return
    if ctx.period is not None and found != str(ctx.period):
        yield ctx.finding(W_ID_PERIOD_OTHER.code,
                          f"Biểu là của kỳ {period_vi(found)}, không phải kỳ đang kiểm tra ({ctx.period.label}): biểu "
                          f"được ghi nhận cho {period_vi(found)} (nếu đã có báo cáo hợp lệ của kỳ đó, bản mới hơn được "
                          f"dùng). Nếu đơn vị định gửi báo cáo {ctx.period.label}, đề nghị điền vào biểu mẫu của "
                          f"{ctx.period.label} và gửi lại.", cell=cell, value=found)
    if sub.name_period and sub.name_period != found:
        yield ctx.finding(E_ID_PERIOD_NAME.code,
                          f"Biểu là của kỳ {period_vi(found)} nhưng tên tệp ghi kỳ {period_vi(sub.name_period)}: có "
                          "thể đơn vị đã dùng biểu của kỳ khác rồi đặt lại tên tệp. Đề nghị điền vào đúng biểu mẫu "
                          "của kỳ cần báo cáo và giữ nguyên tên tệp.", cell=cell, value=found)


@dataclass
class BatchContext:
    """What a batch check sees: every file's result (``thidua.findings.FileResult``) of one run."""

    results: list
    catalogue: Catalogue
    period: Period | None = None

    def finding(self, result: Any, code: str, message: str, value: Any = None) -> Finding:
        return Finding(code=code, severity=CODES[code].severity, message=message, file=str(result.path),
                       value=clip(value, MAX_VALUE))


def _when(result: Any) -> str:
    return f"{dt.datetime.fromtimestamp(result.submission.mtime):%H:%M:%S %d/%m/%Y}"


@check("identity", I_ID_IDENTICAL, I_ID_SUPERSEDED, scope="batch")
def duplicates(ctx: BatchContext) -> Iterator[Finding]:
    """Several files of one unit and period in one batch are no error of any of them (the ledger applies the same
    rule): of identical bytes one is used and the others noted; of different files the newest valid one is used (by
    the time it was saved, then the name) and the older ones are noted as superseded. A file with errors stays
    rejected for its own errors; one newer than the file used is not superseded (the unit tried to correct)."""
    groups: dict[tuple[str, str], list] = {}
    for r in ctx.results:
        sub = r.submission
        if sub is None or not (sub.stamp_ok or sub.readable) or not r.unit or not r.period:
            continue
        if any(p.code in FATAL_READ for p in sub.problems):
            continue
        groups.setdefault((r.unit, r.period), []).append(r)
    for (unit, period), group in groups.items():
        if len(group) < 2:
            continue
        distinct: dict[str, Any] = {}
        # the original first: saved first, then the shorter name, as thidua.arrivals.original_first
        for r in sorted(group, key=lambda r: (r.submission.mtime, len(r.path.name), r.path.name, str(r.path))):
            sha = getattr(r.submission, "sha256", None) or str(r.path)
            first = distinct.setdefault(sha, r)
            if first is not r:
                yield ctx.finding(r, I_ID_IDENTICAL.code,
                                  f"Tệp trùng hệt (cùng nội dung) với tệp “{first.path.name}” của đơn vị “{unit}” kỳ "
                                  f"{period_vi(period)}: chỉ dùng một bản, không cần gửi lại.", value=first.path.name)
        valid = [r for r in distinct.values() if r.valid]
        if not valid:
            continue
        used = max(valid, key=lambda r: (r.submission.mtime, r.path.name))
        for r in distinct.values():
            if r is used or (r.submission.mtime, r.path.name) > (used.submission.mtime, used.path.name):
                continue
            state = "Bản này có lỗi nên không được dùng; " if not r.valid else "Bản này cũ hơn nên không được dùng; "
            yield ctx.finding(r, I_ID_SUPERSEDED.code,
                              f"{state}báo cáo của đơn vị “{unit}” kỳ {period_vi(period)} lấy theo bản mới hơn "
                              f"“{used.path.name}” (lưu lúc {_when(used)}).", value=used.path.name)


# ----------------------------------------------------------------------------------------------------------------------
# Structure: sheets, table, rows and labels

E_STRUCT_SHEET_MISSING = Code("E-STRUCT-SHEET-MISSING", ERROR, "Không tìm thấy trang “Báo cáo”")
W_STRUCT_SHEET_RENAMED = Code("W-STRUCT-SHEET-RENAMED", WARNING, "Trang “Báo cáo” bị đổi tên (vẫn đọc được)")
E_STRUCT_TABLE_MISSING = Code("E-STRUCT-TABLE-MISSING", ERROR, "Không tìm thấy dòng tiêu đề của bảng chỉ tiêu")
E_STRUCT_COLUMN_MISSING = Code("E-STRUCT-COLUMN-MISSING", ERROR, "Một cột của bảng bị xóa hoặc đổi tiêu đề")
E_STRUCT_ROW_MISSING = Code("E-STRUCT-ROW-MISSING", ERROR, "Dòng của một chỉ tiêu hoặc nội dung bị xóa, sửa mã")
W_STRUCT_ROW_MOVED = Code("W-STRUCT-ROW-MOVED", WARNING, "Dòng bị dịch chuyển so với biểu mẫu (vẫn đọc theo mã)")
W_STRUCT_LABEL_CHANGED = Code("W-STRUCT-LABEL-CHANGED", WARNING, "Tên chỉ tiêu bị sửa (vẫn đọc theo mã)")
E_STRUCT_MERGED = Code("E-STRUCT-MERGED", ERROR, "Ô nhập liệu bị gộp (merge)")

KEEP_FORM = "Đề nghị không chèn, xóa dòng, cột hay sửa mã, tên trong biểu."


@check("structure", E_STRUCT_SHEET_MISSING, W_STRUCT_SHEET_RENAMED, needs=NEEDS_OPENED)
def report_sheet(ctx: Context) -> Iterator[Finding]:
    """The report sheet is there under its name (or found by its headings under another name)."""
    for p in ctx.problems("sheet_renamed"):
        yield ctx.finding(W_STRUCT_SHEET_RENAMED.code,
                          f"Trang “{SHEET_REPORT}” đã bị đổi tên thành {shown(p.sheet)}; số liệu vẫn được đọc. Đề nghị "
                          f"không đổi tên trang tính (giữ tên “{SHEET_REPORT}”) ở các kỳ sau.",
                          sheet=p.sheet, value=p.sheet)
    if ctx.problems("sheet_missing") and not ctx.problems("no_stamp"):
        yield ctx.finding(E_STRUCT_SHEET_MISSING.code,
                          f"Không tìm thấy trang “{SHEET_REPORT}” chứa bảng số liệu (trang đã bị xóa hoặc bảng đã bị "
                          "sửa). " + RESEND, sheet=False)


@check("structure", E_STRUCT_TABLE_MISSING, E_STRUCT_COLUMN_MISSING, needs=NEEDS_OPENED)
def table_columns(ctx: Context) -> Iterator[Finding]:
    """The table's heading row and each of its columns are found."""
    for _p in ctx.problems("table_missing"):
        yield ctx.finding(E_STRUCT_TABLE_MISSING.code,
                          "Không tìm thấy dòng tiêu đề của bảng chỉ tiêu (các ô “Mã”, “Tháng báo cáo”… đã bị sửa hoặc "
                          "xóa) nên không đọc được số liệu. " + RESEND, sheet=ctx.sheet)
    for p in ctx.problems("column_missing"):
        yield ctx.finding(E_STRUCT_COLUMN_MISSING.code,
                          f"Không tìm thấy cột “{p.detail}” của bảng (cột bị xóa hoặc tiêu đề bị sửa) nên không đọc "
                          f"được số liệu trong cột này. {KEEP_FORM} Đề nghị điền vào biểu mẫu gốc và gửi lại.",
                          cell=p.cell, value=p.detail)


@check("structure", E_STRUCT_ROW_MISSING, W_STRUCT_ROW_MOVED, W_STRUCT_LABEL_CHANGED)
def rows_and_labels(ctx: Context) -> Iterator[Finding]:
    """Each target and indicator row is found by its code; moved rows and edited labels are reported."""
    for p in ctx.problems("row_missing"):
        if p.indicator:
            what = f"chỉ tiêu {p.indicator} {shown(p.detail)}"
            key = p.indicator
        else:
            what = p.detail
            m = re.search(r"\d+", p.detail)
            key = f"T{m.group(0)}" if m else None
        yield ctx.finding(E_STRUCT_ROW_MISSING.code,
                          f"Không tìm thấy dòng của {what} (mã ở cột A đã bị xóa hoặc sửa) nên không đọc được số liệu "
                          f"của dòng này. {KEEP_FORM} Đề nghị điền vào biểu mẫu gốc và gửi lại.",
                          indicator=key, sheet=ctx.sheet)
    for p in ctx.problems("row_moved"):
        what = f"chỉ tiêu {p.indicator}" if p.indicator else "nội dung thi đua"
        rows = f"Dòng của {what}" if p.count == 1 else f"{p.count} dòng, bắt đầu từ dòng của {what},"
        yield ctx.finding(W_STRUCT_ROW_MOVED.code,
                          f"{rows} bị dịch chuyển ({p.detail}) so với biểu mẫu, thường do có dòng bị xóa hoặc chèn "
                          f"thêm; số liệu vẫn được đọc theo mã ở cột A. {KEEP_FORM}",
                          cell=p.cell, indicator=p.indicator, value=p.detail)
    for p in ctx.problems("label_changed"):
        name = ctx.catalogue.indicator(p.indicator).name if p.indicator else ""
        yield ctx.finding(W_STRUCT_LABEL_CHANGED.code,
                          f"Tên chỉ tiêu {p.indicator} đã bị sửa thành {shown(p.detail)}, khác biểu mẫu “{name}”; số "
                          f"liệu vẫn được đọc theo mã chỉ tiêu. {KEEP_FORM}",
                          cell=p.cell, indicator=p.indicator, value=p.detail)


E_STRUCT_ROW_TEXT = Code("E-STRUCT-ROW-TEXT", ERROR, "Dòng chèn thêm vào bảng có nội dung (nội dung này không "
                                                      "được đọc)")
E_STRUCT_UNIT_CHANGED = Code("E-STRUCT-UNIT-CHANGED", ERROR, "“Đơn vị tính” của chỉ tiêu bị sửa")


@check("structure", E_STRUCT_ROW_TEXT, E_STRUCT_UNIT_CHANGED)
def inserted_text_and_units(ctx: Context) -> Iterator[Finding]:
    """Text typed into a row inserted in the table is not read: say so and where it belongs; a changed "Đơn vị tính"
    changes what a figure means. The form's status line counts the same rows (thidua.form)."""
    for p in ctx.problems("row_text"):
        if p.indicator and p.indicator.startswith("T"):
            where = (f"cột “Giải trình / minh chứng / ghi chú” của dòng nội dung {p.indicator[1:]}")
        elif p.indicator:
            where = f"cột “Giải trình / minh chứng / ghi chú” của chỉ tiêu {p.indicator} (dòng ngay trên)"
        else:
            where = "cột “Giải trình / minh chứng / ghi chú” của dòng liên quan"
        yield ctx.finding(E_STRUCT_ROW_TEXT.code,
                          f"Ô {p.cell} nằm trong dòng chèn thêm vào bảng, có nội dung {shown(p.detail)}; dòng chèn "
                          f"thêm không thuộc chỉ tiêu nào nên nội dung này KHÔNG được đọc. Đề nghị chuyển nội dung "
                          f"vào {where}, xóa dòng chèn thêm rồi gửi lại.",
                          cell=p.cell, indicator=p.indicator, value=p.detail)
    for p in ctx.problems("unit_changed"):
        want = ctx.catalogue.indicator(p.indicator).unit if p.indicator else ""
        yield ctx.finding(E_STRUCT_UNIT_CHANGED.code,
                          f"“Đơn vị tính” của chỉ tiêu {p.indicator} ở ô {p.cell} đã bị sửa thành {shown(p.detail)}, "
                          f"khác biểu mẫu ({f'“{want}”' if want else 'để trống'}); số liệu của chỉ tiêu phải tính "
                          "theo đơn vị của biểu mẫu. Đề nghị trả lại đơn vị tính như biểu mẫu và kiểm tra lại số "
                          "liệu.", cell=p.cell, indicator=p.indicator, value=p.detail)


@check("structure", E_STRUCT_MERGED)
def merged_inputs(ctx: Context) -> Iterator[Finding]:
    """Merged cells over input cells hide all but one of them."""
    for rng, covered in ctx.merged_over_inputs():
        names = "; ".join(f"{ic.cell.cell} — {ic.what}" for ic in covered[:4])
        names += "…" if len(covered) > 4 else ""
        yield ctx.finding(E_STRUCT_MERGED.code,
                          f"Các ô {rng} đã bị gộp (merge), che mất ô nhập liệu {names}. Đề nghị bỏ gộp ô (Trang "
                          "đầu > Gộp và căn giữa > Bỏ gộp ô) rồi nhập lại số liệu vào từng ô.",
                          cell=rng.split(":")[0], indicator=covered[0].key, value=rng)


# ----------------------------------------------------------------------------------------------------------------------
# Completeness

E_REQ_MISSING = Code("E-REQ-MISSING", ERROR, "Ô bắt buộc chưa nhập (số liệu, tự đánh giá, người lập biểu)")

_FILL_HOW = {
    "count": "Đề nghị nhập số liệu; nếu không phát sinh thì nhập 0.",
    "yesno": "Đề nghị chọn “Có” hoặc “Không”.",
    "choice": "Đề nghị chọn một giá trị trong danh sách.",
    "date": "Đề nghị nhập ngày dạng ngày/tháng/năm.",
    "text": "Đề nghị nhập nội dung.",
}


@check("completeness", E_REQ_MISSING)
def required_inputs(ctx: Context) -> Iterator[Finding]:
    """One finding per required input cell left empty, including the preparer and each target's self-assessment."""
    hidden = ctx.merged_hidden()
    for ic in ctx.inputs():
        if not ic.required or not is_blank(ic.cell) or ic.cell.cell in hidden:  # a merge: E-STRUCT-MERGED says it
            continue
        if ic.key and ic.key.startswith("T"):
            how = "Đề nghị chọn " + " hoặc ".join(f"“{c}”" for c in ic.choices) + "."
            message = f"Chưa {ic.what} ở ô {ic.cell.cell}. {how}"
        elif ic.key is None:
            message = f"Chưa ghi {ic.what} ở ô {ic.cell.cell}. Đề nghị ghi họ tên người lập biểu."
        else:
            how = ("Đề nghị chọn " + " hoặc ".join(f"“{c}”" for c in ic.choices) + "."
                   if ic.kind == "yesno" else _FILL_HOW[ic.kind])
            message = f"Chưa nhập {ic.what} ở ô {ic.cell.cell}. {how}"
        yield ctx.finding(E_REQ_MISSING.code, message, cell=ic.cell.cell, indicator=ic.key)


# ----------------------------------------------------------------------------------------------------------------------
# Type and domain

E_TYPE_TEXT_NUMBER = Code("E-TYPE-TEXT-NUMBER", ERROR, "Ô số liệu chứa chữ (số gõ kèm dấu chấm, dấu phẩy, %, khoảng "
                                                        "trắng…)")
E_TYPE_NOT_INTEGER = Code("E-TYPE-NOT-INTEGER", ERROR, "Số liệu đếm là số thập phân")
E_TYPE_NOT_NUMBER = Code("E-TYPE-NOT-NUMBER", ERROR, "Ô số liệu chứa giá trị không phải số (ví dụ TRUE/FALSE)")
E_TYPE_NEGATIVE = Code("E-TYPE-NEGATIVE", ERROR, "Số liệu đếm là số âm")
E_TYPE_PERCENT = Code("E-TYPE-PERCENT", ERROR, "Ô số liệu đếm được nhập dạng phần trăm (ví dụ gõ “100%”)")
E_TYPE_NOT_IN_LIST = Code("E-TYPE-NOT-IN-LIST", ERROR, "Giá trị không có trong danh sách (Có/Không, Đạt/Không đạt, "
                                                        "danh sách chọn)")
E_TYPE_DATE_TEXT = Code("E-TYPE-DATE-TEXT", ERROR, "Ngày được gõ dạng chữ")
E_TYPE_NOT_DATE = Code("E-TYPE-NOT-DATE", ERROR, "Ô ngày chứa giá trị không phải ngày")
E_TYPE_FORMULA = Code("E-TYPE-FORMULA", ERROR, "Ô nhập liệu chứa công thức")
E_TYPE_FORMULA_NO_CACHE = Code("E-TYPE-FORMULA-NO-CACHE", ERROR, "Ô nhập liệu chứa công thức chưa được tính (không có "
                                                                  "giá trị)")
E_TYPE_DATE_RANGE = Code("E-TYPE-DATE-RANGE", ERROR, "Ngày nằm ngoài khoảng thời gian cho phép (quy tắc date_within)")
E_TYPE_TOO_LONG = Code("E-TYPE-TOO-LONG", ERROR, "Nội dung dài quá mức cho phép (quy tắc max_length)")
E_TYPE_CELL_LIMIT = Code("E-TYPE-CELL-LIMIT", ERROR, "Nội dung tới giới hạn 32.767 ký tự của một ô Excel")
#: The most characters an Excel cell holds: a longer text cannot have been typed in Excel.
EXCEL_CELL_CHARS = 32767

_SPACES = "\u00a0\u2007\u202f\t\r\n "
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:([.,\u00a0 ])\d{3})(?:\1\d{3})*$")


def number_text_hint(raw: str) -> str:
    """What a text typed into a number cell looks like, and what to type instead (Vietnamese)."""
    text = raw.strip(_SPACES)
    compact = re.sub(f"[{_SPACES}]", "", text)
    if re.fullmatch(r"[+-]?\d+", text):
        if text != raw:
            return (f"số có khoảng trắng thừa ở đầu hoặc cuối nên Excel coi là chữ. Đề nghị xóa ô và gõ lại số nguyên "
                    f"{text.lstrip('+')} (không có khoảng trắng).")
        return (f"số được lưu dạng chữ (ô định dạng Văn bản hoặc có dấu ' ở đầu). Đề nghị xóa ô và gõ lại số "
                f"nguyên {text.lstrip('+')}.")
    if _THOUSANDS_RE.match(text):
        digits = re.sub(r"\D", "", text)
        return (f"có vẻ là số có dấu phân cách hàng nghìn nên Excel coi là chữ. Đề nghị gõ số nguyên không có dấu "
                f"chấm, dấu phẩy, khoảng trắng: {int(digits)}.")
    if re.fullmatch(r"[+-]?\d+,\d+", compact):
        return ("có vẻ là số thập phân dùng dấu phẩy; chỉ tiêu này đếm số lượng nên phải là số nguyên. Đề nghị gõ một "
                "số nguyên, không có dấu phẩy.")
    if re.fullmatch(r"[+-]?\d+\.\d+", compact):
        return ("có vẻ là số thập phân; chỉ tiêu này đếm số lượng nên phải là số nguyên. Đề nghị gõ một số nguyên, "
                "không có dấu chấm.")
    if compact.endswith("%") and re.fullmatch(r"[+-]?\d+(?:[.,]\d+)?%", compact):
        return ("đây là tỷ lệ phần trăm; ô này cần số lượng thực tế (số người, số hồ sơ…), tỷ lệ do chương trình tự "
                "tính. Đề nghị gõ số nguyên là số lượng.")
    m = re.fullmatch(r"(\d+)\s*([^\d\s].*)", text)
    if m:
        return (f"số có kèm chữ; đơn vị tính đã ghi sẵn ở cột “Đơn vị tính”. Đề nghị chỉ gõ số nguyên "
                f"{int(m.group(1))}.")
    return "đây là chữ, không phải số. Đề nghị gõ một số nguyên (nếu không phát sinh thì gõ 0)."


@check("type", E_TYPE_TEXT_NUMBER, E_TYPE_NOT_INTEGER, E_TYPE_NOT_NUMBER, E_TYPE_NEGATIVE, E_TYPE_PERCENT)
def numbers(ctx: Context) -> Iterator[Finding]:
    """A count cell holds a whole, non-negative number typed as a number (not as a percentage: typing "100%" stores
    1 in a cell formatted as a percentage, which the form's live check also flags — thidua.domain)."""
    for ic in ctx.inputs():
        if ic.kind != "count":
            continue
        c = ic.cell
        if c.issue is None and not (isinstance(c.value, int) and not isinstance(c.value, bool) and c.value < 0):
            continue  # nothing to say (most cells): no message text made
        where = f"{cap(ic.what)} ở ô {c.cell}"
        if c.issue == "text_in_number":
            yield ctx.finding(E_TYPE_TEXT_NUMBER.code,
                              f"{where} nhập {shown(c.raw)}, không đọc được là số: "
                              f"{number_text_hint(c.raw)}",
                              cell=c.cell, indicator=ic.key, value=c.raw)
        elif c.issue == "not_integer":
            yield ctx.finding(E_TYPE_NOT_INTEGER.code,
                              f"{where} là số thập phân {shown(c.raw.replace('.', ','))}; chỉ tiêu này đếm số lượng "
                              "nên phải là số nguyên. Đề nghị nhập số nguyên.",
                              cell=c.cell, indicator=ic.key, value=c.raw)
        elif c.issue == "percent":
            yield ctx.finding(E_TYPE_PERCENT.code,
                              f"{where} nhập {shown(c.raw)} dạng phần trăm; ô này cần số lượng thực tế (số người, số "
                              "hồ sơ…), tỷ lệ do biểu tự tính. Đề nghị xóa ô (Trang đầu > Xóa > Xóa tất cả, để bỏ "
                              "định dạng %) rồi gõ số nguyên là số lượng.",
                              cell=c.cell, indicator=ic.key, value=c.raw)
        elif c.issue == "not_number":
            yield ctx.finding(E_TYPE_NOT_NUMBER.code,
                              f"{where} chứa giá trị {shown(c.raw)}, không phải số. Đề nghị xóa ô và gõ một số nguyên.",
                              cell=c.cell, indicator=ic.key, value=c.raw)
        elif isinstance(c.value, int) and not isinstance(c.value, bool) and c.value < 0:
            yield ctx.finding(E_TYPE_NEGATIVE.code,
                              f"{where} là số âm ({c.value}); số liệu đếm không thể âm. Đề nghị nhập số nguyên từ 0 "
                              "trở lên.", cell=c.cell, indicator=ic.key, value=c.value)


@check("type", E_TYPE_NOT_IN_LIST)
def in_list(ctx: Context) -> Iterator[Finding]:
    """A yes/no, choice or self-assessment cell holds one of the listed values."""
    for ic in ctx.inputs():
        if ic.kind not in ("yesno", "choice"):
            continue
        c = ic.cell
        if c.issue == "not_in_list" or (c.value is not None and c.issue is None and c.value not in ic.choices):
            allowed = ", ".join(f"“{x}”" for x in ic.choices)
            yield ctx.finding(E_TYPE_NOT_IN_LIST.code,
                              f"{cap(ic.what)} ở ô {c.cell} là {shown(c.raw)}, không có trong danh sách. Đề nghị chọn "
                              f"một trong: {allowed} (bấm vào mũi tên bên cạnh ô để chọn).",
                              cell=c.cell, indicator=ic.key, value=c.raw)


@check("type", E_TYPE_DATE_TEXT, E_TYPE_NOT_DATE)
def dates(ctx: Context) -> Iterator[Finding]:
    """A date cell holds a date, not a text that looks like one."""
    for ic in ctx.inputs():
        if ic.kind != "date":
            continue
        c = ic.cell
        if c.issue == "date_month_first":
            yield ctx.finding(E_TYPE_DATE_TEXT.code,
                              f"{cap(ic.what)} ở ô {c.cell} là {shown(c.raw)}: đọc theo ngày/tháng/năm thì không phải "
                              "ngày có thật, có vẻ đã gõ theo kiểu tháng/ngày/năm của máy cài tiếng Anh. Đề nghị nhập "
                              "lại dạng ngày/tháng/năm (ví dụ 20/09/2024).", cell=c.cell, indicator=ic.key,
                              value=c.raw)
        elif c.issue == "date_as_text":
            yield ctx.finding(E_TYPE_DATE_TEXT.code,
                              f"{cap(ic.what)} ở ô {c.cell} là {shown(c.raw)} dạng chữ nên không đọc được là ngày. Đề "
                              "nghị xóa ô và nhập lại ngày dạng ngày/tháng/năm (không gõ dấu ' ở đầu, không định dạng "
                              "ô là Văn bản).", cell=c.cell, indicator=ic.key, value=c.raw)
        elif c.issue == "not_date":
            yield ctx.finding(E_TYPE_NOT_DATE.code,
                              f"{cap(ic.what)} ở ô {c.cell} là {shown(c.raw)}, không phải ngày. Đề nghị nhập ngày dạng "
                              "ngày/tháng/năm.", cell=c.cell, indicator=ic.key, value=c.raw)


@check("type", E_TYPE_FORMULA, E_TYPE_FORMULA_NO_CACHE)
def formulas(ctx: Context) -> Iterator[Finding]:
    """An input cell holds a value typed in, not a formula (its value is not read)."""
    for ic in ctx.inputs():
        c = ic.cell
        if c.issue == "formula":
            yield ctx.finding(E_TYPE_FORMULA.code,
                              f"{cap(ic.what)} ở ô {c.cell} chứa công thức (kết quả {shown(c.raw)}); ô nhập liệu không "
                              "được dùng công thức. Đề nghị xóa công thức và gõ trực tiếp giá trị.",
                              cell=c.cell, indicator=ic.key, value=c.raw or None)
        elif c.issue == "formula_no_cache":
            yield ctx.finding(E_TYPE_FORMULA_NO_CACHE.code,
                              f"{cap(ic.what)} ở ô {c.cell} chứa công thức chưa được tính (không có giá trị); ô nhập "
                              "liệu không được dùng công thức. Đề nghị xóa công thức và gõ trực tiếp giá trị.",
                              cell=c.cell, indicator=ic.key)


@check("type", E_TYPE_DATE_RANGE, rules=("date_within",))
def date_within(ctx: Context) -> Iterator[Finding]:
    """A date lies in the period (``"period"``) or between 1 January and the period's end (``"year_to_period"``)."""
    ind, period = ctx.indicator, ctx.data_period
    if ind is None or period is None:
        return
    first, last = date_bounds(ctx.rule, period)  # the same bounds as the form's live check (thidua.domain)
    scope = f"trong {period.label}" if ctx.rule == "period" else f"từ đầu năm đến hết {period.label}"
    for col in ind.periods:
        c = ctx.cell(ind.code, col)
        if c is None or not isinstance(c.value, dt.date):
            continue
        if not first <= c.value <= last:
            yield ctx.finding(E_TYPE_DATE_RANGE.code,
                              f"Chỉ tiêu {ind.code} ({COLUMN_VI[col]}) ở ô {c.cell} là ngày {date_vi(c.value)}, nằm "
                              f"ngoài khoảng cho phép {date_vi(first)} – {date_vi(last)} ({scope}). Đề nghị kiểm tra "
                              "lại ngày (dạng ngày/tháng/năm).", cell=c.cell, indicator=ind.code, value=c.value)


@check("type", E_TYPE_TOO_LONG, rules=("max_length",))
def max_length(ctx: Context) -> Iterator[Finding]:
    """A text is not longer than the declared maximum."""
    ind = ctx.indicator
    if ind is None:
        return
    for col in ind.periods:
        c = ctx.cell(ind.code, col)
        if c is None or c.value is None:
            continue
        text = str(c.value)
        if len(text) > int(ctx.rule):
            yield ctx.finding(E_TYPE_TOO_LONG.code,
                              f"Nội dung chỉ tiêu {ind.code} ở ô {c.cell} dài {len(text)} ký tự, vượt mức tối đa "
                              f"{ctx.rule} ký tự. Đề nghị viết ngắn gọn; nội dung chi tiết gửi kèm bằng văn bản riêng.",
                              cell=c.cell, indicator=ind.code, value=text)


@check("type", E_TYPE_CELL_LIMIT)
def excel_cell_limit(ctx: Context) -> Iterator[Finding]:
    """No input text reaches the most an Excel cell can hold. python-calamine cuts a longer text at that limit, so a
    text of exactly that length is taken as cut: a file holding it was not written by Excel, and what lies beyond
    the limit could not be read."""
    for ic in ctx.inputs():
        c = ic.cell
        if len(c.raw) >= EXCEL_CELL_CHARS:
            yield ctx.finding(E_TYPE_CELL_LIMIT.code,
                              f"{cap(ic.what)} ở ô {c.cell} dài từ {fmt_int(EXCEL_CELL_CHARS)} ký tự trở lên, tới giới "
                              "hạn của một ô Excel (tệp không được lưu bằng Excel; phần vượt quá giới hạn không đọc "
                              "được). Đề nghị viết ngắn gọn; nội dung chi tiết gửi kèm bằng văn bản riêng.",
                              cell=c.cell, indicator=ic.indicator.code if ic.indicator else None, value=c.raw)


# ----------------------------------------------------------------------------------------------------------------------
# Relations between figures

E_REL_PART_GT_WHOLE = Code("E-REL-PART-GT-WHOLE", ERROR, "Số thành phần lớn hơn số tổng (quy tắc max, numerator_of)")
E_REL_SUM = Code("E-REL-SUM", ERROR, "Số tổng khác tổng các thành phần (quy tắc sum_of)")
E_REL_MONTH_GT_YTD = Code("E-REL-MONTH-GT-YTD", ERROR, "Số tháng báo cáo lớn hơn số lũy kế từ đầu năm")


@check("relations", E_REL_PART_GT_WHOLE, rules=("max", "numerator_of"))
def part_of_whole(ctx: Context) -> Iterator[Finding]:
    """A part is not larger than its whole."""
    ind = ctx.indicator
    if ind is None or ctx.rule not in ctx.catalogue._by_code():
        return
    whole = ctx.catalogue.indicator(ctx.rule)
    for col in ind.periods:
        wcol = whole_column(ind, col, whole)
        part, total = ctx.count(ind.code, col), ctx.count(whole.code, wcol)
        if part is None or total is None or part <= total:
            continue
        c, wc = ctx.cell(ind.code, col), ctx.cell(whole.code, wcol)
        yield ctx.finding(E_REL_PART_GT_WHOLE.code,
                          f"Chỉ tiêu {ind.code} ({COLUMN_VI[col]}) = {part} lớn hơn chỉ tiêu {whole.code} "
                          f"“{whole.name}” ({COLUMN_VI[wcol]}, ô {wc.cell}) = {total}: số thành phần không được lớn "
                          "hơn số tổng. Đề nghị kiểm tra và sửa lại số liệu.",
                          cell=c.cell, indicator=ind.code, value=part)


@check("relations", E_REL_SUM, rules=("sum_of",))
def sum_of(ctx: Context) -> Iterator[Finding]:
    """A total equals the sum of its parts."""
    ind = ctx.indicator
    if ind is None:
        return
    codes = [p for p in ctx.rule if p in ctx.catalogue._by_code()]
    parts_ind = [ctx.catalogue.indicator(p) for p in codes]
    for i, col in enumerate(ind.periods):
        cols = [col if col in p.periods else (p.periods[0] if i == 0 else None) for p in parts_ind]
        total = ctx.count(ind.code, col)
        values = [ctx.count(p.code, pc) for p, pc in zip(parts_ind, cols, strict=True)]
        if total is None or any(v is None for v in values):
            continue
        if total != sum(values):
            c = ctx.cell(ind.code, col)
            detail = " + ".join(str(v) for v in values)
            yield ctx.finding(E_REL_SUM.code,
                              f"Chỉ tiêu {ind.code} ({COLUMN_VI[col]}) = {total} nhưng tổng các chỉ tiêu "
                              f"{' + '.join(codes)} = {detail} = {sum(values)}. Đề nghị kiểm tra lại để chỉ tiêu "
                              f"{ind.code} bằng {' + '.join(codes)}.", cell=c.cell, indicator=ind.code, value=total)


@check("relations", E_REL_MONTH_GT_YTD)
def month_within_ytd(ctx: Context) -> Iterator[Finding]:
    """For a count with both figures, the month's figure is not larger than the year-to-date figure."""
    for ind in ctx.catalogue.indicators:
        if ind.kind != "count" or "month" not in ind.periods or "ytd" not in ind.periods:
            continue
        month, ytd = ctx.count(ind.code, "month"), ctx.count(ind.code, "ytd")
        if month is None or ytd is None or month <= ytd:
            continue
        c = ctx.cell(ind.code, "ytd")
        yield ctx.finding(E_REL_MONTH_GT_YTD.code,
                          f"Chỉ tiêu {ind.code}: số lũy kế từ đầu năm ở ô {c.cell} = {ytd} nhỏ hơn số tháng báo cáo = "
                          f"{month}. Lũy kế phải gồm cả số của tháng báo cáo: đề nghị kiểm tra lại.",
                          cell=c.cell, indicator=ind.code, value=ytd)


# ----------------------------------------------------------------------------------------------------------------------
# Targets

W_TARGET_RATIO = Code("W-TARGET-RATIO", WARNING, "Chỉ tiêu mục tiêu 100% chưa đạt 100% (0/0 là không phát sinh, đạt)")
W_TARGET_ZERO = Code("W-TARGET-ZERO", WARNING, "Chỉ tiêu mục tiêu bằng 0 chưa đạt")
W_TARGET_YESNO = Code("W-TARGET-YESNO", WARNING, "Chỉ tiêu mục tiêu “Có” (hoặc “Không”) chưa đạt")
E_TARGET_CONTRADICTION = Code("E-TARGET-CONTRADICTION", ERROR, "Tự đánh giá “Đạt” nhưng số liệu chưa đạt mục tiêu")
E_TARGET_NO_EXPLANATION = Code("E-TARGET-NO-EXPLANATION", ERROR, "Tự đánh giá “Không đạt” nhưng chưa giải trình")


@dataclass(frozen=True)
class TargetStatus:
    """Whether an indicator's ``target`` rule is met by a submission's figures."""

    met: bool
    cell: str
    shown: str  # the figures, e.g. "42/45 (93,3%)"
    value: Any
    goal: str = ""  # the target in words, e.g. "100%", "0", "“Có”"


def target_status(ind: Indicator, sub: Submission, catalogue: Catalogue) -> TargetStatus | None:
    """The status of ``ind``'s target on its first figure (the month's when asked), None when it cannot be told.

    A "100%" target is met when the part equals the whole; 0/0 means nothing happened ("không phát sinh") and is met.
    """
    target = ind.target
    if target is None:
        return None
    col = ind.periods[0]
    c = _cell_of(sub, ind.code, col)
    if c is None:
        return None
    if target == "100%":
        whole = catalogue.indicator(ind.rules["numerator_of"])
        part, total = _count(c), _count(_cell_of(sub, whole.code, whole_column(ind, col, whole)))
        if part is None or total is None or part > total:
            return None  # unreadable, or a relation error reported elsewhere
        if total == 0:
            return TargetStatus(True, c.cell, "0/0 (không phát sinh)", part, "100%")
        return TargetStatus(part == total, c.cell, f"{part}/{total} ({num(part / total * 100)}%)", part, "100%")
    if target == 0:
        v = _count(c)
        return None if v is None else TargetStatus(v == 0, c.cell, str(v), v, "0")
    if isinstance(target, str):
        choices = catalogue.yesno_choices if ind.kind == "yesno" else ind.choices
        if c.value is None or c.value not in choices:
            return None
        return TargetStatus(c.value == target, c.cell, f"“{c.value}”", c.value, f"“{target}”")
    return None


def _target_of(ind: Indicator, catalogue: Catalogue) -> Target:
    return catalogue.target(ind.target_number)


def _if_short(target: Target, catalogue: Catalogue) -> str:
    met = next((c for c in catalogue.assessment_choices if c != target.explain_if), "Đạt")
    return (f"Nếu nhập nhầm, đề nghị sửa lại số liệu; nếu đúng là chưa đạt, nội dung {target.number} không thể tự đánh "
            f"giá “{met}”: chọn “{target.explain_if}” và ghi rõ lý do.")


@check("targets", W_TARGET_RATIO, W_TARGET_ZERO, W_TARGET_YESNO, rules=("target",))
def target_met(ctx: Context) -> Iterator[Finding]:
    """Whether an indicator reaches its declared target: "100%" (x/y), 0 or "Có"."""
    ind = ctx.indicator
    if ind is None:
        return
    status = ctx.target_status(ind)
    if status is None or status.met:
        return
    hint = _if_short(_target_of(ind, ctx.catalogue), ctx.catalogue)
    col = COLUMN_VI[ind.periods[0]]
    if ctx.rule == "100%":
        code, what = W_TARGET_RATIO.code, f"chưa đạt 100%: {status.shown}"
    elif ctx.rule == 0:
        code, what = W_TARGET_ZERO.code, f"= {status.shown}, chưa đạt mục tiêu bằng 0"
    else:
        code, what = W_TARGET_YESNO.code, f"là {status.shown}, chưa đạt mục tiêu “{ctx.rule}”"
    yield ctx.finding(code, f"Chỉ tiêu {ind.code} “{ind.name}” ({col}) {what}. {hint}",
                      cell=status.cell, indicator=ind.code, value=status.value)


@check("targets", E_TARGET_CONTRADICTION)
def assessment_contradicted(ctx: Context) -> Iterator[Finding]:
    """A self-assessment "Đạt" while the target's figures show a target not met."""
    cat = ctx.catalogue
    for target in cat.targets:
        entry = ctx.sub.targets.get(target.number)
        met_value = next((c for c in cat.assessment_choices if c != target.explain_if), None)
        if entry is None or entry.assessment.value != met_value:
            continue
        short = []
        for ind in target.indicators:
            s = ctx.target_status(ind)
            if s is not None and not s.met:
                short.append(f"chỉ tiêu {ind.code} ở ô {s.cell} là {s.shown}, mục tiêu {s.goal}")
        if short:
            yield ctx.finding(E_TARGET_CONTRADICTION.code,
                              f"Nội dung {target.number} tự đánh giá “{met_value}” nhưng số liệu chưa đạt mục tiêu: "
                              f"{'; '.join(short)}. Đề nghị sửa lại số liệu nếu nhập nhầm, hoặc chọn "
                              f"“{target.explain_if}” và ghi rõ lý do ở ô {entry.explanation.cell}.",
                              cell=entry.assessment.cell, indicator=f"T{target.number}", value=met_value)


@check("targets", E_TARGET_NO_EXPLANATION)
def explanation_given(ctx: Context) -> Iterator[Finding]:
    """A target assessed "Không đạt" carries an explanation."""
    for target in ctx.catalogue.targets:
        entry = ctx.sub.targets.get(target.number)
        if entry is None or entry.assessment.value != target.explain_if or not is_blank(entry.explanation):
            continue
        yield ctx.finding(E_TARGET_NO_EXPLANATION.code,
                          f"Nội dung {target.number} tự đánh giá “{target.explain_if}” nhưng chưa giải trình. Đề nghị "
                          f"ghi rõ lý do không đạt ở ô {entry.explanation.cell}.",
                          cell=entry.explanation.cell, indicator=f"T{target.number}")


# ----------------------------------------------------------------------------------------------------------------------
# History

E_HIST_YTD_DECREASED = Code("E-HIST-YTD-DECREASED", ERROR, "Số lũy kế nhỏ hơn số lũy kế đã báo cáo ở tháng trước")


@check("history", E_HIST_YTD_DECREASED)
def ytd_not_decreasing(ctx: Context) -> Iterator[Finding]:
    """A year-to-date figure is not lower than the same unit's figure for an earlier month of the year."""
    sub, cat = ctx.sub, ctx.catalogue
    unit, period = sub.unit_code, Period.try_parse(sub.period) if sub.period else None
    if ctx.history is None or not unit or cat.unit(unit) is None or period is None:
        return
    for ind in cat.indicators:
        if ind.kind != "count" or "ytd" not in ind.periods:
            continue
        ytd = ctx.count(ind.code, "ytd")
        if ytd is None:
            continue
        earlier = ctx.history.earlier_ytd(unit, str(period), ind.code)
        if not earlier:
            continue
        when, before = earlier
        when_p = Period.try_parse(when)
        if when_p is None or when_p >= period or when_p.year != period.year or not isinstance(before, int):
            continue
        if ytd < before:
            c = ctx.cell(ind.code, "ytd")
            yield ctx.finding(E_HIST_YTD_DECREASED.code,
                              f"Lũy kế từ đầu năm của chỉ tiêu {ind.code} ở ô {c.cell} = {ytd}, nhỏ hơn lũy kế đã báo "
                              f"cáo {when_p.label} = {before}. Lũy kế không được giảm: đề nghị kiểm tra lại (lũy kế = "
                              "lũy kế tháng trước + số phát sinh trong tháng).",
                              cell=c.cell, indicator=ind.code, value=ytd)


# ----------------------------------------------------------------------------------------------------------------------
# Internal

E_INTERNAL = Code("E-INTERNAL", ERROR, "Lỗi của chương trình khi đọc hoặc kiểm tra tệp (không phải lỗi của đơn vị)")
CODES[E_INTERNAL.code] = E_INTERNAL


def internal_finding(file: str, what: str, exc: BaseException, indicator: str | None = None) -> Finding:
    detail = clip(f"{type(exc).__name__}: {exc}", 200)
    return Finding(code=E_INTERNAL.code, severity=ERROR,
                   message=f"Lỗi của chương trình khi {what} ({detail}); đây không phải lỗi của đơn vị. Các kiểm tra "
                           "khác vẫn được thực hiện. Đề nghị báo cho người quản trị chương trình kèm tệp này.",
                   file=file, indicator=indicator)


# ----------------------------------------------------------------------------------------------------------------------
# Engine


def _guarded(chk: Check, ctx: Context, out: list[Finding]) -> None:
    try:
        for f in chk.func(ctx):
            out.append(f)
    except Exception as exc:  # a check must never abort the batch
        where = f" (chỉ tiêu {ctx.indicator.code})" if ctx.indicator is not None else ""
        out.append(internal_finding(ctx.file, f"chạy kiểm tra “{chk.name}”{where}", exc,
                                    ctx.indicator.code if ctx.indicator is not None else None))


def run_checks(sub: Submission, catalogue: Catalogue, period: Period | None = None,
               history: History | None = None) -> list[Finding]:
    """Every finding of one submission: every file check, then every declared rule, family by family."""
    out: list[Finding] = []
    base = Context(sub, catalogue, period, history)
    fields = base.__dict__  # each check gets a Context of its own: these fields, its indicator and rule
    fatal = any(p.code in FATAL_READ for p in sub.problems)
    readable = sub.readable
    new = object.__new__
    for chk, ind, value in _check_plan(catalogue):
        needs = chk.needs
        if needs != NEEDS_NOTHING and (fatal or (needs != NEEDS_OPENED and not readable)):  # _can_run
            continue
        ctx = new(Context)
        ctx.__dict__.update(fields)
        if ind is not None:
            ctx.indicator, ctx.rule = ind, value
        _guarded(chk, ctx, out)
    # A rule declared twice (e.g. both max and numerator_of on the same whole) reports once.
    seen: set[tuple] = set()
    unique = []
    for f in out:
        key = (f.code, f.sheet, f.cell, f.indicator, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _check_plan(catalogue: Catalogue) -> tuple[tuple[Check, Indicator | None, Any], ...]:
    """The checks :func:`run_checks` runs, in order: family by family, each file check once and each rule check for
    every rule of its names that an indicator declares (indicator by indicator). Made once per catalogue and
    registry of checks, where it was worked out again for every file (0.05 ms a file)."""
    registry = tuple(REGISTRY.values())
    found = catalogue.__dict__.get("_check_plan")  # the catalogue is frozen: kept beside its own caches
    if found is not None and found[0] == registry:  # the same checks (compared by identity first)
        return found[1]
    rule_items = [(ind, name, value) for ind in catalogue.indicators for name, value in ind.rules.items()]
    plan: list[tuple[Check, Indicator | None, Any]] = []
    for family in FAMILIES:
        for chk in registry:
            if chk.family != family or chk.scope == "batch":
                continue
            if chk.scope == "file":
                plan.append((chk, None, None))
            else:
                plan += [(chk, ind, value) for ind, name, value in rule_items if name in chk.rules]
    object.__setattr__(catalogue, "_check_plan", (registry, tuple(plan)))
    return tuple(plan)


def run_batch_checks(results: list, catalogue: Catalogue, period: Period | None = None) -> list[Finding]:
    """Findings about a batch of files taken together (each carries the path of the file it is about)."""
    out: list[Finding] = []
    ctx = BatchContext(results, catalogue, period)
    for chk in REGISTRY.values():
        if chk.scope != "batch":
            continue
        try:
            out.extend(chk.func(ctx))
        except Exception as exc:
            out.append(internal_finding("", f"chạy kiểm tra “{chk.name}” trên cả đợt", exc))
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Documentation


def findings_table_markdown() -> str:
    """docs/findings.md: every finding code with its severity, family and description, from the registry."""
    lines = [
        "# Mã kết quả kiểm tra biểu báo cáo",
        "",
        "<!-- Tệp này được sinh tự động bởi thidua.rules.findings_table_markdown(); không sửa bằng tay.",
        "     Sinh lại: python -m thidua.rules > docs/findings.md -->",
        "",
        "Mỗi kết quả kiểm tra (finding) có một mã cố định dạng `<mức độ>-<nhóm>-<nội dung>`: `E` là **lỗi** (tệp "
        "không được đưa vào tổng hợp cho đến khi đơn vị sửa), `W` là **cảnh báo** (vẫn tổng hợp), `I` là **thông "
        "tin**. Mã đã dùng không bao giờ bị đổi hay dùng lại cho nội dung khác.",
        "",
        "| Mã | Mức độ | Nhóm | Mô tả | Kiểm tra |",
        "|---|---|---|---|---|",
    ]
    listed: set[str] = set()
    for family, family_vi in FAMILIES.items():
        for chk in REGISTRY.values():
            if chk.family != family:
                continue
            rules = f" (quy tắc {', '.join(f'`{r}`' for r in chk.rules)})" if chk.rules else ""
            for code in chk.codes:
                if code.code in listed:
                    continue
                listed.add(code.code)
                lines.append(f"| `{code.code}` | {SEVERITY_VI[code.severity]} | {family_vi} | {code.description} | "
                             f"`{chk.name}`{rules} |")
        if family == "internal":
            lines.append(f"| `{E_INTERNAL.code}` | {SEVERITY_VI[ERROR]} | {family_vi} | {E_INTERNAL.description} | "
                         "(mọi kiểm tra) |")
    return "\n".join(lines) + "\n"


__all__ = [
    "CODES", "FAMILIES", "REGISTRY", "BatchContext", "Check", "Code", "Context", "History", "InputCell",
    "TargetStatus", "check", "checks_for_rule", "findings_table_markdown", "input_cells", "number_text_hint",
    "run_batch_checks", "run_checks", "target_status", "whole_column",
]


if __name__ == "__main__":
    import sys

    sys.stdout.write(findings_table_markdown())
