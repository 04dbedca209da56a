"""Validate returned unit files: read each one, run every rule of the registry, and collect every finding.

``validate_submission`` checks one submission already read; ``validate_file`` reads and checks one file;
``validate_paths`` checks a batch (files and folders), including the checks across files (duplicates), and returns
the results sorted by file name. Nothing here raises for a bad file: a file that cannot be read is a finding too.

:class:`ValidationReport` is the one report object of a run; it renders to the console (rich), to JSON, and feeds the
return packages (``thidua.returnpkg``).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import pickle
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import guards, ledgerfile
from .arrivals import Arrival, Skipped, collected
from .catalogue import Catalogue, default_catalogue
from .errors import ThiDuaError
from .findings import ERROR, INFO, SEVERITY_VI, WARNING, FileResult, Finding
from .period import Period
from .reader import NAME_RE, ReadProblem, Submission, is_system_file, read_submission
from .rules import History, internal_finding, run_batch_checks, run_checks
from .safetext import visible

#: From this many files on, reading uses a small process pool.
POOL_THRESHOLD = 32
POOL_WORKERS = 2


def _period(period: Period | str | None) -> Period | None:
    if period is None or isinstance(period, Period):
        return period
    return Period.parse(period)


def validate_submission(sub: Submission, catalogue: Catalogue | None = None, period: Period | str | None = None,
                        history: History | None = None) -> list[Finding]:
    """Every finding about one submission (see ``thidua.rules``)."""
    return run_checks(sub, catalogue or default_catalogue(), _period(period), history)


def read_safely(path: Path, catalogue: Catalogue) -> Submission:
    """``read_submission``, with any unexpected exception turned into a problem of the submission."""
    try:
        return read_submission(path, catalogue)
    except BaseException as exc:  # the reader promises not to raise; never let one file stop a batch
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        sub = Submission(path=Path(path), file_name=unicodedata.normalize("NFC", guards.display_name(Path(path).name)))
        sub.problems.append(ReadProblem("internal", f"{type(exc).__name__}: {exc}"))
        return sub


def _result(sub: Submission, catalogue: Catalogue, period: Period | None, history: History | None) -> FileResult:
    findings = run_checks(sub, catalogue, period, history)
    for p in sub.problems:
        if p.code == "internal":
            findings.append(internal_finding(str(sub.path), "đọc tệp", RuntimeError(p.detail)))
    opened = not any(p.code in ("owner_file",) for p in sub.problems)
    return FileResult(path=sub.path, unit=sub.unit_code if opened else None, period=sub.period if opened else None,
                      findings=findings, submission=sub)


def validate_file(path: Path | str, catalogue: Catalogue | None = None, period: Period | str | None = None,
                  history: History | None = None) -> FileResult:
    """Read and check one file. Never raises for a bad file."""
    cat = catalogue or default_catalogue()
    return _result(read_safely(Path(path), cat), cat, _period(period), history)


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, plus every file directly inside each folder (not recursive; system files such as ``.DS_Store``
    skipped, see :func:`thidua.reader.is_system_file`).

    Raises :class:`ThiDuaError` for a path that does not exist.
    """
    found: dict[Path, Path] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(p.iterdir()):
                if guards.path_is_file(child) and not is_system_file(child.name):
                    found.setdefault(guards.resolved(child), child)
        elif p.is_file():
            found.setdefault(p.resolve(), p)
        else:
            raise ThiDuaError(f"Không tìm thấy tệp hoặc thư mục “{p}”.")
    return list(found.values())


_worker_catalogue: Catalogue | None = None


def _init_worker(catalogue: Catalogue) -> None:
    global _worker_catalogue
    _worker_catalogue = catalogue


def _read_in_worker(path: Path) -> Submission:
    return read_safely(path, _worker_catalogue or default_catalogue())


def _read_all(files: list[Path], cat: Catalogue, workers: int, progress: Callable[[Path], Any] | None) -> list:
    subs: list[Submission | None] = [None] * len(files)
    done = 0
    if workers >= 2 and len(files) > 1:
        try:
            with cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(cat,)) as pool:
                for i, sub in enumerate(pool.map(_read_in_worker, files, chunksize=8)):
                    subs[i] = sub
                    done = i + 1
                    if progress:
                        progress(files[i])
        except (cf.process.BrokenProcessPool, OSError, RuntimeError, ImportError, AttributeError, TypeError):
            pass  # the pool could not start or a worker died: read the rest here, one by one
    for i in range(done, len(files)):
        if subs[i] is None:
            subs[i] = read_safely(files[i], cat)
            if progress:
                progress(files[i])
    return subs


