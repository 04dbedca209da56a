"""Return packages: the unit's own workbook sent back with every finding marked, so the unit can fix it and resend it.

For each file with errors or warnings: a copy of the workbook (openpyxl load/save, always as .xlsx without macros),
every offending cell filled and carrying a comment with its message, and a sheet "Kết quả kiểm tra" listing every
finding with a link to its cell. The copy is still the unit's form: the stamp, the sheet protection, data validation
and formulas stay as they were, and the reader ignores the extra sheet. A file that cannot be opened gets a workbook
with the findings sheet only.

Everything the unit wrote is written back as text (a value starting with "=" never becomes a formula). File names are
made from the unit code and period when both are valid, else from the original name made safe (letters, digits and
``-_.()`` only, at most 80 characters, never a reserved device name such as CON or NUL); never from a path found inside
a file, and never over an input file, and always inside the chosen folder.

What is sent back never runs anything the unit put in its file (the policy for a workbook that opens):

- **formulas**: only the form's own formulas stay formulas — on the report sheet, at a cell where the form has one
  (:func:`thidua.form.form_formulas`), either that very formula or one that uses only the functions the form's own
  formulas use and refers to nothing outside the sheet (no ``!``, no ``[`` external workbook, no ``|`` DDE): a live
  check re-saved by Excel or LibreOffice keeps working. Every other formula, anywhere (DDE ``cmd|' /C calc'!A0``,
  ``HYPERLINK(…)``, ``WEBSERVICE(…)``, ``[1]Sheet1!A1``, even ``=1+1`` typed in an input cell), becomes a text cell
  showing the formula's text, with a comment saying it was turned into text;
- **links to other workbooks** (external link parts) are dropped when the workbook is loaded (``keep_links=False``);
- **hyperlinks**: a link to a place inside the workbook stays; a link to anything outside it (web, file, mail) is
  removed, the cell's text stays and a comment says the link was removed;
- **defined names, data validations and conditional formats** whose formula reaches outside the workbook or calls
  a function that does (``|``, ``[``, ``HYPERLINK``, ``WEBSERVICE``, ``CALL``, ``INDIRECT`` …) are removed;
- **over-long text**: a cell holding more than Excel's 32,767 characters is cut to that length (Excel could not
  open the package otherwise), with a comment.

- **macros**: never carried. A package is always a .xlsx without the VBA project, also for a .xlsm the unit sent: the
  package is written, and may be opened, on the secretary's PC, where a unit's macro must never run. The findings
  sheet carries W-READ-MACRO, which tells the unit to use the .xlsx form; the unit still has its own file.

Before openpyxl parses a unit's workbook, :func:`thidua.package.require_defusedxml` makes sure it parses with
defusedxml (the reader has already refused any file with a DTD, a zip bomb or an oversized sheet: a package is only
made from a file the reader could open).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import json
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, TYPE_FORMULA, TYPE_STRING, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula
from openpyxl.worksheet.hyperlink import Hyperlink

from .atomic import atomic_path
from .catalogue import UNIT_CODE_RE, Catalogue, default_catalogue
from .findings import ERROR, INFO, SEVERITY_VI, WARNING, FileResult, Finding
from .form import form_formulas
from .guards import display_name
from .layout import COLUMNS as FORM_COLUMNS
from .layout import FILE_PREFIX, HEADER, HEADER_VALUE_COL, SHEET_REPORT, SHEET_STAMP, FormLayout, a1
from .package import require_defusedxml
from .period import Period
from .reader import NAME_RE
from .rules import FATAL_READ, parse_a1

RESULT_SHEET = "Kết quả kiểm tra"
COMMENT_AUTHOR = "Kiểm tra ThiDua"
FILLS = {
    ERROR: PatternFill("solid", fgColor="FFC7CE"),
    WARNING: PatternFill("solid", fgColor="FFEB9C"),
}
HEAD_FILL = PatternFill("solid", fgColor="D9E2F3")
FONT = "Times New Roman"
COLUMNS = (("STT", 5), ("Mức độ", 9), ("Mã", 21), ("Trang tính", 10), ("Ô", 6), ("Chỉ tiêu", 8),
           ("Giá trị đã nhập", 18), ("Nội dung và cách sửa", 72))
#: The stamp row listing the cells an earlier package marked, with each cell's fill before the mark.
MARKS_KEY = "marks"
#: How our own words start in a cell comment: the findings (":func:`_mark_cells`") and the notes of :func:`neutralise`.
_OUR_LINE = re.compile(r"^(?:(?:Lỗi|Cảnh báo|Thông tin) [EWI]-[A-Z0-9-]+: |Công thức “.*đã được chuyển thành chữ trong "
                       r"tệp trả lại|Liên kết ra ngoài tệp “.*đã được gỡ bỏ trong tệp trả lại|Nội dung ô dài hơn "
                       r"32\.767 ký tự)")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_MAX_COMMENT = 2000
MAX_CELL_TEXT = 32767
#: Functions that reach outside the workbook or run something: a formula calling one never survives.
_UNSAFE_FUNCTIONS = frozenset({"CALL", "REGISTER", "REGISTER.ID", "EXEC", "RTD", "DDE", "HYPERLINK", "WEBSERVICE",
                               "FILTERXML", "INDIRECT", "IMAGE", "EXECUTE", "RUN"})
_STRING_LITERAL = re.compile(r'"(?:[^"]|"")*"')
_FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")


def _text(value: Any) -> str:
    """Text safe for a cell: NFC, no characters XML cannot hold, within Excel's 32767-character limit."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    s = ILLEGAL_CHARACTERS_RE.sub("�", unicodedata.normalize("NFC", str(value)))
    return s[:32000]


