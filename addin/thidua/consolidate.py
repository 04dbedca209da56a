"""Consolidation: new files from an inbox into the ledger, and the ledger into one period's tables.

:func:`consolidate` is the batch: hash every file in the inbox, validate only those whose bytes the ledger does not
know, record them in one transaction (see :mod:`thidua.ledger` for the current-file policy), then build the period's
:class:`~thidua.model.PeriodData` with :func:`load_period` and write the master sheets (:mod:`thidua.master`).
"""

from __future__ import annotations

import concurrent.futures as cf
import concurrent.futures.process
import contextlib
import datetime as dt
import functools
import gc
import hashlib
import json
import os
import pickle
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__, guards, ledgerfile
from .atomic import WriteFailed
from .catalogue import Catalogue
from .errors import ThiDuaError
from .findings import FileResult, Finding
from .ledger import (
    CURRENT,
    DEFAULT_NAME,
    REJECTED,
    TABLES,
    Ledger,
    LedgerHistory,
    Received,
    RecordSummary,
    decode_value,
    finding_from_row,
    open_ledger,
)
from .model import (
    ASSESSMENT_COLUMNS,
    ATTAINMENT_COLUMNS,
    LATE,
    MISSING,
    ON_TIME,
    STATUS_COLUMNS,
    VALUE_COLUMNS,
    PeriodData,
)
from .model import REJECTED as STATUS_REJECTED
from .period import Period
from .reader import NAME_RE, is_system_file
from .rules import whole_column

#: Files in the inbox that are looked at (anything else, e.g. a PDF, is ignored). Legacy and OpenDocument files are
#: included so that the unit is told why they cannot be used.
SUFFIXES = {".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"}
ASSESSMENT_MET = "Đạt"
RECORD_CHUNK = 64
MISSING_REASON = "Chưa nhận được báo cáo."
POOL_ERRORS = (concurrent.futures.process.BrokenProcessPool, OSError, RuntimeError, ImportError, AttributeError,
               TypeError, pickle.PicklingError)
DUPLICATE = "E-ID-DUPLICATE"

#: ``validator(paths, catalogue, history=…, progress=…, workers=…)`` -> FileResults in any iterable, e.g.
#: :func:`check_files` (the default) or :func:`thidua.validate.validate_paths`.
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


@dataclass
class _Seen:
    path: Path
    sha256: str
    size: int
    mtime: float


