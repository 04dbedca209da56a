"""The catalogue as data: the shipped files load, and every kind of mistake is refused with a clear message."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from thidua.catalogue import RULES, load_catalogue
from thidua.cli import app
from thidua.errors import CatalogueError

DATA = resources.files("thidua") / "data"
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "ke-hoach-phat-dong-thi-dua-2024.txt"


def test_shipped_catalogue_loads():
    cat = load_catalogue()
    assert [t.number for t in cat.targets] == [1, 2, 3, 4, 5, 6, 7]
    assert len(cat.units) >= 8
    assert all(t.indicators for t in cat.targets)
    # every "100%" target names its whole, and every target has at least one required indicator
    for ind in cat.indicators:
        if ind.target == "100%":
            assert ind.rules["numerator_of"] in {i.code for i in cat.indicators}
    assert all(any(i.required for i in t.indicators) for t in cat.targets)
    org = cat.organisation(dt.date(2024, 9, 5))
    assert org.parent_body == "UBND TỈNH KON TUM" and org.doc_code == "SGTVT"
    assert org.recipients[0].startswith("Sở Xây dựng")
    assert org.deadline(2024, 9) == dt.date(2024, 9, 25)


def test_catalogue_text_is_nfc_and_matches_the_plan():
    cat = load_catalogue()
    for t in cat.targets:
        assert unicodedata.is_normalized("NFC", t.text)
        assert t.text.startswith("100%")
    if SEED.exists():  # the plan beside the repository: each target's text is the plan's item, word for word
        plan = " ".join(SEED.read_text(encoding="utf-8").replace("*", "").split())
        for t in cat.targets:
            assert " ".join(t.text.split()) in plan, f"target {t.number} differs from the plan"


def test_no_organisation_for_a_date_outside_every_entry():
    with pytest.raises(CatalogueError, match="không có cấu hình cơ quan"):
        load_catalogue().organisation(dt.date(2026, 1, 1))


def _broken(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = (DATA / "catalogue.toml").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "catalogue.toml"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


CASES = [
    ('code = "1.2"', 'code = "1.1"', "chỉ tiêu 1.1", "trùng"),
    ('rules = { max = "1.3" }', 'rules = { maximum = "1.3" }', "chỉ tiêu 1.4", "quy tắc “maximum” không tồn tại"),
    ('rules = { max = "1.3" }', 'rules = { max = "1.9" }', "chỉ tiêu 1.4", "không tồn tại “1.9”"),
    ('rules = { sum_of = ["4.4", "4.6"] }', 'rules = { sum_of = ["4.4", "4.66"] }', "chỉ tiêu 4.3", "“4.66”"),
    ('kind = "count"', 'kind = "percent"', "chỉ tiêu 1.1", "“percent”"),
    ('periods = ["month"]', 'periods = ["quarter"]', "chỉ tiêu 1.1", "periods"),
    ('rules = { target = 0 }', 'rules = { target = "50%" }', "chỉ tiêu 5.3", "mục tiêu"),
    ('code = "2.1"', 'code = "3.1"', "chỉ tiêu 3.1", "dạng “2.<số>”"),
    ('name = "Số buổi tuyên truyền, quán triệt đã tổ chức"\n', "", "chỉ tiêu 2.1", "thiếu trường “name”"),
    ("number = 2\n", "number = 9\n", "nội dung 9", "liên tục"),
    ('[catalogue]', '[catalogue', "(cú pháp)", "TOML"),
]


@pytest.mark.parametrize(("old", "new", "entry", "problem"), CASES)
def test_broken_catalogue_is_refused_with_file_and_entry(tmp_path, old, new, entry, problem):
    path = _broken(tmp_path, old, new)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    message = info.value.message
    assert str(path) in message
    assert entry in message
    assert problem in message


def test_broken_units_and_organisation(tmp_path):
    units = tmp_path / "units.toml"
    units.write_text('[[units]]\ncode = "VP"\nname = "A"\n[[units]]\ncode = "VP"\nname = "B"\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"đơn vị VP.*trùng"):
        load_catalogue(units=units)
    org = tmp_path / "org.toml"
    text = (DATA / "organisation.toml").read_text(encoding="utf-8")
    second = text[text.index("\n[[organisation]]"):].replace("valid_from = 2024-01-01", "valid_from = 2025-01-01")
    org.write_text(text + "\n" + second, encoding="utf-8")
    with pytest.raises(CatalogueError, match="chồng lấn"):
        load_catalogue(organisation=org)


def test_cli_reports_a_broken_catalogue_without_traceback(tmp_path):
    path = _broken(tmp_path, 'rules = { max = "1.3" }', 'rules = { max = "9.9" }')
    result = CliRunner().invoke(app, ["form", "--period", "2024-09", "--out", str(tmp_path / "f"),
                                      "--catalogue", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert re.search(r"Lỗi:.*chỉ tiêu 1\.4.*“9\.9”", " ".join(result.output.split()))


def test_rule_vocabulary_is_documented_in_the_catalogue():
    header = (DATA / "catalogue.toml").read_text(encoding="utf-8").split("[catalogue]")[0]
    for name in RULES:
        assert name in header