def _put(ws, row: int, col: int, value: Any, **style: Any):
    """Write ``value`` as text (or as a number for ints); a leading "=" stays text."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, int) and not isinstance(value, bool):
        cell.value = value
    else:
        cell.value = _text(value)
        cell.data_type = TYPE_STRING
    for key, v in style.items():
        setattr(cell, key, v)
    return cell


def safe_stem(name: str) -> str:
    """A file-name stem made from a unit's original file name: letters, digits, space and ``-_.()`` only."""
    stem = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).stem)
    stem = "".join(ch if ch.isalnum() or ch in " -_.()" else "_" for ch in stem)
    stem = re.sub(r"_+", "_", stem).strip(" ._")[:80].rstrip(" ._")
    if not stem or _RESERVED.match(stem):
        stem = f"tep_{stem}" if stem else "tep"
    return stem


def package_name(result: FileResult, catalogue: Catalogue, openable: bool) -> str:
    """The return package's file name (no folder): named after the file it marks, so that a re-run replaces its own
    earlier package and never another file's (two versions of one unit's report get two packages); starting with the
    form's own name ``ThiDua_<period>_<unit>`` where the file's name is not a form's name already."""
    suffix = ".xlsx"  # never .xlsm: a unit's macros are not carried back (module docstring)
    unit, period = result.unit, result.period
    if (openable and unit and UNIT_CODE_RE.match(unit) and catalogue.unit(unit) is not None and period
            and Period.try_parse(period) is not None and str(Period.parse(period)) == period):
        stem = safe_stem(result.path.name)
        if NAME_RE.match(stem):  # already named as a form is ("ThiDua_2024-09_VP (sửa)"): keep the unit's name
            return f"{stem}{suffix}"
        return f"{FILE_PREFIX}_{period}_{unit} - {stem}{suffix}"
    prefix = "" if openable else "KetQuaKiemTra_"
    return f"{prefix}{safe_stem(result.path.name)}{suffix}"


