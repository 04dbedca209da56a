"""The helper process that makes a share of the master's blocks on a second core (thidua.blockwork): the master it helps
write is exactly the one written without it, whatever goes wrong with the helper, and the helper touches no file."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
import thidua.blockwork as blockwork
from test_consolidate import cell, run, unit_file, when
from test_rerun import assert_as_from_scratch, blocks, inbox  # noqa: F401 (inbox: the fixture)

pytestmark = pytest.mark.skipif(not blockwork.available(),
                                reason="the helper needs a system that forks (Linux) and two cores")


class Spy:
    """Every helper started, and what each delivered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.helpers: list[blockwork.Helper] = []
        self.pieces: list[int] = []
        real_start, real_piece = blockwork.Helper.start.__func__, blockwork.Helper.piece
        spy = self

        def start(cls, build, numbers):
            helper = real_start(cls, build, numbers)
            if helper is not None:
                spy.helpers.append(helper)
            return helper

        def piece(self, number):
            got = real_piece(self, number)
            if got is not None:
                spy.pieces.append(number)
            return got

        monkeypatch.setattr(blockwork.Helper, "start", classmethod(start))
        monkeypatch.setattr(blockwork.Helper, "piece", piece)


@pytest.fixture
def spy(monkeypatch):
    monkeypatch.setattr(blockwork, "MIN_BLOCKS", 2)  # the demo's few units make 5 blocks of 2 (test_rerun's fixture)
    return Spy(monkeypatch)


def members(path: Path) -> dict[str, bytes]:
    """The master's parts, but its creation time."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist() if name != "docProps/core.xml"}


def without_helper(box: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The same first run with no helper: the master's parts."""
    other = box.parent / "alone"
    other.mkdir()
    with monkeypatch.context() as m:
        m.setattr(blockwork, "ENABLED", False)
        run(box, ledger=other / "ledger.sqlite", out=other / "master.xlsx")
    return members(other / "master.xlsx")


def test_a_first_run_with_a_helper_writes_the_master_written_without_it(inbox, spy, monkeypatch):  # noqa: F811
    tmp = inbox.parent
    alone = without_helper(inbox, monkeypatch)
    run(inbox)
    assert len(spy.helpers) == 1 and spy.helpers[0].failure is None
    helper = spy.helpers[0]
    assert helper.numbers and spy.pieces == helper.numbers  # its blocks were made and rendered there
    assert helper.process is None and not multiprocessing.active_children()  # ended with the run
    assert members(tmp / "master.xlsx") == alone  # byte for byte
    assert_as_from_scratch(tmp)
    # the pieces it made are cached like any other: the master written again from the cache alone is the same
    assert len(blocks(tmp / "ledger.sqlite")) == 5
    (tmp / "master.xlsx").unlink()
    run(inbox)
    assert len(spy.helpers) == 1  # nothing to make: no helper
    assert members(tmp / "master.xlsx") == alone
    # a correction makes one block again: too few for a helper
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    run(inbox)
    assert len(spy.helpers) == 1
    assert_as_from_scratch(tmp)


def test_the_helper_opens_no_file_and_no_database(inbox, spy, monkeypatch):  # noqa: F811
    real = blockwork._serve

    def guarded(conn, build):
        def refuse(*args, **kwargs):
            raise AssertionError("the helper opened a file or a database")

        import builtins
        import io

        builtins.open = io.open = os.open = sqlite3.connect = refuse  # in the helper only: it is a forked process
        return real(conn, build)

    monkeypatch.setattr(blockwork, "_serve", guarded)
    run(inbox)
    assert len(spy.helpers) == 1 and spy.helpers[0].failure is None and spy.pieces == spy.helpers[0].numbers


def _failing_serve(how: str):
    real = blockwork._serve

    def serve(conn, build):
        if how == "build":
            def build():
                raise RuntimeError("a fault while making the blocks")
        elif how == "dies":
            real_send = conn.send

            def send(message):
                if message[0] == "piece":
                    os._exit(3)  # killed while it renders
                real_send(message)

            conn.send = send
        elif how == "wrong":
            real_send = conn.send

            def send(message):
                if message[0] == "piece":
                    message = ("piece", message[1] + 1, *message[2:])
                real_send(message)

            conn.send = send
        elif how == "slow":
            time.sleep(30)
        elif how == "garbled":
            real_send = conn.send

            def send(message):
                if message[0] == "piece":
                    conn.send_bytes(b"not a pickle")
                    return
                real_send(message)

            conn.send = send
        return real(conn, build)

    return serve


@pytest.mark.parametrize("how", ["build", "dies", "wrong", "slow", "garbled"])
def test_whatever_the_helper_does_not_deliver_is_made_here(inbox, spy, monkeypatch, how):  # noqa: F811
    tmp = inbox.parent
    alone = without_helper(inbox, monkeypatch)
    monkeypatch.setattr(blockwork, "_serve", _failing_serve(how))
    monkeypatch.setattr(blockwork, "WAIT", 2.0)
    started = time.perf_counter()
    run(inbox)
    assert len(spy.helpers) == 1 and spy.helpers[0].failure
    assert spy.pieces == []  # nothing it sent was taken
    assert members(tmp / "master.xlsx") == alone
    assert not multiprocessing.active_children()  # stopped, even the one still sleeping
    assert time.perf_counter() - started < 20
    assert_as_from_scratch(tmp)
    # the blocks made here instead are cached as usual
    (tmp / "master.xlsx").unlink()
    run(inbox)
    assert members(tmp / "master.xlsx") == alone


