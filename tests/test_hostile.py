"""Hostile and broken inputs (issue 7): each case of the corpus gets its clear finding and the batch goes on."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import unicodedata
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import PERIOD
from hostile import CASES, DANGEROUS_NOTES, Corpus
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from thidua import sheetxml
from thidua.package import CHUNK, _quick_extent, inspect_package, sheet_extent
from thidua.validate import validate_file, validate_paths

GOOD = "ThiDua_2024-09_TTRA.xlsx"


@pytest.fixture(scope="module")
def corpus(catalogue, session_forms) -> Corpus:
    return Corpus(catalogue, session_forms, PERIOD)


def findings_by_file(results) -> dict[str, set[tuple[str, str | None]]]:
    return {unicodedata.normalize("NFC", r.path.name): {(f.code, f.cell) for f in r.findings} for r in results}


def assert_expected(name: str, got: set[tuple[str, str | None]], want: set[tuple[str, str | None]]) -> None:
    """The codes are exactly the expected ones (one clear finding, no cascade); each expected cell is named."""
    assert {code for code, _ in got} == {code for code, _ in want}, (name, got)
    for code, cell in want:
        if cell is not None:
            assert (code, cell) in got, (name, code, cell, got)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_input_gets_its_finding_and_the_batch_goes_on(case, corpus, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    good = corpus.form("TTRA", PERIOD)
    (folder / GOOD).write_bytes(good.read_bytes())
    expected = case.build(corpus, folder)
    results = validate_paths([folder], corpus.catalogue, PERIOD)
    got = findings_by_file(results)
    assert got[GOOD] == set(), "the good file of the batch must still be read and valid"
    for name, want in expected.items():
        key = unicodedata.normalize("NFC", name)
        assert_expected(case.name, got[key], want)
        result = next(r for r in results if unicodedata.normalize("NFC", r.path.name) == key)
        assert result.valid == case.valid, (case.name, [f.message for f in result.errors])
        for f in result.findings:  # Vietnamese, NFC, says something
            assert f.message and unicodedata.is_normalized("NFC", f.message)


def test_formula_like_notes_are_read_as_the_text_typed(corpus, tmp_path):
    case = next(c for c in CASES if c.name == "formula-like-notes")
    case.build(corpus, tmp_path)
    [result] = validate_paths([tmp_path], corpus.catalogue, PERIOD)
    notes = [e.note.value for e in result.submission.indicators.values() if e.note is not None and e.note.value]
    assert sorted(notes) == sorted(DANGEROUS_NOTES)


def test_a_unit_macro_workbook_is_read_and_its_macro_is_really_there(corpus, tmp_path):
    oletools = pytest.importorskip("oletools.olevba", reason="olevba (oletools, a test dependency) reads VBA projects")
    case = next(c for c in CASES if c.name == "macro-xlsm")
    [name] = case.build(corpus, tmp_path)
    [result] = validate_paths([tmp_path], corpus.catalogue, PERIOD)
    clean = validate_paths([corpus.form("QLCL", PERIOD)], corpus.catalogue, PERIOD)[0]
    assert result.submission.values() == clean.submission.values()
    parser = oletools.VBA_Parser(str(tmp_path / name))
    code = "".join(src for *_rest, src in parser.extract_macros())
    assert "Workbook_Open" in code and "Shell" in code  # a real macro: read around, never run


def test_every_result_crosses_between_processes_unchanged(corpus, tmp_path):
    """A validator's process sends each result pickled, its cells as the ledger's rows (Submission.__reduce__): for
    every hostile file (formulas, percentages, dates, text in number cells, moved rows, other formats…) the result
    that arrives equals the one sent, and the rows the ledger takes from it are those made from its cells."""
    import pickle

    from thidua.ledger import _value_rows
    from thidua.reader import Submission, _pack, stored_rows

    results = []
    for case in CASES:
        folder = tmp_path / case.name
        folder.mkdir()
        case.build(corpus, folder)
        results += validate_paths([folder], corpus.catalogue, PERIOD, workers=1)
    subs = [r.submission for r in results if isinstance(r.submission, Submission)]
    assert sum(1 for s in subs if s.indicators) > 15 and any(not s.indicators for s in subs)
    # every way a cell travels (by its row, by its fields, an empty note by its address, none) is among them
    kinds = {type(spec).__name__ for s in subs for entry in _pack(s)[1] for spec in entry[3:]}
    assert kinds == {"int", "tuple", "str", "NoneType"}, kinds
    assert any(isinstance(spec, tuple) and spec[4] for s in subs for entry in _pack(s)[1] for spec in entry[3:])
    carried = 0
    for res in results:
        got = pickle.loads(pickle.dumps(res, pickle.HIGHEST_PROTOCOL))
        if res.submission is not None:
            assert pickle.loads(pickle.dumps(res.submission)).indicators == res.submission.indicators
            rows = _value_rows(7, got, "U", "P")  # taken as carried, before the entries are made again
            assert rows == _value_rows(7, res, "U", "P"), res.path.name
            carried += len(rows)
        assert got == res, res.path.name
    assert carried > 1000
    # The cells are made again on first use; from then on the rows are made from them (they may change)
    sub = pickle.loads(pickle.dumps(next(s for s in subs if s.indicators)))
    entry = next(e for e in sub.indicators.values() if e.ytd is not None)
    entry.ytd.value, entry.ytd.raw = 4321, "4321"
    assert (entry.code, "ytd", "4321", "int", "4321", entry.ytd.cell) in stored_rows(sub)


def test_the_whole_corpus_in_one_batch_from_the_command_line(corpus, tmp_path):
    """Every hostile file in one folder: `thidua validate --json` and `thidua consolidate` finish, say what is wrong
    with each file and take in the good ones."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    expected: dict[str, set] = {}
    for case in CASES:
        if case.name == "duplicates":
            continue  # its KHTC copies would make the other cases' files duplicates too; covered on its own
        sub = tmp_path / "cases" / case.name
        sub.mkdir(parents=True)
        for name, want in case.build(corpus, sub).items():
            target = folder / f"{case.name}__{name}" if not name.startswith("~$") else folder / name
            (sub / name).rename(target)
            expected[unicodedata.normalize("NFC", target.name)] = want
    (folder / GOOD).write_bytes(corpus.form("TTRA", PERIOD).read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    run = subprocess.run([sys.executable, "-m", "thidua", "validate", str(folder), "--period", "2024-09", "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = json.loads(run.stdout)
    files = {unicodedata.normalize("NFC", Path(f["path"]).name): f for f in report["files"]}
    assert len(files) == len(expected) + 1
    for name, want in expected.items():
        codes = {x["code"] for x in files[name]["findings"]}
        wanted = {code for code, _ in want}
        # names were prefixed with the case name: the file-name checks may add their own finding
        assert wanted <= codes, (name, codes)
    assert files[GOOD]["findings"] == []
    out = tmp_path / "tong-hop.xlsx"
    run = subprocess.run([sys.executable, "-m", "thidua", "consolidate", str(folder), "--period", "2024-09",
                          "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stdout + run.stderr
    assert out.exists()


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys, time
    sys.path[:0] = [{tests!r}]
    from conftest import PERIOD
    from thidua.reader import read_submission
    start = time.perf_counter()
    sub = read_submission({path!r})
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print([p.code for p in sub.problems], round(took, 3), peak)
""")


@pytest.mark.parametrize("name", ["zip-bomb-declared", "zip-bomb-lying", "xml-entity-bomb", "far-cell"])
def test_bombs_are_refused_within_bounded_time_and_memory(name, corpus, tmp_path):
    """Each bomb is read in a fresh process under a 1 GiB address-space limit (the bombs inflate to 1 GiB or more, or
    ask for a 17-billion-cell grid) and must finish within 60 s; the time and peak memory are printed."""
    case = next(c for c in CASES if c.name == name)
    [file] = case.build(corpus, tmp_path)
    script = BOMB_SCRIPT.format(tests=str(Path(__file__).parent), path=str(tmp_path / file))

    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         preexec_fn=limit)
    assert run.returncode == 0, run.stderr[-2000:]
    codes, took, peak = run.stdout.strip().rsplit(" ", 2)
    print(f"{name}: {codes} in {took} s, peak {peak} MB")
    assert "zip_bomb" in codes or "xml_dtd" in codes or "sheet_too_big" in codes


# ----------------------------------------------------------------------------------------------------------------------
# The package checks themselves


def test_a_far_styled_cell_without_a_value_is_not_refused(corpus):
    """Formatting far from the table creates cells without values, which python-calamine leaves out: such a sheet is
    measured cell by cell and accepted."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.load_workbook(io.BytesIO(corpus.bytes_of()))
    wb["Báo cáo"]["XFD1048576"].font = Font(bold=True)
    out = io.BytesIO()
    wb.save(out)
    check = inspect_package(out.getvalue())
    assert check.ok, check.problems


def test_a_lying_header_stops_inflation_at_the_declared_size(corpus):
    import hostile

    data = hostile._lying_bomb(corpus)
    check = inspect_package(data)
    assert [p.code for p in check.problems] == ["zip_bomb"]
    assert "kích thước khai báo" in check.problems[0].detail
    # the sheet declares 60,000 bytes: inflation stopped one chunk past it, not at 1 GiB
    assert check.inflated <= sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()) + CHUNK


def test_the_budget_bounds_the_whole_file_not_only_each_part(corpus):
    data = corpus.bytes_of()
    total = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert inspect_package(data).ok
    check = inspect_package(data, budget=total - 1)
    assert [p.code for p in check.problems] == ["zip_bomb"] and check.inflated < total


def test_openpyxl_parses_unit_files_with_defusedxml(corpus, monkeypatch):
    """Behind the DTD check: openpyxl itself refuses the entity bomb, because defusedxml is installed and used."""
    import hostile
    import openpyxl
    from defusedxml import DefusedXmlException
    from thidua.errors import ThiDuaError
    from thidua.package import require_defusedxml

    with pytest.raises(ValueError) as refused:  # openpyxl wraps the parser's exception
        openpyxl.load_workbook(io.BytesIO(hostile._entity_bomb(corpus)))
    assert isinstance(refused.value.__cause__, DefusedXmlException), repr(refused.value.__cause__)
    require_defusedxml()
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(ThiDuaError):
        require_defusedxml()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.dictionaries(st.tuples(st.integers(1, 300), st.integers(1, 60)),
                             st.one_of(st.none(), st.integers(-5, 5), st.text("ab =\u0111", max_size=3)), min_size=1,
                             max_size=25))
def test_sheet_extent_is_the_grid_calamine_builds(cells, tmp_path_factory):
    """The extent measured from the XML equals the size of the grid python-calamine returns (None: a styled empty
    cell, which calamine leaves out)."""
    import openpyxl
    import python_calamine
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    for (row, col), value in cells.items():
        cell = ws.cell(row=row, column=col)
        if value is None or value == "":
            cell.font = Font(bold=True)
        else:
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"
    path = tmp_path_factory.mktemp("extent") / "x.xlsx"
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml")
    rows, cols, far = sheet_extent(xml)
    for _ in range(3):  # the fast path's scan agrees, also from the rows it keeps (seen twice)
        found = sheetxml.scan(xml)
        assert found is None or (found.rows, found.cols, found.far) == (rows, cols, far)
    quick = _quick_extent(xml)  # the fast upper bound, when it applies, is never below the grid
    assert quick is None or (quick[0] >= rows and quick[1] >= cols)
    grid = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(
        skip_empty_area=False)
    assert (rows, cols) == (len(grid), max((len(r) for r in grid), default=0))


# ----------------------------------------------------------------------------------------------------------------------
# Fuzzing the reader and the validator with hostile packages

MUTATIONS = st.sampled_from([
    b'<c r="XFD1048576"><v>1</v></c>', b'<c r="A99999999"><v>1</v></c>', b"<c><v>1</v></c>", b'<row r="0">',
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;", b"<f>1+1</f>", b"<v>1e308</v>", b"<v>-1e308</v>", b'<c t="d"><v>x</v>',
    b"\x00", b"\xff\xfe", b"</sheetData>", b'<mergeCell ref="A1:XFD1048576"/>', b'r="', b"<is><t>=cmd|'x'!A0</t></is>",
])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_packages_never_crash_the_reader_or_the_validator(corpus, tmp_path_factory, data):
    """Structured fuzzing: members dropped, XML spliced with hostile fragments, sizes and methods lied about. Reading
    and validation never raise, and whatever is read stays within the bounds (checked by the reader)."""
    import hostile

    parts = hostile.members(corpus.bytes_of())
    entries = []
    for name, payload in parts:
        action = data.draw(st.sampled_from(["keep"] * 12 + ["drop", "splice", "splice", "lie", "store"]), label=name)
        if action == "drop":
            continue
        if action == "splice" and payload:
            at = data.draw(st.integers(0, len(payload)), label="at")
            payload = payload[:at] + data.draw(MUTATIONS, label="insert") + payload[at:]
        if action == "store":
            entries.append((name, payload, 0, zlib.crc32(payload), len(payload)))
            continue
        size = len(payload)
        if action == "lie":
            size = data.draw(st.sampled_from([0, 1, size // 2, size * 3, 1 << 31]), label="size")
        entries.append((name, hostile.deflate(payload), 8, zlib.crc32(payload), size))
    path = tmp_path_factory.mktemp("fuzz") / "ThiDua_2024-09_VP.xlsx"
    path.write_bytes(hostile.raw_zip(entries))
    result = validate_file(path, corpus.catalogue, PERIOD)
    event("read" if result.submission is not None and result.submission.readable else "refused")
    assert result.findings or result.valid
    for f in result.findings:
        assert f.message and f.code


@pytest.mark.parametrize("name", ["zip-bomb-lying", "xml-entity-bomb", "far-cell", "encrypted"])
def test_an_appendix_from_another_department_gets_the_same_package_checks(name, corpus, tmp_path):
    """The Khối roll-up reads other departments' appendices: a bomb there is a finding too, never a crash."""
    from thidua.appendix import read_appendix

    case = next(c for c in CASES if c.name == name)
    [file] = case.build(corpus, tmp_path)
    result = read_appendix(tmp_path / file)
    assert [f.code for f in result.findings] == ["E-PHULUC-UNREADABLE"]
    assert result.rows == [] and not result.ok
    assert "Không đọc được tệp phụ lục" in result.findings[0].message
