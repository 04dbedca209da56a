"""The ledger as a file: which SQLite files are ledgers, locks and read-only files in Vietnamese, backups and restore.

A ledger identifies itself with SQLite's ``PRAGMA application_id`` (:data:`APPLICATION_ID`, set when the ledger is
created, and on the first upgrade or write of a ledger made before the id existed, which is recognised by its own
tables). Any other SQLite database, and any file that is not SQLite at all, is refused before anything is written to
it: no table is added, no migration run, not even its journal mode changed.

Errors of SQLite that are about the file rather than its content get a Vietnamese message saying what to do
(:func:`ledger_error`): another session holds the lock (``database is locked``), the file or its folder is read-only
(``attempt to write a readonly database``), the file cannot be opened at all. No English message of SQLite reaches
the user.

Backups (:func:`backup_ledger`) are taken with SQLite's online backup API (a consistent copy, even while another
session reads) into ``.backup/`` beside the ledger before each run that changes it; the last :data:`KEEP_BACKUPS` are
kept. :func:`restore_ledger` puts one back (``thidua restore-ledger``), after backing up the ledger it replaces.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .errors import ThiDuaError

#: ``PRAGMA application_id`` of a ledger: the bytes "TDua".
APPLICATION_ID = int.from_bytes(b"TDua", "big")
#: Seconds to wait for another session's lock before giving up.
LOCK_TIMEOUT = 30.0
KEEP_BACKUPS = 5
SQLITE_MAGIC = b"SQLite format 3\x00"
#: The tables of the first schema, which every ledger has: how a ledger made before the application id is recognised.
IDENTITY_TABLES = ("batches", "files", "file_values", "findings", "current", "replacements")
_HEADER = 100


# ----------------------------------------------------------------------------------------------------------------------
# Identity


def _header(path: Path) -> bytes | None:
    """The first 100 bytes of ``path``; None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read(_HEADER)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ThiDuaError(f"“{path}” là một thư mục, không phải sổ theo dõi: hãy chỉ --ledger tới tệp sổ theo dõi "
                          "(ví dụ thidua-ledger.sqlite). Chưa có gì được ghi.") from None


def _foreign(path: Path, what: str) -> ThiDuaError:
    return ThiDuaError(
        f"Không mở được sổ theo dõi “{path}”: {what}. Tệp được giữ nguyên, không ghi gì vào đó. Hãy chỉ --ledger tới "
        "đúng sổ theo dõi của ThiDua (thidua-ledger.sqlite), hoặc tới một tên tệp mới để lập sổ mới.")


def _empty(path: Path) -> ThiDuaError:
    return ThiDuaError(
        f"Sổ theo dõi “{path}” trống (chưa ghi tệp nào). Hãy chạy lệnh consolidate trước, hoặc chỉ --ledger tới đúng "
        "sổ theo dõi.")


def precheck(path: Path, *, create: bool) -> None:
    """Refuse, before SQLite opens it, a file that is not a ledger: not an SQLite file, an SQLite database of another
    application (its ``application_id``), or — when ``create`` is false — a missing or empty (0-byte) file."""
    head = _header(path)
    if head is None or head == b"":
        if not create:
            raise _empty(path) if head == b"" else ThiDuaError(
                f"Không tìm thấy sổ theo dõi “{path}”. Hãy chạy lệnh consolidate trước, hoặc chỉ rõ --ledger.")
        return
    if not head.startswith(SQLITE_MAGIC) or len(head) < _HEADER:
        raise _foreign(path, "đây không phải tệp SQLite (có thể là tệp khác, hoặc sổ theo dõi đã hỏng)")
    app = int.from_bytes(head[68:72], "big")
    if app not in (0, APPLICATION_ID):
        raise _foreign(path, "đây là cơ sở dữ liệu của một chương trình khác")


def identify(db: sqlite3.Connection, path: Path, *, create: bool) -> str:
    """``"ours"`` (the ledger carries our application id), ``"legacy"`` (a ledger made before the id: it has every one
    of :data:`IDENTITY_TABLES` and a schema version), or ``"new"`` (an empty database, allowed when ``create``).
    Anything else is refused with :class:`ThiDuaError`. Reads only."""
    app = db.execute("PRAGMA application_id").fetchone()[0]
    if app == APPLICATION_ID:
        return "ours"
    if app != 0:
        raise _foreign(path, "đây là cơ sở dữ liệu của một chương trình khác")
    names = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if not names and version == 0 and not db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
        if not create:
            raise _empty(path)
        return "new"
    if version >= 1 and set(IDENTITY_TABLES) <= names:
        return "legacy"
    raise _foreign(path, "đây là cơ sở dữ liệu của một chương trình khác (không có các bảng của sổ theo dõi)")


# ----------------------------------------------------------------------------------------------------------------------
# SQLite errors in Vietnamese


