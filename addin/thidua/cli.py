"""Command line: short wrappers that parse, call one library function, and turn library errors into a message and an
exit status (0 success, 1 findings with errors, 2 the command could not run)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .catalogue import Catalogue, load_catalogue
from .errors import ThiDuaError
from .i18n import install as install_vietnamese
from .period import Period
from .safetext import SafeConsole, json_text

install_vietnamese()

# Both consoles show control characters from units visibly and never expand emoji codes (thidua.safetext); text from
# units inside a markup string goes through ``escape``.
console = SafeConsole(stderr=True, highlight=False)
out = SafeConsole(highlight=False, soft_wrap=True)


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
    """JSON on stdout, nothing else (no colour, no wrapping); no raw control character (thidua.safetext)."""
    sys.stdout.write(json_text(json.dumps(data, ensure_ascii=False, indent=2, default=str)) + "\n")


def library_errors(func: Callable) -> Callable:
    """Turn expected library errors into a Vietnamese message and exit status 2. A full disk (or a file size limit, or
    a disk error) says so plainly whatever wrote: the writers raise :class:`thidua.atomic.WriteFailed` with what was
    kept, and a bare ``OSError`` or SQLite error of that kind is named here."""
    import sqlite3

    from rich.markup import escape

    from .atomic import write_problem

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ThiDuaError as exc:
            console.print(f"[bold red]Lỗi:[/] {escape(exc.message)}")
            sys.exit(2)
        except (OSError, sqlite3.Error) as exc:
            name = getattr(exc, "filename", None)
            where = f" ({escape(str(name))})" if name else ""
            problem = write_problem(exc)
            if problem is not None:
                console.print(f"[bold red]Lỗi:[/] {escape(problem)} khi ghi tệp{where}. Hãy giải phóng dung lượng rồi "
                              "chạy lại.")
            elif isinstance(exc, OSError):
                console.print(f"[bold red]Lỗi:[/] không đọc/ghi được tệp{where}: {escape(exc.strerror or str(exc))}")
            else:  # never SQLite's own English
                from .ledgerfile import sqlite_message

                console.print(f"[bold red]Lỗi:[/] {escape(sqlite_message(exc))}")
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
RECEIVED_HELP = ("Ngày nhận (NN/TT/NNNN) của các tệp mới trong lần chạy này, dùng để tính đúng hạn/trễ hạn (mặc định: "
                 "ngày lưu tệp vào thư mục; tệp đính kèm thư điện tử .eml lấy ngày gửi thư).")
LEDGER_HELP = ("Sổ theo dõi (SQLite) của cả năm (mặc định: thidua-ledger.sqlite tìm trong thư mục nhận, thư mục cha "
               "hoặc thư mục ông; chưa có thì tạo cạnh thư mục nhận).")


def parse_day(_ctx, _param, value: str | None):
    """``NN/TT/NNNN`` -> date."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.datetime.strptime(value.strip(), "%d/%m/%Y").date()
    except ValueError:
        raise click.BadParameter(f"Ngày “{value}” không hợp lệ: cần dạng NN/TT/NNNN, ví dụ 05/09/2024.") from None
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
        out.print(f"  {escape(str(p))}")
    console.print(f"Đã tạo {len(paths)} biểu báo cáo {period.label} trong {escape(str(out_dir))}.")


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