def _sort_key(path: Path) -> tuple[str, str]:
    return unicodedata.normalize("NFC", path.name).casefold(), str(path)


def validate_paths(paths: Iterable[Path | str], catalogue: Catalogue | None = None, period: Period | str | None = None,
                   history: History | None = None, progress: Callable[[Path], Any] | None = None,
                   workers: int | None = None) -> list[FileResult]:
    """Check every file of a batch (files and folders); results sorted by file name.

    ``workers``: None chooses (a pool of 2 from 32 files on, else sequential); 0 or 1 reads sequentially. Results are
    the same either way: workers only read, every check runs here. ``progress(path)`` is called after each file is read.
    """
    cat = catalogue or default_catalogue()
    per = _period(period)
    files = sorted(expand_paths(paths), key=_sort_key)
    if workers is None:
        workers = POOL_WORKERS if len(files) >= POOL_THRESHOLD else 1
    subs = _read_all(files, cat, workers, progress)
    results = [_result(sub, cat, per, history) for sub in subs]
    _add_batch_findings(results, cat, per)
    return results


def _add_batch_findings(results: list[FileResult], cat: Catalogue, period: Period | None) -> None:
    """The checks across the files of a batch, each finding added to the file it is about."""
    by_file = {str(r.path): r for r in results}
    for f in run_batch_checks(results, cat, period):
        target = by_file.get(f.file)
        if target is not None:
            target.findings.append(f)
        else:  # a crash of a batch check: report it on every file rather than lose it
            for r in results:
                r.findings.append(Finding(**{**f.__dict__, "file": str(r.path)}))


_pool_state: dict[str, Any] = {}


def _init_checker(catalogue: Catalogue, period: Period | None, history: Any) -> None:
    _pool_state.update(catalogue=catalogue, period=period, history=history)


def _check_in_worker(path: Path) -> FileResult:
    return validate_file(path, _pool_state["catalogue"], _pool_state["period"], _pool_state["history"])


POOL_ERRORS = (BrokenProcessPool, OSError, RuntimeError, ImportError, AttributeError, TypeError,
               pickle.PicklingError)


def check_files(paths, catalogue, period=None, history=None, progress=None, workers=None) -> Iterator[FileResult]:
    """``validate_file`` on each path, in order, yielding each result as soon as it is ready.

    From :data:`POOL_THRESHOLD` files on (or with ``workers`` ≥ 2) the files are read *and checked* in a small process
    pool, so the checks run in parallel too, and the caller records results while the pool works. Checks across the
    files of a batch are not run here (see :func:`check_in_order`).
    """
    files = list(paths)
    if workers is None:
        workers = POOL_WORKERS if len(files) >= POOL_THRESHOLD else 1
    done = 0
    if workers >= 2 and len(files) > 1:
        pool = None
        try:
            pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_checker,
                                          initargs=(catalogue, period, history))
            results = pool.map(_check_in_worker, files, chunksize=16)
        except POOL_ERRORS:
            results = iter(())
        try:
            while True:
                try:
                    res = next(results)
                except StopIteration:
                    break
                except POOL_ERRORS:  # a worker died: check the rest here, one by one
                    break
                done += 1
                if progress:
                    progress(res.path)
                yield res  # outside the try: an error of the caller is never taken for a pool failure
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    for path in files[done:]:
        res = validate_file(path, catalogue, period, history)
        if progress:
            progress(path)
        yield res


def check_in_order(arrivals: list[Arrival], catalogue: Catalogue, period: Period | None, history: Any, *,
                   checker: Callable[..., Iterable[FileResult]] | None = None, workers: int | None = None,
                   progress: Callable[..., Any] | None = None) -> Iterator[tuple[Arrival, FileResult]]:
    """The one check path of ``validate`` and ``consolidate``: every arrival checked against the catalogue and the
    history, earlier months first (by the period in the file name), so that a later month's year-to-date checks see
    the earlier months of the same batch (added to ``history``'s overlay as they pass, when valid). Yields
    ``(arrival, result)`` as results come; checks across files (:func:`thidua.rules.run_batch_checks`) are the
    caller's, once it has them all."""
    if not arrivals:
        return
    check = checker or check_files
    groups: dict[str, list[Arrival]] = {}
    for a in arrivals:
        m = NAME_RE.match(a.name)
        groups.setdefault(m.group(1) if m else "9999-99", []).append(a)
    keys = sorted(groups)
    for n, key in enumerate(keys):
        by_path = {str(a.path): a for a in groups[key]}
        for res in check([a.path for a in groups[key]], catalogue, period=period, history=history,
                         progress=progress, workers=workers):
            sub = res.submission
            if (history is not None and n + 1 < len(keys) and res.valid and res.unit and res.period
                    and sub is not None and hasattr(history, "add")):
                for code, entry in sub.indicators.items():
                    cell = entry.ytd
                    if cell is not None and isinstance(cell.value, int) and not isinstance(cell.value, bool):
                        history.add(res.unit, res.period, code, cell.value)
            yield by_path[str(res.path)], res


