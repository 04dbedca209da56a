"""Shared fixtures: the catalogue, forms generated once per session, and a helper that writes cells into a form."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.cell.cell import TYPE_STRING
from thidua.catalogue import Catalogue, default_catalogue
from thidua.form import write_forms
from thidua.layout import SHEET_REPORT, file_name
from thidua.period import Period
from thidua.samples import fill_form, sample_fill

PERIOD = Period(2024, 9)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return default_catalogue()


def write_cells(path: Path, cells: dict[str, Any], sheet: str = SHEET_REPORT) -> Path:
    """Write ``cells`` (A1 -> value) into the workbook at ``path``, in place. Strings are written as text (even one
    starting with "="); None clears a cell."""
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    for ref, value in cells.items():
        cell = ws[ref]
        cell.value = value
        if isinstance(value, str):
            cell.data_type = TYPE_STRING
    wb.save(path)
    return path


@pytest.fixture(scope="session")
def fill_cells() -> Callable[..., Path]:
    """The helper that writes a dict of cells into a form (see :func:`write_cells`)."""
    return write_cells


@pytest.fixture(scope="session")
def session_forms(tmp_path_factory, catalogue) -> Callable[..., Path]:
    """``get(unit, period, filled)``: a blank or correctly filled form, generated once per session."""
    root = tmp_path_factory.mktemp("forms")
    cache: dict[tuple[str, str, bool], Path] = {}

    def get(unit: str = "VP", period: Period = PERIOD, filled: bool = True) -> Path:
        key = (unit, str(period), filled)
        if key not in cache:
            blank_dir = root / f"blank-{period}"
            blank = blank_dir / file_name(unit, str(period))
            if not blank.exists():
                write_forms(catalogue, period, blank_dir, [unit])
            cache[(unit, str(period), False)] = blank
            if filled:
                out = root / f"filled-{period}" / file_name(unit, str(period))
                cache[key] = fill_form(blank, out, sample_fill(catalogue, catalogue.unit(unit), period))
        return cache[key]

    return get


@pytest.fixture
def make_form(tmp_path, session_forms) -> Callable[..., Path]:
    """``make(cells=None, unit="VP", period=PERIOD, filled=True, name=None)``: a copy in ``tmp_path`` of a generated
    form (correctly filled by default), with ``cells`` written into its report sheet."""

    def make(cells: dict[str, Any] | None = None, unit: str = "VP", period: Period = PERIOD, filled: bool = True,
             name: str | None = None) -> Path:
        src = session_forms(unit, period, filled)
        dst = tmp_path / (name or src.name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if cells:
            write_cells(dst, cells)
        return dst

    return make