def _unique(out_dir: Path, name: str, taken: set[str], inputs: set[Path]) -> Path:
    stem, suffix = name[: -len(Path(name).suffix)], Path(name).suffix
    n = 1
    while True:
        candidate = out_dir / (name if n == 1 else f"{stem} ({n}){suffix}")
        key = candidate.name.casefold()
        if key not in taken and candidate.resolve() not in inputs:
            taken.add(key)
            return candidate
        n += 1


def _openable(result: FileResult) -> bool:
    sub = result.submission
    return sub is not None and not any(p.code in FATAL_READ for p in sub.problems)


def _needs_package(result: FileResult) -> bool:
    return any(f.severity in (ERROR, WARNING) for f in result.findings)


def _load(path: Path) -> openpyxl.Workbook | None:
    """The unit's workbook, or None when openpyxl cannot open it."""
    require_defusedxml()
    try:
        data = path.read_bytes()
        return openpyxl.load_workbook(io.BytesIO(data), keep_vba=False, rich_text=False, keep_links=False)
    except Exception:  # any failure means: send the findings sheet alone
        return None


def _sheet_by_name(wb: openpyxl.Workbook, name: str | None):
    if not name:
        return None
    want = unicodedata.normalize("NFC", name)
    for ws in wb.worksheets:
        if unicodedata.normalize("NFC", ws.title) == want:
            return ws
    return None


def _rgb(fill) -> str | None:
    """A solid fill's colour as six hex digits, or None (no fill, a pattern, a theme colour)."""
    try:
        if fill is None or fill.fill_type != "solid":
            return None
        rgb = fill.fgColor.rgb
        return rgb[-6:].upper() if isinstance(rgb, str) and len(rgb) >= 6 else None
    except AttributeError:
        return None


def _fill(rgb: str | None) -> PatternFill:
    return PatternFill("solid", fgColor=rgb) if rgb else PatternFill(fill_type=None)


_MARK_RGB = {_rgb(f) for f in FILLS.values()}


def _stamp_marks(wb: openpyxl.Workbook) -> tuple[object | None, int | None, list[dict]]:
    """The stamp sheet, the row of its marks list (None when absent) and the list."""
    ws = _sheet_by_name(wb, SHEET_STAMP)
    if ws is None:
        return None, None, []
    for cell in ws["A"]:
        if cell.value == MARKS_KEY:
            try:
                marks = json.loads(str(ws.cell(row=cell.row, column=2).value or "[]"))
            except ValueError:
                marks = []
            return ws, cell.row, [m for m in marks if isinstance(m, dict)] if isinstance(marks, list) else []
    return ws, None, []


def _strip_ours(text: str) -> str:
    """A comment's text without our lines (findings and notes of an earlier package)."""
    kept = [line for line in text.split("\n") if not _OUR_LINE.match(line.strip())]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def clear_marks(wb: openpyxl.Workbook, catalogue: Catalogue) -> int:
    """Remove every mark an earlier return package left, whatever program saved the file since: cells filled with one
    of our colours get their fill back (listed in the stamp or not), our lines
    removed from comments (recognised by their text, not by author: LibreOffice saves authors blank). A report-sheet
    cell gets the blank form's fill back (yellow for an input cell, even one whose fill a paste had removed); other
    cells the fill the stamp's list recorded before the mark. Returns how many cells were cleaned."""
    _ws, _row, marks = _stamp_marks(wb)
    listed: dict[tuple[str, str], str | None] = {}
    for m in marks:
        sheet, ref = unicodedata.normalize("NFC", str(m.get("s", ""))), str(m.get("c", ""))
        if parse_a1(ref):
            listed[(sheet, ref)] = m.get("f") if isinstance(m.get("f"), str) else None
    blank = _blank_fills(catalogue)
    cleaned = 0
    for ws in wb.worksheets:
        if ws.title == RESULT_SHEET:
            continue
        title = unicodedata.normalize("NFC", ws.title)
        for cell in _cells(ws):
            if isinstance(cell, MergedCell):
                continue
            touched = False
            key = (title, cell.coordinate)
            if _rgb(cell.fill) in _MARK_RGB:
                # the blank form's own fill first (an input cell is yellow again even if a paste had cleared it)
                original = blank[key] if key in blank else listed.get(key)
                cell.fill = _fill(original)
                touched = True
            if cell.comment is not None:
                text = _strip_ours(cell.comment.text or "")
                if text != (cell.comment.text or "").strip():
                    touched = True
                    if text:
                        comment = Comment(text, cell.comment.author or "")
                        comment.width, comment.height = cell.comment.width, cell.comment.height
                        cell.comment = comment
                    else:
                        cell.comment = None
            cleaned += touched
    return cleaned


