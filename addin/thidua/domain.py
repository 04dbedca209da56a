"""Type and domain rules of an input cell, each defined once for both sides: the Python test the validator applies
(:mod:`thidua.rules`, through :mod:`thidua.reader`) and the spreadsheet formula the form's live checks use
(:mod:`thidua.form`). Keeping the pair side by side is what makes the form and the validator agree, as
:func:`thidua.catalogue.whole_column` does for the relations between figures.

Every formula here works the same in Excel (2007 and later) and LibreOffice Calc and never returns an error value
for any input: text, numbers, booleans and empty cells all give TRUE or FALSE.

- **Lists** (Có/Không, Đạt/Không đạt, choices): Excel's and LibreOffice's list validation and ``=`` compare without
  regard to case, and ``TRIM`` drops leading, trailing and doubled spaces; the validator does the same and stores the
  canonical value. A value stored in decomposed Unicode (NFD, e.g. pasted from a Mac) is accepted too: the formula's
  list carries each choice in both forms.
- **Counts**: a whole number ≥ 0 typed as a number. Text (``"30 người"``, ``"1.234"``) is wrong, and so is a number
  shown as a percentage: typing ``100%`` stores 1 in a cell formatted as a percentage, which both the form
  (``CELL("format")`` starts with ``P``) and the validator (the cell's number format) recognise.
- **Dates**: a real date, or a text ``d/m/yyyy`` that is a valid day-first date (what a Vietnamese-locale PC would
  have turned into a date; an English-locale PC keeps it as text). A text that is only valid month-first
  (``9/20/2024``) is wrong, with its own message.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable

from .period import Period

# ----------------------------------------------------------------------------------------------------------------------
# Lists


def _squeeze(text: str) -> str:
    """What spreadsheet ``TRIM`` keeps of a text: no leading or trailing spaces, inner runs of spaces made one."""
    return re.sub(" {2,}", " ", text.strip())


def canonical_choice(value: object, choices: Iterable[str]) -> str | None:
    """The listed value ``value`` stands for (ignoring case, Unicode form and surplus spaces), or None."""
    if not isinstance(value, str):
        return None
    key = _squeeze(unicodedata.normalize("NFC", value)).casefold()
    for choice in choices:
        if unicodedata.normalize("NFC", choice).casefold() == key:
            return choice
    return None


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def choice_array(choices: Iterable[str]) -> str:
    """An array constant of the choices in NFC and, where it differs, NFD: ``{"Có","Có","Không"}``."""
    items: list[str] = []
    for choice in choices:
        for form in ("NFC", "NFD"):
            text = unicodedata.normalize(form, choice)
            if text not in items:
                items.append(text)
    return "{" + ",".join(_quoted(t) for t in items) + "}"


def is_choice_formula(ref: str, choices: Iterable[str]) -> str:
    """TRUE when the cell holds one of ``choices`` (as :func:`canonical_choice` accepts it)."""
    return f"ISNUMBER(MATCH(TRIM({ref}),{choice_array(choices)},0))"


def bad_choice_formula(ref: str, choices: Iterable[str]) -> str:
    """TRUE when the cell is not empty and holds no listed value."""
    return f'AND(LEN({ref})>0,NOT({is_choice_formula(ref, choices)}))'


# ----------------------------------------------------------------------------------------------------------------------
# Counts

#: Excel's built-in percentage formats (ECMA-376 Part 1, 18.8.30 numFmt: ids 9 "0%" and 10 "0.00%").
BUILTIN_PERCENT_FORMATS = frozenset({9, 10})


def is_percent_format(code: str | None, builtin_id: int | None = None) -> bool:
    """Whether a number format shows the value as a percentage: a ``%`` outside quotes and escapes."""
    if builtin_id in BUILTIN_PERCENT_FORMATS:
        return True
    if not code:
        return False
    bare = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", code)
    return "%" in bare


def bad_count_formula(ref: str) -> str:
    """TRUE when a count cell is not empty and does not hold a whole number ≥ 0 typed as a number (text, a fraction,
    a negative number, a boolean, or a number formatted as a percentage)."""
    return (f'IF(ISNUMBER({ref}),OR({ref}<0,{ref}<>INT({ref}),LEFT(CELL("format",{ref}),1)="P"),'
            f'LEN({ref})>0)')


def good_count_formula(ref: str) -> str:
    """TRUE when a count cell holds a usable figure (the validator's ``Context.count``: relations are checked with
    it): the negation of :func:`bad_count_formula` for a cell that is not empty; FALSE for an empty one."""
    return f'IF(ISNUMBER({ref}),AND({ref}>=0,{ref}=INT({ref}),LEFT(CELL("format",{ref}),1)<>"P"))'


# ----------------------------------------------------------------------------------------------------------------------
# Dates

DATE_TEXT_RE = re.compile(r"^ *([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) *$")


def parse_date_text(text: str) -> tuple[dt.date | None, str | None]:
    """A date typed as text: ``(date, None)`` for a valid day-first ``d/m/yyyy``; ``(None, "date_month_first")`` for
    one that is only valid month-first (``9/20/2024``); ``(None, "date_as_text")`` for anything else."""
    m = DATE_TEXT_RE.match(text)
    if not m:
        return None, "date_as_text"
    a, b, year = (int(g) for g in m.groups())
    try:
        return dt.date(year, b, a), None
    except ValueError:
        pass
    try:
        dt.date(year, a, b)
    except ValueError:
        return None, "date_as_text"
    return None, "date_month_first"


def _date_parts(ref: str) -> tuple[str, str, str, str, str, str]:
    t = f"TRIM({ref})"
    a = f'FIND("/",{t})'
    b = f'FIND("/",{t},{a}+1)'
    day = f"VALUE(LEFT({t},{a}-1))"
    month = f"VALUE(MID({t},{a}+1,{b}-{a}-1))"
    year_text = f"MID({t},{b}+1,99)"
    return day, month, year_text, t, a, b


def date_text_formula(ref: str) -> str:
    """The date (a serial number) a text ``d/m/yyyy`` in ``ref`` stands for, or "" when it is none; never an error.
    Mirrors :func:`parse_date_text`: day first, one or two digits for day and month, four for the year."""
    day, month, year_text, t, a, b = _date_parts(ref)
    year = f"VALUE({year_text})"
    valid = (f"AND(LEN({t})-LEN(SUBSTITUTE({t},\"/\",\"\"))=2,LEN({year_text})=4,{a}<=3,{b}-{a}<=3,"
             f"{day}>=1,{day}=INT({day}),{month}>=1,{month}<=12,{month}=INT({month}),"
             f"DAY(DATE({year},{month},{day}))={day})")
    return f'IFERROR(IF({valid},DATE({year},{month},{day}),""),"")'


def date_value_formula(ref: str) -> str:
    """The date in ``ref`` as a serial number (a real date, or a valid day-first text), or ""."""
    return f'IF(ISNUMBER({ref}),{ref},IF(ISTEXT({ref}),{date_text_formula(ref)},""))'


def date_bounds(rule: str, period: Period) -> tuple[dt.date, dt.date]:
    """The dates a ``date_within`` rule allows: the period itself, or 1 January to the period's last day."""
    first = period.first_day if rule == "period" else dt.date(period.year, 1, 1)
    return first, period.last_day