def test_no_helper_where_the_system_does_not_fork_or_another_thread_runs(monkeypatch):
    import threading

    assert blockwork.available()
    monkeypatch.setattr(blockwork.sys, "platform", "win32")
    assert not blockwork.available()
    assert blockwork.Helper.start(lambda: {}, [1]) is None
    monkeypatch.setattr(blockwork.sys, "platform", "linux")
    assert blockwork.available()
    done = threading.Event()
    other = threading.Thread(target=done.wait)  # a terminal's progress bar, say
    other.start()
    try:
        assert not blockwork.available()
    finally:
        done.set()
        other.join()
    assert blockwork.available()
    monkeypatch.setattr(blockwork, "ENABLED", False)
    assert not blockwork.available()


def test_a_master_that_cannot_be_written_stops_the_helper(inbox, spy, monkeypatch):  # noqa: F811
    import thidua.sink as sink
    from thidua.errors import ThiDuaError

    def broken(*args, **kwargs):
        raise ThiDuaError("không ghi được")

    monkeypatch.setattr(sink, "_patch_package", broken)
    with pytest.raises(ThiDuaError):
        run(inbox)
    assert len(spy.helpers) == 1 and spy.helpers[0].process is None
    assert not multiprocessing.active_children()


def test_a_helper_with_a_previous_month_and_carried_figures(tmp_path, spy, monkeypatch):
    """The helper's share made from every kind of cell: the period's own files, the previous month's (the "previous"
    tables) and the files year-to-date figures are carried from (units without a file this month)."""
    import thidua.derived as derived
    from test_consolidate import CAT, PERIOD, VALID
    from thidua.consolidate import consolidate
    from thidua.demo import make_inbox

    monkeypatch.setattr(derived, "BLOCK_UNITS", 1)  # a block per unit: enough blocks for a helper
    previous = PERIOD.previous()
    make_inbox(CAT, previous, tmp_path / "forms-8", tmp_path / "inbox-8")
    make_inbox(CAT, PERIOD, tmp_path / "forms-9", tmp_path / "inbox-9")
    gone = [u for u in VALID[-2:]]  # two units with an accepted August and no September: carried
    for unit in gone:
        (tmp_path / "inbox-9" / f"ThiDua_{PERIOD}_{unit}.xlsx").unlink()

    def both_months(folder: Path) -> dict[str, bytes]:
        folder.mkdir()
        for box, period in ((tmp_path / "inbox-8", previous), (tmp_path / "inbox-9", PERIOD)):
            consolidate(box, period, CAT, ledger=folder / "ledger.sqlite", out=folder / f"master-{period}.xlsx",
                        workers=0)
        return members(folder / f"master-{PERIOD}.xlsx")

    with monkeypatch.context() as m:
        m.setattr(blockwork, "ENABLED", False)
        alone = both_months(tmp_path / "alone")
    helped = both_months(tmp_path / "helped")
    assert len(spy.helpers) == 2 and all(h.failure is None for h in spy.helpers)
    assert spy.pieces  # September's blocks rendered by the helper too
    assert helped == alone
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(str(tmp_path / "helped" / f"master-{PERIOD}.xlsx")).get_sheet_by_name(
        "Tổng hợp").to_python()
    carried = {r[0] for r in rows[1:] if r[0] in gone and r[10] and "lũy kế lấy theo báo cáo tháng 08/2024" in r[10]}
    assert carried == set(gone)  # their year-to-date rows say where the figures come from


_STOPPED_RUN = """
import os, sys, time
import thidua.blockwork as blockwork, thidua.derived as derived
blockwork.MIN_BLOCKS = 2
derived.BLOCK_UNITS = 2
real, marker = blockwork._serve, sys.argv[1]
def serve(conn, build):
    with open(marker, "w") as fh:  # the helper is running
        fh.write(str(os.getpid()))
    time.sleep(60)
    real(conn, build)
blockwork._serve = serve
sys.argv = ["thidua", *sys.argv[2:]]
from thidua.cli import main
main()
"""


@pytest.mark.parametrize("signum, status, words", [(15, 143, "SIGTERM"), (2, 130, "Đã dừng theo yêu cầu.")])
def test_a_run_stopped_while_the_helper_works_leaves_no_process_and_keeps_the_ledger(inbox, tmp_path,  # noqa: F811
                                                                                     signum, status, words):
    import signal
    import subprocess
    import sys

    from test_surroundings import alive, reap

    marker = tmp_path / "helper.pid"
    tmp = inbox.parent
    proc = subprocess.Popen([sys.executable, "-c", _STOPPED_RUN, str(marker), "consolidate", str(inbox), "--period",
                             "2024-09", "--ledger", str(tmp / "ledger.sqlite"), "--out", str(tmp / "master.xlsx")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    helper = None
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), proc.communicate(timeout=60)
        time.sleep(0.05)
        helper = int(marker.read_text())
        if signum == signal.SIGINT:  # Ctrl-C: the whole foreground group, the helper too
            os.killpg(proc.pid, signum)
        else:  # `kill PID`: the main process only
            os.kill(proc.pid, signum)
        status_seen = proc.wait(timeout=60)
        end = time.monotonic() + 10
        while alive(helper) and time.monotonic() < end:
            time.sleep(0.05)
        left = alive(helper)
    finally:  # whatever happened, nothing of the run is left behind
        err = reap(proc, [helper] if helper is not None else [])
    assert not left, "the helper outlived the run"
    assert status_seen == status, err
    assert words in " ".join(err.split()) and "Traceback" not in err, err
    assert not (tmp / "master.xlsx").exists() and not [p for p in tmp.iterdir() if p.name.startswith(".master")]
    db = sqlite3.connect(tmp / "ledger.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM files").fetchone()[0] > 0  # recorded (and committed) before the master
    db.close()
