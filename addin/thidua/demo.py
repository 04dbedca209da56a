"""The demo: every stage that exists, run on bundled sample data."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from rich.markup import escape

from .catalogue import Catalogue, Unit, default_catalogue
from .consolidate import consolidate, load_period
from .form import write_forms
from .layout import COLUMNS, FormLayout, a1, file_name
from .ledger import DEFAULT_NAME
from .model import DUE_STATUSES, LATE, MISSING, ON_TIME, REJECTED, STATUS_VI
from .office import soffice
from .period import Period, Span
from .report import load_span, write_report
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


# ----------------------------------------------------------------------------------------------------------------------
# The year, replayed


@dataclass
class YearDemo:
    """Where the replayed year lives: one inbox per month under the year's folder, one ledger for the year."""

    root: Path
    catalogue: Catalogue
    events: list[str] = field(default_factory=list)

    @property
    def ledger(self) -> Path:
        return self.root / DEFAULT_NAME

    def inbox(self, month: Period) -> Path:
        return self.root / str(month)

    def blank(self, unit: str, month: Period) -> Path:
        folder = self.root / "bieu-mau" / str(month)
        path = folder / file_name(unit, str(month))
        if not path.exists():
            write_forms(self.catalogue, month, folder)
        return path

    def send(self, unit: str, month: Period, day: dt.date, *, name: str | None = None, into: Period | None = None,
             change: Callable[[FilledForm, FormLayout], None] | None = None) -> Path:
        """Unit ``unit`` fills in its form of ``month`` and the secretary saves it on ``day`` into the inbox of
        ``into`` (default: the same month)."""
        filled = sample_fill(self.catalogue, self.catalogue.unit(unit), month)
        if change is not None:
            change(filled, FormLayout.for_catalogue(self.catalogue))
        out = self.inbox(into or month) / (name or file_name(unit, str(month)))
        out.parent.mkdir(parents=True, exist_ok=True)
        fill_form(self.blank(unit, month), out, filled)
        touch(out, day)
        return out


def touch(path: Path, day: dt.date, hour: int = 16) -> None:
    stamp = dt.datetime.combine(day, dt.time(hour, 30)).timestamp()
    os.utime(path, (stamp, stamp))


def _bump_ytd(codes: tuple[str, ...], by: int) -> Callable[[FilledForm, FormLayout], None]:
    def change(filled: FilledForm, layout: FormLayout) -> None:
        for code in codes:
            ref = _cell(layout, code, "ytd")
            filled.set(ref, filled.values[ref] + by)
    return change


def _note(text: str) -> Callable[[FilledForm, FormLayout], None]:
    def change(filled: FilledForm, layout: FormLayout) -> None:
        filled.set(_cell(layout, "7.5", "note"), text)
    return change


def _text_number(filled: FilledForm, layout: FormLayout) -> None:
    filled.set(_cell(layout, "2.1", "month"), "2 buổi")


def email_file(path: Path, unit_name: str, sent: dt.datetime) -> Path:
    """Wrap a unit's file into an e-mail saved as ``.eml`` (as Outlook or Thunderbird save one), then remove it."""
    message = EmailMessage()
    message["From"] = f"{unit_name} <vanthu@example.invalid>"
    message["To"] = "Văn phòng Sở <vanphong@example.invalid>"
    message["Subject"] = f"Báo cáo thi đua {path.stem}"
    message["Date"] = format_datetime(sent)
    message.set_content("Kính gửi Văn phòng Sở, đơn vị gửi báo cáo thi đua tháng theo biểu mẫu đính kèm.")
    message.add_attachment(path.read_bytes(), maintype="application",
                           subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=path.name)
    eml = path.with_name(f"Thu-{path.stem}.eml")
    eml.write_bytes(bytes(message))
    path.unlink()
    return eml


def zip_file(path: Path) -> Path:
    packed = path.with_suffix(".zip")
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, path.name)
    path.unlink()
    return packed


def _month_events(year: YearDemo, month: Period) -> None:
    """The files of one month before the period, with the events of a real year sprinkled in
    (:func:`_special_events`)."""
    cat = year.catalogue
    deadline = cat.organisation(month.first_day).deadline(month.year, month.month)
    usual = min(month.last_day, dt.date(month.year, month.month, 20))
    skip = {"TTDK"} if month.month == 4 else set()
    special = {3: {"TTRA"}, 5: {"KHTC"}, 7: {"BQLDA"}, 8: {"TTSH"}, 9: {"QLKCHT"}}.get(month.month, set())
    for unit in cat.units:
        code = unit.code
        if code in skip or code in special:
            continue
        late = code == "QLVT" and month.month in (2, 5, 11)
        change = _bump_ytd(("4.7", "4.8"), 100) if (code, month.month) == ("KHTC", 4) else None
        year.send(code, month, deadline + dt.timedelta(days=2) if late else usual, change=change)
    _special_events(year, month, deadline, usual)