@functools.lru_cache(maxsize=4)
def _blank_fill_map(catalogue: Catalogue) -> dict[tuple[str, str], str | None]:
    from .form import write_form  # the blank form, to restore a fill no list records

    unit = catalogue.units[0]
    with tempfile.TemporaryDirectory(prefix="thidua-blank-") as tmp:
        path = write_form(catalogue, unit, Period(catalogue.year, 1), Path(tmp) / "blank.xlsx")
        ws = openpyxl.load_workbook(path)[SHEET_REPORT]
        return {(SHEET_REPORT, c.coordinate): _rgb(c.fill) for c in _cells(ws) if not isinstance(c, MergedCell)}


def _blank_fills(catalogue: Catalogue) -> dict[tuple[str, str], str | None]:
    try:
        return _blank_fill_map(catalogue)
    except Exception:  # no blank form (a broken organisation date): unlisted cells lose the mark's fill only
        return {}


def _record_marks(wb: openpyxl.Workbook, marks: list[dict]) -> None:
    """Keep the list of cells this package marks in the stamp sheet (outside the checksummed fields)."""
    ws, row, _old = _stamp_marks(wb)
    if ws is None:
        return
    if row is None:
        row = max(ws.max_row, 1) + 1
        ws.cell(row=row, column=1).value = MARKS_KEY
    cell = ws.cell(row=row, column=2)
    cell.value = json.dumps(marks, ensure_ascii=False, separators=(",", ":"))
    cell.data_type = TYPE_STRING
    ws.sheet_state = "veryHidden"  # as the form wrote it (a LibreOffice save makes it "hidden")


def _mark_cells(wb: openpyxl.Workbook, findings: list[Finding]) -> list[dict]:
    """Fill each offending cell and attach the findings' messages as its comment; returns the marks made."""
    marks: list[dict] = []
    by_cell: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.severity in (ERROR, WARNING) and f.cell and parse_a1(f.cell):
            by_cell.setdefault((f.sheet or "", f.cell), []).append(f)
    for (sheet, ref), group in by_cell.items():
        ws = _sheet_by_name(wb, sheet)
        if ws is None:
            continue
        try:
            cell = ws[ref]
            if isinstance(cell, MergedCell):
                continue
            worst = ERROR if any(f.severity == ERROR for f in group) else WARNING
            marks.append({"s": ws.title, "c": cell.coordinate, "f": _rgb(cell.fill)})
            cell.fill = FILLS[worst]
            text = "\n\n".join(f"{SEVERITY_VI[f.severity]} {f.code}: {_text(f.message)}" for f in group)
            if cell.comment is not None:  # the form's own comment stays first
                text = f"{cell.comment.text}\n\n{text}"
            comment = Comment(text[:_MAX_COMMENT], COMMENT_AUTHOR)
            comment.width, comment.height = 420, 220
            cell.comment = comment
        except Exception:  # a cell that cannot be marked is still listed on the findings sheet
            continue
    return marks


# ----------------------------------------------------------------------------------------------------------------------
# Nothing in the package runs (see the module docstring)


