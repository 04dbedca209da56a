"""Benchmark: the year-end tổng kết for N units × 12 months (target: 1,000 units in ≤ 10 s on the project machine).

Consolidated months are generated with ``thidua.report_sample.sample_period_data`` for a registry of N units (U0001 …),
one PeriodData per month as ``thidua.consolidate.load_period`` returns it (not timed: loading from a ledger is the
consolidation's cost). Timed, in one process: ``write_report`` — every figure, the wording, the .docx with its two
appendices (a 1,000-row unit × target table and the Jan–Dec submission grid), the trend chart, the appendix .xlsx and
the danh sách đề nghị .docx (no PDF). The last line is ``tong_ket_s=<seconds> units=<N>``.

    python benchmarks/report_tong_ket.py [--units 1000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from thidua.catalogue import load_catalogue
from thidua.period import Span
from thidua.report import SpanData, write_report
from thidua.report_sample import sample_period_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from consolidate import write_units


def run(kind: str, span_text: str, label: str, argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="thidua-bench-report-") as tmp:
        root = Path(tmp)
        cat = load_catalogue(units=write_units(root / "units.toml", args.units))
        span = Span.parse(span_text)
        codes = [u.code for u in cat.units]
        t0 = time.perf_counter()
        months = []
        for month in span.months:  # a few units late, missing, rejected and short every month
            pool = codes[month.month % 7::7]
            months.append(sample_period_data(cat, month, codes, late=pool[:20], missing=pool[20:30],
                                             rejected=pool[30:35]))
        data = SpanData(span, months)
        print(f"generated {len(months)} months × {args.units} units in {time.perf_counter() - t0:.1f} s "
              "(not timed)", file=sys.stderr)
        times = []
        for i in range(args.repeat):
            t, cpu = time.perf_counter(), time.process_time()
            files = write_report(data, cat, kind, root / f"out{i}")
            times.append(time.perf_counter() - t)
            sizes = {p.name: p.stat().st_size for p in (files.docx, files.appendix, files.proposals) if p}
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"run {i + 1}: {times[-1]:.2f} s wall, {time.process_time() - cpu:.2f} s CPU, load average "
                  f"{load:.1f}; {sizes}", file=sys.stderr)
    best = min(times)
    print(f"{label}_s={best:.2f} units={args.units}")
    return best


if __name__ == "__main__":
    run("tong-ket", "2024", "tong_ket")
