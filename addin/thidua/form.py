"""Generate each unit's input workbook (the monthly form) with XlsxWriter.

Every input cell is unlocked and carries data validation; every other cell is locked and the sheets are protected
(no password). Live checks (formulas and conditional formatting) tell the unit, without any Python on its PC, which
required cells are empty and whether each target's figures reach 100%. A very hidden sheet holds the stamp.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter

from .atomic import atomic_path
from .catalogue import Catalogue, Indicator, Target, Unit, whole_column
from .errors import ThiDuaError
from .layout import (
    COLUMNS,
    HEADER,
    HEADER_LABEL_COL,
    HEADER_VALUE_COL,
    SHEET_GUIDE,
    SHEET_REPORT,
    SHEET_STAMP,
    STATUS_ROW,
    TABLE_HEADER_ROW,
    FormLayout,
    a1,
    col_letter,
    file_name,
    make_stamp,
)
from .period import Period

NOTE_MAX = 2000
PREPARER_MAX = 100
WIDTHS = {"code": 6, "name": 58, "unit": 10, "month": 13, "ytd": 13, "assessment": 13, "note": 42, "check": 26}
MSG_MISSING = "Chưa nhập"
GOOD_PREFIXES = ("Đạt", "Hợp lệ", "Không phát sinh", "Tỷ lệ", "Biểu đã")
BAD_PREFIXES = ("Chưa nhập", "Sai:", "Cần", "Còn", "Có ")


def _c(key: str) -> int:
    return COLUMNS[key][0]


def _ref(key: str, row: int) -> str:
    return a1(row, _c(key))


@dataclass
class _Formats:
    title: object
    subtitle: object
    label: object
    value: object
    head: object
    target_code: object
    target_name: object
    code: object
    name: object
    text: object
    grey: object
    check: object
    input_int: object
    input_text: object
    input_date: object
    input_list: object
    bad: object
    warn: object
    good: object
    missing: object
    guide_title: object
    guide: object


def _formats(wb: xlsxwriter.Workbook) -> _Formats:
    base = {"font_name": "Times New Roman", "font_size": 12, "valign": "vcenter"}
    cell = {**base, "border": 1, "text_wrap": True}
    inp = {**cell, "locked": False, "bg_color": "#FFFDE7"}

    def f(**kw: object) -> object:
        return wb.add_format(kw)

    def fb(**kw: object) -> object:
        return wb.add_format({**base, **kw})

    return _Formats(
        title=fb(bold=True, font_size=14, align="center"),
        subtitle=f(**base, italic=True, align="center"),
        label=f(**base, bold=True, align="right"),
        value=f(**base),
        head=f(**cell, bold=True, align="center", bg_color="#D9E2F3"),
        target_code=f(**cell, bold=True, align="center", bg_color="#EDEDED"),
        target_name=f(**cell, bold=True, bg_color="#EDEDED"),
        code=f(**cell, align="center"),
        name=f(**cell),
        text=f(**cell, align="center"),
        grey=f(**cell, bg_color="#BFBFBF"),
        check=f(**{**cell, "font_size": 11}, italic=True),
        input_int=f(**inp, num_format="0", align="right"),
        input_text=f(**inp),
        input_date=f(**inp, num_format="dd/mm/yyyy", align="center"),
        input_list=f(**inp, align="center"),
        bad={"bg_color": "#F8CBAD", "font_color": "#9C0006"},
        warn={"bg_color": "#FFE699", "font_color": "#7F6000"},
        good={"bg_color": "#C6EFCE", "font_color": "#006100"},
        missing={"bg_color": "#FFF2CC", "border": 2, "border_color": "#C00000"},
        guide_title=f(font_name="Times New Roman", font_size=14, bold=True),
        guide=f(font_name="Times New Roman", font_size=12, text_wrap=True, valign="top"),
    )


# ----------------------------------------------------------------------------------------------------------------------
# Data validation: Vietnamese input and error messages (Excel limits: title 32, message 255 characters)


def _dv_count() -> dict:
    return {
        "validate": "integer",
        "criteria": ">=",
        "value": 0,
        "input_title": "Nhập số nguyên ≥ 0",
        "input_message": "Nhập một số nguyên không âm, ví dụ 12. Không gõ chữ, dấu chấm, dấu phẩy hay dấu %.",
        "error_title": "Giá trị không hợp lệ",
        "error_message": "Ô này chỉ nhận số nguyên từ 0 trở lên (ví dụ 12).",
    }


def _dv_list(values: Iterable[str], what: str) -> dict:
    values = list(values)
    shown = ", ".join(values)
    return {
        "validate": "list",
        "source": values,
        "input_title": f"Chọn {what}"[:32],
        "input_message": f"Chọn một giá trị trong danh sách: {shown}.",
        "error_title": "Giá trị không có trong danh sách",
        "error_message": f"Chỉ được chọn: {shown}.",
    }


def _dv_date(first: dt.date, last: dt.date) -> dict:
    return {
        "validate": "date",
        "criteria": "between",
        "minimum": first,
        "maximum": last,
        "input_title": "Nhập ngày",
        "input_message": f"Nhập ngày dạng ngày/tháng/năm, từ {first:%d/%m/%Y} đến {last:%d/%m/%Y}.",
        "error_title": "Ngày không hợp lệ",
        "error_message": f"Ngày phải nằm trong khoảng {first:%d/%m/%Y} – {last:%d/%m/%Y}, dạng ngày/tháng/năm.",
    }


def _dv_text(maximum: int, title: str = "Nhập nội dung", minimum: int = 0) -> dict:
    return {
        "validate": "length",
        "criteria": "between",
        "minimum": minimum,
        "maximum": maximum,
        "input_title": title[:32],
        "input_message": f"Nhập nội dung ngắn gọn, tối đa {maximum} ký tự.",
        "error_title": "Nội dung quá dài",
        "error_message": f"Nội dung không được dài quá {maximum} ký tự.",
    }


# ----------------------------------------------------------------------------------------------------------------------
# Live checks: one formula per row, Excel and LibreOffice compatible


def _period_cols(ind: Indicator) -> list[str]:
    return [p for p in ("month", "ytd") if p in ind.periods]


def _nested_if(conditions: list[tuple[str, str]], final: str) -> str:
    expr = final
    for cond, message in reversed(conditions):
        expr = f'IF({cond},"{message}",{expr})'
    return expr


def _indicator_check(ind: Indicator, cat: Catalogue, rows: dict[str, int]) -> str:
    r = rows[ind.code]
    cols = _period_cols(ind)
    conds: list[tuple[str, str]] = []
    if ind.required:
        empty = ",".join(_ref(c, r) + '=""' for c in cols)
        conds.append((f"OR({empty})", MSG_MISSING))
    if ind.kind == "count":
        # Text pasted over the data validation ("1.234", "12 ") or a fraction: LibreOffice would even compute with it.
        for c in cols:
            mine = _ref(c, r)
            conds.append((f'AND({mine}<>"",OR(NOT(ISNUMBER({mine})),{mine}<0,{mine}<>INT({mine})))',
                          "Sai: phải là số nguyên ≥ 0"))
    whole_code = ind.whole
    if whole_code:
        whole = cat.indicator(whole_code)
        for c in cols:
            wcol = whole_column(ind, c, whole)
            if wcol is None:
                continue
            mine, theirs = _ref(c, r), _ref(wcol, rows[whole_code])
            conds.append((f"AND(ISNUMBER({mine}),ISNUMBER({theirs}),{mine}>{theirs})", f"Sai: lớn hơn {whole_code}"))
    if cols == ["month", "ytd"] and ind.kind == "count":
        d, e = _ref("month", r), _ref("ytd", r)
        conds.append((f"AND(ISNUMBER({d}),ISNUMBER({e}),{d}>{e})", "Sai: số tháng lớn hơn lũy kế"))
    if "sum_of" in ind.rules:
        c = cols[0]
        parts = [_ref(whole_column(ind, c, cat.indicator(p)) or c, rows[p]) for p in ind.rules["sum_of"]]
        mine = _ref(c, r)
        conds.append(
            (
                f"AND(ISNUMBER({mine}),{mine}<>SUM({','.join(parts)}))",
                "Sai: khác tổng " + " + ".join(ind.rules["sum_of"]),
            )
        )
    final = '"Hợp lệ"'
    target = ind.target
    c = cols[0]
    mine = _ref(c, r)
    if "numerator_of" in ind.rules:
        whole = cat.indicator(ind.rules["numerator_of"])
        den = _ref(whole_column(ind, c, whole) or whole.periods[0], rows[whole.code])
        ratio = f"ROUND({mine}/{den}*100,1)"
        if target == "100%":
            final = f'IF({den}=0,"Không phát sinh",IF({mine}={den},"Đạt 100%","Chưa đạt ("&{ratio}&"%)"))'
        else:
            final = f'IF({den}=0,"Không phát sinh","Tỷ lệ "&{ratio}&"%")'
    elif target == 0:
        final = f'IF({mine}=0,"Đạt","Chưa đạt (phải bằng 0)")'
    elif target in ("Có", "Không"):
        final = f'IF({mine}="{target}","Đạt","Chưa đạt (phải là {target})")'
    return "=" + _nested_if(conds, final)


def _target_check(target: Target, rows: dict[str, int], has_target_rules: bool) -> str:
    r = rows[f"T{target.number}"]
    first = rows[target.indicators[0].code]
    last = rows[target.indicators[-1].code]
    rng = f"{_ref('check', first)}:{_ref('check', last)}"
    f_cell, g_cell = _ref("assessment", r), _ref("note", r)
    missing = f'COUNTIF({rng},"{MSG_MISSING}")'
    wrong = f'COUNTIF({rng},"Sai:*")'
    short = f'COUNTIF({rng},"Chưa đạt*")'
    conds = [
        (f"{missing}>0", "Còn chỉ tiêu chưa nhập"),
        (f"{wrong}>0", "Cần sửa số liệu chưa hợp lý"),
        (f'{f_cell}=""', "Cần tự đánh giá Đạt/Không đạt"),
        (f'AND({f_cell}="Đạt",{short}>0)', "Cần xem lại: tự đánh giá Đạt nhưng số liệu chưa đạt"),
        (f'AND({f_cell}="{target.explain_if}",LEN(TRIM({g_cell}))=0)', "Cần giải trình lý do không đạt"),
        (f"{short}>0", "Chưa đạt mục tiêu"),
    ]
    final = '"Đạt mục tiêu 100%"' if has_target_rules else '"Đủ số liệu"'
    return "=" + _nested_if(conds, final)


def _status_formula(layout: FormLayout) -> str:
    first, last = min(layout.rows.values()), layout.last_row
    rng = f"{_ref('check', first)}:{_ref('check', last)}"
    preparer = a1(HEADER["preparer"][0], HEADER_VALUE_COL)
    # Counting the row messages tells the unit how much is left, which a plain nested IF would not.
    return (
        f'=IF({preparer}="","Còn thiếu: người lập biểu",'
        f'IF(COUNTIF({rng},"{MSG_MISSING}")>0,"Còn "&COUNTIF({rng},"{MSG_MISSING}")&" chỉ tiêu chưa nhập",'
        f'IF(COUNTIF({rng},"Sai:*")>0,"Có "&COUNTIF({rng},"Sai:*")&" số liệu chưa hợp lý",'
        f'IF(COUNTIF({rng},"Cần*")>0,"Có "&COUNTIF({rng},"Cần*")&" nội dung cần tự đánh giá hoặc giải trình",'
        '"Biểu đã đủ số liệu, có thể gửi"))))'
    )


# ----------------------------------------------------------------------------------------------------------------------


def _row_height(text: str, width: int) -> float:
    lines = max(1, math.ceil(len(text) / max(1.0, width * 0.95)))
    return 17 * lines + 3


def write_form(catalogue: Catalogue, unit: Unit, period: Period, path: Path) -> Path:
    """Write one unit's form for ``period`` to ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        _write_form(catalogue, unit, period, tmp)
    return path


