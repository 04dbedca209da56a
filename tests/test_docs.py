"""The hostile-input table in docs/hostile-inputs.md stays in step with the corpus and the rule registry."""

from __future__ import annotations

import re
from pathlib import Path

from hostile import CASES
from thidua.rules import CODES

DOC = Path(__file__).resolve().parents[1] / "docs" / "hostile-inputs.md"


def table_rows() -> dict[str, str]:
    """The rows of the first table (the corpus), by case name."""
    rows = {}
    first_table = DOC.read_text(encoding="utf-8").split("\n## ")[0]
    for line in first_table.splitlines():
        m = re.match(r"^\| `([^`]+)` \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_every_corpus_case_has_a_row_and_every_row_a_case():
    assert set(table_rows()) == {c.name for c in CASES}


def test_every_code_the_table_names_exists():
    codes = set(re.findall(r"`([EWI]-[A-Z0-9-]+)`", DOC.read_text(encoding="utf-8")))
    assert codes and codes <= set(CODES), codes - set(CODES)
