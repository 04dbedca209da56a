"""Consolidation: new files from an inbox into the ledger, and the ledger into one period's tables.

:func:`consolidate` is the batch: hash every file in the inbox (e-mails and zips opened, :mod:`thidua.arrivals`),
validate those whose bytes the ledger does not know and the rejected ones whose verdict may have changed, record them
in one transaction (see :mod:`thidua.ledger` for the current-file policy), then build the period's
:class:`~thidua.model.PeriodData` with :func:`load_period` and write the master sheets (:mod:`thidua.master`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import hashlib
import itertools
import json
import os
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__, guards
from .arrivals import CONTAINER_SUFFIXES, SHEET_SUFFIXES, Arrival, Collector, Skipped, hash_file, original_first
from .atomic import WriteFailed
from .catalogue import Catalogue
from .errors import ThiDuaError
from .findings import FileResult, Finding
from .ledger import (
    CURRENT,
    DEFAULT_NAME,
    RECEIVED_HOW_VI,
    RECEIVED_MTIME,
    REJECTED,
    Ledger,
    LedgerHistory,
    Received,
    RecordSummary,
    decode_value,
    find_ledger,
    finding_from_row,
    open_ledger,
)
from .model import (
    ASSESSMENT_COLUMNS,
    ATTAINMENT_COLUMNS,
    CARRIED,
    LATE,
    MISSING,
    NOT_DUE,
    ON_TIME,
    RECEIVED_COLUMNS,
    STATUS_COLUMNS,
    VALUE_COLUMNS,
    PeriodData,
)
from .model import REJECTED as STATUS_REJECTED
from .period import Period
from .reader import NAME_RE, is_system_file
from .rules import whole_column
from .validate import check_files, check_in_order, transient_failure  # noqa: F401 (check_files: re-exported)

#: Files in the inbox that are looked at (anything else, e.g. a PDF, is ignored): spreadsheets (legacy and OpenDocument
#: files included so that the unit is told how to send them) and the e-mails and zips they arrive in.
SUFFIXES = SHEET_SUFFIXES | CONTAINER_SUFFIXES
ASSESSMENT_MET = "Đạt"
RECORD_CHUNK = 64
MAX_RECHECK_PASSES = 3
MISSING_REASON = "Chưa nhận được báo cáo."
NOT_DUE_REASON = "Tháng trước khi phát động phong trào: không phải nộp."

#: ``validator(paths, catalogue, period=…, history=…, progress=…, workers=…)`` -> FileResults in any iterable, e.g.
#: :func:`thidua.validate.check_files` (the default) or :func:`thidua.validate.validate_paths`.
Validator = Callable[..., Iterable[FileResult]]


# ----------------------------------------------------------------------------------------------------------------------
# The inbox


def inbox_files(inbox: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """The workbooks directly inside ``inbox`` (not its subfolders), without Excel's ``~$`` owner files, system files
    (:func:`thidua.reader.is_system_file`: ``._name``, ``.~lock.…``; a hidden-looking name such as ``..xlsx`` is
    read), temporary files, and the paths in ``exclude`` (the master and the ledger when they sit in the inbox)."""
    skip = {p.resolve() for p in exclude}
    # Resolving every path costs a system call per folder level; only a link, or a file named like an excluded one,
    # can resolve to an excluded path.
    skip_names = {p.name.casefold() for p in (*skip, *map(Path, exclude))}
    found = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith("~$") or is_system_file(name) or os.path.splitext(name)[1].lower() not in SUFFIXES \
                    or not guards.entry_is_file(entry):  # an entry that cannot be looked at is read, and reported
                continue
            path = inbox / name
            if (entry.is_symlink() or name.casefold() in skip_names) and guards.resolved(path) in skip:
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.name)


# ----------------------------------------------------------------------------------------------------------------------
# The batch


@dataclass
class ConsolidationResult:
    """What one :func:`consolidate` run saw, changed and wrote."""

    period: Period
    inbox: Path
    ledger: Path
    seen: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files whose bytes the ledger already has (not read again)
    unreadable: list[Skipped] = field(default_factory=list)  # not read this time: not recorded, tried again next run
    return_packages: dict[str, Path] = field(default_factory=dict)  # rejected file -> its return package
    summary: RecordSummary = field(default_factory=RecordSummary)
    data: PeriodData | None = None
    master: Path | None = None
    backup: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for the benchmark

    def counts(self) -> dict[str, int]:
        """Submission status of the period: units by status."""
        counts = {ON_TIME: 0, LATE: 0, MISSING: 0, STATUS_REJECTED: 0}
        if self.data is not None and not self.data.status.empty:
            month = self.data.status[self.data.status["period"] == str(self.period)]
            for status, n in month["status"].value_counts().items():
                counts[status] = int(n)
        return counts

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "period": str(self.period),
            "inbox": str(self.inbox),
            "files": {
                "seen": self.seen,
                "new": len(s.new),
                "skipped": len(self.skipped),
                "current": len(s.current),
                "rejected": len(s.rejected),
                "older": len(s.older),
                "rechecked": len(s.rechecked),
                "unreadable": len(self.unreadable),
            },
            "new_files": [
                {"file": f["file_name"], "unit": f["unit"], "period": f["period"], "status": _status_of(s, f["id"]),
                 "errors": f["errors"], "warnings": f["warnings"]}
                for f in s.new
            ],
            "rejected": [{"file": f["file_name"], "unit": f["unit"], "reason": f["reason"]} for f in s.rejected],
            "unreadable": [{"file": k.name, "reason": k.message} for k in self.unreadable],
            "rechecked": [{"file": f["file_name"], "unit": f["unit"], "period": f["period"], "status": f["status"],
                           "why": f["why"]} for f in s.rechecked],
            "return_packages": [{"source": k, "package": str(v)} for k, v in self.return_packages.items()],
            "replacements": [
                {k: r[k] for k in ("unit", "period", "old_file", "new_file", "reason")} for r in s.replacements
            ],
            "status": self.counts(),
            "outputs": {
                "ledger": str(self.ledger),
                "master": str(self.master) if self.master else None,
                "backup": str(self.backup) if self.backup else None,
            },
        }


def _status_of(summary: RecordSummary, file_id: int) -> str:
    for name in ("current", "rejected", "older"):
        if any(f["id"] == file_id for f in getattr(summary, name)):
            return name
    return "?"


def default_ledger(inbox: Path) -> Path:
    """The year's ledger for an inbox: the one found in the inbox, its parent or grandparent folder
    (:func:`thidua.ledger.find_ledger`), else a new one beside the inbox."""
    return find_ledger(Path(inbox)) or Path(inbox).resolve().parent / DEFAULT_NAME


def default_master(inbox: Path, period: Period) -> Path:
    return Path(inbox).resolve().parent / f"tong-hop-{period}.xlsx"


def consolidate(
    inbox: Path | str,
    period: Period | str,
    catalogue: Catalogue,
    *,
    ledger: Path | str | None = None,
    out: Path | str | None = None,
    workbook: Path | str | None = None,
    write: bool = True,
    workers: int | None = None,
    progress: Callable[..., Any] | None = None,
    validator: Validator | None = None,
    received: dt.date | None = None,
    recheck: bool = False,
    return_dir: Path | str | None = None,
) -> ConsolidationResult:
    """Record what is new in ``inbox``, check again the rejected files whose verdict may have changed, then write the
    master of ``period``.

    ``out`` (a new .xlsx, default ``tong-hop-<period>.xlsx`` beside the inbox) or ``workbook`` (an existing .xlsm whose
    master sheets are replaced) is checked first: if it is open in Excel or read-only, nothing at all is written.
    ``write=False`` updates the ledger and returns the tables without writing a workbook.

    Files are checked exactly as ``thidua validate`` checks them (:func:`thidua.validate.check_in_order`). A rejected
    file already in the ledger is checked again when what its rejection depended on changed (the catalogue or unit
    registry, or the current file of an earlier month of its unit: :meth:`thidua.ledger.Ledger.basis`), from the
    inbox or from the path it was recorded with, and with ``recheck=True`` every rejected file of ``period`` is.
    ``received`` is the day the run's new files count as received (see :mod:`thidua.arrivals`). ``return_dir``: a
    return package for every file rejected in this run.

    A master that is still exactly what would be written (the ledger, the catalogue, the period and the program are
    those it was written from, and its bytes are those written: see :func:`master_state`) is left as it is: no
    rewrite, no backup.
    """
    from .master import write_master
    from .sink import OpenpyxlSink, check_target

    period = period if isinstance(period, Period) else Period.parse(str(period))
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise ThiDuaError(f"Không tìm thấy thư mục nhận báo cáo “{inbox}”.")
    ledger_path = Path(ledger) if ledger else default_ledger(inbox)
    if out is not None and workbook is not None:
        raise ThiDuaError("Chỉ dùng một trong hai: --out (tệp tổng hợp mới) hoặc --workbook (sổ .xlsm có sẵn).")
    target: Path | None = None
    if write:
        target = Path(workbook) if workbook is not None else Path(out) if out is not None \
            else default_master(inbox, period)
        check_target(target, must_exist=workbook is not None)
    guards.check_consolidate(inbox, ledger_path, target, workbook is not None, period, catalogue)
    result = ConsolidationResult(period=period, inbox=inbox, ledger=ledger_path)

    clock = _Clock(result.timings)
    recorded = False  # the ledger's transaction is committed
    try:
        from .derived import StatCache, known_stats

        with _no_gc(), Ledger(ledger_path) as led, Collector(received, StatCache(known_stats(led))) as collector:
            exclude = tuple(p for p in (ledger_path, target) if p is not None)
            listed = inbox_files(inbox, exclude)
            arrivals, result.unreadable = collector.collect(listed)
            result.seen = len(listed)
            rejected_results: list[tuple[Arrival, FileResult]] = []
            with led.transaction(backup=True):  # a copy of the ledger as it was, when this run changes it
                fresh, again = _sort_out(led, arrivals, catalogue, period, recheck, result)
                clock("hash")
                keep = rejected_results if return_dir is not None else None
                _check_and_record(led, fresh, again, catalogue, period, validator, workers, progress, inbox,
                                  result, keep)
                # What this run recorded may change the verdict on files rejected before (a corrected earlier
                # month): check those again now rather than on the next run. Each pass can only change files of
                # later months, so a few passes settle it.
                for _ in range(MAX_RECHECK_PASSES):
                    _fresh, again = _sort_out(led, arrivals, catalogue, period, False, ConsolidationResult(
                        period=period, inbox=inbox, ledger=ledger_path))
                    if not again:
                        break
                    redo = [a for a in _fresh if str(a.path) in again]
                    _check_and_record(led, redo, again, catalogue, period, validator, workers, progress, inbox,
                                      result, keep)
                clock("validate_record")
            recorded = True
            clock("commit")
            if return_dir is not None and rejected_results:
                from .returnpkg import write_return_packages

                by_path = {str(res.path): arrival for arrival, res in rejected_results}
                written = write_return_packages([res for _a, res in rejected_results], Path(return_dir), catalogue)
                for source, package in written.items():
                    arrival = by_path.get(str(source))
                    result.return_packages[arrival.shown if arrival else str(source)] = package
            result.new = result.summary.new
            collector.stats.store(led)  # the hashes just made (derived data, best effort)
            frame = load_frame(led, period, catalogue)
            data = LazyPeriodData(frame, functools.partial(_tables_later, ledger_path, led.state(), frame, catalogue))
            result.data = data
            clock("load")
            if target is not None:
                state = master_state(led, period, catalogue, workbook is not None)
                if _master_is_current(led, target, state):  # nothing to do: it holds exactly what would be written
                    clock("tables")
                    clock("save")
                elif workbook is not None:
                    # The sheets of a macro workbook: the plain path (every table made from the whole period), as
                    # the workbook's other sheets are loaded and saved again by openpyxl anyway.
                    sink = OpenpyxlSink(target, keep_vba=True)
                    write_master(data, catalogue, sink)
                    clock("tables")
                    result.backup = sink.save()
                    _note_master(led, target, state)
                    clock("save")
                else:
                    # A new .xlsx: "Tổng hợp" and "Theo nội dung" per block of units, from the ledger's cache where
                    # it holds (thidua.derived): a re-run costs what changed.
                    from .derived import base_strings, write_master_cached

                    sink = OpenpyxlSink(target, strings=base_strings(catalogue, period))
                    update = write_master_cached(led, frame, data, catalogue, sink)
                    clock("tables")
                    try:
                        result.backup = sink.save()
                    finally:
                        update.close()  # the helper process making a share of the blocks, if any
                    clock("save")
                    # The cache before the note: a run killed while storing it leaves the note unwritten, so the
                    # next run writes the master again, in a write transaction that also clears the journal left.
                    update.store(led)
                    _note_master(led, target, state)
                    clock("cache")
                result.master = target
    except WriteFailed as exc:  # no room left on the disk, or a disk error: say what was kept
        raise WriteFailed(exc.path, exc.problem, _write_failed_message(exc, ledger_path, target, recorded,
                                                                      bool(result.summary.new))) from exc
    return result


@dataclass
class _Again:
    """A rejected file to check again: the ledger's file id and why."""

    file_id: int
    why: str