def _write_form(cat: Catalogue, unit: Unit, period: Period, path: Path) -> None:
    layout = FormLayout.for_catalogue(cat)
    rows = layout.rows
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": f"Biểu báo cáo thi đua {period.label} — {unit.name}", "author": "ThiDua 2024"})
    fm = _formats(wb)
    ws = wb.add_worksheet(SHEET_REPORT)
    guide = wb.add_worksheet(SHEET_GUIDE)
    stamp_ws = wb.add_worksheet(SHEET_STAMP)

    for key, (col, _title) in COLUMNS.items():
        ws.set_column(col, col, WIDTHS[key])

    # Title and header block
    last_col = max(c for c, _ in COLUMNS.values())
    org = cat.organisation(period.first_day)
    ws.merge_range(0, 0, 0, last_col, f"BÁO CÁO KẾT QUẢ THỰC HIỆN PHONG TRÀO THI ĐUA NĂM {cat.year}", fm.title)
    ws.merge_range(1, 0, 1, last_col, f"{org.issuing_body_name} {org.place} — {period.label}", fm.subtitle)
    ws.set_row(0, 24)
    header_values = {
        "unit_code": unit.code,
        "unit_name": unit.name,
        "period": f"{period.month:02d}/{period.year}",
    }
    for key, (row, label) in HEADER.items():
        ws.write_string(row, HEADER_LABEL_COL, f"{label}:", fm.label)
        if key in header_values:
            ws.merge_range(row, HEADER_VALUE_COL, row, HEADER_VALUE_COL + 3, header_values[key], fm.value)
    prep_r = HEADER["preparer"][0]
    date_r = HEADER["prepared_on"][0]
    ws.write_blank(prep_r, HEADER_VALUE_COL, None, fm.input_text)
    ws.data_validation(prep_r, HEADER_VALUE_COL, prep_r, HEADER_VALUE_COL, _dv_text(PREPARER_MAX, "Họ tên người lập"))
    ws.write_blank(date_r, HEADER_VALUE_COL, None, fm.input_date)
    ws.data_validation(
        date_r,
        HEADER_VALUE_COL,
        date_r,
        HEADER_VALUE_COL,
        _dv_date(period.first_day, period.last_day + dt.timedelta(days=60)),
    )
    ws.write_string(STATUS_ROW, HEADER_LABEL_COL, "Tình trạng biểu (tự động):", fm.label)
    ws.merge_range(STATUS_ROW, HEADER_VALUE_COL, STATUS_ROW, last_col, "", fm.check)
    ws.write_formula(STATUS_ROW, HEADER_VALUE_COL, _status_formula(layout), fm.check, "Còn thiếu: người lập biểu")

    # Table
    for col, title in COLUMNS.values():
        ws.write_string(TABLE_HEADER_ROW, col, title, fm.head)
    ws.set_row(TABLE_HEADER_ROW, 34)

    required_cells: list[str] = []
    check_first, check_last = min(rows.values()), layout.last_row
    for target in cat.targets:
        r = rows[f"T{target.number}"]
        has_rules = any(i.target is not None for i in target.indicators)
        ws.write_string(r, _c("code"), str(target.number), fm.target_code)
        ws.write_string(r, _c("name"), f"{target.number}. {target.title}", fm.target_name)
        ws.write_comment(r, _c("name"), target.text, {"x_scale": 4, "y_scale": 4})
        for key in ("unit", "month", "ytd"):
            ws.write_blank(r, _c(key), None, fm.grey)
        ws.write_blank(r, _c("assessment"), None, fm.input_list)
        ws.data_validation(r, _c("assessment"), r, _c("assessment"), _dv_list(cat.assessment_choices, "tự đánh giá"))
        ws.write_blank(r, _c("note"), None, fm.input_text)
        ws.data_validation(r, _c("note"), r, _c("note"), _dv_text(NOTE_MAX, "Giải trình / minh chứng"))
        blank = (
            "Còn chỉ tiêu chưa nhập" if any(i.required for i in target.indicators) else "Cần tự đánh giá Đạt/Không đạt"
        )
        ws.write_formula(r, _c("check"), _target_check(target, rows, has_rules), fm.check, blank)
        required_cells.append(_ref("assessment", r))
        ws.set_row(r, max(_row_height(target.title, WIDTHS["name"]), 33))
        for ind in target.indicators:
            _write_indicator_row(ws, fm, cat, ind, rows, period, required_cells)

    # Colour the check messages by their first words; the first matching rule wins, so "Chưa đạt" comes first.
    check_range = f"{_ref('check', check_first)}:{_ref('check', check_last)}"
    status_cell = a1(STATUS_ROW, HEADER_VALUE_COL)
    colours = [(("Chưa đạt",), fm.warn), (BAD_PREFIXES, fm.bad), (GOOD_PREFIXES, fm.good)]
    for prefixes, props in colours:
        fmt = wb.add_format(props)
        for prefix in prefixes:
            for cell_range in (check_range, status_cell):
                ws.conditional_format(
                    cell_range, {"type": "text", "criteria": "begins with", "value": prefix, "format": fmt}
                )
    required_cells.append(a1(prep_r, HEADER_VALUE_COL))
    ws.conditional_format(
        required_cells[0],
        {"type": "blanks", "multi_range": " ".join(required_cells), "format": wb.add_format(fm.missing)},
    )

    # Page setup: A4 landscape, header rows repeated, fit to one page wide
    ws.set_paper(9)
    ws.set_landscape()
    ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.6)
    ws.repeat_rows(TABLE_HEADER_ROW)
    ws.fit_to_pages(1, 0)
    ws.print_area(0, 0, layout.last_row, last_col)
    ws.set_footer("&CTrang &P/&N")
    ws.freeze_panes(TABLE_HEADER_ROW + 1, _c("unit"))
    ws.protect("", {"format_columns": True, "format_rows": True})
    ws.activate()
    ws.set_first_sheet()

    _write_guide(guide, fm, cat, unit, period)
    _write_stamp(stamp_ws, cat, unit, period)
    wb.close()


