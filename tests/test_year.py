"""A whole year as the secretary lives it: twelve months, nine units, one inbox per month and one ledger for the year.

Each month's files are sent, validated (read only) and consolidated in turn; after every month the test asserts the
status grid of every month so far, the figures in the period's tables (year-to-date totals included), the ledger, and
that ``validate`` and ``consolidate`` gave every file the same verdict. The events of a real year are sprinkled in:
a unit that is late, a month not sent, a rejected file followed by its correction, a year-to-date decrease fixed by
correcting the earlier month (the later file is accepted on the next run, nothing deleted), a file that cannot be
read for a moment (accepted on the next run), identical and superseded copies, March's correction dropped into
April's inbox, an e-mail (.eml, dated by its Date header) and a zip.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from thidua.catalogue import default_catalogue
from thidua.consolidate import consolidate, load_period
from thidua.demo import YearDemo, email_file, touch, zip_file
from thidua.layout import COLUMNS, a1
from thidua.ledger import CURRENT, REJECTED, Ledger
from thidua.model import LATE, MISSING, NOT_DUE, ON_TIME
from thidua.model import REJECTED as GRID_REJECTED
from thidua.period import Period
from thidua.samples import sample_figures
from thidua.validate import validate_report

CAT = default_catalogue()
UNITS = [u.code for u in CAT.units]
YEAR = 2024


def deadline(month: Period) -> dt.date:
    return CAT.organisation(month.first_day).deadline(month.year, month.month)


def usual(month: Period) -> dt.date:
    return dt.date(month.year, month.month, 20)


def bump(codes: tuple[str, ...], by: int):
    def change(filled, layout):
        for code in codes:
            ref = a1(layout.rows[code], COLUMNS["ytd"][0])
            filled.set(ref, filled.values[ref] + by)
    return change


def text_in_number(filled, layout):
    filled.set(a1(layout.rows["2.1"], COLUMNS["month"][0]), "2 buổi")


def note(text: str):
    def change(filled, layout):
        filled.set(a1(layout.rows["7.5"], COLUMNS["note"][0]), text)
    return change


class Year:
    """The scenario, the expected grid, and the checks run after every month."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.demo = YearDemo(root, CAT)
        self.monkeypatch = monkeypatch
        # (unit, month) -> expected status; the current file's name; whose year-to-date figures are off by how much
        self.expected: dict[tuple[str, str], str] = {}
        self.current: dict[tuple[str, str], str] = {}
        self.ytd_offset: dict[tuple[str, str], int] = {}
        self.verdicts: list[tuple[str, bool, str]] = []  # (file, validate's verdict, consolidate's)

    # -- the months --------------------------------------------------------------------------------------------------

    def send_all(self, month: Period, skip: tuple[str, ...] = (), late: tuple[str, ...] = ()) -> None:
        for unit in UNITS:
            if unit in skip:
                continue
            day = deadline(month) + dt.timedelta(days=2) if unit in late else usual(month)
            self.demo.send(unit, month, day)
            self.expect(unit, month, LATE if unit in late else ON_TIME)

    def expect(self, unit: str, month: Period, status: str, file: str | None = None) -> None:
        self.expected[(unit, str(month))] = status
        if status in (ON_TIME, LATE):
            self.current[(unit, str(month))] = file or f"ThiDua_{month}_{unit}.xlsx"
        else:
            self.current.pop((unit, str(month)), None)

    def run(self, month: Period, *, break_read: str | None = None):
        """Validate the month's inbox (read only), consolidate it, and check everything."""
        inbox = self.demo.inbox(month)
        ledger = self.demo.ledger
        before = ledger.read_bytes() if ledger.exists() else None
        checked = validate_report([inbox], CAT, month, ledger=ledger if ledger.exists() else None)
        assert (ledger.read_bytes() if ledger.exists() else None) == before, "validate never writes the ledger"
        if break_read:  # the file is locked by another program between the listing and the read
            import pathlib

            real = pathlib.Path.read_bytes

            def locked(path, *args, **kwargs):
                if path.name == break_read:
                    raise PermissionError(13, "Permission denied (locked)", str(path))
                return real(path, *args, **kwargs)

            self.monkeypatch.setattr(pathlib.Path, "read_bytes", locked)
        try:
            done = consolidate(inbox, month, CAT, write=False)
        finally:
            self.monkeypatch.undo()
        assert done.ledger == ledger, "the year's ledger is found beside the month's inbox"
        self.compare_verdicts(checked, done, break_read)
        self.check(month)
        return done

    def compare_verdicts(self, checked, done, broken: str | None) -> None:
        with Ledger(self.demo.ledger) as led:
            rows = {r["file_name"]: r for r in led.files()}
            for r in checked.results:
                name = r.path.name.split(" › ")[-1]
                if name == broken:
                    assert name in {k.name for k in done.unreadable}, "a locked file is not read this time"
                    assert name not in rows, "a locked file is never recorded as rejected"
                    continue
                if any(f.code == "I-ID-IDENTICAL" for f in r.findings):
                    continue  # the same bytes as another file: recorded once
                row = rows[name]
                self.verdicts.append((name, r.valid, row["status"]))
                assert r.valid == (row["status"] != REJECTED), (name, [f.code for f in r.findings], row["reason"])

    def check(self, month: Period) -> None:
        data = load_period(self.demo.ledger, month, CAT)
        grid = {(r.unit, r.period): r for r in data.status.itertuples()}
        for m in month.months_of_year():
            for unit in UNITS:
                want = self.expected.get((unit, str(m)), MISSING if CAT.is_due(str(m)) else NOT_DUE)
                got = grid[(unit, str(m))]
                assert got.status == want, (unit, str(m), got.status, got.reason)
                if want in (ON_TIME, LATE):
                    assert got.file == self.current[(unit, str(m))], (unit, str(m))
        # the figures: every unit with an accepted file reports its own; the others' year-to-date figures are carried
        # from their latest accepted month and said so
        values = data.values
        for unit in UNITS:
            rows = values[(values.unit == unit) & (values.code == "4.7")]
            own = (unit, str(month)) in self.current
            if own:
                month_row = rows[rows.column == "month"].iloc[0]
                assert month_row.value == sample_figures(CAT, CAT.unit(unit), month)[("4.7", "month")]
                assert month_row.carried is None
            earlier = [m for m in month.months_of_year() if (unit, str(m)) in self.current]
            if not earlier:
                assert rows.empty
                continue
            source = earlier[-1]
            ytd = rows[rows.column == "ytd"].iloc[0]
            want = sample_figures(CAT, CAT.unit(unit), source)[("4.7", "ytd")] + self.ytd_offset.get(
                (unit, str(source)), 0)
            assert ytd.value == want, (unit, str(month), ytd.value, want)
            assert ytd.carried == (None if own else str(source))
            assert (unit in data.carried) == (not own)
        # the ledger: sound, one current file per accepted month, nothing lost
        db = sqlite3.connect(self.demo.ledger)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            current = {(u, p): n for u, p, n in db.execute(
                "SELECT c.unit, c.period, f.file_name FROM current c JOIN files f ON f.id = c.file_id")}
            assert {k: v for k, v in current.items() if k[1] <= str(month)} == \
                {k: v for k, v in self.current.items() if k[1] <= str(month)}
            statuses = {s for (s,) in db.execute("SELECT status FROM files")}
            assert statuses <= {CURRENT, "superseded", "older", REJECTED}
        finally:
            db.close()


