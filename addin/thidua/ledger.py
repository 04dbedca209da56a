"""The ledger: a durable SQLite record of every file received, its values, its findings and which file is current.

One SQLite file (default ``thidua-ledger.sqlite`` beside the inbox). The schema is versioned with
``PRAGMA user_version`` and upgraded by the :data:`MIGRATIONS` list (append a step, never edit one that shipped).
The journal is the classic rollback journal (``journal_mode=DELETE``, which also works on the Windows file shares
where the secretary keeps her folders, unlike WAL) with ``synchronous=FULL``; every write of one run is one
``BEGIN IMMEDIATE … COMMIT`` transaction. A process killed in the middle leaves the ledger as it was before the
transaction (SQLite rolls back the journal left behind when the ledger is next opened); a transaction that fails for
lack of space or a disk error is rolled back whole and raises :class:`thidua.atomic.WriteFailed`, saying so in
Vietnamese.

Tables (schema version 1):

- ``batches``: one row per run that recorded at least one new file (when, inbox, requested period, tool version).
  A run that finds nothing new records nothing at all, so running twice over the same folder changes nothing.
- ``files``: every file ever received, keyed by its SHA-256 (a file whose bytes are already known is skipped before it
  is read): path, file name, size, mtime, received_at, the unit and period it is for, the stamp's fields, the name's
  unit and period, whether it is valid, its error/warning counts, ``status`` (:data:`CURRENT`, :data:`SUPERSEDED`,
  :data:`REJECTED`, :data:`OLDER`) and ``reason`` (Vietnamese: why it is not or no longer current).
- ``file_values``: the cells of each file (unit, period, code, column, value as text + its type, raw text, A1 cell).
  Indicator columns are ``month``/``ytd``/``note`` (empty notes are not stored); targets are stored under code ``T<n>``
  with columns ``assessment`` and ``explanation``.
- ``findings``: the findings of each file, in order.
- ``current``: per unit × period, the file whose values count.
- ``replacements``: the log of every change of the current file (old file, new file, when, why).

Schema version 2 adds ``masters``: per master workbook written, the state of the ledger (and of everything else the
master is made from) it was written from and the SHA-256 of the file as written. It is bookkeeping of outputs, not part
of the record (not in :data:`TABLES`): a run with nothing new leaves a master that is still exactly what it would write
as it is (see :func:`thidua.consolidate.consolidate`).

Schema version 3 adds, per file, ``received_on`` (the day the file counts as received, for lateness), ``received_how``
(how that day is known: :data:`RECEIVED_HOW_VI`), ``container`` (the e-mail or zip it arrived in) and ``basis`` (what a
verdict depended on: the catalogue and the unit's earlier months; a rejected file whose basis changed is checked again),
and the table ``events`` (a file re-checked, its received date set), which is part of the record.

Schema version 4 adds derived data, kept only to make re-runs fast and never part of the record (not in
:data:`TABLES`, not in :meth:`Ledger.state`): ``derived_blocks`` (per period and block of units, the master's cached
pieces, :mod:`thidua.derived`) and ``derived_stats`` (per inbox path, the size, times and inode a file had when it was
hashed, and its hash). Every row carries the key of what it was made from and is ignored when that no longer matches;
emptying these tables only costs time.

Policy (:meth:`Ledger.record`): the newest file (by mtime, then received order) without errors is current; a file with
errors never becomes current (it is kept as rejected, with why); an older file never replaces a newer one; every
replacement is logged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import operator
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__, ledgerfile
from .atomic import WriteFailed, write_problem
from .errors import ThiDuaError
from .findings import ERROR, WARNING, FileResult, Finding
from .guards import display_name, stored_path
from .typed import decode_value, encode_value

DEFAULT_NAME = "thidua-ledger.sqlite"
#: At most this many cells of files recorded by one connection are held for the period's tables
#: (:meth:`Ledger.take_cells`): about 1,300 files of the form, some 30 MB.
KEPT_ROWS = 100_000

CURRENT, SUPERSEDED, REJECTED, OLDER = "current", "superseded", "rejected", "older"

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        inbox TEXT NOT NULL,
        period TEXT,
        tool_version TEXT NOT NULL
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        path TEXT NOT NULL,
        file_name TEXT NOT NULL,
        sha256 TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        received_at TEXT NOT NULL,
        unit TEXT,
        period TEXT,
        name_unit TEXT,
        name_period TEXT,
        stamp_ok INTEGER NOT NULL DEFAULT 0,
        stamp_template_id TEXT,
        stamp_catalogue_id TEXT,
        stamp_catalogue_version TEXT,
        stamp_unit TEXT,
        stamp_period TEXT,
        valid INTEGER NOT NULL,
        errors INTEGER NOT NULL DEFAULT 0,
        warnings INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('current', 'superseded', 'rejected', 'older')),
        reason TEXT
    );
    CREATE INDEX files_unit_period ON files (unit, period);
    CREATE INDEX files_period ON files (period);
    CREATE TABLE file_values (
        file_id INTEGER NOT NULL REFERENCES files(id),
        unit TEXT,
        period TEXT,
        code TEXT NOT NULL,
        "column" TEXT NOT NULL,
        value TEXT,
        type TEXT,
        raw TEXT NOT NULL DEFAULT '',
        cell TEXT,
        PRIMARY KEY (file_id, code, "column")
    ) WITHOUT ROWID;
    CREATE TABLE findings (
        file_id INTEGER NOT NULL REFERENCES files(id),
        seq INTEGER NOT NULL,
        code TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        sheet TEXT,
        cell TEXT,
        indicator TEXT,
        value TEXT,
        value_type TEXT,
        PRIMARY KEY (file_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE current (
        unit TEXT NOT NULL,
        period TEXT NOT NULL,
        file_id INTEGER NOT NULL REFERENCES files(id),
        PRIMARY KEY (unit, period)
    ) WITHOUT ROWID;
    CREATE TABLE replacements (
        id INTEGER PRIMARY KEY,
        unit TEXT NOT NULL,
        period TEXT NOT NULL,
        old_file_id INTEGER NOT NULL REFERENCES files(id),
        new_file_id INTEGER NOT NULL REFERENCES files(id),
        replaced_at TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    """,
    # 2: which master was written from which state
    """
    CREATE TABLE masters (
        target TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        written_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 3: the year's workflow: when each file was received and how that is known, the e-mail or zip it came in, what
    # its verdict depended on (re-checks), and every later event of a file (re-checked, received date set)
    """
    ALTER TABLE files ADD COLUMN received_on TEXT;
    ALTER TABLE files ADD COLUMN received_how TEXT;
    ALTER TABLE files ADD COLUMN container TEXT;
    ALTER TABLE files ADD COLUMN basis TEXT;
    UPDATE files SET received_on = date(mtime, 'unixepoch', 'localtime'), received_how = 'mtime';
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id),
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX events_file ON events (file_id);
    """,
    # 4: derived data, kept only to make re-runs fast (thidua.derived): never part of the record
    """
    CREATE TABLE derived_blocks (
        period TEXT NOT NULL,
        block INTEGER NOT NULL,
        data_key TEXT NOT NULL,
        digest TEXT NOT NULL,
        digest_check INTEGER NOT NULL,
        xml_key TEXT,
        xml BLOB,
        xml_check INTEGER,
        xml_crc INTEGER,
        xml_size INTEGER,
        xml_refs INTEGER,
        PRIMARY KEY (period, block)
    );
    CREATE TABLE derived_stats (
        path BLOB PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        ctime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        hashed_ns INTEGER NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
TABLES = ("batches", "files", "file_values", "findings", "current", "replacements", "events")

#: How a file's received date is known (``files.received_how``), in the order of precedence: set by the secretary
#: afterwards (``thidua received``), the Date header of the e-mail it came attached to, the date given for the whole
#: run (``--received``), the file's modification time in the inbox.
RECEIVED_MANUAL, RECEIVED_EMAIL, RECEIVED_BATCH, RECEIVED_MTIME = "manual", "email", "batch", "mtime"
RECEIVED_HOW_VI = {
    RECEIVED_MANUAL: "Văn phòng nhập",
    RECEIVED_EMAIL: "Ngày gửi thư điện tử",
    RECEIVED_BATCH: "Ngày nhận của đợt",
    RECEIVED_MTIME: "Thời điểm lưu tệp",
}


_FILE_KEYS = "id, status, unit, period, basis, path, container, sha256"


def find_ledger(start: Path | str, *, below: bool = False) -> Path | None:
    """The year's ledger as every command finds it: ``thidua-ledger.sqlite`` in ``start`` (a folder, or a file's
    folder), else in its parent, else in its grandparent (one inbox per month under the year's folder, or under a
    folder of inboxes); with ``below``, else in exactly one subfolder of ``start`` (the report run from the year's
    folder when the ledger sits beside the inboxes one level down). None when there is none."""
    here = Path(start).resolve()
    if here.is_file() or (not here.exists() and here.suffix):
        here = here.parent
    for folder in (here, here.parent, here.parent.parent):
        candidate = folder / DEFAULT_NAME
        if candidate.is_file():
            return candidate
    if below and here.is_dir():
        found = []
        with contextlib.suppress(OSError):
            found = [p / DEFAULT_NAME for p in here.iterdir() if p.is_dir() and (p / DEFAULT_NAME).is_file()]
        if len(found) == 1:
            return found[0]
    return None


# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Received:
    """One file to record: the validation result and the identity of the bytes that were checked.

    ``received_on``/``received_how``: when the file counts as received and how that is known (default: the day of
    its mtime); ``origin``: the path to record when it is not the path that was read (an e-mail's or zip's
    attachment: ``thư.eml › tệp.xlsx``), ``container`` the e-mail or zip; ``basis``: see :meth:`Ledger.basis`."""

    result: FileResult
    sha256: str
    size: int
    mtime: float
    received_on: dt.date | None = None
    received_how: str = RECEIVED_MTIME
    origin: str | None = None
    container: str | None = None
    basis: str | None = None

    def received_day(self) -> dt.date:
        return self.received_on or dt.date.fromtimestamp(self.mtime)


@dataclass
class RecordSummary:
    """What one :meth:`Ledger.record` call changed."""

    new: list[dict[str, Any]] = field(default_factory=list)
    current: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    older: list[dict[str, Any]] = field(default_factory=list)
    replacements: list[dict[str, Any]] = field(default_factory=list)
    rechecked: list[dict[str, Any]] = field(default_factory=list)


def _now() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat()


def _fmt_mtime(mtime: float) -> str:
    return dt.datetime.fromtimestamp(mtime).strftime("%d/%m/%Y %H:%M:%S")


class Ledger:
    """An open ledger. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path | str, *, create: bool = True):
        self.path = Path(path)
        self._create = create
        db = None
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            ledgerfile.precheck(self.path, create=create)  # another application's file is refused untouched
            self.db = db = sqlite3.connect(str(self.path), isolation_level=None, timeout=ledgerfile.LOCK_TIMEOUT)
            self._kind = ledgerfile.identify(db, self.path, create=create)  # before any write, even a pragma
            self.db.execute("PRAGMA journal_mode=DELETE")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # A run's writes stay in memory until COMMIT: a spill needs an exclusive lock, which would wait for the
            # validator's workers reading the history.
            self.db.execute("PRAGMA cache_size=-131072")
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            if db is not None:
                db.close()
            problem = write_problem(exc, self.path.parent)
            if problem is not None:
                raise WriteFailed(self.path, problem, (
                    f"{problem} khi mở sổ theo dõi “{self.path}”. Sổ theo dõi vẫn giữ nguyên; hãy giải phóng dung "
                    "lượng rồi chạy lại.")) from None
            if isinstance(exc, OSError):
                raise
            raise ledgerfile.ledger_error(exc, self.path) or ThiDuaError(
                f"Không mở được sổ theo dõi {self.path}: tệp hỏng hoặc không phải sổ theo dõi.") from None
        except ThiDuaError:
            if db is not None:
                db.close()
            raise
        self._in_transaction = False
        self._batch: int | None = None
        # The cells this connection inserted, per file, exactly as inserted (VALUES_INSERT): the period's tables made
        # right after a run take them from here instead of reading tens of thousands of rows back (issue #16: 0.09 s
        # of a first run of 1,000 files). Dropped when their transaction rolls back or a file's cells are replaced;
        # at most KEPT_ROWS rows (beyond that, none are kept: the tables read the ledger as before).
        self._kept: dict[int, list[tuple]] = {}
        self._kept_count = 0

    # -- life cycle ----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ThiDuaError(
                f"Sổ theo dõi {self.path} có phiên bản cấu trúc {version}, mới hơn phiên bản chương trình này hiểu "
                f"({SCHEMA_VERSION}): hãy cập nhật chương trình."
            )

    def _migrate(self) -> None:
        """Create or upgrade the schema, all under the write lock: the version is read again once the lock is held
        (another session may have just created the ledger), and a ledger made before the application id gets it."""
        self._check_version(self.version)
        if self.version == SCHEMA_VERSION and self._kind == "ours":
            return
        if 1 <= self.version < SCHEMA_VERSION:  # an upgrade changes a ledger that holds data: keep a copy first
            with contextlib.suppress(ThiDuaError, OSError, sqlite3.Error):
                ledgerfile.backup_ledger(self.db, self.path)
        try:
            with ledgerfile.write_lock(self.db, self.path):
                version = self.version
                self._check_version(version)
                self._kind = ledgerfile.identify(self.db, self.path, create=self._create)
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {number + 1}")
                self.db.execute(f"PRAGMA application_id = {ledgerfile.APPLICATION_ID}")
        except ThiDuaError:
            # A read-only ledger of the current schema, made before the application id, is still read (report):
            # only a run that writes needs the lock, and it says so then.
            if self.version == SCHEMA_VERSION and self._kind == "legacy" and not self._create:
                return
            raise

    @contextlib.contextmanager
    def transaction(self, *, backup: bool = False) -> Iterator[Ledger]:
        """``BEGIN IMMEDIATE … COMMIT`` (rolled back on any error). Not re-entrant. ``backup``: when the transaction
        changed anything, copy the ledger as it was before it into ``.backup/`` just before the commit
        (:func:`thidua.ledgerfile.backup_committed`)."""
        if self._in_transaction:
            raise RuntimeError("ledger transaction already open")
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ledgerfile.ledger_error(exc, self.path) or ThiDuaError(ledgerfile.busy_message(self.path)) \
                from None
        self._in_transaction = True
        self._batch = None
        changes = self.db.total_changes
        taken = None
        try:
            try:
                yield self
                if backup and self.db.total_changes != changes:
                    taken = ledgerfile.backup_committed(self.path)
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                ledgerfile.discard_backup(taken)  # the ledger stays as it was: the copy of it is not needed
                raise
        except sqlite3.Error as exc:
            problem = write_problem(exc, self.path.parent)
            if problem is None:
                raise (ledgerfile.ledger_error(exc, self.path) or exc) from exc
            raise WriteFailed(self.path, problem, (
                f"{problem} khi ghi sổ theo dõi “{self.path}”. Các thay đổi của lần chạy này đã được hủy: sổ theo dõi "
                "vẫn giữ nguyên như trước. Hãy giải phóng dung lượng rồi chạy lại.")) from exc
        finally:
            self._in_transaction = False
            self._batch = None

    def _rollback(self) -> None:
        """Roll back the open transaction. SQLite may already have rolled it back itself (after a full disk or a disk
        error, say): then there is nothing to do, and the error that caused it is what matters."""
        self._kept.clear()
        with contextlib.suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    # -- queries -------------------------------------------------------------------------------------------------------

    def known_hashes(self, hashes: Iterable[str] | None = None) -> set[str]:
        """The SHA-256 values already recorded (all of them, or those among ``hashes``)."""
        if hashes is None:
            return {h for (h,) in self.db.execute("SELECT sha256 FROM files")}
        wanted = list(hashes)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(h for (h,) in self.db.execute(f"SELECT sha256 FROM files WHERE sha256 IN ({marks})", chunk))
        return found

    def known_files(self, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The recorded files among ``hashes``: sha256 -> ``{id, status, unit, period, basis, path, container,
        sha256}``."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            cur = self.db.execute(f"SELECT {_FILE_KEYS} FROM files WHERE sha256 IN ({marks})", chunk)
            cols = [d[0] for d in cur.description]
            for row in cur:
                entry = dict(zip(cols, row, strict=True))
                found[entry["sha256"]] = entry
        return found

    def rejected_files(self, year: str) -> list[dict[str, Any]]:
        """The rejected files of a year (as :meth:`known_files`), in received order."""
        cur = self.db.execute(f"SELECT {_FILE_KEYS} FROM files WHERE status = ? AND period >= ? AND period <= ? "
                              "ORDER BY id", (REJECTED, f"{year}-01", f"{year}-12"))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    def earlier_ytd(self, unit: str, period: str, code: str) -> tuple[str, int] | None:
        """The latest earlier month of the same year (``YYYY-MM``) for which ``unit`` has a current file with a
        year-to-date figure for ``code``, and that figure. The history interface the validator uses."""
        row = self.db.execute(
            """SELECT c.period, v.value FROM current c
               JOIN file_values v ON v.file_id = c.file_id AND v.code = ? AND v."column" = 'ytd' AND v.type = 'int'
               WHERE c.unit = ? AND c.period < ? AND c.period >= ?
               ORDER BY c.period DESC LIMIT 1""",
            (code, unit, period, f"{period[:4]}-01"),
        ).fetchone()
        return (row[0], int(row[1])) if row else None

    def history(self) -> LedgerHistory:
        """A picklable view of :meth:`earlier_ytd` for worker processes (reads the committed ledger)."""
        return LedgerHistory(str(self.path))

    def current_file(self, unit: str, period: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT f.* FROM current c JOIN files f ON f.id = c.file_id WHERE c.unit = ? AND c.period = ?",
            (unit, period),
        ).fetchone()
        return self._row(row, "files") if row else None

    def files(self, **where: Any) -> list[dict[str, Any]]:
        """Rows of ``files`` matching ``column=value`` pairs, in received order."""
        cond = " AND ".join(f"{k} IS ?" for k in where) or "1"
        cur = self.db.execute(f"SELECT * FROM files WHERE {cond} ORDER BY id", tuple(where.values()))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]

    def replacements(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM replacements ORDER BY id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]

    def _row(self, row: tuple, table: str) -> dict[str, Any]:
        cols = [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]
        return dict(zip(cols, row, strict=True))

    def state(self) -> str:
        """Where the record stands: it changes with every run that records anything (each such run adds a batch and
        files) and with the schema."""
        batch, files, last, event = self.db.execute(
            "SELECT (SELECT MAX(id) FROM batches), (SELECT COUNT(*) FROM files), (SELECT MAX(id) FROM files), "
            "(SELECT MAX(id) FROM events)"
        ).fetchone()
        return f"{self.version}:{batch}:{files}:{last}:{event}"

    def master_note(self, target: str) -> tuple[str, str] | None:
        """``(state, sha256)`` noted when the master ``target`` (a resolved path) was last written, if it was."""
        row = self.db.execute("SELECT state, sha256 FROM masters WHERE target = ?", (target,)).fetchone()
        return (row[0], row[1]) if row else None

    def note_master(self, target: str, state: str, sha256: str) -> None:
        """Note that the master ``target`` was written from ``state`` and holds bytes of hash ``sha256`` (a
        transaction of its own)."""
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO masters (target, state, sha256, written_at) VALUES (?, ?, ?, ?)",
                            (target, state, sha256, _now()))

    def dump(self) -> dict[str, list[tuple]]:
        """Every row of every table, sorted: for comparing two ledgers."""
        out = {}
        for table in TABLES:
            rows = self.db.execute(f"SELECT * FROM {table}").fetchall()
            out[table] = sorted(rows, key=lambda r: tuple((x is None, str(x)) for x in r))
        return out

    # -- writing -------------------------------------------------------------------------------------------------------

    def record(
        self,
        received: list[Received],
        *,
        inbox: Path | str = "",
        period: str | None = None,
        received_at: str | None = None,
        summary: RecordSummary | None = None,
    ) -> RecordSummary:
        """Record new files and apply the current-file policy. Must run inside :meth:`transaction`; may be called
        several times in one transaction (one batch row for all), adding to ``summary``.

        Files of one call are taken oldest first (by mtime, then path); a file whose hash is already known is ignored.
        """
        if not self._in_transaction:
            raise RuntimeError("Ledger.record must run inside Ledger.transaction()")
        summary = summary if summary is not None else RecordSummary()
        known = self.known_hashes(r.sha256 for r in received)
        fresh: dict[str, Received] = {}
        for item in sorted(received, key=lambda r: (r.mtime, str(r.result.path))):
            if item.sha256 not in known and item.sha256 not in fresh:
                fresh[item.sha256] = item
        if not fresh:
            return summary
        if self._batch is None:
            self._batch_at = received_at or _now()
            self._batch = self.db.execute(
                "INSERT INTO batches (received_at, inbox, period, tool_version) VALUES (?, ?, ?, ?)",
                (self._batch_at, str(inbox), period, __version__),
            ).lastrowid
        batch, received_at = self._batch, self._batch_at
        values_rows: list[tuple] = []
        finding_rows: list[tuple] = []
        for item in fresh.values():
            file_id, info = self._insert_file(item, batch, received_at, period)
            summary.new.append(info)
            values_rows.extend(_value_rows(file_id, item.result, info["unit"], info["period"]))
            finding_rows.extend(_finding_rows(file_id, item.result.findings))
            self._apply_policy(file_id, info, received_at, summary)
        insert_values(self.db, values_rows)
        self._keep(values_rows)
        self.db.executemany(
            "INSERT INTO findings (file_id, seq, code, severity, message, sheet, cell, indicator, value, value_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            finding_rows,
        )
        return summary

    def _verdict(self, item: Received, batch_period: str | None) -> dict[str, Any]:
        """What a checked file is: its unit and period, whether it is valid, its counts (the ``info`` of a file)."""
        res = item.result
        sub = res.submission
        errors = sum(1 for f in res.findings if f.severity == ERROR)
        warnings = sum(1 for f in res.findings if f.severity == WARNING)
        valid = errors == 0 and bool(res.unit) and bool(res.period)
        path = Path(res.path)
        unit, period = res.unit, res.period
        if not valid:
            # A rejected file counts for the unit and period it was sent for: its name says so even when its content
            # is of another month (a unit that filled in last month's form); else what the file says, else the run's.
            unit = unit or getattr(sub, "name_unit", None)
            period = getattr(sub, "name_period", None) or period or batch_period
        return {
            "path": display_name(item.origin or path),  # as shown; stored losslessly (its bytes if not UTF-8)
            "file_name": display_name(getattr(sub, "file_name", None) or path.name),
            "sha256": item.sha256,
            "size": item.size,
            "mtime": item.mtime,
            "unit": unit,
            "period": period,
            "valid": valid,
            "errors": errors,
            "warnings": warnings,
            "first_errors": "; ".join([f.message for f in res.findings if f.severity == ERROR][:3]),
            "received_on": item.received_day().isoformat(),
            "received_how": item.received_how,
            "container": item.container,
        }

    def basis(self, unit: str | None, period: str | None, catalogue_fingerprint: str | None) -> str:
        """What the verdict on a file of ``unit`` and ``period`` depends on besides its own bytes: the catalogue (with
        the unit registry and the organisation) and which file is current for each earlier month of the unit's year
        (the year-to-date checks). A rejected file whose basis is no longer the same is checked again."""
        digest = hashlib.sha256((catalogue_fingerprint or "").encode("utf-8"))
        if unit and period and len(period) == 7:
            for month, file_id in self.db.execute(
                    "SELECT period, file_id FROM current WHERE unit = ? AND period >= ? AND period < ? ORDER BY period",
                    (unit, f"{period[:4]}-01", period)):
                digest.update(f"|{month}:{file_id}".encode())
        return digest.hexdigest()

    def _insert_file(self, item: Received, batch: int, received_at: str, batch_period: str | None
                     ) -> tuple[int, dict[str, Any]]:
        sub = item.result.submission
        stamp = (getattr(sub, "stamp", None) or {}) if sub is not None else {}
        info = self._verdict(item, batch_period)
        unit, period = info["unit"], info["period"]
        file_id = self.db.execute(
            """INSERT INTO files (batch_id, path, file_name, sha256, size, mtime, received_at, unit, period, name_unit,
                   name_period, stamp_ok, stamp_template_id, stamp_catalogue_id, stamp_catalogue_version, stamp_unit,
                   stamp_period, valid, errors, warnings, status, reason, received_on, received_how, container, basis)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                batch, stored_path(item.origin or item.result.path), info["file_name"], item.sha256, item.size,
                item.mtime, received_at, unit,
                period, getattr(sub, "name_unit", None), getattr(sub, "name_period", None),
                int(bool(getattr(sub, "stamp_ok", False))), stamp.get("template_id"), stamp.get("catalogue_id"),
                stamp.get("catalogue_version"), stamp.get("unit_code"), stamp.get("period"), int(info["valid"]),
                info["errors"], info["warnings"], REJECTED, None, info["received_on"], info["received_how"],
                info["container"], self.basis(unit, period, item.basis),
            ),
        ).lastrowid
        info["id"] = file_id
        return file_id, info

    def _keep(self, rows: list[tuple]) -> None:
        """Keep ``rows`` (just inserted with VALUES_INSERT, each file's together) for :meth:`take_cells`."""
        if self._kept_count < 0:
            return
        self._kept_count += len(rows)
        if self._kept_count > KEPT_ROWS:  # too many to hold: none are kept for the rest of this connection
            self._kept.clear()
            self._kept_count = -1
            return
        kept = self._kept
        for file_id, group in itertools.groupby(rows, key=_first):
            kept.setdefault(file_id, []).extend(group)

    def take_cells(self, ids: Iterable[int]) -> tuple[list[tuple], list[int]]:
        """The cells of the files ``ids`` that this connection inserted and still holds, each file's together, as rows
        of VALUES_INSERT (the shape in which the period's tables read them from the ledger), and the ids of the other
        files, whose cells are to be read. Cells are given once: asked again, they are read from the ledger."""
        rows: list[tuple] = []
        others: list[int] = []
        kept = self._kept
        for file_id in ids:
            found = kept.pop(file_id, None)
            if found is None:
                others.append(file_id)
            else:
                rows += found
        return rows, others

    def recheck(self, file_id: int, item: Received, *, why: str, batch_period: str | None = None,
                summary: RecordSummary | None = None) -> RecordSummary:
        """Record a new verdict on a rejected file already in the ledger (same bytes, checked again because what its
        rejection depended on changed, or on demand): its values and findings are replaced, the current-file policy
        is applied as for a new file, and the event is logged with the old and the new verdict. Must run inside
        :meth:`transaction`."""
        if not self._in_transaction:
            raise RuntimeError("Ledger.recheck must run inside Ledger.transaction()")
        summary = summary if summary is not None else RecordSummary()
        old = self.db.execute("SELECT status, errors, file_name FROM files WHERE id = ?", (file_id,)).fetchone()
        if old is None or old[0] != REJECTED:
            return summary
        sub = item.result.submission
        stamp = (getattr(sub, "stamp", None) or {}) if sub is not None else {}
        info = self._verdict(item, batch_period)
        info.pop("path")  # the file keeps the path, name and received date it was recorded with
        row = self.db.execute("SELECT path, file_name, received_on, received_how, container FROM files WHERE id = ?",
                              (file_id,)).fetchone()
        info.update(path=row[0], file_name=row[1], received_on=row[2], received_how=row[3], container=row[4],
                    id=file_id)
        self.db.execute("DELETE FROM file_values WHERE file_id = ?", (file_id,))
        self._kept.pop(file_id, None)  # its cells are read back from the ledger from now on
        self.db.execute("DELETE FROM findings WHERE file_id = ?", (file_id,))
        self.db.execute(
            """UPDATE files SET unit = ?, period = ?, stamp_ok = ?, stamp_template_id = ?, stamp_catalogue_id = ?,
                   stamp_catalogue_version = ?, stamp_unit = ?, stamp_period = ?, valid = ?, errors = ?, warnings = ?,
                   basis = ? WHERE id = ?""",
            (info["unit"], info["period"], int(bool(getattr(sub, "stamp_ok", False))), stamp.get("template_id"),
             stamp.get("catalogue_id"), stamp.get("catalogue_version"), stamp.get("unit_code"), stamp.get("period"),
             int(info["valid"]), info["errors"], info["warnings"], self.basis(info["unit"], info["period"], item.basis),
             file_id),
        )
        insert_values(self.db, _value_rows(file_id, item.result, info["unit"], info["period"]))
        self.db.executemany(
            "INSERT INTO findings (file_id, seq, code, severity, message, sheet, cell, indicator, value, value_type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(_finding_rows(file_id, item.result.findings)),
        )
        at = _now()
        self._apply_policy(file_id, info, at, summary)
        status = self.db.execute("SELECT status FROM files WHERE id = ?", (file_id,)).fetchone()[0]
        before = f"bị trả lại ({old[1]} lỗi)"
        after = (f"vẫn bị trả lại ({info['errors']} lỗi)" if status == REJECTED
                 else "được dùng" if status == CURRENT else "hợp lệ nhưng cũ hơn tệp đang dùng")
        self.log(file_id, "recheck", f"Kiểm tra lại ({why}): {before} → {after}.", at=at)
        summary.rechecked.append({**info, "status": status, "why": why})
        return summary

    def log(self, file_id: int, kind: str, detail: str, *, at: str | None = None) -> None:
        """Add an event to a file's history (inside a transaction)."""
        self.db.execute("INSERT INTO events (file_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                        (file_id, at or _now(), kind, detail))

    def events(self, file_id: int | None = None) -> list[dict[str, Any]]:
        cond, args = ("WHERE file_id = ?", (file_id,)) if file_id is not None else ("", ())
        cur = self.db.execute(f"SELECT * FROM events {cond} ORDER BY id", args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur]

    def set_received(self, file_id: int, day: dt.date, note: str = "") -> tuple[str | None, str]:
        """Set the day a recorded file counts as received (the secretary knows it better than the file's time), and
        log it; ``(old day, new day)`` as ISO dates. A transaction of its own."""
        with self.transaction():
            row = self.db.execute("SELECT received_on FROM files WHERE id = ?", (file_id,)).fetchone()
            if row is None:
                raise ThiDuaError(f"Sổ theo dõi không có tệp mã {file_id}.")
            new = day.isoformat()
            self.db.execute("UPDATE files SET received_on = ?, received_how = ? WHERE id = ?",
                            (new, RECEIVED_MANUAL, file_id))
            shown = "chưa ghi" if row[0] is None else dt.date.fromisoformat(row[0]).strftime("%d/%m/%Y")
            detail = f"Ngày nhận: {shown} → {day:%d/%m/%Y}" + (f" ({note})" if note else "") + "."
            self.log(file_id, "received", detail)
        return row[0], new

    def _apply_policy(self, file_id: int, info: dict[str, Any], at: str, summary: RecordSummary) -> None:
        unit, period = info["unit"], info["period"]
        if not info["valid"]:
            if info["errors"]:
                reason = f"Có {info['errors']} lỗi — {info['first_errors']}"
            else:
                reason = "Không xác định được đơn vị hoặc kỳ báo cáo của tệp."
            self._set_status(file_id, REJECTED, reason)
            summary.rejected.append({**info, "status": REJECTED, "reason": reason})
            return
        cur = self.db.execute(
            "SELECT f.id, f.mtime, f.file_name FROM current c JOIN files f ON f.id = c.file_id "
            "WHERE c.unit = ? AND c.period = ?",
            (unit, period),
        ).fetchone()
        if cur is None:
            self.db.execute("INSERT INTO current (unit, period, file_id) VALUES (?, ?, ?)", (unit, period, file_id))
            self._set_status(file_id, CURRENT, None)
            summary.current.append({**info, "status": CURRENT})
            return
        old_id, old_mtime, old_name = cur
        if (info["mtime"], file_id) > (old_mtime, old_id):
            reason = (f"Tệp {info['file_name']} (lưu lúc {_fmt_mtime(info['mtime'])}) mới hơn tệp {old_name} "
                      f"(lưu lúc {_fmt_mtime(old_mtime)}).")
            self.db.execute("UPDATE current SET file_id = ? WHERE unit = ? AND period = ?", (file_id, unit, period))
            self._set_status(old_id, SUPERSEDED, f"Đã được thay bằng tệp {info['file_name']} (mã tệp {file_id}).")
            self._set_status(file_id, CURRENT, None)
            self.db.execute(
                "INSERT INTO replacements (unit, period, old_file_id, new_file_id, replaced_at, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (unit, period, old_id, file_id, at, reason),
            )
            summary.current.append({**info, "status": CURRENT})
            summary.replacements.append({"unit": unit, "period": period, "old_file_id": old_id,
                                         "old_file": old_name, "new_file_id": file_id,
                                         "new_file": info["file_name"], "reason": reason})
            return
        reason = (f"Không dùng: cũ hơn tệp đang dùng {old_name} (lưu lúc {_fmt_mtime(old_mtime)}; "
                  f"tệp này lưu lúc {_fmt_mtime(info['mtime'])}).")
        self._set_status(file_id, OLDER, reason)
        summary.older.append({**info, "status": OLDER, "reason": reason})

    def _set_status(self, file_id: int, status: str, reason: str | None) -> None:
        self.db.execute("UPDATE files SET status = ?, reason = ? WHERE id = ?", (status, reason, file_id))


_first = operator.itemgetter(0)
#: A file's cells as :meth:`Ledger.record` inserts them, in this order of columns: file id, code, column, value as text,
#: its type, raw text, A1 cell, then the unit and the period. The period's tables take rows of this shape, whether kept
#: (:meth:`Ledger.take_cells`) or read back (:func:`thidua.consolidate._cell_rows`, which gives no unit and period).
VALUES_INSERT = ('INSERT INTO file_values (file_id, code, "column", value, type, raw, cell, unit, period) '
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


#: Rows of VALUES_INSERT given to SQLite in one statement (9 parameters each: far below SQLite's limit, 999 in its
#: oldest releases). A thousand files' 76,000 cells are inserted in 0.12 s this way, 0.15 s one statement a row.
VALUES_PER_INSERT = 100
_VALUES_MANY = VALUES_INSERT.split(" VALUES ")[0] + " VALUES " + ", ".join(
    ["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * VALUES_PER_INSERT)


def insert_values(db: sqlite3.Connection, rows: list[tuple]) -> None:
    """Insert ``rows`` (of VALUES_INSERT) in statements of VALUES_PER_INSERT rows, the rest one by one."""
    full = len(rows) - len(rows) % VALUES_PER_INSERT
    if full:
        flat = itertools.chain.from_iterable
        db.executemany(_VALUES_MANY, [tuple(flat(rows[at:at + VALUES_PER_INSERT]))
                                      for at in range(0, full, VALUES_PER_INSERT)])
    if full < len(rows):
        db.executemany(VALUES_INSERT, rows[full:])


def _value_rows(file_id: int, res: FileResult, unit: str | None, period: str | None) -> list[tuple]:
    """The rows VALUES_INSERT inserts for a file's cells: its stored rows (:func:`thidua.reader.stored_rows`, made by
    the validator's process that read it when one did) with the file id before and the unit and period after."""
    from .reader import stored_rows  # here: the ledger alone (restore-ledger, received) need not load the reader

    sub = res.submission
    if sub is None:
        return []
    return [(file_id, *row, unit, period) for row in stored_rows(sub)]


def _finding_rows(file_id: int, findings: list[Finding]) -> Iterator[tuple]:
    for seq, f in enumerate(findings):
        value = f.value
        if value is not None and not isinstance(value, (str, int, float, bool, dt.date)):
            value = json.dumps(value, ensure_ascii=False, default=str)
        text, kind = encode_value(value)
        yield file_id, seq, f.code, f.severity, f.message, f.sheet, f.cell, f.indicator, text, kind


def finding_from_row(file_name: str, row: tuple) -> Finding:
    """A :class:`Finding` from a ``findings`` row ``(code, severity, message, sheet, cell, indicator, value, type)``."""
    code, severity, message, sheet, cell, indicator, value, kind = row
    return Finding(code=code, severity=severity, message=message, file=file_name, sheet=sheet, cell=cell,
                   indicator=indicator, value=decode_value(value, kind))


# ----------------------------------------------------------------------------------------------------------------------


_YTD_QUERY = """SELECT c.unit, v.code, c.period, v.value FROM current c
    JOIN file_values v ON v.file_id = c.file_id AND v."column" = 'ytd' AND v.type = 'int'
    WHERE c.period >= ? AND c.period <= ? AND c.unit IN ({marks})"""


class LedgerHistory:
    """``earlier_ytd`` over the committed ledger (the history the validator asks for).

    In the process that made it, a unit's year-to-date figures of a year are loaded on first use through a read-only
    connection of its own. ``overlay`` adds figures not yet committed (earlier months received in the same run).
    A copy sent to a worker process carries the figures loaded so far (see :meth:`preload`) and never opens the
    ledger there: an SQLite connection must not be used across a fork, and the parent holds one.
    """

    def __init__(self, path: str, overlay: dict[tuple[str, str], list[tuple[str, int]]] | None = None):
        self.path = path
        self.overlay = overlay or {}
        self._db: sqlite3.Connection | None = None
        self._cache: dict[tuple[str, str], dict[str, list[tuple[str, int]]]] = {}
        self._frozen = False

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "overlay": self.overlay, "cache": self._cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["overlay"])
        self._cache = state["cache"]
        self._frozen = True

    def add(self, unit: str, period: str, code: str, value: int) -> None:
        self.overlay.setdefault((unit, code), []).append((period, value))

    def preload(self, db: sqlite3.Connection, units: Iterable[str], years: Iterable[str]) -> None:
        """Load the figures of ``units`` for ``years`` at once through ``db`` (before the history is sent to
        workers)."""
        units = sorted(set(units))
        for year in sorted(set(years)):
            for u in units:
                self._cache.setdefault((u, year), {})
            for start in range(0, len(units), 500):
                chunk = units[start:start + 500]
                rows = db.execute(_YTD_QUERY.format(marks=",".join("?" * len(chunk))),
                                  (f"{year}-01", f"{year}-12", *chunk))
                for unit, code, period, value in rows:
                    self._cache[(unit, year)].setdefault(code, []).append((period, int(value)))

    def _unit_year(self, unit: str, year: str) -> dict[str, list[tuple[str, int]]]:
        key = (unit, year)
        found = self._cache.get(key)
        if found is None:
            found = {}
            if not self._frozen:
                if self._db is None and self.path and Path(self.path).is_file():
                    self._db = ledgerfile.open_readonly(self.path)
                if self._db is not None:
                    for _unit, code, period, value in self._db.execute(
                            _YTD_QUERY.format(marks="?"), (f"{year}-01", f"{year}-12", unit)):
                        found.setdefault(code, []).append((period, int(value)))
            self._cache[key] = found
        return found

    def earlier_ytd(self, unit: str, period: str, code: str) -> tuple[str, int] | None:
        year = period[:4]
        # A month checked in this run (the overlay) replaces what the ledger holds for that month: a corrected
        # earlier month is what a later month is compared with.
        by_month = dict(self._unit_year(unit, year).get(code, ()))
        by_month.update(self.overlay.get((unit, code), ()))
        earlier = [(p, v) for p, v in by_month.items() if p[:4] == year and p < period]
        return max(earlier) if earlier else None


def open_ledger(path_or_ledger: Ledger | Path | str) -> tuple[Ledger, bool]:
    """``(ledger, opened_here)``: accept an open ledger or a path."""
    if isinstance(path_or_ledger, Ledger):
        return path_or_ledger, False
    return Ledger(path_or_ledger), True
