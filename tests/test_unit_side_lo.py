"""The unit's side, driven through LibreOffice headless with Python-UNO (tests/lo_uno.py under Debian's python3).

A form is filled as a unit would — including the wrong inputs of issue 13 — LibreOffice recalculates, the live-check
cells and the status line are read, the file is saved as .xlsx and validated: form and validator must agree on every
case. The same module runs a two-round return package (only round 2's findings may be marked) and renders pages of a
blank form, a filled form, the "Hướng dẫn" sheet and a package's "Kết quả kiểm tra" (PDF → PNG; copied to
``$THIDUA_RENDER_DIR`` when set, for a person to look at).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import unicodedata
import uuid
from pathlib import Path

import openpyxl
import pytest
from conftest import PERIOD
from thidua.findings import ERROR
from thidua.form import MSG_SEND, MSG_UNCHECKED
from thidua.layout import (
    COLUMNS,
    HEADER,
    HEADER_VALUE_COL,
    SHEET_GUIDE,
    SHEET_REPORT,
    SHEET_STAMP,
    STATUS_ROW,
    FormLayout,
    a1,
)
from thidua.office import soffice
from thidua.returnpkg import FILLS, MARKS_KEY, RESULT_SHEET, write_return_package
from thidua.validate import validate_file

HERE = Path(__file__).resolve().parent
DEBIAN_PYTHON = "/usr/bin/python3"
R = SHEET_REPORT
STATUS = a1(STATUS_ROW, HEADER_VALUE_COL)
PREPARER = a1(HEADER["preparer"][0], HEADER_VALUE_COL)
PREPARED_ON = a1(HEADER["prepared_on"][0], HEADER_VALUE_COL)
BAD = ("Chưa nhập", "Sai:", "Cần")


def _uno_available() -> str | None:
    if soffice() is None:
        return "LibreOffice (soffice) is not installed"
    if not Path(DEBIAN_PYTHON).exists():
        return f"{DEBIAN_PYTHON} is missing"
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import uno"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "python3-uno is not installed (apt-get install python3-uno; .ci/run installs it)"
    return None


_MISSING = _uno_available()
pytestmark = pytest.mark.skipif(_MISSING is not None and not os.environ.get("CI"), reason=_MISSING or "")


@pytest.fixture(scope="module")
def office():
    """A LibreOffice listening on a pipe of its own (own profile); ``drive(steps)`` runs a job, returns the reads."""
    pipe = f"thidua-{uuid.uuid4().hex[:12]}"
    profile = tempfile.mkdtemp(prefix="thidua-uno-")
    proc = subprocess.Popen([soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--invisible",
                             "--norestore", "--nolockcheck", "--nodefault", f"--accept=pipe,name={pipe};urp;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def drive(steps: list[dict]) -> list[dict]:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
            json.dump({"pipe": pipe, "steps": steps}, fh, ensure_ascii=False)
        try:
            done = subprocess.run([DEBIAN_PYTHON, str(HERE / "lo_uno.py"), fh.name], capture_output=True, text=True,
                                  timeout=300, check=False)
        finally:
            os.unlink(fh.name)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    try:
        yield drive
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def at(catalogue):
    rows = FormLayout.for_catalogue(catalogue).rows
    return lambda key, column: a1(rows[key], COLUMNS[column][0])


def check_cells(catalogue) -> dict[str, str]:
    """Key ("1.1", "T1") -> its live-check cell."""
    rows = FormLayout.for_catalogue(catalogue).rows
    return {key: a1(r, COLUMNS["check"][0]) for key, r in rows.items()}


# ----------------------------------------------------------------------------------------------------------------------
# Form and validator agree


def cases(catalogue, at) -> dict[str, list[dict]]:
    """What a unit does to a correctly filled form, as UNO steps (see lo_uno.py)."""
    rows = FormLayout.for_catalogue(catalogue).rows
    nfd = unicodedata.normalize("NFD", "Không")
    return {
        "as filled": [],
        "lower case and NFD list values": [
            {"type": [[R, at("2.3", "month"), "có"], [R, at("T1", "assessment"), "đạt"],
                      [R, at("7.3", "month"), "chưa tổ chức"]]},
            {"paste": [[R, at("3.4", "month"), nfd]]},
        ],
        "30 người pasted into a count": [{"paste": [[R, at("1.1", "month"), "30 người"]]}],
        "100% typed into a count": [{"type": [[R, at("1.2", "month"), "100%"]]},
                                    {"percent": [[R, at("1.2", "month")]]}],
        "dates typed on an English-locale PC": [
            {"type": [[R, PREPARED_ON, "20/09/2024"], [R, at("7.4", "month"), "28/06/2024"]]}],
        "month-first date pasted as text": [{"paste": [[R, at("7.4", "month"), "6/28/2024"]]}],
        "negative count": [{"type": [[R, at("2.1", "month"), "-3"]]}],
        "month larger than year to date": [{"type": [[R, at("2.1", "month"), "999"]]}],
        "Đạt while a figure falls short": [{"type": [[R, at("1.2", "month"), "1"]]}],
        "Không đạt without explanation": [{"type": [[R, at("T3", "assessment"), "Không đạt"]]},
                                          {"paste": [[R, at("T3", "note"), ""]]}],
        "value outside the list": [{"paste": [[R, at("3.5", "month"), "Có tham gia"]]}],
        "changed unit of measure": [{"paste": [[R, at("1.1", "unit"), "%"]]}],
        "text in an inserted row": [{"insert_row": [R, rows["2.1"] + 1]},
                                    {"type": [[R, a1(rows["2.1"] + 1, COLUMNS["note"][0]), "Tổ chức 2 buổi"]]}],
        "no preparer": [{"paste": [[R, PREPARER, ""]]}],
        "7.5 over 2000 characters": [{"paste": [[R, at("7.5", "month"), "Mô hình " * 260]]}],
        "date outside the year": [{"type": [[R, at("7.4", "month"), "15/10/2023"]]}],
        "formula typed into input cells": [{"type": [[R, at("2.1", "month"), "=1+1"], [R, at("T4", "note"), "=A1"]]}],
    }


def form_errors(reads: dict[str, str], checks: dict[str, str]) -> set[str]:
    return {key for key, ref in checks.items() if reads[f"{R}!{ref}"].startswith(BAD)}


def validator_errors(result) -> set[str]:
    """Rows the validator's errors are about (the row above for an inserted row: counted by the status line)."""
    return {f.indicator for f in result.errors if f.indicator and f.code != "E-STRUCT-ROW-TEXT"}


