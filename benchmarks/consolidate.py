"""Benchmark: consolidating N returned unit files, ours against a naive openpyxl + pandas baseline.

    python benchmarks/consolidate.py [--files 1000] [--repeat 3] [--workers N] [--keep DIR] [--compare TREE]

1. Generates N filled forms for a registry of N units (U0001 …): one blank form is generated and filled once with
   openpyxl; every unit's file is then made by patching that template's sheet XML (the unit's code, name, stamp and
   sample figures) and re-zipping, which is far faster than filling each copy with openpyxl. Timed separately.
2. Ours: ``thidua.consolidate.consolidate`` — hash, validate (python-calamine on the validator's small process pool),
   a fresh SQLite ledger, the period's tables, and the four master sheets into a new .xlsx. Median of ``--repeat``.
3. Baseline: ``openpyxl.load_workbook`` of every file, the same figures collected into rows, then
   ``pandas.DataFrame.to_excel(engine="openpyxl")``. No validation, no ledger. Median of ``--repeat``.
4. A re-run after one file of N changed (same ledger, same master: one file read, the master rewritten), a re-run
   with nothing changed, and the re-run that brings a late unit's first file (a ledger consolidated once without it):
   its rows go in near the top of "Tổng hợp", so every later block of the master's cache moves.
5. Peak memory of a fresh process that runs one consolidation: its peak resident set size (``VmHWM`` from
   /proc/self/status on Linux, as ``getrusage(RUSAGE_SELF).ru_maxrss`` there also counts the parent's peak, which
   Linux keeps across fork and exec), and its largest worker's (``getrusage(RUSAGE_CHILDREN).ru_maxrss``).

6. ``--compare TREE``: the same consolidation with the package of another checkout (``TREE/addin``, e.g. the main
   branch exported to a temporary folder), timed in the same run: after each run of ours, one run of the other in a
   fresh process whose imports are done before its clock starts, and ours again the same way, so both sides of the
   comparison run alike and under the same load of the machine. Medians and their ratio are printed.

The last line is exactly ``ratio=<baseline/ours> ours_s=<s> baseline_s=<s> files=<N>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

PERIOD_TEXT = "2024-09"


def write_units(path: Path, n: int) -> Path:
    lines = ["schema = 1", ""]
    for i in range(1, n + 1):
        kind = "don-vi" if i % 3 == 0 else "phong"
        lines += ["[[units]]", f'code = "U{i:04d}"', f'name = "Đơn vị thử nghiệm số {i:04d}"', f'kind = "{kind}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Generation by patching one filled template

_CELL_RE = re.compile(r'<c r="([A-Z]+[0-9]+)"([^>]*?)(?:/>|>.*?</c>)', re.S)
_STYLE_RE = re.compile(r'\ss="(\d+)"')
_EPOCH = dt.date(1899, 12, 30)


def _cell_xml(ref: str, attrs: str, value: Any) -> str:
    style = _STYLE_RE.search(attrs)
    s = f' s="{style.group(1)}"' if style else ""
    if value is None or value == "":
        return f'<c r="{ref}"{s}/>'
    if isinstance(value, str):
        return f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}"{s} t="n"><v>{(value - _EPOCH).days}</v></c>'
    return f'<c r="{ref}"{s} t="n"><v>{value}</v></c>'


class Generator:
    """Filled files for any unit, made from one template filled with openpyxl."""

    def __init__(self, cat, period, work: Path):
        from thidua.form import write_forms
        from thidua.layout import (
            HEADER,
            HEADER_VALUE_COL,
            SHEET_REPORT,
            SHEET_STAMP,
            FormLayout,
            a1,
            file_name,
            make_stamp,
        )
        from thidua.samples import fill_form, sample_fill
        from thidua.sink import _sheet_parts

        self.cat, self.period = cat, period
        first = cat.units[0]
        write_forms(cat, period, work, [first.code])
        self.template_unit = first
        template = fill_form(work / file_name(first.code, str(period)), work / "template.xlsx",
                             sample_fill(cat, first, period))
        with zipfile.ZipFile(template) as z:
            self.members = [(info, z.read(info.filename)) for info in z.infolist()]
            parts = _sheet_parts(z)
        self.report_part, self.stamp_part = parts[SHEET_REPORT], parts[SHEET_STAMP]
        self.header_refs = {key: a1(HEADER[key][0], HEADER_VALUE_COL) for key in ("unit_code", "unit_name")}
        self.make_stamp, self.sample_fill, self.file_name = make_stamp, sample_fill, file_name
        self.old_stamp = make_stamp(cat, first.code, str(period))
        self.layout = FormLayout.for_catalogue(cat)

    def ref(self, code: str, column: str) -> str:
        from thidua.layout import COLUMNS, a1

        return a1(self.layout.rows[code], COLUMNS[column][0])

    def values(self, unit, change: dict[str, Any] | None = None) -> dict[str, Any]:
        filled = self.sample_fill(self.cat, unit, self.period).values
        # The sample data can put 4.1 (procedures offered online) above 4.2 (procedures in scope) when a unit has no
        # dossiers; keep every generated file valid.
        part, whole = self.ref("4.1", "month"), self.ref("4.2", "month")
        if part in filled and whole in filled and filled[whole] < filled[part]:
            filled[whole] = filled[part]
        filled[self.header_refs["unit_code"]] = unit.code
        filled[self.header_refs["unit_name"]] = unit.name
        filled.update(change or {})
        return filled

    def write(self, unit, out: Path, change: dict[str, Any] | None = None) -> Path:
        values = self.values(unit, change)
        stamp = self.make_stamp(self.cat, unit.code, str(self.period))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for info, data in self.members:
                if info.filename == self.report_part:
                    text = data.decode("utf-8")
                    text = _CELL_RE.sub(lambda m: _cell_xml(m.group(1), m.group(2), values[m.group(1)])
                                        if m.group(1) in values else m.group(0), text)
                    data = text.encode("utf-8")
                elif info.filename == self.stamp_part:
                    text = data.decode("utf-8")
                    for key in ("unit_code", "checksum"):
                        text = text.replace(f"<t>{self.old_stamp[key]}</t>", f"<t>{stamp[key]}</t>")
                    data = text.encode("utf-8")
                z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
        out.write_bytes(buf.getvalue())
        return out


def generate(cat, period, inbox: Path, work: Path) -> tuple[Generator, list[Path]]:
    gen = Generator(cat, period, work)
    inbox.mkdir(parents=True, exist_ok=True)
    files = [gen.write(unit, inbox / gen.file_name(unit.code, str(period))) for unit in cat.units]
    return gen, files


# ----------------------------------------------------------------------------------------------------------------------
# The two contenders


def ours(inbox: Path, cat, period, ledger: Path, out: Path, workers: int | None):
    from thidua.consolidate import consolidate

    return consolidate(inbox, period, cat, ledger=ledger, out=out, workers=workers)


def baseline(files: list[Path], cat, out: Path) -> int:
    """The naive way: open every workbook with openpyxl, collect the same figures, write them with pandas."""
    import openpyxl
    import pandas as pd
    from thidua.layout import COLUMNS, HEADER, HEADER_VALUE_COL, SHEET_REPORT, FormLayout

    layout = FormLayout.for_catalogue(cat)
    names = {u.code: u.name for u in cat.units}
    records = []
    for path in files:
        ws = openpyxl.load_workbook(path)[SHEET_REPORT]
        unit = ws.cell(row=HEADER["unit_code"][0] + 1, column=HEADER_VALUE_COL + 1).value
        for target in cat.targets:
            r = layout.rows[f"T{target.number}"] + 1
            assessment = ws.cell(row=r, column=COLUMNS["assessment"][0] + 1).value
            for ind in target.indicators:
                r = layout.rows[ind.code] + 1
                records.append({
                    "Mã đơn vị": unit, "Tên đơn vị": names.get(unit), "Nội dung": target.number,
                    "Mã chỉ tiêu": ind.code, "Tên chỉ tiêu": ind.name, "Đơn vị tính": ind.unit,
                    "Tháng báo cáo": ws.cell(row=r, column=COLUMNS["month"][0] + 1).value,
                    "Lũy kế": ws.cell(row=r, column=COLUMNS["ytd"][0] + 1).value,
                    "Tự đánh giá": assessment, "Ghi chú": ws.cell(row=r, column=COLUMNS["note"][0] + 1).value,
                    "Tệp nguồn": path.name, "Ô nguồn": f"D{r}",
                })
    pd.DataFrame.from_records(records).to_excel(out, engine="openpyxl", index=False, sheet_name="Tổng hợp")
    return len(records)


def late_unit(inbox: Path, gen: Generator, cat, period, work: Path, workers: int | None) -> tuple[float, Any]:
    """The re-run that brings the first file of a unit near the start of the registry (a late unit): consolidated
    once without it (not timed), then with it. Its rows go in before almost every other unit's."""
    unit = cat.units[min(3, len(cat.units) - 1)]
    path = inbox / gen.file_name(unit.code, str(period))
    held = work / "late-unit.xlsx"
    path.replace(held)
    try:
        ledger, master = work / "late.sqlite", work / "late.xlsx"
        ours(inbox, cat, period, ledger, master, workers)
    finally:
        held.replace(path)
    return timed(ours, inbox, cat, period, ledger, master, workers)


