"""The report's appendix (.xlsx): machine-readable layout with a stamp and a checksum, text written as text."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from thidua.appendix import (
    FIRST_DATA_ROW,
    HEADER_ROW,
    SHEET,
    STAMP_SHEET,
    read_appendix,
    write_appendix,
)
from thidua.catalogue import default_catalogue, load_catalogue
from thidua.period import Period
from thidua.report import write_report
from thidua.report_sample import sample_period_data

DOCS = Path(__file__).resolve().parents[1] / "docs" / "appendix.md"
PERIOD = Period(2024, 9)


@pytest.fixture(scope="module")
def cat():
    return default_catalogue()


@pytest.fixture(scope="module")
def data(cat):
    return sample_period_data(cat, PERIOD, late=["TTRA"], missing=["QLCL"], rejected=["TTSH"],
                              short={("QLVT", 4): "Hồ sơ quá hạn do chờ ý kiến phối hợp"})


@pytest.fixture(scope="module")
def path(cat, data, tmp_path_factory):
    return write_appendix(data, cat, "so-ket", tmp_path_factory.mktemp("phuluc") / "PhuLuc.xlsx")


def test_stamp_and_rows(path, cat, data):
    a = read_appendix(path)
    assert a.ok, a.findings
    s = a.stamp
    assert s["kind"] == "thidua-phuluc" and s["schema"] == "1"
    assert s["department"] == "Sở Giao thông vận tải" and s["department_code"] == "SGTVT"
    assert (s["period"], s["report_kind"]) == ("2024-09", "so-ket")
    assert (s["catalogue_id"], s["catalogue_version"]) == (cat.id, cat.version)
    assert s["checksum"].startswith("sha256:")
    assert [r["unit_code"] for r in a.rows] == data.units
    by_unit = {r["unit_code"]: r for r in a.rows}
    assert by_unit["QLCL"]["status"] == "Chưa nộp" and by_unit["TTRA"]["status"] == "Trễ hạn"
    assert by_unit["TTSH"]["status"] == "Bị trả lại" and by_unit["VP"]["status"] == "Đúng hạn"
    assert by_unit["QLVT"]["T4"] == "Không đạt" and by_unit["QLVT"]["T1"] == "Đạt"
    assert by_unit["QLCL"]["T1"] == "Không đạt" and by_unit["QLCL"]["4.5|ytd"] is None
    for unit, row in by_unit.items():
        met = data.attainment[(data.attainment["unit"] == unit)]
        assert row["targets_met"] == int(met["met"].sum())
    v = data.values
    for key in ("1.1|month", "4.5|ytd", "4.8|month", "6.4|ytd"):
        code, column = key.split("|")
        for unit, row in by_unit.items():
            sel = v[(v["unit"] == unit) & (v["code"] == code) & (v["column"] == column)]["value"].tolist()
            assert row[key] == (sel[0] if sel else None), (unit, key)


def test_layout_is_as_documented(path):
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == SHEET
    assert wb[STAMP_SHEET].sheet_state == "hidden"
    ws = wb[SHEET]
    assert ws.cell(HEADER_ROW, 1).value == "STT" and ws.cell(HEADER_ROW, 3).value == "Tên phòng, đơn vị"
    assert ws.cell(FIRST_DATA_ROW, 2).value == "VP"
    stamp = {r[0].value: r[1].value for r in wb[STAMP_SHEET].iter_rows()}
    rows = int(stamp["rows"])
    assert ws.cell(FIRST_DATA_ROW + rows, 3).value == "Tổng cộng"
    columns = json.loads(stamp["columns"])
    assert columns[:4] == ["stt", "unit_code", "unit_name", "status"]
    assert len([c for c in range(1, ws.max_column + 1) if ws.cell(HEADER_ROW, c).value]) == len(columns)
    # Every stamp key and the fixed positions are documented.
    doc = DOCS.read_text(encoding="utf-8")
    for key in stamp:
        assert f"`{key}`" in doc, key
    for key in ("stt", "unit_code", "unit_name", "status", "T1", "targets_met", "T1:months", "due_months"):
        assert f"`{key}`" in doc, key
    assert f"row {HEADER_ROW}" in doc and f"row {FIRST_DATA_ROW}" in doc


def test_tampering_is_detected(path, tmp_path):
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET]
    columns = json.loads({r[0].value: r[1].value for r in wb[STAMP_SHEET].iter_rows()}["columns"])
    c = columns.index("4.5|ytd") + 1
    ws.cell(FIRST_DATA_ROW, c).value = (ws.cell(FIRST_DATA_ROW, c).value or 0) + 1
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    a = read_appendix(edited)
    assert [f.code for f in a.findings] == ["E-PHULUC-CHECKSUM"] and not a.ok


def test_not_an_appendix(tmp_path):
    plain = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "hello"
    wb.save(plain)
    assert [f.code for f in read_appendix(plain).findings] == ["E-PHULUC-STAMP"]
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip at all")
    assert [f.code for f in read_appendix(junk).findings] == ["E-PHULUC-UNREADABLE"]


def test_unit_text_is_written_as_text(tmp_path):
    """A name that looks like a formula stays text in the appendix (and its checksum still holds)."""
    units = tmp_path / "units.toml"
    units.write_text('schema = 1\n[[units]]\ncode = "VP"\nname = "=HYPERLINK(\\"http://x.invalid\\",\\"Bấm\\")"\n'
                     'kind = "phong"\n[[units]]\ncode = "TTRA"\nname = "Thanh tra Sở"\nkind = "phong"\n',
                     encoding="utf-8")
    cat = load_catalogue(units=units)
    data = sample_period_data(cat, PERIOD, late=[], missing=[], rejected=[], short={})
    out = write_appendix(data, cat, "so-ket", tmp_path / "p.xlsx")
    ws = openpyxl.load_workbook(out)[SHEET]
    cell = ws.cell(FIRST_DATA_ROW, 3)
    assert cell.value == '=HYPERLINK("http://x.invalid","Bấm")' and cell.data_type == "s"
    assert read_appendix(out).ok


def test_written_atomically(cat, data, tmp_path):
    out = tmp_path / "PhuLuc.xlsx"
    write_appendix(data, cat, "so-ket", out)
    write_appendix(data, cat, "so-ket", out)  # over an existing file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PhuLuc.xlsx"]


def test_tong_ket_appendix_leaves_titles_out_and_prints(cat, tmp_path):
    """The appendix goes to the Khối: no per-unit title proposal (a document of its own), and it is printable."""
    from thidua.period import Span
    from thidua.report import SpanData

    span = Span.parse("2024")
    sd = SpanData(span, [sample_period_data(cat, m) for m in span.months])
    files = write_report(sd, cat, "tong-ket", tmp_path)
    wb = openpyxl.load_workbook(files.appendix)
    assert "Danh hiệu" not in wb.sheetnames and "Tình hình nộp" in wb.sheetnames
    ws = wb["Phụ lục"]
    assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == "9"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)
    assert ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$5:$5"
    text = " ".join(str(c.value) for row in ws.iter_rows(max_row=4) for c in row if c.value)
    assert cat.id not in text and "phiên bản" not in text and "Kèm theo Báo cáo số" in text
    a = read_appendix(files.appendix)
    assert a.ok and a.stamp["span"] == "2024" and "T1:months" in a.columns and "2.1|span" in a.columns
    assert files.proposals is not None and files.proposals.exists()
