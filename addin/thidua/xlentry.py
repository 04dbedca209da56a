"""The one module the workbook's buttons import: ``RunPython "import thidua.xlentry as x; x.consolidate()"``.

It uses the standard library only, so that it imports even when the rest of the program cannot (a package missing
or broken, a DLL that does not load): every failure, an import failure included, ends as one Vietnamese message box
and a line in the log file under the install folder, and Python exits normally. xlwings' VBA shows the English
traceback it collected on stderr only when Python exits with an error, so a button never shows one.

The install folder is the folder holding the virtual environment the workbook runs (``C:\\ThiDua2024`` for
``C:\\ThiDua2024\\.venv\\Scripts\\pythonw.exe``), or ``THIDUA_HOME`` when set; the log is
``<install folder>\\nhat-ky\\thidua-excel.log``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

TITLE = "ThiDua 2024"
LOG_DIR, LOG_NAME = "nhat-ky", "thidua-excel.log"
MB_ICONERROR, MB_ICONWARNING, MB_SETFOREGROUND = 0x10, 0x30, 0x10000


def install_dir() -> Path:
    """The install folder: ``THIDUA_HOME``, else the folder that holds the running virtual environment, else the
    temporary folder (a Python that is not the installed one)."""
    if os.environ.get("THIDUA_HOME"):
        return Path(os.environ["THIDUA_HOME"])
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix).parent
    return Path(tempfile.gettempdir())


def log_file() -> Path:
    return install_dir() / LOG_DIR / LOG_NAME


def log(action: str, message: str, details: str | None = None) -> Path | None:
    """Append one line (time, button, message) and, for an unexpected error, its traceback; never raises."""
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} {action}: {' '.join(message.split())}\n")
            if details:
                fh.write("".join(f"    {line}\n" for line in details.rstrip("\n").split("\n")))
        return path
    except OSError:
        return None


def excel_window() -> int:
    """Excel's window handle, passed by xlwings' VBA as ``--hwnd=...`` (0 when run otherwise)."""
    for arg in sys.argv:
        if arg.startswith("--hwnd="):
            try:
                return int(arg.removeprefix("--hwnd=").strip('"'))
            except ValueError:
                return 0
    return 0


def show_message(text: str, *, warning: bool = False) -> None:
    """A message box over Excel's window (Windows), without xlwings; elsewhere the text on standard output."""
    try:
        if sys.platform == "win32":
            import ctypes

            icon = MB_ICONWARNING if warning else MB_ICONERROR
            ctypes.windll.user32.MessageBoxW(excel_window(), text, TITLE, icon | MB_SETFOREGROUND)  # type: ignore[attr-defined]
        else:
            print(text)
    except Exception:  # nothing else can be done: the log has the message
        pass


def import_failure(exc: BaseException) -> str:
    what = getattr(exc, "name", None) or str(exc)
    return (f"Lỗi: chương trình ThiDua trên máy này chưa cài đủ hoặc bị hỏng (không nạp được “{what}”, "
            f"{type(exc).__name__}). Hãy chạy lại tệp cai-dat.bat trong thư mục cài đặt “{install_dir()}”, hoặc "
            "nhờ người hỗ trợ kỹ thuật.")


def fail(action: str, message: str, exc: BaseException) -> None:
    """The last resort: log the failure with its traceback and show one message box."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    logged = log(action, message, details)
    show_message(message + (f" Chi tiết đã ghi vào “{logged}”." if logged else ""))


def run(action: str) -> Any:
    """Run one button's action of :mod:`thidua.excel`; never raises."""
    try:
        excel = importlib.import_module(f"{__package__}.excel")
    except Exception as exc:  # ImportError, an OSError from a DLL, a SyntaxError in a damaged install, ...
        fail(action, import_failure(exc), exc)
        return None
    try:
        return excel.ACTIONS[action]()
    except Exception as exc:  # the entry points handle their errors; this is a guard against a bug there
        fail(action, f"Lỗi không mong đợi ({type(exc).__name__}: {exc}); hãy gửi tệp nhật ký cho người hỗ trợ "
                     "kỹ thuật.", exc)
        return None


def make_forms() -> Any:
    return run("make_forms")


def validate_inbox() -> Any:
    return run("validate_inbox")


def consolidate() -> Any:
    return run("consolidate")


def write_report() -> Any:
    return run("write_report")


def open_output() -> Any:
    return run("open_output")
