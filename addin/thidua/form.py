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
from .domain import (
    bad_choice_formula,
    bad_count_formula,
    date_bounds,
    date_dv_formula,
    date_shown_formula,
    date_value_formula,
    formula_in_cell,
    good_count_formula,
    is_choice_formula,
    too_long_formula,
)
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
WIDTHS = {"code": 6, "name": 60, "unit": 10, "month": 14, "ytd": 14, "assessment": 12, "note": 40, "check": 32}
MSG_MISSING = "Chưa nhập"
GOOD_PREFIXES = ("Đạt", "Hợp lệ", "Không phát sinh", "Tỷ lệ", "Biểu đã", "Đủ số liệu")
BAD_PREFIXES = ("Chưa nhập", "Chưa gửi", "Sai:", "Cần", "Còn")


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
    guide_bold: object
    legend: object
    status: object
    sign_title: object
    sign_date: object
    sign_name: object
    bound: object


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
        guide_bold=f(font_name="Times New Roman", font_size=12, bold=True, text_wrap=True, valign="top"),
        legend=f(**{**base, "font_size": 10, "valign": "top"}, italic=True, text_wrap=True, border=1,
                 border_color="#BFBFBF"),
        status=f(**{**cell, "font_size": 12}, bold=True),
        sign_title=f(**base, bold=True, align="center"),
        sign_date=f(**base, italic=True, align="center"),
        sign_name=f(**base, bold=True, align="center"),
        bound=f(num_format="dd/mm/yyyy"),
    )


# ----------------------------------------------------------------------------------------------------------------------
# Data validation: Vietnamese input and error messages (Excel limits: title 32, message 255 characters)


def _message(text: str, hint: str = "") -> str:
    """An input message within Excel's 255 characters: the indicator's note first, then how to type the value."""
    return (f"{hint} {text}" if hint else text)[:255]


def _dv_count(hint: str = "") -> dict:
    return {
        "validate": "integer",
        "criteria": ">=",
        "value": 0,
        "input_title": "Nhập số nguyên ≥ 0",
        "input_message": _message("Nhập một số nguyên không âm, ví dụ 12. Không gõ chữ, dấu chấm, dấu phẩy hay dấu %.",
                                  hint),
        "error_title": "Giá trị không hợp lệ",
        "error_message": "Ô này chỉ nhận số nguyên từ 0 trở lên (ví dụ 12).",
    }


def _dv_list(values: Iterable[str], what: str, hint: str = "") -> dict:
    values = list(values)
    shown = ", ".join(values)
    return {
        "validate": "list",
        "source": values,
        "input_title": f"Chọn {what}"[:32],
        "input_message": _message(f"Chọn một giá trị trong danh sách: {shown}.", hint),
        "error_title": "Giá trị không có trong danh sách",
        "error_message": f"Chỉ được chọn: {shown}.",
    }