def _special_events(year: YearDemo, month: Period, deadline: dt.date, usual: dt.date) -> None:
    cat = year.catalogue
    m = month.month
    if m == 2:
        year.events.append(f"{month.label}: QLVT nộp sau hạn ({_fmt(deadline + dt.timedelta(days=2))}).")
    if m == 3:
        year.send("TTRA", month, usual - dt.timedelta(days=2), name="ThiDua_2024-03_TTRA.xlsx", change=_text_number)
        year.send("TTRA", month, deadline - dt.timedelta(days=1), name="ThiDua_2024-03_TTRA (sửa).xlsx")
        year.events.append(f"{month.label}: TTRA gửi biểu có “2 buổi” trong ô số → bị trả lại; gửi bản sửa trước hạn "
                           "→ đúng hạn.")
    if m == 4:
        year.events.append(f"{month.label}: TTDK không nộp báo cáo (lũy kế của TTDK lấy theo tháng 03).")
        year.send("QLCL", month.previous(), dt.date(month.year, 4, 22), into=month,
                  change=_note("Bổ sung: mô hình “Một cửa số” tại bộ phận tiếp nhận"))
        year.events.append(f"{month.label}: QLCL gửi bản sửa báo cáo tháng 03 vào hộp thư tháng 04 → ghi cho tháng "
                           "03, tháng 03 vẫn đúng hạn.")
        year.events.append(f"{month.label}: KHTC ghi nhầm lũy kế chỉ tiêu 4.7, 4.8 (thừa 100).")
    if m == 5:
        year.send("KHTC", month, usual)
        year.events.append(f"{month.label}: KHTC báo lũy kế 4.7 thấp hơn tháng 04 → bị trả lại; QLVT nộp sau hạn.")
    if m == 6:
        year.send("KHTC", month.previous().previous(), dt.date(month.year, 6, 10), into=month)
        year.events.append(f"{month.label}: KHTC sửa báo cáo tháng 04 → báo cáo tháng 05 bị trả lại được kiểm tra "
                           "lại và được dùng, không phải xóa gì.")
        first = year.inbox(month) / file_name("VP", str(month))
        (year.inbox(month) / f"{first.stem} (1).xlsx").write_bytes(first.read_bytes())
        touch(year.inbox(month) / f"{first.stem} (1).xlsx", usual)
        year.events.append(f"{month.label}: VP gửi cùng một tệp hai lần → chỉ dùng một bản, ghi nhận thông tin.")
    if m == 7:
        year.send("BQLDA", month, usual - dt.timedelta(days=1))
        year.send("BQLDA", month, deadline + dt.timedelta(days=2), name="ThiDua_2024-07_BQLDA (bổ sung).xlsx",
                  change=_note("Bổ sung minh chứng: ảnh, biên bản"))
        year.events.append(f"{month.label}: BQLDA gửi bản bổ sung sau hạn → dùng bản mới, tháng vẫn đúng hạn.")
    if m == 8:
        path = year.send("TTSH", month, deadline + dt.timedelta(days=3))
        sent = dt.datetime.combine(deadline - dt.timedelta(days=2), dt.time(9, 15)).astimezone()
        eml = email_file(path, cat.unit("TTSH").name, sent)
        touch(eml, deadline + dt.timedelta(days=3))
        year.events.append(f"{month.label}: TTSH gửi thư điện tử ngày {_fmt(sent.date())}, Văn phòng lưu thư ngày "
                           f"{_fmt(deadline + dt.timedelta(days=3))} → tính theo ngày gửi thư: đúng hạn.")
    if m == 9:
        packed = zip_file(year.send("QLKCHT", month, usual))
        touch(packed, usual)
        year.events.append(f"{month.label}: QLKCHT gửi biểu trong tệp nén .zip.")


