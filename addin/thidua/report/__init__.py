"""The sơ kết (month, quarter, half-year) and tổng kết (year) report, in four parts:

- :mod:`~thidua.report.compute`: every figure, from one PeriodData per month of the span;
- :mod:`~thidua.report.wording`: the text, as blocks, from those figures and the editable wording (``report.toml``,
  ``office.toml``);
- :mod:`~thidua.report.word`: the Word renderer (Nghị định 30/2020/NĐ-CP format) and the danh sách đề nghị;
- :mod:`~thidua.report.chart_pdf`: the chart and the PDF through LibreOffice;

with :mod:`~thidua.report.appendix` (the appendix .xlsx) and :mod:`~thidua.report.files` (writing all of them).
"""

from .chart_pdf import PdfUnavailable, convert_to_pdf, render_chart
from .compute import Figures, PreviousYear, SpanData, TargetResult, compute, load_span, previous_year_from_ledger
from .files import ReportFiles, file_stem, write_report
from .word import render_docx, render_proposals
from .wording import ChartBlock, Heading, Para, Report, TableBlock, build_report, default_report_date, titles_summary

__all__ = [
    "ChartBlock", "Figures", "Heading", "Para", "PdfUnavailable", "PreviousYear", "Report", "ReportFiles", "SpanData",
    "TableBlock", "TargetResult", "build_report", "compute", "convert_to_pdf", "default_report_date", "file_stem",
    "load_span", "previous_year_from_ledger", "render_chart", "render_docx", "render_proposals", "titles_summary",
    "write_report",
]
