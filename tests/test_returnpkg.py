"""Return packages: the unit's own workbook with every finding marked; fixable, and clean once fixed."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import PERIOD
from lo import needs_soffice
from openpyxl.comments import Comment
from thidua.demo import make_inbox
from thidua.findings import ERROR, WARNING, FileResult
from thidua.layout import COLUMNS, SHEET_GUIDE, SHEET_REPORT, SHEET_STAMP, FormLayout, a1
from thidua.office import convert
from thidua.returnpkg import (
    FILLS,
    MARKS_KEY,
    RESULT_SHEET,
    _strip_ours,
    package_name,
    safe_stem,
    write_return_package,
    write_return_packages,
)
from thidua.validate import validate_file, validate_paths


@pytest.fixture(scope="module")
def at(catalogue):
    rows = FormLayout.for_catalogue(catalogue).rows
    return lambda key, column: a1(rows[key], COLUMNS[column][0])


@pytest.fixture(scope="module")
def packages(catalogue, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The demo inbox and the return packages of its faulty files, by unit."""
    root = tmp_path_factory.mktemp("return")
    make_inbox(catalogue, PERIOD, root / "forms", root / "inbox")
    results = validate_paths([root / "inbox"], catalogue, PERIOD)
    written = write_return_packages(results, root / "out", catalogue)
    return root / "inbox", {src.name.split("_")[-1].removesuffix(".xlsx"): pkg for src, pkg in written.items()}


def codes_cells(path: Path, catalogue, period=PERIOD) -> set[tuple[str, str | None]]:
    return {(f.code, f.cell) for f in validate_file(path, catalogue, period).findings}


def test_one_package_per_faulty_file_named_from_unit_and_period(packages):
    _inbox, pkgs = packages
    assert {u: p.name for u, p in pkgs.items()} == {
        "TTRA": "ThiDua_2024-09_TTRA.xlsx",
        "QLCL": "ThiDua_2024-09_QLCL.xlsx",
        "KHTC": "ThiDua_2024-09_KHTC.xlsx",
        "TTSH": "ThiDua_2024-09_TTSH.xlsx",  # named after the file it marks (its content is August's form)
    }


def test_package_marks_cells_lists_findings_and_keeps_the_form(packages, catalogue, at):
    inbox, pkgs = packages
    original = validate_file(inbox / "ThiDua_2024-09_TTRA.xlsx", catalogue, PERIOD)
    wb = openpyxl.load_workbook(pkgs["TTRA"])
    assert wb.sheetnames == [SHEET_REPORT, SHEET_GUIDE, SHEET_STAMP, RESULT_SHEET]
    assert wb.active.title == RESULT_SHEET and sum(ws.sheet_view.tabSelected for ws in wb.worksheets) == 1
    report = wb[SHEET_REPORT]
    assert report.protection.sheet and wb[SHEET_GUIDE].protection.sheet
    assert wb[SHEET_STAMP].sheet_state == "veryHidden"
    for f in original.findings:
        cell = report[f.cell]
        assert cell.fill.fgColor.rgb.endswith("FFC7CE"), f.cell
        assert f.code in cell.comment.text and f.message in cell.comment.text
        assert cell.protection.locked is False  # still an input cell the unit can type into
    sheet = wb[RESULT_SHEET]
    rows = list(sheet.iter_rows(min_row=11, values_only=True))
    listed = [(r[2], r[4]) for r in rows if r[0]]
    assert sorted(listed) == sorted((f.code, f.cell) for f in original.findings)
    links = {c.value: c.hyperlink.location for c in sheet["E"] if c.hyperlink is not None}
    assert links == {f.cell: f"'{SHEET_REPORT}'!{f.cell}" for f in original.findings}
    # The package reads as the same form with the same findings: the reader ignores the extra sheet.
    assert codes_cells(pkgs["TTRA"], catalogue) == {(f.code, f.cell) for f in original.findings}


def test_package_is_never_written_over_the_original(packages, catalogue, tmp_path):
    inbox, _pkgs = packages
    folder = tmp_path / "inbox"
    shutil.copytree(inbox, folder)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    results = validate_paths([folder], catalogue, PERIOD)
    written = write_return_packages(results, folder, catalogue)  # return dir = the inbox itself
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.name in before} == before
    assert written[folder / "ThiDua_2024-09_TTRA.xlsx"].name == "ThiDua_2024-09_TTRA (2).xlsx"
    assert written[folder / "ThiDua_2024-09_TTSH.xlsx"].name == "ThiDua_2024-09_TTSH (2).xlsx"


