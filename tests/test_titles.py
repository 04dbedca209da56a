"""Collective titles at tổng kết: criteria as versioned data, per-criterion results with reasons, never a guess."""

from __future__ import annotations

import datetime as dt

import docx
import pandas as pd
import pytest
from thidua.catalogue import default_catalogue
from thidua.errors import CatalogueError
from thidua.model import ASSESSMENT_COLUMNS, ATTAINMENT_COLUMNS, VALUE_COLUMNS, PeriodData
from thidua.period import Period
from thidua.report import write_report
from thidua.report_sample import sample_period_data
from thidua.titles import (
    MET,
    NO_DATA,
    NO_DATA_PROPOSAL,
    NO_PROPOSAL,
    NOT_MET,
    STATUS_VI,
    evaluate_titles,
    load_title_rules,
)

DEC = Period(2024, 12)


@pytest.fixture(scope="module")
def cat():
    return default_catalogue()


@pytest.fixture(scope="module")
def rules(cat):
    return load_title_rules(catalogue=cat)


def unit_values(staff=20, done=20, ldtt=15, cstd=1, warned=0, unity="Có", rating="Hoàn thành xuất sắc nhiệm vụ",
                plan=12, plan_done=12, movements=2, plan_yes="Có") -> dict[tuple[str, str], object]:
    return {
        ("1.1", "month"): staff, ("1.4", "ytd"): warned, ("1.5", "ytd"): done, ("1.6", "ytd"): ldtt,
        ("1.7", "ytd"): cstd, ("1.8", "ytd"): unity, ("3.1", "ytd"): movements, ("3.2", "month"): plan_yes,
        ("3.11", "ytd"): plan, ("3.12", "ytd"): plan_done, ("3.13", "ytd"): rating,
    }


def period_data(units: dict[str, dict[tuple[str, str], object] | None]) -> PeriodData:
    """A December PeriodData with exactly the given values (None: the unit sent no valid report)."""
    rows = []
    for unit, values in units.items():
        for (code, column), value in (values or {}).items():
            rows.append((unit, code, column, value, None if value is None else str(value), None, "f.xlsx"))
    return PeriodData(
        period=DEC,
        units=list(units),
        values=pd.DataFrame(rows, columns=VALUE_COLUMNS, dtype=object),
        assessments=pd.DataFrame(columns=ASSESSMENT_COLUMNS),
        attainment=pd.DataFrame(columns=ATTAINMENT_COLUMNS),
    )


def by_code(result):
    return {c.criterion.code: c for r in result.results for c in r.criteria}


def evaluate(cat, rules, **values):
    return evaluate_titles(period_data({"VP": unit_values(**values)}), cat, rules)[0]


def test_rules_follow_the_2022_law_with_references(rules):
    """Điều 27 khoản 1 a–đ for Tập thể lao động xuất sắc, Điều 28 khoản 1 for Tập thể lao động tiên tiến; no 2013-law
    criterion (already a TTLĐTT; no discipline from cảnh cáo up) left in the higher title."""
    assert "06/2022/QH15" in rules.law and "56/2024/QĐ-UBND" in rules.decree
    xs, tt = rules.title("TTLDXS"), rules.title("TTLDTT")
    assert xs.reference.endswith("Điều 27 khoản 1") and tt.reference.endswith("Điều 28 khoản 1")
    assert [c.reference for c in xs.criteria] == [f"Điều 27 khoản 1 điểm {p}" for p in "abcdđ"]
    assert all(c.reference.startswith("Điều 28 khoản 1 điểm ") for c in tt.criteria)
    assert not any(c.check["type"] == "title_met" for c in xs.criteria)
    assert not any(c.check.get("indicator") == "1.4" for c in xs.criteria)
    assert all("cần đối chiếu" not in c.reference for t in rules.titles for c in t.criteria)


def test_each_proposal(cat, rules):
    data = period_data({
        "VP": unit_values(),
        "TTRA": unit_values(ldtt=13, rating="Hoàn thành tốt nhiệm vụ"),
        "KHTC": unit_values(ldtt=8),
        "QLCL": None,
    })
    got = {t.unit: t for t in evaluate_titles(data, cat, rules)}
    assert got["VP"].proposal == "TTLDXS"
    assert got["TTRA"].proposal == "TTLDTT"
    assert got["KHTC"].proposal is None and got["KHTC"].proposal_text == NO_PROPOSAL
    assert got["QLCL"].proposal_text == NO_DATA_PROPOSAL
    assert by_code(got["QLCL"])["XS-a"].status == NO_DATA


