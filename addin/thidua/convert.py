"""Read a form a unit saved as .xls (Excel 97-2003) or .ods (OpenDocument) into the same :class:`Submission`.

A separate path beside the .xlsx reader (:mod:`thidua.reader`), called from its dispatch for these two formats only.
python-calamine reads both; the cells are then located and typed exactly as for a .xlsx form (the reader's own
functions), and the submission carries a ``converted`` problem that the validator turns into an information finding.
What cannot be told from these formats is said so in that finding: whether an input cell holds a formula (calamine
gives cached values only) and a cell's number format (a "100%" typed into a count cell reads as 1).

Before calamine parses an .ods, every member of its zip is inflated under the same budget and DTD refusal as an
.xlsx (:mod:`thidua.package`). A .xls is an OLE compound file of at most 20 MB (the reader's size limit): its sheets
are bounded by the format itself (65,536 × 256 cells).
"""

from __future__ import annotations

import io
import zipfile
import zlib

import python_calamine

from . import package
from .catalogue import Catalogue
from .reader import (
    ReadProblem,
    Submission,
    _read_report,
    find_report_sheet,
    finish_submission,
    nfc,
)

#: The read problems this path takes over, and the format each stands for.
CONVERTIBLE = {"legacy_xls": "xls", "ods": "ods"}


def check_ods(data: bytes, budget: int = package.MAX_UNCOMPRESSED_BYTES) -> package.Problem | None:
    """Inflate every member of an .ods under the package budget and refuse a DTD; the problem, or None when safe."""
    check = package.PackageCheck()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        package._check_directory(infos, budget)
        for info in infos:
            package._inflate(data, info, check, budget)
    except package._Refused as exc:
        return package.Problem(exc.code, exc.detail)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, zlib.error,
            NotImplementedError) as exc:
        return package.Problem("zip_corrupt", f"{type(exc).__name__}: {exc}")
    return None


def read_converted(sub: Submission, data: bytes, problem: ReadProblem, cat: Catalogue) -> None:
    """Read a .xls or .ods file into ``sub`` in place of the reader's ``problem`` (``legacy_xls`` or ``ods``). On
    failure the problem stays, with the reason as its detail, and the validator says how to save as .xlsx."""
    fmt = CONVERTIBLE[problem.code]
    if fmt == "ods":
        refused = check_ods(data)
        if refused is not None:
            sub.problems.remove(problem)
            sub.problems.append(ReadProblem(refused.code, refused.detail))
            return
    try:
        _read(sub, data, cat)
    except BaseException as exc:  # calamine's own errors and Rust panics (pyo3 PanicException is a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        sub.sheet, sub.stamp, sub.stamp_ok = None, None, False
        sub.header.clear()
        sub.indicators.clear()
        sub.targets.clear()
        sub.problems[:] = [problem]
        problem.detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        return
    sub.problems.remove(problem)
    sub.problems.insert(0, ReadProblem("converted", fmt))


def _read(sub: Submission, data: bytes, cat: Catalogue) -> None:
    wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    names = {nfc(n): n for n in wb.sheet_names}
    sheet_name = find_report_sheet(sub, wb, names)
    if sheet_name is None:
        return
    rows = wb.get_sheet_by_name(names[sheet_name]).to_python(skip_empty_area=False)
    sub.sheet = sheet_name
    finish_submission(sub, rows, cat, header=_read_report(sub, rows, {}, cat))


__all__ = ["CONVERTIBLE", "check_ods", "read_converted"]