def test_text_from_the_unit_stays_text(make_form, catalogue, at, tmp_path):
    path = make_form({at("2.1", "month"): "=1+1", at("3.1", "month"): '=HYPERLINK("http://x.invalid","bấm")'})
    result = validate_file(path, catalogue, PERIOD)
    assert {f.value for f in result.findings} == {"=1+1", '=HYPERLINK("http://x.invalid","bấm")'}
    pkg = write_return_package(result, tmp_path / "out", catalogue)
    wb = openpyxl.load_workbook(pkg)
    values = [c for row in wb[RESULT_SHEET].iter_rows() for c in row if isinstance(c.value, str)
              and c.value.startswith("=")]
    assert {c.value for c in values} == {"=1+1", '=HYPERLINK("http://x.invalid","bấm")'}
    assert all(c.data_type == "s" for c in values)
    assert all(wb[SHEET_REPORT][ref].data_type == "s" for ref in (at("2.1", "month"), at("3.1", "month")))
    with zipfile.ZipFile(pkg) as zf:
        sheet_xml = zf.read("xl/worksheets/sheet4.xml").decode()
    assert "<f>" not in sheet_xml


@needs_soffice
def test_packages_open_in_libreoffice(packages, tmp_path):
    _inbox, pkgs = packages
    pdfs = convert(sorted(pkgs.values()), tmp_path / "pdf", "pdf")
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)


def test_a_fixed_package_validates_clean(packages, catalogue, at, tmp_path):
    _inbox, pkgs = packages

    def fix(unit: str, edit) -> Path:
        path = tmp_path / pkgs[unit].name
        shutil.copy(pkgs[unit], path)
        wb = openpyxl.load_workbook(path)
        edit(wb[SHEET_REPORT])
        wb.save(path)
        return path

    def ttra(ws):
        ws[at("1.2", "month")] = ws[at("1.1", "month")].value
        ws[at("4.8", "ytd")] = ws[at("4.7", "ytd")].value

    def qlcl(ws):
        ws[at("2.1", "month")] = 1
        ws[at("T3", "note")] = "Chưa hưởng ứng phong trào “Dân vận khéo” do đang xây dựng kế hoạch"

    def khtc(ws):
        ws[at("4.8", "month")] = ws[at("4.7", "month")].value
        ws[at("4.8", "ytd")] = ws[at("4.7", "ytd")].value

    for unit, edit in (("TTRA", ttra), ("QLCL", qlcl), ("KHTC", khtc)):
        fixed = fix(unit, edit)
        result = validate_file(fixed, catalogue, PERIOD)
        assert result.findings == [], (unit, [(f.code, f.cell) for f in result.findings])
        wb = openpyxl.load_workbook(fixed)
        assert wb[SHEET_REPORT].protection.sheet


def test_a_package_of_a_package_replaces_the_old_marks(packages, catalogue, tmp_path):
    _inbox, pkgs = packages
    first = pkgs["QLCL"]
    result = validate_file(first, catalogue, PERIOD)
    second = write_return_package(result, tmp_path / "again", catalogue)
    wb = openpyxl.load_workbook(second)
    assert wb.sheetnames.count(RESULT_SHEET) == 1
    for f in result.findings:
        assert wb[SHEET_REPORT][f.cell].comment.text.count(f.code) == 1


