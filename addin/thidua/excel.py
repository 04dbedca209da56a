"""The Excel bridge: the functions the buttons of ``ThiDua2024.xlsm`` run.

Each button's macro is one line, ``RunPython "import thidua.xlentry as x; x.consolidate()"``: :mod:`thidua.xlentry`
(standard library only) imports this module and turns even an import failure into a message. Each entry point here reads
its settings from the caller workbook (by the workbook-level names ``TD_Inbox``, ``TD_Period``, … of the control
sheet, never by position), calls the same library function as the command line, writes the results back (one bulk
write per table) and leaves a Vietnamese message in the status cell ``TD_Status``. Expected problems (a missing
folder, an invalid period, nothing to consolidate, a locked file) become a clear message in the status cell and a
message box, never a traceback; an unexpected error says where its details were logged. Every failure, whatever the
step (reaching the workbook, the first status write, the library call), ends the same way: one Vietnamese message box,
one line in the log under the install folder (:func:`thidua.xlentry.log_file`), and nothing half-written (a failed
action's sheet writes are discarded before the status is saved). The Excel status bar shows progress. The bridge
refuses a workbook opened from a temporary folder (an e-mail attachment, a download cache) and warns when the ledger
is on a network share.

The workbook is reached through a small interface, :class:`WorkbookInterface`, with two implementations:

- :class:`LiveBook` over xlwings, for the buttons (``xw.Book.caller()``);
- :class:`FileBook` over a file (openpyxl ``keep_vba=True`` through :class:`thidua.sink.OpenpyxlSink`), for tests
  and for running an action without Excel: :func:`run` (``thidua.excel.run("consolidate", "ThiDua2024.xlsm")``), or
  ``with bound(path): ...`` around any code that calls the entry points.

From plain Python with Excel (xlwings' convention)::

    python -m thidua.excel consolidate ThiDua2024.xlsm          # xw.Book(...).set_mock_caller(); consolidate()
    python -m thidua.excel --file consolidate ThiDua2024.xlsm   # the same action on the file, no Excel needed
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import subprocess
import sys
import traceback
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import xlentry
from .catalogue import Catalogue, default_catalogue, load_catalogue
from .errors import ThiDuaError
from .period import Period, Span
from .workbook import KIND_SO_KET, KIND_TONG_KET, SETTINGS, SHEET_CONTROL, SHEET_FINDINGS, STATUS_NAME

LABELS = {s.name: s.label for s in SETTINGS}
FORMS_DIR, RETURNS_DIR, REPORTS_DIR = "bieu", "tra-lai", "bao-cao"
TITLE = "ThiDua 2024"


# ----------------------------------------------------------------------------------------------------------------------
# The workbook interface and its two implementations


class WorkbookInterface(Protocol):
    """What the entry points need from the caller workbook."""

    sink: Any  # a thidua.sink.SheetSink writing into this workbook (for thidua.master.write_master)

    def read_setting(self, name: str) -> Any: ...

    def write_status(self, text: str) -> None: ...

    def write_table(self, sheet: str, header: list[str], rows: list[list[Any]], **options: Any) -> None: ...

    def alert(self, text: str, *, warning: bool = False) -> None: ...

    def progress(self, text: str | None) -> None: ...

    def open_folder(self, path: Path) -> None: ...

    def folder(self) -> Path | None: ...

    def save(self) -> None: ...

    def discard(self) -> None: ...


class BrokenInstall(ThiDuaError):
    """A package the bridge needs cannot be imported."""


class MissingSetting(ThiDuaError):
    """The workbook has no cell of that name (an older or edited workbook)."""


def _missing_name(name: str) -> ThiDuaError:
    return MissingSetting(f"Bảng tính thiếu ô thiết lập “{LABELS.get(name, name)}” (tên {name}). Hãy dùng bản "
                       "ThiDua2024.xlsm mới nhất.")


class LiveBook:
    """The workbook open in Excel, through xlwings."""

    def __init__(self, book: Any):
        from .xlsink import XlwingsSink

        self.book = book
        self.sink = XlwingsSink(book)

    def _range(self, name: str) -> Any:
        try:
            return self.book.names[name].refers_to_range
        except Exception:
            raise _missing_name(name) from None

    def read_setting(self, name: str) -> Any:
        return self._range(name).value

    def write_status(self, text: str) -> None:
        self._range(STATUS_NAME).value = "'" + text

    def write_table(self, sheet: str, header: list[str], rows: list[list[Any]], **options: Any) -> None:
        self.sink.write_table(sheet, header, rows, **options)

    def alert(self, text: str, *, warning: bool = False) -> None:
        try:
            self.book.app.alert(text, title=TITLE, mode="info" if warning else "critical")
        except Exception:  # Excel busy or gone: a message box without xlwings
            xlentry.show_message(text, warning=warning)

    def progress(self, text: str | None) -> None:
        """Excel's status bar: ``text``, or back to Excel's own with None (cosmetic: never fails the action)."""
        with contextlib.suppress(Exception):
            self.book.app.status_bar = f"{TITLE}: {text}" if text else False

    def open_folder(self, path: Path) -> None:
        open_in_file_manager(path)

    def folder(self) -> Path | None:
        """The workbook's folder; None when it is not known (OneDrive/SharePoint reports a web address, which xlwings
        maps to the synced folder when it can and fails otherwise)."""
        try:
            full = str(self.book.fullname)
        except Exception:
            return None
        return Path(full).parent if full and "://" not in full else None

    def save(self) -> None:
        """Save the open workbook in place (Excel's own Save); raises when Excel cannot (read-only, Protected View)."""
        self.book.save()

    def discard(self) -> None:
        """Nothing to undo in Excel: the master sheets are written only after everything was computed."""


class FileBook:
    """A macro workbook file: read and written with openpyxl ``keep_vba=True`` (through OpenpyxlSink, the same writer
    as ``thidua consolidate --workbook``). Nothing is shown: alerts and opened folders are recorded."""

    def __init__(self, path: Path | str):
        from .sink import OpenpyxlSink

        self.path = Path(path)
        self.sink = OpenpyxlSink(self.path, keep_vba=True)
        self.wb = self.sink.wb
        self.alerts: list[str] = []
        self.warnings: list[str] = []
        self.progress_shown: list[str | None] = []
        self.opened: list[Path] = []
        self.clean = False  # saved and not written since (bound() then need not save again: no second backup)

    def _cell(self, name: str) -> Any:
        defined = self.wb.defined_names.get(name)
        if defined is None:
            raise _missing_name(name)
        for sheet, ref in defined.destinations:
            return self.wb[sheet][ref.replace("$", "").split(":")[0]]
        raise _missing_name(name)

    def read_setting(self, name: str) -> Any:
        return self._cell(name).value

    def write_status(self, text: str) -> None:
        self.clean = False
        cell = self._cell(STATUS_NAME)
        cell.value = text
        cell.data_type = "s"  # text, even when it starts with "="

    def write_table(self, sheet: str, header: list[str], rows: list[list[Any]], **options: Any) -> None:
        self.clean = False
        self.sink.write_table(sheet, header, rows, **options)

    def alert(self, text: str, *, warning: bool = False) -> None:
        (self.warnings if warning else self.alerts).append(text)

    def progress(self, text: str | None) -> None:
        self.progress_shown.append(text)

    def open_folder(self, path: Path) -> None:
        self.opened.append(path)

    def folder(self) -> Path | None:
        return self.path.resolve().parent

    def save(self) -> None:
        self.sink.save()  # the sink keeps each replaced sheet's VBA code name
        self.clean = True

    def discard(self) -> None:
        """Forget every change not saved yet (a failed action's sheets): reload the file."""
        from .sink import OpenpyxlSink

        self.sink = OpenpyxlSink(self.path, keep_vba=True)
        self.wb = self.sink.wb
        self.clean = False


def open_in_file_manager(path: Path) -> None:
    """Show a folder in the file manager of this computer."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    try:
        subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        raise ThiDuaError(f"Không mở được thư mục trên máy này; thư mục kết quả là “{path}”.") from None


_BOUND: list[WorkbookInterface] = []


@contextlib.contextmanager
def bound(workbook: WorkbookInterface | Path | str) -> Iterator[WorkbookInterface]:
    """Make the entry points use ``workbook`` (a :class:`FileBook` for a path) instead of ``xw.Book.caller()``;
    a FileBook is saved when the block ends."""
    book = workbook if not isinstance(workbook, (str, Path)) else FileBook(workbook)
    _BOUND.append(book)
    try:
        yield book
    finally:
        _BOUND.remove(book)
        if isinstance(workbook, (str, Path)) and not book.clean:
            book.save()


def caller() -> WorkbookInterface:
    """The workbook whose button was pressed: the bound one, else ``xw.Book.caller()``."""
    if _BOUND:
        return _BOUND[-1]
    try:
        import xlwings as xw
    except Exception as exc:  # not installed, or its DLLs do not load: an install problem, said as such
        raise BrokenInstall(xlentry.import_failure(exc)) from exc
    return LiveBook(xw.Book.caller())


# ----------------------------------------------------------------------------------------------------------------------
# Settings


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", str(value)).strip().strip('"').strip()


@dataclass
class Settings:
    """The control sheet's settings, read on demand, each refused with a message naming its cell."""

    book: WorkbookInterface
    _catalogue: Catalogue | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)

    def progress(self, text: str) -> None:
        self.book.progress(text)

    def problem(self, name: str, problem: str) -> ThiDuaError:
        return ThiDuaError(f"Ô “{LABELS[name]}” trên trang “{SHEET_CONTROL}”: {problem}")

    def period(self) -> Period:
        """The month of the control sheet's period cell (``2024-09``)."""
        return self._period_cell(Period.parse, lambda month: month, "dạng NNNN-TT, ví dụ 2024-09")

    def span(self) -> Span:
        """The report's span from the same cell: a month ``2024-09``, a quarter ``2024-Q3``, a half-year ``2024-H1``
        or a year ``2024`` (as ``thidua report --period``)."""
        return self._period_cell(Span.parse, Span.of_month, "ví dụ 2024-09, 2024-H1 hoặc 2024")

    def _period_cell(self, parse: Callable[[str], Any], of_month: Callable[[Period], Any], example: str) -> Any:
        value = self.book.read_setting("TD_Period")
        if isinstance(value, (dt.date, dt.datetime)):  # Excel turned "2024-09" into a date
            return of_month(Period(value.year, value.month))
        text = _text(value)
        if not text:
            raise self.problem("TD_Period", f"chưa nhập kỳ báo cáo ({example}).")
        try:
            return parse(text)
        except ThiDuaError as exc:
            raise self.problem("TD_Period", exc.message) from None

    def kind(self) -> str:
        from .report_text import SO_KET, TONG_KET

        text = _text(self.book.read_setting("TD_Kind")).casefold()
        kinds = {KIND_SO_KET: SO_KET, KIND_TONG_KET: TONG_KET, SO_KET: SO_KET, TONG_KET: TONG_KET}
        if text not in kinds:
            raise self.problem("TD_Kind", f"chỉ chọn “{KIND_SO_KET}” hoặc “{KIND_TONG_KET}” (đang là “{text}”).")
        return kinds[text]

    def path(self, name: str, *, required: bool = True) -> Path | None:
        try:
            text = _text(self.book.read_setting(name))
        except MissingSetting:
            if required:
                raise
            text = ""
        if not text:
            if not required:
                return None
            raise self.problem(name, "chưa điền đường dẫn.")
        path = Path(os.path.expandvars(os.path.expanduser(text)))
        if not path.is_absolute():
            base = self.book.folder()
            if base is None:
                raise self.problem(name, f"“{text}” là đường dẫn tương đối, nhưng bảng tính đang mở từ OneDrive/"
                                          "SharePoint (địa chỉ web) nên không biết thư mục gốc. Hãy ghi đường dẫn "
                                          "đầy đủ, ví dụ C:\\ThiDua-2024\\2024-09.")
            path = base / path
        return path

    def inbox(self) -> Path:
        """The month's inbox: TD_Inbox, or, left empty, the folder named after the period beside the workbook
        (``2024-09``): one inbox per month under the year's folder, as the README's layout and the CLI have it."""
        text = _text(self.book.read_setting("TD_Inbox"))
        if text:
            return self.folder("TD_Inbox")
        base = self.book.folder()
        if base is None:
            raise self.problem("TD_Inbox", "bảng tính đang mở từ OneDrive/SharePoint (địa chỉ web): hãy ghi đường dẫn "
                                           "đầy đủ của hộp thư đến, ví dụ C:\\ThiDua-2024\\2024-09.")
        inbox = base / str(self.period())
        if not inbox.is_dir():
            raise self.problem("TD_Inbox", f"chưa có thư mục hộp thư của kỳ “{inbox}”: hãy tạo thư mục mang tên kỳ "
                                           "báo cáo cạnh bảng tính và lưu các tệp đơn vị gửi về vào đó.")
        return inbox

    def folder(self, name: str) -> Path:
        path = self.path(name)
        assert path is not None
        if not path.is_dir():
            what = "không phải thư mục" if path.exists() else "không tìm thấy thư mục"
            raise self.problem(name, f"{what} “{path}”.")
        return path

    def output(self) -> Path:
        path = self.path("TD_Output")
        assert path is not None
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.problem("TD_Output", f"không tạo được thư mục “{path}” ({exc.strerror or exc}).") from None
        return path

    def ledger(self, *, must_exist: bool = False) -> Path:
        path = self.path("TD_Ledger")
        assert path is not None
        if must_exist and not path.is_file():
            raise self.problem("TD_Ledger", f"chưa có sổ theo dõi “{path}”. Hãy bấm “Tổng hợp” trước.")
        warning = NETWORK_LEDGER.format(path=path) if network_share(path) else None
        if warning and warning not in self.warnings:
            self.warnings.append(warning)
        return path

    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            units = self.path("TD_Units", required=False)
            if units is not None and not units.is_file():
                raise self.problem("TD_Units", f"không tìm thấy tệp danh sách đơn vị “{units}”.")
            self._catalogue = load_catalogue(units=units) if units else default_catalogue()
        return self._catalogue


