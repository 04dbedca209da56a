"""Derived data that makes a re-run cost what changed, not the size of the period (issue #16).

After a full consolidation of a thousand files, a re-run with one file changed must not rebuild the period's tens of
thousands of rows, in SQLite, in pandas or in the master's XML. Two caches, both in the ledger (schema 4), both
derived data (never part of the record: emptying them only costs time), both ignored row by row whenever their key no
longer matches what they were made from:

``derived_blocks``: the master, per block of :data:`BLOCK_UNITS` units (in the period's unit order), keyed by exactly
    what the block depends on: the program (:func:`thidua.consolidate._program_fingerprint`, its source), the
    catalogue (:func:`thidua.consolidate.catalogue_fingerprint`), the period, whether the previous month has figures
    at all, and for each unit of the block its file for the period, the file its year-to-date figures are carried
    from (and the month) and its file of the previous month, each with its last event (a re-check replaces a file's
    cells). A block keeps

    - ``digest`` (JSON): the block's part of the "Theo nội dung" sheet (units meeting each target this month and the
      previous one, the indicators' totals, the units with a file of their own that miss a target, with why) and
      its number of "Tổng hợp" rows;
    - ``xml``: its "Tổng hợp" rows as one piece of raw deflate data (:class:`thidua.sink.Piece`), keyed further by
      where the rows start, the sheet's styles and the base of the string table (:class:`thidua.sink.Renderer`).

    A unit's block is rebuilt from the ledger when its key changed (a changed file rebuilds its own block only);
    every other block is used as stored. The units without a file of their own (missing, rejected: their row says so
    according to the month's status) and the small sheets ("Tình hình nộp", "Tệp đã nhận", "Kết quả kiểm tra") are made
    every run, from :class:`thidua.consolidate.PeriodFrame`, which is cheap.

``derived_stats``: per inbox path, the size, modification and change times and inode of the file when it was hashed,
    and its SHA-256 (git's index, in short). A file whose stat is exactly the recorded one is not read again; one
    modified less than :data:`RACY_NS` before it was hashed is always read again (a change within the same tick of
    the file system's clock would not show in its times).

Nothing is unpickled: digests are JSON, pieces are bytes checked by a CRC-32 stored beside them (a damaged row is
ignored and rebuilt).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import blockwork
from .atomic import WriteFailed
from .blockwork import Built, Helper
from .catalogue import Catalogue
from .consolidate import (
    PeriodCells,
    PeriodFrame,
    _program_fingerprint,
    catalogue_fingerprint,
    period_cells,
    period_tables,
    tables_of,
    units_with_file,
)
from .errors import ThiDuaError
from .layout import COLUMNS, FormLayout, a1, file_name
from .ledger import Ledger
from .master import (
    ByTarget,
    Table,
    by_target_parts,
    by_target_table,
    findings_table,
    received_table,
    status_table,
    summary_table,
)
from .model import REJECTED, PeriodData
from .period import Period
from .sink import OpenpyxlSink, Piece, Renderer, ToKeep

#: Units per cached block: a changed unit costs the rebuild of this many units' rows (≈ 25 × 53 rows here).
BLOCK_UNITS = 25
#: Bumped when what a block keeps changes shape (the program's source is part of every key anyway).
FORMAT = "1"
#: A file modified this close to the moment it was hashed is hashed again next time (see the module docstring).
RACY_NS = 3_000_000_000


# ----------------------------------------------------------------------------------------------------------------------
# The shared strings every cached block may refer to


def base_strings(catalogue: Catalogue, period: Period) -> list[str]:
    """The start of the master's shared-string table: the texts "Tổng hợp" repeats (units, targets, indicators, the
    form's cells, the expected file names), fixed by the catalogue and the period alone. Cached rows refer to these
    by index; any other text of theirs is written inline, so a block stays valid whatever the other sheets add."""
    layout = FormLayout.for_catalogue(catalogue)
    out = ["Đạt", "Không đạt"]
    for target in catalogue.targets:
        out += [str(target.number), target.title, a1(layout.rows[f"T{target.number}"], COLUMNS["assessment"][0])]
        for ind in target.indicators:
            row = layout.rows[ind.code]
            month, ytd = a1(row, COLUMNS["month"][0]), a1(row, COLUMNS["ytd"][0])
            out += [ind.code, ind.name, *([ind.unit] if ind.unit else []), month, ytd, f"{month}, {ytd}"]
    for unit in catalogue.units:
        out += [unit.code, unit.name, file_name(unit.code, str(period))]
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Blocks of units


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


def unit_keys(led: Ledger, frame: PeriodFrame) -> dict[str, list[Any]]:
    """Per unit, the files its rows are made from (see the module docstring)."""
    events = dict(led.db.execute("SELECT file_id, MAX(id) FROM events GROUP BY file_id"))
    keys: dict[str, list[Any]] = {u: [None, None, None, None] for u in frame.units}
    for file_id, (unit, _name) in frame.current.items():
        keys.setdefault(unit, [None, None, None, None])[0] = (file_id, events.get(file_id))
    for file_id, (unit, _name) in frame.carried_files.items():
        keys.setdefault(unit, [None, None, None, None])[1] = (file_id, events.get(file_id),
                                                              frame.carried_months[file_id])
    for file_id, (unit, _name) in frame.previous_files.items():
        keys.setdefault(unit, [None, None, None, None])[2] = (file_id, events.get(file_id))
    return keys


@dataclass
class _Stored:
    data_key: str
    digest: dict[str, Any] | None
    xml_key: str | None
    piece: Piece | None
    refs: int


@dataclass
class _Block:
    number: int
    units: list[str]
    data_key: str
    digest: dict[str, Any]
    stored: _Stored | None
    rows: list[list[Any]] | None = None  # "Tổng hợp" rows, when made this run
    update: dict[str, Any] | None = None  # what to store for it
    helped: bool = False  # made this run by the helper (thidua.blockwork), which renders it too


def _stored_blocks(led: Ledger, period: Period) -> dict[int, _Stored]:
    """The period's stored blocks; a row that does not check out (damaged) is left out: it is rebuilt."""
    out: dict[int, _Stored] = {}
    try:
        rows = led.db.execute(
            "SELECT block, data_key, digest, digest_check, xml_key, xml, xml_check, xml_crc, xml_size, xml_refs "
            "FROM derived_blocks WHERE period = ?", (str(period),)).fetchall()
    except sqlite3.Error:
        return out
    for number, data_key, digest, digest_check, xml_key, xml, xml_check, crc, size, refs in rows:
        parsed = None
        if isinstance(digest, str) and zlib.crc32(digest.encode("utf-8")) == digest_check:
            with contextlib.suppress(ValueError):
                parsed = _checked_digest(json.loads(digest))
        piece = None
        if isinstance(xml, bytes) and zlib.crc32(xml) == xml_check and isinstance(crc, int) \
                and isinstance(size, int) and isinstance(refs, int):
            piece = Piece(xml, crc, size)
        out[number] = _Stored(data_key, parsed, xml_key if piece is not None else None, piece, refs or 0)
    return out