def transient_failure(res: FileResult) -> bool:
    """The file could not be read at all this time (gone, moved or locked between the listing and the read): a fault
    of the moment, not of the file's content. Such a result is never recorded as a rejection."""
    sub = res.submission
    return sub is not None and not getattr(sub, "sha256", None) and any(p.code == "unreadable" for p in sub.problems)


# ----------------------------------------------------------------------------------------------------------------------
# The report of one run


@dataclass
class ValidationReport:
    """The results of one validation run, and how to show them."""

    results: list[FileResult]
    period: Period | None = None
    return_packages: dict[str, Path] = field(default_factory=dict)  # source path -> package written
    skipped: list[Skipped] = field(default_factory=list)  # entries not read this time (thidua.arrivals)

    @property
    def has_errors(self) -> bool:
        return any(not r.valid for r in self.results) or bool(self.skipped)

    def summary(self) -> dict[str, Any]:
        count = {s: sum(1 for r in self.results for f in r.findings if f.severity == s) for s in (ERROR, WARNING, INFO)}
        skipped = sum(1 for r in self.results if _skipped(r))
        return {
            "period": str(self.period) if self.period else None,
            "files": len(self.results),
            "valid": sum(1 for r in self.results if r.valid and not _skipped(r)),
            "invalid": sum(1 for r in self.results if not r.valid),
            "skipped": skipped,
            "errors": count[ERROR],
            "warnings": count[WARNING],
            "infos": count[INFO],
            "return_packages": [{"source": s, "package": str(p)} for s, p in self.return_packages.items()],
            "not_read": [{"file": k.name, "reason": k.message} for k in self.skipped],
        }

    def to_dict(self) -> dict[str, Any]:
        keys = ("code", "severity", "sheet", "cell", "indicator", "value", "message")
        return {
            "files": [
                {
                    "path": str(r.path),
                    "unit": r.unit,
                    "period": r.period,
                    "valid": r.valid,
                    "findings": [{k: f.to_dict()[k] for k in keys} for f in r.findings],
                }
                for r in self.results
            ],
            "summary": self.summary(),
        }

    def summary_line(self) -> str:
        s = self.summary()
        text = f"Đã kiểm tra {s['files']} tệp: {s['valid']} hợp lệ, {s['invalid']} có lỗi"
        if s["skipped"]:
            text += f", {s['skipped']} bỏ qua"
        if self.skipped:
            text += f", {len(self.skipped)} chưa đọc được"
        text += f"; tổng cộng {s['errors']} lỗi, {s['warnings']} cảnh báo."
        return text

    def render(self, console: Any) -> None:
        """A table of the files, then every finding in Vietnamese (rich console)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        title = "Kết quả kiểm tra biểu báo cáo" + (f" — {self.period.label}" if self.period else "")
        table = Table(title=title, box=box.SIMPLE_HEAD, show_lines=False, pad_edge=False)
        for heading, justify, no_wrap in (("Tệp", "left", True), ("Đơn vị", "left", True), ("Kỳ", "left", True),
                                          ("Số lỗi", "right", False), ("Số cảnh báo", "right", False),
                                          ("Kết quả", "left", False)):
            table.add_column(heading, justify=justify, overflow="fold", no_wrap=no_wrap)
        for r in self.results:
            period = Period.try_parse(r.period) if r.period else None
            verdict = ("[dim]Bỏ qua[/]" if _skipped(r) else "[green]Hợp lệ[/]" if r.valid
                       else "[yellow]Có lỗi (đã có bản mới hợp lệ)[/]" if _taken_care_of(r) else "[bold red]Có lỗi[/]")
            shown = f"{period.month:02d}/{period.year}" if period else "—"
            table.add_row(Text(visible(r.path.name)), Text(visible(r.unit or "—")), Text(shown),
                          str(len(r.errors)), str(len(r.warnings)), verdict)
        console.print(table)
        for r in self.results:
            if not r.findings:
                continue
            console.print()
            console.print(Text(visible(r.path.name), style="bold"),
                          Text(visible(f"({r.unit or 'không rõ đơn vị'})"), style="dim"))
            for f in r.findings:
                style = {ERROR: "red", WARNING: "yellow", INFO: "blue"}[f.severity]
                where = "!".join(x for x in (f.sheet, f.cell) if x)
                line = Text("  ")
                line.append(f"{SEVERITY_VI[f.severity]:<9}", style=style)
                line.append(f" {f.code}")
                if where:
                    line.append(f"  {where}", style="cyan")
                line.append(f"  {visible(f.message)}")
                console.print(line)
        if self.skipped:
            console.print()
            for k in self.skipped:
                line = Text("  ")
                line.append("Chưa đọc ", style="red")
                line.append(visible(f"{k.name}: {k.message}"))
                console.print(line)
        if self.return_packages:
            console.print()
            for src, pkg in self.return_packages.items():
                console.print(Text(visible(f"Tệp trả lại: {Path(src).name} → {pkg}")))


def _skipped(r: FileResult) -> bool:
    """An Excel owner file: listed for the record, not a form."""
    return bool(r.findings) and all(f.severity == INFO for f in r.findings) and r.unit is None


def validate_report(paths: Iterable[Path | str], catalogue: Catalogue | None = None,
                    period: Period | str | None = None, history: History | None = None,
                    progress: Callable[[Path], Any] | None = None, return_dir: Path | None = None,
                    workers: int | None = None, *, ledger: Path | str | None = None,
                    received: dt.date | None = None) -> ValidationReport:
    """Validate a batch the way ``consolidate`` does (:func:`check_in_order`: e-mails and zips opened, earlier months
    first, year-to-date figures against ``ledger``'s earlier months when it is given; the ledger is only read) and,
    when ``return_dir`` is given, write a return package for each file with findings that the unit must act on."""
    from .ledger import LedgerHistory

    cat = catalogue or default_catalogue()
    per = _period(period)
    paths = list(paths)
    if return_dir is not None:
        guards.check_return_dir(paths, return_dir)  # before anything is read or written
    files = sorted(expand_paths(paths), key=_sort_key)
    if history is None:
        usable = ledger is not None and Path(ledger).is_file()
        if usable:
            ledgerfile.check_readable(ledger)  # another application's database is refused, not read as no history
        history = LedgerHistory(str(ledger) if usable else "")
    if workers is None:
        workers = POOL_WORKERS if len(files) >= POOL_THRESHOLD else 1
    with collected(files, received) as (arrivals, skipped):
        pairs = list(check_in_order(arrivals, cat, per, history, checker=_batch_checker, workers=workers,
                                    progress=progress))
        pairs.sort(key=lambda pair: _sort_key(pair[1].path) if pair[0].origin is None
                   else (pair[0].shown.casefold(), pair[0].origin))
        results = [res for _arrival, res in pairs]
        _add_batch_findings(results, cat, per)
        report = ValidationReport(results, per, skipped=skipped)
        if return_dir is not None:
            from .returnpkg import write_return_packages

            wanted = [r for r in results if not _taken_care_of(r)]
            report.return_packages = {str(k): v for k, v in write_return_packages(wanted, return_dir, cat).items()}
        for arrival, res in pairs:  # an attachment is shown as "thư.eml › tệp.xlsx", not by its temporary copy
            if arrival.origin is not None:
                old = str(res.path)
                res.path = Path(arrival.origin)
                res.findings = [Finding(**{**f.__dict__, "file": arrival.origin}) if f.file == old else f
                                for f in res.findings]
                if old in report.return_packages:
                    report.return_packages[arrival.origin] = report.return_packages.pop(old)
    return report


def _batch_checker(paths, catalogue, period=None, history=None, progress=None, workers=None):
    """Read in a pool (from :data:`POOL_THRESHOLD` files) and check here: :func:`validate_paths` without its batch
    checks (they run once over the whole batch), in the order given."""
    subs = _read_all(list(paths), catalogue, workers or 1, progress)
    return [_result(sub, catalogue, period, history) for sub in subs]


def _taken_care_of(result: FileResult) -> bool:
    """A file that needs no return package: the same bytes as another file of the batch, or an older version of a
    report whose newer version is valid."""
    return any(f.code in ("I-ID-IDENTICAL", "I-ID-SUPERSEDED") for f in result.findings)


def now_text() -> str:
    return dt.datetime.now().strftime("%H:%M %d/%m/%Y")


__all__ = ["ValidationReport", "expand_paths", "validate_file", "validate_paths", "validate_report",
           "validate_submission"]