def test_fixed_cells_lose_every_old_mark_whoever_saved_the_file(packages, catalogue, at, tmp_path):
    """Round 1 marks cells; the unit fixes them in a program that blanks comment authors (LibreOffice) and drops the
    stamp's list of marks; round 2 shows only round 2's findings. The form's own comment on a target stays."""
    _inbox, pkgs = packages
    path = tmp_path / pkgs["QLCL"].name
    shutil.copy(pkgs["QLCL"], path)
    first = validate_file(pkgs["QLCL"], catalogue, PERIOD)
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_REPORT]
    for row in ws.iter_rows():  # what LibreOffice does to every comment author
        for c in row:
            if c.comment is not None:
                c.comment = Comment(c.comment.text, "")
    stamp = wb[SHEET_STAMP]
    for c in stamp["A"]:
        if c.value == MARKS_KEY:
            stamp.cell(row=c.row, column=2).value = "[]"  # a list that no longer says anything
    ws[at("2.1", "month")] = 1
    ws[at("T3", "note")] = "Chưa hưởng ứng phong trào “Dân vận khéo” do đang xây dựng kế hoạch"
    new = at("4.1", "month")
    ws[new] = 99
    wb.save(path)
    second = validate_file(path, catalogue, PERIOD)
    assert [(f.code, f.cell) for f in second.findings] == [("E-REL-PART-GT-WHOLE", new)]
    pkg = write_return_package(second, tmp_path / "round2", catalogue)
    ws = openpyxl.load_workbook(pkg)[SHEET_REPORT]
    ours = {FILLS[ERROR].fgColor.rgb[-6:], FILLS[WARNING].fgColor.rgb[-6:]}
    filled = {c.coordinate for row in ws.iter_rows() for c in row if str(c.fill.fgColor.rgb)[-6:] in ours}
    assert filled == {new}
    for f in first.findings:
        cell = ws[f.cell]
        assert str(cell.fill.fgColor.rgb)[-6:] == "FFFDE7", f.cell  # an input cell again
        assert cell.comment is None, f.cell
    target_comment = ws[at("T1", "name")].comment
    assert target_comment is not None and catalogue.target(1).text in target_comment.text


def test_strip_ours_keeps_the_units_and_the_forms_words():
    text = ("Toàn văn nội dung 1.\n\nLỗi E-TYPE-TEXT-NUMBER: Chỉ tiêu 2.1 nhập “2 buổi”.\n\n"
            "Cảnh báo W-TARGET-RATIO: chưa đạt 100%.\nGhi chú của đơn vị: Lỗi do máy")
    assert _strip_ours(text) == "Toàn văn nội dung 1.\n\nGhi chú của đơn vị: Lỗi do máy"


@pytest.mark.parametrize("fixture", ["lo-legacy.xls", "lo-form.ods"])
def test_xls_and_ods_are_read_like_the_xlsx_form(catalogue, tmp_path, fixture):
    src = tmp_path / f"ThiDua_2024-09_VP{Path(fixture).suffix}"
    shutil.copy(Path(__file__).parent / "fixtures" / fixture, src)
    clean = validate_file(src, catalogue, PERIOD)
    assert [f.code for f in clean.findings] == ["I-READ-CONVERTED"] and clean.valid


@needs_soffice
@pytest.mark.parametrize("target", ["xls:MS Excel 97", "ods"])
def test_xls_and_ods_come_back_as_a_fresh_xlsx_form_with_the_units_values(make_form, catalogue, at, tmp_path,
                                                                           target):
    """A faulty form saved as .xls/.ods by LibreOffice: its package is the unit's .xlsx form carrying the values
    read, marked; once the figure is fixed there, it validates clean with the same values."""
    faulty = make_form({at("1.2", "month"): 999}, name="src/ThiDua_2024-09_VP.xlsx")
    src = convert(faulty, tmp_path / "converted", target)[0]
    result = validate_file(src, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in result.errors} == {("E-REL-PART-GT-WHOLE", at("1.2", "month"))}
    assert "I-READ-CONVERTED" in {f.code for f in result.findings}
    pkg = write_return_package(result, tmp_path / "out", catalogue)
    assert pkg.suffix == ".xlsx" and pkg.name.startswith("ThiDua_2024-09_VP")
    wb = openpyxl.load_workbook(pkg)
    assert wb.sheetnames == [SHEET_REPORT, SHEET_GUIDE, SHEET_STAMP, RESULT_SHEET]
    cell = wb[SHEET_REPORT][at("1.2", "month")]
    assert cell.fill.fgColor.rgb.endswith("FFC7CE") and "E-REL-PART-GT-WHOLE" in cell.comment.text
    again = validate_file(pkg, catalogue, PERIOD)
    assert {(f.code, f.cell) for f in again.errors} == {(f.code, f.cell) for f in result.errors}
    assert again.submission.values() == result.submission.values()
    assert again.submission.header["preparer"].value == result.submission.header["preparer"].value