_DIGEST_KEYS = {"rows": int, "met": list, "prev_met": list, "sums": list, "yes": list, "answered": list,
                "failing": dict}


def _checked_digest(digest: Any) -> dict[str, Any] | None:
    if not isinstance(digest, dict) or set(digest) != set(_DIGEST_KEYS):
        return None
    if not all(isinstance(digest[k], kind) for k, kind in _DIGEST_KEYS.items()):
        return None
    return digest


def _json_value(value: Any) -> Any:
    """A value a digest keeps as it is (JSON gives it back with its type), else the digest is not kept."""
    if value is None or type(value) in (str, int, bool):
        return value
    if type(value) is float and value == value and value not in (float("inf"), float("-inf")):
        return value
    raise TypeError(type(value).__name__)


#: From this share of the period's blocks to make on (a first run, a new catalogue or program), the period's tables are
#: made once and cut into blocks, rather than made block by block (each with its own queries and small tables: a cold
#: cache of 40 blocks took 0.84 s that way against 0.5 s in one go, 1,000 units).
ONE_PASS_SHARE = 0.25


def _slices(tables: tuple[pd.DataFrame, ...], units: list[str]) -> Callable[[list[str]], tuple[pd.DataFrame, ...]]:
    """``slice(block_units)``: each of the period's ``tables`` cut to the rows of those units, in the tables' order
    (which is the period's unit order): exactly what :func:`period_tables` makes ``only`` for them."""
    where: list[dict[str, list[int]]] = []
    for table in tables:
        rows: dict[str, list[int]] = {}
        for i, unit in enumerate(table["unit"].tolist() if len(table) else []):
            rows.setdefault(unit, []).append(i)
        where.append(rows)

    def cut(block: list[str]) -> tuple[pd.DataFrame, ...]:
        out = []
        for table, rows in zip(tables, where, strict=True):
            picked = [i for unit in block for i in rows.get(unit, ())]
            if picked and picked[-1] - picked[0] == len(picked) - 1:  # the block's rows together (always, in order)
                part = table.iloc[picked[0]:picked[-1] + 1]
            else:
                part = table.iloc[picked]
            out.append(part.reset_index(drop=True))
        return tuple(out)

    return cut


