"""Crash safety (issue 7): ``thidua consolidate`` killed outright at any moment, or stopped by a full disk, leaves the
ledger ("sổ theo dõi") as it was before the run or as it is after it, never half of it, and the master workbook the old
file or the new one, never a truncated one; the next normal run completes the work.

The runs are real subprocesses of the console script (there is no ``python -m thidua``). A full disk is simulated with
a file size limit (``RLIMIT_FSIZE``): Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, and SQLite
reports it as a disk I/O error (a real full disk gives ENOSPC / "database or disk is full"; both are handled).

The inboxes are made quickly by patching one filled form per unit (the generator of ``benchmarks/consolidate.py``)
for a list of many units.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import importlib.util
import io
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from thidua.atomic import DISK_FULL, WriteFailed, atomic_path, remove_stale_temps, write_problem
from thidua.catalogue import load_catalogue
from thidua.ledger import TABLES, Ledger
from thidua.period import Period

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL, process groups and RLIMIT_FSIZE are POSIX")

ROOT = Path(__file__).resolve().parents[1]
THIDUA = Path(sys.executable).with_name("thidua")  # the console script (the package has no __main__ module)
PERIOD = Period(2024, 9)
SEED = 20240907
KILLS_AT_RANDOM = 4  # at a seeded random moment within the measured run time
#: (what to wait for, delay range in seconds after it): the short moments that random times rarely hit
KILLS_ON_EVENT = (("ledger-written", (0.0, 0.0)), ("ledger-written", (0.001, 0.004)), ("master-temp", (0.0, 0.02)),
                  ("master-temp", (0.02, 0.15)), ("backup", (0.0, 0.0)))
RUN_TIMEOUT = 120
MOMENTS = {"received_at", "replaced_at"}  # when the run happened: differs between two runs recording the same files


def _bench():
    spec = importlib.util.spec_from_file_location("thidua_bench_generator", ROOT / "benchmarks" / "consolidate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


def stamp(day: int, hour: int = 10) -> float:
    return dt.datetime(2024, 9, day, hour).timestamp()


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def size_limit(limit: int):
    """A ``preexec_fn``: no file this process (and its workers) writes may grow past ``limit`` bytes."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------------------------------
# What a ledger and a master hold


def ledger_digest(path: Path) -> dict[str, str]:
    """Open the ledger (SQLite rolls back a hot journal left beside it), check its integrity, and digest each data
    table's rows (the times of the run masked; the ``masters`` note, a cache written after the master, left out)."""
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        out = {}
        for table in TABLES:
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            order = ", ".join(str(i + 1) for i in range(len(cols)))
            digest = hashlib.sha256()
            for row in con.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                masked = tuple(None if c in MOMENTS else v for c, v in zip(cols, row, strict=True))
                digest.update(repr(masked).encode("utf-8"))
            out[table] = digest.hexdigest()
        return out
    finally:
        con.close()