# ----------------------------------------------------------------------------------------------------------------------
# Where the workbook and the ledger are

#: Folders a workbook is in when it was opened straight from an e-mail or a download, not saved first: outputs written
#: beside it would vanish with the cache. Matched on the path's parts (Windows is case-insensitive).
TEMPORARY_MARKERS = ("inetcache", "temporary internet files", "content.outlook", "content.mso", "olk")
TEMPORARY_LOCATION = ("Bảng tính đang được mở từ thư mục tạm “{folder}” (tệp đính kèm thư điện tử hoặc tệp vừa tải "
                      "về), nên kết quả ghi ra sẽ mất. Hãy lưu bảng tính vào thư mục cài đặt (ví dụ C:\\ThiDua2024) "
                      "bằng Tệp › Lưu Như (File › Save As), mở bản đã lưu rồi bấm lại.")
NETWORK_LEDGER = ("Cảnh báo: sổ theo dõi “{path}” nằm trên ổ mạng dùng chung. Tệp sổ (SQLite) có thể hỏng khi ghi qua "
                  "mạng; hãy để sổ trên ổ đĩa của máy này (ví dụ C:\\ThiDua2024) và sao lưu định kỳ lên ổ mạng.")
DRIVE_REMOTE = 4  # GetDriveTypeW: a mapped network drive