def _build(led: Ledger | None, frame: PeriodFrame, catalogue: Catalogue, units: list[str],
           tables: tuple[pd.DataFrame, ...] | None = None) -> tuple[list[list[Any]], dict[str, Any]]:
    """One block: its "Tổng hợp" rows and its digest, from the ledger, or from ``tables`` (the period's tables cut to
    the block's units, :func:`_slices`)."""
    if tables is None:
        assert led is not None
        tables = period_tables(led, frame, catalogue, only=units)
    values, assessments, attainment, previous = tables
    wanted = set(units)
    mini = PeriodData(frame.period, units, values, assessments, attainment, previous=previous,
                      carried={u: m for u, m in frame.carried.items() if u in wanted}, status=frame.status,
                      received=frame.received)  # not read for a block: the frame's, not an empty table made anew
    rows = summary_table(mini, catalogue).rows
    parts = by_target_parts(mini)
    own = units_with_file(values, assessments)
    failing: dict[str, list[list[Any]]] = {}
    for number, entries in parts.failing.items():
        for unit, reason, explanation in entries:
            if unit in own:  # the others' rows depend on the month's status: made every run
                failing.setdefault(unit, []).append([number, reason, explanation])
    digest = {
        "rows": len(rows),
        "met": sorted(parts.met.items()),
        "prev_met": sorted(parts.prev_met.items()),
        "sums": [[code, column, n] for (code, column), n in parts.sums.items()],
        "yes": [[code, column, n] for (code, column), n in parts.yes.items()],
        "answered": [[code, column, n] for (code, column), n in parts.answered.items()],
        "failing": {u: failing.get(u, []) for u in units if u in own},
    }
    return rows, digest


def _make_share(cells: PeriodCells, frame: PeriodFrame, catalogue: Catalogue, jobs: list[tuple[int, list[str]]]
                ) -> Built:
    """The blocks ``jobs`` (number, units) made at once from the cells of their units (no ledger needed: this is what
    a helper process runs, :mod:`thidua.blockwork`)."""
    cut = _slices(tables_of(cells, frame, catalogue), cells.units)
    return {number: _build(None, frame, catalogue, units, cut(units)) for number, units in jobs}