def _dv_date(ref: str, first: dt.date, last: dt.date) -> dict:
    # A custom rule rather than "date between": an English-locale PC keeps 20/09/2024 as text, which a date rule
    # refuses although the message asks for ngày/tháng/năm (thidua.domain.date_dv_formula).
    return {
        "validate": "custom",
        "value": date_dv_formula(ref, first, last),
        "input_title": "Nhập ngày",
        "input_message": f"Nhập ngày dạng ngày/tháng/năm, ví dụ {last:%d/%m/%Y}; từ {first:%d/%m/%Y} đến "
                         f"{last:%d/%m/%Y}.",
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


#: What a live check shows if a formula meets a value none of its conditions foresaw: never an Excel error value.
MSG_UNCHECKED = "Sai: không kiểm tra được, đề nghị xem lại số liệu của dòng này"
MSG_COUNT = "Sai: phải là số nguyên ≥ 0, không kèm chữ, dấu %"
MSG_LIST = "Sai: phải chọn trong danh sách"
MSG_DATE = "Sai: ngày phải nhập dạng ngày/tháng/năm"
MSG_NO_RATIO = "Chưa tính được tỷ lệ (số liệu liên quan chưa hợp lệ)"
MSG_FORMULA = "Sai: ô nhập liệu chứa công thức, hãy gõ giá trị"
MSG_SEND = "Biểu đã đủ số liệu, có thể gửi"


def _guarded(expr: str) -> str:
    return f'=IFERROR({expr},"{MSG_UNCHECKED}")'


def _good_count(ref: str) -> str:
    """A count figure of another row the relations are checked with (the validator's ``Context.count``). The row's
    own figures need only ISNUMBER: a wrong one has already stopped the row's chain of conditions."""
    return good_count_formula(ref)


def _has_formula(refs: list[str]) -> tuple[str, str]:
    return "OR(" + ",".join(formula_in_cell(ref) for ref in refs) + ")", MSG_FORMULA


def _unit_changed(ind: Indicator, r: int) -> tuple[str, str]:
    ref = _ref("unit", r)
    want = ind.unit.replace('"', '""')
    shown = f"“{ind.unit}”" if ind.unit else "để trống"
    return f'TRIM({ref})<>"{want}"', f"Sai: đơn vị tính bị sửa (phải {shown})"


def _indicator_check(ind: Indicator, cat: Catalogue, rows: dict[str, int]) -> str:
    r = rows[ind.code]
    cols = _period_cols(ind)
    conds: list[tuple[str, str]] = [_unit_changed(ind, r), _has_formula([*(_ref(c, r) for c in cols), _ref("note", r)])]
    if ind.required:
        empty = ",".join(f"LEN({_ref(c, r)})=0" for c in cols)
        conds.append((f"OR({empty})", MSG_MISSING))
    for c in cols:  # the type and domain of each figure (thidua.domain, as the validator checks them)
        mine = _ref(c, r)
        if ind.kind == "count":
            conds.append((bad_count_formula(mine), MSG_COUNT))
        elif ind.kind in ("yesno", "choice"):
            choices = cat.yesno_choices if ind.kind == "yesno" else ind.choices
            conds.append((bad_choice_formula(mine, choices), MSG_LIST))
        elif ind.kind == "date":
            value = helper_ref(r)  # the date read from the cell (thidua.domain.date_value_formula), computed once
            conds.append((f'AND(LEN({mine})>0,NOT(ISNUMBER({value})))', MSG_DATE))
            if "date_within" in ind.rules:
                # the bounds depend on the period: written as values beside the helper, so the formula does not
                first, last = bound_refs(r)
                conds.append((f"AND(ISNUMBER({value}),OR({value}<{first},{value}>{last}))",
                              f'Sai: ngày phải từ "&{date_shown_formula(first)}&" đến "&{date_shown_formula(last)}&"'))
        elif "max_length" in ind.rules:
            n = int(ind.rules["max_length"])
            conds.append((too_long_formula(mine, n), f"Sai: dài quá {n} ký tự"))
    whole_code = ind.whole
    if whole_code:
        whole = cat.indicator(whole_code)
        for c in cols:
            wcol = whole_column(ind, c, whole)
            if wcol is None:
                continue
            mine, theirs = _ref(c, r), _ref(wcol, rows[whole_code])
            conds.append((f"AND(ISNUMBER({mine}),{_good_count(theirs)},{mine}>{theirs})",
                          f"Sai: lớn hơn {whole_code}"))
    if cols == ["month", "ytd"] and ind.kind == "count":
        d, e = _ref("month", r), _ref("ytd", r)
        conds.append((f"AND(ISNUMBER({d}),ISNUMBER({e}),{d}>{e})", "Sai: số tháng lớn hơn lũy kế"))
    if "sum_of" in ind.rules:
        c = cols[0]
        parts = [_ref(whole_column(ind, c, cat.indicator(p)) or c, rows[p]) for p in ind.rules["sum_of"]]
        mine = _ref(c, r)
        good = ",".join([f"ISNUMBER({mine})", *(_good_count(x) for x in parts)])
        conds.append((f"AND({good},{mine}<>{'+'.join(parts)})", "Sai: khác tổng " + " + ".join(ind.rules["sum_of"])))
    final = '"Hợp lệ"'
    target = ind.target
    c = cols[0]
    mine = _ref(c, r)
    if "numerator_of" in ind.rules:
        whole = cat.indicator(ind.rules["numerator_of"])
        den = _ref(whole_column(ind, c, whole) or whole.periods[0], rows[whole.code])
        ratio = f"ROUND({mine}/{den}*100,1)"
        if target == "100%":
            reached = f'IF({den}=0,"Không phát sinh",IF({mine}={den},"Đạt 100%","Chưa đạt ("&{ratio}&"%)"))'
        else:
            reached = f'IF({den}=0,"Không phát sinh","Tỷ lệ "&{ratio}&"%")'
        final = f'IF(AND(ISNUMBER({mine}),{_good_count(den)}),{reached},' + (
            f'"{MSG_NO_RATIO}")' if ind.required or target else f'IF(LEN({mine})=0,"Hợp lệ","{MSG_NO_RATIO}"))')
    elif target == 0:
        final = f'IF({mine}=0,"Đạt","Chưa đạt (phải bằng 0)")'
    elif target in ("Có", "Không"):
        final = f'IF({is_choice_formula(mine, [target])},"Đạt","Chưa đạt (phải là {target})")'
    elif ind.kind == "date":
        value = helper_ref(r)
        final = f'IF(ISNUMBER({value}),"Hợp lệ: ngày "&{date_shown_formula(value)},"Hợp lệ")'
    return _guarded(_nested_if(conds, final))


MSG_TARGET_MISSING = "Còn chỉ tiêu chưa nhập"
MSG_TARGET_WRONG = "Còn số liệu sai cần sửa"


def _target_check(target: Target, rows: dict[str, int], has_target_rules: bool,
                  choices: tuple[str, ...] = ("Đạt", "Không đạt")) -> str:
    r = rows[f"T{target.number}"]
    first = rows[target.indicators[0].code]
    last = rows[target.indicators[-1].code]
    rng = f"{_ref('check', first)}:{_ref('check', last)}"
    f_cell, g_cell = _ref("assessment", r), _ref("note", r)
    missing = f'COUNTIF({rng},"{MSG_MISSING}")'
    wrong = f'COUNTIF({rng},"Sai:*")'
    short = f'COUNTIF({rng},"Chưa đạt*")'
    met = next((c for c in choices if c != target.explain_if), "Đạt")
    # The target row's own cells first (each is one finding of the validator), then what its indicator rows say.
    conds = [
        _has_formula([f_cell, g_cell]),
        (bad_choice_formula(f_cell, choices), "Sai: tự đánh giá phải là " + " hoặc ".join(choices)),
        (f"LEN({f_cell})=0", "Cần tự đánh giá Đạt/Không đạt"),
        (f"AND({is_choice_formula(f_cell, [met])},{short}>0)", "Cần xem lại: tự đánh giá Đạt nhưng số liệu chưa đạt"),
        (f"AND({is_choice_formula(f_cell, [target.explain_if])},LEN(TRIM({g_cell}))=0)",
         "Cần giải trình lý do không đạt"),
        (f"{missing}>0", MSG_TARGET_MISSING),
        (f"{wrong}>0", MSG_TARGET_WRONG),
        (f"{short}>0", "Chưa đạt mục tiêu"),
    ]
    final = '"Đạt mục tiêu 100%"' if has_target_rules else '"Đủ số liệu"'
    return _guarded(_nested_if(conds, final))


def _status_parts(layout: FormLayout) -> dict[str, str]:
    """The counts the status line adds up: each is a formula giving a whole number."""
    first, last = min(layout.rows.values()), layout.last_row
    rng = f"{_ref('check', first)}:{_ref('check', last)}"
    preparer = a1(HEADER["preparer"][0], HEADER_VALUE_COL)
    prepared_on = a1(HEADER["prepared_on"][0], HEADER_VALUE_COL)
    # Rows inserted into the table: no code in column A but something typed in the row (the reader's "row_text").
    cols = [col_letter(_c(k)) for k in ("name", "unit", "month", "ytd", "assessment", "note")]
    joined = "&".join(f"{c}{first + 1}:{c}{last + 1}" for c in cols)
    inserted = f'SUMPRODUCT(({_ref("code", first)}:{_ref("code", last)}="")*(LEN({joined})>0))'
    return {
        "missing": f'COUNTIF({rng},"{MSG_MISSING}")+(LEN(TRIM({preparer}))=0)',
        "wrong": (f'COUNTIF({rng},"Sai:*")+SUMPRODUCT(--ISERROR({rng}))'
                  f"+AND(LEN({prepared_on})>0,NOT(ISNUMBER({helper_ref(HEADER['prepared_on'][0])})))"
                  f"+{formula_in_cell(preparer)}+{formula_in_cell(prepared_on)}"),
        "todo": f'COUNTIF({rng},"Cần*")',
        "inserted": inserted,
        "short": f'COUNTIF({rng},"Chưa đạt*")',
    }


def _status_formula(layout: FormLayout) -> str:
    p = _status_parts(layout)
    total = f"({p['missing']}+{p['wrong']}+{p['todo']}+{p['inserted']})"
    detail = (f'"Chưa gửi được: còn "&{total}&" lỗi ("&({p["missing"]})&" ô chưa nhập, "&({p["wrong"]})&" số liệu '
              f'sai, "&({p["todo"]})&" nội dung cần tự đánh giá hoặc giải trình"'
              f'&IF({p["inserted"]}>0,", "&{p["inserted"]}&" dòng chèn thêm có nội dung","")&")"')
    ok = f'"{MSG_SEND}"&IF({p["short"]}>0," (có "&{p["short"]}&" chỉ tiêu, nội dung chưa đạt mục tiêu)","")'
    return _guarded(f"IF({total}>0,{detail},{ok})")


#: A hidden column right of the table holding, for each date input, the date it reads as (or ""): the live checks
#: refer to it instead of repeating the long parsing formula (Excel allows 8,192 characters per formula).
HELPER_COL = 8


def helper_ref(row: int) -> str:
    return a1(row, HELPER_COL)


def bound_refs(row: int) -> tuple[str, str]:
    """The hidden cells holding the first and last date a ``date_within`` rule allows on this row."""
    return a1(row, HELPER_COL + 1), a1(row, HELPER_COL + 2)


def helper_formulas(catalogue: Catalogue) -> dict[str, str]:
    """The hidden helper cells: A1 -> formula (the date value of each date input cell of the same row)."""
    rows = FormLayout.for_catalogue(catalogue).rows
    out = {helper_ref(HEADER["prepared_on"][0]): "=" + date_value_formula(a1(HEADER["prepared_on"][0],
                                                                               HEADER_VALUE_COL))}
    for ind in catalogue.indicators:
        if ind.kind == "date":
            r = rows[ind.code]
            out[helper_ref(r)] = "=" + date_value_formula(_ref(ind.periods[0], r))
    return out


def _blank_status(cat: Catalogue) -> str:
    """The status line's value on a blank form (cached in the file for readers that do not recalculate)."""
    missing = 1 + sum(1 for i in cat.indicators if i.required)
    todo = len(cat.targets)
    return (f"Chưa gửi được: còn {missing + todo} lỗi ({missing} ô chưa nhập, 0 số liệu sai, {todo} nội dung cần tự "
            "đánh giá hoặc giải trình)")


# ----------------------------------------------------------------------------------------------------------------------


def _lines(text: str, width: float) -> int:
    """Lines a wrapped text takes in a column ``width`` characters wide (Times New Roman 12: about 1.05 characters of
    text per unit of column width)."""
    return sum(max(1, math.ceil(len(part) / max(1.0, width * 1.05))) for part in text.split("\n"))


def _row_height(text: str, width: float, min_lines: int = 1) -> float:
    return LINE_PT * max(min_lines, _lines(text, width)) + 3


def write_form(catalogue: Catalogue, unit: Unit, period: Period, path: Path) -> Path:
    """Write one unit's form for ``period`` to ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        _write_form(catalogue, unit, period, tmp)
    return path


def legend_text(cat: Catalogue) -> str:
    """The header's legend: what the colours mean, which figures are year-end, and the target rule."""
    year_end = ", ".join(i.code for i in cat.indicators if i.year_end)
    return (f"Chú giải: ô nền vàng là ô nhập liệu; viền đỏ là ô bắt buộc chưa nhập. Chỉ tiêu cuối năm ({year_end}) "
            "nhập khi báo cáo tháng 12. Nội dung có chỉ tiêu “Chưa đạt” thì không được tự đánh giá “Đạt”. Chọn ô để "
            "xem hướng dẫn; xem thêm trang “Hướng dẫn”.")


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

    # Title and header block, kept short: the whole block stays frozen on screen above the table.
    last_col = max(c for c, _ in COLUMNS.values())
    org = cat.organisation(period.first_day)
    ws.merge_range(0, 0, 0, last_col, f"BÁO CÁO KẾT QUẢ THỰC HIỆN PHONG TRÀO THI ĐUA NĂM {cat.year}", fm.title)
    ws.merge_range(1, 0, 1, last_col, f"{org.issuing_body_name} {org.place} — {period.label}", fm.subtitle)
    ws.set_row(0, 18)
    ws.set_row(1, HEADER_PT)
    for spacer in SPACER_ROWS:
        ws.set_row(spacer, 4)
    header_values = {
        "unit_code": unit.code,
        "unit_name": unit.name,
        "period": f"{period.month:02d}/{period.year}",
    }
    for key, (row, label) in HEADER.items():
        ws.set_row(row, HEADER_PT)
        ws.write_string(row, HEADER_LABEL_COL, f"{label}:", fm.label)
        if key in header_values:
            ws.merge_range(row, HEADER_VALUE_COL, row, HEADER_VALUE_COL + 2, header_values[key], fm.value)
    header_rows = [row for row, _label in HEADER.values()]
    ws.merge_range(min(header_rows), LEGEND_COL, max(header_rows), last_col, legend_text(cat), fm.legend)
    prep_r = HEADER["preparer"][0]
    date_r = HEADER["prepared_on"][0]
    ws.write_blank(prep_r, HEADER_VALUE_COL, None, fm.input_text)
    ws.data_validation(prep_r, HEADER_VALUE_COL, prep_r, HEADER_VALUE_COL, _dv_text(PREPARER_MAX, "Họ tên người lập"))
    ws.write_blank(date_r, HEADER_VALUE_COL, None, fm.input_date)
    prepared = a1(date_r, HEADER_VALUE_COL)
    ws.data_validation(date_r, HEADER_VALUE_COL, date_r, HEADER_VALUE_COL,
                       _dv_date(prepared, period.first_day, period.last_day + dt.timedelta(days=60)))
    ws.write_string(STATUS_ROW, HEADER_LABEL_COL, "Tình trạng biểu (tự động):", fm.label)
    ws.merge_range(STATUS_ROW, HEADER_VALUE_COL, STATUS_ROW, last_col, "", fm.status)
    ws.write_formula(STATUS_ROW, HEADER_VALUE_COL, _status_formula(layout), fm.status, _blank_status(cat))
    ws.set_row(STATUS_ROW, 2 * LINE_PT + 3)

    # Table
    for col, title in COLUMNS.values():
        ws.write_string(TABLE_HEADER_ROW, col, title, fm.head)
    ws.set_row(TABLE_HEADER_ROW, 2 * LINE_PT + 3)

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
        ws.data_validation(r, _c("assessment"), r, _c("assessment"), _dv_list(cat.assessment_choices, "tự đánh giá",
                                                                               ASSESSMENT_HINT))
        ws.write_blank(r, _c("note"), None, fm.input_text)
        ws.data_validation(r, _c("note"), r, _c("note"), _dv_text(NOTE_MAX, "Giải trình / minh chứng"))
        ws.write_formula(r, _c("check"), _target_check(target, rows, has_rules, cat.assessment_choices), fm.check,
                         "Cần tự đánh giá Đạt/Không đạt")
        required_cells.append(_ref("assessment", r))
        ws.set_row(r, _row_height(f"{target.number}. {target.title}", WIDTHS["name"], 2))
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
    last_printed = _write_signatures(ws, fm, cat, period, layout.last_row + 2)
    ws.set_column(HELPER_COL, HELPER_COL + 2, 12, None, {"hidden": True})
    for ref, formula in helper_formulas(cat).items():
        ws.write_formula(ref, formula, None, "")
    for ind in cat.indicators:
        if "date_within" in ind.rules:
            r = rows[ind.code]
            for offset, day in enumerate(date_bounds(ind.rules["date_within"], period), start=1):
                ws.write_datetime(r, HELPER_COL + offset, dt.datetime(day.year, day.month, day.day), fm.bound)

    # Page setup: A4 landscape, header rows repeated, fit to one page wide; on screen a little smaller, so that a
    # laptop shows more than a handful of rows under the frozen header.
    ws.set_paper(9)
    ws.set_landscape()
    ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.6)
    ws.repeat_rows(TABLE_HEADER_ROW)
    ws.fit_to_pages(1, 0)
    ws.print_area(0, 0, last_printed, last_col)
    ws.set_footer("&CTrang &P/&N")
    ws.freeze_panes(TABLE_HEADER_ROW + 1, _c("unit"))
    ws.set_zoom(SCREEN_ZOOM)
    ws.protect("", {"format_columns": True, "format_rows": True})
    ws.activate()
    ws.set_first_sheet()

    _write_guide(guide, fm, cat, unit, period)
    _write_stamp(stamp_ws, cat, unit, period)
    wb.close()


