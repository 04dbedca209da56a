"""Atomic file output: write to a temporary file in the target's folder, then rename over the target.

A write that fails for lack of space (a full disk, a quota, a file size limit) or a disk error raises
:class:`WriteFailed`, whose Vietnamese message says so and that the old file is untouched: the temporary file is
removed and the target never replaced. A temporary file left behind by a process that was killed outright (it cannot
clean up) is removed by a later write into the same folder once it is :data:`STALE_SECONDS` old.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import gc
import os
import re
import shutil
import sqlite3
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ThiDuaError

#: ``errno`` values meaning "no room left": a full disk, a full quota, a file size limit (``ulimit -f``).
DISK_FULL_ERRNOS = frozenset(
    e for e in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", None)) if e is not None
)
DISK_FULL = "ổ đĩa đã đầy (hoặc vượt giới hạn dung lượng)"
#: A temporary file of :func:`atomic_path` older than this (seconds) belongs to no running write.
STALE_SECONDS = 3600
#: Free space below which a disk error is taken for a full disk.
LOW_SPACE = 16 * 1024 * 1024
_TEMP_RE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[^.]*)?")


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file of :func:`atomic_path` (one a killed run may have left behind)."""
    return _TEMP_RE.fullmatch(name) is not None


class WriteFailed(ThiDuaError):
    """A write failed for lack of space or a disk error; nothing was replaced. ``problem`` says what happened (see
    :func:`write_problem`), ``path`` which file was being written."""

    def __init__(self, path: Path | str, problem: str, message: str | None = None):
        self.path = Path(path)
        self.problem = problem
        super().__init__(message or (
            f"{problem} khi ghi “{self.path.name}”. Chưa có gì bị ghi đè: tệp ghi dở đã được xóa, tệp "
            f"“{self.path.name}” cũ (nếu có) vẫn giữ nguyên. Hãy giải phóng dung lượng rồi chạy lại."))


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _space_is_short(folder: Path | str | None) -> bool:
    """A file size limit is set for this process, or ``folder``'s disk has (almost) no free space."""
    try:
        import resource

        if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
            return True
    except (ImportError, OSError, ValueError):  # no ``resource`` module on Windows
        pass
    if folder is None:
        return False
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE
    except OSError:
        return False


def write_problem(exc: BaseException, folder: Path | str | None = None) -> str | None:
    """What went wrong, in Vietnamese, when ``exc`` (or an exception it was raised from) means there is no room left
    or the disk failed: an ``OSError`` with errno ENOSPC, EFBIG or EDQUOT, SQLite's "database or disk is full", or
    SQLite's "disk I/O error" (SQLite reports a write refused for a file size limit this way). ``None`` for anything
    else. ``folder``: where the write went, to tell a disk I/O error on a full disk from another one."""
    io_error = None
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return DISK_FULL
        if isinstance(e, sqlite3.Error):
            name = getattr(e, "sqlite_errorname", "") or ""
            text = str(e).lower()
            if name == "SQLITE_FULL" or "database or disk is full" in text:
                return DISK_FULL
            if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
                io_error = io_error or e
        elif isinstance(e, OSError) and e.errno == errno.EIO:
            io_error = io_error or e
    if io_error is None:
        return None
    if _space_is_short(folder):
        return DISK_FULL
    return (f"lỗi đọc/ghi đĩa ({io_error}: ổ đĩa có thể đã đầy, vượt giới hạn dung lượng, bị hỏng, hoặc ổ mạng đã bị "
            "ngắt)")


#: The outputs of the :func:`atomic_set` being written: (temporary file, target) waiting to replace their targets.
_SET: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar("atomic_set", default=None)


@contextlib.contextmanager
def atomic_set() -> Iterator[None]:
    """Outputs written with :func:`atomic_path` inside this block replace their targets together when it ends, one
    rename after the other with SIGINT and SIGTERM held back meanwhile: an error or an interruption before that leaves
    every old file as it was (a report is never a new .docx beside the old appendix)."""
    pending: list[tuple[Path, Path]] = []
    token = _SET.set(pending)
    try:
        try:
            yield
        finally:
            _SET.reset(token)
        with _signals_held():
            while pending:
                tmp, target = pending[0]
                os.replace(tmp, target)
                pending.pop(0)
                _fsync_dir(target.parent)
    finally:
        for tmp, _target in pending:
            with contextlib.suppress(OSError):
                tmp.unlink()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (POSIX, main thread) until the block is done; their handlers run right after."""
    import signal
    import threading

    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (with the old file's permissions, if there is one); on success fsync
    it, rename it over ``target`` and fsync the folder.

    On any error the temporary file is removed and ``target`` is left as it was; an error for lack of space or a disk
    error becomes :class:`WriteFailed`.
    """
    target = Path(target)
    if target.is_symlink():  # write the file the link points to; the link stays a link
        target = Path(os.path.realpath(target))
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target.parent)
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, _mode_for(target))
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        pending = _SET.get()
        if pending is not None:  # part of a set: replaced with the others at the end of atomic_set
            pending.append((tmp, target))
            tmp = None
            return
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(target.parent)
    except OSError as exc:
        problem = write_problem(exc, target.parent)
        if problem is None:
            raise
        _release(exc)
        raise WriteFailed(target, problem) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _mode_for(target: Path) -> int:
    """The permissions of the new file: the old file's (kept writable for its owner, so that the writer can write it),
    else the usual ones under the umask, not the temporary file's owner-only ones."""
    try:
        return stat.S_IMODE(target.stat().st_mode) | stat.S_IWUSR
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _release(exc: BaseException) -> None:
    """Free the frames of a write that failed for lack of space, now and quietly. A writer may leave its output open
    (openpyxl does not close its zip file after an error); closing it fails again on the full disk, and Python would
    print that second error with a traceback whenever the file is collected (at the latest on exit). An open file
    would also keep the temporary file from being removed on Windows."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not (isinstance(unraisable.exc_value, OSError) and write_problem(unraisable.exc_value)):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        for e in _chain(exc):
            tb = e.__traceback__
            while tb is not None:
                with contextlib.suppress(RuntimeError):  # a frame still running (the caller's) is left alone
                    tb.tb_frame.clear()
                tb = tb.tb_next
        gc.collect()
    finally:
        sys.unraisablehook = previous


def remove_stale_temps(folder: Path, older_than: float = STALE_SECONDS, now: float | None = None) -> list[Path]:
    """Remove the temporary files of :func:`atomic_path` in ``folder`` that are older than ``older_than`` seconds (left
    by a process that was killed while writing); return them. Best effort: a file that cannot be removed stays."""
    removed = []
    limit = (time.time() if now is None else now) - older_than
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not _TEMP_RE.fullmatch(entry.name):
                continue
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                # The later of the two times: a copy given its original's times (shutil.copy2) is still fresh.
                if entry.is_file(follow_symlinks=False) and max(st.st_mtime, st.st_ctime) < limit:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable. Best effort: some file systems (network shares) cannot fsync a folder, and the file
    has already been replaced, so failing now would misreport the write."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