def _by_target(frame: PeriodFrame, blocks: list[_Block], numbers: list[int]) -> ByTarget:
    """The "Theo nội dung" parts of the whole period from the blocks' digests, in unit order."""
    met: Counter[int] = Counter()
    prev_met: Counter[int] = Counter()
    sums: dict[tuple[str, str], int] = {}
    yes: dict[tuple[str, str], int] = {}
    answered: dict[tuple[str, str], int] = {}
    failing: dict[int, list[tuple[str, Any, Any]]] = {}
    for block in blocks:
        d = block.digest
        met.update(dict((int(t), n) for t, n in d["met"]))
        prev_met.update(dict((int(t), n) for t, n in d["prev_met"]))
        for into, name in ((sums, "sums"), (yes, "yes"), (answered, "answered")):
            for code, column, n in d[name]:
                key = (code, column)
                into[key] = into.get(key, 0) + n
        own = d["failing"]
        for unit in block.units:
            entries = own.get(unit)
            if entries is not None:
                for number, reason, explanation in entries:
                    failing.setdefault(int(number), []).append((unit, reason, explanation))
            else:
                why = ("Báo cáo bị trả lại, chưa có báo cáo hợp lệ." if frame.month_status.get(unit) == REJECTED
                       else "Chưa nộp báo cáo.")
                for number in numbers:
                    failing.setdefault(number, []).append((unit, why, None))
    prev_total = len(frame.units) if frame.previous_has_cells else 0
    return ByTarget(len(frame.units), met, prev_met, prev_total, sums, yes, answered, failing)


class _SummaryRows:
    """The "Tổng hợp" rows as blocks (:class:`thidua.sink.RowBlocks`): stored pieces where their key matches, the
    others rendered now (from rows made this run, or made again when only their place moved)."""

    def __init__(self, blocks: list[_Block], remake: Callable[[_Block], list[list[Any]]],
                 helper: Helper | None = None):
        self.plan = blocks
        self.remake = remake
        self.helper = helper  # renders the blocks it made (``_Block.helped``)
        self.count = sum(b.digest["rows"] for b in blocks)
        self.started = False

    def __len__(self) -> int:
        return self.count

    def start(self, renderer: Renderer) -> None:
        """Have the helper render its blocks (with ``renderer``, the one :meth:`blocks` gets) while this process
        writes the master's other sheets and then renders the other blocks."""
        if self.started:
            return
        self.started = True
        if self.helper is not None:
            firsts, first = {}, 2
            for block in self.plan:
                if block.helped:
                    firsts[block.number] = first
                first += block.digest["rows"]
            self.helper.render(renderer, firsts)

    def blocks(self, renderer: Renderer) -> Iterator[bytes | Piece | ToKeep]:
        self.start(renderer)
        helper = self.helper
        first = 2
        for block in self.plan:
            xml_key = _sha(renderer.key, block.data_key, first)
            stored = block.stored
            got = helper.piece(block.number) if block.helped and helper is not None else None
            if got is not None:
                piece, refs = got
                renderer.add_refs(refs)
                block.update = {"xml_key": xml_key, "piece": piece, "refs": refs}
                yield piece
            elif not block.helped and stored is not None and stored.piece is not None and stored.xml_key == xml_key \
                    and stored.data_key == block.data_key:
                renderer.add_refs(stored.refs)
                yield stored.piece
            else:
                rows = block.rows if block.rows is not None else self.remake(block)
                raw, refs = renderer.render(rows, first)
                update = block.update = {"xml_key": xml_key, "piece": None, "refs": refs}
                yield ToKeep(raw, lambda piece, update=update: update.__setitem__("piece", piece))
            first += block.digest["rows"]


@dataclass
class CacheUpdate:
    """What a run adds to the cache, stored after the master is written (:meth:`store`)."""

    period: Period
    blocks: list[_Block] = field(default_factory=list)
    stored_numbers: set[int] = field(default_factory=set)
    helper: Helper | None = None  # to close once the master is written

    def close(self) -> None:
        """End the helper process, if there is one (after the master is written, or when writing it failed)."""
        if self.helper is not None:
            self.helper.close()

    def store(self, led: Ledger) -> int:
        """Write the blocks made or rendered this run (best effort: a cache that cannot be written costs time next
        run, never a result) and drop the period's blocks beyond the last. Returns the number of blocks written."""
        rows = []
        for b in self.blocks:
            if b.update is None:  # used as stored (a block made again is always rendered: its key changed)
                continue
            try:
                digest = json.dumps(b.digest, ensure_ascii=False, separators=(",", ":"), default=_json_value)
            except (TypeError, ValueError):  # a value JSON would not give back as it is: not kept
                continue
            piece: Piece | None = b.update["piece"]
            if piece is None:  # not compressed (the write stopped before it)
                continue
            rows.append((str(self.period), b.number, b.data_key, digest, zlib.crc32(digest.encode("utf-8")),
                         b.update["xml_key"], piece.data, zlib.crc32(piece.data), piece.crc, piece.size,
                         b.update["refs"]))
        stale = any(n >= len(self.blocks) for n in self.stored_numbers)
        if not rows and not stale:
            return 0
        with contextlib.suppress(ThiDuaError, WriteFailed, sqlite3.Error, OSError), led.transaction():
            led.db.executemany(
                "INSERT OR REPLACE INTO derived_blocks (period, block, data_key, digest, digest_check, xml_key, "
                "xml, xml_check, xml_crc, xml_size, xml_refs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            led.db.execute("DELETE FROM derived_blocks WHERE period = ? AND block >= ?",
                           (str(self.period), len(self.blocks)))
            return len(rows)
        return 0