def catalogue_fingerprint(catalogue: Catalogue) -> str:
    """Everything of the catalogue a verdict can depend on (targets, rules, units, organisation, first month)."""
    # Asked several times a run (each repr of a large registry costs milliseconds): kept on the catalogue, which is
    # frozen, as Catalogue keeps its own index of codes.
    found = catalogue.__dict__.get("_fingerprint")
    if found is None:
        found = hashlib.sha256(repr(catalogue).encode("utf-8")).hexdigest()
        object.__setattr__(catalogue, "_fingerprint", found)
    return found


def _sort_out(led: Ledger, arrivals: list[Arrival], catalogue: Catalogue, period: Period, recheck_all: bool,
              result: ConsolidationResult) -> tuple[list[Arrival], dict[str, _Again]]:
    """New arrivals (bytes the ledger does not know, each once), and the rejected files to check again (by path)."""
    fingerprint = catalogue_fingerprint(catalogue)
    known = led.known_files(a.sha256 for a in arrivals)
    fresh: list[Arrival] = []
    again: dict[str, _Again] = {}
    taken: set[str] = set()
    for a in sorted(arrivals, key=original_first):  # of identical copies, the original is the one recorded
        row = known.get(a.sha256)
        if a.sha256 in taken:
            result.skipped.append(a.shown)
            continue
        taken.add(a.sha256)
        if row is None:
            fresh.append(a)
            continue
        why = _recheck_reason(led, row, fingerprint, period, recheck_all)
        if why:
            again[str(a.path)] = _Again(row["id"], why)
            fresh.append(a)
        else:
            result.skipped.append(a.shown)
    # Rejected files of the year not in this inbox (an earlier month's inbox) whose verdict may have changed: checked
    # from the path they were recorded with, when the same bytes are still there.
    ids = {x.file_id for x in again.values()}
    for row in led.rejected_files(f"{period.year:04d}"):
        if row["id"] in ids or row["container"] or row["sha256"] in taken:
            continue
        why = _recheck_reason(led, row, fingerprint, period, recheck_all)
        path = Path(row["path"])
        if not why or not path.is_file():
            continue
        try:
            sha, size, mtime = hash_file(path)
        except OSError:
            continue
        if sha != row["sha256"]:
            continue
        name = unicodedata.normalize("NFC", path.name)
        fresh.append(Arrival(path, name, sha, size, mtime))
        again[str(path)] = _Again(row["id"], why)
        taken.add(sha)
    return fresh, again


