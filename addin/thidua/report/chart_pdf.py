"""The chart of a report (matplotlib, PNG) and the PDF (LibreOffice headless, a private throw-away profile)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..atomic import atomic_path
from ..errors import ThiDuaError
from ..report_text import fmt_pct
from .wording import ChartBlock, Report

FONT = "Times New Roman"


class PdfUnavailable(ThiDuaError):
    """The PDF could not be made (LibreOffice missing, failed or too slow); the .docx is already written."""


def _chart_font() -> str:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in (FONT, "Liberation Serif", "Tinos", "DejaVu Serif") if n in names), "DejaVu Sans")


def chart_kind(report: Report) -> str | None:
    return next((b.kind for b in report.blocks if isinstance(b, ChartBlock)), None)


def render_chart(report: Report, out: Path) -> Path:
    """A month: horizontal bars of attainment per target (this month and the one before). Several months: the trend,
    one line per target and the average, month by month."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.family": _chart_font(), "font.size": 10}):
        fig, ax = plt.subplots(figsize=(16 / 2.54, 8.5 / 2.54), dpi=200)
        if chart_kind(report) == "trend":
            _trend(ax, report)
        else:
            _bars(ax, report)
        ax.set_title(report.chart_title, fontsize=10, fontweight="bold")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        fig.savefig(out, format="png")
        plt.close(fig)
    return out


def _bars(ax, report: Report) -> None:
    xlabel, current, previous = report.chart_labels
    targets = report.targets
    labels = [report.wording.text("chart.ylabel", n=r.number) for r in targets]
    ys = list(range(len(targets)))
    has_prev = bool(targets) and all(r.prev_pct is not None for r in targets)
    h = 0.38 if has_prev else 0.6
    bars = ax.barh([y - (h / 2 if has_prev else 0) for y in ys], [r.pct for r in targets], height=h,
                   color="#1f4e79", label=current)
    for rect, r in zip(bars, targets, strict=True):
        ax.text(rect.get_width() + 1, rect.get_y() + rect.get_height() / 2, fmt_pct(r.pct), va="center", fontsize=8)
    if has_prev:
        ax.barh([y + h / 2 for y in ys], [r.prev_pct or 0 for r in targets], height=h, color="#9dc3e6",
                label=previous)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel(xlabel)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)


def _trend(ax, report: Report) -> None:
    w = report.wording
    months = [v.period for v in report.figures.due_views]
    xs = list(range(len(months)))
    colours = ("#1f4e79", "#2e75b6", "#9dc3e6", "#c55a11", "#f4b183", "#548235", "#a9d18e", "#7f6000")
    for i, r in enumerate(report.targets):
        ax.plot(xs, r.monthly_pct, marker="o", markersize=2.5, linewidth=0.9, color=colours[i % len(colours)],
                label=w.text("chart.ylabel", n=r.number))
    avg = [sum(r.monthly_pct[k] for r in report.targets) / len(report.targets) for k in xs] if report.targets else []
    ax.plot(xs, avg, color="black", linewidth=2.2, label=w.text("chart.trend_average"))
    ax.set_xticks(xs, [f"T{m.month}" for m in months])
    ax.set_ylim(0, 105)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel(w.text("chart.trend_ylabel"))
    ax.grid(axis="y", linewidth=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=7, frameon=False)


def convert_to_pdf(docx_path: Path, out_dir: Path | None = None, timeout: float = 180) -> Path:
    """Convert ``docx_path`` to PDF with LibreOffice headless, using a private, throw-away profile.

    Raise :class:`PdfUnavailable` (message in Vietnamese) when LibreOffice is missing, fails or exceeds ``timeout``.
    """
    docx_path = Path(docx_path)
    out_dir = Path(out_dir or docx_path.parent)
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        raise PdfUnavailable(
            "Không tìm thấy LibreOffice (lệnh soffice) trên máy nên chưa tạo được tệp PDF. "
            f"Báo cáo Word đã được ghi tại {docx_path}; có thể mở bằng Word và lưu thành PDF."
        )
    with tempfile.TemporaryDirectory(prefix="thidua-lo-") as work:
        profile = Path(work) / "profile"
        target = Path(work) / "out"
        target.mkdir()
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--nologo",
               "--convert-to", "pdf", "--outdir", str(target), str(docx_path)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PdfUnavailable(
                f"LibreOffice không chuyển xong sang PDF trong {int(timeout)} giây. "
                f"Báo cáo Word đã được ghi tại {docx_path}."
            ) from None
        produced = target / f"{docx_path.stem}.pdf"
        if proc.returncode != 0 or not produced.exists():
            detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            raise PdfUnavailable(
                "LibreOffice không tạo được tệp PDF" + (f" ({detail[0]})" if detail else "") +
                f". Báo cáo Word đã được ghi tại {docx_path}."
            )
        final = out_dir / produced.name
        with atomic_path(final) as tmp:
            shutil.copyfile(produced, tmp)
    return final