def _write_indicator_row(
    ws, fm: _Formats, cat: Catalogue, ind: Indicator, rows: dict[str, int], period: Period, required_cells: list[str]
) -> None:
    r = rows[ind.code]
    ws.write_string(r, _c("code"), ind.code, fm.code)
    ws.write_string(r, _c("name"), ind.name, fm.name)
    ws.write_string(r, _c("unit"), ind.unit, fm.text)
    ws.set_row(r, _row_height(ind.name, WIDTHS["name"]))
    for col_key in ("month", "ytd"):
        c = _c(col_key)
        if col_key not in ind.periods:
            ws.write_blank(r, c, None, fm.grey)
            continue
        if ind.kind == "count":
            ws.write_blank(r, c, None, fm.input_int)
            ws.data_validation(r, c, r, c, _dv_count())
        elif ind.kind == "yesno":
            ws.write_blank(r, c, None, fm.input_list)
            ws.data_validation(r, c, r, c, _dv_list(cat.yesno_choices, "Có hoặc Không"))
        elif ind.kind == "choice":
            ws.write_blank(r, c, None, fm.input_list)
            ws.data_validation(r, c, r, c, _dv_list(ind.choices, "trong danh sách"))
        elif ind.kind == "date":
            first = period.first_day if ind.rules.get("date_within") == "period" else dt.date(period.year, 1, 1)
            ws.write_blank(r, c, None, fm.input_date)
            ws.data_validation(r, c, r, c, _dv_date(first, period.last_day))
        else:
            ws.write_blank(r, c, None, fm.input_text)
            ws.data_validation(r, c, r, c, _dv_text(int(ind.rules.get("max_length", NOTE_MAX))))
        if ind.required:
            required_cells.append(a1(r, c))
    ws.write_blank(r, _c("assessment"), None, fm.grey)
    ws.write_blank(r, _c("note"), None, fm.input_text)
    ws.data_validation(r, _c("note"), r, _c("note"), _dv_text(NOTE_MAX, "Ghi chú / minh chứng"))
    # Cached results for the blank form, so that a reader that does not recalculate shows the right message.
    blank = MSG_MISSING if ind.required else "Hợp lệ"
    ws.write_formula(r, _c("check"), _indicator_check(ind, cat, rows), fm.check, blank)