def _kind(exc: BaseException) -> str | None:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "database is locked" in text:
        return "busy"
    if name.startswith("SQLITE_READONLY") or "readonly database" in text or "read-only" in text:
        return "readonly"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
        return "cantopen"
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "not a database" in text or "malformed" in text:
        return "corrupt"
    return None


def busy_message(path: Path | str) -> str:
    return (f"Sổ theo dõi “{path}” đang được một phiên khác dùng (một lệnh consolidate khác, hoặc nút “Tổng hợp” "
            f"trong Excel) và phiên đó chưa xong sau {LOCK_TIMEOUT:g} giây. Chưa có gì bị ghi: hãy chờ phiên kia "
            "xong rồi chạy lại.")


def ledger_error(exc: BaseException, path: Path | str) -> ThiDuaError | None:
    """A Vietnamese :class:`ThiDuaError` for an SQLite error about the ledger file (lock, read-only, cannot open,
    damaged); None for other errors."""
    kind = _kind(exc)
    if kind == "busy":
        return ThiDuaError(busy_message(path))
    if kind == "readonly":
        return ThiDuaError(
            f"Không ghi được (chỉ đọc) sổ theo dõi “{path}”: tệp hoặc thư mục chứa nó chỉ cho phép đọc. Sổ theo dõi "
            "vẫn giữ nguyên. Hãy bỏ thuộc tính chỉ đọc (hoặc chép sổ sang thư mục ghi được và chỉ --ledger tới đó) "
            "rồi chạy lại.")
    if kind == "cantopen":
        return ThiDuaError(
            f"Không mở được sổ theo dõi “{path}”: thư mục không tồn tại hoặc không có quyền truy cập. Hãy kiểm tra "
            "đường dẫn --ledger rồi chạy lại.")
    if kind == "corrupt":
        return ThiDuaError(
            f"Không mở được sổ theo dõi “{path}”: tệp hỏng hoặc không phải sổ theo dõi. Tệp được giữ nguyên. Có thể "
            "khôi phục bản sao lưu gần nhất bằng lệnh “thidua restore-ledger”.")
    return None


def sqlite_message(exc: BaseException) -> str:
    """Any SQLite error in Vietnamese (for the command line's last resort): never SQLite's own English text."""
    found = ledger_error(exc, "")
    if found is not None:
        return found.message.replace("Sổ theo dõi “”", "Sổ theo dõi").replace(" sổ theo dõi “”", " sổ theo dõi")
    code = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return (f"Sổ theo dõi gặp lỗi không lường trước ({code}). Sổ theo dõi vẫn giữ nguyên như trước lần chạy này; "
            "hãy chạy lại, và nếu lỗi lặp lại, khôi phục bản sao lưu gần nhất bằng lệnh “thidua restore-ledger”.")


@contextlib.contextmanager
def write_lock(db: sqlite3.Connection, path: Path) -> Iterator[None]:
    """``BEGIN IMMEDIATE … COMMIT`` for a schema change, with lock and read-only errors in Vietnamese."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise (ledger_error(exc, path) or exc) from None
    try:
        yield
        db.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:
                db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            found = ledger_error(exc, path)
            if found is not None:
                raise found from None
        raise


def readonly_uri(path: Path | str) -> str:
    """A ``file:`` URI opening ``path`` read-only: every character SQLite would take for URI syntax (``#``, ``?``,
    ``%``) escaped."""
    return Path(os.path.abspath(path)).as_uri() + "?mode=ro"


def open_readonly(path: Path | str) -> sqlite3.Connection | None:
    """A read-only connection to the ledger at ``path``, or None when there is none (missing, empty, or not a
    ledger: nothing is read from another database)."""
    path = Path(path)
    try:
        precheck(path, create=False)
        db = sqlite3.connect(readonly_uri(path), uri=True, timeout=LOCK_TIMEOUT)
    except (ThiDuaError, OSError, sqlite3.Error):
        return None
    try:
        identify(db, path, create=False)
    except (ThiDuaError, sqlite3.Error):
        db.close()
        return None
    return db


def check_readable(path: Path | str) -> None:
    """Refuse, for a command that only reads the ledger (``validate --ledger``), a file that is not a ledger: it would
    otherwise be taken silently for a ledger without history. An empty or new ledger is fine."""
    path = Path(path)
    precheck(path, create=True)
    if not path.stat().st_size:
        return
    try:
        db = sqlite3.connect(readonly_uri(path), uri=True, timeout=LOCK_TIMEOUT)
    except sqlite3.Error as exc:
        raise (ledger_error(exc, path) or exc) from None
    try:
        identify(db, path, create=True)
    except sqlite3.Error as exc:
        raise (ledger_error(exc, path) or exc) from None
    finally:
        db.close()


# ----------------------------------------------------------------------------------------------------------------------
# Backups and restore


def ledger_backups(path: Path) -> list[Path]:
    """The backups of the ledger at ``path``, oldest first."""
    from .sink import backups

    return backups(Path(path))


def backup_ledger(db: sqlite3.Connection, path: Path, keep: int = KEEP_BACKUPS) -> Path | None:
    """Copy the ledger open as ``db`` (not inside a transaction) into ``.backup/`` beside it with SQLite's online
    backup API, atomically, and keep the last ``keep`` backups. None when the ledger holds nothing yet."""
    from .atomic import atomic_path
    from .sink import BACKUP_DIR

    if not db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
        return None
    path = Path(path)
    folder = path.parent / BACKUP_DIR
    folder.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    taken = {p.name for p in ledger_backups(path)}
    n = 1
    while (name := f"{path.stem}.{stamp}{f'-{n}' if n > 1 else ''}{path.suffix}") in taken:
        n += 1
    dest = folder / name
    with atomic_path(dest) as tmp:
        _copy(db, tmp)
    for old in ledger_backups(path)[:-keep] if keep > 0 else ledger_backups(path):
        with contextlib.suppress(OSError):
            old.unlink()
    return dest


def _copy(db: sqlite3.Connection, dest: Path) -> None:
    """The database open as ``db`` copied into the new file ``dest`` with SQLite's online backup API."""
    copy = sqlite3.connect(dest)
    try:
        db.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()