def _cells(ws) -> list:
    """The cells a sheet really holds. ``iter_rows`` would create every cell of the rectangle up to the farthest one,
    and a unit's file can hold one cell at A1 and one at XFD1048576."""
    return list(ws._cells.values())


def _outside_strings(formula: str) -> str:
    return _STRING_LITERAL.sub('""', formula)


def _functions(formula: str) -> set[str]:
    return {name.upper().removeprefix("_XLFN.").removeprefix("_XLWS.")
            for name in _FUNCTION.findall(_outside_strings(formula))}


def unsafe_formula(formula: str | None) -> bool:
    """Whether a formula (of a cell, a defined name, a validation or a conditional format) reaches outside the
    workbook or runs something: a DDE call (``|``), an external workbook (``[``), or a function of that kind."""
    if not formula:
        return False
    bare = _outside_strings(str(formula))
    return "|" in bare or "[" in bare or bool(_functions(str(formula)) & _UNSAFE_FUNCTIONS)


def _formula_text(cell) -> str | None:
    """The formula in a cell (with its "="), or None."""
    value = cell.value
    if isinstance(value, ArrayFormula):
        return value.text if str(value.text or "").startswith("=") else f"={value.text or ''}"
    if isinstance(value, DataTableFormula):
        return f"=TABLE({value.r1 or ''},{value.r2 or ''})"
    if cell.data_type == TYPE_FORMULA and isinstance(value, str):
        return value
    return None


class _FormFormulas:
    """The form's own formulas and the functions they use (per catalogue)."""

    def __init__(self, catalogue: Catalogue):
        self.by_cell = form_formulas(catalogue)
        self.functions = set().union(*(_functions(f) for f in self.by_cell.values()))

    def keeps(self, sheet: str, ref: str, formula: str) -> bool:
        own = self.by_cell.get(ref) if unicodedata.normalize("NFC", sheet) == SHEET_REPORT else None
        if own is None:
            return False
        if formula == own:
            return True
        bare = _outside_strings(formula)
        return not any(ch in bare for ch in "|[!") and _functions(formula) <= self.functions


def _note(cell, text: str) -> None:
    """Add ``text`` to the cell's comment (ours; the unit's own comment stays first)."""
    old = cell.comment.text if cell.comment is not None else ""
    comment = Comment(f"{old}\n\n{text}" if old else text, COMMENT_AUTHOR)
    comment.width, comment.height = 420, 220
    cell.comment = comment


def _shown(formula: str, limit: int = 200) -> str:
    return formula if len(formula) <= limit else formula[: limit - 1] + "…"


def neutralise(wb: openpyxl.Workbook, catalogue: Catalogue) -> int:
    """Apply the module's policy to a unit's workbook in place; returns how many things were changed."""
    own = _FormFormulas(catalogue)
    changed = 0
    for ws in wb.worksheets:
        for cell in _cells(ws):
            if isinstance(cell, MergedCell):
                continue
            formula = _formula_text(cell)
            if formula is not None and not own.keeps(ws.title, cell.coordinate, formula):
                cell.value = _text(formula)[:MAX_CELL_TEXT]
                cell.data_type = TYPE_STRING
                _note(cell, f"Công thức “{_shown(formula)}” đã được chuyển thành chữ trong tệp trả lại (biểu chỉ giữ "
                            "công thức của chính biểu mẫu). Đề nghị xóa và gõ trực tiếp giá trị.")
                changed += 1
            elif isinstance(cell.value, str) and len(cell.value) > MAX_CELL_TEXT:
                cell.value = cell.value[:MAX_CELL_TEXT]
                cell.data_type = TYPE_STRING
                _note(cell, "Nội dung ô dài hơn 32.767 ký tự (giới hạn của Excel) nên đã được cắt bớt trong tệp trả "
                            "lại.")
                changed += 1
            link = cell.hyperlink
            if link is not None and (link.target or link.id or unsafe_formula(link.location)):
                cell.hyperlink = None
                _note(cell, f"Liên kết ra ngoài tệp “{_shown(str(link.target or link.location or ''))}” đã được gỡ "
                            "bỏ trong tệp trả lại.")
                changed += 1
        for name in [n for n, d in ws.defined_names.items() if unsafe_formula(d.attr_text)]:
            del ws.defined_names[name]
            changed += 1
        validations = ws.data_validations.dataValidation
        keep = [dv for dv in validations if not (unsafe_formula(dv.formula1) or unsafe_formula(dv.formula2))]
        changed += len(validations) - len(keep)
        ws.data_validations.dataValidation = keep
        for cf in list(ws.conditional_formatting):
            rules = [r for r in cf.rules if not any(unsafe_formula(f) for f in (r.formula or ()))]
            if len(rules) != len(cf.rules):
                changed += len(cf.rules) - len(rules)
                cf.rules[:] = rules
                if not rules:
                    del ws.conditional_formatting[str(cf.sqref)]
    for name in [n for n, d in wb.defined_names.items() if unsafe_formula(d.attr_text)]:
        del wb.defined_names[name]
        changed += 1
    return changed


