"""The ledger: versioned schema, one transaction per run, the current-file policy, and the history it serves."""

from __future__ import annotations

import datetime as dt
import pickle
import sqlite3
from pathlib import Path

import pytest
from thidua.errors import ThiDuaError
from thidua.findings import ERROR, WARNING, FileResult, Finding
from thidua.ledger import (
    CURRENT,
    MIGRATIONS,
    OLDER,
    REJECTED,
    SCHEMA_VERSION,
    SUPERSEDED,
    TABLES,
    Ledger,
    LedgerHistory,
    Received,
    decode_value,
    encode_value,
)
from thidua.reader import Cell, IndicatorEntry, Submission, TargetEntry

T0 = dt.datetime(2024, 9, 20, 16, 0).timestamp()


def submission(name: str, unit: str, period: str, ytd: int = 5, mtime: float = T0) -> Submission:
    sub = Submission(path=Path(name), file_name=name, size=100, sha256="", mtime=mtime, sheet="Báo cáo",
                     stamp={"template_id": "TD2024-DV-1", "catalogue_id": "c", "catalogue_version": "2024.1",
                            "period": period, "unit_code": unit}, stamp_ok=True, name_unit=unit, name_period=period)
    sub.indicators["2.1"] = IndicatorEntry("2.1", 18, "Số buổi", month=Cell("D19", 1, "1"),
                                           ytd=Cell("E19", ytd, str(ytd)),
                                           note=Cell("G19", "=HYPERLINK(\"x\")", "=HYPERLINK(\"x\")"))
    sub.indicators["7.4"] = IndicatorEntry("7.4", 58, "Ngày", month=Cell("D59", dt.date(2024, 6, 28), "28/06/2024"),
                                           note=Cell("G59"))
    sub.targets[1] = TargetEntry(1, 12, Cell("F13", "Đạt", "Đạt"), Cell("G13"))
    return sub


def received(name: str, unit: str = "VP", period: str = "2024-09", *, errors: int = 0, mtime: float = T0,
             ytd: int = 5) -> Received:
    findings = [Finding("E-X", ERROR, f"Lỗi số {i}", file=name, cell="D19", value=i) for i in range(errors)]
    findings.append(Finding("W-X", WARNING, "Cảnh báo", file=name, value=dt.date(2024, 9, 1)))
    sub = submission(name, unit, period, ytd=ytd, mtime=mtime)
    return Received(FileResult(Path(name), unit, period, findings, sub), sha256=f"sha-{name}", size=100, mtime=mtime)


def record(led: Ledger, *items: Received, period: str = "2024-09"):
    with led.transaction():
        return led.record(list(items), inbox="/hộp thư", period=period, received_at="2024-09-30T08:00:00")


