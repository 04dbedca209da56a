"""Re-runs (issue #16): the master written from the ledger's cache of derived data (thidua.derived) holds exactly what a
from-scratch write holds, after any sequence of runs; a cache row whose key does not match is never used; the inbox's
hashes are not read again for files whose stat is the recorded one."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import openpyxl
import pytest
import thidua.derived as derived
from lo import needs_soffice
from python_calamine import CalamineWorkbook
from test_consolidate import CAT, PERIOD, VALID, cell, run, unit_file, when
from thidua.consolidate import LazyPeriodData, load_period
from thidua.demo import make_inbox
from thidua.master import write_master
from thidua.office import soffice
from thidua.sink import OpenpyxlSink


@pytest.fixture
def inbox(tmp_path, monkeypatch):
    monkeypatch.setattr(derived, "BLOCK_UNITS", 2)  # several blocks even with the demo's few units
    box = tmp_path / "inbox"
    make_inbox(CAT, PERIOD, tmp_path / "forms", box)
    for path in box.iterdir():
        os.utime(path, (when(20), when(20)))
    return box


def from_scratch(ledger: Path, out: Path, catalogue=CAT) -> Path:
    """The master as the plain path writes it: every table made from the whole period, no cache."""
    out.unlink(missing_ok=True)
    sink = OpenpyxlSink(out)
    write_master(load_period(ledger, PERIOD, catalogue), catalogue, sink)
    sink.save()
    return out


def _style(c) -> tuple:
    return (c.number_format, c.font.b, c.fill.fill_type, c.fill.fgColor.rgb, c.alignment.wrap_text,
            c.alignment.vertical, c.alignment.horizontal, c.border.left.style, c.border.left.color.rgb
            if c.border.left.color is not None else None)


def workbook_facts(path: Path) -> dict:
    """Everything a person sees of the master, sheet by sheet: python-calamine's values, and openpyxl's values, types,
    styles, widths, heights, panes, filters, print setup and charts."""
    facts: dict = {}
    cal = CalamineWorkbook.from_path(str(path))
    facts["calamine"] = {name: cal.get_sheet_by_name(name).to_python() for name in cal.sheet_names}
    wb = openpyxl.load_workbook(path)
    facts["sheets"] = wb.sheetnames
    for ws in wb.worksheets:
        cells = [(c.coordinate, c.value, c.data_type, _style(c)) for row in ws.iter_rows() for c in row]
        facts[ws.title] = {
            "cells": cells,
            "dims": (ws.max_row, ws.max_column),
            "widths": {k: v.width for k, v in ws.column_dimensions.items()},
            "heights": {k: (v.height, v.customHeight) for k, v in ws.row_dimensions.items() if v.height},
            "freeze": ws.freeze_panes,
            "filter": ws.auto_filter.ref,
            "print": (ws.print_area, ws.print_title_rows, ws.page_setup.orientation, ws.page_setup.paperSize,
                      ws.page_setup.fitToWidth, ws.page_setup.fitToHeight, ws.oddHeader.center.text,
                      ws.oddFooter.center.text, ws.page_margins.left),
            "charts": [(type(ch).__name__, ch.anchor._from.col, ch.anchor._from.row) for ch in ws._charts],
        }
    return facts


def assert_as_from_scratch(tmp: Path, catalogue=CAT) -> None:
    master, ledger = tmp / "master.xlsx", tmp / "ledger.sqlite"
    expected = workbook_facts(from_scratch(ledger, tmp / "scratch.xlsx", catalogue))
    got = workbook_facts(master)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key


def blocks(ledger: Path) -> list[tuple]:
    db = sqlite3.connect(ledger)
    try:
        return db.execute("SELECT block, data_key, xml_key FROM derived_blocks WHERE period = ? ORDER BY block",
                          (str(PERIOD),)).fetchall()
    finally:
        db.close()


def rewrite(tmp: Path) -> None:
    """A run with nothing new that must write the master again (it was deleted): from the cache alone."""
    (tmp / "master.xlsx").unlink()
    assert run(tmp / "inbox").master is not None


def test_a_sequence_of_reruns_writes_what_a_fresh_write_holds(inbox):
    tmp = inbox.parent
    ledger = tmp / "ledger.sqlite"
    first = run(inbox)
    assert isinstance(first.data, LazyPeriodData) and not first.data.built
    assert len(blocks(ledger)) > 2
    assert_as_from_scratch(tmp)

    # 1. a corrected file: its unit's block only is made again
    before = dict((b, (d, x)) for b, d, x in blocks(ledger))
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    result = run(inbox)
    assert result.summary.replacements and not result.data.built
    after = dict((b, (d, x)) for b, d, x in blocks(ledger))
    assert sum(before[b][0] != after[b][0] for b in after) == 1
    assert_as_from_scratch(tmp)

    # 2. a unit without an accepted file (only rejected ones) sends a good one
    missing = next(u.code for u in CAT.units if u.code not in VALID)
    unit_file(tmp, missing, f"ThiDua_2024-09_{missing} (mới).xlsx", when(22))
    result = run(inbox)
    assert [f["unit"] for f in result.summary.current] == [missing]
    assert_as_from_scratch(tmp)

    # 3. a rejected file (a newer, faulty one of a unit in use)
    unit_file(tmp, "QLVT", "ThiDua_2024-09_QLVT (2).xlsx", when(23), lambda f: f.set(cell("1.1", "month"), -5))
    result = run(inbox)
    assert len(result.summary.rejected) == 1
    assert_as_from_scratch(tmp)

    # 4. nothing changed: the master is left alone
    stamp = (tmp / "master.xlsx").stat().st_mtime_ns
    result = run(inbox)
    assert not result.new and (tmp / "master.xlsx").stat().st_mtime_ns == stamp
    rewrite(tmp)
    assert_as_from_scratch(tmp)

    # 5. the catalogue changes (a unit's name): every block is made again
    renamed = dataclasses.replace(CAT, units=tuple(
        dataclasses.replace(u, name=u.name + " (tên mới)") if u.code == "VP" else u for u in CAT.units))
    keys = blocks(ledger)
    result = derived_run(inbox, renamed)
    assert all(a[1] != b[1] for a, b in zip(keys, blocks(ledger), strict=True))
    assert_as_from_scratch(tmp, renamed)

    # 6. the cache deleted
    db = sqlite3.connect(ledger)
    db.execute("DELETE FROM derived_blocks")
    db.commit()
    db.close()
    (tmp / "master.xlsx").unlink()
    derived_run(inbox, renamed)
    assert blocks(ledger)
    assert_as_from_scratch(tmp, renamed)

    # 7. damaged rows: a digest and a piece that no longer match their checks are made again, not used
    db = sqlite3.connect(ledger)
    db.execute("UPDATE derived_blocks SET digest = replace(digest, '\"rows\":', '\"rows\":1') WHERE block = 0")
    db.execute("UPDATE derived_blocks SET xml = zeroblob(length(xml)) WHERE block = 1")
    db.commit()
    db.close()
    (tmp / "master.xlsx").unlink()
    derived_run(inbox, renamed)
    assert_as_from_scratch(tmp, renamed)


def derived_run(inbox: Path, catalogue):
    from thidua.consolidate import consolidate

    tmp = inbox.parent
    return consolidate(inbox, PERIOD, catalogue, ledger=tmp / "ledger.sqlite", out=tmp / "master.xlsx", workers=0)


def test_the_comparison_sees_a_block_wrongly_reused(inbox, monkeypatch):
    """The test above can fail: with a key that ignores which file a unit's rows come from, a corrected file's block
    is taken from the cache, and the master no longer holds what a fresh write holds."""
    tmp = inbox.parent
    monkeypatch.setattr(derived, "unit_keys", lambda led, frame: {u: None for u in frame.units})
    run(inbox)
    assert_as_from_scratch(tmp)
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    run(inbox)
    with pytest.raises(AssertionError):
        assert_as_from_scratch(tmp)


def test_the_lazy_tables_are_those_of_load_period(inbox):
    tmp = inbox.parent
    result = run(inbox)
    data, full = result.data, load_period(tmp / "ledger.sqlite", PERIOD, CAT)
    for name in ("values", "assessments", "attainment", "previous"):
        assert getattr(data, name).equals(getattr(full, name)), name
    assert data.built
    # a ledger changed since is refused rather than mixed with the frame already loaded
    later = run(inbox, write=False)
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    run(inbox)
    from thidua.errors import ThiDuaError

    with pytest.raises(ThiDuaError, match="tổng hợp lại"):
        later.data.values  # noqa: B018


def test_an_inbox_file_known_by_its_stat_is_not_read_again(inbox, monkeypatch):
    import thidua.arrivals as arrivals

    monkeypatch.setattr(derived, "RACY_NS", 0)  # setting the times below changes the change time: not racy here
    old = time.time() - 60
    for path in inbox.iterdir():
        os.utime(path, (old, old))
    run(inbox)
    hashed: list[str] = []
    real = arrivals.hash_file

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(arrivals, "hash_file", counting)
    run(inbox)
    assert hashed == []
    # a file rewritten with the same size and times is still seen (its change time and inode move)
    target = next(p for p in sorted(inbox.iterdir()) if p.name.endswith("_VP.xlsx"))
    data = target.read_bytes()
    target.unlink()
    target.write_bytes(data)
    os.utime(target, (old, old))
    run(inbox)
    assert hashed == [target.name]
    # a file hashed just after it was modified (racy) is hashed again next time
    monkeypatch.setattr(derived, "RACY_NS", 10_000_000_000)
    hashed.clear()
    os.utime(target, None)
    run(inbox)
    run(inbox)
    assert hashed.count(target.name) == 2  # (the others, touched as recently, too)


@needs_soffice
def test_libreoffice_opens_a_master_written_from_the_cache(inbox, tmp_path):
    tmp = inbox.parent
    run(inbox)
    unit_file(tmp, "VP", "ThiDua_2024-09_VP (sửa).xlsx", when(21),
              lambda f: f.set(cell("7.5", "month"), "Đã bổ sung minh chứng"))
    run(inbox)
    out = tmp_path / "lo"
    subprocess.run([soffice(), "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
                    "--outdir", str(out), str(tmp / "master.xlsx")], check=True, capture_output=True, timeout=180)
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) == 5  # every sheet read (-1: all sheets, one file each)
    summary = next(p for p in csvs if "T" in p.stem and "ng h" in p.stem)
    text = summary.read_text(encoding="utf-8")
    expected = CalamineWorkbook.from_path(str(tmp / "master.xlsx")).get_sheet_by_name("Tổng hợp").to_python()
    assert len([line for line in text.splitlines() if line]) == len(expected)
    assert "Đã bổ sung minh chứng" in text and "ThiDua_2024-09_VP (sửa).xlsx" in text


def test_the_cells_a_run_keeps_are_those_the_ledger_gives_back(inbox, monkeypatch):
    """The period's tables made right after a run take the cells that run inserted from memory (Ledger.take_cells)
    rather than reading them back: every table so made equals the one read from the ledger by another connection,
    whether all, some or none of the cells were kept, and after a re-check replaced a file's cells."""
    import thidua.ledger as ledger_module
    from thidua.ledger import Ledger

    tmp = inbox.parent
    original = derived.period_tables
    taken: list[tuple[int, int]] = []
    reading_back: list[bool] = []
    real_take = Ledger.take_cells

    def take(self, ids):
        rows, others = real_take(self, ids)
        if not reading_back:
            taken.append((len({r[0] for r in rows}), len(others)))  # files kept, files to read back
        return rows, others

    def checked(led, frame, catalogue, only=None):
        made = original(led, frame, catalogue, only)
        with Ledger(led.path, create=False) as other:  # a connection that kept nothing: every cell read back
            reading_back.append(True)
            read = original(other, frame, catalogue, only)
            reading_back.clear()
        for got, want in zip(made, read, strict=True):
            assert got.equals(want)
            assert got.columns.tolist() == want.columns.tolist()
        return made

    monkeypatch.setattr(Ledger, "take_cells", take)
    monkeypatch.setattr(derived, "period_tables", checked)
    # 1. a first run with some of the units' files: all kept, the tables made at once
    parked = tmp / "parked"
    parked.mkdir()
    for path in sorted(inbox.iterdir())[3:]:
        path.rename(parked / path.name)
    run(inbox)
    assert taken and all(kept > 0 and others == 0 for kept, others in taken)
    # 2. the other files and a new catalogue (every block made again at once): some kept, the rest read back, and
    # the rejected files checked again (a re-check replaces a file's cells: not taken from memory afterwards)
    for path in parked.iterdir():
        path.rename(inbox / path.name)
    renamed = dataclasses.replace(CAT, units=tuple(
        dataclasses.replace(u, name=u.name + " (tên mới)") if u.code == "VP" else u for u in CAT.units))
    taken.clear()
    result = derived_run(inbox, renamed)
    assert result.summary.new and result.summary.rechecked
    assert len(taken) == 1 and taken[0][0] > 0 and taken[0][1] > 0
    assert_as_from_scratch(tmp, renamed)
    def correction(name: str, day: int, note: str) -> list[tuple[int, int]]:
        unit_file(tmp, "VP", name, when(day), lambda f: f.set(cell("7.5", "month"), note))
        taken.clear()
        derived_run(inbox, renamed)
        seen = list(taken)  # before the comparison below, whose own reading is not the run's
        assert_as_from_scratch(tmp, renamed)
        return seen

    # 3. a correction: one block made again, its new file's cells kept
    assert correction("ThiDua_2024-09_VP (sửa).xlsx", 21, "Đã bổ sung minh chứng") == [(1, 0)]
    # 4. more cells than are kept: none kept, all read back
    monkeypatch.setattr(ledger_module, "KEPT_ROWS", 10)
    assert correction("ThiDua_2024-09_VP (sửa 2).xlsx", 22, "Bổ sung lần 2") == [(0, 1)]