# One test per criterion at its threshold: (criterion, values just meeting it, values just failing it).
THRESHOLDS = [
    ("XS-a", {"rating": "Hoàn thành xuất sắc nhiệm vụ", "plan_done": 12}, {"plan_done": 11}),
    ("XS-b", {"movements": 1}, {"movements": 0}),
    ("XS-c", {"done": 20, "ldtt": 14}, {"ldtt": 13}),  # 14/20 = 70%: met; 13/20 = 65%
    ("XS-c", {"done": 20, "ldtt": 14}, {"done": 19}),  # one person not completing the tasks
    ("XS-d", {"cstd": 1}, {"cstd": 0}),
    ("XS-đ", {"unity": "Có"}, {"unity": "Không"}),
    ("TT-a", {"rating": "Hoàn thành tốt nhiệm vụ"}, {"rating": "Hoàn thành nhiệm vụ"}),
    ("TT-b", {"plan_yes": "Có"}, {"plan_yes": "Không"}),
    ("TT-c", {"ldtt": 11}, {"ldtt": 10}),  # 11/20 > 50%: met; 10/20 = 50% is not "trên 50%"
    ("TT-d", {"warned": 0}, {"warned": 1}),
    ("TT-đ", {"unity": "Có"}, {"unity": "Không"}),
]


@pytest.mark.parametrize(("code", "meets", "fails"), THRESHOLDS, ids=[f"{t[0]}-{i}" for i, t in enumerate(THRESHOLDS)])
def test_each_criterion_at_its_threshold(cat, rules, code, meets, fails):
    ok = by_code(evaluate(cat, rules, **meets))[code]
    assert ok.status == MET, ok.reason
    bad = by_code(evaluate(cat, rules, **{**meets, **fails}))[code]
    assert bad.status == NOT_MET and bad.reason
    assert ok.criterion.reference in [c.reference for t in rules.titles for c in t.criteria]


def test_xs_no_longer_needs_ttldtt_nor_a_clean_discipline_record(cat, rules):
    """Under the 2022 law a unit with one warning can still be Tập thể lao động xuất sắc (it is no longer TTLĐTT by
    criterion TT-d, but Điều 27 does not ask for it)."""
    got = evaluate(cat, rules, warned=1)
    assert got.result("TTLDXS").status == MET and got.proposal == "TTLDXS"
    assert got.result("TTLDTT").status == NOT_MET


def test_proposals_are_a_document_of_their_own(cat, tmp_path):
    data = sample_period_data(cat, DEC, late=[], missing=["QLCL"], rejected=[], short={},
                              without=[("KHTC", "1.6", "ytd")])
    files = write_report(data, cat, "tong-ket", tmp_path, report_date=dt.date(2025, 1, 8))
    report = files.report
    assert len(report.titles) == len(data.units)
    body = "\n".join(p.text for p in docx.Document(str(files.docx)).paragraphs)
    for t in report.titles:  # the report to the Khối names no unit's title
        assert f"{t.name} — " not in body
    ds = docx.Document(str(files.proposals))
    text = "\n".join(p.text for p in ds.paragraphs)
    cells = [c.text for table in ds.tables[1:] for row in table.rows for c in row.cells]
    assert "DANH SÁCH" in text and "Điều 27 khoản 1" in text and "Điều 28 khoản 1" in text
    khtc = next(t for t in report.titles if t.unit == "KHTC")
    assert by_code(khtc)["TT-c"].status == NO_DATA
    for t in report.titles:
        assert any(c.startswith(t.name) for c in cells)
        for res in t.results:
            for c in res.criteria:
                assert c.reason and any(c.criterion.reference in cell for cell in cells)
    assert STATUS_VI[NO_DATA] in cells


def test_bad_rules_are_refused(cat, tmp_path):
    bad = tmp_path / "titles.toml"
    bad.write_text(
        'version = "x"\n[messages]\nno_data = ""\nno_report = ""\ncount = ""\nratio = ""\nratio_no_base = ""\n'
        'choice = ""\nyes = ""\ntitle = ""\n[[titles]]\ncode = "A"\nname = "A"\n[[titles.criteria]]\ncode = "A1"\n'
        'text = "t"\nreference = "r"\ncheck = { type = "count_at_least", indicator = "9.9", column = "ytd", value = 1,'
        ' label = "x", requirement = "y" }\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"9\.9"):
        load_title_rules(bad, catalogue=cat)
    bad.write_text(bad.read_text(encoding="utf-8").replace("count_at_least", "guess"), encoding="utf-8")
    with pytest.raises(CatalogueError, match="phép kiểm tra"):
        load_title_rules(bad, catalogue=cat)
