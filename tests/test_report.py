"""The sơ kết / tổng kết report (.docx): format of Nghị định 30/2020/NĐ-CP, organisation data from the dated
configuration, every figure in the text equal to the value computed from the PeriodData, PDF through LibreOffice."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner
from docx.shared import Mm, Pt
from thidua import report as report_mod
from thidua.catalogue import default_catalogue, load_catalogue
from thidua.cli import app
from thidua.errors import ThiDuaError
from thidua.model import LATE, MISSING, ON_TIME, REJECTED, PeriodData
from thidua.period import Period
from thidua.report import build_report, default_report_date, write_report
from thidua.report_sample import sample_period_data
from thidua.report_text import date_line, date_parts, fmt_pct, load_wording

FONT = "Times New Roman"
PERIOD = Period(2024, 9)
DATE = dt.date(2024, 9, 5)
SHORT = {
    ("QLVT", 4): "Một số hồ sơ phải lấy ý kiến cơ quan phối hợp nên giải quyết quá hạn",
    ("TTDK", 2): "Đơn vị thiếu nhân lực\x07 do cán bộ đi học,\nchưa tổ chức đủ các buổi tuyên truyền",
}
W = r"[\d.]+"  # a Vietnamese integer: 1.234


def make_data(cat=None, period: Period = PERIOD, n_units: int | None = None, **kw) -> PeriodData:
    """A PeriodData for ``n_units`` units (default all) of ``period``: TTRA late, QLCL missing, TTSH rejected."""
    cat = cat or default_catalogue()
    units = [u.code for u in cat.units][: n_units or None]
    kw.setdefault("late", [u for u in ("TTRA",) if u in units])
    kw.setdefault("missing", [u for u in ("QLCL",) if u in units])
    kw.setdefault("rejected", [u for u in ("TTSH",) if u in units])
    kw.setdefault("short", {k: v for k, v in SHORT.items() if k[0] in units})
    return sample_period_data(cat, period, units, **kw)


@pytest.fixture(scope="module")
def cat():
    return default_catalogue()


@pytest.fixture(scope="module")
def data(cat):
    return make_data(cat)


@pytest.fixture(scope="module")
def files(cat, data, tmp_path_factory):
    return write_report(data, cat, "so-ket", tmp_path_factory.mktemp("report"), report_date=DATE)


@pytest.fixture(scope="module")
def document(files):
    return docx.Document(str(files.docx))


def paragraphs(document) -> list[str]:
    return [p.text for p in document.paragraphs]


def all_runs(document):
    """Every run of the body, of table cells (nested) and of every header and footer."""
    def from_paragraphs(paras):
        for p in paras:
            yield from p.runs

    def from_tables(tables):
        for t in tables:
            for row in t.rows:
                for cell in row.cells:
                    yield from from_paragraphs(cell.paragraphs)
                    yield from from_tables(cell.tables)

    yield from from_paragraphs(document.paragraphs)
    yield from from_tables(document.tables)
    for section in document.sections:
        for part in (section.header, section.first_page_header, section.footer, section.first_page_footer):
            yield from from_paragraphs(part.paragraphs)


def total(data: PeriodData, code: str, column: str) -> int:
    v = data.values
    sel = v[(v["code"] == code) & (v["column"] == column)]["value"]
    return sum(x for x in sel if isinstance(x, int) and not isinstance(x, bool))


def yes_count(data: PeriodData, code: str, column: str = "month", first: str | None = None) -> int:
    v = data.values
    sel = v[(v["code"] == code) & (v["column"] == column)]["value"]
    if first is None:
        return sum(1 for x in sel if x == "Có")
    return sum(1 for x in sel if x not in (None, "") and x != first)


def num(text: str) -> int:
    return int(text.replace(".", ""))


def pct_text(part: int, whole: int) -> str:
    return fmt_pct(100.0 if whole == 0 else 100.0 * part / whole)


# ----------------------------------------------------------------------------------------------------------------------
# Date line


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2024, 9, 5), ("05", "9", "2024")),
        (dt.date(2024, 1, 5), ("05", "01", "2024")),
        (dt.date(2024, 2, 29), ("29", "02", "2024")),
        (dt.date(2024, 10, 9), ("09", "10", "2024")),
        (dt.date(2024, 12, 15), ("15", "12", "2024")),
        (dt.date(2024, 3, 10), ("10", "3", "2024")),
    ],
)
def test_date_parts_follow_the_decree(day, expected):
    """Day < 10 and the months 1 and 2 get a leading zero; months 3 to 12 do not."""
    assert date_parts(day) == expected


def test_date_line(files, document):
    assert date_line("Kon Tum", DATE) == "Kon Tum, ngày 05 tháng 9 năm 2024"
    header = document.tables[0]
    cell = header.cell(1, 1)
    assert re.fullmatch(r"Kon Tum, ngày \d{2} tháng \d{1,2} năm \d{4}", cell.text)
    assert cell.text == "Kon Tum, ngày 05 tháng 9 năm 2024"
    assert all(r.font.italic for r in cell.paragraphs[0].runs if r.text)


def test_default_report_date_is_clipped(cat):
    org = cat.organisation(PERIOD.last_day)
    deadline = org.deadline(2024, 9)
    assert default_report_date(cat, PERIOD, dt.date(2024, 9, 1)) == deadline
    assert default_report_date(cat, PERIOD, dt.date(2024, 9, 28)) == dt.date(2024, 9, 28)
    assert default_report_date(cat, PERIOD, dt.date(2026, 11, 24)) == dt.date(2024, 10, 31)
    # The last period of the Kon Tum configuration never gets a date after it ends.
    assert default_report_date(cat, Period(2025, 6), dt.date(2026, 1, 1)) == dt.date(2025, 6, 30)


# ----------------------------------------------------------------------------------------------------------------------
# Format (Nghị định 30/2020/NĐ-CP)


def test_header_block(document, cat):
    org = cat.organisation(DATE)
    header = document.tables[0]
    left = [p for p in header.cell(0, 0).paragraphs if p.text]
    right = [p for p in header.cell(0, 1).paragraphs if p.text]
    assert [p.text for p in left] == ["UBND TỈNH KON TUM", "SỞ GIAO THÔNG VẬN TẢI"] == [org.parent_body,
                                                                                       org.issuing_body]
    assert not left[0].runs[0].font.bold and left[1].runs[0].font.bold
    assert [p.text for p in right] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
    assert right[0].runs[0].font.bold
    assert right[1].runs[0].font.bold and right[1].runs[0].font.underline
    assert header.cell(1, 0).text == "Số: …/BC-SGTVT"
    # The header table has no borders.
    borders = header._tbl.tblPr.find(docx.oxml.ns.qn("w:tblBorders"))
    assert borders is not None and all(b.get(docx.oxml.ns.qn("w:val")) == "nil" for b in borders)


def test_title_and_subject(document):
    texts = paragraphs(document)
    i = texts.index("BÁO CÁO")
    assert texts[i + 1] == "Sơ kết phong trào thi đua tháng 9 năm 2024"
    for p in document.paragraphs[i:i + 2]:
        assert all(r.font.bold for r in p.runs if r.text)


def test_page_setup(document):
    section = document.sections[0]
    assert abs(section.page_width - Mm(210)) < Mm(0.5) and abs(section.page_height - Mm(297)) < Mm(0.5)
    assert Mm(20) <= section.top_margin <= Mm(25) and Mm(20) <= section.bottom_margin <= Mm(25)
    assert Mm(30) <= section.left_margin <= Mm(35)
    assert Mm(15) <= section.right_margin <= Mm(20)


def test_page_numbers_from_page_two(document):
    section = document.sections[0]
    assert section.different_first_page_header_footer
    header_xml = section.header._element.xml
    assert "PAGE" in header_xml and 'w:fldCharType="begin"' in header_xml
    assert section.header.paragraphs[0].alignment == docx.enum.text.WD_ALIGN_PARAGRAPH.CENTER
    assert "PAGE" not in section.first_page_header._element.xml


def test_times_new_roman_everywhere(files, document):
    runs = list(all_runs(document))
    assert len(runs) > 100
    qn = docx.oxml.ns.qn
    for run in runs:
        assert run.font.name == FONT, run.text
        rfonts = run._element.rPr.find(qn("w:rFonts"))
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            assert rfonts.get(qn(attr)) == FONT, (attr, run.text)
    for style in document.styles:
        font = getattr(style, "font", None)
        if font is not None:
            assert font.name == FONT, style.name
    with zipfile.ZipFile(files.docx) as zf:
        for name in ("word/document.xml", "word/styles.xml"):
            xml = zf.read(name).decode("utf-8")
            assert "asciiTheme" not in xml and "hAnsiTheme" not in xml, name


def test_body_size_spacing(document):
    normal = document.styles["Normal"]
    assert normal.font.size == Pt(14)
    body = [p for p in document.paragraphs if p.text and len(p.text) > 80]
    assert body
    for p in body:
        assert p.paragraph_format.space_after >= Pt(6)
        assert 1.0 <= p.paragraph_format.line_spacing <= 1.5
        sizes = {r.font.size for r in p.runs}
        assert sizes <= {Pt(13), Pt(14)}


def test_recipients_and_signature(document, cat):
    org = cat.organisation(DATE)
    sig = document.tables[-1]
    left = [p for p in sig.cell(0, 0).paragraphs if p.text]
    assert left[0].text == "Nơi nhận:"
    run = left[0].runs[0]
    assert run.font.bold and run.font.italic and run.font.size == Pt(12)
    assert left[1].text.startswith("- Sở Xây dựng")
    assert left[-1].text == "- Lưu: VT, VP."
    assert all(r.font.size == Pt(11) for p in left[1:] for r in p.runs if r.text)
    assert [p.text for p in left[1:-1]] == [f"- {r};" for r in org.recipients]
    right = [p.text for p in sig.cell(0, 1).paragraphs if p.text]
    assert right == ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", org.signer_name]


def test_organisation_comes_from_the_dated_configuration(tmp_path):
    """A later configuration (another province, another Sở, another signer) changes the report; nothing is in code."""
    org = tmp_path / "organisation.toml"
    text = (Path(default_catalogue().source).parent / "organisation.toml").read_text(encoding="utf-8")
    text += """