def test_form_and_validator_agree_on_every_case(office, catalogue, session_forms, at, tmp_path):
    filled = session_forms("VP", PERIOD, True)
    checks = check_cells(catalogue)
    reads = [[R, STATUS], *([R, ref] for ref in checks.values())]
    plan = cases(catalogue, at)
    steps: list[dict] = []
    saved: dict[str, Path] = {}
    for n, (name, actions) in enumerate(plan.items()):
        src, out = tmp_path / f"in-{n}.xlsx", tmp_path / f"case-{n}" / filled.name
        out.parent.mkdir()
        shutil.copyfile(filled, src)
        saved[name] = out
        steps += [{"open": str(src)}, *actions, {"recalc": True}]
        # an inserted row moves every row below it: read the cells where they now are
        shift = next((a["insert_row"][1] for a in actions if "insert_row" in a), None)
        steps.append({"read": [[s, _moved(ref, shift)] for s, ref in reads]})
        steps += [{"save": str(out)}, {"close": True}]
    answers = office(steps)
    seen = {}
    for (name, out), answer in zip(saved.items(), answers, strict=True):
        shift = next((a["insert_row"][1] for a in plan[name] if "insert_row" in a), None)
        shown = {f"{R}!{ref}": answer[f"{R}!{_moved(ref, shift)}"] for _s, ref in reads}
        status = shown[f"{R}!{STATUS}"]
        for ref, text in shown.items():  # never an Excel/LibreOffice error value, never the fallback message
            assert not text.startswith(("#", "Err:")) and text != MSG_UNCHECKED, (name, ref, text)
        result = validate_file(out, catalogue, PERIOD)
        sendable = status.startswith(MSG_SEND)
        assert sendable == (not result.errors), (name, status, [(f.code, f.cell) for f in result.errors])
        if name != "text in an inserted row":
            assert form_errors(shown, checks) == validator_errors(result), (name, status)
        else:
            assert "1 dòng chèn thêm có nội dung" in status
            assert [f.code for f in result.errors] == ["E-STRUCT-ROW-TEXT"]
        seen[name] = (status, sorted({f.code for f in result.findings}))
        print(f"{name}: {status} | {seen[name][1]} | form {sorted(form_errors(shown, checks))}")
    # the cases really are what they say: wrong where the issue says the form let them through
    assert seen["as filled"][1] == []
    assert seen["lower case and NFD list values"][1] == []
    assert seen["dates typed on an English-locale PC"][1] == []
    assert "E-TYPE-TEXT-NUMBER" in seen["30 người pasted into a count"][1]
    assert "E-TYPE-PERCENT" in seen["100% typed into a count"][1]
    assert "E-TYPE-DATE-TEXT" in seen["month-first date pasted as text"][1]
    assert "E-STRUCT-UNIT-CHANGED" in seen["changed unit of measure"][1]
    assert "E-TYPE-DATE-RANGE" in seen["date outside the year"][1]
    assert seen["formula typed into input cells"][1] == ["E-TYPE-FORMULA"]
    # list values typed in another case or form are stored as listed
    sub = validate_file(saved["lower case and NFD list values"], catalogue, PERIOD).submission
    assert sub.indicators["2.3"].month.value == "Có" and sub.targets[1].assessment.value == "Đạt"
    assert sub.indicators["3.4"].month.value == "Không" and sub.indicators["7.3"].month.value == "Chưa tổ chức"