def _recheck_reason(led: Ledger, row: dict[str, Any], fingerprint: str, period: Period, recheck_all: bool) -> str:
    """Why a recorded file is checked again (Vietnamese), or "" when it is not."""
    if row["status"] != REJECTED:
        return ""
    if recheck_all and row["period"] == str(period):
        return "theo yêu cầu"
    if row["basis"] == led.basis(row["unit"], row["period"], fingerprint):
        return ""
    if row["basis"] is None or row["basis"] == led.basis(None, None, fingerprint) or not row["unit"]:
        return "danh mục hoặc danh sách đơn vị đã thay đổi"
    return "báo cáo các tháng trước của đơn vị hoặc danh mục đã thay đổi"


def _check_and_record(led: Ledger, fresh: list[Arrival], again: dict[str, _Again], catalogue: Catalogue,
                      period: Period, validator: Validator | None, workers: int | None,
                      progress: Callable[..., Any] | None, inbox: Path, result: ConsolidationResult,
                      rejected: list[tuple[Arrival, FileResult]] | None) -> None:
    """Check the arrivals (:func:`thidua.validate.check_in_order`) and record each verdict: new files in chunks as
    results come in, re-checked files one by one; a chunk is recorded before a re-check and before the next month,
    so that the ledger's current files (the basis of the next verdicts) are always up to date."""
    if not fresh:
        return
    fingerprint = catalogue_fingerprint(catalogue)
    history = LedgerHistory(str(led.path))
    units: set[str] = set()
    years = {str(catalogue.year), f"{period.year:04d}"}
    for a in fresh:
        m = NAME_RE.match(a.name)
        if m:
            units.add(m.group(2).upper())
            years.add(m.group(1)[:4])
        else:  # a file named otherwise: its unit is known only once read
            units.update(u.code for u in catalogue.units)
    history.preload(led.db, units, years)  # the workers get the history with them and never open the ledger
    summary = result.summary
    chunk: list[Received] = []
    last_key = None

    def flush() -> None:
        if chunk:
            led.record(chunk, inbox=inbox.resolve(), period=str(period), summary=summary)
            chunk.clear()

    for arrival, res in check_in_order(fresh, catalogue, period, history, checker=validator, workers=workers,
                                       progress=progress):
        if transient_failure(res):  # gone or locked between the listing and the read: tried again next run
            result.unreadable.append(Skipped(arrival.shown, _transient_message(res)))
            continue
        m = NAME_RE.match(arrival.name)
        key = m.group(1) if m else None
        if key != last_key:
            flush()
            last_key = key
        sub = res.submission
        sha = getattr(sub, "sha256", "") or arrival.sha256
        if sha != arrival.sha256:  # the file changed between hashing and reading: record what was read
            item = Received(res, sha, sub.size, sub.mtime)
        else:
            item = Received(res, arrival.sha256, arrival.size, arrival.mtime)
        item.received_on, item.received_how = arrival.received_on, arrival.received_how
        item.origin, item.container, item.basis = arrival.origin, arrival.container, fingerprint
        redo = again.get(str(arrival.path))
        if redo is not None and sha == arrival.sha256:
            flush()
            led.recheck(redo.file_id, item, why=redo.why, batch_period=str(period), summary=summary)
        else:
            chunk.append(item)
            if len(chunk) >= RECORD_CHUNK:
                flush()
        if rejected is not None and not res.valid:
            rejected.append((arrival, res))
    flush()


