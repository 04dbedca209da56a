"""Writing a report's files: the .docx, the appendix .xlsx, the danh sách đề nghị (tổng kết) and the PDF."""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import WriteFailed, atomic_set, write_problem
from ..catalogue import Catalogue
from ..period import Span
from ..report_text import SO_KET, TONG_KET, OfficeText, Wording
from ..titles import TitleRules
from .appendix import write_appendix
from .chart_pdf import PdfUnavailable, convert_to_pdf, render_chart
from .compute import SpanData
from .word import render_docx, render_proposals
from .wording import Report, build_report

FILE_STEMS = {SO_KET: "SoKet", TONG_KET: "TongKet"}


@dataclass
class ReportFiles:
    docx: Path
    appendix: Path
    pdf: Path | None = None
    proposals: Path | None = None
    warnings: list[str] = field(default_factory=list)
    report: Report | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "docx": str(self.docx),
            "appendix": str(self.appendix),
            "proposals": str(self.proposals) if self.proposals else None,
            "pdf": str(self.pdf) if self.pdf else None,
            "warnings": list(self.warnings),
        }


def file_stem(kind: str, span: Any) -> str:
    """``SoKet_2024-06``, ``SoKet_2024-Q2``, ``SoKet_2024-H1``, ``TongKet_2024`` (the span's own notation)."""
    if not isinstance(span, Span):
        span = Span.of_month(span)
    return f"{FILE_STEMS[kind]}_{span}"


def write_report(
    data: Any,
    cat: Catalogue,
    kind: str,
    out_dir: Path | str,
    report_date: dt.date | None = None,
    pdf: bool = False,
    wording: Wording | None = None,
    title_rules: TitleRules | None = None,
    pdf_timeout: float = 180,
    office: OfficeText | None = None,
) -> ReportFiles:
    """Build the report of ``data`` (a month's PeriodData or a SpanData) and write ``BaoCao_<Kind>_<span>.docx`` and
    ``PhuLuc_<Kind>_<span>.xlsx`` in ``out_dir``; for a tổng kết also ``DanhSachDeNghi_<span>.docx``; the PDF with
    ``pdf=True`` (a PDF that cannot be made becomes a warning, not an error)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sd = SpanData.of(data)
    report = build_report(sd, cat, kind, report_date, wording, title_rules, office)
    stem = file_stem(kind, sd.span)
    docx_path = out_dir / f"BaoCao_{stem}.docx"
    with atomic_set():  # the .docx, its appendix (and the proposals) replace the old ones together, or not at all
        try:
            with tempfile.TemporaryDirectory(prefix="thidua-chart-") as tmp:
                chart = render_chart(report, Path(tmp) / "chart.png")
                render_docx(report, docx_path, chart)
        except OSError as exc:  # the chart goes to the system's temporary folder, outside atomic_path: name it
            problem = write_problem(exc, tempfile.gettempdir())
            if problem is None:
                raise
            raise WriteFailed(docx_path, problem) from exc
        appendix_path = write_appendix(sd, cat, kind, out_dir / f"PhuLuc_{stem}.xlsx", report=report)
        files = ReportFiles(docx_path, appendix_path, report=report)
        if report.titles is not None:
            files.proposals = render_proposals(report, out_dir / f"DanhSachDeNghi_{stem}.docx")
    if pdf:
        try:
            files.pdf = convert_to_pdf(docx_path, out_dir, timeout=pdf_timeout)
        except PdfUnavailable as exc:
            files.warnings.append(exc.message)
    return files