def test_a_year_replayed_month_by_month(tmp_path, monkeypatch):
    year = Year(tmp_path / "ThiDua-2024", monkeypatch)
    demo = year.demo
    months = [Period(YEAR, m) for m in range(1, 13)]
    jan, feb, mar, apr, may, jun, jul, aug, sep, oct_, nov, dec = months

    year.send_all(jan)
    year.run(jan)

    year.send_all(feb, late=("QLVT",))  # late unit
    year.run(feb)

    # March: TTRA's first file is rejected, its correction (before the deadline) is accepted: on time
    year.send_all(mar, skip=("TTRA",))
    demo.send("TTRA", mar, usual(mar) - dt.timedelta(days=2), change=text_in_number)
    year.expect("TTRA", mar, GRID_REJECTED)
    done = year.run(mar)
    assert [f["unit"] for f in done.summary.rejected] == ["TTRA"]
    demo.send("TTRA", mar, deadline(mar) - dt.timedelta(days=1), name="ThiDua_2024-03_TTRA (sửa).xlsx")
    year.expect("TTRA", mar, ON_TIME, "ThiDua_2024-03_TTRA (sửa).xlsx")
    year.run(mar)

    # April: TTDK sends nothing (its year-to-date figures are carried from March); QLCL's correction of March lands
    # in April's inbox and replaces March's file without changing March's status; KHTC's year-to-date is off by 100
    year.send_all(apr, skip=("TTDK", "KHTC"))
    demo.send("KHTC", apr, usual(apr), change=bump(("4.7", "4.8"), 100))
    year.expect("KHTC", apr, ON_TIME)
    year.ytd_offset[("KHTC", str(apr))] = 100
    demo.send("QLCL", mar, dt.date(YEAR, 4, 22), into=apr, change=note("Bổ sung mô hình"))
    done = year.run(apr)
    assert any(r["unit"] == "QLCL" and r["period"] == "2024-03" for r in done.summary.replacements)
    assert year.expected[("QLCL", "2024-03")] == ON_TIME  # and check() asserted the grid still says so

    # May: KHTC's true figures are lower than April's wrong ones: rejected against April
    year.send_all(may, skip=("KHTC",))
    demo.send("KHTC", may, usual(may))
    year.expect("KHTC", may, GRID_REJECTED)
    done = year.run(may)
    rejected = done.summary.rejected
    assert len(rejected) == 1 and "E-HIST" not in rejected[0]["reason"] and "Lũy kế" in rejected[0]["reason"]

    # June: KHTC corrects April (in June's inbox): April's file is replaced and May's rejected file, in May's inbox,
    # is checked again in the same run and accepted. VP sends the same file twice. BQLDA's file is locked by the
    # antivirus for a moment: not recorded, read on the next run.
    year.send_all(jun)
    demo.send("KHTC", apr, dt.date(YEAR, 6, 10), into=jun)
    year.ytd_offset.pop(("KHTC", str(apr)))
    year.expect("KHTC", may, ON_TIME)
    first = demo.inbox(jun) / "ThiDua_2024-06_VP.xlsx"
    copy = demo.inbox(jun) / "ThiDua_2024-06_VP (1).xlsx"
    copy.write_bytes(first.read_bytes())
    touch(copy, usual(jun))
    year.expect("BQLDA", jun, MISSING)
    done = year.run(jun, break_read="ThiDua_2024-06_BQLDA.xlsx")
    assert [(f["unit"], f["period"], f["status"]) for f in done.summary.rechecked] == [("KHTC", "2024-05", CURRENT)]
    assert "ThiDua_2024-06_VP (1).xlsx" in done.skipped  # identical bytes: noted, not recorded twice
    year.expect("BQLDA", jun, ON_TIME)
    done = year.run(jun)
    assert [f["file_name"] for f in done.summary.new] == ["ThiDua_2024-06_BQLDA.xlsx"]

    # July: BQLDA sends a second, valid version after the deadline: it is used, the month stays on time
    year.send_all(jul)
    demo.send("BQLDA", jul, deadline(jul) + dt.timedelta(days=2), name="ThiDua_2024-07_BQLDA (bổ sung).xlsx",
              change=note("Bổ sung minh chứng"))
    year.expect("BQLDA", jul, ON_TIME, "ThiDua_2024-07_BQLDA (bổ sung).xlsx")
    year.run(jul)

    # August: TTSH's file arrives as an e-mail sent before the deadline, saved into the inbox after it: on time
    year.send_all(aug, skip=("TTSH",))
    path = demo.send("TTSH", aug, deadline(aug) + dt.timedelta(days=3))
    sent = dt.datetime.combine(deadline(aug) - dt.timedelta(days=2), dt.time(9, 15)).astimezone()
    touch(email_file(path, "Trung tâm Sát hạch", sent), deadline(aug) + dt.timedelta(days=3))
    year.expect("TTSH", aug, ON_TIME)
    done = year.run(aug)
    with Ledger(demo.ledger) as led:
        row = led.files(unit="TTSH", period="2024-08")[0]
    assert row["received_on"] == sent.date().isoformat() and row["received_how"] == "email"
    assert row["container"].endswith(".eml") and " › " in row["path"]

    # September: QLKCHT's file comes in a zip
    year.send_all(sep, skip=("QLKCHT",))
    packed = zip_file(demo.send("QLKCHT", sep, usual(sep)))
    touch(packed, usual(sep))
    year.expect("QLKCHT", sep, ON_TIME)
    year.run(sep)

    # October: the secretary learns from the register of incoming mail that TTDK's file, saved late, was received
    # on time, and records the day without touching SQL
    year.send_all(oct_, late=("TTDK",))
    year.run(oct_)
    from click.testing import CliRunner
    from thidua.cli import app

    result = CliRunner().invoke(app, ["received", str(demo.inbox(oct_) / "ThiDua_2024-10_TTDK.xlsx"),
                                      f"{deadline(oct_) - dt.timedelta(days=1):%d/%m/%Y}", "--note", "sổ công văn đến"])
    assert result.exit_code == 0, result.output
    year.expect("TTDK", oct_, ON_TIME)
    year.check(oct_)

    year.send_all(nov, late=("QLVT",))
    year.run(nov)
    year.send_all(dec)
    done = year.run(dec)

    # The year's totals: 108 months due, every verdict the same in validate and consolidate
    data = load_period(demo.ledger, dec, CAT)
    counts = data.status["status"].value_counts().to_dict()
    assert counts == {ON_TIME: 105, LATE: 2, MISSING: 1}  # late: QLVT in February and November
    assert len(year.verdicts) >= 110 and all(v == (s != REJECTED) for _n, v, s in year.verdicts)