#: Rows of the header block left empty (kept 4 pt high), the column where the legend starts, the screen zoom.
SPACER_ROWS = (2, 8, 10)
LEGEND_COL = 6
SCREEN_ZOOM = 85
LINE_PT = 16
HEADER_PT = 15
ASSESSMENT_HINT = "Có chỉ tiêu “Chưa đạt” thì phải chọn “Không đạt” và ghi lý do ở cột Giải trình."
#: Lines kept visible for a long text answer (7.5) and a choice cell; the rest shows in the formula bar.
TEXT_LINES = 6


def signature_formula() -> str:
    """The preparer's name printed under "Người lập biểu" (from the header cell)."""
    ref = a1(HEADER["preparer"][0], HEADER_VALUE_COL)
    return f'=IF(LEN({ref})>0,{ref},"")'


def signature_row(catalogue: Catalogue) -> int:
    """The row (zero-based) of the preparer's name in the signature block."""
    return FormLayout.for_catalogue(catalogue).last_row + 2 + 5


def _write_signatures(ws, fm: _Formats, cat: Catalogue, period: Period, top: int) -> int:
    """The signature block under the table: place and date, "Người lập biểu" and "Thủ trưởng đơn vị"; returns its
    last row."""
    org = cat.organisation(period.first_day)
    left, right = (_c("code"), _c("name")), (_c("assessment"), _c("check"))
    ws.merge_range(top, *right[:1], top, right[1], f"{org.place}, ngày ...... tháng ...... năm {period.year}",
                   fm.sign_date)
    ws.merge_range(top + 1, left[0], top + 1, left[1], "NGƯỜI LẬP BIỂU", fm.sign_title)
    ws.merge_range(top + 1, right[0], top + 1, right[1], "THỦ TRƯỞNG ĐƠN VỊ", fm.sign_title)
    ws.merge_range(top + 2, left[0], top + 2, left[1], "(Ký, ghi rõ họ tên)", fm.sign_date)
    ws.merge_range(top + 2, right[0], top + 2, right[1], "(Ký tên, đóng dấu)", fm.sign_date)
    ws.set_row(top + 3, 30)
    ws.set_row(top + 4, 30)
    name_row = top + 5
    ws.merge_range(name_row, left[0], name_row, left[1], "", fm.sign_name)
    ws.write_formula(name_row, left[0], signature_formula(), fm.sign_name, "")
    return name_row