@app.command("validate", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.argument("paths", nargs=-1, required=True, metavar="ĐƯỜNG_DẪN...", type=click.Path(path_type=Path))
@click.option("--period", metavar="NNNN-TT", callback=parse_period,
              help="Kỳ đang kiểm tra; biểu của kỳ khác được ghi nhận cho kỳ của biểu, kèm cảnh báo. " + PERIOD_HELP)
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Sổ theo dõi để đối chiếu lũy kế với các tháng trước (chỉ đọc, không ghi) (mặc định: "
                   "thidua-ledger.sqlite tìm như lệnh consolidate; không có thì không đối chiếu).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON (chỉ JSON trên stdout).")
@click.option("--return-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Thư mục ghi tệp trả lại cho từng đơn vị có lỗi hoặc cảnh báo (ô lỗi được tô màu, kèm trang "
                   "“Kết quả kiểm tra”); không bao giờ ghi đè tệp gốc; chạy lại thì thay tệp trả lại của chính tệp đó.")
@catalogue_options
@library_errors
def validate_cmd(paths: tuple[Path, ...], period: Period | None, ledger_path: Path | None, as_json: bool,
                 return_dir: Path | None, catalogue) -> None:
    """Kiểm tra các tệp biểu đơn vị gửi về (tệp, thư mục, thư điện tử .eml, tệp nén .zip) đúng như lệnh consolidate
    kiểm tra: đọc, đối chiếu với bảy nội dung thi đua và với báo cáo các tháng trước trong sổ theo dõi, liệt kê mọi
    lỗi, cảnh báo kèm ô và cách sửa. Trạng thái thoát: 0 không có lỗi, 1 có tệp có lỗi hoặc chưa đọc được, 2 không
    chạy được."""
    from .ledger import find_ledger
    from .validate import expand_paths, validate_report

    cat = catalogue()
    total = len(expand_paths(paths))
    ledger = ledger_path or find_ledger(paths[0])
    if ledger_path is not None and not ledger_path.is_file():
        raise ThiDuaError(f"Không tìm thấy sổ theo dõi “{ledger_path}”.")
    with progress_bar("Đang kiểm tra") as bar:
        task = bar.add_task("", total=total)
        report = validate_report(paths, cat, period, progress=lambda _p: bar.advance(task), return_dir=return_dir,
                                 ledger=ledger)
    if as_json:
        data = report.to_dict()
        data["summary"]["ledger"] = str(ledger) if ledger else None
        print_json(data)
    else:
        report.render(out)
        console.print(report.summary_line())
        console.print(f"Đối chiếu lũy kế với sổ theo dõi: {escape(str(ledger))}" if ledger else
                      "Không có sổ theo dõi: chưa đối chiếu lũy kế với các tháng trước.")
        if report.return_packages:
            console.print(f"Đã ghi {len(report.return_packages)} tệp trả lại vào {escape(str(return_dir))}.")
    if report.has_errors:
        sys.exit(1)


@app.command("consolidate", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.argument("sources", nargs=-1, required=True, metavar="THƯ_MỤC_NHẬN | PHỤ_LỤC...",
                type=click.Path(path_type=Path))
@click.option("--level", type=click.Choice(["so", "khoi"]), default="so", show_default=True,
              help="so: tổng hợp biểu của các đơn vị thuộc Sở từ một thư mục nhận; khoi: Trưởng Khối tổng hợp phụ lục "
                   "báo cáo (.xlsx) của các cơ quan thành viên (cần --out).")
@click.option("--period", required=True, metavar="NNNN-TT", callback=parse_period, help="Kỳ tổng hợp. " + PERIOD_HELP)
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path), help=LEDGER_HELP)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Ghi bảng tổng hợp ra tệp .xlsx mới (mặc định: tong-hop-<kỳ>.xlsx cạnh thư mục nhận).")
@click.option("--received", "received", metavar="NN/TT/NNNN", callback=parse_day, help=RECEIVED_HELP)
@click.option("--recheck", is_flag=True,
              help="Kiểm tra lại mọi tệp bị trả lại của kỳ (tệp bị trả lại vẫn được tự kiểm tra lại khi báo cáo tháng "
                   "trước của đơn vị, danh mục hoặc danh sách đơn vị thay đổi).")