def test_months_before_the_movement_are_not_due(tmp_path, monkeypatch):
    import dataclasses

    cat = dataclasses.replace(CAT, first_month="2024-08")
    demo = YearDemo(tmp_path / "ThiDua-2024", cat)
    sep = Period(YEAR, 9)
    for unit in UNITS:
        demo.send(unit, sep, usual(sep))
    done = consolidate(demo.inbox(sep), sep, cat, write=False)
    status = done.data.status
    assert set(status[status.period < "2024-08"].status) == {NOT_DUE}
    assert set(status[status.period == "2024-08"].status) == {MISSING}
    assert done.counts()[ON_TIME] == 9
    # the report's discipline counts only what was due: 9 on time of 18
    due = status[status.status != NOT_DUE]
    assert len(due) == 18


def test_a_catalogue_change_rechecks_rejected_files(tmp_path):
    """A file rejected for a unit missing from the registry is accepted once the registry has it (no --recheck)."""
    import dataclasses

    without = dataclasses.replace(CAT, units=tuple(u for u in CAT.units if u.code != "TTSH"))
    demo = YearDemo(tmp_path / "y", CAT)
    sep = Period(YEAR, 9)
    demo.send("TTSH", sep, usual(sep))
    first = consolidate(demo.inbox(sep), sep, without, write=False)
    assert [f["unit"] for f in first.summary.rejected] == ["TTSH"]
    again = consolidate(demo.inbox(sep), sep, without, write=False)
    assert not again.summary.rechecked  # nothing changed: not read again
    fixed = consolidate(demo.inbox(sep), sep, CAT, write=False)
    assert [(f["unit"], f["status"]) for f in fixed.summary.rechecked] == [("TTSH", CURRENT)]
    with Ledger(demo.ledger) as led:
        events = led.events()
    assert len(events) == 1 and "bị trả lại" in events[0]["detail"] and "được dùng" in events[0]["detail"]