def _hash(path: Path) -> _Seen | None:
    try:
        digest, st = guards.sha256_of(path)  # in chunks: a huge file never fills the memory
    except OSError:
        return None
    return _Seen(path, digest, st.st_size, st.st_mtime)


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
    skipped: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not even be read to be hashed
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
                "unreadable": len(self.unreadable),
            },
            "new_files": [
                {"file": f["file_name"], "unit": f["unit"], "period": f["period"], "status": _status_of(s, f["id"]),
                 "errors": f["errors"], "warnings": f["warnings"]}
                for f in s.new
            ],
            "rejected": [{"file": f["file_name"], "unit": f["unit"], "reason": f["reason"]} for f in s.rejected],
            "unreadable": self.unreadable,
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
    return Path(inbox).resolve().parent / DEFAULT_NAME


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
) -> ConsolidationResult:
    """Record what is new in ``inbox``, then write the master of ``period``.

    ``out`` (a new .xlsx, default ``tong-hop-<period>.xlsx`` beside the inbox) or ``workbook`` (an existing .xlsm whose
    master sheets are replaced) is checked first: if it is open in Excel or read-only, nothing at all is written.
    ``write=False`` updates the ledger and returns the tables without writing a workbook.

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
    guards.check_consolidate(inbox, ledger_path, target, workbook is not None, period, catalogue, TABLES)
    result = ConsolidationResult(period=period, inbox=inbox, ledger=ledger_path)
    validate_paths = validator or check_files

    clock = _Clock(result.timings)
    recorded = False  # the ledger's transaction is committed
    try:
        with _no_gc(), Ledger(ledger_path) as led:
            exclude = tuple(p for p in (ledger_path, target) if p is not None)
            seen = []
            for path in inbox_files(inbox, exclude):
                item = _hash(path)
                if item is None:
                    result.unreadable.append(path.name)
                else:
                    seen.append(item)
            result.seen = len(seen) + len(result.unreadable)
            ledgerfile.backup_if_new(led, (s.sha256 for s in seen))  # a copy before a run that changes the ledger
            with led.transaction():
                known = led.known_hashes(s.sha256 for s in seen)
                fresh: dict[str, _Seen] = {}
                for s in seen:
                    if s.sha256 in known or s.sha256 in fresh:
                        result.skipped.append(s.path.name)
                    else:
                        fresh[s.sha256] = s
                clock("hash")
                summary = result.summary

                def record(chunk: list[Received]) -> None:
                    led.record(chunk, inbox=inbox.resolve(), period=str(period), summary=summary)

                _validate(list(fresh.values()), catalogue, led, validate_paths, workers, progress, record,
                          f"{period.year:04d}")
                clock("validate_record")
            recorded = True
            clock("commit")
            result.new = result.summary.new
            result.data = load_period(led, period, catalogue)
            clock("load")
            if target is not None:
                state = master_state(led, period, catalogue, workbook is not None)
                if _master_is_current(led, target, state):  # nothing to do: it holds exactly what would be written
                    clock("tables")
                    clock("save")
                else:
                    sink = OpenpyxlSink(target, keep_vba=workbook is not None)
                    write_master(result.data, catalogue, sink)
                    clock("tables")
                    result.backup = sink.save()
                    _note_master(led, target, state)
                    clock("save")
                result.master = target
    except WriteFailed as exc:  # no room left on the disk, or a disk error: say what was kept
        raise WriteFailed(exc.path, exc.problem, _write_failed_message(exc, ledger_path, target, recorded,
                                                                      bool(result.summary.new))) from exc
    return result


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
        "catalogue": hashlib.sha256(repr(catalogue).encode("utf-8")).hexdigest(),
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


def _validate_one(path: Path) -> FileResult:
    return _worker["validate_file"](path, _worker["catalogue"], None, _worker["history"])


_worker: dict[str, Any] = {}


def _init_worker(catalogue: Catalogue, history: Any) -> None:
    from .validate import validate_file

    _worker.update(catalogue=catalogue, history=history, validate_file=validate_file)


def check_files(paths, catalogue, period=None, history=None, progress=None, workers=None) -> Iterator[FileResult]:
    """``validate_file`` on each path, in order, yielding each result as soon as it is ready.

    From :data:`thidua.validate.POOL_THRESHOLD` files on (or with ``workers`` ≥ 2) the files are read *and checked* in
    a small process pool, so the checks run in parallel too, and the caller records results while the pool works.
    Checks across the files of a batch are not run: the only one (several files of one unit and period) is the
    ledger's business, whose policy decides which file counts.
    """
    from .validate import POOL_THRESHOLD, POOL_WORKERS, validate_file

    files = list(paths)
    if workers is None:
        workers = POOL_WORKERS if len(files) >= POOL_THRESHOLD else 1
    done = 0
    if workers >= 2 and len(files) > 1:
        pool = None
        try:
            pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(catalogue, history))
            results = pool.map(_validate_one, files, chunksize=16)
        except POOL_ERRORS:
            results = iter(())
        try:
            while True:
                try:
                    res = next(results)
                except StopIteration:
                    break
                except POOL_ERRORS:  # a worker died: check the rest here, one by one
                    break
                done += 1
                if progress:
                    progress(res.path)
                yield res  # outside the try: an error of the caller is never taken for a pool failure
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    for path in files[done:]:
        res = validate_file(path, catalogue, period, history)
        if progress:
            progress(path)
        yield res


def _validate(
    fresh: list[_Seen],
    catalogue: Catalogue,
    led: Ledger,
    validate_paths: Validator,
    workers: int | None,
    progress: Callable[..., Any] | None,
    record: Callable[[list[Received]], Any],
    run_year: str,
) -> None:
    """Validate new files and record them in chunks as results come in, earlier months first, so that a later
    month's year-to-date checks see the earlier months received in the same run (the history overlay)."""
    if not fresh:
        return
    history = LedgerHistory(str(led.path))
    groups: dict[str, list[_Seen]] = {}
    units: set[str] = set()
    for s in fresh:
        m = NAME_RE.match(s.path.name)
        groups.setdefault(m.group(1) if m else "9999-99", []).append(s)
        if m:
            units.add(m.group(2).upper())
        else:  # a file named otherwise: its unit is known only once read
            units.update(u.code for u in catalogue.units)
    years = {key[:4] for key in groups if key != "9999-99"} | {str(catalogue.year), run_year}
    history.preload(led.db, units, years)  # the workers get the history with them and never open the ledger
    by_path = {str(s.path): s for s in fresh}
    keys = sorted(groups)
    for n, key in enumerate(keys):
        chunk: list[Received] = []
        for res in validate_paths([s.path for s in groups[key]], catalogue, history=history, progress=progress,
                                  workers=workers):
            # Several files of one unit and period are the ledger's business (the newest valid one is current), not
            # an error of each file: the batch check for duplicates would otherwise reject them all, for good.
            res.findings = [f for f in res.findings if f.code != DUPLICATE]
            seen = by_path[str(res.path)]
            sub = res.submission
            sha = getattr(sub, "sha256", "") or seen.sha256
            if sha != seen.sha256:  # the file changed between hashing and reading: record what was read
                chunk.append(Received(res, sha, sub.size, sub.mtime))
            else:
                chunk.append(Received(res, seen.sha256, seen.size, seen.mtime))
            if n + 1 < len(keys) and res.valid and res.unit and res.period and sub is not None:
                for code, entry in sub.indicators.items():
                    cell = entry.ytd
                    if cell is not None and isinstance(cell.value, int) and not isinstance(cell.value, bool):
                        history.add(res.unit, res.period, code, cell.value)
            if len(chunk) >= RECORD_CHUNK:
                record(chunk)
                chunk = []
        record(chunk)


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