def inspect_ledger(path: Path, scratch: Path) -> dict[str, str]:
    """:func:`ledger_digest` of a copy (with its journal, if any), so that the ledger itself is left exactly as the
    killed run left it, for the program to recover."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for suffix in ("", "-journal"):
        src = path.with_name(path.name + suffix)
        if src.exists():
            shutil.copy2(src, scratch / src.name)
    return ledger_digest(scratch / path.name)


def sheet_values(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def temp_files(folder: Path) -> list[Path]:
    """Temporary files of an atomic write (``.<stem>.<random>.tmp<suffix>``) in ``folder`` and its ``.backup``."""
    found = []
    for where in (folder, folder / ".backup"):
        if where.is_dir():
            found += [p for p in where.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    return sorted(found)


# ----------------------------------------------------------------------------------------------------------------------
# A scenario: state A (one run done), an inbox that makes state B, and B as a complete run leaves it


@dataclass
class Scenario:
    root: Path
    units: Path
    inbox: Path
    ledger: Path
    master: Path
    inbox_names: set[str] = field(default_factory=set)
    a_ledger: bytes = b""
    a_master: bytes = b""
    a_digest: dict[str, str] = field(default_factory=dict)
    b_digest: dict[str, str] = field(default_factory=dict)
    b_values: dict[str, list[list]] = field(default_factory=dict)
    b_status: int = 0
    b_seconds: float = 0.0
    b_ledger_size: int = 0
    b_master_size: int = 0

    def command(self, *extra: str) -> list[str]:
        return [str(THIDUA), "consolidate", str(self.inbox), "--period", str(PERIOD), "--units", str(self.units),
                "--ledger", str(self.ledger), "--out", str(self.master), *extra]

    def run(self, *extra: str, limit: int | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*extra), capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              env=environment(), stdin=subprocess.DEVNULL,
                              preexec_fn=size_limit(limit) if limit else None)

    def restore_a(self) -> None:
        """Back to state A: the ledger and master of the first run; nothing else beside them or in the inbox."""
        keep = {"units.toml", "forms", "inbox"}
        for folder, kept in ((self.inbox, self.inbox_names), (self.root, keep)):
            for path in folder.iterdir():
                if path.name not in kept:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.ledger.write_bytes(self.a_ledger)
        self.master.write_bytes(self.a_master)

    def master_is(self) -> str:
        """``"old"`` (byte for byte A's master) or ``"new"`` (a complete workbook holding B's values)."""
        assert self.master.is_file(), "the master is gone"
        data = self.master.read_bytes()
        if data == self.a_master:
            return "old"
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None, "the master is damaged"
        openpyxl.load_workbook(self.master, read_only=True).close()
        assert sheet_values(self.master) == self.b_values, "the master is neither the old nor the new one"
        return "new"

    def ledger_is(self, digest: dict[str, str]) -> str:
        if digest == self.a_digest:
            return "before"
        assert digest == self.b_digest, {t: (digest[t] == self.a_digest[t], digest[t] == self.b_digest[t])
                                         for t in TABLES}
        return "after"


def build(root: Path, *, units: int, first: int, late: int, corrected: int, master_in_inbox: bool,
          twice: bool = False) -> Scenario:
    """Units U0001…: ``first`` of them send a correct file (state A, after one run); then ``corrected`` of those send a
    corrected file and ``late`` more units send theirs, one of which has an error (state B). ``twice``: run B twice (see
    below) and time the second run."""
    root.mkdir(parents=True, exist_ok=True)
    units_path = BENCH.write_units(root / "units.toml", units)
    cat = load_catalogue(units=units_path)
    gen = BENCH.Generator(cat, PERIOD, root / "forms")
    inbox = root / "inbox"
    inbox.mkdir()
    master = (inbox if master_in_inbox else root) / f"tong-hop-{PERIOD}.xlsx"
    scen = Scenario(root=root, units=units_path, inbox=inbox, ledger=root / "thidua-ledger.sqlite", master=master)

    def send(unit, day: int, change: dict[str, Any] | None = None) -> None:
        path = gen.write(unit, inbox / gen.file_name(unit.code, str(PERIOD)), change)
        os.utime(path, (stamp(day), stamp(day)))

    for unit in cat.units[:first]:
        send(unit, 5)
    done = scen.run()
    assert done.returncode == 0, done.stderr
    scen.a_ledger, scen.a_master = scen.ledger.read_bytes(), scen.master.read_bytes()
    scen.a_digest = ledger_digest(scen.ledger)

    preparer = next(iter(gen.values(cat.units[0])))  # the preparer's name: text, any value is valid
    for k, unit in enumerate(cat.units[:corrected]):
        send(unit, 6, {preparer: f"Người lập biểu sửa lần {k + 1}"})
    for k, unit in enumerate(cat.units[first:first + late]):
        send(unit, 12, {gen.ref("1.2", "month"): "1.234"} if k == 0 else None)  # the first one is rejected
    scen.inbox_names = {p.name for p in inbox.iterdir() if p != master}

    done = scen.run()
    assert done.returncode in (0, 1), done.stderr
    scen.b_status = done.returncode
    scen.b_digest = ledger_digest(scen.ledger)
    assert scen.b_digest != scen.a_digest
    scen.b_values = sheet_values(scen.master)
    assert scen.master.read_bytes() != scen.a_master
    scen.b_ledger_size, scen.b_master_size = scen.ledger.stat().st_size, scen.master.stat().st_size
    scen.restore_a()
    if twice:  # the same run again gives the same state (so comparing with it means something), and its duration
        start = time.perf_counter()
        done = scen.run()
        scen.b_seconds = time.perf_counter() - start
        assert done.returncode == scen.b_status
        assert ledger_digest(scen.ledger) == scen.b_digest and sheet_values(scen.master) == scen.b_values
        scen.restore_a()
    return scen


# ----------------------------------------------------------------------------------------------------------------------
# Killed outright


def _event(scen: Scenario, event: str, ledger_before: tuple[int, int]) -> bool:
    if event == "ledger-written":  # the commit has begun writing the ledger file (or has finished)
        st = scen.ledger.stat()
        return (st.st_size, st.st_mtime_ns) != ledger_before
    if event == "master-temp":  # the new master is being written
        return any(p.parent == scen.master.parent for p in temp_files(scen.master.parent))
    if event == "backup":  # the new master is complete, the old one being copied to .backup
        folder = scen.master.parent / ".backup"
        return folder.is_dir() and any(folder.iterdir())
    raise AssertionError(event)


def run_and_kill(scen: Scenario, plan: tuple[str, float, float | None]) -> dict[str, Any]:
    """Start the run of state B over state A and SIGKILL it (and its reader processes: its whole process group) at
    the planned moment. Returns what was seen."""
    kind, delay, at = plan
    st = scen.ledger.stat()
    ledger_before = (st.st_size, st.st_mtime_ns)
    proc = subprocess.Popen(scen.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=environment(), start_new_session=True)
    start = time.perf_counter()
    fired_at = None
    try:
        while proc.poll() is None:
            now = time.perf_counter() - start
            assert now < RUN_TIMEOUT, "the run hangs"
            if fired_at is None and ((kind == "time" and now >= at) or (kind != "time" and _event(scen, kind,
                                                                                                ledger_before))):
                fired_at = now
            if fired_at is not None and now >= fired_at + delay:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None and fired_at is None:  # an assertion above: never leave the run behind
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {"plan": kind, "killed": proc.returncode == -signal.SIGKILL, "at": time.perf_counter() - start,
            "journal": scen.ledger.with_name(scen.ledger.name + "-journal").exists(),
            "temps": [p.name for p in temp_files(scen.master.parent)]}


def phase_of(ledger: str, master: str, seen: dict[str, Any]) -> str:
    if not seen["killed"]:
        return "completed before the kill"
    if ledger == "before":
        return "before the ledger's commit" + (" (hot journal left)" if seen["journal"] else "")
    if master == "old":
        return "after the commit, before the master's rename" + (" (temporary file left)" if seen["temps"] else "")
    return "after the master's rename"


def test_killed_at_any_moment_leaves_the_old_or_the_new_state_and_the_next_run_completes(tmp_path):
    scen = build(tmp_path / "run", units=360, first=270, late=90, corrected=90, master_in_inbox=True,
                 twice=True)
    rng = random.Random(SEED)
    plans = [("time", 0.0, rng.uniform(0.2, 1.0) * scen.b_seconds) for _ in range(KILLS_AT_RANDOM)]
    plans += [(kind, rng.uniform(*delays), None) for kind, delays in KILLS_ON_EVENT]
    phases: Counter[str] = Counter()
    log = []
    for n, plan in enumerate(plans):
        scen.restore_a()
        seen = run_and_kill(scen, plan)
        ledger = scen.ledger_is(inspect_ledger(scen.ledger, tmp_path / "inspect"))
        master = scen.master_is()
        assert (ledger, master) != ("before", "new"), "the master was written from a ledger that was not committed"
        phase = phase_of(ledger, master, seen)
        phases[phase] += 1
        log.append(f"#{n} {plan[0]} (+{plan[1]:.3f} s{'' if plan[2] is None else f' at {plan[2]:.2f} s'}): "
                   f"killed at {seen['at']:.2f} s, {phase}; ledger {ledger}, master {master}, "
                   f"journal {seen['journal']}, temporary files {seen['temps']}")

        # Recovery: a normal run over what the killed one left (a hot journal, temporary files) ends in state B, and
        # never takes a leftover for a returned form.
        if not seen["killed"]:
            continue
        done = scen.run("--json")
        assert done.returncode == scen.b_status, done.stderr
        report = json.loads(done.stdout)
        assert report["files"]["seen"] == len(scen.inbox_names)
        assert report["files"]["unreadable"] == 0
        names = {f["file"] for f in report["new_files"]}
        assert names <= scen.inbox_names
        assert scen.ledger_is(ledger_digest(scen.ledger)) == "after"
        assert scen.master_is() == "new"
        assert not scen.ledger.with_name(scen.ledger.name + "-journal").exists()
    print(f"\nrun B: {scen.b_seconds:.2f} s; kills: {len(plans)}; phases: {dict(phases)}")
    print("\n".join(log))
    assert sum(phases.values()) == len(plans)


# ----------------------------------------------------------------------------------------------------------------------
# A full disk


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Scenario:
    """Many units, few files: the ledger is small and the master (a row per unit and month) comparatively large."""
    return build(tmp_path_factory.mktemp("full") / "run", units=500, first=10, late=5, corrected=2,
                 master_in_inbox=False)


def folder_listing(scen: Scenario) -> set[str]:
    return {p.name for p in scen.root.iterdir()} | {f"inbox/{p.name}" for p in scen.inbox.iterdir()}


def assert_full_disk_message(proc: subprocess.CompletedProcess) -> str:
    text = flat(proc.stderr)
    assert proc.returncode == 2, text
    assert "Traceback" not in proc.stderr and "Error" not in text, text
    assert "Lỗi: ổ đĩa đã đầy (hoặc vượt giới hạn dung lượng)" in text, text
    assert "Chưa có gì bị ghi đè" in text and "Hãy giải phóng dung lượng rồi chạy lại" in text, text
    return text


def test_a_full_disk_while_writing_the_ledger_keeps_the_ledger_and_the_master(small):
    scen = small
    scen.restore_a()
    before = folder_listing(scen)
    limit = len(scen.a_ledger) + 4096  # room for one more page: the run needs far more
    assert scen.b_ledger_size > limit
    proc = scen.run(limit=limit)
    text = assert_full_disk_message(proc)
    assert f"khi ghi sổ theo dõi “{scen.ledger}”" in text
    assert "sổ theo dõi và tệp tổng hợp cũ vẫn giữ nguyên" in text
    assert folder_listing(scen) == before  # no journal, no temporary file
    assert scen.ledger_is(ledger_digest(scen.ledger)) == "before"
    assert scen.master.read_bytes() == scen.a_master
    # With room again, the same run goes through.
    assert scen.run().returncode == scen.b_status
    assert scen.ledger_is(ledger_digest(scen.ledger)) == "after" and scen.master_is() == "new"


def test_a_full_disk_while_writing_the_master_keeps_the_old_master(small):
    """The ledger fits, the master does not: the ledger is then in state B (the run's files are recorded: that is
    what it is for) while the master is still the old file; the next run writes it."""
    scen = small
    scen.restore_a()
    # The ledger also keeps derived data written after the master (thidua.derived: the master's cached blocks, about
    # the size of its summary rows), which makes it about as large as the master. Without it (it is only a cache),
    # the ledger of state B is smaller than the master again, and the limit falls between the two: measured on a run
    # from that very state, as the master's exact size depends on how its blocks were compressed.

    def strip() -> None:
        scen.restore_a()
        con = sqlite3.connect(scen.ledger)
        con.execute("DELETE FROM derived_blocks")
        con.commit()
        con.execute("VACUUM")
        con.close()

    strip()
    assert scen.run().returncode == scen.b_status
    master_size = scen.master.stat().st_size
    con = sqlite3.connect(scen.ledger)
    con.execute("DELETE FROM derived_blocks")
    con.commit()
    con.execute("VACUUM")
    con.close()
    ledger_size = scen.ledger.stat().st_size
    strip()
    before = folder_listing(scen)
    # Just below the master (whose size varies by a few hundred bytes from run to run with how its blocks compress),
    # leaving the ledger a page more than it measured after VACUUM: during the run it is not vacuumed, and a page of
    # free space is left where rows were replaced (a limit half way between the two fell on that very page).
    limit = master_size - 1024
    assert ledger_size + 4096 < limit
    proc = scen.run(limit=limit)
    text = assert_full_disk_message(proc)
    assert f"khi ghi tệp tổng hợp “{scen.master}”" in text
    assert "tệp tổng hợp cũ vẫn giữ nguyên" in text and "Sổ theo dõi đã ghi nhận các tệp mới" in text
    # no temporary file, no backup of the master; the ledger changed, so a copy of it as it was is kept
    assert folder_listing(scen) - {".backup"} == before - {".backup"}
    assert [p.suffix for p in (scen.root / ".backup").iterdir()] == [scen.ledger.suffix]
    assert scen.ledger_is(ledger_digest(scen.ledger)) == "after"
    assert scen.master.read_bytes() == scen.a_master
    done = scen.run("--json")
    assert done.returncode == scen.b_status
    assert json.loads(done.stdout)["files"]["new"] == 0  # nothing read again: only the master is written
    assert scen.master_is() == "new"


def test_a_full_disk_while_writing_return_packages_keeps_the_old_ones(small, tmp_path):
    """Another writer: ``thidua validate --return-dir``."""
    scen = small
    out = tmp_path / "tra-lai"
    cmd = [str(THIDUA), "validate", *map(str, sorted(scen.inbox.glob("*.xlsx"))), "--period", str(PERIOD),
           "--units", str(scen.units), "--return-dir", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=environment(),
                           stdin=subprocess.DEVNULL)
    assert first.returncode == 1, first.stderr
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    assert old, "no return package written"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=environment(),
                          stdin=subprocess.DEVNULL, preexec_fn=size_limit(2048))
    text = flat(proc.stderr)
    assert proc.returncode == 2, text
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Lỗi: ổ đĩa đã đầy (hoặc vượt giới hạn dung lượng)" in text and "giữ nguyên" in text, text
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old  # the old packages, no temporary file


# ----------------------------------------------------------------------------------------------------------------------
# The atomic writer itself


def test_a_failed_atomic_write_removes_its_temporary_file_and_keeps_the_target(tmp_path):
    target = tmp_path / "a.xlsx"
    target.write_bytes(b"old")
    with pytest.raises(WriteFailed) as failed, atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise OSError(28, "No space left on device")
    assert "ổ đĩa đã đầy" in failed.value.message and "“a.xlsx” cũ" in failed.value.message
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.xlsx"]
    with pytest.raises(ValueError), atomic_path(target) as tmp:  # any other error: passed on as it is
        tmp.write_bytes(b"partial")
        raise ValueError("boom")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.xlsx"]


def test_temporary_files_left_by_a_killed_write_are_removed_once_stale(tmp_path):
    temps = [tmp_path / ".a.k3j4h5q_.tmp.xlsx", tmp_path / ".b.zzzzzzzz.tmp.docx"]
    others = [tmp_path / ".a.notours.xlsx", tmp_path / "a.k3j4h5q_.tmp.xlsx", tmp_path / "a.xlsx"]
    for p in (*temps, *others):
        p.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == []  # fresh: perhaps a write that is running
    with atomic_path(tmp_path / "b.xlsx") as tmp:
        tmp.write_bytes(b"new")
    assert sorted(remove_stale_temps(tmp_path, now=time.time() + 7200)) == temps
    assert sorted(tmp_path.iterdir()) == sorted([*others, tmp_path / "b.xlsx"])


def test_what_counts_as_a_full_disk():
    assert write_problem(OSError(errno.ENOSPC, "No space left on device")) == DISK_FULL
    assert write_problem(OSError(errno.EFBIG, "File too large")) == DISK_FULL
    assert write_problem(OSError(errno.EDQUOT, "Disk quota exceeded")) == DISK_FULL
    assert write_problem(sqlite3.OperationalError("database or disk is full")) == DISK_FULL
    try:  # raised while handling one: still that
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise ValueError("while cleaning up") from None
    except ValueError as exc:
        assert write_problem(exc) == DISK_FULL
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY:  # else taken for a size limit
        assert "lỗi đọc/ghi đĩa" in write_problem(sqlite3.OperationalError("disk I/O error"), Path.cwd())
    assert write_problem(OSError(errno.EACCES, "Permission denied")) is None
    assert write_problem(sqlite3.OperationalError("database is locked")) is None


def test_a_full_ledger_rolls_back_the_whole_transaction_and_says_so(tmp_path):
    """SQLite's own "database or disk is full" (as on a real full disk), here from a page limit."""
    with Ledger(tmp_path / "l.sqlite") as led:
        before = led.dump()
        pages = led.db.execute("PRAGMA page_count").fetchone()[0]
        led.db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(WriteFailed) as failed, led.transaction():
            led.db.executemany("INSERT INTO batches (received_at, inbox, period, tool_version) VALUES (?, ?, ?, ?)",
                               [("2024-09-20T10:00:00", "x" * 200, "2024-09", "t")] * 500)
        message = failed.value.message
        assert message.startswith(f"{DISK_FULL} khi ghi sổ theo dõi “{tmp_path / 'l.sqlite'}”"), message
        assert "vẫn giữ nguyên" in message
        assert not led.db.in_transaction and led.dump() == before
        led.db.execute(f"PRAGMA max_page_count = {pages * 100}")
        with led.transaction():  # usable again
            led.db.execute("INSERT INTO batches (received_at, inbox, period, tool_version) VALUES ('t', 'i', 'p', 'v')")
        assert len(led.dump()["batches"]) == 1