[[organisation]]
valid_from = 2025-07-01
parent_body = "UBND TỈNH QUẢNG NGÃI"
issuing_body = "SỞ XÂY DỰNG"
issuing_body_name = "Sở Xây dựng"
doc_code = "SXD"
place = "Quảng Ngãi"
signer_prefix = "KT. GIÁM ĐỐC"
signer_title = "PHÓ GIÁM ĐỐC"
signer_name = "Nguyễn Văn Thử"
khoi_name = "Khối thi đua các sở, ngành kinh tế"
khoi_lead = "Sở Tài chính"
deadline_day = 25
recipients = ["Lãnh đạo Sở", "Sở Tài chính (Trưởng Khối)"]
archive = "Lưu: VT, VP."
"""
    org.write_text(text, encoding="utf-8")
    cat = load_catalogue(organisation=org)
    period = Period(2025, 9)
    files = write_report(make_data(cat, period), cat, "so-ket", tmp_path / "out", report_date=dt.date(2025, 10, 2))
    d = docx.Document(str(files.docx))
    head = d.tables[0]
    assert head.cell(0, 0).text.split("\n")[:2] == ["UBND TỈNH QUẢNG NGÃI", "SỞ XÂY DỰNG"]
    assert head.cell(1, 0).text == "Số: …/BC-SXD"
    assert head.cell(1, 1).text == "Quảng Ngãi, ngày 02 tháng 10 năm 2025"
    sig = d.tables[-1]
    lines = [p.text for p in sig.cell(0, 0).paragraphs]
    assert lines[1] == "- Sở Tài chính (Trưởng Khối);"  # the cluster lead comes first
    assert "Nguyễn Văn Thử" in sig.cell(0, 1).text
    body = "\n".join(paragraphs(d))
    assert "Sở Xây dựng báo cáo sơ kết" in body
    assert "Sở Giao thông vận tải" not in body.replace(cat.plan, "")  # the 2024 plan's own title names it


# ----------------------------------------------------------------------------------------------------------------------
# Figures: every number of the text equals the value computed from the PeriodData


def expectations(data: PeriodData, cat) -> dict[int, list[tuple[str, list[str]]]]:
    """Per target: (regex over the figures paragraph, expected texts of its groups), computed from the PeriodData."""
    t = lambda c, col="month": total(data, c, col)  # noqa: E731
    reported = len(set(data.values["unit"]))
    choice0 = cat.indicator("7.3").choices[0]
    return {
        1: [
            (rf"báo cáo là ({W}) người; trong tháng có ({W}) người chấp hành", [t("1.1"), t("1.2")]),
            (r"quy chế \(tỷ lệ ([\d,]+%)\)", [pct_text(t("1.2"), t("1.1"))]),
            (rf"trong tháng là ({W}) người, lũy kế từ đầu năm là ({W}) người", [t("1.3"), t("1.3", "ytd")]),
            (rf"cảnh cáo trở lên là ({W}) người", [t("1.4", "ytd")]),
            (rf"của ({W}) phòng, đơn vị có báo cáo", [reported]),
        ],
        2: [
            (rf"tổ chức ({W}) buổi tuyên truyền, quán triệt \(lũy kế từ đầu năm ({W}) buổi\) cho ({W}) người",
             [t("2.1"), t("2.1", "ytd"), t("2.2")]),
            (r"\(tỷ lệ ([\d,]+%) tổng số", [pct_text(t("2.2"), t("1.1"))]),
            (rf"({W})/({W}) phòng, đơn vị thực hiện việc học tập", [yes_count(data, "2.3"), reported]),
        ],
        3: [
            (rf"phát động ({W}) phong trào thi đua \(lũy kế từ đầu năm ({W}) phong trào\); ({W})/({W}) phòng",
             [t("3.1"), t("3.1", "ytd"), yes_count(data, "3.2"), reported]),
            *[(rf"({W}) (?:phòng, đơn vị )?hưởng ứng phong trào {re.escape(name)}", [yes_count(data, code)])
              for code, name in (("3.3", "“Kon Tum"), ("3.4", "“Doanh nghiệp"), ("3.5", "“Cả nước chung tay"),
                                 ("3.6", "“Cán bộ"), ("3.7", "“Đẩy mạnh"), ("3.8", "xây dựng xã hội học tập"),
                                 ("3.9", "xóa nhà"), ("3.10", "“Dân vận khéo”"))],
            (rf"hoàn thành ({W})/({W}) nhiệm vụ, chỉ tiêu kế hoạch năm \(tỷ lệ ([\d,]+%)\)",
             [t("3.12", "ytd"), t("3.11", "ytd"), pct_text(t("3.12", "ytd"), t("3.11", "ytd"))]),
        ],
        4: [
            (rf"cung cấp ({W})/({W}) thủ tục .*? \(tỷ lệ ([\d,]+%)\)", [t("4.1"), t("4.2"),
                                                                      pct_text(t("4.1"), t("4.2"))]),
            (rf"có ({W}) hồ sơ thủ tục hành chính phải giải quyết; đã giải quyết ({W}) hồ sơ, trong đó đúng hạn ({W}) "
             rf"hồ sơ \(tỷ lệ ([\d,]+%)\); đang giải quyết ({W}) hồ sơ",
             [t("4.3"), t("4.4"), t("4.5"), pct_text(t("4.5"), t("4.4")), t("4.6")]),
            (rf"Lũy kế từ đầu năm đã giải quyết ({W}) hồ sơ, trong đó đúng hạn ({W}) hồ sơ \(tỷ lệ ([\d,]+%)\)",
             [t("4.4", "ytd"), t("4.5", "ytd"), pct_text(t("4.5", "ytd"), t("4.4", "ytd"))]),
            (rf"phát hành ({W}) văn bản đi, trong đó ({W}) văn bản được ký số \(tỷ lệ ([\d,]+%)\)",
             [t("4.7"), t("4.8"), pct_text(t("4.8"), t("4.7"))]),
            (rf"lũy kế từ đầu năm ({W})/({W}) văn bản được ký số \(tỷ lệ ([\d,]+%)\)",
             [t("4.8", "ytd"), t("4.7", "ytd"), pct_text(t("4.8", "ytd"), t("4.7", "ytd"))]),
        ],
        5: [
            (rf"tiếp nhận ({W}) đơn thư .*?, đã giải quyết đúng hạn ({W}) đơn \(tỷ lệ ([\d,]+%)\)",
             [t("5.1"), t("5.2"), pct_text(t("5.2"), t("5.1"))]),
            (rf"lũy kế từ đầu năm tiếp nhận ({W}) đơn, giải quyết đúng hạn ({W}) đơn \(tỷ lệ ([\d,]+%)\)",
             [t("5.1", "ytd"), t("5.2", "ytd"), pct_text(t("5.2", "ytd"), t("5.1", "ytd"))]),
            (rf"trong tháng là ({W}) vụ \(lũy kế ({W}) vụ\); ({W})/({W}) phòng",
             [t("5.3"), t("5.3", "ytd"), yes_count(data, "5.4"), reported]),
        ],
        6: [
            (rf"ban hành ({W}) văn bản quy định về thi đua, khen thưởng \(lũy kế ({W}) văn bản\)",
             [t("6.1"), t("6.1", "ytd")]),
            (rf"trình ({W}) hồ sơ đề nghị khen thưởng \(lũy kế ({W}) hồ sơ\), trong đó ({W}) hồ sơ bị trả lại .*? "
             rf"\(lũy kế ({W}) hồ sơ\)", [t("6.2"), t("6.2", "ytd"), t("6.3"), t("6.3", "ytd")]),
            (rf"có ({W}) cá nhân được khen thưởng, trong đó ({W}) người .*? \(tỷ lệ ([\d,]+%)\)",
             [t("6.4", "ytd"), t("6.5", "ytd"), pct_text(t("6.5", "ytd"), t("6.4", "ytd"))]),
        ],
        7: [
            (rf"nhân rộng ({W}) mô hình, giải pháp, kinh nghiệm hay \(lũy kế ({W}) mô hình\) và tổ chức ({W}) cuộc "
             rf"kiểm tra, đôn đốc phong trào thi đua \(lũy kế ({W}) cuộc\); ({W})/({W}) phòng",
             [t("7.1"), t("7.1", "ytd"), t("7.2"), t("7.2", "ytd"), yes_count(data, "7.3", first=choice0), reported]),
        ],
    }


def _target_paragraphs(document, number: int) -> list[str]:
    texts = paragraphs(document)
    start = next(i for i, t in enumerate(texts) if t.startswith(f"2.{number}. Nội dung {number}:"))
    end = next(i for i, t in enumerate(texts[start + 1:], start + 1)
               if re.match(r"^(2\.\d+\. Nội dung|3\. )", t))
    return texts[start + 1:end]


def test_every_figure_equals_the_period_data(document, data, cat):
    for number, checks in expectations(data, cat).items():
        figures = _target_paragraphs(document, number)[0]
        counted = 0
        for pattern, expected in checks:
            m = re.search(pattern, figures)
            assert m, (number, pattern, figures)
            for got, want in zip(m.groups(), expected, strict=True):
                if isinstance(want, int):
                    assert num(got) == want, (number, pattern, got, want)
                else:
                    assert got == want, (number, pattern, got, want)
            counted += len(expected)
        # Every number of the paragraph was checked (a new figure in the wording needs a check here too).
        numbers = re.findall(r"\d[\d.,]*%?", figures)
        assert len(numbers) == counted, (number, numbers)


def test_attainment_and_change_equal_the_period_data(document, data):
    units = len(data.units)
    for number in range(1, 8):
        met = int(data.attainment[(data.attainment["target"] == number)]["met"].sum())
        prev = int(data.previous[(data.previous["target"] == number)]["met"].sum())
        text = next(t for t in _target_paragraphs(document, number) if t.startswith("Kết quả:"))
        m = re.match(r"Kết quả: (\d+)/(\d+) phòng, đơn vị đạt nội dung thi đua \(tỷ lệ ([\d,]+%)\); (.*)\.$", text)
        assert m, text
        assert (int(m.group(1)), int(m.group(2)), m.group(3)) == (met, units, pct_text(met, units))
        now, before = 100 * met / units, 100 * prev / units
        change = m.group(4)
        assert f"so với tháng 8 năm 2024 ({pct_text(prev, units)})" in change or "không thay đổi" in change
        if round(now - before, 1) > 0:
            assert re.search(r"tăng ([\d,]+) điểm phần trăm", change).group(1) == fmt_pct(now - before)[:-1]
        elif round(now - before, 1) < 0:
            assert re.search(r"giảm ([\d,]+) điểm phần trăm", change).group(1) == fmt_pct(before - now)[:-1]
        else:
            assert "không thay đổi" in change


def test_summary_table_equals_the_period_data(document, data):
    table = next(t for t in document.tables if t.cell(0, 0).text == "Nội dung thi đua")
    units = len(data.units)
    for number in range(1, 8):
        row = table.rows[number]
        met = int(data.attainment[(data.attainment["target"] == number)]["met"].sum())
        assert row.cells[0].text.startswith(f"Nội dung {number}:")
        assert row.cells[1].text == f"{met}/{units}"
        assert row.cells[2].text == pct_text(met, units)
    assert table.rows[-1].cells[0].text == "Bình quân"


def test_shortfalls_quotes_and_unit_text(document, files, data, cat):
    t4 = " ".join(_target_paragraphs(document, 4))
    assert "Phòng Quản lý vận tải - phương tiện và người lái (tự đánh giá “Không đạt”" in t4
    assert SHORT[("QLVT", 4)] in t4
    t2 = " ".join(_target_paragraphs(document, 2))
    # Control characters and the line break of the unit's text are gone; the text stays, attributed to the unit.
    assert "Trung tâm Đăng kiểm xe cơ giới (" in t2
    assert "Đơn vị thiếu nhân lực do cán bộ đi học, chưa tổ chức đủ các buổi tuyên truyền" in t2
    # A few activities of units that met the target are quoted with the unit's name.
    notes = data.assessments[(data.assessments["target"] == 1) & (data.assessments["assessment"] == "Đạt")]
    quoted = next(t for t in _target_paragraphs(document, 1) if t.startswith("Một số hoạt động"))
    first = notes.iloc[0]
    assert f"{cat.unit(first['unit']).name}: “{first['explanation']}”" in quoted
    # Units without a valid report are said once, not in every target.
    body = "\n".join(paragraphs(document))
    assert body.count("Phòng Quản lý chất lượng công trình giao thông") == 2  # direction + discipline
    with zipfile.ZipFile(files.docx) as zf:
        xml = zf.read("word/document.xml").decode("utf-8")
    assert "\x07" not in xml and "<w:br/>" not in xml and "<w:hyperlink" not in xml and "fldSimple" not in xml
    assert "w:fldChar" not in xml  # the only field (PAGE) is in the header


def test_submission_discipline(document):
    texts = paragraphs(document)
    i = texts.index("3. Việc chấp hành chế độ báo cáo")
    section = texts[i + 1:texts.index("4. Tổng hợp kết quả")]
    assert section[0] == "Trong tháng 9 năm 2024, có 6/9 phòng, đơn vị gửi báo cáo đúng hạn."
    assert "- 1 phòng, đơn vị gửi báo cáo trễ hạn: Thanh tra Sở." in section
    assert "- 1 phòng, đơn vị chưa gửi báo cáo: Phòng Quản lý chất lượng công trình giao thông." in section
    assert any(t.startswith("- 1 báo cáo bị trả lại") and "Trung tâm Sát hạch lái xe" in t for t in section)
    assert any(t.startswith("Lũy kế từ đầu năm, tỷ lệ báo cáo đúng hạn đạt") for t in section)


def test_sections_and_chart(document, files):
    texts = paragraphs(document)
    for heading in ("I. ĐẶC ĐIỂM TÌNH HÌNH", "II. KẾT QUẢ THỰC HIỆN", "III. ĐÁNH GIÁ CHUNG",
                    "IV. PHƯƠNG HƯỚNG, NHIỆM VỤ THÁNG 10 NĂM 2024", "V. ĐỀ XUẤT, KIẾN NGHỊ", "1. Ưu điểm",
                    "2. Tồn tại, hạn chế", "3. Nguyên nhân"):
        assert heading in texts
    assert len(document.inline_shapes) == 1
    with zipfile.ZipFile(files.docx) as zf:
        pngs = [n for n in zf.namelist() if n.startswith("word/media/") and n.endswith(".png")]
        assert pngs and zf.read(pngs[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_for_a_few_units_and_january(cat, tmp_path):
    data = make_data(cat, Period(2024, 1), n_units=3, late=[], missing=[], rejected=[], short={})
    rep = build_report(data, cat, "so-ket", dt.date(2024, 1, 26))
    assert rep.units_total == 3
    assert all(r.prev_pct is None for r in rep.targets)
    texts = [b.text for b in rep.blocks if hasattr(b, "text")]
    assert "Tất cả các phòng, đơn vị gửi báo cáo đúng hạn, đúng mẫu quy định." in texts
    assert any("chưa có số liệu tháng 12 năm 2023 để so sánh" in t for t in texts)
    assert rep.date_text == "Kon Tum, ngày 26 tháng 01 năm 2024"


# ----------------------------------------------------------------------------------------------------------------------
# Editable wording


def test_wording_comes_from_the_template(cat, data, tmp_path):
    source = Path(report_mod.__file__).parent / "data" / "report.toml"
    text = source.read_text(encoding="utf-8").replace(
        'so_ket = "Sơ kết phong trào thi đua tháng {month} năm {year}"',
        'so_ket = "Sơ kết công tác thi đua, khen thưởng tháng {month} năm {year}"')
    edited = tmp_path / "report.toml"
    edited.write_text(text, encoding="utf-8")
    rep = build_report(data, cat, "so-ket", DATE, wording=load_wording(edited))
    assert rep.subject == "Sơ kết công tác thi đua, khen thưởng tháng 9 năm 2024"
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace("{m_1_1}", "{m_1_99}", 1), encoding="utf-8")
    with pytest.raises(ThiDuaError, match=r"m_1_99"):
        build_report(data, cat, "so-ket", DATE, wording=load_wording(broken))


def test_unknown_kind_is_refused(cat, data):
    with pytest.raises(ThiDuaError):
        build_report(data, cat, "quy", DATE)


# ----------------------------------------------------------------------------------------------------------------------
# PDF


def test_pdf_missing_libreoffice_is_a_warning(cat, data, tmp_path, monkeypatch):
    monkeypatch.setattr(report_mod.shutil, "which", lambda _name: None)
    files = write_report(data, cat, "so-ket", tmp_path, report_date=DATE, pdf=True)
    assert files.docx.exists() and files.pdf is None
    assert files.warnings and "LibreOffice" in files.warnings[0] and str(files.docx) in files.warnings[0]
    result = CliRunner().invoke(app, ["report", "--period", "2024-09", "--sample", "--out", str(tmp_path / "cli"),
                                      "--date", "05/09/2024", "--pdf"])
    assert result.exit_code == 0, result.output
    assert "Cảnh báo" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftoppm") and shutil.which("pdftotext")),
                    reason="LibreOffice / poppler-utils not installed")
def test_pdf_through_libreoffice_and_page_one(files, tmp_path):
    pdf = report_mod.convert_to_pdf(files.docx, tmp_path, timeout=240)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=120)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 10_000
    page1 = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout
    for text in ("UBND TỈNH KON TUM", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "BÁO CÁO", "Số: …/BC-SGTVT",
                 "Kon Tum, ngày 05 tháng 9 năm 2024"):
        assert text in page1
    assert not page1.lstrip().startswith("1\n")  # no number on page 1
    page2 = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert page2.lstrip().startswith("2")  # the page number heads page 2


# ----------------------------------------------------------------------------------------------------------------------
# CLI and the ledger


def test_cli_report_sample_json(tmp_path):
    result = CliRunner().invoke(app, ["report", "--period", "2024-12", "--kind", "tong-ket", "--sample", "--out",
                                      str(tmp_path), "--date", "05/01/2025", "--json"])
    assert result.exit_code == 0, result.output
    out = __import__("json").loads(result.stdout)
    assert Path(out["docx"]).exists() and Path(out["appendix"]).exists()
    assert Path(out["docx"]).name == "BaoCao_TongKet_2024-12.docx"


def test_cli_report_without_ledger_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "--period", "2024-09", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "sổ theo dõi" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["report", "--period", "2024-09", "--sample", "--out", str(tmp_path),
                                      "--date", "31/02/2024"])
    assert result.exit_code == 2 and "NN/TT/NNNN" in result.output


def test_end_to_end_from_the_ledger(cat, tmp_path):
    """Demo inbox -> consolidate (ledger) -> thidua report --ledger: the report's figures are the ledger's."""
    from thidua.consolidate import consolidate, load_period
    from thidua.demo import make_inbox

    ledger = tmp_path / "ledger.sqlite"
    make_inbox(cat, PERIOD, tmp_path / "forms", tmp_path / "inbox")
    consolidate(tmp_path / "inbox", PERIOD, cat, ledger=ledger, write=False)
    result = CliRunner().invoke(app, ["report", "--period", "2024-09", "--ledger", str(ledger), "--out",
                                      str(tmp_path / "out"), "--date", "27/09/2024"])
    assert result.exit_code == 0, result.output
    document = docx.Document(str(tmp_path / "out" / "BaoCao_SoKet_2024-09.docx"))
    data = load_period(ledger, PERIOD, cat)
    assert len(data.values)  # the demo has valid files
    test_every_figure_equals_the_period_data(document, data, cat)
    units = len(data.units)
    for number in range(1, 8):
        met = int(data.attainment[(data.attainment["target"] == number)]["met"].sum())
        text = next(t for t in _target_paragraphs(document, number) if t.startswith("Kết quả:"))
        assert text.startswith(f"Kết quả: {met}/{units} phòng, đơn vị đạt")
    statuses = data.status[data.status["period"] == str(PERIOD)]["status"].tolist()
    texts = paragraphs(document)
    on_time = statuses.count(ON_TIME)
    assert f"Trong tháng 9 năm 2024, có {on_time}/{units} phòng, đơn vị gửi báo cáo đúng hạn." in texts
    assert statuses.count(LATE) + statuses.count(MISSING) + statuses.count(REJECTED) + on_time == units