def test_recheck_on_demand_and_return_packages(tmp_path):
    demo = YearDemo(tmp_path / "y", CAT)
    sep = Period(YEAR, 9)
    demo.send("TTRA", sep, usual(sep), change=text_in_number)
    returns = tmp_path / "tra-lai"
    first = consolidate(demo.inbox(sep), sep, CAT, write=False, return_dir=returns)
    assert list(first.return_packages) == ["ThiDua_2024-09_TTRA.xlsx"]
    package = first.return_packages["ThiDua_2024-09_TTRA.xlsx"]
    assert package.parent == returns and package.is_file()
    again = consolidate(demo.inbox(sep), sep, CAT, write=False, recheck=True, return_dir=returns)
    assert [(f["unit"], f["status"], f["why"]) for f in again.summary.rechecked] == [("TTRA", REJECTED, "theo yêu cầu")]
    assert sorted(p.name for p in returns.iterdir()) == ["ThiDua_2024-09_TTRA.xlsx"]  # replaced, not "(2)"


def test_received_for_a_whole_run_and_report_finds_the_years_ledger(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from thidua.cli import app

    demo = YearDemo(tmp_path / "ThiDua-2024", CAT)
    sep = Period(YEAR, 9)
    for unit in UNITS:
        demo.send(unit, sep, deadline(sep) + dt.timedelta(days=3))  # saved late by the secretary
    runner = CliRunner()
    result = runner.invoke(app, ["consolidate", str(demo.inbox(sep)), "--period", "2024-09", "--received",
                                 f"{deadline(sep):%d/%m/%Y}", "--json"])
    assert result.exit_code == 0, result.output
    data = load_period(demo.ledger, sep, CAT)
    assert set(data.status[data.status.period == "2024-09"].status) == {ON_TIME}
    # report and validate run from the year's folder find the same ledger without options
    monkeypatch.chdir(demo.root)
    result = runner.invoke(app, ["report", "--period", "2024-09", "--out", "bao-cao", "--json"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(demo.inbox(sep)), "--json"])
    assert result.exit_code == 0, result.output
    assert '"ledger": "' + str(demo.ledger) in result.output


def test_the_readmes_monthly_commands_run_in_the_years_folder(tmp_path, monkeypatch):
    """The commands of the README's "Hằng tháng" block, pasted as they are into the year's folder."""
    import re
    import shlex

    from click.testing import CliRunner
    from thidua.cli import app

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"### Hằng tháng.*?```sh\n(.+?)\n```", readme, re.S).group(1)
    commands = [shlex.split(line.split("#")[0]) for line in block.splitlines() if line.strip()]
    assert [c[:2] for c in commands] == [["thidua", "form"], ["thidua", "validate"], ["thidua", "consolidate"],
                                         ["thidua", "report"]]
    demo = YearDemo(tmp_path / "ThiDua-2024", CAT)
    aug, sep = Period(YEAR, 8), Period(YEAR, 9)
    for unit in UNITS:
        demo.send(unit, aug, usual(aug))
    assert consolidate(demo.inbox(aug), aug, CAT, write=False).ledger == demo.ledger
    for unit in UNITS:
        demo.send(unit, sep, usual(sep))
    monkeypatch.chdir(demo.root)
    runner = CliRunner()
    for command in commands:
        args = [a for a in command[1:] if a != "--pdf"]  # the PDF needs LibreOffice: tests/test_report.py covers it
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (command, result.output)
    assert (demo.root / "tong-hop-2024-09.xlsx").is_file()
    assert len(list((demo.root / "bieu-mau" / "2024-09").glob("*.xlsx"))) == len(UNITS)
    assert any((demo.root / "bao-cao").glob("*.docx"))