def excel_date(day: dt.date) -> str:
    return f"DATE({day.year},{day.month},{day.day})"


def date_dv_formula(ref: str, first: dt.date, last: dt.date) -> str:
    """The data validation of a date cell (at most 255 characters, Excel's limit): a real date in the range, or a
    text with two slashes — an English-locale PC keeps "20/09/2024" as text, and the live check then reads it
    day-first (:func:`date_text_formula`) and says exactly what is wrong."""
    return (f"=IF(ISNUMBER({ref}),AND({ref}>={excel_date(first)},{ref}<={excel_date(last)}),"
            f'LEN({ref})-LEN(SUBSTITUTE({ref},"/",""))=2)')


def date_shown_formula(serial: str) -> str:
    """A date serial shown as d/m/yyyy, independent of the PC's locale (TEXT's format codes are not)."""
    return f'DAY({serial})&"/"&MONTH({serial})&"/"&YEAR({serial})'


# ----------------------------------------------------------------------------------------------------------------------
# Formulas in input cells


def formula_in_cell(ref: str) -> str:
    """TRUE when an input cell holds a formula (the validator's E-TYPE-FORMULA, from the sheet XML). ISFORMULA came
    with Excel 2013 (hence the ``_xlfn.`` prefix a file must carry); an older Excel answers #NAME?, which IFERROR
    turns into FALSE: no detection there, but never a false alarm."""
    return f"IFERROR(_xlfn.ISFORMULA({ref}),FALSE())"  # FALSE() as LibreOffice writes it back


# ----------------------------------------------------------------------------------------------------------------------
# Text


def too_long_formula(ref: str, maximum: int) -> str:
    return f"LEN({ref})>{maximum}"


__all__ = [
    "bad_choice_formula",
    "bad_count_formula",
    "canonical_choice",
    "choice_array",
    "date_bounds",
    "date_dv_formula",
    "date_shown_formula",
    "date_text_formula",
    "date_value_formula",
    "formula_in_cell",
    "good_count_formula",
    "is_choice_formula",
    "is_percent_format",
    "parse_date_text",
    "too_long_formula",
]
