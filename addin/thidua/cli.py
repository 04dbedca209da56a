"""Command line: short wrappers that parse, call one library function, and turn library errors into a message and an
exit status (0 success, 1 findings with errors, 2 the command could not run)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .catalogue import Catalogue, load_catalogue
from .errors import ThiDuaError
from .i18n import install as install_vietnamese
from .period import Period

install_vietnamese()

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)


def progress_bar(label: str) -> Progress:
    """A progress bar on stderr; hidden when stderr is not a terminal (batch runs, CI, JSON output)."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def print_json(data: object) -> None:
    """JSON on stdout, nothing else (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def library_errors(func: Callable) -> Callable:
    """Turn expected library errors into a Vietnamese message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ThiDuaError as exc:
            console.print(f"[bold red]Lỗi:[/] {exc.message}")
            sys.exit(2)
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            console.print(f"[bold red]Lỗi:[/] không đọc/ghi được tệp{where}: {exc.strerror or exc}")
            sys.exit(2)

    return wrapper


def catalogue_options(func: Callable) -> Callable:
    """--catalogue, --organisation and --units, turned into a ``catalogue`` argument."""

    @click.option(
        "--catalogue",
        "catalogue_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Tệp danh mục nội dung, chỉ tiêu (mặc định: danh mục kèm theo).",
    )
    @click.option(
        "--organisation",
        "organisation_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Tệp cấu hình cơ quan theo thời gian (mặc định: cấu hình kèm theo).",
    )
    @click.option(
        "--units",
        "units_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Tệp danh sách đơn vị (mặc định: danh sách mẫu).",
    )
    @functools.wraps(func)
    def wrapper(*args, catalogue_path=None, organisation_path=None, units_path=None, **kwargs):
        return func(*args, catalogue=lazy_catalogue(catalogue_path, organisation_path, units_path), **kwargs)

    return wrapper


def lazy_catalogue(*paths: Path | None) -> Callable[[], Catalogue]:
    return functools.cache(lambda: load_catalogue(*paths))


def parse_period(_ctx, _param, value: str | None) -> Period | None:
    if value is None:
        return None
    try:
        return Period.parse(value)
    except ThiDuaError as exc:
        raise click.BadParameter(exc.message) from None


PERIOD_HELP = "Kỳ báo cáo dạng NNNN-TT, ví dụ 2024-09."
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="thidua")
def app() -> None:
    """ThiDua 2024 — tạo biểu, kiểm tra, tổng hợp và báo cáo phong trào thi đua năm 2024 của Sở GTVT Kon Tum."""


@app.command("form", context_settings=CONTEXT)
@click.option("--period", required=True, metavar="NNNN-TT", callback=parse_period, help=PERIOD_HELP)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Thư mục ghi biểu."
)
@click.option(
    "--unit", "units", multiple=True, metavar="MÃ", help="Mã đơn vị (lặp lại được); bỏ trống = tất cả đơn vị."
)
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@catalogue_options
@library_errors
def form_cmd(period: Period, out_dir: Path, units: tuple[str, ...], as_json: bool, catalogue) -> None:
    """Tạo biểu báo cáo thi đua (.xlsx) cho từng đơn vị trong một kỳ."""
    from .form import write_forms

    cat = catalogue()
    codes = [u.strip().upper() for u in units]
    with progress_bar("Đang tạo biểu") as bar:
        task = bar.add_task("", total=len(codes) or len(cat.units))
        paths = write_forms(cat, period, out_dir, codes, progress=lambda _u: bar.advance(task))
    if as_json:
        print_json({"period": str(period), "files": [str(p) for p in paths]})
        return
    for p in paths:
        out.print(f"  {p}")
    console.print(f"Đã tạo {len(paths)} biểu báo cáo {period.label} trong {out_dir}.")


@app.command("demo", context_settings=CONTEXT)
@click.option(
    "--out",
    "out_dir",
    default=Path("demo-out"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Thư mục kết quả của bản chạy thử.",
)
@click.option(
    "--period", default="2024-09", show_default=True, metavar="NNNN-TT", callback=parse_period, help=PERIOD_HELP
)
@library_errors
def demo_cmd(out_dir: Path, period: Period) -> None:
    """Chạy thử toàn bộ quy trình trên dữ liệu mẫu: tạo biểu, điền mẫu (có vài lỗi điển hình) và các bước sau."""
    from .demo import run_demo

    run_demo(out_dir, period, say=console.print)


def main() -> None:
    try:
        app(prog_name="thidua")
    except KeyboardInterrupt:
        console.print("Đã dừng theo yêu cầu.")
        sys.exit(130)


if __name__ == "__main__":
    main()