def _moved(ref: str, inserted_at: int | None) -> str:
    """Where a cell of the form is after an empty row was inserted before zero-based row ``inserted_at``."""
    if inserted_at is None:
        return ref
    col = ref.rstrip("0123456789")
    row = int(ref[len(col):])
    return f"{col}{row + 1}" if row - 1 >= inserted_at else ref


# ----------------------------------------------------------------------------------------------------------------------
# Two rounds of return packages


def marked(path: Path) -> dict[str, str]:
    """Cells of the report sheet that carry our fill, with their comment text."""
    ws = openpyxl.load_workbook(path)[SHEET_REPORT]
    ours = {f.fgColor.rgb[-6:] for f in FILLS.values()}
    return {c.coordinate: (c.comment.text if c.comment else "") for row in ws.iter_rows() for c in row
            if c.fill is not None and c.fill.fill_type == "solid" and str(c.fill.fgColor.rgb)[-6:] in ours}


def test_two_rounds_of_return_packages_show_only_todays_findings(office, catalogue, session_forms, at, tmp_path):
    filled = session_forms("VP", PERIOD, True)
    first = [(R, at("2.1", "month"), "2 buổi"), (R, at("6.2", "ytd"), "1.234")]
    src = tmp_path / "src.xlsx"
    shutil.copyfile(filled, src)
    round1 = tmp_path / "round1" / filled.name
    round1.parent.mkdir()
    office([{"open": str(src)}, {"paste": [list(x) for x in first]},
            {"type": [[R, at("T3", "assessment"), "Không đạt"]]}, {"paste": [[R, at("T3", "note"), ""]]},
            {"recalc": True}, {"save": str(round1)}, {"close": True}])
    result1 = validate_file(round1, catalogue, PERIOD)
    cells1 = {f.cell for f in result1.errors}
    assert cells1 == {at("2.1", "month"), at("6.2", "ytd"), at("T3", "note")}
    pkg1 = write_return_package(result1, tmp_path / "pkg1", catalogue)
    assert set(marked(pkg1)) == cells1

    # The unit opens the package in LibreOffice, fixes the three cells, makes one new mistake and saves.
    round2 = tmp_path / "round2" / filled.name
    round2.parent.mkdir()
    new = at("4.1", "month")
    answers = office([{"open": str(pkg1)},
                      {"type": [[R, at("2.1", "month"), "2"], [R, at("6.2", "ytd"), "9"],
                                [R, at("T3", "note"), "Chưa tổ chức được do thiếu kinh phí"], [R, new, "99"]]},
                      {"recalc": True}, {"read": [[R, STATUS], [R, check_cells(catalogue)["4.1"]]]},
                      {"save": str(round2)}, {"close": True}])
    assert answers[0][f"{R}!{STATUS}"].startswith("Chưa gửi được: còn 1 lỗi")
    assert answers[0][f"{R}!{check_cells(catalogue)['4.1']}"] == "Sai: lớn hơn 4.2"
    saved = openpyxl.load_workbook(round2)
    assert saved[SHEET_STAMP].sheet_state == "hidden"  # what a LibreOffice save does (see the guide)
    assert all(c in marked(round2) for c in cells1)  # LibreOffice kept the old marks, comments' authors blank
    result2 = validate_file(round2, catalogue, PERIOD)
    assert [(f.code, f.cell) for f in result2.findings if f.severity == ERROR] == [("E-REL-PART-GT-WHOLE", new)]
    pkg2 = write_return_package(result2, tmp_path / "pkg2", catalogue)
    now = marked(pkg2)
    assert set(now) == {new}, now
    assert "E-REL-PART-GT-WHOLE" in now[new] and "2 buổi" not in now[new]
    wb = openpyxl.load_workbook(pkg2)
    ws = wb[SHEET_REPORT]
    for ref in cells1:  # the fixed cells are input cells again: yellow, no comment of ours
        assert str(ws[ref].fill.fgColor.rgb)[-6:] == "FFFDE7", ref
        assert ws[ref].comment is None or "Lỗi E-" not in ws[ref].comment.text, ref
    listed = {row[2] for row in wb[RESULT_SHEET].iter_rows(min_row=11, values_only=True) if row[0]}
    assert listed == {f.code for f in result2.findings}
    assert wb[SHEET_STAMP].sheet_state == "veryHidden"
    # the live checks LibreOffice re-saved are still the form's formulas (not turned into text by the package)
    assert ws[STATUS].data_type == "f" and all(ws[ref].data_type == "f" for ref in check_cells(catalogue).values())
    stamp = {r[0]: r[1] for r in wb[SHEET_STAMP].iter_rows(values_only=True)}
    assert [m["c"] for m in json.loads(stamp[MARKS_KEY])] == [new]
    assert {(f.code, f.cell) for f in validate_file(pkg2, catalogue, PERIOD).errors} == {("E-REL-PART-GT-WHOLE", new)}