def _write_indicator_row(
    ws, fm: _Formats, cat: Catalogue, ind: Indicator, rows: dict[str, int], period: Period, required_cells: list[str]
) -> None:
    r = rows[ind.code]
    ws.write_string(r, _c("code"), ind.code, fm.code)
    ws.write_string(r, _c("name"), ind.name, fm.name)
    ws.write_string(r, _c("unit"), ind.unit, fm.text)
    lines = max(2, _lines(ind.name, WIDTHS["name"]))  # two lines at least: room for a check message
    for col_key in ("month", "ytd"):
        c = _c(col_key)
        if col_key not in ind.periods:
            ws.write_blank(r, c, None, fm.grey)
            continue
        hint = ind.note
        if ind.kind == "count":
            ws.write_blank(r, c, None, fm.input_int)
            ws.data_validation(r, c, r, c, _dv_count(hint))
        elif ind.kind == "yesno":
            ws.write_blank(r, c, None, fm.input_list)
            ws.data_validation(r, c, r, c, _dv_list(cat.yesno_choices, "Có hoặc Không", hint))
        elif ind.kind == "choice":
            ws.write_blank(r, c, None, fm.input_list)
            ws.data_validation(r, c, r, c, _dv_list(ind.choices, "trong danh sách", hint))
            lines = max(lines, max(_lines(x, WIDTHS[col_key]) for x in ind.choices))
        elif ind.kind == "date":
            first, last = date_bounds(ind.rules.get("date_within", "year_to_period"), period)
            ws.write_blank(r, c, None, fm.input_date)
            ws.data_validation(r, c, r, c, _dv_date(a1(r, c), first, last))
        else:
            ws.write_blank(r, c, None, fm.input_text)
            ws.data_validation(r, c, r, c, _dv_text(int(ind.rules.get("max_length", NOTE_MAX))))
            lines = max(lines, TEXT_LINES)
        if ind.required:
            required_cells.append(a1(r, c))
    ws.set_row(r, LINE_PT * lines + 3)
    ws.write_blank(r, _c("assessment"), None, fm.grey)
    ws.write_blank(r, _c("note"), None, fm.input_text)
    ws.data_validation(r, _c("note"), r, _c("note"), _dv_text(NOTE_MAX, "Ghi chú / minh chứng"))
    # Cached results for the blank form, so that a reader that does not recalculate shows the right message.
    blank = MSG_MISSING if ind.required else "Hợp lệ"
    ws.write_formula(r, _c("check"), _indicator_check(ind, cat, rows), fm.check, blank)