def _transient_message(res: FileResult) -> str:
    return ("chưa đọc được lúc này: có thể tệp vừa bị xóa, di chuyển hoặc đang bị chương trình khác (diệt virus, đồng "
            "bộ) khóa. Tệp chưa được ghi vào sổ theo dõi; lần chạy sau sẽ đọc lại.")


def _write_failed_message(exc: WriteFailed, ledger: Path, target: Path | None, recorded: bool, new: bool) -> str:
    """What a run that could not write (a full disk, a disk error) kept: before the ledger's commit nothing changed;
    after it, the ledger holds the run's files and the master is still the old one (it is written again next time)."""
    if not recorded:
        if target is None:
            kept = "sổ theo dõi vẫn giữ nguyên"
        elif target.exists():
            kept = "sổ theo dõi và tệp tổng hợp cũ vẫn giữ nguyên"
        else:
            kept = "sổ theo dõi vẫn giữ nguyên, chưa ghi tệp tổng hợp"
        return (f"{exc.problem} khi ghi sổ theo dõi “{ledger}”. Chưa có gì bị ghi đè: {kept}. Hãy giải phóng dung "
                "lượng rồi chạy lại.")
    where = f"tệp tổng hợp “{target}”" if target is not None else f"“{exc.path}”"
    kept = ("tệp tổng hợp cũ vẫn giữ nguyên (tệp ghi dở đã được xóa)" if target is not None and target.exists()
            else "chưa ghi tệp tổng hợp (tệp ghi dở đã được xóa)")
    ledger_note = " Sổ theo dõi đã ghi nhận các tệp mới của lần chạy này." if new else ""
    return (f"{exc.problem} khi ghi {where}. Chưa có gì bị ghi đè: {kept}.{ledger_note} Hãy giải phóng dung lượng "
            "rồi chạy lại: lần chạy sau sẽ ghi lại tệp tổng hợp.")


# ----------------------------------------------------------------------------------------------------------------------
# Is the master already what would be written?