# ----------------------------------------------------------------------------------------------------------------------
# Rendered pages


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_rendered_pages(office, catalogue, session_forms, make_form, at, tmp_path):
    blank, filled = session_forms("VP", PERIOD, False), session_forms("VP", PERIOD, True)
    faulty = make_form({at("2.1", "month"): "2 buổi", at("1.2", "month"): 999}, name="faulty/ThiDua_2024-09_VP.xlsx")
    pkg = write_return_package(validate_file(faulty, catalogue, PERIOD), tmp_path / "pkg", catalogue)
    pdfs = {"blank": tmp_path / "blank.pdf", "filled": tmp_path / "filled.pdf", "package": tmp_path / "package.pdf"}
    office([{"open": str(blank)}, {"recalc": True}, {"pdf": str(pdfs["blank"])}, {"close": True},
            {"open": str(filled)}, {"recalc": True}, {"pdf": str(pdfs["filled"])}, {"close": True},
            {"open": str(pkg)}, {"recalc": True}, {"pdf": str(pdfs["package"])}, {"close": True}])
    text = {k: _pdf_text(p) for k, p in pdfs.items()}
    assert "NGƯỜI LẬP BIỂU" in text["filled"] and "THỦ TRƯỞNG ĐƠN VỊ" in text["filled"]
    assert "Biểu đã đủ số liệu, có thể gửi" in text["filled"]
    assert "Chưa gửi được" in text["blank"]
    guide_end = "biểu sẽ bị trả lại."  # the end of the longest guide paragraph: nothing cut at the right edge
    assert guide_end in text["blank"].replace("\n", " ") or "bị trả lại" in text["blank"]
    assert "KẾT QUẢ KIỂM TRA" in text["package"] and "E-TYPE-TEXT-NUMBER" in text["package"]
    pages = tmp_path / "png"
    pages.mkdir()
    for name, pdf in pdfs.items():
        subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(pages / name)], check=True)
    pngs = sorted(pages.glob("*.png"))
    assert len(pngs) >= 6
    target = os.environ.get("THIDUA_RENDER_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for p in [*pngs, *pdfs.values()]:
            shutil.copy(p, Path(target) / p.name)
    assert {SHEET_GUIDE} <= set(openpyxl.load_workbook(blank).sheetnames)