@pytest.fixture
def led(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        yield ledger


def test_schema_is_versioned_and_durable(tmp_path):
    path = tmp_path / "sub" / "l.sqlite"
    with Ledger(path) as led:
        assert led.version == SCHEMA_VERSION == len(MIGRATIONS)
        tables = {r[0] for r in led.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert set(TABLES) <= tables
        assert led.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert led.db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with Ledger(path) as again:  # reopening migrates nothing
        assert again.version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(ThiDuaError, match="mới hơn"):
        Ledger(path)


def test_a_file_that_is_not_a_ledger_is_refused_in_vietnamese(tmp_path):
    bad = tmp_path / "l.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ThiDuaError, match="Không mở được sổ theo dõi"):
        Ledger(bad)


def test_values_keep_their_type():
    for value in (None, 0, -7, 3.5, True, "Có", "=1+1", dt.date(2024, 2, 29), dt.datetime(2024, 1, 2, 3, 4, 5)):
        text, kind = encode_value(value)
        assert decode_value(text, kind) == value and type(decode_value(text, kind)) is type(value)


def test_record_needs_a_transaction_and_rolls_back_whole(led):
    with pytest.raises(RuntimeError):
        led.record([received("a.xlsx")])
    before = led.dump()
    with pytest.raises(ZeroDivisionError), led.transaction():
        led.record([received("a.xlsx")])
        1 / 0  # noqa: B018
    assert led.dump() == before


def test_first_valid_file_is_current_with_its_values_and_findings(led):
    summary = record(led, received("a.xlsx"))
    assert [f["file_name"] for f in summary.current] == ["a.xlsx"] and not summary.replacements
    cur = led.current_file("VP", "2024-09")
    assert cur["file_name"] == "a.xlsx" and cur["status"] == CURRENT and cur["stamp_template_id"] == "TD2024-DV-1"
    rows = led.db.execute('SELECT code, "column", value, type, raw, cell FROM file_values ORDER BY code, "column"')
    assert rows.fetchall() == [
        ("2.1", "month", "1", "int", "1", "D19"),
        ("2.1", "note", '=HYPERLINK("x")', "str", '=HYPERLINK("x")', "G19"),
        ("2.1", "ytd", "5", "int", "5", "E19"),
        ("7.4", "month", "2024-06-28", "date", "28/06/2024", "D59"),  # the empty note of 7.4 is not stored
        ("T1", "assessment", "Đạt", "str", "Đạt", "F13"),
        ("T1", "explanation", None, None, "", "G13"),
    ]
    findings = led.db.execute("SELECT code, severity, value, value_type FROM findings").fetchall()
    assert findings == [("W-X", WARNING, "2024-09-01", "date")]


def test_newer_valid_file_replaces_and_the_replacement_is_logged(led):
    record(led, received("a.xlsx"))
    summary = record(led, received("b.xlsx", mtime=T0 + 60))
    assert [r["new_file"] for r in summary.replacements] == ["b.xlsx"]
    assert led.current_file("VP", "2024-09")["file_name"] == "b.xlsx"
    a = led.files(file_name="a.xlsx")[0]
    assert a["status"] == SUPERSEDED and "b.xlsx" in a["reason"]
    log = led.replacements()
    assert len(log) == 1 and log[0]["old_file_id"] == a["id"] and log[0]["unit"] == "VP"


def test_older_file_never_replaces_a_newer_one(led):
    record(led, received("new.xlsx", mtime=T0 + 3600))
    summary = record(led, received("old.xlsx", mtime=T0))
    assert not summary.replacements and led.current_file("VP", "2024-09")["file_name"] == "new.xlsx"
    old = led.files(file_name="old.xlsx")[0]
    assert old["status"] == OLDER and "cũ hơn" in old["reason"]


def test_same_mtime_the_later_received_wins(led):
    record(led, received("a.xlsx"))
    record(led, received("b.xlsx"))
    assert led.current_file("VP", "2024-09")["file_name"] == "b.xlsx"


def test_file_with_errors_never_replaces_a_valid_one(led):
    record(led, received("good.xlsx"))
    summary = record(led, received("bad.xlsx", errors=2, mtime=T0 + 600))
    assert not summary.replacements and led.current_file("VP", "2024-09")["file_name"] == "good.xlsx"
    bad = led.files(file_name="bad.xlsx")[0]
    assert bad["status"] == REJECTED and not bad["valid"] and bad["errors"] == 2
    assert "Có 2 lỗi" in bad["reason"] and "Lỗi số 0" in bad["reason"]
    assert led.db.execute("SELECT COUNT(*) FROM findings WHERE file_id = ?", (bad["id"],)).fetchone()[0] == 3


def test_a_rejected_file_counts_for_the_period_its_name_says(led):
    item = received("ThiDua_2024-09_TTSH.xlsx", unit="TTSH", period="2024-08", errors=1)
    item.result.submission.name_period = "2024-09"
    record(led, item)
    row = led.files(file_name="ThiDua_2024-09_TTSH.xlsx")[0]
    assert (row["unit"], row["period"], row["stamp_period"]) == ("TTSH", "2024-09", "2024-08")


def test_known_bytes_are_not_recorded_again(led):
    record(led, received("a.xlsx"))
    dump = led.dump()
    summary = record(led, received("a.xlsx"), received("a.xlsx"))
    assert not summary.new and led.dump() == dump  # not even a new batch row


def test_earlier_ytd_comes_from_current_files_of_the_same_year(led):
    record(led, received("dec.xlsx", period="2023-12", ytd=99))
    record(led, received("jul.xlsx", period="2024-07", ytd=3))
    record(led, received("aug-bad.xlsx", period="2024-08", ytd=50, errors=1))
    record(led, received("aug.xlsx", period="2024-08", ytd=4))
    assert led.earlier_ytd("VP", "2024-09", "2.1") == ("2024-08", 4)
    assert led.earlier_ytd("VP", "2024-08", "2.1") == ("2024-07", 3)
    assert led.earlier_ytd("VP", "2024-07", "2.1") is None  # December 2023 is another year
    assert led.earlier_ytd("VP", "2024-09", "9.9") is None and led.earlier_ytd("KHTC", "2024-09", "2.1") is None
    history = led.history()
    assert history.earlier_ytd("VP", "2024-09", "2.1") == ("2024-08", 4)  # loads VP's figures on first use
    history.add("VP", "2024-09", "2.1", 8)
    assert history.earlier_ytd("VP", "2024-10", "2.1") == ("2024-09", 8)


def test_history_sent_to_a_worker_carries_its_figures_and_never_opens_the_ledger(led):
    record(led, received("aug.xlsx", period="2024-08", ytd=4))
    record(led, received("aug-k.xlsx", unit="KHTC", period="2024-08", ytd=6))
    history = led.history()
    history.preload(led.db, ["VP"], ["2024"])
    copy = pickle.loads(pickle.dumps(history))
    assert copy.earlier_ytd("VP", "2024-09", "2.1") == ("2024-08", 4)
    assert copy.earlier_ytd("KHTC", "2024-09", "2.1") is None  # not preloaded: the copy does not read the ledger
    assert copy._db is None
    assert history.earlier_ytd("KHTC", "2024-09", "2.1") == ("2024-08", 6)  # the original still does


def test_history_of_a_ledger_not_yet_created(tmp_path):
    assert LedgerHistory(str(tmp_path / "none.sqlite")).earlier_ytd("VP", "2024-09", "2.1") is None


def test_the_period_tables_carry_each_cell_with_its_type_raw_text_and_file(led):
    from thidua.catalogue import default_catalogue
    from thidua.consolidate import load_period

    cat = default_catalogue()
    record(led, received("aug.xlsx", period="2024-08", mtime=T0 - 30 * 86400, ytd=3), period="2024-08")
    record(led, received("a.xlsx"), received("b.xlsx", unit="QLVT", mtime=T0 + 5, ytd=7))
    data = load_period(led, "2024-09", cat)

    def cells(unit: str, file: str, ytd: int) -> list[tuple]:
        return [(unit, "2.1", "month", 1, "1", "D19", file, None),
                (unit, "2.1", "ytd", ytd, str(ytd), "E19", file, None),
                (unit, "2.1", "note", '=HYPERLINK("x")', '=HYPERLINK("x")', "G19", file, None),
                (unit, "7.4", "month", dt.date(2024, 6, 28), "28/06/2024", "D59", file, None)]

    order = [u.code for u in cat.units]
    first, second = sorted([("VP", "a.xlsx", 5), ("QLVT", "b.xlsx", 7)], key=lambda x: order.index(x[0]))
    rows = list(data.values.itertuples(index=False, name=None))
    assert rows == cells(*first) + cells(*second)
    assert [type(r[3]) for r in rows] == [int, int, str, dt.date] * 2
    assert list(data.values.dtypes) == [object] * 8  # VALUE_COLUMNS and the ledger's own "carried"
    assert list(data.assessments.itertuples(index=False, name=None)) == [
        (first[0], 1, "Đạt", None, "F13", first[1]), (second[0], 1, "Đạt", None, "F13", second[1])]
    assert data.units == order
    previous = data.previous  # August: VP's file only
    assert len(previous) == len(order) * len(cat.targets)
    assert set(previous[previous.unit != "VP"].reason) == {"Chưa nộp báo cáo."}


def ledger_of_schema_1(path: Path) -> Path:
    """A ledger as the first schema made it (no application id), with one batch."""
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO batches (received_at, inbox, period, tool_version) VALUES ('2024-09-30', '/in', "
               "'2024-09', '0.1.0')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    return path


def test_a_ledger_of_schema_1_is_upgraded_in_place(tmp_path):
    path = ledger_of_schema_1(tmp_path / "v1.sqlite")
    with Ledger(path) as led:
        assert led.version == SCHEMA_VERSION == 4
        assert led.db.execute("SELECT COUNT(*) FROM batches").fetchone() == (1,)
        state = led.state()
        assert led.master_note("/out/m.xlsx") is None
        led.note_master("/out/m.xlsx", "s1", "abc")
        assert led.master_note("/out/m.xlsx") == ("s1", "abc")
        assert led.state() == state  # the note is not part of the record
        record(led, received("a.xlsx"))
        assert led.state() != state


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250])
def test_cells_inserted_many_to_a_statement_are_those_inserted_one_by_one(count):
    """insert_values gives SQLite a hundred rows a statement and the rest one by one: the same rows either way."""
    import sqlite3

    from thidua.ledger import VALUES_INSERT, insert_values

    rows = [(1 + n // 60, f"{n % 60}.1", ("month", "ytd", "note")[n % 3], None if n % 7 == 0 else str(n),
             None if n % 7 == 0 else "int", f"{n}", f"D{n + 14}", "VP", "2024-09") for n in range(count)]
    got = []
    for insert in (insert_values, lambda db, r: db.executemany(VALUES_INSERT, r)):
        db = sqlite3.connect(":memory:")
        db.executescript(MIGRATIONS[0])
        insert(db, rows)
        got.append(db.execute('SELECT file_id, code, "column", value, type, raw, cell, unit, period FROM file_values '
                              'ORDER BY file_id, code, "column"').fetchall())
    assert got[0] == got[1] and len(got[0]) == count
