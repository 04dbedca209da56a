"""Where a consolidation spends its time, stage by stage, in one process; and a cProfile of the per-file work.

    python benchmarks/profile_stages.py [--files 300] [--repeat 3] [--profile] [--sort tottime] [--top 40]

1. Generates ``--files`` filled forms with the generator of ``benchmarks/consolidate.py`` (template patching).
2. Runs ``thidua.consolidate.consolidate`` in this process only (``workers=1``, through a validator that reads and
   checks each file here), timing every stage: ``hash`` (the inbox hashed and looked up in the ledger), ``package``
   (:func:`thidua.package.inspect_package`), ``read`` (the rest of :func:`thidua.reader.read_submission`: the file's
   bytes, their hash, the cells), ``rules`` (:func:`thidua.rules.run_checks`), ``ledger`` (recording the files,
   the commit and loading the period's tables back), ``tables`` (the master sheets built) and ``save`` (written).
   Each stage's median over ``--repeat`` fresh runs, in seconds and in ms per file.
3. ``--profile``: the per-file work (``validate_file`` of every file, in this process) under cProfile, the
   ``--top`` functions by ``--sort``. This is the profile the rule costs were cut from:

       python benchmarks/profile_stages.py --files 300 --profile --sort tottime --top 40

The stage hooks wrap the names that ``thidua.reader`` and ``thidua.validate`` import (``inspect_package``,
``read_submission``, ``run_checks``), so the same script times an older copy of the package too
(``PYTHONPATH=<copy>/addin python benchmarks/profile_stages.py``). The last line is exactly
``stages <name>=<ms per file> … files=<N>``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from consolidate import PERIOD_TEXT, generate, write_units

STAGES = ("hash", "package", "read", "rules", "ledger", "tables", "save")


class Hooks:
    """Timers around the per-file stages, installed on the names the reader and the validator call."""

    def __init__(self) -> None:
        self.spent = {"package": 0.0, "read": 0.0, "rules": 0.0}
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, module: Any, name: str, stage: str) -> None:
        original = getattr(module, name)
        spent = self.spent

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - start

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def __enter__(self) -> Hooks:
        import thidua.reader
        import thidua.validate

        self._wrap(thidua.reader, "inspect_package", "package")
        self._wrap(thidua.validate, "read_submission", "read")  # includes the package check: taken off below
        self._wrap(thidua.validate, "run_checks", "rules")
        return self

    def __exit__(self, *exc: object) -> None:
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)

    def stages(self) -> dict[str, float]:
        return {"package": self.spent["package"], "read": self.spent["read"] - self.spent["package"],
                "rules": self.spent["rules"]}


def serial_validator(paths, catalogue, period=None, history=None, progress=None, workers=None):
    """Every file read and checked in this process, in order (``check_files`` with one worker)."""
    from thidua.validate import validate_file

    for path in paths:
        res = validate_file(path, catalogue, period, history)
        if progress:
            progress(path)
        yield res


def one_run(inbox: Path, cat, period, work: Path, k: int) -> dict[str, float]:
    from thidua.consolidate import consolidate

    with Hooks() as hooks:
        result = consolidate(inbox, period, cat, ledger=work / f"p-{k}.sqlite", out=work / f"p-{k}.xlsx",
                             workers=1, validator=serial_validator)
    t = result.timings
    per_file = hooks.stages()
    checked = sum(per_file.values())
    return {
        "hash": t["hash"],
        **per_file,
        # validate_record = the per-file stages + recording in the ledger; then the commit and the period loaded back
        "ledger": t["validate_record"] - checked + t.get("commit", 0.0) + t.get("load", 0.0),
        "tables": t["tables"],
        "save": t["save"],
    }


def profile_files(files: list[Path], cat, top: int, sort: str) -> str:
    from thidua.validate import validate_file

    prof = cProfile.Profile()
    prof.enable()
    for path in files:
        validate_file(path, cat)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="number of unit files (default 300)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the staged consolidation (default 3)")
    parser.add_argument("--profile", action="store_true", help="also profile validate_file over every file")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile (default tottime)")
    parser.add_argument("--top", type=int, default=40, help="functions shown by --profile (default 40)")
    args = parser.parse_args(argv)

    import thidua
    from thidua.catalogue import load_catalogue
    from thidua.period import Period

    period = Period.parse(PERIOD_TEXT)
    with tempfile.TemporaryDirectory(prefix="thidua-prof-") as tmp:
        work = Path(tmp)
        cat = load_catalogue(units=write_units(work / "units.toml", args.files))
        _gen, files = generate(cat, period, work / "inbox", work / "forms")
        print(f"package: {Path(thidua.__file__).parent}; {len(files)} files")
        if args.profile:
            print(profile_files(files, cat, args.top, args.sort))
        runs = [one_run(work / "inbox", cat, period, work, k) for k in range(args.repeat)]
    medians = {s: statistics.median(r[s] for r in runs) for s in STAGES}
    total = sum(medians.values())
    n = len(files)
    print(f"{'stage':<8} {'s':>8} {'ms/file':>8}")
    for s in STAGES:
        print(f"{s:<8} {medians[s]:8.3f} {medians[s] / n * 1000:8.3f}")
    print(f"{'total':<8} {total:8.3f} {total / n * 1000:8.3f}   (one process, median of {args.repeat})")
    print("stages " + " ".join(f"{s}={medians[s] / n * 1000:.3f}" for s in STAGES) + f" files={n}")



if __name__ == "__main__":
    main()