def backup_committed(path: Path) -> Path | None:
    """Back up the committed ledger at ``path`` through a read-only connection of its own: called by the session that
    holds the write lock, just before it commits, so the copy is the ledger as it was before the run. Nothing when it
    holds no file yet."""
    db = open_readonly(path)
    if db is None:
        return None
    try:
        if not db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'files'").fetchone()[0] \
                or db.execute("SELECT NOT EXISTS (SELECT 1 FROM files)").fetchone()[0]:
            return None
        return backup_ledger(db, Path(path))
    finally:
        db.close()


def discard_backup(backup: Path | None) -> None:
    """Remove a backup taken for a run that then changed nothing (it failed and was rolled back), and its folder if
    that leaves it empty. Best effort."""
    if backup is None:
        return
    with contextlib.suppress(OSError):
        backup.unlink()
    with contextlib.suppress(OSError):
        backup.parent.rmdir()  # only when empty


def check_backup(backup: Path) -> None:
    """Refuse a file that is not a whole, sound ledger."""
    db = open_readonly(backup)
    if db is None:
        raise ThiDuaError(f"“{backup}” không phải bản sao lưu của sổ theo dõi (hoặc đã hỏng); không khôi phục gì.")
    try:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    except sqlite3.Error:
        ok = False
    finally:
        db.close()
    if not ok:
        raise ThiDuaError(f"Bản sao lưu “{backup}” bị hỏng (không qua được kiểm tra toàn vẹn); không khôi phục gì.")


def restore_ledger(path: Path, backup: Path) -> Path | None:
    """Put ``backup`` back as the ledger at ``path``, after keeping the file it replaces in ``.backup/`` (returned;
    None when there was none), so that a restore can itself be undone. The ledger may be damaged (that is what a
    restore is for); another application's database is refused. While another session uses the ledger, nothing is
    done."""
    import shutil

    from .atomic import atomic_path
    from .sink import BACKUP_DIR

    path, backup = Path(path), Path(backup)
    check_backup(backup)
    if path.exists() and os.path.samefile(path, backup):
        raise ThiDuaError("Bản sao lưu và sổ theo dõi là cùng một tệp; không khôi phục gì.")
    head = _header(path)
    if head and head.startswith(SQLITE_MAGIC) and len(head) == _HEADER \
            and int.from_bytes(head[68:72], "big") not in (0, APPLICATION_ID):
        raise _foreign(path, "đây là cơ sở dữ liệu của một chương trình khác")
    lock = None
    saved = None
    try:
        if head:
            lock = sqlite3.connect(str(path), isolation_level=None, timeout=LOCK_TIMEOUT)
            try:
                lock.execute("BEGIN EXCLUSIVE")  # no other session in the middle of a run
            except sqlite3.Error as exc:
                if _kind(exc) == "busy":
                    raise ThiDuaError(busy_message(path)) from None
                # a damaged file cannot be locked; it is replaced all the same
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            saved = path.parent / BACKUP_DIR / f"{path.stem}.truoc-khoi-phuc-{stamp}{path.suffix}"
            saved.parent.mkdir(exist_ok=True)
            with atomic_path(saved) as tmp:
                shutil.copyfile(path, tmp)
        if lock is not None and os.name == "nt":  # Windows cannot replace a file that is open
            lock.close()
            lock = None
        with atomic_path(path) as tmp:
            src = sqlite3.connect(readonly_uri(backup), uri=True)
            try:
                _copy(src, tmp)
            finally:
                src.close()
        journal = path.with_name(path.name + "-journal")
        if journal.exists():  # a journal of the file replaced: it must never be played back onto the restored one
            journal.replace(saved.with_name(saved.name + "-journal") if saved else journal.with_suffix(".old"))
    except sqlite3.Error as exc:
        raise (ledger_error(exc, path) or exc) from None
    finally:
        if lock is not None:
            lock.close()
    return saved
