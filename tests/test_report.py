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
from thidua.report_text import date_line, date_parts, fmt_int, fmt_pct, load_wording

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


def signature_table(document):
    return next(t for t in document.tables if t.cell(0, 0).text.startswith("Nơi nhận:"))


def test_recipients_and_signature(document, cat):
    org = cat.organisation(DATE)
    sig = signature_table(document)
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
    sig = signature_table(d)
    lines = [p.text for p in sig.cell(0, 0).paragraphs]
    assert lines[1] == "- Sở Tài chính (Trưởng Khối);"  # the cluster lead comes first
    assert "Nguyễn Văn Thử" in sig.cell(0, 1).text
    body = "\n".join(paragraphs(d))
    assert "Sở Xây dựng báo cáo sơ kết" in body
    assert "Sở Giao thông vận tải" not in body.replace(cat.plan, "")  # the 2024 plan's own title names it


# ----------------------------------------------------------------------------------------------------------------------
# Figures: every number of the text equals the value computed from the PeriodData


def _target_paragraphs(document, number: int) -> list[str]:
    texts = paragraphs(document)
    start = next(i for i, t in enumerate(texts) if t.startswith(f"2.{number}. Nội dung {number}:"))
    end = next(i for i, t in enumerate(texts[start + 1:], start + 1)
               if re.match(r"^(2\.\d+\. Nội dung|3\. )", t))
    return texts[start + 1:end]


def test_every_figure_equals_the_period_data(document, data, cat):
    """Every number of each target's figures paragraph is one of the figures computed from the PeriodData (checked
    against an independent computation), nothing else."""
    from thidua.report import SpanData, compute

    fig = compute(SpanData.of(data), cat)
    for key, value in _independent_raw(cat, SpanData.of(data)).items():
        assert fig.raw[key] == value, key
    from thidua.report.wording import figure_values

    allowed = set(figure_values(fig.raw).values())
    for number in range(1, 8):
        figures = _target_paragraphs(document, number)[0]
        tokens = _numbers(figures)
        assert tokens, figures
        for token in tokens:
            assert token in allowed or token in ("34", "19"), (number, token, figures)
    t1 = _target_paragraphs(document, 1)[0]
    assert f"là {fmt_int(total(data, '1.1', 'month'))} người" in t1
    assert f"(tỷ lệ {pct_text(total(data, '1.2', 'month'), total(data, '1.1', 'month'))})" in t1