def write_master_cached(led: Ledger, frame: PeriodFrame, data: PeriodData, catalogue: Catalogue,
                        sink: OpenpyxlSink) -> CacheUpdate:
    """Lay out the master sheets in ``sink`` (a new .xlsx whose string table starts with :func:`base_strings`) as
    :func:`thidua.master.write_master` does, with "Tổng hợp" and "Theo nội dung" from the cache where it holds, and
    return what to store (the caller saves the sink first). ``data``: the period's data, whose big tables are never
    read here (:class:`thidua.consolidate.LazyPeriodData`)."""
    period = frame.period
    common = [FORMAT, _program_fingerprint(), catalogue_fingerprint(catalogue), str(period),
              frame.previous_has_cells, BLOCK_UNITS]
    keys = unit_keys(led, frame)
    stored = _stored_blocks(led, period)
    update = CacheUpdate(period, stored_numbers=set(stored))
    plan = []
    for number, start in enumerate(range(0, len(frame.units), BLOCK_UNITS)):
        units = frame.units[start:start + BLOCK_UNITS]
        data_key = _sha(common, [[u, keys[u]] for u in units])
        old = stored.get(number)
        plan.append((number, units, data_key, old, old is not None and old.data_key == data_key
                     and old.digest is not None))
    todo = [(number, units) for number, units, _key, _old, cached in plan if not cached]
    try:
        built, digests = _make_blocks(led, frame, catalogue, todo, len(plan), update)
        for number, units, data_key, old, cached in plan:
            if cached:
                update.blocks.append(_Block(number, units, data_key, old.digest, old))
            elif number in built:
                rows, digest = built.pop(number)
                update.blocks.append(_Block(number, units, data_key, digest, old, rows))
            else:
                update.blocks.append(_Block(number, units, data_key, digests[number], old, helped=True))

        def remake(block: _Block) -> list[list[Any]]:
            return _build(led, frame, catalogue, block.units)[0]

        parts = _by_target(frame, update.blocks, [t.number for t in catalogue.targets])
        summary = summary_table(PeriodData(period, [], carried=frame.carried), catalogue)
        by_target, chart = by_target_table(data, catalogue, parts)
        rows = _SummaryRows(update.blocks, remake, update.helper)
        tables = [Table(summary.sheet, summary.header, rows, summary.options),  # type: ignore[arg-type]
                  by_target, status_table(data, catalogue), received_table(data, catalogue),
                  findings_table(data, catalogue)]
        for table in tables:
            sink.write_table(table.sheet, table.header, table.rows, **table.options)  # type: ignore[arg-type]
        sink.add_chart(chart.sheet, **chart.options)
    except BaseException:
        update.close()
        raise
    return update


