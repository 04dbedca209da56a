"""The Word renderer: a built :class:`~thidua.report.wording.Report` as an administrative document in the format of
Nghị định 30/2020/NĐ-CP (A4, margins, Times New Roman, the two-column header, the date line, "Nơi nhận", the signature
block, page numbers from page 2), its numbered appendices each in a section of its own with its own page numbers, and
the separate list of title proposals (danh sách đề nghị).

Tables are written as one piece of WordprocessingML each (python-docx's ``Table.cell()`` rebuilds the whole grid on
every call, which made a 1,000-row table take minutes). Text that comes from units is only ever a plain text run, XML
escaped, control characters stripped (:func:`~thidua.report_text.clean_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import docx
from docx.enum.section import WD_SECTION
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Mm, Pt, Twips

from ..atomic import atomic_path
from ..report_text import clean_text, fmt_int
from ..titles import UnitTitles
from .wording import Appendix, ChartBlock, Heading, Para, Report, TableBlock

FONT = "Times New Roman"
BODY_PT = 14
ALIGN = {
    "justify": WD_ALIGN_PARAGRAPH.JUSTIFY,
    "center": WD_ALIGN_PARAGRAPH.CENTER,
    "left": WD_ALIGN_PARAGRAPH.LEFT,
    "right": WD_ALIGN_PARAGRAPH.RIGHT,
}
_JC = {"justify": "both", "center": "center", "left": "left", "right": "right"}
TEXT_WIDTH_CM = 21.0 - 3.0 - 1.5


# ----------------------------------------------------------------------------------------------------------------------
# Word rendering


#: Schema order (ECMA-376): children of pPr that come after pBdr, and of tblPr after tblBorders.
_PPR_AFTER_PBDR = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct", "w:topLinePunct",
    "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
    "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
    "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange",
)
_TBLPR_AFTER_BORDERS = ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription",
                        "w:tblPrChange")


def _set_rfonts(rpr) -> None:
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.get_or_add_rFonts() if hasattr(rpr, "get_or_add_rFonts") else None
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(1 if rpr.find(qn("w:rStyle")) is not None else 0, rfonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        rfonts.set(qn(attr), FONT)


def _setup_styles(document) -> None:
    """Times New Roman everywhere: document defaults, every style, no theme fonts."""
    styles = document.styles.element
    for rfonts in styles.iter(qn("w:rFonts")):
        _set_rfonts(rfonts.getparent())
    defaults = styles.find(qn("w:docDefaults"))
    if defaults is not None:
        rpr_default = defaults.find(qn("w:rPrDefault"))
        if rpr_default is not None:
            rpr = rpr_default.find(qn("w:rPr"))
            if rpr is not None:
                _set_rfonts(rpr)
    for style in document.styles:
        font = getattr(style, "font", None)
        if font is None:
            continue
        font.name = FONT
        _set_rfonts(style.element.get_or_add_rPr())
    normal = document.styles["Normal"]
    normal.font.size = Pt(BODY_PT)
    pf = normal.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(6)
    pf.line_spacing = 1.15
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY


def _run(paragraph, text: str, size: float = BODY_PT, bold: bool = False, italic: bool = False,
         underline: bool = False):
    """A plain text run (never a field or hyperlink), Times New Roman."""
    run = paragraph.add_run(clean_text(text))
    run.font.name = FONT
    _set_rfonts(run._element.get_or_add_rPr())
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    if underline:
        run.font.underline = True
    return run


def _para(container, text: str = "", size: float = BODY_PT, bold: bool = False, italic: bool = False,
          align: str = "justify", indent: bool = False, after: float = 6, before: float = 0, underline: bool = False):
    p = container.add_paragraph()
    pf = p.paragraph_format
    pf.alignment = ALIGN[align]
    pf.space_after = Pt(after)
    pf.space_before = Pt(before)
    pf.line_spacing = 1.15 if align == "justify" else 1.0
    if indent:
        pf.first_line_indent = Cm(1.27)
    if text:
        _run(p, text, size, bold, italic, underline)
    return p


def _rule(container, width_cm: float, column_cm: float) -> None:
    """A short centred horizontal line (a bottom border on an empty, narrow paragraph)."""
    p = _para(container, "", size=2, align="center", after=0)
    side = max((column_cm - width_cm) / 2, 0)
    p.paragraph_format.left_indent = Cm(side)
    p.paragraph_format.right_indent = Cm(side)
    ppr = p._p.get_or_add_pPr()
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    border.append(bottom)
    ppr.insert_element_before(border, *_PPR_AFTER_PBDR)
    # An empty run carrying the font keeps "every run is Times New Roman" true and the line thin.
    _run(p, "", size=2)


def _keep_rows_whole(table) -> None:
    """No row of ``table`` is split across two pages (the header block, the signature block)."""
    for row in table.rows:
        trpr = row._tr.get_or_add_trPr()
        trpr.append(OxmlElement("w:cantSplit"))


def _no_borders(table) -> None:
    tblpr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{side}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tblpr.insert_element_before(borders, *_TBLPR_AFTER_BORDERS)


def _fixed_widths(table, widths_cm: list[float]) -> None:
    table.autofit = False  # python-docx writes <w:tblLayout w:type="fixed"/>
    for row in table.rows:
        for cell, width in zip(row.cells, widths_cm, strict=False):
            cell.width = Cm(width)
    for col, width in zip(table.columns, widths_cm, strict=False):
        col.width = Cm(width)


def _cell(cell, lines: Iterable[tuple[str, dict[str, Any]]]) -> None:
    first = True
    for text, fmt in lines:
        p = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        p.paragraph_format.alignment = ALIGN[fmt.pop("align", "center")]
        p.paragraph_format.space_after = Pt(fmt.pop("after", 0))
        p.paragraph_format.space_before = Pt(fmt.pop("before", 0))
        p.paragraph_format.line_spacing = 1.0
        _run(p, text, **fmt)


def _page_number_header(section) -> None:
    """Page numbers from page 2, centred at the top: a different first-page header and a PAGE field."""
    section.different_first_page_header_footer = True
    header = section.header
    header.is_linked_to_previous = False
    p = header.paragraphs[0]
    p.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(0)

    def field_run(kind: str | None = None, instr: str | None = None, text: str | None = None):
        run = _run(p, text or "", size=BODY_PT)
        if kind:
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            run._r.append(fld)
        if instr:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = instr
            run._r.append(el)
        return run

    field_run("begin")
    field_run(instr=" PAGE ")
    field_run("separate")
    field_run(text="2")
    field_run("end")
    first = section.first_page_header
    first.is_linked_to_previous = False
    _run(first.paragraphs[0], "")


def _header_table(document, org, number_line: str, date_text: str, text_width: float) -> None:
    left, right = 6.3, text_width - 6.3
    table = document.add_table(rows=2, cols=2)
    _no_borders(table)
    _keep_rows_whole(table)
    _fixed_widths(table, [left, right])
    _cell(table.cell(0, 0), [
        (org.parent_body.upper(), {"size": 13}),
        (org.issuing_body.upper(), {"size": 13, "bold": True}),
    ])
    _rule(table.cell(0, 0), 2.4, left)
    _cell(table.cell(0, 1), [
        ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", {"size": 13, "bold": True}),
        ("Độc lập - Tự do - Hạnh phúc", {"size": 14, "bold": True, "underline": True}),
    ])
    _cell(table.cell(1, 0), [(number_line, {"size": 13, "before": 6})])
    _cell(table.cell(1, 1), [(date_text, {"size": 14, "italic": True, "before": 6})])


def _signature(document, org, label: str, text_width: float, recipients: list[str] | None = None) -> None:
    table = document.add_table(rows=1, cols=2)
    _no_borders(table)
    _keep_rows_whole(table)
    left = 8.3
    _fixed_widths(table, [left, text_width - left])
    recipients = list(org.recipients if recipients is None else recipients)
    lead = [r for r in recipients if org.khoi_lead and r.startswith(org.khoi_lead)]
    recipients = lead + [r for r in recipients if r not in lead]
    lines: list[tuple[str, dict[str, Any]]] = [(label,
                                                {"size": 12, "bold": True, "italic": True, "align": "left"})]
    lines += [(f"- {r};", {"size": 11, "align": "left"}) for r in recipients]
    lines.append((f"- {org.archive}", {"size": 11, "align": "left"}))
    _cell(table.cell(0, 0), lines)
    _cell(table.cell(0, 1), [
        (org.signer_prefix, {"size": 14, "bold": True}),
        (org.signer_title, {"size": 14, "bold": True, "after": 72}),
        (org.signer_name, {"size": 14, "bold": True}),
    ])




# ----------------------------------------------------------------------------------------------------------------------
# Tables, written as one piece of XML


def _run_xml(text: str, size: float, bold: bool = False, italic: bool = False) -> str:
    props = f'<w:rFonts w:ascii="{FONT}" w:hAnsi="{FONT}" w:cs="{FONT}" w:eastAsia="{FONT}"/>'
    props += ("<w:b/>" if bold else "") + ("<w:i/>" if italic else "")
    half = round(size * 2)
    props += f'<w:sz w:val="{half}"/><w:szCs w:val="{half}"/>'
    return f'<w:r><w:rPr>{props}</w:rPr><w:t xml:space="preserve">{escape(clean_text(text))}</w:t></w:r>'


def _cell_xml(text: str, width_twips: int, align: str, size: float, bold: bool = False, span: int = 1,
              shade: bool = False) -> str:
    tcpr = f'<w:tcW w:w="{width_twips}" w:type="dxa"/>'
    if span > 1:
        tcpr += f'<w:gridSpan w:val="{span}"/>'
    if shade:
        tcpr += '<w:shd w:val="clear" w:color="auto" w:fill="F2F2F2"/>'
    tcpr += '<w:vAlign w:val="center"/>'
    ppr = f'<w:pPr><w:spacing w:before="20" w:after="20" w:line="240" w:lineRule="auto"/><w:jc w:val="{_JC[align]}"/>'
    ppr += "</w:pPr>"
    return f"<w:tc><w:tcPr>{tcpr}</w:tcPr><w:p>{ppr}{_run_xml(text, size, bold)}</w:p></w:tc>"


def table_xml(block: TableBlock) -> str:
    """The whole table as WordprocessingML: fixed layout, single borders, the heading row repeated on every page, no
    row split across pages, group rows merged after their first cell."""
    widths = [round(w * 567) for w in block.widths_cm]  # 1 cm = 567 twips
    size = block.size
    parts = [f"<w:tbl {nsdecls('w')}><w:tblPr><w:tblStyle w:val=\"TableGrid\"/>"
             f'<w:tblW w:w="{sum(widths)}" w:type="dxa"/>',
             "<w:tblBorders>" + "".join(f'<w:{side} w:val="single" w:sz="4" w:space="0" w:color="000000"/>'
                                       for side in ("top", "left", "bottom", "right", "insideH", "insideV"))
             + "</w:tblBorders>",
             '<w:tblLayout w:type="fixed"/><w:tblCellMar><w:left w:w="70" w:type="dxa"/>'
             '<w:right w:w="70" w:type="dxa"/></w:tblCellMar><w:tblLook w:val="04A0"/></w:tblPr><w:tblGrid>',
             "".join(f'<w:gridCol w:w="{w}"/>' for w in widths), "</w:tblGrid>"]
    parts.append('<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>')
    parts += [_cell_xml(t, widths[c], "center", size, bold=True, shade=True) for c, t in enumerate(block.header)]
    parts.append("</w:tr>")
    ncols = len(widths)
    for r, row in enumerate(block.rows):
        parts.append("<w:tr><w:trPr><w:cantSplit/></w:trPr>")
        if r in block.group_rows:
            parts.append(_cell_xml(row[0], widths[0], "center", size, bold=True))
            parts.append(_cell_xml(row[1], sum(widths[1:]), "left", size, bold=True, span=ncols - 1))
        else:
            parts += [_cell_xml(str(t), widths[c], block.aligns[c], size) for c, t in enumerate(row)]
        parts.append("</w:tr>")
    parts.append("</w:tbl>")
    return "".join(parts)


def _add_table(document, block: TableBlock) -> None:
    body = document.element.body
    tbl = parse_xml(table_xml(block))
    sect = body.find(qn("w:sectPr"))
    if sect is not None:
        sect.addprevious(tbl)
    else:
        body.append(tbl)


# ----------------------------------------------------------------------------------------------------------------------
# The document


def _new_document():
    document = docx.Document()
    _setup_styles(document)
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    # 15 mm is 850.4 twips: Word stores whole twips, so 851 keeps the margin inside the decree's 15-20 mm.
    section.left_margin, section.right_margin = Mm(30), Twips(851)
    section.header_distance, section.footer_distance = Mm(10), Mm(10)
    _page_number_header(section)
    for p in list(document.paragraphs):  # the default template starts with one empty paragraph
        p._p.getparent().remove(p._p)
    return document


def _restart_numbering(section) -> None:
    """The section's pages are numbered from 1 (an appendix is numbered on its own, NĐ 30/2020 Phụ lục I, III.1.đ)."""
    sect_pr = section._sectPr
    pg = sect_pr.find(qn("w:pgNumType"))
    if pg is None:
        pg = OxmlElement("w:pgNumType")
        cols = sect_pr.find(qn("w:cols"))
        if cols is not None:
            cols.addprevious(pg)
        else:
            sect_pr.append(pg)
    pg.set(qn("w:start"), "1")