def stages(result) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items())


CPU_SECONDS: list[float] = []  # CPU time (this process and its reaped children) of each timed call


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(func, *args, **kwargs) -> tuple[float, Any]:
    """``(seconds, result)`` of one call. The garbage of earlier calls is collected first: a collection of this
    process's own objects (generated forms, earlier results) would otherwise land inside some timing and not others
    (seen: a re-run with nothing to do timed at 0.40 s instead of 0.05 s). Both contenders are timed alike."""
    gc.collect()
    cpu, start = _cpu(), time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - start
    CPU_SECONDS.append(_cpu() - cpu)
    return elapsed, result


# ----------------------------------------------------------------------------------------------------------------------


def _peak_rss_mb() -> tuple[float, str]:
    """This process's peak resident set size: ``VmHWM`` on Linux (the peak of its own address space; ``ru_maxrss``
    would also count the parent's peak, since Linux keeps it across fork and exec), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "VmHWM"
    except OSError:
        pass
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, "ru_maxrss"


def memory_run(inbox: Path, units: Path, workers: int | None) -> None:
    """One consolidation in this (fresh) process; print its peak RSS and its largest worker's, in MB."""
    from thidua.catalogue import load_catalogue
    from thidua.period import Period

    cat = load_catalogue(units=units)
    with tempfile.TemporaryDirectory(prefix="thidua-mem-") as tmp:
        ours(inbox, cat, Period.parse(PERIOD_TEXT), Path(tmp) / "l.sqlite", Path(tmp) / "m.xlsx", workers)
    self_mb, how = _peak_rss_mb()
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    print(json.dumps({"self_mb": self_mb, "how": how,
                      "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale}))


def time_run(inbox: Path, units: Path, workers: int | None) -> None:
    """One consolidation in this (fresh) process, its imports done first; print its seconds and stages as JSON."""
    import importlib

    for module in ("thidua.master", "thidua.sink", "thidua.validate"):  # imported on first use: not timed
        importlib.import_module(module)
    from thidua.catalogue import load_catalogue
    from thidua.period import Period

    cat = load_catalogue(units=units)
    with tempfile.TemporaryDirectory(prefix="thidua-cmp-") as tmp:
        s, result = timed(ours, inbox, cat, Period.parse(PERIOD_TEXT), Path(tmp) / "l.sqlite", Path(tmp) / "m.xlsx",
                          workers)
    print(json.dumps({"s": s, "cpu": CPU_SECONDS[-1], "timings": result.timings,
                      "current": len(result.summary.current)}))


def _child_run(tree: Path, inbox: Path, units: Path, workers: int | None) -> dict[str, Any]:
    """:func:`time_run` with the package of ``tree`` (its ``addin`` folder first on the path)."""
    import os

    cmd = [sys.executable, __file__, "--time-run", str(inbox), str(units)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(tree / "addin")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"comparison run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="number of unit files (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each timing (default 3)")
    parser.add_argument("--workers", type=int, default=None, help="reader processes (default: the validator's choice)")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--compare", type=Path, default=None, metavar="TREE",
                        help="also time the package of another checkout (TREE/addin) in the same run")
    parser.add_argument("--memory-run", nargs=2, type=Path, metavar=("INBOX", "UNITS"), help=argparse.SUPPRESS)
    parser.add_argument("--time-run", nargs=2, type=Path, metavar=("INBOX", "UNITS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_run:
        memory_run(*args.memory_run, args.workers)
        return
    if args.time_run:
        time_run(*args.time_run, args.workers)
        return

    from thidua.catalogue import load_catalogue
    from thidua.period import Period

    period = Period.parse(PERIOD_TEXT)
    holder = None
    if args.keep:
        work = args.keep
        work.mkdir(parents=True, exist_ok=True)
    else:
        holder = tempfile.TemporaryDirectory(prefix="thidua-bench-")
        work = Path(holder.name)
    try:
        units = write_units(work / "units.toml", args.files)
        cat = load_catalogue(units=units)
        inbox = work / "inbox"
        gen_s, (gen, files) = timed(generate, cat, period, inbox, work / "forms")
        print(f"generation: {len(files)} filled forms in {gen_s:.2f} s ({gen_s / len(files) * 1000:.1f} ms/file, "
              "template patching; not part of either timing)")

        runs = []
        compared: dict[str, list[float]] = {}
        for k in range(args.repeat):
            ledger, master = work / f"ours-{k}.sqlite", work / f"ours-{k}.xlsx"
            s, result = timed(ours, inbox, cat, period, ledger, master, args.workers)
            runs.append(s)
            current = len(result.summary.current)
            print(f"ours #{k + 1}: {s:.3f} s, cpu {CPU_SECONDS[-1]:.3f} s (files {result.seen}, current {current}, "
                  f"rejected {len(result.summary.rejected)}; {stages(result)})")
            if current != len(files):
                print(f"  warning: only {current} of {len(files)} generated files were valid", file=sys.stderr)
            if args.compare is not None:
                this_tree = Path(__file__).resolve().parent.parent
                for label, tree in (("other", args.compare), ("this", this_tree)):
                    got = _child_run(tree.resolve(), inbox, units, args.workers)
                    compared.setdefault(label, []).append(got["s"])
                    print(f"  fresh process, {label} tree ({tree}): {got['s']:.3f} s, cpu {got['cpu']:.3f} s "
                          f"(current {got['current']}; " + ", ".join(f"{k} {v:.3f}" for k, v in got["timings"].items())
                          + ")")
        ours_s = statistics.median(runs)
        if compared:
            other_s, this_s = statistics.median(compared["other"]), statistics.median(compared["this"])
            print(f"same run, fresh processes: other tree median {other_s:.3f} s, this tree median {this_s:.3f} s, "
                  f"speed-up {other_s / this_s:.2f}x")

        base = []
        for k in range(args.repeat):
            s, rows = timed(baseline, files, cat, work / f"baseline-{k}.xlsx")
            base.append(s)
            print(f"baseline #{k + 1}: {s:.3f} s, cpu {CPU_SECONDS[-1]:.3f} s ({rows} rows)")
        baseline_s = statistics.median(base)

        last = args.repeat - 1
        ledger, master = work / f"ours-{last}.sqlite", work / f"ours-{last}.xlsx"
        reruns = []
        for k in range(args.repeat):
            unit = cat.units[(k * 7919) % len(cat.units)]
            ref = next(iter(gen.values(unit)))  # any filled cell; the preparer's name is text
            gen.write(unit, inbox / gen.file_name(unit.code, str(period)), {ref: f"Người lập biểu sửa lần {k + 1}"})
            s, result = timed(ours, inbox, cat, period, ledger, master, args.workers)
            reruns.append(s)
            print(f"re-run, 1 of {len(files)} files changed #{k + 1}: {s:.3f} s, cpu {CPU_SECONDS[-1]:.3f} s "
                  f"(new {len(result.new)}, replacements {len(result.summary.replacements)}; {stages(result)})")
        same_s, result = timed(ours, inbox, cat, period, ledger, master, args.workers)
        print(f"re-run, nothing changed: {same_s:.3f} s, cpu {CPU_SECONDS[-1]:.3f} s (new {len(result.new)}, "
              f"skipped {len(result.skipped)}; {stages(result)})")
        print(f"re-run median (1 changed): {statistics.median(reruns):.3f} s")
        late_s, result = late_unit(inbox, gen, cat, period, work, args.workers)
        print(f"re-run, a late unit's first file (every later unit's rows move down): {late_s:.3f} s, cpu "
              f"{CPU_SECONDS[-1]:.3f} s (new {len(result.new)}; {stages(result)})")

        cmd = [sys.executable, __file__, "--memory-run", str(inbox), str(units)]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"memory run failed:\n{proc.stderr}")
        mem = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"peak memory of a fresh process running one consolidation: main {mem['self_mb']:.0f} MB "
              f"(/proc {mem['how']}), largest worker {mem['children_mb']:.0f} MB (getrusage RUSAGE_CHILDREN ru_maxrss)")
        print(f"ours median {ours_s:.3f} s, baseline median {baseline_s:.3f} s")
        print(f"ratio={baseline_s / ours_s:.2f} ours_s={ours_s:.3f} baseline_s={baseline_s:.3f} files={len(files)}")
    finally:
        if holder is not None:
            holder.cleanup()


if __name__ == "__main__":
    main()
