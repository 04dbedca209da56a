"""Faults around the files, not in them (issue 14): odd file names, foreign databases, locks and read-only ledgers,
signals, outputs over inputs, bad directory entries, lost edits. Each test reproduces one defect."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from thidua import ledger as ledger_module
from thidua import ledgerfile
from thidua.catalogue import default_catalogue
from thidua.cli import app
from thidua.consolidate import consolidate
from thidua.errors import ThiDuaError
from thidua.ledger import MIGRATIONS, SCHEMA_VERSION, TABLES, Ledger, LedgerHistory
from thidua.period import Period
from thidua.demo import make_inbox

PERIOD = Period(2024, 9)
CAT = default_catalogue()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_inbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    make_inbox(CAT, PERIOD, root / "forms", root / "inbox")
    return root / "inbox"


@pytest.fixture
def inbox(tmp_path, demo_inbox) -> Path:
    box = tmp_path / "inbox"
    box.mkdir()
    for src in demo_inbox.iterdir():
        (box / src.name).write_bytes(src.read_bytes())
    return box


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("thidua")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, **kwargs)


def schema_v1(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO batches (received_at, inbox, period, tool_version) VALUES ('2024-09-30', '/in', "
               "'2024-09', '0.1.0')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` made unwritable, even for root (``chattr +i``); skips when that is impossible here."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not available: cannot make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


# ----------------------------------------------------------------------------------------------------------------------
# 2. Foreign databases are refused untouched


def foreign_db(path: Path, user_version: int = 0, application_id: int = 0) -> bytes:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
    db.execute("INSERT INTO contacts VALUES ('An', '0912')")
    db.execute(f"PRAGMA user_version = {user_version}")
    db.execute(f"PRAGMA application_id = {application_id}")
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("user_version, application_id", [(0, 0), (1, 0), (0, 0x12345678), (2, 0)])
def test_another_applications_database_is_refused_untouched(tmp_path, inbox, user_version, application_id):
    other = tmp_path / "contacts.sqlite"
    before = foreign_db(other, user_version, application_id)
    with pytest.raises(ThiDuaError, match="không phải sổ theo dõi|chương trình khác"):
        Ledger(other)
    for command in (["consolidate", inbox, "--period", "2024-09", "--ledger", other, "--out", tmp_path / "m.xlsx"],
                    ["report", "--period", "2024-09", "--ledger", other, "--out", tmp_path / "bc"]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert "chương trình khác" in result.output and "Traceback" not in result.output
    assert other.read_bytes() == before
    assert not (tmp_path / "m.xlsx").exists() and not (tmp_path / "bc").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.sqlite", "inbox"]


def test_a_wal_database_of_another_application_keeps_its_journal_mode(tmp_path):
    other = tmp_path / "app.db"
    db = sqlite3.connect(other)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(ThiDuaError):
        Ledger(other)
    db = sqlite3.connect(other)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    db.close()


def test_a_ledger_carries_its_application_id_and_an_old_ledger_gets_it_on_upgrade(tmp_path):
    with Ledger(tmp_path / "new.sqlite") as led:
        assert led.db.execute("PRAGMA application_id").fetchone()[0] == ledgerfile.APPLICATION_ID
    old = tmp_path / "old.sqlite"
    schema_v1(old)
    with Ledger(old) as led:
        assert led.version == SCHEMA_VERSION
        assert led.db.execute("PRAGMA application_id").fetchone()[0] == ledgerfile.APPLICATION_ID
        assert led.db.execute("SELECT COUNT(*) FROM batches").fetchone() == (1,)
    # the upgrade was preceded by a backup of the old ledger
    backups = ledgerfile.ledger_backups(old)
    assert len(backups) == 1
    db = sqlite3.connect(backups[0])
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


def test_report_does_not_take_an_empty_file_for_a_new_ledger(tmp_path):
    empty = tmp_path / "l.sqlite"
    empty.write_bytes(b"")
    result = invoke("report", "--period", "2024-09", "--ledger", empty, "--out", tmp_path / "bc")
    assert result.exit_code == 2
    assert "trống" in result.output
    assert empty.read_bytes() == b"" and not (tmp_path / "bc").exists()


# ----------------------------------------------------------------------------------------------------------------------
# 3. Locks, races and read-only ledgers are named as such, never "corrupt"


def test_a_ledger_created_while_another_session_creates_it_is_not_an_error(tmp_path):
    """The race of two runs on a new ledger: the second read the schema version before the first committed, then
    waited for the lock; it must read the version again once it holds the lock."""
    path = tmp_path / "l.sqlite"
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("BEGIN IMMEDIATE")
    for number, script in enumerate(MIGRATIONS):
        for statement in script.split(";"):
            if statement.strip():
                first.execute(statement)
        first.execute(f"PRAGMA user_version = {number + 1}")
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with Ledger(path) as led:
                outcome["version"] = led.version
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.5)  # the second session has read version 0 and waits for the lock
    first.execute("COMMIT")
    first.close()
    thread.join(60)
    assert outcome == {"version": SCHEMA_VERSION}


def test_two_consolidations_at_once_on_a_new_ledger_both_finish(tmp_path, inbox):
    ledger = tmp_path / "l.sqlite"
    procs = [subprocess.Popen([str(Path(sys.executable).with_name("thidua")), "consolidate", str(inbox), "--period",
                               "2024-09", "--ledger", str(ledger), "--out", str(tmp_path / f"m{i}.xlsx"),
                               "--workers", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1), err
        assert "already exists" not in err and "hỏng" not in err
    with Ledger(ledger) as led:
        assert len(led.files()) == len(list(inbox.iterdir()))


def test_a_lock_held_too_long_says_another_session_uses_the_ledger(tmp_path, inbox, monkeypatch):
    monkeypatch.setattr(ledgerfile, "LOCK_TIMEOUT", 0.3, raising=False)
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ThiDuaError) as err:
            consolidate(inbox, PERIOD, CAT, ledger=path, out=tmp_path / "m.xlsx", workers=0)
        message = err.value.message
        assert "đang được một phiên khác dùng" in message and "chạy lại" in message
        assert "hỏng" not in message and "locked" not in message
        # a new ledger whose creation waits for the lock says the same
        new = tmp_path / "n.sqlite"
        other = sqlite3.connect(new, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(ThiDuaError, match="đang được một phiên khác dùng"):
            Ledger(new)
        other.execute("ROLLBACK")
        other.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not (tmp_path / "m.xlsx").exists()


def test_a_read_only_ledger_that_needs_upgrading_says_read_only(tmp_path, inbox):
    path = tmp_path / "v1.sqlite"
    schema_v1(path)
    before = path.read_bytes()
    with read_only(path):
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", path, "--out", tmp_path / "m.xlsx")
        assert result.exit_code == 2
        assert "không ghi được (chỉ đọc)" in result.output.lower(), result.output
        assert "hỏng" not in result.output and "readonly" not in result.output
    assert path.read_bytes() == before
    assert not (tmp_path / "m.xlsx").exists()


def test_a_read_only_current_ledger_can_be_reported_but_not_written(tmp_path, inbox):
    path = tmp_path / "l.sqlite"
    consolidate(inbox, PERIOD, CAT, ledger=path, write=False, workers=0)
    (inbox / "extra.xlsx").write_bytes(b"not a workbook")
    with read_only(path):
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", path, "--out", tmp_path / "m.xlsx")
        assert result.exit_code == 2 and "không ghi được (chỉ đọc)" in result.output.lower(), result.output
        assert "attempt to write" not in result.output
        result = invoke("report", "--period", "2024-09", "--ledger", path, "--out", tmp_path / "bc")
        assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------------------------------------------------
# 4. A ledger path with "#" or "?"


@pytest.mark.parametrize("folder", ["a#b", "a?b", "x%23y", "c d#?e"])
def test_the_read_only_history_opens_the_ledger_itself_whatever_its_name(tmp_path, folder):
    from test_ledger import received, record

    path = tmp_path / folder / "l#1?.sqlite"
    with Ledger(path) as led:
        record(led, received("ThiDua_2024-08_VP.xlsx", "VP", "2024-08"), period="2024-08")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    history = LedgerHistory(str(path))
    assert history.earlier_ytd("VP", "2024-09", "2.1") == ("2024-08", 5)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no stray database