def render_docx(report: Report, out: Path, chart_png: Path | None = None) -> Path:
    """Write ``report`` as a .docx at ``out`` (atomically): the body, then each appendix in a section of its own."""
    document = _new_document()
    _header_table(document, report.org, report.number_line, report.date_text, TEXT_WIDTH_CM)
    _para(document, str(report.wording.get("document.title")), bold=True, align="center", before=18, after=0)
    _para(document, report.subject, bold=True, align="center", after=0)
    _rule(document, 4.0, TEXT_WIDTH_CM)
    _para(document, "", after=6)
    for block in report.blocks:
        _render_block(document, block, chart_png)
    if document.paragraphs:  # the signature block never stands alone on the last page
        document.paragraphs[-1].paragraph_format.keep_with_next = True
    _signature(document, report.org, str(report.wording.get("document.recipients_label")), TEXT_WIDTH_CM)
    for appendix in report.appendices:
        _appendix(document, report, appendix)
    with atomic_path(out) as tmp:
        document.save(str(tmp))
    return out


def _appendix(document, report: Report, appendix: Appendix) -> None:
    section = document.add_section(WD_SECTION.NEW_PAGE)
    _restart_numbering(section)
    w = report.wording
    heading = w.text("document.appendix_heading", roman=appendix.roman)
    _para(document, heading, bold=True, align="center", after=0).paragraph_format.keep_with_next = True
    _para(document, appendix.title, bold=True, align="center", after=0).paragraph_format.keep_with_next = True
    _para(document, appendix.caption, italic=True, align="center", after=6).paragraph_format.keep_with_next = True
    for block in appendix.blocks:
        _render_block(document, block, None)