@click.option("--return-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Thư mục ghi tệp trả lại cho từng tệp bị trả lại trong lần chạy này.")
@click.option("--workbook", "workbook_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Ghi vào sổ .xlsm có sẵn: chỉ thay các trang tổng hợp, giữ nguyên macro, nút bấm và các trang khác.")
@click.option("--workers", type=click.IntRange(0, 16), default=None, metavar="SỐ",
              help="Số tiến trình đọc tệp song song (mặc định: tự chọn; 0 hoặc 1 = đọc lần lượt).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON (chỉ JSON trên stdout).")
@catalogue_options
@library_errors
def consolidate_cmd(sources: tuple[Path, ...], level: str, period: Period, ledger_path: Path | None,
                    out_path: Path | None, received, recheck: bool, return_dir: Path | None,
                    workbook_path: Path | None, workers: int | None, as_json: bool, catalogue) -> None:
    """Tổng hợp: kiểm tra các tệp mới trong thư mục nhận, ghi vào sổ theo dõi, rồi ghi các trang “Tổng hợp”, “Theo nội
    dung”, “Tình hình nộp”, “Kết quả kiểm tra” của kỳ. Tệp đã nhận (cùng nội dung) không đọc lại; tệp mới nhất không có
    lỗi của mỗi đơn vị được dùng. Trạng thái thoát: 0 xong, 1 xong nhưng còn đơn vị có báo cáo bị trả lại trong kỳ, 2
    không chạy được (khi đó không ghi gì)."""
    from rich.markup import escape

    from .consolidate import consolidate
    from .model import DUE_STATUSES, REJECTED, STATUS_VI

    if out_path is not None and workbook_path is not None:
        raise click.UsageError("Chỉ dùng một trong hai tùy chọn --out hoặc --workbook.")
    if level == "khoi":
        if out_path is None:
            raise click.UsageError("Tổng hợp cấp Khối cần --out TỆP.xlsx.")
        _run_khoi(sources, period, catalogue(), out_path, as_json)
        return
    if len(sources) != 1:
        raise click.UsageError("Tổng hợp cấp Sở nhận đúng một thư mục nhận.")
    inbox = sources[0]
    cat = catalogue()
    with progress_bar("Đang kiểm tra tệp mới") as bar:
        task = bar.add_task("", total=None)
        result = consolidate(inbox, period, cat, ledger=ledger_path, out=out_path, workbook=workbook_path,
                             workers=workers, progress=lambda _p: bar.advance(task), received=received,
                             recheck=recheck, return_dir=return_dir)
    counts = result.counts()
    if as_json:
        print_json(result.to_dict())
    else:
        s = result.summary
        console.print(f"Đã xem {result.seen} tệp trong {escape(str(inbox))}: {len(s.new)} tệp mới, "
                      f"{len(result.skipped)} tệp đã có trong sổ theo dõi (không đọc lại).")
        if s.new:
            console.print(f"  Tệp mới: {len(s.current)} được dùng, {len(s.rejected)} bị trả lại, {len(s.older)} cũ hơn "
                          "tệp đang dùng.")
        for k in result.unreadable:
            console.print(f"  [red]Chưa đọc được[/] {escape(k.name)}: {escape(k.message)}")
        for f in s.rechecked:
            state = {"current": "được dùng", "rejected": "vẫn bị trả lại"}.get(
                f["status"], "hợp lệ, cũ hơn tệp đang dùng")
            console.print(f"  Kiểm tra lại ({escape(f['why'])}): {escape(f['file_name'])} → {state}")
        for r in s.replacements:
            console.print(f"  Thay thế: {escape(r['unit'])} kỳ {escape(r['period'])}: {escape(r['old_file'])} → "
                          f"{escape(r['new_file'])}")
        for f in s.rejected:
            console.print(f"  [red]Bị trả lại[/]: {escape(f['file_name'])} ({escape(f['unit'] or '?')}): "
                          f"{escape(f['reason'] or '')}")
        console.print(f"Tình hình nộp {period.label}: " + ", ".join(f"{STATUS_VI[k]} {n}" for k, n in counts.items()
                                                                     if k in DUE_STATUSES or n) + ".")
        console.print(f"Sổ theo dõi: {escape(str(result.ledger))}")
        if result.return_packages:
            console.print(f"Đã ghi {len(result.return_packages)} tệp trả lại vào {escape(str(return_dir))}.")
        if result.master:
            backup = f" (bản trước lưu tại {escape(str(result.backup))})" if result.backup else ""
            console.print(f"Bảng tổng hợp: {escape(str(result.master))}{backup}")
    if counts.get(REJECTED):
        sys.exit(1)


