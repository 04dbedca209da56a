"""Checks around the files, before anything is written: arguments and targets, outputs that would land on inputs,
directory entries that cannot be looked at, file names that are not valid UTF-8.

Every command that writes checks all its arguments and targets first (:func:`check_consolidate`,
:func:`check_return_dir`): a run that ends with exit status 2 has written nothing. A file name is shown and stored
losslessly: its bytes when they are not valid UTF-8 (:func:`stored_path`), and a display form with the odd bytes
written ``\\xff`` (:func:`display_name`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

from .errors import ThiDuaError

MACRO_WORKBOOK_TYPE = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
#: Chunk size for hashing: a file is never read into memory whole.
HASH_CHUNK = 1 << 20


# ----------------------------------------------------------------------------------------------------------------------
# File names that are not valid UTF-8


def display_name(name: str | os.PathLike) -> str:
    """``name`` as text that can be shown, stored and written anywhere: bytes that are not valid UTF-8 (which Python
    keeps as lone surrogates) are written ``\\xff``. Valid names are returned unchanged."""
    text = os.fspath(name)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


def stored_path(path: str | os.PathLike) -> str | bytes:
    """The path as the ledger keeps it: text, or its bytes when it is not valid UTF-8 (lossless either way)."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text)


def clean_text(value: object) -> object:
    """A value bound for SQLite, JSON or a workbook with any lone surrogate (from an odd file name inside a message)
    written as ``\\xNN``; other values unchanged."""
    if isinstance(value, str):
        return display_name(value)
    return value


# ----------------------------------------------------------------------------------------------------------------------
# Directory entries


def entry_is_file(entry: os.DirEntry) -> bool:
    """``entry.is_file()`` that does not stop a batch: an entry that cannot be looked at (a symbolic link loop, a link
    into a folder without permission) counts as a file, so that reading it fails and becomes a finding for that entry
    alone."""
    try:
        return entry.is_file()
    except OSError:
        return True


def path_is_file(path: Path) -> bool:
    """:func:`entry_is_file` for a path (a link loop or an unreadable target counts as a file)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:  # a dangling link: nothing to read
        return False
    except OSError:
        return True


def resolved(path: Path) -> Path:
    """``path.resolve()`` that does not raise for a link loop (the absolute path then)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


# ----------------------------------------------------------------------------------------------------------------------
# Targets