def guide_lines(cat: Catalogue) -> tuple[str, ...]:
    """The numbered paragraphs of the "Hướng dẫn" sheet."""
    year_end = ", ".join(i.code for i in cat.indicators if i.year_end)
    stock = ", ".join(i.code for i in cat.indicators if "thời điểm" in i.note)
    return (
        "1. Chỉ nhập vào các ô nền vàng nhạt; các ô khác đã được khóa để giữ nguyên cấu trúc biểu. Ô có viền đỏ là ô "
        "bắt buộc còn chưa nhập; viền đỏ tự mất khi đã nhập.",
        "2. Ghi họ tên người lập biểu và ngày lập biểu ở phần đầu trang “Báo cáo”.",
        "3. Cột “Tháng báo cáo”: số liệu của tháng báo cáo — số phát sinh trong tháng, trừ các chỉ tiêu là số tại một "
        f"thời điểm ({stock}): ghi số có tại ngày cuối tháng. Cột “Lũy kế từ đầu năm”: cộng dồn từ tháng 01 đến hết "
        "tháng báo cáo (lũy kế không được nhỏ hơn số đã báo cáo tháng trước). Ô nền xám là ô không cần nhập. Chọn một "
        "ô để xem giải thích của chỉ tiêu đó.",
        f"4. Chỉ tiêu cuối năm ({year_end}): dùng cho tổng kết và xét danh hiệu thi đua, nhập khi báo cáo tháng 12; "
        "các tháng khác có thể để trống.",
        "5. Số liệu nhập bằng số nguyên, không gõ dấu chấm, dấu phẩy, dấu % hay chữ (đơn vị tính đã ghi sẵn ở cột "
        "“Đơn vị tính”). Ô Có/Không và Đạt/Không đạt chọn trong danh sách. Ngày nhập dạng ngày/tháng/năm, ví dụ "
        "20/09/2024; cột “Kiểm tra tự động” ghi lại ngày đã hiểu để đơn vị soát lại.",
        "6. Mỗi nội dung thi đua (dòng in đậm) phải tự đánh giá Đạt hoặc Không đạt. Nội dung có chỉ tiêu báo "
        "“Chưa đạt” thì không được tự đánh giá “Đạt”: chọn “Không đạt” và ghi rõ lý do ở cột “Giải trình / minh "
        "chứng / ghi chú”. Di chuột vào tên nội dung để xem toàn văn nội dung thi đua trong Kế hoạch.",
        "7. Cột “Kiểm tra tự động” và dòng “Tình trạng biểu” cho biết ngay ô nào còn thiếu, số liệu nào sai và nội "
        "dung nào chưa đạt 100%; dòng “Tình trạng biểu” đếm số lỗi còn lại. Chỉ khi dòng này báo “Biểu đã đủ số liệu, "
        "có thể gửi” thì gửi tệp về Văn phòng Sở. Nếu dán số liệu từ tệp khác, dùng Dán đặc biệt > Giá trị (Paste "
        "Special > Values) để giữ định dạng và kiểm tra của ô.",
        "8. Không đổi tên tệp, không đổi tên trang tính, không chèn hoặc xóa dòng, cột; không sao chép biểu của kỳ "
        "khác. Mỗi tệp dùng cho đúng một đơn vị và một kỳ báo cáo. Nội dung giải trình ghi vào cột “Giải trình / "
        "minh chứng / ghi chú” của đúng dòng, không chèn dòng mới.",
        "9. Có thể lưu biểu bằng Excel hoặc LibreOffice, giữ định dạng .xlsx. Tệp có một trang ẩn “_thidua” chứa dấu "
        "nhận dạng của biểu; khi lưu bằng LibreOffice trang này chuyển từ “ẩn hẳn” sang “ẩn” và có thể hiện ra bằng "
        "lệnh Hiện trang: đề nghị không sửa trang này — mọi chỉnh sửa đều bị phát hiện qua mã kiểm tra (checksum) và "
        "biểu sẽ bị trả lại.",
        "10. Khi in: biểu in vừa khổ A4 nằm ngang; cuối biểu có phần ký của người lập biểu và thủ trưởng đơn vị (ký "
        "tên, đóng dấu) nếu đơn vị cần gửi kèm bản giấy.",
    )


