"""Benchmark: the 6-month sơ kết (2024-H1) for N units (target: 1,000 units in ≤ 5 s on the project machine).

Same method as ``report_tong_ket.py`` (generated consolidated months, not timed; ``write_report`` timed: figures,
wording, .docx with its appendices, trend chart, appendix .xlsx; no PDF). The last line is
``so_ket_6_thang_s=<seconds> units=<N>``.

    python benchmarks/report_so_ket.py [--units 1000] [--repeat 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_tong_ket import run

if __name__ == "__main__":
    run("so-ket", "2024-H1", "so_ket_6_thang")