def master_state(led: Ledger, period: Period, catalogue: Catalogue, workbook: bool) -> str:
    """A fingerprint of everything the master of ``period`` is made from: the state of the ledger (it changes with every
    run that records anything), the period, the catalogue (units, targets, indicators, rules, deadlines), the program
    (its version and source), the local time zone (times received are shown in local time) and the kind of target
    (a new .xlsx or the sheets of an .xlsm)."""
    parts = {
        "ledger": led.state(),
        "period": str(period),
        "workbook": workbook,
        "catalogue": catalogue_fingerprint(catalogue),
        "program": _program_fingerprint(),
        "time_zone": [time.timezone, time.altzone, time.daylight, list(time.tzname)],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


@functools.cache
def _program_fingerprint() -> str:
    """The program's version and the hash of its source files (a changed program may lay out the master otherwise)."""
    digest = hashlib.sha256(__version__.encode("utf-8"))
    folder = Path(__file__).resolve().parent
    for path in sorted(folder.glob("*.py")):
        with contextlib.suppress(OSError):
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _master_key(target: Path) -> str:
    return str(target.resolve())


def _master_is_current(led: Ledger, target: Path, state: str) -> bool:
    """The master was written from ``state`` and its bytes are still those written (not edited, replaced or
    deleted since)."""
    note = led.master_note(_master_key(target))
    if note is None or note[0] != state or not target.is_file():
        return False
    return _file_sha256(target) == note[1]


def _note_master(led: Ledger, target: Path, state: str) -> None:
    """Note what was just written. Best effort: when it cannot be noted, the next run simply writes the master again."""
    sha = _file_sha256(target)
    if sha is None:
        return
    with contextlib.suppress(ThiDuaError, sqlite3.Error):
        led.note_master(_master_key(target), state, sha)


class _Clock:
    def __init__(self, into: dict[str, float]):
        self.into, self.last = into, time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.into[stage] = now - self.last
        self.last = now


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic garbage collection during a batch: it builds hundreds of thousands of small objects that live until
    the end, and the collector, scanning them again and again, would cost about a fifth of the run. Reference
    counting still frees everything as usual; the collector is back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ----------------------------------------------------------------------------------------------------------------------
# The ledger -> one period's tables


def load_period(ledger: Ledger | Path | str, period: Period | str, catalogue: Catalogue) -> PeriodData:
    """The consolidated tables of ``period`` from the ledger (see :class:`thidua.model.PeriodData`)."""
    period = period if isinstance(period, Period) else Period.parse(str(period))
    led, opened = open_ledger(ledger)
    try:
        return _load_period(led, period, catalogue)
    finally:
        if opened:
            led.close()


def _current_files(led: Ledger, period: Period) -> dict[int, tuple[str, str]]:
    """The period's current files: ``{file id: (unit, file name)}``."""
    return {
        file_id: (unit, name)
        for file_id, unit, name in led.db.execute(
            "SELECT f.id, f.unit, f.file_name FROM current c JOIN files f ON f.id = c.file_id WHERE c.period = ?",
            (str(period),),
        )
    }


def _cell_rows(led: Ledger, period: Period) -> Iterable[tuple]:
    """The cells of the period's current files, as a cursor to go through once: rows (file id, code, column, value,
    type, raw, cell, None, None), the shape of :data:`thidua.ledger.VALUES_INSERT`; ``raw`` is None where it is the
    value's text itself (most cells: no second copy of the same text). The unit and the file name are looked up once
    per file (:func:`_current_files`) rather than carried by every cell (the ledger stores a file's unit and period
    with each of its cells, always the file's own): the last two columns are None."""
    return led.db.execute(
        """SELECT v.file_id, v.code, v."column", v.value, v.type,
                  CASE WHEN v.raw = v.value THEN NULL ELSE v.raw END, v.cell, NULL, NULL
           FROM current c JOIN file_values v ON v.file_id = c.file_id
           WHERE c.period = ?""",
        (str(period),),
    )


def _file_rows(led: Ledger, ids: Iterable[int], only_ytd: bool = False) -> list[tuple]:
    """The cells of the files ``ids`` as :func:`_cell_rows` (only the "ytd" ones with ``only_ytd``), file by file."""
    rows: list[tuple] = []
    ids = sorted(ids)
    ytd = """ AND "column" = 'ytd'""" if only_ytd else ""
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        rows.extend(led.db.execute(
            f"""SELECT file_id, code, "column", value, type, CASE WHEN raw = value THEN NULL ELSE raw END, cell,
                       NULL, NULL
                FROM file_values WHERE file_id IN ({marks}){ytd} ORDER BY file_id""", chunk))
    return rows


def _units(catalogue: Catalogue, extra: set[str]) -> list[str]:
    codes = [u.code for u in catalogue.units]
    known = set(codes)
    return codes + sorted(u for u in extra if u and u not in known)


def _carried_files(led: Ledger, period: Period, have: set[str]) -> tuple[dict[int, tuple[str, str]], dict[int, str]]:
    """Year-to-date figures carried forward for units with no accepted file for ``period``: each such unit's latest
    current file of an earlier month of the year. ``({file id: (unit, file name)}, {file id: month})``; their cells
    are the "ytd" ones (:func:`_file_rows`)."""
    latest: dict[str, tuple[str, int, str]] = {}
    for unit, month, file_id, name in led.db.execute(
            """SELECT c.unit, c.period, c.file_id, f.file_name FROM current c JOIN files f ON f.id = c.file_id
               WHERE c.period >= ? AND c.period < ? ORDER BY c.period""",
            (f"{period.year:04d}-01", str(period))):
        if unit not in have:
            latest[unit] = (month, file_id, name)
    files = {file_id: (unit, name) for unit, (_month, file_id, name) in latest.items()}
    months = {file_id: month for _unit, (month, file_id, _name) in latest.items()}
    return files, months


@dataclass
class PeriodFrame:
    """What of a period is cheap to load whatever its size (files, who is current, the status grid, the findings),
    and which files the tables of values come from. :func:`period_tables` makes those tables, for all units or a
    few (the master's cached blocks, :mod:`thidua.derived`)."""

    period: Period
    units: list[str]
    files: list[dict[str, Any]]  # the year's files (:func:`_year_files`)
    current: dict[int, tuple[str, str]]  # the period's current files: id -> (unit, file name)
    carried_files: dict[int, tuple[str, str]]
    carried_months: dict[int, str]
    carried: dict[str, str]  # unit -> month its year-to-date figures are carried from
    status: pd.DataFrame
    month_status: dict[str, str]  # unit -> its status for the period
    received: pd.DataFrame
    findings: list[Finding]
    previous_files: dict[int, tuple[str, str]]  # the previous month's current files
    previous_has_cells: bool  # the previous month has cells at all (else no "previous" table)


def load_frame(led: Ledger, period: Period, catalogue: Catalogue) -> PeriodFrame:
    files = _year_files(led, period)
    current = _current_files(led, period)
    have = {unit for unit, _name in current.values()}
    carried_files, carried_months = _carried_files(led, period, have)
    units = _units(catalogue, have | {unit for unit, _name in carried_files.values()}
                   | {f["unit"] for f in files if f["unit"]})
    carried = {carried_files[file_id][0]: month for file_id, month in carried_months.items()}
    status = _status(files, units, period, catalogue)
    this = str(period)
    month_status = {u: s for u, p, s in zip(status["unit"].tolist(), status["period"].tolist(),
                                            status["status"].tolist(), strict=True) if p == this}
    prev = period.previous()
    previous_files = _current_files(led, prev)
    previous_has_cells = bool(previous_files) and bool(led.db.execute(
        """SELECT EXISTS (SELECT 1 FROM current c JOIN file_values v ON v.file_id = c.file_id WHERE c.period = ?)""",
        (str(prev),)).fetchone()[0])
    return PeriodFrame(period, units, files, current, carried_files, carried_months, carried, status, month_status,
                       _received_table(files, units), _findings(led, period, files), previous_files,
                       previous_has_cells)


@dataclass
class PeriodCells:
    """The cells :func:`period_tables` makes the tables of some units from (rows of :func:`_cell_rows`' shape): those
    of their current files, of the files their year-to-date figures are carried from, and of their previous month's
    files. Gathered from the ledger (:func:`period_cells`); making the tables from them needs no ledger."""

    units: list[str]
    current: dict[int, tuple[str, str]]
    rows: Iterable[tuple]
    carried_files: dict[int, tuple[str, str]]
    carried_rows: list[tuple]
    previous_files: dict[int, tuple[str, str]]
    prev_rows: Iterable[tuple]


def period_cells(led: Ledger, frame: PeriodFrame, only: list[str] | None = None, *, listed: bool = False
                 ) -> PeriodCells:
    """The cells of every unit, or of the units ``only`` (in the frame's order), for :func:`period_tables`. The cells
    this connection recorded in this run are taken as kept (:meth:`thidua.ledger.Ledger.take_cells`), the others read.
    ``listed``: every row in a list (else the current files' cells of every unit may come as a cursor)."""
    if only is None:
        units = frame.units
        current = frame.current
        kept, others = led.take_cells(current)  # the cells of the files this run recorded, as they were inserted
        if not kept or len(others) > len(current) // 2:
            rows: Iterable[tuple] = _cell_rows(led, frame.period)
        else:
            rows = itertools.chain(kept, _file_rows(led, others))
        carried_files = frame.carried_files
        previous_files = frame.previous_files
        prev_rows: Iterable[tuple] = _cell_rows(led, frame.period.previous()).fetchall() \
            if frame.previous_has_cells else []
    else:
        units = only
        wanted = set(only)
        current = {i: f for i, f in frame.current.items() if f[0] in wanted}
        kept, others = led.take_cells(current)
        rows = itertools.chain(kept, _file_rows(led, others))
        carried_files = {i: f for i, f in frame.carried_files.items() if f[0] in wanted}
        previous_files = {i: f for i, f in frame.previous_files.items() if f[0] in wanted}
        prev_rows = _file_rows(led, previous_files) if frame.previous_has_cells else []
    if listed:
        rows = list(rows)
    return PeriodCells(units, current, rows, carried_files, _file_rows(led, carried_files, only_ytd=True),
                       previous_files, prev_rows)


def tables_of(cells: PeriodCells, frame: PeriodFrame, catalogue: Catalogue
              ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """:func:`period_tables` of the units of ``cells``, from those cells."""
    values, assessments = _tables({**cells.current, **cells.carried_files},
                                  itertools.chain(cells.rows, cells.carried_rows), frame.units, catalogue,
                                  frame.carried_months)
    attainment = attainment_table(values, assessments, cells.units, catalogue, frame.month_status)
    if frame.previous_has_cells:
        prev_values, prev_assessments = _tables(cells.previous_files, cells.prev_rows, frame.units, catalogue)
        previous = attainment_table(prev_values, prev_assessments, cells.units, catalogue, {})
    else:
        previous = pd.DataFrame(columns=ATTAINMENT_COLUMNS)
    return values, assessments, attainment, previous


def period_tables(led: Ledger, frame: PeriodFrame, catalogue: Catalogue, only: list[str] | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(values, assessments, attainment, previous)`` of the period (see :class:`~thidua.model.PeriodData`), for
    every unit, or for the units ``only`` (in the frame's order): each unit's rows depend on its own files alone."""
    return tables_of(period_cells(led, frame, only), frame, catalogue)


class LazyPeriodData(PeriodData):
    """A :class:`~thidua.model.PeriodData` whose four big tables (``values``, ``assessments``, ``attainment``,
    ``previous``: tens of thousands of rows) are made on first use, by ``build``; the rest is there from the start.

    A re-run that writes the master from its cache (:mod:`thidua.derived`) needs none of them: the run's cost then
    follows what changed, not the size of the period. Any consumer that reads them gets exactly the tables
    :func:`load_period` makes."""

    LAZY = ("values", "assessments", "attainment", "previous")

    def __init__(self, frame: PeriodFrame, build: Callable[[], tuple[pd.DataFrame, ...]]):
        # The dataclass' own fields, but not the lazy ones: reading one of those falls through to __getattr__.
        self.period, self.units, self.status, self.findings = frame.period, frame.units, frame.status, frame.findings
        self.carried, self.received = frame.carried, frame.received
        self._build: Callable[[], tuple[pd.DataFrame, ...]] | None = build

    def __getattr__(self, name: str) -> Any:
        if name not in LazyPeriodData.LAZY or self.__dict__.get("_build") is None:
            raise AttributeError(name)
        tables = self._build()
        self.__dict__.update(zip(LazyPeriodData.LAZY, tables, strict=True))
        self._build = None
        return self.__dict__[name]

    @property
    def built(self) -> bool:
        """The big tables have been made."""
        return self.__dict__.get("_build") is None


def _tables_later(path: Path, state: str, frame: PeriodFrame, catalogue: Catalogue
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The big tables of a :class:`LazyPeriodData`, from the ledger as it was when the frame was loaded: a ledger
    changed since (another run) is refused rather than mixed with the frame."""
    with Ledger(path, create=False) as led:
        led.db.execute("BEGIN")  # one snapshot for the check and the tables
        try:
            if led.state() != state:
                raise ThiDuaError(f"Sổ theo dõi “{path}” đã được một phiên khác ghi thêm sau lần tổng hợp này: hãy "
                                  "tổng hợp lại để có số liệu mới nhất.")
            return period_tables(led, frame, catalogue)
        finally:
            led.db.execute("ROLLBACK")


def _load_period(led: Ledger, period: Period, catalogue: Catalogue) -> PeriodData:
    frame = load_frame(led, period, catalogue)
    values, assessments, attainment, previous = period_tables(led, frame, catalogue)
    return PeriodData(
        period=period,
        units=frame.units,
        values=values,
        assessments=assessments,
        attainment=attainment,
        status=frame.status,
        previous=previous,
        findings=frame.findings,
        carried=frame.carried,
        received=frame.received,
    )


def _received_table(files: list[dict[str, Any]], units: list[str]) -> pd.DataFrame:
    """The year's files (RECEIVED_COLUMNS), by unit in registry order, then month, then received order."""
    rank = {u: i for i, u in enumerate(units)}
    rows = [(f["unit"], f["period"], f["file_name"], f["container"], _received_day(f),
             RECEIVED_HOW_VI.get(f["received_how"] or RECEIVED_MTIME), f["status"], f["reason"])
            for f in sorted(files, key=lambda f: (rank.get(f["unit"], 1 << 30), f["period"] or "", f["id"]))]
    return _frame(rows, RECEIVED_COLUMNS)


def _frame(records: list[tuple], columns: list[str]) -> pd.DataFrame:
    """A table of Python objects as they are: no inference of string or number dtypes, None stays None."""
    return pd.DataFrame(records if records else None, columns=columns, dtype=object)


def _tables(files: dict[int, tuple[str, str]], rows: Iterable[tuple], units: list[str], catalogue: Catalogue,
            carried: dict[int, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``values`` and ``assessments`` from the ledger's cells of the current files (:func:`_cell_rows`), in catalogue
    order: by unit, then indicator, then column (month, ytd, note)."""
    unit_rank = {u: i for i, u in enumerate(units)}
    code_rank = {ind.code: i for i, ind in enumerate(catalogue.indicators)}
    col_rank = {"month": 0, "ytd": 1, "note": 2}
    span = 10 * (len(code_rank) + 1)  # sort key: unit rank * span + indicator rank * 10 + column rank
    # (code, column) -> (rank, code, column): the sort key's part, and one shared object for each code, column and cell
    # text (the tables keep them; tens of thousands of equal strings would otherwise each be an object of its own)
    place: dict[tuple[str, str], tuple[int, str, str]] = {}
    shared: dict[str, str] = {}
    value_records = []
    keys = []
    target_cells: dict[tuple[str, int], dict[str, Any]] = {}
    numbers: dict[str, int] = {}  # figures repeat too: one int object for each text
    carried = carried or {}
    last_file, unit, file_name, base, from_month = None, "", "", 0, None
    for file_id, code, column, text, kind, raw, cell, _unit, _period in rows:
        if file_id != last_file:  # a file's cells come together
            last_file = file_id
            unit, file_name = files[file_id]
            base = unit_rank.get(unit, 1 << 30) * span
            from_month = carried.get(file_id)
        if code.startswith("T"):
            number = int(code[1:])
            entry = target_cells.get((unit, number))
            if entry is None:
                entry = target_cells[(unit, number)] = {"unit": unit, "target": number, "assessment": None,
                                                        "explanation": None, "cell": None, "file": file_name}
            entry[column] = decode_value(text, kind)
            if column == "assessment":
                entry["cell"] = cell
            continue
        found = place.get((code, column))
        if found is None:
            rank = code_rank.get(code)
            if rank is None:
                continue
            found = place[(code, column)] = (rank * 10 + col_rank.get(column, 9), code, column)
        at, code, column = found
        if kind == "int":
            value = numbers.get(text)
            if value is None:
                value = numbers[text] = int(text)
        elif kind == "str":
            value = text
        else:
            value = decode_value(text, kind)
        if cell is not None:
            cell = shared.setdefault(cell, cell)
        if raw is None or raw == text:  # the value's text (None as read from the ledger, the text itself as kept)
            raw = text if kind == "str" else shared.setdefault(text, text)
        else:
            raw = shared.setdefault(raw, raw)
        value_records.append((unit, code, column, value, raw, cell, file_name, from_month))
        keys.append(base + at)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    values = _frame([value_records[i] for i in order], [*VALUE_COLUMNS, CARRIED])
    targets = sorted(target_cells.values(), key=lambda e: (unit_rank.get(e["unit"], 1 << 30), e["target"]))
    assessments = _frame([tuple(e[c] for c in ASSESSMENT_COLUMNS) for e in targets], ASSESSMENT_COLUMNS)
    return values, assessments


def _year_files(led: Ledger, period: Period) -> list[dict[str, Any]]:
    """Every file of January..period of the year (current, superseded, older and rejected ones; files of an unknown
    period received in a run for this period too): the status grid, its details and the findings come from them."""
    cur = led.db.execute(
        """SELECT f.id, f.unit, COALESCE(f.period, CASE WHEN b.period = ? THEN b.period END) AS period,
                  f.file_name, f.mtime, f.status, f.reason, f.errors, f.valid, f.received_on, f.received_how,
                  f.container
           FROM files f JOIN batches b ON b.id = f.batch_id
           WHERE ((f.period >= ? AND f.period <= ?) OR (f.period IS NULL AND b.period = ?))
           ORDER BY f.id""",
        (str(period), f"{period.year:04d}-01", str(period), str(period)),
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur]


def _newer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """File ``a`` is newer than file ``b``: later mtime, then later received."""
    return (a["mtime"], a["id"]) > (b["mtime"], b["id"])


def _fmt_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _received_day(f: dict[str, Any]) -> dt.date:
    """The day a file counts as received (the ledger's ``received_on``; its mtime's day for a file recorded before
    schema 3 that has none)."""
    text = f.get("received_on")
    return dt.date.fromisoformat(text) if text else dt.date.fromtimestamp(f["mtime"])


def _status(files: list[dict[str, Any]], units: list[str], period: Period, catalogue: Catalogue) -> pd.DataFrame:
    """One row per unit × month from January to ``period``.

    A month's status is decided by the first file accepted for it (the earliest received valid file) and the day it
    counts as received (:mod:`thidua.arrivals`: the day set by the secretary, the e-mail's date, the run's
    ``--received`` day, else the file's modification day): on or before the deadline "Đúng hạn", after it "Trễ hạn".
    A later correction never makes an on-time month late, and a rejected file never hides an accepted one: "Bị trả
    lại" only when no file of the month was accepted. Months before the movement's first month are not due. The
    reason column keeps the detail: corrections, rejected files, the file in use.
    """
    accepted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rejected: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in files:
        key = (f["unit"], f["period"])
        (accepted if f["valid"] and f["status"] != REJECTED else rejected).setdefault(key, []).append(f)
    records = []
    months = [(month, str(month)) for month in period.months_of_year()]
    deadlines = {text: catalogue.organisation(m.first_day).deadline(m.year, m.month) for m, text in months}
    due = {text: catalogue.is_due(text) for _m, text in months}
    no_files: list[dict[str, Any]] = []
    for unit in units:
        for _month, text in months:
            key = (unit, text)
            ok, bad = accepted.get(key, no_files), rejected.get(key, no_files)
            if ok:
                first = ok[0] if len(ok) == 1 else min(ok, key=lambda f: (_received_day(f), f["id"]))
                used = next((f for f in ok if f["status"] == CURRENT), first)
                day, deadline = _received_day(first), deadlines[text]
                notes = []
                if day > deadline:
                    notes.append(f"Nộp ngày {_fmt_date(day)}, sau hạn {_fmt_date(deadline)}.")
                if len(ok) > 1:
                    notes.append(f"Đã gửi {len(ok) - 1} bản sửa, bổ sung; đang dùng {used['file_name']}.")
                if bad:
                    notes.append(f"{len(bad)} tệp bị trả lại.")
                status = ON_TIME if day <= deadline else LATE
                records.append((unit, text, status, day, used["file_name"], " ".join(notes) or None))
            elif bad:
                last = max(bad, key=lambda f: (f["mtime"], f["id"]))
                reason = last["reason"] or "Bị trả lại"
                if len(bad) > 1:
                    reason = f"{len(bad)} tệp bị trả lại. Tệp mới nhất: {reason}"
                records.append((unit, text, STATUS_REJECTED, _received_day(last), last["file_name"], reason))
            elif not due[text]:
                records.append((unit, text, NOT_DUE, None, None, NOT_DUE_REASON))
            else:
                records.append((unit, text, MISSING, None, None, MISSING_REASON))
    return _frame(records, STATUS_COLUMNS)


def _findings(led: Ledger, period: Period, files: list[dict[str, Any]]) -> list[Finding]:
    """Findings of the period's current files and of rejected files still outstanding (newer than the current file
    of their unit, or with no current file)."""
    month = [f for f in files if f["period"] == str(period) and f["status"] in (CURRENT, REJECTED)]
    current = {f["unit"]: f for f in month if f["status"] == CURRENT}
    wanted = []
    for f in month:
        cur = current.get(f["unit"]) if f["unit"] else None
        if f["status"] == CURRENT or cur is None or _newer(f, cur):
            wanted.append(f)
    names = {f["id"]: f["file_name"] for f in wanted}
    out: list[Finding] = []
    for start in range(0, len(wanted), 500):
        ids = [f["id"] for f in wanted[start:start + 500]]
        marks = ",".join("?" * len(ids))
        rows = led.db.execute(
            f"""SELECT file_id, code, severity, message, sheet, cell, indicator, value, value_type
                FROM findings WHERE file_id IN ({marks}) ORDER BY file_id, seq""",
            ids,
        )
        out.extend(finding_from_row(names[r[0]], r[1:]) for r in rows)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Attainment


def _target_rules(catalogue: Catalogue) -> dict[int, list[tuple[Any, str, str | None, str | None]]]:
    """Per target: (indicator, column, whole code, whole column) for every indicator with a "target" rule. The
    indicator's first figure is judged (the month's where it has one), as the validator does."""
    rules: dict[int, list[tuple[Any, str, str | None, str | None]]] = {}
    for target in catalogue.targets:
        found = []
        for ind in target.indicators:
            if ind.target is None:
                continue
            col = ind.periods[0]
            whole = ind.rules.get("numerator_of") if ind.target == "100%" else None
            wcol = whole_column(ind, col, catalogue.indicator(whole)) if whole else None
            found.append((ind, col, whole, wcol))
        rules[target.number] = found
    return rules


def _fmt(value: Any) -> str:
    return _fmt_date(value) if isinstance(value, dt.date) else str(value)


def units_with_file(values: pd.DataFrame, assessments: pd.DataFrame) -> set[str]:
    """Units with a file of their own for the period (figures not all carried forward, or a self-assessment)."""
    own = values[values[CARRIED].isna()] if CARRIED in values.columns and len(values) else values
    return set(own["unit"]) | set(assessments["unit"])


def attainment_table(
    values: pd.DataFrame,
    assessments: pd.DataFrame,
    units: list[str],
    catalogue: Catalogue,
    status: dict[str, str],
) -> pd.DataFrame:
    """One row per unit × target: met when every "target" rule of the target's indicators is met (0/0 counts as met)
    and the unit assessed itself "Đạt"; ``reason`` says why not, in Vietnamese."""
    rules = _target_rules(catalogue)
    # Only the cells the rules look at (a few indicators of each unit), picked out before going row by row
    wanted = {code for found in rules.values() for ind, _col, whole, _wcol in found for code in (ind.code, whole)}
    judged = values[values["code"].isin(wanted)] if len(values) else values
    keys = zip(judged["unit"].tolist(), judged["code"].tolist(), judged["column"].tolist(), strict=True)
    cells = dict(zip(keys, judged["value"].tolist(), strict=True))
    assess = {(u, t): (a, e) for u, t, a, e in zip(*(assessments[c].tolist() for c in
                                                     ("unit", "target", "assessment", "explanation")), strict=True)}
    with_file = units_with_file(values, assessments)
    records = []
    for unit in units:
        for target in catalogue.targets:
            number = target.number
            if unit not in with_file:
                why = ("Báo cáo bị trả lại, chưa có báo cáo hợp lệ." if status.get(unit) == STATUS_REJECTED
                       else "Chưa nộp báo cáo.")
                records.append((unit, number, False, why))
                continue
            reasons = []
            for ind, col, whole, wcol in rules[number]:
                value = cells.get((unit, ind.code, col))
                if ind.target == "100%":
                    total = cells.get((unit, whole, wcol))
                    if value is None or total is None or wcol is None:
                        reasons.append(f"Chỉ tiêu {ind.code}: thiếu số liệu để tính tỷ lệ.")
                    elif value != total:
                        reasons.append(f"Chỉ tiêu {ind.code}: {_fmt(value)}/{_fmt(total)}, chưa đạt 100%.")
                elif ind.target == 0:
                    if value is None:
                        reasons.append(f"Chỉ tiêu {ind.code}: thiếu số liệu.")
                    elif value != 0:
                        reasons.append(f"Chỉ tiêu {ind.code}: {_fmt(value)} (mục tiêu là 0).")
                elif value != ind.target:
                    shown = "trống" if value is None else f"“{_fmt(value)}”"
                    reasons.append(f"Chỉ tiêu {ind.code}: {shown} (mục tiêu là “{ind.target}”).")
            assessment, explanation = assess.get((unit, number), (None, None))
            if assessment is None:
                reasons.append("Chưa tự đánh giá.")
            elif assessment != ASSESSMENT_MET:
                reasons.append(f"Tự đánh giá “{assessment}”" + (f": {explanation}" if explanation else "."))
            records.append((unit, number, not reasons, " ".join(reasons) or None))
    table = _frame(records, ATTAINMENT_COLUMNS)
    return table.astype({"target": int, "met": bool}) if len(table) else table
