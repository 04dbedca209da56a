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
from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner
from thidua import ledgerfile
from thidua.catalogue import default_catalogue
from thidua.cli import app
from thidua.consolidate import consolidate
from thidua.demo import make_inbox
from thidua.errors import ThiDuaError
from thidua.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, LedgerHistory
from thidua.period import Period

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


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Messages on one line each, as a wide terminal shows them (paths are long)."""
    from thidua import cli as cli_module

    for console in (cli_module.console, cli_module.out):
        monkeypatch.setattr(console, "width", 10_000)


class Run:
    """A CliRunner result with the console's line wrapping undone in ``text``."""

    def __init__(self, result):
        self.exit_code, self.stdout, self.output = result.exit_code, result.stdout, result.output
        self.text = " ".join(result.output.split())


def invoke(*args: str) -> Run:
    return Run(CliRunner().invoke(app, [str(a) for a in args]))


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("thidua")
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, **kwargs)


def schema_v1(path: Path) -> None:
    from test_ledger import ledger_of_schema_1

    ledger_of_schema_1(path)


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` made unwritable, even for root (``chattr +i``); skips when that is impossible here."""
    if not AS_ROOT:
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
    with pytest.raises(ThiDuaError, match=r"không phải sổ theo dõi|chương trình khác"):
        Ledger(other)
    for command in (["consolidate", inbox, "--period", "2024-09", "--ledger", other, "--out", tmp_path / "m.xlsx"],
                    ["report", "--period", "2024-09", "--ledger", other, "--out", tmp_path / "bc"]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert "chương trình khác" in result.text and "Traceback" not in result.text
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
    assert "trống" in result.text
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
        except Exception as exc:
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
        assert "không ghi được (chỉ đọc)" in result.text.lower(), result.output
        assert "hỏng" not in result.text and "readonly" not in result.text
    assert path.read_bytes() == before
    assert not (tmp_path / "m.xlsx").exists()


def test_a_read_only_current_ledger_can_be_reported_but_not_written(tmp_path, inbox):
    path = tmp_path / "l.sqlite"
    consolidate(inbox, PERIOD, CAT, ledger=path, write=False, workers=0)
    (inbox / "extra.xlsx").write_bytes(b"not a workbook")
    with read_only(path):
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", path, "--out", tmp_path / "m.xlsx")
        assert result.exit_code == 2 and "không ghi được (chỉ đọc)" in result.text.lower(), result.output
        assert "attempt to write" not in result.text
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


# ----------------------------------------------------------------------------------------------------------------------
# 6. Exit status 2 means nothing was written: every argument and target is checked first


def workbook_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "So.xlsm"
    dest.write_bytes((ROOT / "workbook" / "ThiDua2024.xlsm").read_bytes())
    return dest


def test_a_bad_target_or_period_is_refused_before_anything_is_written(tmp_path, inbox):
    ledger = tmp_path / "l.sqlite"
    (tmp_path / "a-file").write_bytes(b"x")
    broken = tmp_path / "broken.xlsm"
    broken.write_bytes(workbook_copy(tmp_path).read_bytes()[:5000])
    late_org = tmp_path / "org.toml"
    late_org.write_text((ROOT / "addin/thidua/data/organisation.toml").read_text(encoding="utf-8")
                        .replace("valid_from = 2024-01-01", "valid_from = 2024-06-01"), encoding="utf-8")
    cases = {
        "notes.txt": ["--out", tmp_path / "notes.txt"],
        "sqlite": ["--out", tmp_path / "L.sqlite"],
        "in a file": ["--out", tmp_path / "a-file" / "m.xlsx"],
        "broken xlsm": ["--workbook", broken],
        "workbook is the ledger": ["--workbook", ledger],
        "organisation gap": ["--out", tmp_path / "m.xlsx", "--organisation", late_org],
    }
    Ledger(ledger).close()  # an existing, empty ledger: it must stay so
    before = listing(tmp_path)
    for name, args in cases.items():
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", ledger, *args)
        assert result.exit_code == 2, (name, result.output)
        assert "Traceback" not in result.text and "Chưa có gì được ghi" in result.text, (name, result.output)
        assert listing(tmp_path) == before, name
    assert str(late_org) in invoke("consolidate", inbox, "--period", "2024-09", "--ledger", ledger, "--out",
                                   tmp_path / "m.xlsx", "--organisation", late_org).text


# ----------------------------------------------------------------------------------------------------------------------
# 7. Outputs never replace inputs


def test_the_master_never_replaces_the_ledger(tmp_path, inbox):
    x = tmp_path / "X.xlsx"
    result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", x, "--out", x)
    assert result.exit_code == 2 and "xóa mất sổ theo dõi" in result.text
    assert not x.exists()
    consolidate(inbox, PERIOD, CAT, ledger=tmp_path / "l.sqlite", write=False, workers=0)
    before = (tmp_path / "l.sqlite").read_bytes()
    result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--out",
                    tmp_path / "." / "l.sqlite")
    assert result.exit_code == 2
    assert (tmp_path / "l.sqlite").read_bytes() == before


def test_the_master_never_replaces_a_units_file_in_the_inbox(tmp_path, inbox):
    before = listing(inbox)
    unit_file = inbox / "ThiDua_2024-09_VP.xlsx"
    renamed = inbox / "bao-cao-VP.xlsx"  # a unit's file under another name is still a unit's file
    renamed.write_bytes(unit_file.read_bytes())
    before = listing(inbox)
    for target in (unit_file, renamed, inbox / "ThiDua_2024-10_VP.xlsx"):
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--out",
                        target)
        assert result.exit_code == 2 and "báo cáo đơn vị gửi" in result.text, result.output
        assert listing(inbox) == before
    assert not (tmp_path / "l.sqlite").exists()
    # a master of our own inside the inbox is fine, again and again
    for _ in range(2):
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--out",
                        inbox / "tong-hop.xlsx")
        assert result.exit_code == 1, result.output


def test_return_packages_never_go_into_the_inbox(tmp_path, inbox):
    before = listing(inbox)
    for args in ([inbox], [inbox / "ThiDua_2024-09_TTRA.xlsx"]):
        result = invoke("validate", *args, "--period", "2024-09", "--return-dir", inbox)
        assert result.exit_code == 2 and "--return-dir" in result.text, result.output
        assert listing(inbox) == before
    result = invoke("validate", inbox, "--period", "2024-09", "--return-dir", tmp_path / "tra-lai")
    assert result.exit_code == 1 and len(list((tmp_path / "tra-lai").iterdir())) == 4


# ----------------------------------------------------------------------------------------------------------------------
# 8. --workbook on a plain .xlsx


def test_workbook_refuses_a_plain_xlsx_even_renamed_xlsm(tmp_path, inbox):
    plain = tmp_path / "plain.xlsx"
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = "giữ nguyên"
    wb.save(plain)
    renamed = tmp_path / "renamed.xlsm"
    renamed.write_bytes(plain.read_bytes())
    for target in (plain, renamed):
        before = target.read_bytes()
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--workbook",
                        target)
        assert result.exit_code == 2 and "--out" in result.text, result.output
        assert target.read_bytes() == before
    assert not (tmp_path / "l.sqlite").exists()
    good = workbook_copy(tmp_path)
    result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--workbook", good)
    assert result.exit_code == 1, result.output


# ----------------------------------------------------------------------------------------------------------------------
# 9. The size is checked before reading, and hashing never reads a file whole


def test_a_huge_file_in_the_inbox_is_refused_without_filling_the_memory(tmp_path, inbox):
    huge = inbox / "ThiDua_2024-09_QLVT-huge.xlsx"
    with open(huge, "wb") as fh:  # sparse: takes no room on the disk
        fh.truncate(3 << 30)
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from thidua.cli import main\n"
        "sys.argv = ['thidua', *sys.argv[1:]]\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, "consolidate", str(inbox), "--period", "2024-09", "--ledger",
                           str(tmp_path / "l.sqlite"), "--out", str(tmp_path / "m.xlsx"), "--workers", "0", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "MemoryError" not in proc.stderr
    with Ledger(tmp_path / "l.sqlite") as led:
        row = led.files(file_name=huge.name)[0]
        assert row["status"] == "rejected" and row["size"] == 3 << 30
        codes = [r[0] for r in led.db.execute("SELECT code FROM findings WHERE file_id = ?", (row["id"],))]
    assert codes == ["E-READ-TOO-LARGE"]


# ----------------------------------------------------------------------------------------------------------------------
# 10. One bad directory entry is a finding for that entry, and the batch goes on


def test_a_link_loop_in_the_inbox_is_reported_and_the_batch_goes_on(tmp_path, inbox):
    (inbox / "loop-a.xlsx").symlink_to(inbox / "loop-b.xlsx")
    (inbox / "loop-b.xlsx").symlink_to(inbox / "loop-a.xlsx")
    result = invoke("validate", inbox, "--period", "2024-09", "--json")
    assert result.exit_code == 1, result.output
    import json

    data = json.loads(result.stdout)
    files = {Path(f["path"]).name: f for f in data["files"]}
    assert files["ThiDua_2024-09_VP.xlsx"]["valid"] and len(files) == 9
    assert sorted(f["file"] for f in data["summary"]["not_read"]) == ["loop-a.xlsx", "loop-b.xlsx"]
    result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--out",
                    tmp_path / "m.xlsx", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert sorted(f["file"] for f in data["unreadable"]) == ["loop-a.xlsx", "loop-b.xlsx"]
    assert data["files"]["current"] == 5 and (tmp_path / "m.xlsx").exists()


AS_ROOT = getattr(os, "geteuid", lambda: -1)() == 0


@pytest.mark.skipif(AS_ROOT, reason="root reads every folder: a folder without permission needs a user")
def test_a_link_into_a_folder_without_permission_is_reported_and_the_batch_goes_on(tmp_path, inbox):
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "x.xlsx").write_bytes(b"x")
    (inbox / "link.xlsx").symlink_to(closed / "x.xlsx")
    closed.chmod(0)
    try:
        result = invoke("validate", inbox, "--period", "2024-09")
        assert result.exit_code == 1, result.output
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--out",
                        tmp_path / "m.xlsx")
        assert result.exit_code == 1 and "link.xlsx" in result.text
    finally:
        closed.chmod(0o755)


# ----------------------------------------------------------------------------------------------------------------------
# 1. A file name that is not valid UTF-8


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux file systems hold names that are not valid UTF-8")
def test_a_file_name_that_is_not_utf8_is_stored_and_shown_losslessly(tmp_path, inbox):
    import json

    import openpyxl

    odd = Path(os.fsdecode(bytes(inbox) + b"/ThiDua_2024-09_VP\xff\xfe.xlsx"))
    (inbox / "ThiDua_2024-09_VP.xlsx").rename(odd)
    shown = "ThiDua_2024-09_VP\\xff\\xfe.xlsx"
    ledger = tmp_path / "l.sqlite"
    for _ in range(2):  # the second run knows the file and skips it
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", ledger, "--out", tmp_path / "m.xlsx")
        assert result.exit_code == 1, result.output
    with Ledger(ledger) as led:
        row = led.db.execute("SELECT path, file_name, status FROM files WHERE file_name LIKE 'ThiDua_2024-09_VP%'"
                             ).fetchone()
    assert row == (os.fsencode(odd), shown, "current")  # the bytes of the path, and the name as shown
    status = openpyxl.load_workbook(tmp_path / "m.xlsx")["Tổng hợp"]
    assert shown in [c.value for r in status.iter_rows() for c in r]
    result = invoke("validate", inbox, "--period", "2024-09", "--json")
    data = json.loads(result.stdout.encode("utf-8"))  # valid UTF-8, valid JSON
    assert shown in [Path(f["path"]).name for f in data["files"]]
    (inbox / "ThiDua_2024-09_TTRA.xlsx").rename(Path(os.fsdecode(bytes(inbox) + b"/TTRA\xff.xlsx")))
    result = invoke("validate", inbox, "--period", "2024-09", "--return-dir", tmp_path / "tra-lai")
    assert result.exit_code == 1 and "TTRA\\xff.xlsx" in result.text, result.output
    (written,) = [p for p in (tmp_path / "tra-lai").iterdir() if "TTRA" in p.name]
    package = openpyxl.load_workbook(written)
    assert "TTRA\\xff.xlsx" in [c.value for r in package["Kết quả kiểm tra"].iter_rows() for c in r]


# ----------------------------------------------------------------------------------------------------------------------
# 5. Ctrl-C and SIGTERM: a clean stop, the readers with it, and what was kept


def big_inbox(folder: Path, demo_inbox: Path, copies: int) -> Path:
    """``copies`` distinct valid files (the VP form, each with its own zip comment)."""
    import zipfile

    folder.mkdir()
    src = (demo_inbox / "ThiDua_2024-09_VP.xlsx").read_bytes()
    for i in range(copies):
        path = folder / f"ThiDua_2024-09_VP-{i:04d}.xlsx"
        path.write_bytes(src)
        with zipfile.ZipFile(path, "a") as zf:
            zf.comment = f"copy {i}".encode()
    return folder


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def reap(proc: subprocess.Popen, pids: Iterable[int]) -> str:
    """End whatever is left of a run started in a session of its own (its processes ``pids``, then its whole group)
    and return what it wrote on stderr."""
    import signal

    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate(timeout=60)[1]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process table from /proc")
@pytest.mark.parametrize("signum, status, words", [(15, 143, "SIGTERM"), (2, 130, "Đã dừng theo yêu cầu.")])
def test_a_stopped_consolidation_stops_its_readers_and_says_what_was_kept(tmp_path, demo_inbox, signum, status,
                                                                         words):
    import signal

    # enough files that the run is still reading when the signal comes: the template's parts are checked once per
    # reader, so these copies read in a fraction of a millisecond each
    box = big_inbox(tmp_path / "inbox", demo_inbox, 2000)
    ledger = tmp_path / "l.sqlite"
    consolidate(demo_inbox, PERIOD, CAT, ledger=ledger, write=False, workers=0)  # state A
    before = ledgerfile.open_readonly(ledger).execute("SELECT COUNT(*) FROM files").fetchone()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("thidua")), "consolidate", str(box), "--period",
                             "2024-09", "--ledger", str(ledger), "--out", str(tmp_path / "m.xlsx"), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers = children(proc.pid)
            time.sleep(0.02)
        assert len(workers) >= 2, "the reading processes never started"
        time.sleep(0.1)
        if signum == signal.SIGINT:  # Ctrl-C reaches the whole foreground group, the readers too
            os.killpg(proc.pid, signum)
        else:  # `kill PID`: the main process only
            os.kill(proc.pid, signum)
        status_seen = proc.wait(timeout=120)
        end = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < end:
            time.sleep(0.05)
        left = [pid for pid in workers if alive(pid)]
    finally:  # whatever happened, nothing of the run is left behind (a reader kept alive holds the pipes)
        err = reap(proc, workers)
    assert not left, "a reading process outlived the run"
    assert status_seen == status, err
    assert words in " ".join(err.split()) and "Traceback" not in err and "Aborted" not in err, err
    assert "giữ nguyên" in err
    db = sqlite3.connect(ledger)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM files").fetchone() == before  # rolled back whole
    db.close()
    assert not ledger.with_name(ledger.name + "-journal").exists()
    assert not (tmp_path / "m.xlsx").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] in ([], [".backup"])


def test_an_interrupted_report_leaves_the_old_pair(tmp_path, inbox, monkeypatch):
    from thidua.report import files as report_files
    from thidua.report import write_report

    consolidate(inbox, PERIOD, CAT, ledger=tmp_path / "l.sqlite", write=False, workers=0)
    from thidua.consolidate import load_period

    data = load_period(tmp_path / "l.sqlite", PERIOD, CAT)
    out = tmp_path / "bc"
    write_report(data, CAT, "so-ket", out)
    before = listing(out)
    real = report_files.write_appendix

    def interrupted(*args, **kwargs):  # Ctrl-C while the appendix is being written, after the new .docx
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(report_files, "write_appendix", interrupted)
    import datetime as dt

    with pytest.raises(KeyboardInterrupt):
        write_report(data, CAT, "so-ket", out, report_date=dt.date(2024, 10, 30))
    assert listing(out) == before  # the old pair, nothing beside it


# ----------------------------------------------------------------------------------------------------------------------
# 11. Another program saving the .xlsm while we write it


# openpyxl never closes the in-memory zip it keeps the VBA project in (``vba_archive``); collected after the refusal,
# it complains about its buffer. Nothing of ours is left open.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_workbook_saved_by_another_program_meanwhile_is_not_overwritten(tmp_path, inbox, monkeypatch):
    import openpyxl
    from thidua import master

    book = workbook_copy(tmp_path)
    real = master.write_master

    def excel_saves_meanwhile(*args, **kwargs):
        real(*args, **kwargs)
        wb = openpyxl.load_workbook(book, keep_vba=True)
        wb.worksheets[0]["Z1"] = "thay đổi của người dùng"
        wb.save(book)

    monkeypatch.setattr(master, "write_master", excel_saves_meanwhile)
    with pytest.raises(ThiDuaError, match="chương trình khác") as err:
        consolidate(inbox, PERIOD, CAT, ledger=tmp_path / "l.sqlite", workbook=book, workers=0)
    assert "chạy lại" in err.value.message
    assert openpyxl.load_workbook(book, keep_vba=True).worksheets[0]["Z1"].value == "thay đổi của người dùng"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    monkeypatch.setattr(master, "write_master", real)  # the next run writes it, keeping the change
    consolidate(inbox, PERIOD, CAT, ledger=tmp_path / "l.sqlite", workbook=book, workers=0)
    wb = openpyxl.load_workbook(book, keep_vba=True)
    assert wb.worksheets[0]["Z1"].value == "thay đổi của người dùng" and "Tổng hợp" in wb.sheetnames


# ----------------------------------------------------------------------------------------------------------------------
# 12. Smaller ones


def test_configuration_files_saved_with_a_byte_order_mark_are_read(tmp_path):
    from thidua.catalogue import load_catalogue

    data = ROOT / "addin" / "thidua" / "data"
    paths = {}
    for name in ("catalogue.toml", "units.toml", "organisation.toml"):
        paths[name] = tmp_path / name
        paths[name].write_bytes(b"\xef\xbb\xbf" + (data / name).read_bytes())
    cat = load_catalogue(paths["catalogue.toml"], paths["organisation.toml"], paths["units.toml"])
    assert cat.units == CAT.units and cat.targets == CAT.targets


def test_a_units_file_of_an_unknown_schema_is_refused(tmp_path):
    units = tmp_path / "units.toml"
    units.write_text((ROOT / "addin/thidua/data/units.toml").read_text(encoding="utf-8")
                     .replace("schema = 1", "schema = 99"), encoding="utf-8")
    result = invoke("form", "--period", "2024-09", "--out", tmp_path / "f", "--units", units)
    assert result.exit_code == 2 and "99" in result.text and str(units) in result.text, result.output
    assert not (tmp_path / "f").exists()


def test_no_english_from_sqlite_reaches_the_user(tmp_path, inbox):
    ledger = tmp_path / "l.sqlite"
    consolidate(inbox, PERIOD, CAT, ledger=ledger, write=False, workers=0)
    data = bytearray(ledger.read_bytes())
    page = 4096
    for n in range(2, len(data) // page):  # every page but the first (the header and the schema) scrambled
        data[n * page:n * page + 64] = b"\xa5" * 64
    ledger.write_bytes(bytes(data))
    result = invoke("report", "--period", "2024-09", "--ledger", ledger, "--out", tmp_path / "bc")
    assert result.exit_code == 2, result.output
    assert "restore-ledger" in result.text, result.output
    for english in ("malformed", "database", "disk image", "Traceback"):
        assert english not in result.output


def test_out_on_a_symbolic_link_writes_the_file_it_points_to(tmp_path, inbox):
    real = tmp_path / "that" / "tong-hop.xlsx"
    real.parent.mkdir()
    link = tmp_path / "m.xlsx"
    link.symlink_to(real)
    for _ in range(2):
        result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", tmp_path / "l.sqlite", "--out", link)
        assert result.exit_code == 1, result.output
        assert link.is_symlink() and real.is_file()


def test_the_ledger_is_backed_up_before_each_run_that_changes_it_and_can_be_restored(tmp_path, inbox, demo_inbox):
    import json

    ledger = tmp_path / "l.sqlite"
    files = sorted(inbox.iterdir())
    for f in files[4:]:
        f.rename(tmp_path / f.name)
    consolidate(inbox, PERIOD, CAT, ledger=ledger, write=False, workers=0)
    assert ledgerfile.ledger_backups(ledger) == []  # nothing to keep before the first files
    consolidate(inbox, PERIOD, CAT, ledger=ledger, write=False, workers=0)
    assert ledgerfile.ledger_backups(ledger) == []  # a run that changes nothing takes no copy
    first_state = Ledger(ledger).dump()
    for f in files[4:]:
        (tmp_path / f.name).rename(f)
    consolidate(inbox, PERIOD, CAT, ledger=ledger, write=False, workers=0)
    (backup,) = ledgerfile.ledger_backups(ledger)
    with Ledger(backup) as copy:
        assert copy.dump() == first_state
    second_state = Ledger(ledger).dump()
    assert second_state != first_state
    listed = invoke("restore-ledger", "--ledger", ledger, "--json")
    assert json.loads(listed.stdout)["backups"] == [str(backup)]
    result = invoke("restore-ledger", "--ledger", ledger, backup)
    assert result.exit_code == 0 and "Đã khôi phục" in result.text, result.output
    assert Ledger(ledger).dump() == first_state
    previous = next(p for p in (ledger.parent / ".backup").iterdir() if "truoc-khoi-phuc" in p.name)
    assert Ledger(previous).dump() == second_state  # the restore can be undone
    # a damaged ledger is what a restore is for
    ledger.write_bytes(b"\x00" * 8192)
    assert invoke("restore-ledger", "--ledger", ledger, backup).exit_code == 0
    assert Ledger(ledger).dump() == first_state
    # only the last five are kept
    for k in range(7):
        (inbox / f"extra-{k}.xlsx").write_bytes(b"not a workbook %d" % k)
        consolidate(inbox, PERIOD, CAT, ledger=ledger, write=False, workers=0)
    assert len(ledgerfile.ledger_backups(ledger)) == ledgerfile.KEEP_BACKUPS
    # a backup that is not a ledger is refused, the ledger untouched
    before = ledger.read_bytes()
    other = tmp_path / "other.sqlite"
    foreign_db(other)
    result = invoke("restore-ledger", "--ledger", ledger, other)
    assert result.exit_code == 2 and "không khôi phục" in result.text
    assert ledger.read_bytes() == before


def test_the_khoi_workbook_never_replaces_a_members_appendix(tmp_path, inbox):
    from thidua.consolidate import load_period
    from thidua.report import write_report

    consolidate(inbox, PERIOD, CAT, ledger=tmp_path / "l.sqlite", write=False, workers=0)
    files = write_report(load_period(tmp_path / "l.sqlite", PERIOD, CAT), CAT, "so-ket", tmp_path / "bc")
    before = files.appendix.read_bytes()
    result = invoke("khoi", files.appendix, "--period", "2024-09", "--out", files.appendix)
    assert result.exit_code == 2 and "tệp đầu vào" in result.text, result.output
    assert files.appendix.read_bytes() == before


def test_a_folder_given_as_the_ledger_is_named_in_vietnamese(tmp_path, inbox):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = invoke("consolidate", inbox, "--period", "2024-09", "--ledger", folder, "--out", tmp_path / "m.xlsx")
    assert result.exit_code == 2 and "là một thư mục" in result.text, result.output
    assert list(folder.iterdir()) == [] and not (tmp_path / "m.xlsx").exists()


def test_validate_refuses_another_applications_database_as_its_ledger(tmp_path, inbox):
    other = tmp_path / "contacts.sqlite"
    before = foreign_db(other, 1)
    result = invoke("validate", inbox, "--period", "2024-09", "--ledger", other)
    assert result.exit_code == 2 and "chương trình khác" in result.text, result.output
    assert other.read_bytes() == before