def _make_blocks(led: Ledger, frame: PeriodFrame, catalogue: Catalogue, todo: list[tuple[int, list[str]]],
                 total: int, update: CacheUpdate) -> tuple[Built, dict[int, dict[str, Any]]]:
    """The blocks ``todo`` (number, units) of the ``total``: ``(built here, the digests of those the helper made)``.

    From :data:`ONE_PASS_SHARE` of the blocks on, the tables of their units are made at once; from
    :data:`thidua.blockwork.MIN_BLOCKS` on, and where a helper process can be had, the second half of them is made
    by the helper (``update.helper``), which also renders it later. What the helper does not deliver is made here."""
    if len(todo) <= 1 or len(todo) < ONE_PASS_SHARE * total:  # a few blocks: each from its own cells in the ledger
        return {number: _build(led, frame, catalogue, units) for number, units in todo}, {}
    if len(todo) < blockwork.MIN_BLOCKS or not blockwork.available():
        cut = _slices(period_tables(led, frame, catalogue), frame.units)
        return {number: _build(led, frame, catalogue, units, cut(units)) for number, units in todo}, {}
    half = len(todo) // 2
    mine, theirs = todo[:half], todo[half:]
    # Their cells gathered here (the helper opens no database), then the helper forked with them in its memory
    share = functools.partial(_make_share, period_cells(led, frame, [u for _n, us in theirs for u in us],
                                                        listed=True), frame, catalogue, theirs)
    update.helper = Helper.start(share, [number for number, _units in theirs])
    built = _make_share(period_cells(led, frame, [u for _n, us in mine for u in us]), frame, catalogue, mine)
    digests = update.helper.digests() if update.helper is not None else {}
    if len(digests) != len(theirs) or any(number not in digests for number, _units in theirs):
        update.close()  # no helper, or it failed: its share is made here, from the cells gathered for it
        update.helper, digests = None, {}
        built.update(share())
    return built, digests


# ----------------------------------------------------------------------------------------------------------------------
# Hashes of inbox files


StatEntry = tuple[int, int, int, int, str, int]  # size, mtime_ns, ctime_ns, inode, sha256, hashed_ns


def _stat_key(path: Path) -> bytes:
    """A path as the file system has it (bytes: a name need not be valid UTF-8)."""
    return os.fsencode(os.path.abspath(path))


def known_stats(led: Ledger) -> dict[bytes, StatEntry]:
    try:
        return {path: (size, mtime, ctime, inode, sha, hashed) for path, size, mtime, ctime, inode, sha, hashed in
                led.db.execute("SELECT path, size, mtime_ns, ctime_ns, inode, sha256, hashed_ns FROM derived_stats")}
    except sqlite3.Error:
        return {}


class StatCache:
    """Given to :class:`thidua.arrivals.Collector`: ``lookup(path, stat)`` -> the file's SHA-256 when its stat is
    exactly the one recorded when it was hashed, and that was not racy; ``note(path, before, after, sha)`` records a
    hash just made (when the file did not change while it was read)."""

    def __init__(self, known: dict[bytes, StatEntry]):
        self.known = known
        self.new: dict[bytes, StatEntry] = {}

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        entry = self.known.get(_stat_key(path))
        if entry is None:
            return None
        size, mtime, ctime, inode, sha, hashed = entry
        if (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino) != (size, mtime, ctime, inode):
            return None
        if max(mtime, ctime) >= hashed - RACY_NS:  # changed in the same tick as it was hashed: not to be trusted
            return None
        return sha

    def note(self, path: Path, before: os.stat_result, after: os.stat_result, sha: str, hashed_ns: int) -> None:
        sig = (before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino)
        if sig != (after.st_size, after.st_mtime_ns, after.st_ctime_ns, after.st_ino):
            return
        key = _stat_key(path)
        entry = (*sig, sha, hashed_ns)
        old = self.known.get(key)
        if old is not None and old[:5] == entry[:5] and max(old[1], old[2]) < old[5] - RACY_NS:
            return  # already recorded, and trusted
        self.new[key] = entry

    def store(self, led: Ledger) -> None:
        if not self.new:
            return
        with contextlib.suppress(ThiDuaError, WriteFailed, sqlite3.Error, OSError), led.transaction():
            led.db.executemany(
                "INSERT OR REPLACE INTO derived_stats (path, size, mtime_ns, ctime_ns, inode, sha256, hashed_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [(k, *v) for k, v in self.new.items()])
        self.new.clear()


def now_ns() -> int:
    return time.time_ns()
