"""The demo: every stage that exists, run on bundled sample data."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from .catalogue import Catalogue, Unit, default_catalogue
from .consolidate import consolidate, load_period
from .form import write_forms
from .layout import COLUMNS, FormLayout, a1, file_name
from .model import STATUS_VI
from .office import soffice
from .period import Period
from .report import write_report
from .samples import FilledForm, fill_form, sample_fill
from .validate import validate_report


@dataclass(frozen=True)
class Mistake:
    """A deliberate, typical mistake planted in one demo file; tests check the validator flags it."""

    unit: str
    description: str
    apply: Callable[[Catalogue, Unit, Period, FilledForm, FormLayout], Period | None]


def _cell(layout: FormLayout, key: str, column: str) -> str:
    return a1(layout.rows[key], COLUMNS[column][0])


def _text_numbers(cat, unit, period, filled, layout):
    filled.set(_cell(layout, "1.2", "month"), "1.234")
    filled.set(_cell(layout, "4.8", "ytd"), filled.values[_cell(layout, "4.7", "ytd")] + 5)


def _missing_and_unexplained(cat, unit, period, filled, layout):
    filled.values.pop(_cell(layout, "2.1", "month"))
    filled.set(_cell(layout, "T3", "assessment"), "Không đạt")
    filled.set(_cell(layout, "T3", "note"), "")


def _contradiction(cat, unit, period, filled, layout):
    docs = filled.values[_cell(layout, "4.7", "month")]
    filled.set(_cell(layout, "4.8", "month"), docs - 3)
    filled.set(_cell(layout, "4.8", "ytd"), filled.values[_cell(layout, "4.8", "ytd")] - 3)


def _wrong_period(cat, unit, period, filled, layout):
    return period.previous()


def _formula_text_note(cat, unit, period, filled, layout):
    filled.set(_cell(layout, "T7", "note"), '=HYPERLINK("http://example.invalid","Bấm vào đây")')


MISTAKES = (
    Mistake("TTRA", "số nhập dạng chữ “1.234”; số văn bản ký số lũy kế lớn hơn số văn bản phát hành", _text_numbers),
    Mistake("QLCL", "bỏ trống số buổi tuyên truyền; nội dung 3 tự đánh giá Không đạt nhưng không giải trình",
            _missing_and_unexplained),
    Mistake("KHTC", "tự đánh giá Đạt nội dung 4 trong khi số văn bản ký số chưa đạt 100%", _contradiction),
    Mistake("TTSH", "gửi nhầm biểu của kỳ trước", _wrong_period),
)
#: Correct files that carry something unusual but valid.
QUIRKS = (Mistake("BQLDA", "ghi chú bắt đầu bằng dấu “=” (phải giữ nguyên là chữ)", _formula_text_note),)


@dataclass
class DemoResult:
    forms: list[Path] = field(default_factory=list)
    inbox: list[Path] = field(default_factory=list)
    mistakes: dict[str, str] = field(default_factory=dict)


def make_inbox(cat: Catalogue, period: Period, forms_dir: Path, inbox: Path, progress=None) -> DemoResult:
    """Blank forms in ``forms_dir`` and filled sample files in ``inbox`` (a few with deliberate mistakes)."""
    result = DemoResult()
    result.forms = write_forms(cat, period, forms_dir)
    layout = FormLayout.for_catalogue(cat)
    planted = {m.unit: m for m in (*MISTAKES, *QUIRKS)}
    inbox.mkdir(parents=True, exist_ok=True)
    for unit in cat.units:
        file_period = period
        filled = sample_fill(cat, unit, period)
        mistake = planted.get(unit.code)
        if mistake:
            file_period = mistake.apply(cat, unit, period, filled, layout) or period
            if mistake in MISTAKES:
                result.mistakes[unit.code] = mistake.description
        blank = forms_dir / file_name(unit.code, str(file_period))
        if not blank.exists():
            write_forms(cat, file_period, forms_dir, [unit.code])
            blank = forms_dir / file_name(unit.code, str(file_period))
        # A unit that sent last month's form keeps last month's name on it, as happens in practice.
        out = inbox / file_name(unit.code, str(period))
        result.inbox.append(fill_form(blank, out, filled))
        if blank.parent == forms_dir and file_period != period:
            blank.unlink()
        if progress:
            progress(unit)
    return result


def run_demo(out_dir: Path, period: Period, say: Callable[[str], None] = print) -> DemoResult:
    """Run every stage that exists on the bundled sample data, writing into ``out_dir``."""
    cat = default_catalogue()
    out_dir = Path(out_dir)
    say(f"[bold]Chạy thử ThiDua 2024 — {period.label}[/] → {escape(str(out_dir))}")
    result = make_inbox(cat, period, out_dir / "forms", out_dir / "inbox")
    say(f"• Biểu trắng: {len(result.forms)} tệp trong {escape(str(out_dir / 'forms'))}")
    say(f"• Biểu đã điền mẫu: {len(result.inbox)} tệp trong {escape(str(out_dir / 'inbox'))}")
    for unit, text in result.mistakes.items():
        say(f"    – {unit}: cố ý có lỗi: {text}")
    # Validation: every inbox file against the seven targets; a return package for each file with findings.
    report = validate_report(result.inbox, cat, period, return_dir=out_dir / "tra-lai")
    s = report.summary()
    say(f"• Kiểm tra: {s['valid']}/{s['files']} tệp hợp lệ; {s['errors']} lỗi, {s['warnings']} cảnh báo; "
        f"{len(report.return_packages)} tệp trả lại trong {out_dir / 'tra-lai'}")
    for r in report.results:
        if not r.valid:
            codes = ", ".join(f"{f.code} {f.cell or ''}".strip() for f in r.errors)
            say(f"    – {escape(r.unit or '?')} ({escape(r.path.name)}): {len(r.errors)} lỗi, {len(r.warnings)} cảnh "
                f"báo: {escape(codes)}")
    # Consolidation: the inbox into the ledger and the master workbook. The sample files get plausible "received"
    # times (their mtime): the day the form was prepared, one unit after the deadline.
    deadline = cat.organisation(period.first_day).deadline(period.year, period.month)
    for path in result.inbox:
        late = path.name.endswith("_QLVT.xlsx")
        day = deadline + dt.timedelta(days=2) if late else min(period.last_day, dt.date(period.year, period.month, 20))
        stamp = dt.datetime.combine(day, dt.time(16, 30)).timestamp()
        os.utime(path, (stamp, stamp))
    master = out_dir / f"tong-hop-{period}.xlsx"
    done = consolidate(out_dir / "inbox", period, cat, ledger=out_dir / "ledger.sqlite", out=master)
    counts = done.counts()
    say(f"• Tổng hợp: {len(done.summary.current)} tệp được dùng, {len(done.summary.rejected)} tệp bị trả lại; "
        + ", ".join(f"{STATUS_VI[k]} {n}" for k, n in counts.items()))
    say(f"    – Sổ theo dõi: {escape(str(done.ledger))}")
    say(f"    – Bảng tổng hợp: {escape(str(master))}")
    # The monthly sơ kết report for Sở Xây dựng, its appendix, and the PDF when LibreOffice is installed.
    files = write_report(load_period(done.ledger, period, cat), cat, "so-ket", out_dir / "bao-cao",
                         report_date=deadline + dt.timedelta(days=5), pdf=soffice() is not None)
    say(f"• Báo cáo sơ kết: {escape(str(files.docx))}")
    say(f"    – Phụ lục: {escape(str(files.appendix))}")
    if files.pdf:
        say(f"    – Bản PDF: {escape(str(files.pdf))}")
    for warning in files.warnings:
        say(f"    – Cảnh báo: {escape(warning)}")
    return result