def _render_block(document, block: Any, chart_png: Path | None) -> None:
    if isinstance(block, Heading):
        if block.level == 0:
            p = _para(document, block.text, bold=True, align="center", after=0)
        elif block.level == 1:
            p = _para(document, block.text, bold=True, indent=True, before=6)
        elif block.level == 2:
            p = _para(document, block.text, bold=True, indent=True)
        else:
            p = _para(document, block.text, bold=True, italic=True, indent=True)
        p.paragraph_format.keep_with_next = True  # a heading never stands alone at a page foot
    elif isinstance(block, Para):
        p = _para(document, block.text, bold=block.bold, italic=block.italic, indent=block.indent, align=block.align)
        if block.keep_with_next:
            p.paragraph_format.keep_with_next = True
    elif isinstance(block, TableBlock):
        if block.caption:
            cap = _para(document, block.caption, italic=True, align="center", after=3)
            cap.paragraph_format.keep_with_next = True
        _add_table(document, block)
        _para(document, "", after=0)
    elif isinstance(block, ChartBlock):
        if chart_png is None:
            return
        p = _para(document, "", align="center", after=0)
        p.paragraph_format.keep_with_next = True
        p.add_run().add_picture(str(chart_png), width=Cm(15.5))
        _fix_runs_font(p)
        _para(document, block.caption, italic=True, align="center", size=12)