@app.command("build-workbook", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.option("--out", "out_path", default=Path("workbook") / "ThiDua2024.xlsm", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Tệp bảng tính có macro (.xlsm) cần tạo.")
@click.option("--macros", "macros_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Thư mục mã VBA (.bas, .cls) (mặc định: thư mục macros của mã nguồn).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@catalogue_options
@library_errors
def build_workbook_cmd(out_path: Path, macros_dir: Path | None, as_json: bool, catalogue) -> None:
    """Tạo bảng tính điều khiển ThiDua2024.xlsm (nút bấm, thẻ ribbon “Thi đua 2024”, các trang tổng hợp, danh sách
    đơn vị, danh mục chỉ tiêu, cấu hình xlwings) từ mã VBA trong thư mục macros. Cùng đầu vào luôn cho cùng nội dung."""
    from .workbook import MACROS_DIR, build_workbook, project_modules

    path = build_workbook(out_path, macros_dir or MACROS_DIR, catalogue())
    modules = [m.name for m in project_modules(macros_dir or MACROS_DIR)]
    if as_json:
        print_json({"workbook": str(path), "modules": modules})
        return
    from rich.markup import escape

    console.print(f"Đã tạo {escape(str(path))} ({len(modules)} mô-đun VBA: {', '.join(modules)}).")


@app.command("bundle", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Thư mục mới (hoặc trống) để ghi bộ cài.")
@click.option("--python", "pythons", multiple=True, type=click.Choice(["3.11", "3.12", "3.13"]),
              help="Phiên bản Python trên máy Windows (lặp lại được; mặc định: 3.11, 3.12 và 3.13).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Thư mục lưu các gói đã tải (mặc định: ~/.cache/thidua/wheels-win hoặc THIDUA_WHEEL_CACHE).")
@click.option("--offline", is_flag=True, help="Không tải gì: chỉ dùng các gói đã có trong thư mục lưu.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON.")
@library_errors
def bundle_cmd(out_dir: Path, pythons: tuple[str, ...], cache: Path | None, offline: bool, as_json: bool) -> None:
    """Tạo bộ cài cho máy Windows của Văn phòng Sở (không cần quyền quản trị, không cần mạng): cai-dat.bat, bảng
    tính ThiDua2024.xlsm, hướng dẫn cài đặt (PDF) và thư mục “goi” chứa mọi gói Python cho Windows 64-bit. Chạy
    trong thư mục mã nguồn, máy có mạng; bộ cài được kiểm tra cài được không cần mạng cho từng phiên bản Python."""
    from .bundle import PYTHONS, build_bundle

    result = build_bundle(out_dir, tuple(pythons) or PYTHONS, cache, offline=offline)
    if as_json:
        print_json({"bundle": str(result.folder), "guide": str(result.guide), "wheels": [p.name for p in result.wheels],
                    "pythons": {v.python: v.pip_installs for v in result.verified}})
        return
    from rich.markup import escape

    size = sum(p.stat().st_size for p in result.wheels) / 1e6
    console.print(f"Đã tạo bộ cài {escape(str(result.folder))}: {len(result.wheels)} gói ({size:.0f} MB), "
                  f"hướng dẫn {escape(result.guide.name)}.")
    for v in result.verified:
        console.print(f"  Python {v.python}: {len(v.pip_installs)} gói, pip cài được không cần mạng (--no-index).")


#: The report's date line takes a day as any other option does.
parse_report_date = parse_day


def parse_span(_ctx, _param, value: str | None):
    """``2024-06`` / ``2024-Q2`` / ``2024-H1`` / ``2024`` -> the report's span."""
    from .period import Span

    if value is None:
        return None
    try:
        return Span.parse(value)
    except ThiDuaError as exc:
        raise click.BadParameter(exc.message) from None


@app.command("report", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.option("--period", required=True, metavar="KỲ", callback=parse_span,
              help="Kỳ báo cáo: 2024-06 (tháng), 2024-Q2 (quý), 2024-H1 / 2024-H2 (6 tháng), 2024 (cả năm). Báo cáo "
                   "tổng kết lấy cả năm; ghi 2024-11 thì tổng kết số liệu từ đầu năm đến hết tháng 11.")
@click.option("--kind", type=click.Choice(["so-ket", "tong-ket"]), default="so-ket", show_default=True,
              help="so-ket: báo cáo sơ kết (tháng, quý, 6 tháng); tong-ket: báo cáo tổng kết năm (kèm danh sách dự "
                   "kiến đề nghị danh hiệu tập thể, văn bản riêng).")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Sổ theo dõi (SQLite) do lệnh consolidate ghi (mặc định: thidua-ledger.sqlite ở thư mục hiện tại, "
                   "thư mục cha, thư mục ông hoặc một thư mục con).")
@click.option("--sample", is_flag=True, help="Lập báo cáo trên dữ liệu mẫu (không cần sổ theo dõi) để xem thử.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Thư mục ghi báo cáo (.docx) và phụ lục (.xlsx).")
@click.option("--date", "report_date", metavar="NN/TT/NNNN", callback=parse_report_date,
              help="Ngày ghi trên báo cáo (mặc định: hôm nay, nhưng không trước hạn nộp biểu của tháng cuối kỳ và "
                   "không sau cuối tháng kế tiếp).")
@click.option("--office", "office_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Tệp nội dung do Văn phòng Sở viết (số, ngày kế hoạch; số báo cáo; kết quả chuyên môn; đề xuất "
                   "bổ sung) — mẫu: thidua/data/office.toml. Mục để trống thì không đưa vào báo cáo.")
@click.option("--previous-ledger", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Tổng kết: sổ theo dõi của năm trước, để so sánh với năm trước.")
@click.option("--previous-appendix", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Tổng kết: phụ lục (.xlsx) báo cáo tổng kết năm trước, để so sánh với năm trước.")
@click.option("--pdf", is_flag=True, help="Chuyển thêm sang PDF bằng LibreOffice (nếu máy có cài).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON (chỉ JSON trên stdout).")
@catalogue_options
@library_errors
def report_cmd(period, kind: str, ledger_path: Path | None, sample: bool, out_dir: Path, report_date,
               office_path: Path | None, previous_ledger: Path | None, previous_appendix: Path | None, pdf: bool,
               as_json: bool, catalogue) -> None:
    """Lập báo cáo sơ kết (tháng, quý, 6 tháng) hoặc tổng kết năm gửi Sở Xây dựng (Trưởng Khối) theo thể thức Nghị
    định 30/2020/NĐ-CP, kèm phụ lục số liệu (.xlsx) và, nếu yêu cầu, bản PDF. Trạng thái thoát: 0 xong (kể cả khi
    không tạo được PDF: có cảnh báo), 2 không chạy được."""
    from rich.markup import escape

    from .period import MONTH, YEAR, Span
    from .report import SpanData, load_span, previous_year_from_ledger, write_report
    from .report_text import load_office_text

    cat = catalogue()
    span = period
    if kind == "tong-ket":
        if span.kind not in (MONTH, YEAR):
            raise ThiDuaError(f"Báo cáo tổng kết lấy số liệu cả năm: ghi --period {span.year} (hoặc NNNN-TT để tổng "
                              "kết từ đầu năm đến hết tháng đó).")
        span = Span(YEAR, span.year, span.index if span.kind == MONTH else 12)
    previous = None
    if previous_ledger:
        previous = previous_year_from_ledger(previous_ledger, span.year - 1, cat)
    elif previous_appendix:
        from .appendix import previous_year_from_appendix

        previous = previous_year_from_appendix(previous_appendix, cat)
    if sample:
        from .report_sample import sample_period_data

        data = SpanData(span, [sample_period_data(cat, month) for month in span.months], previous)
    else:
        from .ledger import DEFAULT_NAME, Ledger, find_ledger

        ledger_path = ledger_path or find_ledger(Path.cwd(), below=True) or Path(DEFAULT_NAME)
        if not ledger_path.is_file():
            raise ThiDuaError(f"Không tìm thấy sổ theo dõi “{ledger_path}”. Hãy chạy lệnh consolidate trước, chỉ rõ "
                              "--ledger, hoặc dùng --sample để xem thử trên dữ liệu mẫu.")
        with Ledger(ledger_path, create=False) as led:  # an empty file or another database is not a ledger
            data = load_span(led, span, cat, previous)
    office = load_office_text(office_path) if office_path else None
    files = write_report(data, cat, kind, out_dir, report_date=report_date, pdf=pdf, office=office)
    if as_json:
        print_json(files.to_dict())
        return
    label = "tổng kết" if kind == "tong-ket" else "sơ kết"
    console.print(f"Đã lập báo cáo {label} {span.label}:")
    for path in (files.docx, files.appendix, files.proposals, files.pdf):
        if path:
            out.print(f"  {escape(str(path))}")
    for warning in files.warnings:
        console.print(f"[yellow]Cảnh báo:[/] {escape(warning)}")


@app.command("received", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.argument("file", metavar="TỆP")
@click.argument("day", metavar="NN/TT/NNNN", callback=parse_day)
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Sổ theo dõi (mặc định: thidua-ledger.sqlite tìm từ thư mục của tệp, rồi từ thư mục hiện tại).")
@click.option("--note", default="", help="Ghi chú lý do (ví dụ: “theo sổ công văn đến số 123”).")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON (chỉ JSON trên stdout).")
@library_errors
def received_cmd(file: str, day, ledger_path: Path | None, note: str, as_json: bool) -> None:
    """Ghi ngày nhận thực tế của một tệp đã có trong sổ theo dõi (ví dụ ngày đơn vị gửi thư điện tử, theo sổ công văn
    đến), dùng để tính đúng hạn/trễ hạn. TỆP là đường dẫn tới tệp (nhận ra theo nội dung) hoặc tên tệp như trong sổ
    theo dõi. Lần tổng hợp sau sẽ cập nhật trang “Tình hình nộp”."""
    from .ledger import Ledger, find_ledger
    from .received import find_recorded

    path = Path(file)
    ledger = ledger_path or find_ledger(path if path.exists() else Path.cwd(), below=True)
    if ledger is None or not Path(ledger).is_file():
        raise ThiDuaError("Không tìm thấy sổ theo dõi: hãy chỉ rõ --ledger TỆP.")
    with Ledger(ledger) as led:
        row = find_recorded(led, file)
        old, new = led.set_received(row["id"], day, note)
    if as_json:
        print_json({"ledger": str(ledger), "file": row["file_name"], "unit": row["unit"], "period": row["period"],
                    "received_before": old, "received": new})
        return
    console.print(f"Đã ghi ngày nhận {day:%d/%m/%Y} cho tệp {escape(row['file_name'])} ({escape(row['unit'] or '?')}, "
                  f"kỳ {escape(row['period'] or '?')}) trong sổ theo dõi {escape(str(ledger))}. Lần tổng hợp sau sẽ "
                  "cập nhật tình hình nộp.")


@app.command("khoi", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.argument("appendices", nargs=-1, required=True, metavar="PHỤ_LỤC...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--period", required=True, metavar="NNNN-TT", callback=parse_period, help="Kỳ tổng hợp. " + PERIOD_HELP)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Tệp tổng hợp cấp Khối (.xlsx) sẽ ghi.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON (chỉ JSON trên stdout).")
@catalogue_options
@library_errors
def khoi_cmd(appendices: tuple[Path, ...], period: Period, out_path: Path, as_json: bool, catalogue) -> None:
    """Tổng hợp cấp Khối: đọc phụ lục báo cáo (.xlsx do ThiDua lập) của các cơ quan thành viên, kiểm tra kỳ, danh mục
    và mã kiểm tra, rồi ghi bảng tổng hợp của Khối. Trạng thái thoát: 0 xong, 1 xong nhưng có phụ lục bị loại, 2
    không chạy được."""
    _run_khoi(appendices, period, catalogue(), out_path, as_json)


def _run_khoi(appendices: tuple[Path, ...], period: Period, cat: Catalogue, out_path: Path, as_json: bool) -> None:
    from rich.markup import escape

    from .khoi import run_khoi_cli

    code = run_khoi_cli(appendices, period, cat, out_path, as_json,
                        say=lambda text: console.print(escape(text)), emit_json=print_json)
    if code:
        sys.exit(code)


@app.command("restore-ledger", context_settings=CONTEXT, options_metavar="[TÙY_CHỌN]")
@click.argument("backup", required=False, metavar="[BẢN_SAO_LƯU]", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ledger", "ledger_path", default=Path("thidua-ledger.sqlite"), show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Sổ theo dõi cần khôi phục.")
@click.option("--json", "as_json", is_flag=True, help="In kết quả dạng JSON (chỉ JSON trên stdout).")
@library_errors
def restore_ledger_cmd(backup: Path | None, ledger_path: Path, as_json: bool) -> None:
    """Khôi phục sổ theo dõi từ bản sao lưu (mỗi lần consolidate ghi thêm tệp mới đều sao lưu sổ trước vào thư mục
    .backup cạnh sổ, giữ 5 bản gần nhất). Không chỉ BẢN_SAO_LƯU: liệt kê các bản sao lưu. Sổ đang dùng được sao lưu
    trước khi bị thay, nên có thể khôi phục ngược lại."""
    from .ledgerfile import ledger_backups, restore_ledger

    if backup is None:
        found = ledger_backups(ledger_path)
        if as_json:
            print_json({"ledger": str(ledger_path), "backups": [str(p) for p in found]})
            return
        if not found:
            console.print(f"Chưa có bản sao lưu nào của sổ theo dõi {escape(str(ledger_path))}.")
            return
        console.print(f"Các bản sao lưu của sổ theo dõi {escape(str(ledger_path))} (cũ trước, mới sau):")
        for p in found:
            out.print(f"  {escape(str(p))}")
        console.print("Khôi phục một bản: thidua restore-ledger --ledger SỔ BẢN_SAO_LƯU")
        return
    saved = restore_ledger(ledger_path, backup)
    if as_json:
        print_json({"ledger": str(ledger_path), "restored_from": str(backup),
                    "previous": str(saved) if saved else None})
        return
    console.print(f"Đã khôi phục sổ theo dõi {escape(str(ledger_path))} từ {escape(str(backup))}.")
    if saved:
        console.print(f"Sổ trước khi khôi phục được lưu tại {escape(str(saved))}.")


def main() -> None:
    from .guards import Interrupted, interrupted_message, stop_on_signals

    try:
        with stop_on_signals():
            app(prog_name="thidua")
    except (KeyboardInterrupt, Interrupted) as exc:
        signum = getattr(exc, "signum", 2)  # 2: SIGINT
        console.print(interrupted_message(signum))
        sys.exit(128 + signum)


if __name__ == "__main__":
    main()
