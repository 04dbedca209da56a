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


def test_rules_are_versioned_data_with_references(rules):
    assert rules.version and rules.law.startswith("Luật Thi đua, khen thưởng số 06/2022/QH15")
    assert [t.code for t in rules.titles] == ["TTLDTT", "TTLDXS"]
    assert [t.name for t in rules.titles] == ["Tập thể lao động tiên tiến", "Tập thể lao động xuất sắc"]
    for title in rules.titles:
        for crit in title.criteria:
            # Article numbers of the 2022 law were not verified: the reference says so instead of inventing one.
            assert crit.reference and "cần đối chiếu" in crit.reference
    texts = " ".join(c.text for t in rules.titles for c in t.criteria)
    for phrase in ("trên 50%", "ít nhất 70%", "Chiến sĩ thi đua cơ sở", "cảnh cáo trở lên", "Nội bộ đoàn kết"):
        assert phrase in texts


def test_each_proposal(cat, rules):
    data = period_data({
        "VP": unit_values(),                                   # everything: Tập thể lao động xuất sắc
        "TTRA": unit_values(ldtt=12, rating="Hoàn thành tốt nhiệm vụ"),  # 60%: tiên tiến only
        "KHTC": unit_values(warned=1),                         # a warning-level discipline: nothing
        "QLVT": {**unit_values(), ("1.6", "ytd"): None},       # LĐTT not filled in: not enough data
        "TTSH": None,                                          # no valid December report
    })
    results = {t.unit: t for t in evaluate_titles(data, cat, rules)}
    assert results["VP"].proposal == "TTLDXS" and results["VP"].proposal_text == "Tập thể lao động xuất sắc"
    assert all(c.status == MET for c in by_code(results["VP"]).values())

    t = results["TTRA"]
    assert t.proposal == "TTLDTT"
    crit = by_code(t)
    assert crit["TT3"].status == MET and "12/20" in crit["TT3"].reason and "60%" in crit["TT3"].reason
    assert crit["XS2"].status == NOT_MET and "Hoàn thành tốt nhiệm vụ" in crit["XS2"].reason
    assert crit["XS4"].status == NOT_MET and "ít nhất 70%" in crit["XS4"].reason

    t = results["KHTC"]
    assert t.proposal is None and t.proposal_text == NO_PROPOSAL
    assert by_code(t)["TT4"].status == NOT_MET and "1 người bị kỷ luật" in by_code(t)["TT4"].reason

    t = results["QLVT"]
    crit = by_code(t)
    assert crit["TT3"].status == NO_DATA and "1.6" in crit["TT3"].reason
    assert STATUS_VI[crit["TT3"].status] == "Chưa đủ dữ liệu"
    assert crit["TT1"].status == MET  # the other criteria are still judged
    assert t.result("TTLDTT").status == NO_DATA and t.proposal is None and t.proposal_text == NO_DATA_PROPOSAL

    t = results["TTSH"]
    assert all(c.status == NO_DATA and "chưa có báo cáo hợp lệ" in c.reason
               for c in by_code(t).values() if c.criterion.code != "XS1")
    assert t.proposal_text == NO_DATA_PROPOSAL


@pytest.mark.parametrize(("ldtt", "tt3", "xs4"), [(10, NOT_MET, NOT_MET), (11, MET, NOT_MET), (14, MET, MET)])
def test_thresholds(cat, rules, ldtt, tt3, xs4):
    """Exactly 50% is not “trên 50%”; exactly 70% is “ít nhất 70%”."""
    data = period_data({"VP": unit_values(staff=20, ldtt=ldtt)})
    crit = by_code(evaluate_titles(data, cat, rules)[0])
    assert (crit["TT3"].status, crit["XS4"].status) == (tt3, xs4)


def test_higher_title_without_data_is_noted(cat, rules):
    data = period_data({"VP": {**unit_values(), ("1.7", "ytd"): None}})
    t = evaluate_titles(data, cat, rules)[0]
    assert t.proposal == "TTLDTT"
    assert "chưa đủ dữ liệu" in t.note and "Tập thể lao động xuất sắc" in t.note


def test_tong_ket_on_a_year_of_generated_data(cat, tmp_path):
    """A year-end report on generated data: every unit, every criterion, a status and a reason; a unit lacking data
    gets “Chưa đủ dữ liệu” in the report."""
    data = sample_period_data(cat, DEC, late=[], missing=["QLCL"], rejected=[], short={},
                              without=[("KHTC", "1.6", "ytd")])
    files = write_report(data, cat, "tong-ket", tmp_path, report_date=dt.date(2025, 1, 8))
    report = files.report
    assert report.subject == "Tổng kết phong trào thi đua năm 2024"
    assert len(report.titles) == len(data.units)
    for unit in report.titles:
        assert len(unit.results) == 2
        for res in unit.results:
            for c in res.criteria:
                assert c.status in (MET, NOT_MET, NO_DATA) and c.reason
    khtc = next(t for t in report.titles if t.unit == "KHTC")
    assert by_code(khtc)["TT3"].status == NO_DATA
    document = docx.Document(str(files.docx))
    texts = [p.text for p in document.paragraphs]
    assert "Đề xuất danh hiệu thi đua tập thể năm 2024" in texts
    assert any(t.startswith("- Chưa đủ dữ liệu để đề xuất:") and "Phòng Kế hoạch - Tài chính" in t
               and "Phòng Quản lý chất lượng công trình giao thông" in t for t in texts)
    appendix = next(t for t in document.tables if t.cell(0, 0).text == "STT")
    rows = [[c.text for c in r.cells] for r in appendix.rows]
    khtc_rows = rows[next(i for i, r in enumerate(rows) if "Phòng Kế hoạch - Tài chính — đề xuất" in r[1]):]
    tt3 = next(r for r in khtc_rows if r[2].startswith("TT3."))
    assert tt3[3] == "Chưa đủ dữ liệu" and "1.6" in tt3[4]
    # Year-to-date figures for the whole year are in the text.
    assert any("Trong năm đã giải quyết" in t for t in texts)


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