def _link(sheet: str, ref: str) -> str:
    return "'" + sheet.replace("'", "''") + "'!" + ref


def _lines(text: str, width: float) -> int:
    return sum(max(1, -(-len(part) // max(1, int(width * 1.1)))) for part in str(text).split("\n"))


def _findings_sheet(wb: openpyxl.Workbook, result: FileResult, catalogue: Catalogue, sheets: dict[str, str],
                    findings: list[Finding] | None = None) -> None:
    """The sheet listing every finding; ``sheets`` maps NFC sheet names to the workbook's own titles (for links).
    Rows are as high as their wrapped text, so the sheet reads and prints whole (A4 landscape, one page wide)."""
    findings = result.findings if findings is None else findings
    if RESULT_SHEET in wb.sheetnames:
        del wb[RESULT_SHEET]
    ws = wb.create_sheet(RESULT_SHEET)
    bold = Font(name=FONT, bold=True, size=12)
    plain = Font(name=FONT, size=12)
    wrap = Alignment(wrap_text=True, vertical="top")
    errors, warnings = len(result.errors), len(result.warnings)
    unit = catalogue.unit(result.unit) if result.unit else None
    period = Period.try_parse(result.period) if result.period else None
    _put(ws, 1, 1, "KẾT QUẢ KIỂM TRA BIỂU BÁO CÁO THI ĐUA", font=Font(name=FONT, bold=True, size=14))
    info = [
        ("Tệp đã nhận:", display_name(result.path.name)),
        ("Đơn vị:", f"{unit.name} ({unit.code})" if unit else (result.unit or "không xác định")),
        ("Kỳ báo cáo:", period.label if period else "không xác định"),
        ("Kiểm tra lúc:", dt.datetime.now().strftime("%H:%M ngày %d/%m/%Y")),
        ("Kết quả:", f"{errors} lỗi, {warnings} cảnh báo"
                     + (" — biểu chưa được tổng hợp, đề nghị sửa và gửi lại." if errors else
                        " — biểu đã được tổng hợp; đề nghị lưu ý các cảnh báo.")),
    ]
    for i, (label, value) in enumerate(info, start=2):
        _put(ws, i, 1, label, font=bold)
        _put(ws, i, 3, value, font=plain)
    how = ("Cách sửa: các ô có lỗi trên trang “Báo cáo” đã được tô màu (đỏ: lỗi, vàng: cảnh báo); di chuột vào ô để "
           "xem nội dung, hoặc bấm vào địa chỉ ô trong bảng dưới đây để đến ô đó. Sửa xong, lưu tệp và gửi lại tệp này "
           "về Văn phòng Sở (không cần xóa trang này, giữ nguyên tên tệp).")
    if not sheets:
        how = ("Không mở được tệp đã nhận nên không đánh dấu được ô nào: đề nghị đọc nội dung dưới đây, điền vào "
               "đúng biểu mẫu đã được gửi và gửi lại.")
    _put(ws, 8, 1, how, font=plain, alignment=wrap)
    ws.merge_cells(start_row=8, start_column=1, end_row=8, end_column=len(COLUMNS))
    ws.row_dimensions[8].height = 16 * _lines(how, sum(w for _t, w in COLUMNS)) + 6
    for r in range(2, 7):
        ws.merge_cells(start_row=r, start_column=3, end_row=r, end_column=len(COLUMNS))
    head = 10
    for col, (title, width) in enumerate(COLUMNS, start=1):
        _put(ws, head, col, title, font=bold, fill=HEAD_FILL, alignment=Alignment(wrap_text=True, vertical="center"))
        ws.column_dimensions[openpyxl.utils.get_column_letter(col)].width = width
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    rows = sorted(findings, key=lambda f: order.get(f.severity, 3))
    for n, f in enumerate(rows, start=1):
        r = head + n
        _put(ws, r, 1, n, font=plain, alignment=wrap)
        _put(ws, r, 2, SEVERITY_VI.get(f.severity, f.severity), font=plain, alignment=wrap)
        _put(ws, r, 3, f.code, font=plain, alignment=wrap)
        _put(ws, r, 4, f.sheet or "", font=plain, alignment=wrap)
        cell = _put(ws, r, 5, f.cell or "", font=plain, alignment=wrap)
        if f.cell and f.sheet and f.sheet in sheets and parse_a1(f.cell):
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=_link(sheets[f.sheet], f.cell),
                                       tooltip=f"Đến ô {f.cell}")
            cell.font = Font(name=FONT, size=12, color="0563C1", underline="single")
        _put(ws, r, 6, f.indicator or "", font=plain, alignment=wrap)
        _put(ws, r, 7, "" if f.value is None else f.value if isinstance(f.value, int) else _text(f.value)[:500],
             font=plain, alignment=wrap)
        _put(ws, r, 8, f.message, font=plain, alignment=wrap)
        if f.severity in FILLS:
            ws.cell(row=r, column=2).fill = FILLS[f.severity]
        shown_value = "" if f.value is None else str(f.value)[:500]
        ws.row_dimensions[r].height = 16 * max(_lines(f.message, COLUMNS[7][1]), _lines(shown_value, COLUMNS[6][1]),
                                               _lines(f.code, COLUMNS[2][1])) + 4
    ws.freeze_panes = ws.cell(row=head + 1, column=1)
    ws.print_title_rows = f"{head}:{head}"
    ws.page_margins.left, ws.page_margins.right, ws.page_margins.top, ws.page_margins.bottom = 0.5, 0.4, 0.6, 0.6
    ws.oddFooter.center.text = "Trang &P/&N"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    # Show this sheet first when the unit opens the file (one selected tab only: never group sheets).
    for other in wb.worksheets:
        other.sheet_view.tabSelected = False
    wb.active = wb.worksheets.index(ws)
    ws.sheet_view.tabSelected = True


def write_return_package(result: FileResult, out_dir: Path | str, catalogue: Catalogue | None = None,
                         taken: set[str] | None = None, inputs: set[Path] | None = None) -> Path | None:
    """Write the return package of one file into ``out_dir``; None when the file needs none (no error or warning,
    or an Excel owner file).

    The package is the unit's own workbook with every mark of an earlier package removed (:func:`clear_marks`) and
    the current findings marked. A .xls or .ods file, which openpyxl cannot open, comes back as a fresh .xlsx form
    of its unit and period carrying the values the reader found, marked the same way."""
    cat = catalogue or default_catalogue()
    if not _needs_package(result):
        return None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken = set() if taken is None else taken
    inputs = {result.path.resolve()} | (inputs or set())
    findings = result.findings
    wb = None
    if _openable(result):
        if _converted(result):
            rebuilt = _rebuild(result, cat)
            if rebuilt is not None:
                wb, findings = rebuilt
        else:
            wb = _load(result.path)
    target = _unique(out_dir, package_name(result, cat, wb is not None), taken, inputs)
    if wb is None:
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        sheets: dict[str, str] = {}
    else:
        sheets = {unicodedata.normalize("NFC", ws.title): ws.title for ws in wb.worksheets if ws.title != RESULT_SHEET}
        clear_marks(wb, cat)
        _record_marks(wb, _mark_cells(wb, findings))
        neutralise(wb, cat)
    _findings_sheet(wb, result, cat, sheets, findings)
    with atomic_path(target) as tmp:
        wb.save(tmp)
    return target


# ----------------------------------------------------------------------------------------------------------------------
# A .xls or .ods file: a fresh form carrying the unit's values


def _converted(result: FileResult) -> bool:
    sub = result.submission
    return sub is not None and any(p.code == "converted" for p in sub.problems)


def _rebuild(result: FileResult, cat: Catalogue) -> tuple[openpyxl.Workbook, list[Finding]] | None:
    """The unit's form (from its stamp) with the values read from its file, and the findings moved to the cells of
    that form; None when the unit or period is not known."""
    from .form import write_form

    sub = result.submission
    unit = cat.unit(sub.unit_code) if sub.stamp_ok and sub.unit_code else None
    period = Period.try_parse(sub.period) if sub.stamp_ok and sub.period else None
    if unit is None or period is None:
        return None
    with tempfile.TemporaryDirectory(prefix="thidua-pkg-") as tmp:
        wb = openpyxl.load_workbook(write_form(cat, unit, period, Path(tmp) / "form.xlsx"))
    ws = wb[SHEET_REPORT]
    rows = FormLayout.for_catalogue(cat).rows
    moved: dict[str, str] = {}

    def put(found, ref: str) -> None:
        if found is None:
            return
        moved[found.cell] = ref
        value = found.value if found.value is not None and found.issue is None else (found.raw or None)
        if value is None:
            return
        cell = ws[ref]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            cell.value = value
        elif isinstance(value, dt.date):
            cell.value = value
        else:
            cell.value = _text(value)
            cell.data_type = TYPE_STRING

    for key in ("preparer", "prepared_on"):
        put(sub.header.get(key), a1(HEADER[key][0], HEADER_VALUE_COL))
    for number, entry in sub.targets.items():
        r = rows.get(f"T{number}")
        if r is not None:
            put(entry.assessment, a1(r, FORM_COLUMNS["assessment"][0]))
            put(entry.explanation, a1(r, FORM_COLUMNS["note"][0]))
    for code, entry in sub.indicators.items():
        r = rows.get(code)
        if r is None:
            continue
        for key in ("month", "ytd", "note"):
            put(entry.column(key), a1(r, FORM_COLUMNS[key][0]))
    sheet = sub.sheet
    findings = [dataclasses.replace(f, sheet=SHEET_REPORT, cell=moved.get(f.cell, f.cell))
                if f.sheet == sheet and f.cell else f for f in result.findings]
    return wb, findings


def write_return_packages(results: Iterable[FileResult], out_dir: Path | str,
                          catalogue: Catalogue | None = None) -> dict[Path, Path]:
    """A return package for each file with errors or warnings: source path -> package written."""
    results = list(results)
    inputs = {r.path.resolve() for r in results}
    taken: set[str] = set()
    written: dict[Path, Path] = {}
    for r in results:
        path = write_return_package(r, out_dir, catalogue, taken, inputs)
        if path is not None:
            written[r.path] = path
    return written


__all__ = ["RESULT_SHEET", "clear_marks", "neutralise", "package_name", "safe_stem", "unsafe_formula",
           "write_return_package",
           "write_return_packages"]