def _fix_runs_font(paragraph) -> None:
    for run in paragraph.runs:
        run.font.name = FONT
        _set_rfonts(run._element.get_or_add_rPr())


# ----------------------------------------------------------------------------------------------------------------------
# The list of title proposals (danh sách đề nghị), a document of its own for the Sở's Hội đồng Thi đua - Khen thưởng


def proposals_table(report: Report, titles: list[UnitTitles]) -> TableBlock:
    w = report.wording
    rows: list[list[str]] = []
    groups: set[int] = set()
    for i, unit in enumerate(titles, start=1):
        proposal = unit.proposal_text + (f" ({unit.note})" if unit.note else "")
        groups.add(len(rows))
        rows.append([str(i), f"{unit.name} — {proposal}", "", "", ""])
        for res in unit.results:
            for c in res.criteria:
                crit = f"{c.criterion.code}. {c.criterion.text} ({c.criterion.reference})"
                rows.append(["", res.title.name, crit, c.status_vi, c.reason])
    return TableBlock(list(w.get("titles.list_headers")), rows, [1.0, 2.8, 6.1, 1.9, 4.7],
                      ["center", "left", "left", "center", "left"], group_rows=groups, size=11)


def render_proposals(report: Report, out: Path) -> Path:
    """The danh sách đề nghị: every unit, the title proposed, every criterion with its article and its evidence."""
    assert report.titles is not None and report.title_rules is not None
    w = report.wording
    values = dict(report.values, law=report.title_rules.law)
    document = _new_document()
    _header_table(document, report.org, report.number_line.replace(f"/{w.get('document.type_code')}-", "/DS-"),
                  report.date_text, TEXT_WIDTH_CM)
    _para(document, w.text("titles.list_title", **values), bold=True, align="center", before=18, after=0)
    _para(document, w.text("titles.list_subject", **values), bold=True, align="center", after=0)
    _rule(document, 4.0, TEXT_WIDTH_CM)
    _para(document, w.text("titles.list_intro", **values), indent=True, after=6)
    counts = {}
    for t in report.titles:
        counts[t.proposal_text] = counts.get(t.proposal_text, 0) + 1
    _para(document, "; ".join(f"{k}: {fmt_int(v)} tập thể" for k, v in counts.items()) + ".", indent=True)
    _add_table(document, proposals_table(report, report.titles))
    _para(document, "", after=0)
    refs = "; ".join(f"“{t.name}”: {t.reference}" for t in report.title_rules.titles)
    _para(document, w.text("titles.list_basis", references=refs, **values), italic=True, indent=True)
    _signature(document, report.org, str(w.get("document.recipients_label")), TEXT_WIDTH_CM,
               list(w.get("titles.list_recipients")))
    with atomic_path(out) as tmp:
        document.save(str(tmp))
    return out