def _same(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _folder_of(path: Path) -> Path:
    return Path(os.path.abspath(path)).parent


def check_folder(path: Path, what: str) -> None:
    """The folder of ``path`` exists or can be created: its nearest existing ancestor is a folder."""
    for parent in Path(os.path.abspath(path)).parents:
        if parent.exists():
            if not parent.is_dir():
                raise ThiDuaError(f"Không tạo được {what} “{path}”: “{parent}” là một tệp, không phải thư mục. Chưa có "
                                  "gì được ghi.")
            return


def _is_unit_form(path: Path) -> bool:
    """A workbook generated for a unit (it carries the form's stamp sheet)."""
    from .layout import SHEET_STAMP

    try:
        with zipfile.ZipFile(path) as zf:
            return f'name="{SHEET_STAMP}"'.encode() in zf.read("xl/workbook.xml")
    except (OSError, zipfile.BadZipFile, KeyError, RuntimeError, ValueError):
        return False


def _received(ledger: Path, target: Path) -> bool:
    """``target``'s bytes are those of a file the ledger received."""
    from .ledgerfile import open_readonly

    db = open_readonly(ledger)
    if db is None:
        return False
    try:
        from .arrivals import hash_file

        digest = hash_file(target)[0]
        return db.execute("SELECT 1 FROM files WHERE sha256 = ?", (digest,)).fetchone() is not None
    except (OSError, sqlite3.Error):
        return False
    finally:
        db.close()


def check_workbook_package(path: Path) -> None:
    """``path`` is a whole macro workbook (.xlsm) that openpyxl can load with ``keep_vba=True``: a sound zip whose
    workbook part is macro-enabled. A plain .xlsx would come out macro-typed and Excel would refuse to open it."""
    name = path.name
    if path.suffix.lower() != ".xlsm":
        raise ThiDuaError(f"--workbook cần sổ có macro (.xlsm); “{name}” không phải. Để ghi bảng tổng hợp ra tệp .xlsx "
                          "mới, dùng --out. Chưa có gì được ghi.")
    try:
        with zipfile.ZipFile(path) as zf:
            types = zf.read("[Content_Types].xml")
            zf.read("xl/workbook.xml")
            bad = zf.testzip()
    except (OSError, zipfile.BadZipFile, KeyError, RuntimeError, ValueError, EOFError):
        bad, types = "?", b""
    if bad is not None:
        raise ThiDuaError(f"Sổ “{name}” bị hỏng hoặc không phải tệp Excel (.xlsm): không mở được. Chưa có gì được ghi; "
                          "hãy dùng bản sao lưu của sổ (thư mục .backup bên cạnh) hoặc tạo lại bằng "
                          "“thidua build-workbook”.")
    if MACRO_WORKBOOK_TYPE.encode() not in types:
        raise ThiDuaError(f"“{name}” có đuôi .xlsm nhưng không phải sổ có macro (bên trong là tệp .xlsx thường): "
                          "ghi vào sẽ làm Excel không mở được. Hãy dùng --out để ghi bảng tổng hợp ra tệp .xlsx mới. "
                          "Chưa có gì được ghi.")


def check_consolidate(inbox: Path, ledger: Path, target: Path | None, workbook: bool, period, catalogue) -> None:
    """Everything a consolidation checks before its first write, so that exit status 2 means nothing was written:
    the target's kind and folder, outputs that would replace an input (the ledger, a unit's file in the inbox), and
    that the organisation configuration covers every month the master shows."""
    from .reader import NAME_RE

    if target is not None:
        option = "--workbook" if workbook else "--out"
        if _same(target, ledger):
            raise ThiDuaError(f"{option} và --ledger cùng chỉ tới “{target}”: ghi bảng tổng hợp sẽ xóa mất sổ theo "
                              "dõi. Hãy chọn hai tệp khác nhau. Chưa có gì được ghi.")
        if workbook:
            check_workbook_package(target)
        elif target.suffix.lower() != ".xlsx":
            raise ThiDuaError(f"Tệp tổng hợp mới phải có đuôi .xlsx (nhận được “{target.name}”). Chưa có gì được ghi.")
        check_folder(target, "tệp tổng hợp")
        if _same(_folder_of(target), Path(inbox)) and (
                NAME_RE.match(target.name) or (target.is_file() and (_is_unit_form(target)
                                                                     or _received(ledger, target)))):
            raise ThiDuaError(f"{option} “{target}” là tệp báo cáo của đơn vị trong thư mục nhận: ghi vào sẽ xóa "
                              "mất báo cáo đơn vị gửi. Hãy chọn tên khác (ví dụ tong-hop-<kỳ>.xlsx cạnh thư mục nhận). "
                              "Chưa có gì được ghi.")
    check_folder(ledger, "sổ theo dõi")
    for month in period.months_of_year():
        try:
            catalogue.organisation(month.first_day).deadline(month.year, month.month)
        except ThiDuaError as exc:
            raise ThiDuaError(f"Không tổng hợp được kỳ {period.label}: {exc.message}. Hãy bổ sung cấu hình cơ quan "
                              "(--organisation) cho thời gian này. Chưa có gì được ghi.") from None


def check_not_an_input(out: Path, inputs: Iterable[Path | str], option: str = "--out") -> None:
    """``out`` is none of the files read: writing it would destroy one of them."""
    for raw in inputs:
        if _same(Path(out), Path(raw)):
            raise ThiDuaError(f"{option} “{out}” cũng là một tệp đầu vào: ghi vào sẽ xóa mất tệp đó. Hãy chọn tên "
                              "khác. Chưa có gì được ghi.")


def check_return_dir(paths: Iterable[Path | str], return_dir: Path) -> None:
    """The return packages never go where the inputs are: the next consolidation would take them for units' files."""
    for raw in paths:
        p = Path(raw)
        folder = p if p.is_dir() else _folder_of(p)
        if _same(Path(return_dir), folder):
            raise ThiDuaError(f"--return-dir “{return_dir}” là thư mục chứa các tệp đang kiểm tra: tệp trả lại sẽ lẫn "
                              "vào tệp đơn vị gửi và bị tổng hợp nhầm. Hãy chọn thư mục khác (ví dụ tra-lai/). Chưa có "
                              "gì được ghi.")



# ----------------------------------------------------------------------------------------------------------------------
# Signals


class Interrupted(SystemExit):
    """Ctrl-C (SIGINT) or SIGTERM: unwinds the run like an error, so that the open ledger transaction is rolled back,
    temporary files are removed and the reading processes are stopped; its exit status is 128 + the signal's number.
    A ``SystemExit`` rather than a ``KeyboardInterrupt``: click turns the latter into its own "Aborted!" with exit
    status 1, while every "never let one file stop the batch" handler lets both through."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum


def interrupted_message(signum: int) -> str:
    import signal

    why = "theo yêu cầu" if signum == signal.SIGINT else "vì nhận được lệnh kết thúc (SIGTERM)"
    return (f"Đã dừng {why}. Không tệp nào bị ghi dở: sổ theo dõi, bảng tổng hợp, báo cáo và tệp trả lại hoặc giữ "
            "nguyên như trước lần chạy này, hoặc đã được ghi trọn vẹn nếu lần chạy đã đến bước đó (mỗi tệp được ghi "
            "xong rồi mới thay tệp cũ; các tệp tạm đã được xóa). Chạy lại lệnh để làm tiếp: tệp đã ghi nhận không bị "
            "đọc lại.")


@contextlib.contextmanager
def stop_on_signals():
    """In the main process, SIGINT and SIGTERM raise :class:`Interrupted`. A reading worker forked from it ignores
    Ctrl-C (the main process stops the pool and waits for it) and ends at once on SIGTERM."""
    import signal

    main = os.getpid()

    def handler(signum, _frame):
        if os.getpid() != main:
            if signum == signal.SIGTERM:
                os._exit(128 + signum)
            return
        raise Interrupted(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