def test_attainment_and_change_equal_the_period_data(document, data):
    units = len(data.units)
    for number in range(1, 8):
        met = int(data.attainment[(data.attainment["target"] == number)]["met"].sum())
        prev = int(data.previous[(data.previous["target"] == number)]["met"].sum())
        text = next(t for t in _target_paragraphs(document, number) if t.startswith("Kết quả"))
        m = re.match(r"Kết quả tháng 9 năm 2024: (\d+)/(\d+) phòng, đơn vị đạt nội dung thi đua "
                     r"\(tỷ lệ ([\d,]+%)\); (.*)\.$", text)
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
    # Activities the units reported for this very target are quoted with the unit's name, one quote per unit, and the
    # quoted units are spread over the targets.
    quoted_units: list[str] = []
    for number in range(1, 8):
        notes = data.assessments[(data.assessments["target"] == number) & (data.assessments["assessment"] == "Đạt")]
        own = {f"{cat.unit(u).name}: “{e}”" for u, e in zip(notes["unit"], notes["explanation"], strict=True)}
        if number == 7:
            v = data.values[data.values["code"] == "7.5"]
            own |= {f"{cat.unit(u).name}: “{e}”" for u, e in zip(v["unit"], v["value"], strict=True) if e}
        quoted = next(t for t in _target_paragraphs(document, number) if t.startswith("Một số hoạt động"))
        highlights = files.report.targets[number - 1].highlights
        quotes = [f"{h.name}: “{h.text}”" for h in highlights]
        assert quotes and all(q in own and q in quoted for q in quotes), (number, quotes)
        assert len({h.unit for h in highlights}) == len(highlights)
        quoted_units += [h.unit for h in highlights]
    assert len(set(quoted_units)) >= len(data.units) - 3  # spread over the units, not the registry's first three
    # Units without a valid report are named as such under each target.
    assert "Phòng Quản lý chất lượng công trình giao thông (chưa nộp báo cáo)" in t4
    assert "Trung tâm Sát hạch lái xe (báo cáo bị trả lại, chưa gửi lại bản hợp lệ)" in t4
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
    assert any(t.startswith("- 1 phòng, đơn vị có báo cáo bị trả lại") and "Trung tâm Sát hạch lái xe" in t
               for t in section)
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
    source = Path(report_mod.__file__).parent.parent / "data" / "report.toml"
    text = source.read_text(encoding="utf-8").replace(
        'so_ket = "Sơ kết phong trào thi đua {span_label}"',
        'so_ket = "Sơ kết công tác thi đua, khen thưởng {span_label}"')
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
    from thidua.report import chart_pdf

    monkeypatch.setattr(chart_pdf.shutil, "which", lambda _name: None)
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
    assert Path(out["docx"]).name == "BaoCao_TongKet_2024.docx"  # --period 2024-12: January to December
    assert Path(out["proposals"]).exists()
    result = CliRunner().invoke(app, ["report", "--period", "2024-H1", "--sample", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0 and Path(__import__("json").loads(result.stdout)["docx"]).name == \
        "BaoCao_SoKet_2024-H1.docx"
    result = CliRunner().invoke(app, ["report", "--period", "2024-Q5", "--sample", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "2024-Q2" in result.output


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
        text = next(t for t in _target_paragraphs(document, number) if t.startswith("Kết quả"))
        assert text.startswith(f"Kết quả tháng 9 năm 2024: {met}/{units} phòng, đơn vị đạt")
    statuses = data.status[data.status["period"] == str(PERIOD)]["status"].tolist()
    texts = paragraphs(document)
    on_time = statuses.count(ON_TIME)
    assert f"Trong tháng 9 năm 2024, có {on_time}/{units} phòng, đơn vị gửi báo cáo đúng hạn." in texts
    assert statuses.count(LATE) + statuses.count(MISSING) + statuses.count(REJECTED) + on_time == units


# ----------------------------------------------------------------------------------------------------------------------
# A replayed year: the library consolidation run month by month over generated forms, with missing, late and rejected
# units and self-assessed shortfalls; sơ kết of a month, a quarter and a half-year and the tổng kết from its ledger.

YEAR_UNITS = 6
#: (unit index, month) planted situations; the report is checked against what the ledger made of them.
MISSING_AT = {(1, 3), (1, 6), (4, 12), (2, 9)}
LATE_AT = {(0, 2), (3, 6), (5, 6), (2, 11)}
REJECTED_AT = {(2, 6), (5, 12), (3, 4)}
SHORT_AT = {(0, 6, 4), (3, 5, 2), (4, 12, 7), (1, 12, 1)}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    import os

    from thidua.consolidate import consolidate
    from thidua.demo import _missing_and_unexplained
    from thidua.form import write_forms
    from thidua.layout import COLUMNS, FormLayout, a1, file_name
    from thidua.samples import fill_form, sample_fill

    cat = default_catalogue()
    root = tmp_path_factory.mktemp("year")
    units = [u.code for u in cat.units][:YEAR_UNITS]
    layout = FormLayout.for_catalogue(cat)
    ledger = root / "ledger.sqlite"
    for month in Period(2024, 12).months_of_year():
        forms, inbox = root / f"forms-{month}", root / f"inbox-{month}"
        write_forms(cat, month, forms, units)
        deadline = cat.organisation(month.first_day).deadline(month.year, month.month)
        for i, code in enumerate(units):
            if (i, month.month) in MISSING_AT:
                continue
            unit = cat.unit(code)
            filled = sample_fill(cat, unit, month)
            if (i, month.month) in REJECTED_AT:
                _missing_and_unexplained(cat, unit, month, filled, layout)
            for (j, m, target) in SHORT_AT:
                if (j, m) == (i, month.month):
                    r = layout.rows[f"T{target}"]
                    filled.set(a1(r, COLUMNS["assessment"][0]), "Không đạt")
                    filled.set(a1(r, COLUMNS["note"][0]), "Đơn vị thiếu nhân lực, chưa hoàn thành chỉ tiêu")
            out = fill_form(forms / file_name(code, str(month)), inbox / file_name(code, str(month)), filled)
            day = deadline + dt.timedelta(days=3) if (i, month.month) in LATE_AT else deadline - dt.timedelta(days=4)
            stamp = dt.datetime.combine(day, dt.time(10)).timestamp()
            os.utime(out, (stamp, stamp))
        consolidate(inbox, month, cat, ledger=ledger, write=False)
    return cat, ledger


def _span_report(replayed, text: str, kind: str, out):
    from thidua.period import Span
    from thidua.report import load_span

    cat, ledger = replayed
    span = Span.parse(text)
    data = load_span(ledger, span, cat)
    return data, write_report(data, cat, kind, out, report_date=span.last.next().first_day + dt.timedelta(days=4))


def _independent_raw(cat, data) -> dict[str, float]:
    """The span's figures recomputed with pandas from the PeriodData tables, independently of thidua.report."""
    out: dict[str, float] = {}
    months = data.months
    end = months[-1]

    def total(frame, code, column):
        sel = frame.values[(frame.values["code"] == code) & (frame.values["column"] == column)]["value"]
        return sum(x for x in sel if isinstance(x, int) and not isinstance(x, bool))

    for ind in cat.indicators:
        key = ind.code.replace(".", "_")
        if ind.kind == "count":
            if "month" in ind.periods:
                out[f"m_{key}"] = total(end, ind.code, "month")
                out[f"s_{key}"] = sum(total(m, ind.code, "month") for m in months)
            if "ytd" in ind.periods:
                out[f"y_{key}"] = total(end, ind.code, "ytd")
    return out


def _numbers(text: str) -> list[str]:
    """The figures of a text: dates and period names ("tháng 9 năm 2024", "6 tháng đầu năm") left out."""
    text = re.sub(r"\b(\d+ tháng|tháng \d+|năm \d{4}|quý [IV]+)\b", " ", text)
    return re.findall(r"(?<![\w.,])\d+(?:\.\d{3})*(?:,\d+)?%?(?!\d)", text)


def _body(files) -> list[str]:
    d = docx.Document(str(files.docx))
    return [p.text for p in d.paragraphs]


def _tables(files) -> list[list[list[str]]]:
    d = docx.Document(str(files.docx))
    return [[[c.text for c in row.cells] for row in t.rows] for t in d.tables]


@pytest.mark.parametrize(("span_text", "kind"), [("2024-06", "so-ket"), ("2024-Q2", "so-ket"), ("2024-H1", "so-ket"),
                                                  ("2024", "tong-ket")])
def test_replayed_year_every_figure_and_no_contradiction(replayed, tmp_path, span_text, kind):
    import openpyxl
    from thidua.appendix import FIRST_DATA_ROW, HEADER_ROW, read_appendix
    from thidua.report_text import default_wording

    cat, _ledger = replayed
    data, files = _span_report(replayed, span_text, kind, tmp_path)
    rep = files.report
    fig = rep.figures
    end = data.months[-1]
    statuses = end.status
    # The replay produced every situation the report must name.
    grid = statuses["status"].tolist()
    assert {ON_TIME, LATE, MISSING, REJECTED} <= set(grid)

    # 1. The figures: the report's own numbers equal an independent computation, and equal the appendix's totals.
    expected = _independent_raw(cat, data)
    for key, value in expected.items():
        assert fig.raw[key] == value, key
    a = read_appendix(files.appendix)
    assert a.ok, a.findings
    ws = openpyxl.load_workbook(files.appendix)["Phụ lục"]
    total_row = FIRST_DATA_ROW + len(a.rows)
    col = {key: i + 1 for i, key in enumerate(a.columns)}
    for key, value in expected.items():
        prefix, code = key[0], key[2:].replace("_", ".")
        column = {"m": f"{code}|month", "y": f"{code}|ytd", "s": f"{code}|span"}[prefix]
        if column in col:
            assert ws.cell(total_row, col[column]).value == value, (key, column)
    assert ws.cell(HEADER_ROW, 1).value == "STT"

    # 2. Every number of each target's figures paragraph is one of the computed figures (none from elsewhere).
    values = rep.values
    allowed = {v for k, v in values.items() if isinstance(v, str)}
    body = _body(files)
    for res in fig.targets:
        start = body.index(next(t for t in body if t.startswith(f"2.{res.number}. Nội dung {res.number}:")))
        paragraph = body[start + 1]
        for token in _numbers(paragraph):
            assert token in allowed or token in ("34", "19", "2023", "2030", "2025"), (res.number, token, paragraph)

    # 3. Attainment: the sentence, the summary table and the PeriodData agree; met + short + absent = all units.
    table = next(t for t in _tables(files) if t[0][0] == "Nội dung thi đua")
    units = len(end.units)
    for res in fig.targets:
        att = [m.attainment[m.attainment["target"] == res.number] for m in data.months]
        met_end = int(att[-1]["met"].sum())
        assert res.met_count == met_end and len(res.met) + len(res.short) + len(res.absent) == units
        row = table[res.number]
        texts = body[body.index(next(t for t in body if t.startswith(f"2.{res.number}. "))) + 1:]
        texts = texts[:next(i for i, t in enumerate(texts) if re.match(r"^(2\.\d+\. Nội dung|3\. )", t))]
        joined = " ".join(texts)
        if len(data.months) == 1:
            assert row[1] == f"{met_end}/{units}"
            assert f"Kết quả tháng {end.period.month} năm 2024: {met_end}/{units} phòng, đơn vị đạt" in joined
            if res.short:
                assert f"Còn {len(res.short)} phòng, đơn vị có báo cáo nhưng chưa đạt" in joined
            if res.absent:
                assert f"{len(res.absent)} phòng, đơn vị chưa có báo cáo hợp lệ nên chưa được tính là đạt" in joined
            assert ("đều đạt nội dung này" in joined) == (met_end == units)
        else:
            span_met = sum(int(x["met"].sum()) for x in att)
            per_unit = {u: sum(bool(x[x["unit"] == u]["met"].iloc[0]) for x in att) for u in end.units}
            full = sum(1 for n in per_unit.values() if n == len(att))
            assert row[1] == f"{span_met}/{units * len(att)}" and row[3] == f"{full}/{units}"
            assert f"{span_met}/{units * len(att)} lượt phòng, đơn vị đạt" in joined
            if full:
                assert f"{full}/{units} phòng, đơn vị đạt trong cả {len(att)} tháng" in joined
            else:
                assert "chưa có phòng, đơn vị nào đạt trong cả" in joined
            partial = units - full
            assert (f"Còn {partial} phòng, đơn vị chưa đạt ở một số tháng" in joined) == (partial > 0)
            for u, n in per_unit.items():
                if n < len(att):
                    assert f"{cat.unit(u).name} (đạt {n}/{len(att)} tháng)" in joined
        assert "Không có phòng, đơn vị nào chưa đạt" not in joined

    # 4. Submission discipline: the text and the month table equal the ledger's status grid.
    in_span = statuses[statuses["period"].isin([str(m.period) for m in data.months])]
    counts = {st: int((in_span["status"] == st).sum()) for st in (ON_TIME, LATE, REJECTED, MISSING)}
    section = body[body.index("3. Việc chấp hành chế độ báo cáo") + 1:body.index("4. Tổng hợp kết quả")]
    joined = " ".join(section)
    if len(data.months) == 1:
        assert f"có {counts[ON_TIME]}/{units} phòng, đơn vị gửi báo cáo đúng hạn" in joined
    else:
        assert f"có {counts[ON_TIME]}/{sum(counts.values())} lượt báo cáo đúng hạn" in joined
        month_table = next(t for t in _tables(files) if t[0][0] == "Tháng")
        assert month_table[-1][1:] == [str(counts[st]) for st in (ON_TIME, LATE, REJECTED, MISSING)]
    for word, st in (("trễ hạn", LATE), ("chưa nộp", MISSING)):
        if counts[st] and len(data.months) > 1:
            assert f"{counts[st]} lượt {word}" in joined
    assert ("Tất cả các phòng, đơn vị gửi báo cáo đúng hạn" in joined) == (counts[ON_TIME] == sum(counts.values()))

    # 5. No "không có" sentence beside a count above zero: every conditional sentence of the wording shows its zero
    # form exactly when its figure is 0.
    w = default_wording()
    text = "\n".join(body)
    for n in range(1, 8):
        for entry in w.get(f"targets.{n}"):
            if not isinstance(entry, dict) or not entry.get("zero"):
                continue
            zero = entry["zero"].format(**values)
            keys = entry["key"] if isinstance(entry["key"], list) else [entry["key"]]
            assert (zero in text) == all(not fig.raw[k] for k in keys), (n, entry["key"])
    weak = body[body.index("2. Tồn tại, hạn chế") + 1:body.index("3. Nguyên nhân")]
    if any(r.span_pct < 100 for r in fig.targets) or counts[LATE] or counts[MISSING] or counts[REJECTED]:
        assert "Không có tồn tại, hạn chế đáng kể trong kỳ." not in weak
    if fig.raw.get("s_1_3"):
        assert any("bị xử lý kỷ luật" in t for t in weak)

    # 6. No placeholder, no template field, no internal id, no "0 vụ" anywhere in the text.
    assert not re.search(r"\[[^\]]*\]|\{|\}|cần đối chiếu|(?<![\d/.,])0 (vụ|hồ sơ|người|đơn)", text), text
    assert cat.id not in text
    # 7. The appendices are numbered and referenced, each with its own page numbering.
    assert "Phụ lục I" in text and "Phụ lục II" in text and "tại Phụ lục I" in text
    d = docx.Document(str(files.docx))
    assert len(d.sections) == 3
    starts = [s._sectPr.find(docx.oxml.ns.qn("w:pgNumType")) for s in d.sections[1:]]
    assert all(p is not None and p.get(docx.oxml.ns.qn("w:start")) == "1" for p in starts)
    if kind == "tong-ket":
        assert "Tổng kết phong trào thi đua năm 2024" == rep.subject
        assert "tháng cuối năm" not in text.casefold() and "so với tháng 11" not in text
        assert len(fig.views) == 12 and any(b.kind == "trend" for b in rep.blocks if hasattr(b, "kind"))
        grid = next(t for t in _tables(files) if t[0][:3] == ["STT", "Tên phòng, đơn vị", "T1"])
        assert len(grid[0]) == 2 + 12 and len(grid) == 1 + units
        assert files.proposals is not None


def test_replayed_year_previous_year_comparison(replayed, tmp_path):
    """A tổng kết with the previous year's appendix compares each target and the main figures with it."""
    from thidua.appendix import previous_year_from_appendix
    from thidua.report import previous_year_from_ledger

    cat, ledger = replayed
    data, files = _span_report(replayed, "2024", "tong-ket", tmp_path / "a")
    data.previous_year = previous_year_from_appendix(files.appendix, cat)
    from_ledger = previous_year_from_ledger(ledger, 2024, cat)  # the two sources of a previous year agree
    assert from_ledger.target_pct == pytest.approx(data.previous_year.target_pct)
    for key, value in data.previous_year.figures.items():
        assert from_ledger.figures[key] == value, key
    data.previous_year.year = 2023
    again = write_report(data, cat, "tong-ket", tmp_path / "b", report_date=dt.date(2025, 1, 5))
    body = "\n".join(_body(again))
    assert "So với năm 2023" in body and "không thay đổi" in body  # the same figures: no change
    compare = next(t for t in _tables(again) if t[0][0] == "Chỉ tiêu")
    assert all(row[3] == "0" for row in compare[1:])
    summary = next(t for t in _tables(again) if t[0][0] == "Nội dung thi đua")
    assert summary[0][-2:] == ["Năm trước", "Tăng/giảm (điểm %)"] and summary[1][-1] == "0"


@pytest.mark.parametrize(("part", "whole", "text"), [(14_013, 14_020, "99,9%"), (5_270, 5_272, "99,9%"),
                                                     (5_272, 5_272, "100%"), (1, 3, "33,3%"), (1, 2_500, "0,1%"),
                                                     (0, 5, "0%"), (0, 0, "100%")])
def test_a_share_below_100_never_prints_as_100(part, whole, text):
    assert pct_text(part, whole) == text


def test_ties_and_tone_are_said_as_they_are(cat):
    """All targets tied: no "lowest" target is singled out; a low average does not read "nghiêm túc"."""
    units = [u.code for u in cat.units]
    short = {(u, t.number): "Chưa hoàn thành" for u in units[:5] for t in cat.targets}
    data = sample_period_data(cat, PERIOD, units, late=[], missing=[], rejected=[], short=short)
    rep = build_report(data, cat, "so-ket", DATE)
    texts = [b.text for b in rep.blocks if hasattr(b, "text")]
    joined = "\n".join(texts)
    assert "các nội dung này có tỷ lệ đạt như nhau (44,4%)" in joined and "thấp nhất" not in joined
    assert "nghiêm túc" not in joined and "bước đầu triển khai" in joined