def _folded(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").casefold()


def temporary_location(folder: Path | str, env: dict[str, str] | None = None) -> bool:
    """Whether ``folder`` is a temporary folder: under %TEMP% / %TMP%, or in a download or attachment cache
    (INetCache, Content.Outlook, the new Outlook's attachment folder)."""
    env = dict(os.environ) if env is None else env
    path = _folded(str(folder))
    roots = [_folded(env[k]) for k in ("TEMP", "TMP") if env.get(k)]
    if any(path == root or path.startswith(root + "/") for root in roots):
        return True
    return any(part in TEMPORARY_MARKERS for part in path.split("/"))


def _drive_type(root: str) -> int | None:
    """GetDriveTypeW of a drive root on Windows; None elsewhere."""
    if sys.platform != "win32":
        return None
    import ctypes

    return int(ctypes.windll.kernel32.GetDriveTypeW(root))  # type: ignore[attr-defined]


def network_share(path: Path | str) -> bool:
    """Whether ``path`` is on a network share: a UNC path (\\\\server\\share) or a mapped network drive."""
    text = str(path)
    if text.startswith(("\\\\", "//")):
        return True
    anchor = Path(text).anchor
    if not anchor:
        return False
    try:
        return _drive_type(anchor) == DRIVE_REMOTE
    except Exception:
        return False


# ----------------------------------------------------------------------------------------------------------------------
# Entry points


@dataclass
class Outcome:
    """What one button press did: its status message, and whether it succeeded."""

    ok: bool
    message: str


def _oserror(exc: OSError) -> str:
    where = f" “{exc.filename}”" if getattr(exc, "filename", None) else ""
    return f"không đọc/ghi được tệp{where}: {exc.strerror or exc}. Nếu tệp đang mở (Excel, Word), hãy đóng rồi bấm lại."


CALLER_FAILED = ("Lỗi: chương trình không kết nối được với bảng tính đang mở ({error}). Hãy đóng các hộp thoại "
                 "đang mở trong Excel, lưu bảng tính rồi bấm lại.")
STATUS_FAILED = ("Lỗi: không ghi được vào ô TRẠNG THÁI trên trang “{sheet}” ({error}); chưa làm gì. Nếu trang đang "
                 "được bảo vệ, hãy bỏ bảo vệ (Xem lại › Bỏ bảo vệ Trang tính — Review › Unprotect Sheet); nếu đang "
                 "sửa một ô, hãy bấm Enter rồi bấm lại nút.")
NOT_SAVED = (" Chưa lưu được bảng tính ({error}): hãy bấm Lưu (Ctrl+S) để giữ các trang tổng hợp; nếu Excel mở ở chế "
             "độ chỉ đọc, dùng Tệp › Lưu Như (File › Save As) vào thư mục cài đặt.")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _failed(action: str, message: str, exc: BaseException | None = None) -> str:
    """Log a failure (with the traceback of an unexpected error); return the message, naming the log when written."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if exc is not None else None
    logged = xlentry.log(action, message, details)
    if exc is not None and logged:
        message += f" Chi tiết đã ghi vào “{logged}”; hãy gửi tệp này cho người hỗ trợ kỹ thuật."
    return message


def _run_action(book: WorkbookInterface, action: Callable[[Settings], str]) -> tuple[Outcome, Settings]:
    cfg = Settings(book)
    try:
        folder = book.folder()
        if folder is not None and temporary_location(folder):
            raise ThiDuaError(TEMPORARY_LOCATION.format(folder=folder))
        return Outcome(True, action(cfg)), cfg
    except ThiDuaError as exc:
        message = _failed(action.__name__, f"Lỗi: {exc.message}")
    except ImportError as exc:  # a package imported on demand is missing or broken
        message = _failed(action.__name__, xlentry.import_failure(exc), exc)
    except OSError as exc:
        message = _failed(action.__name__, f"Lỗi: {_oserror(exc)}")
    except Exception as exc:
        message = _failed(action.__name__, f"Lỗi không mong đợi ({_describe(exc)}).", exc)
    try:
        book.discard()  # nothing of a failed action is kept
    except Exception as exc:
        message += " " + _failed(action.__name__, "Không hoàn tác được các thay đổi dở dang.", exc)
    return Outcome(False, message), cfg


def entry_point(busy: str, *, save: bool = False) -> Callable[[Callable[[Settings], str]], Callable[[], Outcome]]:
    """Wrap an action ``(settings) -> success message`` into a button entry point (see the module docstring); with
    ``save`` the workbook is saved after a successful action (or the secretary is told to save it)."""

    def decorate(action: Callable[[Settings], str]) -> Callable[[], Outcome]:
        name = action.__name__

        @functools.wraps(action)
        def entry() -> Outcome:
            try:
                book = caller()
            except BrokenInstall as exc:
                message = _failed(name, exc.message, exc.__cause__)
                xlentry.show_message(message)
                return Outcome(False, message)
            except Exception as exc:
                message = _failed(name, CALLER_FAILED.format(error=_describe(exc)), exc)
                xlentry.show_message(message)
                return Outcome(False, message)
            try:
                book.write_status(busy)
            except Exception as exc:
                message = _failed(name, STATUS_FAILED.format(sheet=SHEET_CONTROL, error=_describe(exc)), exc)
                book.alert(message)
                return Outcome(False, message)
            book.progress(busy)
            try:
                outcome, cfg = _run_action(book, action)
            finally:
                book.progress(None)
            if outcome.ok and cfg.warnings:
                outcome.message = " ".join([outcome.message, *cfg.warnings])
                xlentry.log(name, " ".join(cfg.warnings))
            written = unsaved = False
            if outcome.ok and save:  # the status is written first, so that the saved file carries it
                try:
                    book.write_status(outcome.message + " Đã lưu bảng tính.")
                    book.save()
                    outcome.message += " Đã lưu bảng tính."
                    written = True
                except Exception as exc:
                    outcome.message += NOT_SAVED.format(error=_describe(exc))
                    xlentry.log(name, outcome.message)
                    unsaved = True
            try:
                if not written:
                    book.write_status(outcome.message)
            except Exception as exc:  # the status cell cannot say it: the message box below does
                _failed(name, STATUS_FAILED.format(sheet=SHEET_CONTROL, error=_describe(exc)), exc)
                unsaved = True
            if not outcome.ok:
                book.alert(outcome.message)
            elif cfg.warnings or unsaved:
                book.alert(outcome.message, warning=True)
            return outcome

        return entry

    return decorate


@entry_point("Đang tạo biểu…")
def make_forms(cfg: Settings) -> str:
    """Button “Tạo biểu cho đơn vị”: the period's blank forms of every unit (as ``thidua form``)."""
    from .form import write_forms

    cat, period = cfg.catalogue(), cfg.period()
    out = cfg.output() / FORMS_DIR / str(period)
    cfg.progress(f"Đang tạo biểu của {len(cat.units)} đơn vị…")
    paths = write_forms(cat, period, out)
    return f"Đã tạo {len(paths)} biểu báo cáo {period.label} trong “{out}”."


def _inbox(cfg: Settings) -> tuple[Path, list[Path]]:
    from .consolidate import inbox_files

    inbox = cfg.inbox()
    here = cfg.book.folder()
    if here is not None and here.resolve() == inbox.resolve():
        raise cfg.problem("TD_Inbox", "hộp thư đến không được là thư mục chứa chính bảng tính này; hãy dùng một "
                                       "thư mục riêng, ví dụ “2024-09” (để trống ô này là dùng thư mục mang tên kỳ).")
    return inbox, inbox_files(inbox, exclude=tuple(p for p in (cfg.path("TD_Ledger"),) if p))


@entry_point("Đang kiểm tra các tệp trong hộp thư đến…")
def validate_inbox(cfg: Settings) -> str:
    """Button “Kiểm tra hộp thư đến”: check every file of the inbox (as ``thidua validate --return-dir``), list the
    findings on "Kết quả kiểm tra" and write a return package for each file with findings. The ledger is not
    changed (it is read for the year-to-date history when it exists)."""
    from .ledger import LedgerHistory
    from .master import validation_findings_table
    from .validate import validate_report

    cat, period = cfg.catalogue(), cfg.period()
    inbox, files = _inbox(cfg)
    if not files:
        raise cfg.problem("TD_Inbox", f"thư mục “{inbox}” chưa có tệp biểu nào (.xlsx) để kiểm tra.")
    ledger = cfg.ledger()
    returns = cfg.output() / RETURNS_DIR / str(period)
    history = LedgerHistory(str(ledger)) if ledger.is_file() else None  # read only: validation records nothing
    cfg.progress(f"Đang kiểm tra {len(files)} tệp…")
    report = validate_report(files, cat, period, history, return_dir=returns)
    table = validation_findings_table(report.results, period, cat)
    cfg.progress("Đang ghi trang “Kết quả kiểm tra”…")
    cfg.book.write_table(table.sheet, table.header, table.rows, **table.options)
    message = report.summary_line()
    if report.return_packages:
        message += f" Đã ghi {len(report.return_packages)} tệp trả lại vào “{returns}”."
    return message + f" Chi tiết ở trang “{SHEET_FINDINGS}”."


@entry_point("Đang tổng hợp…", save=True)
def consolidate(cfg: Settings) -> str:
    """Button “Tổng hợp”: validate what is new in the inbox, record it in the ledger and fill the master sheets of this
    workbook (as ``thidua consolidate --workbook``: same library functions, same sheets, same content)."""
    from .consolidate import consolidate as consolidate_inbox
    from .master import write_master

    cat, period = cfg.catalogue(), cfg.period()
    inbox, files = _inbox(cfg)
    ledger = cfg.ledger()
    if not files and not ledger.is_file():
        raise ThiDuaError(f"Chưa có gì để tổng hợp: hộp thư đến “{inbox}” chưa có tệp biểu nào và chưa có sổ theo dõi "
                          f"“{ledger.name}”.")
    cfg.progress(f"Đang kiểm tra và ghi sổ theo dõi ({len(files)} tệp trong hộp thư đến)…")
    returns = cfg.output() / RETURNS_DIR / str(period)
    result = consolidate_inbox(inbox, period, cat, ledger=ledger, write=False, return_dir=returns)
    data = result.data
    if data is None or (data.values.empty and data.status.empty):
        raise ThiDuaError(f"Chưa có gì để tổng hợp cho {period.label}.")
    cfg.progress("Đang điền các trang tổng hợp…")
    write_master(data, cat, cfg.book.sink)
    counts = result.counts()
    s = result.summary
    message = (f"Đã tổng hợp {period.label}: {len(s.new)} tệp mới ({len(s.current)} được dùng, {len(s.rejected)} bị "
               f"trả lại), {len(result.skipped)} tệp đã có trong sổ theo dõi. Đúng hạn {counts['on_time']}, trễ hạn "
               f"{counts['late']}, chưa nộp {counts['missing']}, bị trả lại {counts['rejected']} đơn vị.")
    if s.rechecked:
        message += f" Đã kiểm tra lại {len(s.rechecked)} tệp bị trả lại trước đây."
    if result.unreadable:
        message += f" {len(result.unreadable)} tệp chưa đọc được lúc này (lần sau sẽ đọc lại)."
    if result.return_packages:
        message += f" Đã ghi {len(result.return_packages)} tệp trả lại vào “{returns}”."
    return message


@entry_point("Đang viết báo cáo…")
def write_report(cfg: Settings) -> str:
    """Button “Viết báo cáo”: the sơ kết / tổng kết report (.docx) and its appendix (.xlsx) of the period, from the
    ledger (as ``thidua report``)."""
    from .report import load_span
    from .report import write_report as write_report_files
    from .report_text import KIND_VI, TONG_KET

    cat, span, kind = cfg.catalogue(), cfg.span(), cfg.kind()
    if kind == TONG_KET:  # the year from January, up to the month given (the whole year for "2024" or "2024-12")
        span = Span.year_to(span.last)
    ledger = cfg.ledger(must_exist=True)
    data = load_span(ledger, span, cat)
    if all(month.values.empty for month in data.months):
        raise ThiDuaError(f"Sổ theo dõi chưa có số liệu của {span.label}: hãy bấm “Tổng hợp” trước khi viết báo cáo.")
    out = cfg.output() / REPORTS_DIR
    cfg.progress("Đang viết báo cáo và vẽ biểu đồ (lần đầu trên máy mới có thể mất một hai phút)…")
    files = write_report_files(data, cat, kind, out)
    message = (f"Đã viết báo cáo {KIND_VI[kind].lower()} {span.label}: “{files.docx.name}” và "
               f"“{files.appendix.name}” trong “{out}”.")
    return " ".join([message, *files.warnings])


@entry_point("Đang mở thư mục kết quả…")
def open_output(cfg: Settings) -> str:
    """Button “Mở thư mục kết quả”."""
    out = cfg.output()
    cfg.book.open_folder(out)
    return f"Đã mở thư mục kết quả “{out}”."


ACTIONS: dict[str, Callable[[], Outcome]] = {
    "make_forms": make_forms,
    "validate_inbox": validate_inbox,
    "consolidate": consolidate,
    "write_report": write_report,
    "open_output": open_output,
}


def run(action: str | Callable[[], Outcome], workbook: Path | str) -> Outcome:
    """Run one button's action against a workbook file (no Excel): the file-based implementation of the interface,
    the same action function. The workbook is saved afterwards (with its status message)."""
    func = ACTIONS[action] if isinstance(action, str) else action
    with bound(workbook):
        return func()


def main(argv: list[str] | None = None) -> int:
    """``python -m thidua.excel [--file] ACTION [WORKBOOK]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    file_mode = "--file" in args
    args = [a for a in args if a != "--file"]
    if not args or args[0] not in ACTIONS:
        print(f"Cách dùng: python -m thidua.excel [--file] {{{','.join(ACTIONS)}}} [ThiDua2024.xlsm]")
        return 2
    workbook = args[1] if len(args) > 1 else "ThiDua2024.xlsm"
    if file_mode:
        outcome = run(args[0], workbook)
    else:
        import xlwings as xw

        xw.Book(workbook).set_mock_caller()
        outcome = ACTIONS[args[0]]()
    print(outcome.message)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