def _cell_rows(led: Ledger, period: Period) -> tuple[dict[int, tuple[str, str]], Iterable[tuple]]:
    """The cells of the period's current files: ``({file id: (unit, file name)}, rows (file id, code, column, value,
    type, raw, cell))``, the rows as a cursor to go through once; ``raw`` is None where it is the value's text itself
    (most cells: no second copy of the same text). The unit and the file name are looked up once per file rather than
    carried by every cell (the ledger stores a file's unit with each of its cells, always the file's own)."""
    files = {
        file_id: (unit, name)
        for file_id, unit, name in led.db.execute(
            "SELECT f.id, f.unit, f.file_name FROM current c JOIN files f ON f.id = c.file_id WHERE c.period = ?",
            (str(period),),
        )
    }
    rows = led.db.execute(
        """SELECT v.file_id, v.code, v."column", v.value, v.type,
                  CASE WHEN v.raw = v.value THEN NULL ELSE v.raw END, v.cell
           FROM current c JOIN file_values v ON v.file_id = c.file_id
           WHERE c.period = ?""",
        (str(period),),
    )
    return files, rows


def _units(catalogue: Catalogue, extra: set[str]) -> list[str]:
    codes = [u.code for u in catalogue.units]
    known = set(codes)
    return codes + sorted(u for u in extra if u and u not in known)


def _load_period(led: Ledger, period: Period, catalogue: Catalogue) -> PeriodData:
    files = _year_files(led, period)
    current, rows = _cell_rows(led, period)
    units = _units(catalogue, {unit for unit, _name in current.values()} | {f["unit"] for f in files if f["unit"]})
    values, assessments = _tables(current, rows, units, catalogue)
    status = _status(files, units, period, catalogue)
    month_status = {r.unit: r.status for r in status[status["period"] == str(period)].itertuples()}
    attainment = attainment_table(values, assessments, units, catalogue, month_status)
    prev = period.previous()
    prev_current, prev_cursor = _cell_rows(led, prev)
    prev_rows = prev_cursor.fetchall()
    if prev_rows:
        prev_values, prev_assessments = _tables(prev_current, prev_rows, units, catalogue)
        previous = attainment_table(prev_values, prev_assessments, units, catalogue, {})
    else:
        previous = pd.DataFrame(columns=ATTAINMENT_COLUMNS)
    return PeriodData(
        period=period,
        units=units,
        values=values,
        assessments=assessments,
        attainment=attainment,
        status=status,
        previous=previous,
        findings=_findings(led, period, files),
    )


def _frame(records: list[tuple], columns: list[str]) -> pd.DataFrame:
    """A table of Python objects as they are: no inference of string or number dtypes, None stays None."""
    return pd.DataFrame(records if records else None, columns=columns, dtype=object)