def test_an_atomic_write_gives_the_usual_permissions_or_the_old_files(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "new.xlsx") as tmp:
            tmp.write_bytes(b"new")
        assert (tmp_path / "new.xlsx").stat().st_mode & 0o777 == 0o644  # not mkstemp's owner-only 0600
        old = tmp_path / "old.xlsx"
        old.write_bytes(b"old")
        old.chmod(0o640)
        with atomic_path(old) as tmp:
            tmp.write_bytes(b"new")
        assert old.stat().st_mode & 0o777 == 0o640 and old.read_bytes() == b"new"
    finally:
        os.umask(umask)


def test_a_full_disk_while_writing_the_report_keeps_the_old_report(tmp_path):
    """The report writer: ``thidua report --sample`` (its .docx, the chart in the temporary folder, the appendix)."""
    out = tmp_path / "bao-cao"
    cmd = [str(THIDUA), "report", "--sample", "--period", str(PERIOD), "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=environment(),
                           stdin=subprocess.DEVNULL)
    assert first.returncode == 0, first.stderr
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    for limit in (4096, 30_000):  # the chart (or the .docx) fails; then the appendix, after the .docx
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=environment(),
                              stdin=subprocess.DEVNULL, preexec_fn=size_limit(limit))
        text = flat(proc.stderr)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, text
        assert "Lỗi: ổ đĩa đã đầy (hoặc vượt giới hạn dung lượng)" in text and "giữ nguyên" in text, text
        assert set(p.name for p in out.iterdir()) == set(old)  # no temporary file left beside the old ones