GUIDE_WIDTH = 75  # LibreOffice prints a wrapped one-column text wider than Excel: 75 fits A4 portrait in both


def _write_guide(ws, fm: _Formats, cat: Catalogue, unit: Unit, period: Period) -> None:
    org = cat.organisation(period.first_day)
    ws.set_column(0, 0, GUIDE_WIDTH)
    ws.write_string(0, 0, f"HƯỚNG DẪN ĐIỀN BIỂU BÁO CÁO THI ĐUA — {period.label.upper()}", fm.guide_title)
    ws.write_string(1, 0, f"Đơn vị: {unit.name} ({unit.code})", fm.guide)
    deadline = org.deadline(period.year, period.month)
    ws.write_string(2, 0, f"Hạn gửi biểu về Văn phòng Sở: ngày {deadline:%d/%m/%Y}.", fm.guide)
    lines = guide_lines(cat)
    for i, line in enumerate(lines, start=4):
        ws.write_string(i, 0, line, fm.guide)
        ws.set_row(i, _row_height(line, GUIDE_WIDTH * 1.2) + 4)
    # The notes of the figures whose meaning is easy to mistake, one line each.
    r = 4 + len(lines) + 1
    ws.write_string(r, 0, "Giải thích một số chỉ tiêu:", fm.guide_bold)
    for ind in cat.indicators:
        if ind.note and not ind.year_end:
            r += 1
            text = f"– {ind.code} {ind.name}: {ind.note}"
            ws.write_string(r, 0, text, fm.guide)
            ws.set_row(r, _row_height(text, GUIDE_WIDTH))
    ws.set_paper(9)
    ws.set_portrait()
    ws.set_margins(left=0.6, right=0.5, top=0.6, bottom=0.6)
    ws.fit_to_pages(1, 0)
    ws.print_area(0, 0, r, 0)
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
    every row, the status line and the signature block. Other tools compare a returned workbook's formulas with these
    (thidua.returnpkg). They are the same for every unit and period."""
    layout = FormLayout.for_catalogue(catalogue)
    rows = layout.rows
    out = {a1(STATUS_ROW, HEADER_VALUE_COL): _status_formula(layout),
           a1(signature_row(catalogue), _c("code")): signature_formula(), **helper_formulas(catalogue)}
    for target in catalogue.targets:
        has_rules = any(i.target is not None for i in target.indicators)
        out[_ref("check", rows[f"T{target.number}"])] = _target_check(target, rows, has_rules,
                                                                      catalogue.assessment_choices)
        for ind in target.indicators:
            out[_ref("check", rows[ind.code])] = _indicator_check(ind, catalogue, rows)
    return out