def _tables(files: dict[int, tuple[str, str]], rows: Iterable[tuple], units: list[str], catalogue: Catalogue
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    last_file, unit, file_name, base = None, "", "", 0
    for file_id, code, column, text, kind, raw, cell in rows:
        if file_id != last_file:  # a file's cells come together
            last_file = file_id
            unit, file_name = files[file_id]
            base = unit_rank.get(unit, 1 << 30) * span
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
        if raw is None:  # the value's text
            raw = text if kind == "str" else shared.setdefault(text, text)
        else:
            raw = shared.setdefault(raw, raw)
        value_records.append((unit, code, column, value, raw, cell, file_name))
        keys.append(base + at)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    values = _frame([value_records[i] for i in order], VALUE_COLUMNS)
    targets = sorted(target_cells.values(), key=lambda e: (unit_rank.get(e["unit"], 1 << 30), e["target"]))
    assessments = _frame([tuple(e[c] for c in ASSESSMENT_COLUMNS) for e in targets], ASSESSMENT_COLUMNS)
    return values, assessments


def _year_files(led: Ledger, period: Period) -> list[dict[str, Any]]:
    """Files of January..period of the year that count for the status grid and the findings (current and rejected
    ones; files of an unknown period received in a run for this period too)."""
    cur = led.db.execute(
        """SELECT f.id, f.unit, COALESCE(f.period, CASE WHEN b.period = ? THEN b.period END) AS period,
                  f.file_name, f.mtime, f.status, f.reason, f.errors
           FROM files f JOIN batches b ON b.id = f.batch_id
           WHERE f.status IN (?, ?)
             AND ((f.period >= ? AND f.period <= ?) OR (f.period IS NULL AND b.period = ?))
           ORDER BY f.id""",
        (str(period), CURRENT, REJECTED, f"{period.year:04d}-01", str(period), str(period)),
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur]


def _newer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """File ``a`` is newer than file ``b``: later mtime, then later received."""
    return (a["mtime"], a["id"]) > (b["mtime"], b["id"])


def _fmt_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _status(files: list[dict[str, Any]], units: list[str], period: Period, catalogue: Catalogue) -> pd.DataFrame:
    """One row per unit × month from January to ``period``.

    The "received" time is the file's modification time (mtime) as it sits in the inbox: the ledger's own
    ``received_at`` is when the secretary happened to run the tool, which may be days after the unit sent the file;
    the mtime is when the unit last saved it (an e-mail client saving an attachment may set it to the save time, so
    the secretary should save attachments promptly).
    """
    current: dict[tuple[str, str], dict[str, Any]] = {}
    rejected: dict[tuple[str, str], dict[str, Any]] = {}
    for f in files:
        key = (f["unit"], f["period"])
        if f["status"] == CURRENT:
            current[key] = f
        elif key not in rejected or _newer(f, rejected[key]):
            rejected[key] = f
    records = []
    months = [(month, str(month)) for month in period.months_of_year()]
    deadlines = {text: catalogue.organisation(m.first_day).deadline(m.year, m.month) for m, text in months}
    for unit in units:
        for _month, text in months:
            key = (unit, text)
            cur, rej = current.get(key), rejected.get(key)
            if rej is not None and (cur is None or _newer(rej, cur)):
                reason = rej["reason"] or "Bị trả lại"
                if cur is not None:
                    reason += f" Đang dùng tệp trước đó: {cur['file_name']}."
                when = dt.datetime.fromtimestamp(rej["mtime"])
                records.append((unit, text, STATUS_REJECTED, when, rej["file_name"], reason))
            elif cur is not None:
                when = dt.datetime.fromtimestamp(cur["mtime"])
                deadline = deadlines[text]
                if when.date() <= deadline:
                    records.append((unit, text, ON_TIME, when, cur["file_name"], None))
                else:
                    late = f"Nộp ngày {_fmt_date(when.date())}, sau hạn {_fmt_date(deadline)}."
                    records.append((unit, text, LATE, when, cur["file_name"], late))
            else:
                records.append((unit, text, MISSING, None, None, MISSING_REASON))
    return _frame(records, STATUS_COLUMNS)


def _findings(led: Ledger, period: Period, files: list[dict[str, Any]]) -> list[Finding]:
    """Findings of the period's current files and of rejected files still outstanding (newer than the current file
    of their unit, or with no current file)."""
    month = [f for f in files if f["period"] == str(period)]
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
    with_file = set(values["unit"]) | set(assessments["unit"])
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