GUIDE_LINES = (
    "1. Chỉ nhập vào các ô nền vàng nhạt; các ô khác đã được khóa để giữ nguyên cấu trúc biểu.",
    "2. Ghi họ tên người lập biểu và ngày lập biểu ở phần đầu trang “Báo cáo”.",
    "3. Cột “Tháng báo cáo”: số liệu phát sinh trong tháng; cột “Lũy kế từ đầu năm”: cộng dồn từ tháng 01 đến hết "
    "tháng báo cáo (lũy kế không được nhỏ hơn số đã báo cáo tháng trước). Ô nền xám là ô không cần nhập.",
    "4. Số liệu nhập bằng số nguyên, không gõ dấu chấm, dấu phẩy, dấu % hay chữ. Ô Có/Không và Đạt/Không đạt chọn "
    "trong danh sách. Ngày nhập dạng ngày/tháng/năm.",
    "5. Mỗi nội dung thi đua (dòng in đậm) phải tự đánh giá Đạt hoặc Không đạt; nếu Không đạt phải ghi rõ lý do ở cột "
    "“Giải trình / minh chứng / ghi chú”. Di chuột vào tên nội dung để xem toàn văn nội dung thi đua trong Kế hoạch.",
    "6. Cột “Kiểm tra tự động” và dòng “Tình trạng biểu” cho biết ngay ô nào còn thiếu, số liệu nào chưa hợp lý và "
    "nội dung nào chưa đạt 100%. Khi dòng “Tình trạng biểu” báo “Biểu đã đủ số liệu, có thể gửi” thì gửi tệp về "
    "Văn phòng Sở.",
    "7. Không đổi tên tệp, không đổi tên trang tính, không chèn hoặc xóa dòng, cột; không sao chép biểu của kỳ khác. "
    "Mỗi tệp dùng cho đúng một đơn vị và một kỳ báo cáo.",
)


