"""Validating batches: the demo inbox, the command, independent re-savers (LibreOffice, NFD text) and random damage."""

from __future__ import annotations

import json
import shutil
import tempfile
import unicodedata
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import PERIOD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lo import needs_soffice
from openpyxl.cell.cell import TYPE_FORMULA, TYPE_STRING
from thidua.cli import app
from thidua.demo import MISTAKES, QUIRKS, make_inbox
from thidua.findings import ERROR, INFO, FileResult
from thidua.layout import COLUMNS, HEADER, HEADER_VALUE_COL, SHEET_REPORT, FormLayout, a1
from thidua.office import convert
from thidua.returnpkg import write_return_package
from thidua.validate import validate_file, validate_paths, validate_report


@pytest.fixture(scope="module")
def at(catalogue):
    rows = FormLayout.for_catalogue(catalogue).rows
    return lambda key, column: a1(rows[key], COLUMNS[column][0])


@pytest.fixture(scope="module")
def inbox(catalogue, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    make_inbox(catalogue, PERIOD, root / "forms", root / "inbox")
    return root / "inbox"


@pytest.fixture(scope="module")
def expected(at) -> dict[str, set[tuple[str, str | None]]]:
    """What each deliberate mistake of the demo must produce, by unit."""
    period_cell = a1(HEADER["period"][0], HEADER_VALUE_COL)
    return {
        "TTRA": {("E-TYPE-TEXT-NUMBER", at("1.2", "month")), ("E-REL-PART-GT-WHOLE", at("4.8", "ytd"))},
        "QLCL": {("E-REQ-MISSING", at("2.1", "month")), ("E-TARGET-NO-EXPLANATION", at("T3", "note"))},
        "KHTC": {("W-TARGET-RATIO", at("4.8", "month")), ("E-TARGET-CONTRADICTION", at("T4", "assessment"))},
        "TTSH": {("W-ID-PERIOD-OTHER", period_cell), ("E-ID-PERIOD-NAME", period_cell)},
    }


def by_unit(results: list[FileResult]) -> dict[str, FileResult]:
    return {r.path.name.split("_")[-1].removesuffix(".xlsx"): r for r in results}


def pairs(result: FileResult) -> set[tuple[str, str | None]]:
    return {(f.code, f.cell) for f in result.findings}


def test_each_demo_mistake_is_flagged_with_the_right_codes_and_cells(inbox, catalogue, expected):
    assert set(expected) == {m.unit for m in MISTAKES}, "a demo mistake has no expectation here"
    results = by_unit(validate_paths([inbox], catalogue, PERIOD))
    for unit, want in expected.items():
        assert pairs(results[unit]) == want, unit
        assert not results[unit].valid
    assert results["TTSH"].period == "2024-08"


def test_correct_demo_files_have_no_finding_and_the_formula_like_note_stays_text(inbox, catalogue, at):
    results = by_unit(validate_paths([inbox], catalogue, PERIOD))
    faulty = {m.unit for m in MISTAKES}
    for unit, result in results.items():
        if unit not in faulty:
            assert result.findings == [], unit
            assert result.valid
    quirk = QUIRKS[0].unit
    note = results[quirk].submission.targets[7].explanation
    assert note.cell == at("T7", "note")
    assert note.value.startswith("=HYPERLINK(") and not note.formula and note.issue is None


def test_every_message_is_vietnamese_nfc_and_says_what_to_do(inbox, catalogue):
    for result in validate_paths([inbox], catalogue, PERIOD):
        for f in result.findings:
            assert unicodedata.is_normalized("NFC", f.message)
            assert "Đề nghị" in f.message or "Nếu" in f.message
            assert f.file == str(result.path) and f.severity in (ERROR, "warning")


# ----------------------------------------------------------------------------------------------------------------------
# The command


def test_cli_reports_the_demo_inbox_and_exits_1(inbox):
    result = CliRunner().invoke(app, ["validate", str(inbox), "--period", "2024-09"])
    assert result.exit_code == 1, result.output
    for text in ("Tệp", "Đơn vị", "Số lỗi", "Số cảnh báo", "ThiDua_2024-09_TTRA.xlsx", "E-TYPE-TEXT-NUMBER",
                 "1.234", "Đã kiểm tra 9 tệp: 5 hợp lệ, 4 có lỗi"):
        assert text in result.output


def test_cli_json_is_only_json_and_matches_the_library(inbox, catalogue):
    result = CliRunner().invoke(app, ["validate", str(inbox), "--period", "2024-09", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    library = {str(r.path): r for r in validate_paths([inbox], catalogue, PERIOD)}
    assert [f["path"] for f in data["files"]] == list(library)
    for entry in data["files"]:
        r = library[entry["path"]]
        assert set(entry) == {"path", "unit", "period", "valid", "findings"}
        assert (entry["unit"], entry["period"], entry["valid"]) == (r.unit, r.period, r.valid)
        assert [(f["code"], f["severity"], f["sheet"], f["cell"], f["indicator"], f["message"])
                for f in entry["findings"]] == [(f.code, f.severity, f.sheet, f.cell, f.indicator, f.message)
                                                for f in r.findings]
        for f in entry["findings"]:
            assert set(f) == {"code", "severity", "sheet", "cell", "indicator", "value", "message"}
    assert data["summary"]["files"] == 9 and data["summary"]["invalid"] == 4
    assert data["summary"]["errors"] == sum(len(r.errors) for r in library.values())


def test_cli_clean_folder_exits_0_and_missing_path_exits_2(inbox, tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    faulty = {m.unit for m in MISTAKES}
    for path in inbox.iterdir():
        if path.stem.split("_")[-1] not in faulty:
            shutil.copy(path, clean / path.name)
    (clean / "~$ThiDua_2024-09_VP.xlsx").write_bytes(b"\x0bNguyen Van A" + b"\0" * 150)
    ok = CliRunner().invoke(app, ["validate", str(clean), "--period", "2024-09"])
    assert ok.exit_code == 0, ok.output
    assert "Bỏ qua" in ok.output
    missing = CliRunner().invoke(app, ["validate", str(tmp_path / "không-có")])
    assert missing.exit_code == 2
    assert "Không tìm thấy" in missing.stderr
    bad_period = CliRunner().invoke(app, ["validate", str(clean), "--period", "2024-13"])
    assert bad_period.exit_code == 2


def test_cli_return_dir(inbox, tmp_path):
    out = tmp_path / "trả lại"
    args = ["validate", str(inbox), "--period", "2024-09", "--return-dir", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    written = {Path(p["package"]).name for p in data["summary"]["return_packages"]}
    assert written == {"ThiDua_2024-09_TTRA.xlsx", "ThiDua_2024-09_QLCL.xlsx", "ThiDua_2024-09_KHTC.xlsx",
                       "ThiDua_2024-09_TTSH.xlsx"}
    assert {p.name for p in out.iterdir()} == written


# ----------------------------------------------------------------------------------------------------------------------
# Batches


def test_folders_are_read_flat_with_owner_files_listed_and_results_sorted(inbox, catalogue, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("ThiDua_2024-09_VP.xlsx", "ThiDua_2024-09_KHTC.xlsx"):
        shutil.copy(inbox / name, folder / name)
    (folder / "~$ThiDua_2024-09_VP.xlsx").write_bytes(b"\0" * 165)
    (folder / "ghi chú.txt").write_text("Đơn vị gửi kèm", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "cũ").mkdir()
    shutil.copy(inbox / "ThiDua_2024-09_TTRA.xlsx", folder / "cũ" / "ThiDua_2024-09_TTRA.xlsx")
    results = validate_paths([folder, folder / "ThiDua_2024-09_VP.xlsx"], catalogue, PERIOD)
    names = [r.path.name for r in results]
    assert names == ["ghi chú.txt", "ThiDua_2024-09_KHTC.xlsx", "ThiDua_2024-09_VP.xlsx", "~$ThiDua_2024-09_VP.xlsx"]
    text, _khtc, vp, owner = results
    assert [f.severity for f in owner.findings] == [INFO] and owner.valid
    assert pairs(text) == {("E-READ-NOT-EXCEL", None)}
    assert vp.findings == []  # given twice (folder and file): read once, no duplicate


def test_pool_and_sequential_reading_give_identical_results(inbox, catalogue, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "hỏng.xlsx").write_bytes((inbox / "ThiDua_2024-09_VP.xlsx").read_bytes()[:3000])
    (extra / "~$x.xlsx").write_bytes(b"\0" * 10)
    paths = [inbox, extra]

    def summary(results):
        return [(str(r.path), r.unit, r.period, [(f.code, f.cell, f.message, f.value) for f in r.findings])
                for r in results]

    sequential = summary(validate_paths(paths, catalogue, PERIOD, workers=1))
    pooled = summary(validate_paths(paths, catalogue, PERIOD, workers=2))
    assert pooled == sequential
    seen = []
    validate_paths(paths, catalogue, PERIOD, workers=2, progress=seen.append)
    assert len(seen) == len(sequential)


# ----------------------------------------------------------------------------------------------------------------------
# The same file, re-saved by another program


def _faulty_files(inbox: Path, into: Path) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(inbox / f"ThiDua_2024-09_{u}.xlsx", into)) for u in ("TTRA", "QLCL", "KHTC", "BQLDA")]


@needs_soffice
def test_a_file_resaved_by_libreoffice_validates_like_the_original(inbox, catalogue, tmp_path):
    originals = _faulty_files(inbox, tmp_path / "original")
    resaved = convert(originals, tmp_path / "libreoffice", "xlsx")
    for a, b in zip(originals, resaved, strict=True):
        assert pairs(validate_file(b, catalogue, PERIOD)) == pairs(validate_file(a, catalogue, PERIOD)), a.name


def _to_nfd(src: Path, dst: Path) -> Path:
    wb = openpyxl.load_workbook(src)
    for ws in wb.worksheets:
        ws.title = unicodedata.normalize("NFD", ws.title)
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.data_type == TYPE_STRING:
                    cell.value = unicodedata.normalize("NFD", cell.value)
                    cell.data_type = TYPE_STRING
    wb.save(dst)
    return dst


def test_a_file_with_all_texts_in_nfd_validates_like_the_original(inbox, catalogue, tmp_path):
    for original in _faulty_files(inbox, tmp_path / "original"):
        nfd = _to_nfd(original, tmp_path / original.name)
        wb = openpyxl.load_workbook(nfd)
        assert any(not unicodedata.is_normalized("NFC", ws.title) for ws in wb.worksheets)
        assert pairs(validate_file(nfd, catalogue, PERIOD)) == pairs(validate_file(original, catalogue, PERIOD))


# ----------------------------------------------------------------------------------------------------------------------
# Random damage never crashes validation


def _input_cells(catalogue) -> list[str]:
    rows = FormLayout.for_catalogue(catalogue).rows
    cells = [a1(HEADER["preparer"][0], HEADER_VALUE_COL), a1(HEADER["prepared_on"][0], HEADER_VALUE_COL)]
    for t in catalogue.targets:
        cells += [a1(rows[f"T{t.number}"], COLUMNS["assessment"][0]), a1(rows[f"T{t.number}"], COLUMNS["note"][0])]
    for ind in catalogue.indicators:
        cells += [a1(rows[ind.code], COLUMNS[c][0]) for c in ind.periods]
    return cells


def test_a_huge_number_in_a_date_cell_is_a_finding_not_a_crash(make_form, catalogue):
    """python-calamine panics (a BaseException) on a date out of range: the reader reports the file instead."""
    path = make_form({a1(HEADER["prepared_on"][0], HEADER_VALUE_COL): -(10**15)})
    result = validate_file(path, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.findings} == {("E-READ-UNREADABLE", None)}
    assert "Ngày lập biểu" in result.findings[0].message
    assert validate_paths([path], catalogue, PERIOD, workers=2)[0].findings == result.findings


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
VALUES = st.one_of(
    st.none(),
    TEXT,
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.dates(min_value=__import__("datetime").date(1990, 1, 1), max_value=__import__("datetime").date(2100, 1, 1)),
    st.booleans(),
    TEXT.map(lambda s: "=" + s),
    st.sampled_from(["1.234", "1,5", "100%", " 12 ", "05/09/2024", "Có", "Không", "Đạt", "Không đạt"]),
    st.integers(min_value=5000, max_value=40000).map(lambda n: "Đ" * n),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_random_edits_never_crash_validation(session_forms, catalogue, data):
    cells = _input_cells(catalogue)
    edits = data.draw(st.lists(st.tuples(st.sampled_from(cells), VALUES, st.booleans()), min_size=1, max_size=6))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ThiDua_2024-09_VP.xlsx"
        wb = openpyxl.load_workbook(session_forms())
        ws = wb[SHEET_REPORT]
        for ref, value, as_formula in edits:
            ws[ref] = value
            if isinstance(value, str):
                ws[ref].data_type = TYPE_FORMULA if (as_formula and value.startswith("=")) else TYPE_STRING
        wb.save(path)
        result = validate_file(path, catalogue, PERIOD)
        assert isinstance(result, FileResult)
        assert all(f.code != "E-INTERNAL" for f in result.findings), [f.message for f in result.findings]
        package = write_return_package(result, Path(tmp) / "out", catalogue)
        assert package is None or package.exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_random_byte_damage_never_crashes_validation(session_forms, catalogue, data):
    original = session_forms().read_bytes()
    mode = data.draw(st.sampled_from(["flip", "truncate", "both"]))
    damaged = bytearray(original)
    if mode in ("flip", "both"):
        for pos in data.draw(st.lists(st.integers(0, len(original) - 1), min_size=1, max_size=20)):
            damaged[pos] ^= data.draw(st.integers(1, 255))
    if mode in ("truncate", "both"):
        damaged = damaged[: data.draw(st.integers(0, len(damaged)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ThiDua_2024-09_VP.xlsx"
        path.write_bytes(bytes(damaged))
        result = validate_file(path, catalogue, PERIOD)
        assert isinstance(result, FileResult) and isinstance(result.findings, list)
        package = write_return_package(result, Path(tmp) / "out", catalogue)
        assert package is None or package.exists()


def test_validate_report_summary(inbox, catalogue):
    report = validate_report([inbox], catalogue, "2024-09")
    s = report.summary()
    assert (s["files"], s["valid"], s["invalid"], s["period"]) == (9, 5, 4, "2024-09")
    assert report.has_errors
    assert report.summary_line().startswith("Đã kiểm tra 9 tệp: 5 hợp lệ, 4 có lỗi")