def test_unreadable_file_gets_a_findings_only_workbook(catalogue, tmp_path):
    path = tmp_path / "Báo cáo tháng 9 (TTRA).xlsx"
    path.write_bytes(b"PK\x03\x04 broken")
    result = validate_file(path, catalogue, PERIOD)
    pkg = write_return_package(result, tmp_path / "out", catalogue)
    assert pkg.name == "KetQuaKiemTra_Báo cáo tháng 9 (TTRA).xlsx"
    wb = openpyxl.load_workbook(pkg)
    assert wb.sheetnames == [RESULT_SHEET]
    assert any(c.value == "E-READ-CORRUPT" for row in wb[RESULT_SHEET].iter_rows() for c in row)


def test_owner_files_and_clean_files_get_no_package(make_form, catalogue, tmp_path):
    owner = tmp_path / "~$ThiDua_2024-09_VP.xlsx"
    owner.write_bytes(b"\0" * 165)
    assert write_return_package(validate_file(owner, catalogue, PERIOD), tmp_path / "out", catalogue) is None
    assert write_return_package(validate_file(make_form(), catalogue, PERIOD), tmp_path / "out", catalogue) is None
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_units_macros_never_come_back(make_form, catalogue, at, tmp_path):
    """A package is written (and may be opened) on the secretary's PC: it is a .xlsx without the VBA project, also
    for a .xlsm the unit sent."""
    def with_vba(name: str) -> Path:
        src = make_form({at("2.1", "month"): None}, name=f"src/{name}")
        out = tmp_path / name
        with zipfile.ZipFile(src) as a, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as b:
            for info in a.infolist():
                b.writestr(info, a.read(info.filename))
            b.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0fake project")
        return out

    xlsm = write_return_package(validate_file(with_vba("ThiDua_2024-09_VP.xlsm"), catalogue, PERIOD),
                                tmp_path / "out", catalogue)
    xlsx = write_return_package(validate_file(with_vba("ThiDua_2024-09_VP.xlsx"), catalogue, PERIOD),
                                tmp_path / "out2", catalogue)
    for package in (xlsm, xlsx):
        names = zipfile.ZipFile(package).namelist()
        assert package.suffix == ".xlsx" and "xl/vbaProject.bin" not in names
        assert "macroEnabled" not in zipfile.ZipFile(package).read("[Content_Types].xml").decode()


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win"),
        ("CON.xlsx", "tep_CON"),
        ("  .ẩn.xlsx", "ẩn"),
        ('bao<cao>:"tháng"|9?*.xlsx', "bao_cao_tháng_9"),
        ("", "tep"),
    ],
)
def test_safe_names(name, stem):
    assert safe_stem(name) == stem


def test_two_versions_of_one_report_get_two_packages_and_a_rerun_replaces_its_own(make_form, catalogue, at, tmp_path):
    first = make_form({at("2.1", "month"): "hai"}, name="ThiDua_2024-09_VP.xlsx")
    second = make_form({at("2.1", "month"): "ba"}, name="ThiDua_2024-09_VP (sửa).xlsx")
    out = tmp_path / "tra-lai"
    one = write_return_packages(validate_paths([first], catalogue, PERIOD), out, catalogue)
    two = write_return_packages(validate_paths([second], catalogue, PERIOD), out, catalogue)
    assert one[first].name == "ThiDua_2024-09_VP.xlsx" and two[second].name == "ThiDua_2024-09_VP (sửa).xlsx"
    again = write_return_packages(validate_paths([first], catalogue, PERIOD), out, catalogue)
    assert again[first] == one[first]
    assert sorted(p.name for p in out.iterdir()) == ["ThiDua_2024-09_VP (sửa).xlsx", "ThiDua_2024-09_VP.xlsx"]


def test_package_name_never_comes_from_file_content(catalogue):
    def result(unit, period, name="Biểu của tôi.xlsx"):
        return FileResult(path=Path("/in") / name, unit=unit, period=period)

    assert package_name(result("VP", "2024-09"), catalogue, True) == "ThiDua_2024-09_VP - Biểu của tôi.xlsx"
    assert package_name(result("../../x", "2024-09"), catalogue, True) == "Biểu của tôi.xlsx"
    assert package_name(result("XYZ", "2024-09"), catalogue, True) == "Biểu của tôi.xlsx"
    assert package_name(result("VP", "2024-9/../.."), catalogue, True) == "Biểu của tôi.xlsx"
    assert package_name(result("VP", "2024-09"), catalogue, False) == "KetQuaKiemTra_Biểu của tôi.xlsx"
