"""One level up: the cluster lead rolls up member departments' appendices; wrong period, catalogue or edits are
findings with codes, never crashes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from thidua.appendix import FIRST_DATA_ROW, SHEET, STAMP_SHEET, read_appendix, write_appendix
from thidua.catalogue import default_catalogue, load_catalogue
from thidua.cli import app
from thidua.khoi import (
    SHEET_FINDINGS,
    SHEET_SUMMARY,
    SHEET_UNITS,
    TOTAL_LABEL,
    consolidate_khoi,
    roll_up,
    run_khoi,
)
from thidua.period import Period
from thidua.report_sample import sample_period_data

PERIOD = Period(2024, 9)
DEPARTMENTS = {
    "SGTVT": ("SỞ GIAO THÔNG VẬN TẢI", "Sở Giao thông vận tải"),
    "STC": ("SỞ TÀI CHÍNH", "Sở Tài chính"),
    "SCT": ("SỞ CÔNG THƯƠNG", "Sở Công Thương"),
}


def department_catalogue(tmp: Path, code: str, catalogue_text: str | None = None):
    """The default catalogue with the organisation of another member department (and optionally another catalogue)."""
    base = Path(default_catalogue().source).parent
    org = (base / "organisation.toml").read_text(encoding="utf-8")
    caps, name = DEPARTMENTS[code]
    org = org.replace('"SỞ GIAO THÔNG VẬN TẢI"', f'"{caps}"').replace('"Sở Giao thông vận tải"', f'"{name}"')
    org = org.replace('doc_code = "SGTVT"', f'doc_code = "{code}"')
    org_path = tmp / f"org-{code}.toml"
    org_path.write_text(org, encoding="utf-8")
    cat_path = None
    if catalogue_text is not None:
        cat_path = tmp / f"cat-{code}.toml"
        cat_path.write_text(catalogue_text, encoding="utf-8")
    return load_catalogue(catalogue=cat_path, organisation=org_path)


def make_appendix(tmp: Path, code: str, period: Period = PERIOD, catalogue_text: str | None = None,
                  name: str | None = None, generated_at: dt.datetime | None = None):
    cat = department_catalogue(tmp, code, catalogue_text)
    units = [u.code for u in cat.units]
    # Each department its own figures: a different number of units and shortfalls.
    n = {"SGTVT": 9, "STC": 6, "SCT": 4}[code]
    data = sample_period_data(cat, period, units[:n], late=units[:1], missing=units[1:2], rejected=[],
                              short={(units[2], 4): "Chưa đạt tỷ lệ ký số"})
    path = write_appendix(data, cat, "so-ket", tmp / (name or f"PhuLuc_SoKet_{period}_{code}.xlsx"),
                          generated_at=generated_at)
    return path, data


@pytest.fixture(scope="module")
def cat():
    return default_catalogue()


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("khoi")
    a, da = make_appendix(tmp, "SGTVT")
    b, db = make_appendix(tmp, "STC")
    c, dc = make_appendix(tmp, "SCT", period=Period(2024, 8))  # sent last month's appendix by mistake
    return tmp, [a, b, c], [da, db, dc]


def test_roll_up_of_three_departments_one_wrong_period(three, cat):
    tmp, paths, datas = three
    table, findings = consolidate_khoi(paths, PERIOD, cat, out=tmp / "khoi.xlsx")
    assert [f.code for f in findings] == ["E-KHOI-PERIOD"]
    assert findings[0].file == str(paths[2]) and findings[0].value == "2024-08"
    assert "2024-08" in findings[0].message and "Sở Công Thương" in findings[0].message
    assert list(table["department_code"]) == ["SGTVT", "STC"]
    for (_i, row), data in zip(table.iterrows(), datas[:2], strict=True):
        assert row["units"] == len(data.units)
        assert (row["on_time"], row["late"], row["missing"]) == (len(data.units) - 2, 1, 1)
        for t in range(1, 8):
            met = int(data.attainment[data.attainment["target"] == t]["met"].sum())
            assert row[f"T{t}_met"] == met
        v = data.values
        for key in ("1.1|month", "4.5|ytd", "6.4|ytd"):
            code, column = key.split("|")
            expected = sum(x for x in v[(v["code"] == code) & (v["column"] == column)]["value"] if isinstance(x, int))
            assert row[key] == expected, key


def test_cluster_master(three, cat):
    tmp, paths, datas = three
    out = tmp / "master.xlsx"
    result = run_khoi(paths, PERIOD, cat, out)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [SHEET_SUMMARY, SHEET_UNITS, SHEET_FINDINGS, "_thidua_khoi"]
    assert wb["_thidua_khoi"].sheet_state == "hidden"
    ws = wb[SHEET_SUMMARY]
    names = [ws.cell(r, 1).value for r in range(5, 8)]
    assert names == ["Sở Giao thông vận tải", "Sở Tài chính", TOTAL_LABEL]
    headers = [ws.cell(4, c).value for c in range(1, ws.max_column + 1)]
    units_col = headers.index("Số phòng, đơn vị") + 1
    assert ws.cell(7, units_col).value == len(datas[0].units) + len(datas[1].units)
    t1 = headers.index("Nội dung 1: số đơn vị đạt") + 1
    assert ws.cell(7, t1).value == ws.cell(5, t1).value + ws.cell(6, t1).value
    units = wb[SHEET_UNITS]
    assert units.max_row == 1 + len(datas[0].units) + len(datas[1].units)
    findings = [r for r in wb[SHEET_FINDINGS].iter_rows(min_row=2, values_only=True)]
    assert [r[1] for r in findings] == ["E-KHOI-PERIOD"]
    assert result.left_out == [paths[2]]
    assert sorted(p.name for p in tmp.glob(".*tmp*")) == []  # written atomically


def test_edited_duplicate_and_other_catalogue(tmp_path, cat):
    good, _ = make_appendix(tmp_path, "SGTVT", generated_at=dt.datetime(2024, 9, 26, 8, 0))
    again, _ = make_appendix(tmp_path, "SGTVT", name="again.xlsx", generated_at=dt.datetime(2024, 9, 27, 8, 0))
    # An edited appendix: a figure changed by hand after the report was made.
    edited, _ = make_appendix(tmp_path, "STC")
    wb = openpyxl.load_workbook(edited)
    wb[SHEET].cell(FIRST_DATA_ROW, 12).value = 999
    wb.save(edited)
    # Another version of the same catalogue is a warning; another catalogue is an error.
    text = Path(cat.source).read_text(encoding="utf-8")
    newer, _ = make_appendix(tmp_path, "SCT", catalogue_text=text.replace('version = "2024.1"', 'version = "2024.2"'))
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other, _ = make_appendix(other_dir, "SCT", name="other.xlsx",
                             catalogue_text=text.replace('id = "thidua-sgtvt-kontum-2024"', 'id = "khac-2024"'))
    result = roll_up([good, again, edited, newer, other], PERIOD, cat)
    codes = sorted((f.code, Path(f.file).name) for f in result.findings)
    assert codes == sorted([
        ("W-KHOI-DUPLICATE", good.name),
        ("E-PHULUC-CHECKSUM", edited.name),
        ("W-KHOI-VERSION", newer.name),
        ("E-KHOI-CATALOGUE", other.name),
    ])
    assert [a.path.name for a in result.used] == ["again.xlsx", newer.name]
    assert result.has_errors


def test_nothing_usable(tmp_path, cat):
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"PK\x03\x04 broken")
    result = roll_up([junk], PERIOD, cat)
    assert [f.code for f in result.findings] == ["E-PHULUC-UNREADABLE", "E-KHOI-EMPTY"]
    assert result.table.empty
    out = run_khoi([junk], PERIOD, cat, tmp_path / "k.xlsx").out
    assert read_appendix(out).findings[0].code == "E-PHULUC-STAMP"  # a master is not an appendix


def test_cli_khoi(three):
    tmp, paths, _ = three
    out = tmp / "cli.xlsx"
    result = CliRunner().invoke(app, ["khoi", *map(str, paths), "--period", "2024-09", "--out", str(out)])
    assert result.exit_code == 1, result.output  # done, but one appendix was left out
    assert "E-KHOI-PERIOD" in result.output and out.exists()
    result = CliRunner().invoke(app, ["khoi", *map(str, paths[:2]), "--period", "2024-09", "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["department_code"] for d in data["departments"]] == ["SGTVT", "STC"] and data["findings"] == []
    stamp = {r[0].value: r[1].value for r in openpyxl.load_workbook(paths[0])[STAMP_SHEET].iter_rows()}
    assert stamp["department_code"] == "SGTVT"


def test_cli_consolidate_level_khoi(three):
    tmp, paths, _ = three
    out = tmp / "level.xlsx"
    result = CliRunner().invoke(app, ["consolidate", "--level", "khoi", *map(str, paths), "--period", "2024-09",
                                      "--out", str(out), "--json"])
    assert result.exit_code == 1, result.output  # one appendix is for the wrong period: flagged, the rest rolled up
    data = json.loads(result.stdout)
    assert "E-KHOI-PERIOD" in {f["code"] for f in data["findings"]}
    assert out.exists()
    missing_out = CliRunner().invoke(app, ["consolidate", "--level", "khoi", *map(str, paths), "--period", "2024-09"])
    assert missing_out.exit_code == 2 and "--out" in missing_out.output