def _fmt(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def run_demo(out_dir: Path, period: Period, say: Callable[[str], None] = print) -> DemoResult:
    """Replay the year up to ``period`` on the bundled sample data, in the year's folder layout (one inbox per month
    under ``out_dir``, one ledger for the year beside them), then validate the period's inbox, consolidate it and
    write the report: the sơ kết, or in December the tổng kết."""
    cat = default_catalogue()
    out_dir = Path(out_dir)
    year = YearDemo(out_dir, cat)
    say(f"[bold]Chạy thử ThiDua 2024 — từ tháng 01 đến {period.label}[/] → {escape(str(out_dir))}")
    months = [m for m in period.months_of_year() if cat.is_due(str(m))]
    for month in months[:-1]:
        _month_events(year, month)
        done = consolidate(year.inbox(month), month, cat, ledger=year.ledger, write=False,
                           return_dir=out_dir / "tra-lai" / str(month))
        c = done.counts()
        say(f"• {month.label}: {len(done.summary.new)} tệp mới, {len(done.summary.current)} được dùng, "
            f"{len(done.summary.rejected)} bị trả lại" + (f", {len(done.summary.rechecked)} kiểm tra lại"
                                                          if done.summary.rechecked else "")
            + f"; đúng hạn {c[ON_TIME]}, trễ hạn {c[LATE]}, chưa nộp {c[MISSING]}, bị trả lại {c[REJECTED]}")
    # The period itself: blank forms for every unit, filled samples with the typical mistakes.
    inbox = year.inbox(period)
    result = make_inbox(cat, period, out_dir / "bieu-mau" / str(period), inbox)
    usual = min(period.last_day, dt.date(period.year, period.month, 20))
    deadline = cat.organisation(period.first_day).deadline(period.year, period.month)
    for path in result.inbox:
        late = path.name.endswith("_QLVT.xlsx")
        touch(path, deadline + dt.timedelta(days=2) if late else usual)
    if period.month == 9:
        packed = zip_file(inbox / file_name("QLKCHT", str(period)))
        touch(packed, usual)
        result.inbox = [p if p.exists() else packed for p in result.inbox]
        year.events.append(f"{period.label}: QLKCHT gửi biểu trong tệp nén .zip.")
    for text in year.events:
        say(f"    – {escape(text)}")
    say(f"• Biểu trắng {period.label}: {len(result.forms)} tệp trong {escape(str(out_dir / 'bieu-mau' / str(period)))}")
    say(f"• Biểu đơn vị gửi về {period.label}: {len(result.inbox)} tệp trong {escape(str(inbox))}")
    for unit, text in result.mistakes.items():
        say(f"    – {unit}: cố ý có lỗi: {text}")
    # Validation: exactly the checks consolidate runs, against the earlier months in the ledger (read only).
    returns = out_dir / "tra-lai" / str(period)
    report = validate_report([inbox], cat, period, return_dir=returns, ledger=year.ledger)
    s = report.summary()
    say(f"• Kiểm tra: {s['valid']}/{s['files']} tệp hợp lệ; {s['errors']} lỗi, {s['warnings']} cảnh báo; "
        f"{len(report.return_packages)} tệp trả lại trong {escape(str(returns))}")
    for r in report.results:
        if not r.valid:
            codes = ", ".join(f"{f.code} {f.cell or ''}".strip() for f in r.errors)
            say(f"    – {escape(r.unit or '?')} ({escape(r.path.name)}): {len(r.errors)} lỗi, {len(r.warnings)} cảnh "
                f"báo: {escape(codes)}")
    master = out_dir / f"tong-hop-{period}.xlsx"
    done = consolidate(inbox, period, cat, ledger=year.ledger, out=master)
    counts = done.counts()
    say(f"• Tổng hợp {period.label}: {len(done.summary.current)} tệp được dùng, {len(done.summary.rejected)} tệp bị "
        "trả lại; " + ", ".join(f"{STATUS_VI[k]} {counts[k]}" for k in DUE_STATUSES))
    say(f"    – Sổ theo dõi của cả năm: {escape(str(done.ledger))}")
    say(f"    – Bảng tổng hợp: {escape(str(master))}")
    # The sơ kết of the month; in June the 6-month sơ kết the Khối asks for; in December the year's tổng kết.
    kind = "tong-ket" if period.month == 12 else "so-ket"
    if period.month in (6, 12):
        span = Span.year_to(period) if kind == "tong-ket" else Span.parse(f"{period.year}-H1")
        data = load_span(done.ledger, span, cat)
    else:
        data = load_period(done.ledger, period, cat)
    files = write_report(data, cat, kind, out_dir / "bao-cao", report_date=deadline + dt.timedelta(days=5),
                         pdf=soffice() is not None)
    say(f"• Báo cáo {'tổng kết năm' if kind == 'tong-ket' else 'sơ kết'}: {escape(str(files.docx))}")
    say(f"    – Phụ lục: {escape(str(files.appendix))}")
    if files.pdf:
        say(f"    – Bản PDF: {escape(str(files.pdf))}")
    for warning in files.warnings:
        say(f"    – Cảnh báo: {escape(warning)}")
    return result