def _write_guide(ws, fm: _Formats, cat: Catalogue, unit: Unit, period: Period) -> None:
    org = cat.organisation(period.first_day)
    ws.set_column(0, 0, 120)
    ws.write_string(0, 0, f"HƯỚNG DẪN ĐIỀN BIỂU BÁO CÁO THI ĐUA — {period.label.upper()}", fm.guide_title)
    ws.write_string(1, 0, f"Đơn vị: {unit.name} ({unit.code})", fm.guide)
    deadline = org.deadline(period.year, period.month)
    ws.write_string(2, 0, f"Hạn gửi biểu về Văn phòng Sở: ngày {deadline:%d/%m/%Y}.", fm.guide)
    for i, line in enumerate(GUIDE_LINES, start=4):
        ws.write_string(i, 0, line, fm.guide)
        ws.set_row(i, _row_height(line, 120))
    ws.set_paper(9)
    ws.protect("")


def _write_stamp(ws, cat: Catalogue, unit: Unit, period: Period) -> None:
    for r, (key, value) in enumerate(make_stamp(cat, unit.code, str(period)).items()):
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, value)
    ws.protect("")
    ws.very_hidden()


def write_forms(
    catalogue: Catalogue, period: Period, out_dir: Path, unit_codes: Iterable[str] = (), progress=None
) -> list[Path]:
    """Write the forms of the given units (all units when empty) into ``out_dir``; return the paths written."""
    codes = list(unit_codes)
    unknown = [c for c in codes if catalogue.unit(c) is None]
    if unknown:
        raise ThiDuaError(f"Mã đơn vị không có trong danh sách: {', '.join(unknown)}.")
    units = [catalogue.unit(c) for c in codes] if codes else list(catalogue.units)
    catalogue.organisation(period.first_day)  # fail early with a clear message
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for unit in units:
        written.append(write_form(catalogue, unit, period, out_dir / file_name(unit.code, str(period))))
        if progress:
            progress(unit)
    return written


def column_letter(key: str) -> str:
    return col_letter(_c(key))


def form_formulas(catalogue: Catalogue) -> dict[str, str]:
    """The formulas the form writes on its report sheet, A1 -> formula text (with the leading "="): the live checks of
    every row and the status line. Other tools compare a returned workbook's formulas with these (thidua.returnpkg)."""
    layout = FormLayout.for_catalogue(catalogue)
    rows = layout.rows
    out = {a1(STATUS_ROW, HEADER_VALUE_COL): _status_formula(layout)}
    for target in catalogue.targets:
        has_rules = any(i.target is not None for i in target.indicators)
        out[_ref("check", rows[f"T{target.number}"])] = _target_check(target, rows, has_rules)
        for ind in target.indicators:
            out[_ref("check", rows[ind.code])] = _indicator_check(ind, catalogue, rows)
    return out
