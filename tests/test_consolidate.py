"""Consolidation: idempotent runs over an inbox, replacement of exactly one unit's rows, rejected files, the period's
tables (values, attainment, status grid), the command line and the benchmark script."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from python_calamine import CalamineWorkbook
from thidua.catalogue import default_catalogue
from thidua.cli import app
from thidua.consolidate import consolidate, inbox_files, load_period
from thidua.demo import make_inbox, run_demo
from thidua.layout import COLUMNS, FormLayout, a1, file_name
from thidua.ledger import Ledger
from thidua.master import SHEET_STATUS, SHEET_SUMMARY
from thidua.model import LATE, MISSING, ON_TIME, REJECTED, STATUS_VI, PeriodData
from thidua.period import Period
from thidua.samples import fill_form, sample_fill
from thidua.validate import validate_paths

ROOT = Path(__file__).resolve().parents[1]
PERIOD = Period(2024, 9)
CAT = default_catalogue()
LAYOUT = FormLayout.for_catalogue(CAT)
VALID = ("VP", "QLKCHT", "QLVT", "BQLDA", "TTDK")  # the demo units whose files have no error


def when(day: int, hour: int = 10) -> float:
    return dt.datetime(2024, 9, day, hour, 0).timestamp()


@pytest.fixture
def inbox(tmp_path):
    box = tmp_path / "inbox"
    make_inbox(CAT, PERIOD, tmp_path / "forms", box)
    for path in box.iterdir():
        os.utime(path, (when(20), when(20)))
    return box


class CountingValidator:
    """The real validator, remembering which files it was asked to read."""

    def __init__(self):
        self.paths: list[Path] = []

    def __call__(self, paths, catalogue, **kwargs):
        paths = list(paths)
        self.paths.extend(paths)
        return validate_paths(paths, catalogue, **kwargs)


def run(inbox: Path, **kwargs):
    tmp = inbox.parent
    kwargs.setdefault("ledger", tmp / "ledger.sqlite")
    if kwargs.get("write", True):
        kwargs.setdefault("out", tmp / "master.xlsx")
    kwargs.setdefault("workers", 0)
    return consolidate(inbox, PERIOD, CAT, **kwargs)


def dump(ledger: Path) -> dict:
    with Ledger(ledger) as led:
        return led.dump()


def sheet_values(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def unit_file(tmp: Path, unit: str, name: str, mtime: float, change=None) -> Path:
    """A correct file of ``unit`` for the period (optionally changed) written into the inbox."""
    filled = sample_fill(CAT, CAT.unit(unit), PERIOD)
    if change:
        change(filled)
    out = fill_form(tmp / "forms" / file_name(unit, str(PERIOD)), tmp / "inbox" / name, filled)
    os.utime(out, (mtime, mtime))
    return out


def cell(code: str, column: str) -> str:
    return a1(LAYOUT.rows[code], COLUMNS[column][0])


def test_inbox_files_skip_owner_hidden_and_other_files(tmp_path):
    for name in ("a.xlsx", "b.XLSM", "~$a.xlsx", ".hidden.xlsx", "._a.xlsx", ".~lock.a.xlsx#", "note.pdf",
                 ".master.xlsx.k3j9x0q1.tmp.xlsx", "master.xlsx"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    # a hidden-looking workbook may be a unit's file with an odd name: read, never dropped silently
    assert [p.name for p in inbox_files(tmp_path, (tmp_path / "master.xlsx",))] == [".hidden.xlsx", "a.xlsx", "b.XLSM"]
    if os.name == "posix":  # a link to the master is the master
        (tmp_path / "c.xlsx").symlink_to(tmp_path / "master.xlsx")
        (tmp_path / "d.xlsx").symlink_to(tmp_path / "a.xlsx")
        found = [p.name for p in inbox_files(tmp_path, (tmp_path / "master.xlsx",))]
        assert found == [".hidden.xlsx", "a.xlsx", "b.XLSM", "d.xlsx"]


def test_twice_over_the_same_inbox_changes_nothing(inbox):
    tmp = inbox.parent
    first = run(inbox)
    assert len(first.new) == 9 and not first.skipped
    assert {f["unit"] for f in first.summary.current} == set(VALID)
    ledger_before, master_before = dump(tmp / "ledger.sqlite"), sheet_values(tmp / "master.xlsx")
    counting = CountingValidator()
    second = run(inbox, validator=counting)
    assert counting.paths == []  # nothing is read again: every hash is known
    assert not second.new and len(second.skipped) == 9 and not second.summary.replacements
    assert dump(tmp / "ledger.sqlite") == ledger_before
    assert sheet_values(tmp / "master.xlsx") == master_before
    assert second.to_dict()["files"] == {"seen": 9, "new": 0, "skipped": 9, "current": 0, "rejected": 0, "older": 0,
                                         "rechecked": 0, "unreadable": 0}


def test_a_corrected_file_replaces_exactly_that_units_rows(inbox):
    tmp = inbox.parent
    run(inbox)
    before_rows = sheet_values(tmp / "master.xlsx")[SHEET_SUMMARY]
    before = load_period(tmp / "ledger.sqlite", PERIOD, CAT)
    counting = CountingValidator()
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    result = run(inbox, validator=counting)
    assert [p.name for p in counting.paths] == ["ThiDua_2024-09_VP (sửa).xlsx"]
    assert [(r["unit"], r["old_file"], r["new_file"]) for r in result.summary.replacements] == [
        ("VP", "ThiDua_2024-09_VP.xlsx", "ThiDua_2024-09_VP (sửa).xlsx")]
    after = result.data
    old, new = before.values, after.values
    assert old[old.unit != "VP"].equals(new[new.unit != "VP"])
    vp_old, vp_new = old[old.unit == "VP"].reset_index(drop=True), new[new.unit == "VP"].reset_index(drop=True)
    assert set(vp_new.file) == {"ThiDua_2024-09_VP (sửa).xlsx"}
    changed = vp_new[vp_old.value != vp_new.value]
    assert [(r.code, r.column, r.value) for r in changed.itertuples()] == [("7.5", "month", "Đã bổ sung minh chứng")]
    after_rows = sheet_values(tmp / "master.xlsx")[SHEET_SUMMARY]
    assert [r for r in before_rows if r[0] != "VP"] == [r for r in after_rows if r[0] != "VP"]
    assert any(r[0] == "VP" and r[3] == "7.5" and r[6] == "Đã bổ sung minh chứng" for r in after_rows)
    with Ledger(tmp / "ledger.sqlite") as led:
        assert len(led.replacements()) == 1


def test_a_faulty_newer_file_replaces_nothing_and_shows_as_rejected(inbox):
    tmp = inbox.parent
    run(inbox)
    before = load_period(tmp / "ledger.sqlite", PERIOD, CAT)
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (2).xlsx", when(22),
              lambda f: f.set(cell("1.2", "month"), "mười"))
    result = run(inbox)
    assert not result.summary.replacements and [f["unit"] for f in result.summary.rejected] == ["VP"]
    data = result.data
    assert data.values.equals(before.values)  # VP's figures still come from the earlier, valid file
    status = data.status[(data.status.unit == "VP") & (data.status.period == "2024-09")].iloc[0]
    # the month keeps the status its accepted file earned; the rejected correction is in the detail and the findings
    before_status = before.status[(before.status.unit == "VP") & (before.status.period == "2024-09")].iloc[0]
    assert status.status == before_status.status and status.file == "ThiDua_2024-09_VP.xlsx"
    assert "1 tệp bị trả lại" in status.reason
    assert any(f.file == "ThiDua_2024-09_VP (2).xlsx" and f.cell == cell("1.2", "month") for f in data.findings)
    grid = {r[0]: r for r in sheet_values(tmp / "master.xlsx")[SHEET_STATUS]}
    assert grid["VP"][2 + 8] == STATUS_VI[before_status.status]
    findings = sheet_values(tmp / "master.xlsx")["Kết quả kiểm tra"]
    assert any(r[0] == "ThiDua_2024-09_VP (2).xlsx" and r[1] == "VP" and r[3] == "Lỗi" for r in findings[1:])


def test_an_older_file_arriving_late_is_kept_but_not_used(inbox):
    tmp = inbox.parent
    run(inbox)
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (cũ).xlsx", when(2), lambda f: f.set(cell("7.5", "month"), "Bản cũ"))
    result = run(inbox)
    assert [f["file_name"] for f in result.summary.older] == ["ThiDua_2024-09_VP (cũ).xlsx"]
    assert not result.summary.replacements
    assert set(result.data.values[result.data.values.unit == "VP"].file) == {"ThiDua_2024-09_VP.xlsx"}


def test_status_grid_on_time_late_missing_and_rejected(inbox):
    tmp = inbox.parent
    late = when(27)
    os.utime(inbox / "ThiDua_2024-09_QLVT.xlsx", (late, late))
    result = run(inbox)
    s = result.data.status
    assert list(s.columns) == ["unit", "period", "status", "received_at", "file", "reason"]
    assert len(s) == len(CAT.units) * 9
    month = {r.unit: r for r in s[s.period == "2024-09"].itertuples()}
    assert month["VP"].status == ON_TIME and month["QLVT"].status == LATE
    assert "27/09/2024" in month["QLVT"].reason and "25/09/2024" in month["QLVT"].reason
    assert month["TTRA"].status == REJECTED and month["TTSH"].status == REJECTED
    assert set(s[s.period == "2024-08"].status) == {MISSING}
    assert result.counts() == {ON_TIME: 4, LATE: 1, MISSING: 0, REJECTED: 4}
    grid = sheet_values(tmp / "master.xlsx")[SHEET_STATUS]
    assert grid[0][2:14] == [f"Tháng {m}" for m in range(1, 13)]
    vp = next(r for r in grid if r[0] == "VP")
    assert vp[2:11] == ["Chưa nộp"] * 8 + ["Đúng hạn"] and vp[11:14] == ["", "", ""]  # future months blank


def test_period_tables_follow_the_model(inbox):
    run(inbox)
    data = load_period(inbox.parent / "ledger.sqlite", "2024-09", CAT)
    assert isinstance(data, PeriodData) and data.units == [u.code for u in CAT.units]
    assert set(data.values.unit) == set(VALID) == set(data.assessments.unit)
    row = data.values[(data.values.unit == "VP") & (data.values.code == "7.4")].iloc[0]
    assert row.column == "month" and isinstance(row.value, dt.date)
    assert data.values[(data.values.code == "1.1")].value.map(type).eq(int).all()
    att = data.attainment
    assert len(att) == len(CAT.units) * len(CAT.targets) and att.met.dtype == bool
    assert att[att.unit.isin(VALID)].met.all()
    missing = att[att.unit == "TTRA"].iloc[0]
    assert not missing.met and "trả lại" in missing.reason
    assert data.previous.empty
    codes = {f.code for f in data.findings}
    assert {"E-TYPE-TEXT-NUMBER", "E-ID-PERIOD-NAME"} <= codes and "E-ID-DUPLICATE" not in codes


def test_attainment_needs_the_figures_and_the_self_assessment(inbox):
    tmp = inbox.parent

    def not_met(f):
        f.set(cell("T3", "assessment"), "Không đạt")
        f.set(cell("T3", "note"), "Chưa xây dựng kế hoạch phong trào trọng tâm")

    unit_file(tmp, "VP", "ThiDua_2024-09_VP.xlsx", when(20), not_met)
    data = run(inbox).data
    vp3 = data.attainment[(data.attainment.unit == "VP") & (data.attainment.target == 3)].iloc[0]
    assert not vp3.met and "Không đạt" in vp3.reason and "Chưa xây dựng kế hoạch" in vp3.reason
    by_target = sheet_values(tmp / "master.xlsx")["Theo nội dung"]
    t3 = next(r for r in by_target if r[1] == "Nội dung" and r[0] == 3)
    assert t3[4:6] == [4, 9]
    assert any(r[1] == "Đơn vị chưa đạt" and r[2] == "VP" and "kế hoạch" in r[11] for r in by_target if r[0] == 3)


def august_vp(tmp: Path, ytd_2_1: int) -> Path:
    from thidua.form import write_forms

    aug = Period(2024, 8)
    write_forms(CAT, aug, tmp / "forms-08", ["VP"])
    filled = sample_fill(CAT, CAT.unit("VP"), aug)
    filled.set(cell("2.1", "ytd"), ytd_2_1)
    return fill_form(tmp / "forms-08" / file_name("VP", "2024-08"), tmp / "inbox" / file_name("VP", "2024-08"),
                     filled)


@pytest.mark.parametrize("workers", [0, 2])
def test_earlier_month_in_the_same_run_feeds_the_year_to_date_check(inbox, workers):
    august_vp(inbox.parent, 500)
    result = run(inbox, workers=workers)
    assert [f["file_name"] for f in result.summary.rejected if f["unit"] == "VP"] == ["ThiDua_2024-09_VP.xlsx"]
    codes = {f.code for f in result.data.findings if f.file == "ThiDua_2024-09_VP.xlsx"}
    assert "E-HIST-YTD-DECREASED" in codes
    assert [f["file_name"] for f in result.summary.current if f["unit"] == "VP"] == ["ThiDua_2024-08_VP.xlsx"]


@pytest.mark.parametrize("workers", [0, 2])
def test_earlier_month_in_the_ledger_feeds_the_year_to_date_check(tmp_path, workers):
    (tmp_path / "inbox").mkdir()
    august = august_vp(tmp_path, 500)
    run(tmp_path / "inbox", write=False)
    august.unlink()
    make_inbox(CAT, PERIOD, tmp_path / "forms", tmp_path / "inbox")
    result = run(tmp_path / "inbox", write=False, workers=workers)
    assert "ThiDua_2024-09_VP.xlsx" in [f["file_name"] for f in result.summary.rejected]
    assert "E-HIST-YTD-DECREASED" in {f.code for f in result.data.findings if f.file == "ThiDua_2024-09_VP.xlsx"}


def test_refused_target_writes_nothing_at_all(inbox):
    tmp = inbox.parent
    (tmp / "~$master.xlsx").write_bytes(b"owner")
    from thidua.errors import ThiDuaError

    with pytest.raises(ThiDuaError, match="đang được mở trong Excel"):
        run(inbox)
    assert not (tmp / "ledger.sqlite").exists() and not (tmp / "master.xlsx").exists()


def test_cli_json_and_exit_status(inbox):
    tmp = inbox.parent
    args = ["consolidate", str(inbox), "--period", "2024-09", "--workers", "0"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 1, result.output  # done, but units with rejected files remain
    data = json.loads(result.stdout)
    assert data["files"]["new"] == 9 and data["files"]["rejected"] == 4 and data["status"]["rejected"] == 4
    assert data["outputs"]["ledger"] == str(tmp / "thidua-ledger.sqlite")
    assert data["outputs"]["master"] == str(tmp / "tong-hop-2024-09.xlsx")
    assert Path(data["outputs"]["master"]).exists()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "0 tệp mới, 9 tệp đã có trong sổ theo dõi" in " ".join(again.output.split())
    both = CliRunner().invoke(app, [*args, "--out", str(tmp / "a.xlsx"), "--workbook", str(tmp / "b.xlsm")])
    assert both.exit_code == 2 and "Chỉ dùng một trong hai" in both.output and "Traceback" not in both.output
    missing = CliRunner().invoke(app, ["consolidate", str(tmp / "không-có"), "--period", "2024-09"])
    assert missing.exit_code == 2 and "Không tìm thấy thư mục" in missing.output


def test_demo_replays_the_year(tmp_path):
    said: list[str] = []
    demo = tmp_path / "demo"
    run_demo(demo, PERIOD, say=said.append)
    assert (demo / "thidua-ledger.sqlite").exists() and (demo / "tong-hop-2024-09.xlsx").exists()
    assert any("Bảng tổng hợp" in line for line in said)
    grid = {r[0]: r[2:11] for r in sheet_values(demo / "tong-hop-2024-09.xlsx")[SHEET_STATUS][1:]}
    assert grid["QLVT"][1] == grid["QLVT"][4] == grid["QLVT"][8] == "Trễ hạn"  # February, May, September
    assert grid["TTDK"][3] == "Chưa nộp"  # April
    assert grid["TTRA"][2] == "Đúng hạn"  # March: rejected, then corrected before the deadline
    assert grid["KHTC"][4] == "Đúng hạn"  # May: rejected against April's wrong figures, re-checked in June
    assert grid["BQLDA"][6] == "Đúng hạn"  # July: a second version after the deadline changes nothing
    assert grid["TTSH"][7] == "Đúng hạn"  # August: by the e-mail's date, not the day it was saved
    assert [row[8] for unit, row in grid.items() if unit in ("TTRA", "QLCL", "KHTC", "TTSH")] == ["Bị trả lại"] * 4
    with Ledger(demo / "thidua-ledger.sqlite") as led:
        rechecked = led.events()
        zipped = led.files(unit="QLKCHT", period="2024-09")
    assert [e["kind"] for e in rechecked] == ["recheck"] and "được dùng" in rechecked[0]["detail"]
    assert zipped[0]["container"] == "ThiDua_2024-09_QLKCHT.zip"


def test_benchmark_script_runs_small():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "consolidate.py"), "--files", "30", "--repeat",
                           "1"], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio=[\d.]+ ours_s=[\d.]+ baseline_s=[\d.]+ files=30", last), last


def test_the_process_pool_gives_the_same_tables_as_one_process(inbox):
    tmp = inbox.parent
    one = consolidate(inbox, PERIOD, CAT, ledger=tmp / "one.sqlite", write=False, workers=0).data
    pool = consolidate(inbox, PERIOD, CAT, ledger=tmp / "pool.sqlite", write=False, workers=2).data
    for name in ("values", "assessments", "attainment", "status"):
        assert getattr(one, name).equals(getattr(pool, name)), name
    assert one.findings == pool.findings
    # and the same cells recorded: the pool's come as the rows its processes made (thidua.reader.stored_rows)
    with Ledger(tmp / "one.sqlite") as a, Ledger(tmp / "pool.sqlite") as b:
        cells = "SELECT f.file_name, v.* FROM file_values v JOIN files f ON f.id = v.file_id ORDER BY 1, 5, 6"
        recorded = a.db.execute(cells).fetchall()
        assert len(recorded) > 500 and [r[:1] + r[2:] for r in recorded] == [
            r[:1] + r[2:] for r in b.db.execute(cells).fetchall()]


def test_a_master_still_as_written_is_left_alone_and_anything_changed_writes_it_again(inbox):
    import dataclasses

    import openpyxl
    from thidua.sink import backups

    tmp = inbox.parent
    master = tmp / "master.xlsx"

    def identity(path: Path) -> tuple[int, int]:  # a rewrite replaces the file: another inode
        st = path.stat()
        return st.st_ino, st.st_mtime_ns

    run(inbox)
    written, stamp = master.read_bytes(), identity(master)

    def rewritten(result) -> bool:
        return result.master == master and identity(master) != stamp

    again = run(inbox)  # nothing new, nothing else changed
    assert again.master == master and again.backup is None and not backups(master)
    assert master.read_bytes() == written and identity(master) == stamp
    assert again.data is not None and again.counts() == run(inbox, write=False).counts()

    # edited by hand: written again, the edited file kept as the backup
    wb = openpyxl.load_workbook(master)
    wb[SHEET_SUMMARY]["A2"] = "sửa tay"
    wb.save(master)
    stamp = identity(master)
    result = run(inbox)
    assert rewritten(result) and result.backup is not None and len(backups(master)) == 1
    assert sheet_values(master)[SHEET_SUMMARY][1][0] != "sửa tay"
    stamp = identity(master)
    assert run(inbox).backup is None and identity(master) == stamp

    # deleted: written again
    master.unlink()
    assert run(inbox).master == master and master.exists()
    stamp = identity(master)

    # another catalogue (a unit renamed): written again, with the new name
    units = tuple(dataclasses.replace(u, name="Văn phòng Sở (tên mới)") if u.code == "VP" else u for u in CAT.units)
    renamed = dataclasses.replace(CAT, units=units)
    result = consolidate(inbox, PERIOD, renamed, ledger=tmp / "ledger.sqlite", out=master, workers=0)
    assert rewritten(result)
    assert any(r[1] == "Văn phòng Sở (tên mới)" for r in sheet_values(master)[SHEET_SUMMARY])
    stamp = identity(master)
    result = consolidate(inbox, PERIOD, renamed, ledger=tmp / "ledger.sqlite", out=master, workers=0)
    assert not rewritten(result)

    # back to the first catalogue, then a new file: written again each time
    assert rewritten(run(inbox))
    stamp = identity(master)
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    result = run(inbox)
    assert rewritten(result) and len(result.new) == 1
    assert any(r[0] == "VP" and r[6] == "Đã bổ sung minh chứng" for r in sheet_values(master)[SHEET_SUMMARY])
