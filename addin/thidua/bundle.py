"""The install package for the secretary's Windows PC (``thidua bundle --out DIR``): everything an offline install
needs, without administrator rights.

The bundle holds ``cai-dat.bat`` (the installer), ``ThiDua2024.xlsm``, the guide as a printable PDF
(``HuongDanCaiDat.pdf``, the Vietnamese part of ``docs/excel-install.md``) and ``goi/``: the project's own wheel and the
Windows wheels (``win_amd64``) of every dependency for each supported Python (3.11-3.13), at the versions installed
where the bundle is made (the tested ones). ``cai-dat.bat`` creates ``C:\\ThiDua2024\\.venv`` with whichever supported
Python is installed (the ``py`` launcher is optional), installs with ``pip --no-index --find-links goi`` (no network),
copies the workbook and runs ``python -m thidua.bundle check``: it writes the install folder's interpreter and an ASCII
``TEMP DIR`` into the workbook's ``xlwings.conf`` sheet, checks the xlwings version against the workbook's VBA module
and builds matplotlib's font cache.

pip evaluates environment markers for the machine it runs on, not for ``--platform`` (``pywin32; platform_system ==
"Windows"``, xlwings' COM layer, would be left out on Linux), so the dependency closure is also computed here, from the
wheels' own metadata with a Windows marker environment, and the requirements pip missed are added to its command.
:func:`verify` checks a bundle both ways: pip's resolver offline (``--no-index --dry-run``) for each Python, and the
marker-aware closure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from .errors import ThiDuaError

PYTHONS = ("3.11", "3.12", "3.13")
PLATFORM = "win_amd64"
PROJECT = "thidua"
WHEELS_DIR = "goi"
INSTALLER = "cai-dat.bat"
GUIDE_PDF = "HuongDanCaiDat.pdf"
WORKBOOK = "ThiDua2024.xlsm"
ENGLISH_MARKER = "<!-- english -->"
COMMANDS_BEGIN, COMMANDS_END = "rem >>> install commands", "rem <<< install commands"
ROOT = Path(__file__).resolve().parents[2]  # the checkout (addin/thidua/bundle.py -> .)
GUIDE_SOURCE = ROOT / "docs" / "excel-install.md"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ----------------------------------------------------------------------------------------------------------------------
# The Windows dependency closure, from the wheels' metadata


def windows_environment(python: str) -> dict[str, str]:
    """PEP 508 marker values of 64-bit CPython ``python`` (e.g. "3.12") on Windows."""
    return {"python_version": python, "python_full_version": f"{python}.0", "implementation_version": f"{python}.0",
            "sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": "AMD64",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "platform_release": "10",
            "platform_version": "10.0.19045", "extra": ""}


@dataclass
class Closure:
    """The wheels one Python needs, chosen from a folder; ``missing`` lists requirements no wheel there satisfies."""

    python: str
    files: dict[str, Path] = field(default_factory=dict)  # normalised name -> wheel
    missing: list[str] = field(default_factory=list)


def _wheel_metadata(path: Path) -> tuple[list[str], str | None]:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        message = Parser().parsestr(archive.read(name).decode("utf-8"))
    return message.get_all("Requires-Dist") or [], message.get("Requires-Python")


def closure(folder: Path, python: str, roots: list[str], pins: dict[str, str] | None = None) -> Closure:
    """Resolve ``roots`` (requirement strings) from the wheels in ``folder`` for ``python`` on 64-bit Windows:
    compatible tags only, markers evaluated for Windows, the pinned version when there is one, else the newest."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import parse_wheel_filename

    version = tuple(int(p) for p in python.split("."))
    tags = {*cpython_tags(version, platforms=[PLATFORM]), *compatible_tags(version, platforms=[PLATFORM])}
    available: dict[str, list[tuple[object, Path]]] = {}
    for wheel in folder.glob("*.whl"):
        name, wheel_version, _, wheel_tags = parse_wheel_filename(wheel.name)
        if tags & set(wheel_tags):
            available.setdefault(_normal(name), []).append((wheel_version, wheel))
    env = windows_environment(python)
    result = Closure(python)
    pending = [Requirement(r) for r in roots]
    while pending:
        req = pending.pop()
        name = _normal(req.name)
        if name in result.files:
            continue
        candidates = sorted(available.get(name, []), key=lambda c: c[0], reverse=True)  # type: ignore[arg-type,return-value]
        pinned = (pins or {}).get(name)
        if pinned:
            candidates = [c for c in candidates if str(c[0]) == pinned] or candidates
        chosen = next((c for c in candidates if req.specifier.contains(c[0], prereleases=True)), None)
        if chosen is None:
            result.missing.append(f"{req.name}{req.specifier}")  # the marker was evaluated already
            continue
        requires, requires_python = _wheel_metadata(chosen[1])
        if requires_python and not SpecifierSet(requires_python).contains(f"{python}.0"):
            result.missing.append(f"{req.name}{req.specifier} (Requires-Python {requires_python})")
            continue
        result.files[name] = chosen[1]
        for text in requires:
            dep = Requirement(text)
            if dep.marker is None or Marker(str(dep.marker)).evaluate(env):
                pending.append(dep)
    return result


def pinned_versions(project: str = PROJECT) -> dict[str, str]:
    """The installed version of every runtime dependency of ``project``, recursively (the tested versions)."""
    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    pending = list(metadata.requires(project) or [])
    while pending:
        req = Requirement(pending.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _normal(req.name)
        if name in pins:
            continue
        try:
            pins[name] = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            continue
        pending += metadata.requires(req.name) or []
    return pins


# ----------------------------------------------------------------------------------------------------------------------
# pip


def _pip(*args: str, timeout: float = 1200, isolated: bool = False) -> subprocess.CompletedProcess:
    """Run pip; ``isolated``: no configuration file and no PIP_* variable (their find-links or indexes would let an
    offline check see more than the folder it checks)."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    env = dict(os.environ)
    if isolated:
        env = {k: v for k, v in env.items() if not k.upper().startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull  # pip then reads no configuration file at all
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, encoding="utf-8",
                            errors="replace", env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
        raise ThiDuaError(f"Lệnh pip không chạy được ({' '.join(args[:2])} …):\n{tail}")
    return result


def _target(python: str) -> list[str]:
    return ["--platform", PLATFORM, "--python-version", python, "--implementation", "cp", "--only-binary=:all:"]


def build_project_wheel(dest: Path) -> Path:
    """The project's own wheel, built from the checkout."""
    if not (ROOT / "pyproject.toml").is_file():
        raise ThiDuaError(f"Không thấy mã nguồn ThiDua ở “{ROOT}”: lệnh bundle chạy trong thư mục mã nguồn.")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="thidua-wheel-") as tmp:
        _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", tmp, str(ROOT))
        (built,) = Path(tmp).glob(f"{PROJECT}-*.whl")
        target = dest / built.name
        shutil.copyfile(built, target)
    return target


def download(cache: Path, python: str, requirements: list[str], pins: dict[str, str]) -> None:
    """``pip download`` the Windows wheels of ``requirements`` for ``python`` into ``cache`` (files already there are
    not fetched again); the tested versions as constraints."""
    with tempfile.TemporaryDirectory(prefix="thidua-pins-") as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items()) if n != PROJECT),
                               encoding="utf-8")
        _pip("download", "--quiet", "--dest", str(cache), "--find-links", str(cache), *_target(python),
             "-c", str(constraints), *requirements)


def gather(cache: Path, project_wheel: Path, pythons: tuple[str, ...] = PYTHONS,
           pins: dict[str, str] | None = None, *, offline: bool = False) -> dict[str, Closure]:
    """Fill ``cache`` with what each Python needs and return each one's closure. pip resolves with this machine's
    markers: the Windows-only requirements it leaves out are added to its command until the closure is complete."""
    pins = pinned_versions() if pins is None else pins
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(project_wheel, cache / project_wheel.name)
    root = f"{PROJECT}=={_wheel_version(project_wheel)}"
    found: dict[str, Closure] = {}
    for python in pythons:
        extra: list[str] = []
        for _ in range(5):
            result = closure(cache, python, [root], pins)
            if not result.missing or offline:
                break
            extra = sorted({*extra, *(m.split(" (")[0] for m in result.missing)})
            download(cache, python, [str(project_wheel), *extra], pins)
        if result.missing:
            raise ThiDuaError(f"Thiếu gói cho Python {python} trên Windows: {', '.join(result.missing)}.")
        found[python] = result
    return found


def _wheel_version(wheel: Path) -> str:
    from packaging.utils import parse_wheel_filename

    return str(parse_wheel_filename(wheel.name)[1])


# ----------------------------------------------------------------------------------------------------------------------
# Checking a bundle


@dataclass
class Verification:
    python: str
    pip_installs: list[str]  # name==version pip's resolver would install, offline
    closure: Closure


def pip_resolves_offline(wheels: Path, python: str, requirements: list[str]) -> list[str]:
    """What ``pip install --no-index --find-links wheels`` would install for ``python`` on 64-bit Windows (pip's own
    resolver, ``--dry-run --report``); raises when it cannot resolve."""
    with tempfile.TemporaryDirectory(prefix="thidua-resolve-") as tmp:
        report = Path(tmp) / "report.json"
        _pip("install", "--dry-run", "--quiet", "--ignore-installed", "--no-index", "--find-links", str(wheels),
             *_target(python), "--target", str(Path(tmp) / "target"), "--report", str(report), *requirements,
             isolated=True)
        data = json.loads(report.read_text(encoding="utf-8"))
    return sorted(f"{_normal(item['metadata']['name'])}=={item['metadata']['version']}" for item in data["install"])


def verify(bundle: Path, pythons: tuple[str, ...] = PYTHONS) -> list[Verification]:
    """Check that ``bundle/goi`` installs ``thidua`` offline for each Python on 64-bit Windows: pip's resolver must
    succeed with ``--no-index``, the marker-aware closure must be complete, and both must pick the same wheels."""
    wheels = bundle / WHEELS_DIR
    (project_wheel,) = wheels.glob(f"{PROJECT}-*.whl")
    results = []
    for python in pythons:
        found = closure(wheels, python, [PROJECT])
        if found.missing:
            raise ThiDuaError(f"Bộ cài thiếu gói cho Python {python}: {', '.join(found.missing)}.")
        windows_only = [f"{n}=={_wheel_version(p)}" for n, p in found.files.items() if n != PROJECT]
        installs = pip_resolves_offline(wheels, python, [str(project_wheel), *windows_only])
        chosen = sorted(f"{n}=={_wheel_version(p)}" for n, p in found.files.items())
        if installs != chosen:
            raise ThiDuaError(f"pip và phép kiểm tra gói chọn khác nhau cho Python {python}: "
                              f"{sorted(set(installs) ^ set(chosen))}.")
        results.append(Verification(python, installs, found))
    return results


# ----------------------------------------------------------------------------------------------------------------------
# The installer and the guide


def python_candidates(pythons: tuple[str, ...]) -> str:
    """The versions cai-dat.bat looks for, in order: 3.12 (the longest-tested here), then the others newest first; as
    ``dotted:compact`` pairs for its loop."""
    ordered = sorted(pythons, key=lambda v: (v != "3.12", [-int(p) for p in v.split(".")]))
    return " ".join(f"{v}:{v.replace('.', '')}" for v in ordered)


def installer_text(pythons: tuple[str, ...] = PYTHONS, install_dir: str | None = None) -> str:
    """cai-dat.bat, CRLF line ends, UTF-8 (the script switches the console to code page 65001 first)."""
    from .workbook import INSTALL_DIR

    template = (Path(__file__).parent / "data" / "cai-dat.bat").read_text(encoding="utf-8")
    low, high = min(pythons, key=_key), max(pythons, key=_key)
    text = (template.replace("{INSTALL_DIR}", install_dir or INSTALL_DIR)
            .replace("{PYTHONS}", python_candidates(pythons))
            .replace("{LOW}", ", ".join(low.split("."))).replace("{HIGH}", ", ".join(high.split(".")))
            .replace("{VERSIONS}", " / ".join(sorted(pythons, key=_key))))
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def install_commands(text: str) -> list[str]:
    """The install command lines between the markers of cai-dat.bat (without the ``|| goto`` error handling) or of
    the guide's code block."""
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == COMMANDS_BEGIN)
        end = next(i for i, line in enumerate(lines) if line.strip() == COMMANDS_END)
    except StopIteration:
        raise ThiDuaError("Không thấy khối lệnh cài đặt (rem >>> install commands).") from None
    commands = [re.sub(r"\s+\|\|\s+goto\s+:\w+\s*$", "", line).strip() for line in lines[start + 1 : end]]
    return [c for c in commands if c and not c.lower().startswith("rem ")]


def guide_html(markdown: str) -> str:
    """The Vietnamese part of the install guide (up to the English marker) as a printable HTML page."""
    from markdown_it import MarkdownIt

    text = markdown.split(ENGLISH_MARKER)[0]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    # LibreOffice's HTML import ignores CSS borders: the table's own attributes draw them
    body = body.replace("<table>", '<table border="1" cellspacing="0" cellpadding="4">')
    style = ("body{font-family:'Times New Roman','Liberation Serif',serif;font-size:12pt;line-height:1.35}"
             "h1{font-size:17pt}h2{font-size:14pt;margin-top:14pt}h3{font-size:12.5pt}"
             "code,pre{font-family:'Courier New','Liberation Mono',monospace;font-size:10pt}"
             "pre{background:#f2f2f2;padding:4pt;border:1px solid #ccc}"
             "table{border-collapse:collapse}td,th{border:1px solid #888;padding:2pt 4pt;vertical-align:top;"
             "font-size:10.5pt}")
    return (f'<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8"><title>ThiDua 2024 — Hướng dẫn cài đặt'
            f"</title><style>{style}</style></head><body>\n{body}</body></html>\n")


def write_guide(out: Path, source: Path = GUIDE_SOURCE) -> Path:
    """``HuongDanCaiDat.pdf`` (LibreOffice); where LibreOffice is missing, the HTML page instead."""
    from .office import convert, soffice

    html = out / "HuongDanCaiDat.html"
    html.write_text(guide_html(source.read_text(encoding="utf-8")), encoding="utf-8")
    if soffice() is None:
        return html
    with tempfile.TemporaryDirectory(prefix="thidua-guide-") as tmp:
        (pdf,) = convert(html, Path(tmp), "pdf:writer_pdf_Export", infilter="HTML (StarWriter)")
        shutil.copyfile(pdf, out / GUIDE_PDF)
    html.unlink()
    return out / GUIDE_PDF


# ----------------------------------------------------------------------------------------------------------------------
# The bundle


def default_cache() -> Path:
    base = os.environ.get("THIDUA_WHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "thidua", "wheels-win")
    return Path(base)


@dataclass
class Bundle:
    folder: Path
    wheels: list[Path]
    guide: Path
    verified: list[Verification]


def build_bundle(out: Path | str, pythons: tuple[str, ...] = PYTHONS, cache: Path | str | None = None, *,
                 offline: bool = False) -> Bundle:
    """Write the install package into ``out`` (which must be empty or new) and verify it."""
    from .workbook import build_workbook

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ThiDuaError(f"Thư mục “{out}” đã có tệp: hãy chọn một thư mục mới hoặc trống.")
    cache = Path(cache) if cache else default_cache()
    wheels = out / WHEELS_DIR
    wheels.mkdir(parents=True)
    project_wheel = build_project_wheel(wheels)
    found = gather(cache, project_wheel, pythons, offline=offline)
    for result in found.values():
        for name, path in result.files.items():
            if name != PROJECT and not (wheels / path.name).exists():
                shutil.copyfile(path, wheels / path.name)
    (out / INSTALLER).write_bytes(installer_text(pythons).encode("utf-8"))
    build_workbook(out / WORKBOOK)
    guide = write_guide(out)
    verified = verify(out, pythons)
    return Bundle(out, sorted(wheels.glob("*.whl")), guide, verified)


# ----------------------------------------------------------------------------------------------------------------------
# After installing, on the PC: `python -m thidua.bundle check WORKBOOK`


def configure_workbook(workbook: Path, install: Path) -> list[str]:
    """Write the install folder's interpreter and TEMP DIR into the workbook's ``xlwings.conf`` sheet (when they
    differ); return the keys changed."""
    import openpyxl

    from .atomic import atomic_path
    from .workbook import SHEET_XLWINGS

    wanted = {"INTERPRETER_WIN": str(install / ".venv" / "Scripts" / "pythonw.exe"), "TEMP DIR": str(install / "tmp")}
    wb = openpyxl.load_workbook(workbook, keep_vba=True)  # keep_vba: macros, buttons and ribbon stay
    ws = wb[SHEET_XLWINGS]
    changed = []
    row = 1
    while ws.cell(row, 1).value not in (None, ""):
        key = str(ws.cell(row, 1).value).upper()
        if key in wanted and ws.cell(row, 2).value != wanted[key]:
            ws.cell(row, 2).value = wanted[key]
            changed.append(str(ws.cell(row, 1).value))
        row += 1
    if changed:
        with atomic_path(workbook) as tmp:
            wb.save(tmp)
    return changed


def built_with_xlwings(workbook: Path) -> str | None:
    """The xlwings version whose VBA module the workbook carries (its ``ThiDuaBuild`` property)."""
    with zipfile.ZipFile(workbook) as archive:
        xml = archive.read("docProps/custom.xml").decode("utf-8") if "docProps/custom.xml" in archive.namelist() else ""
    match = re.search(r"xlwings ([0-9][^;<\s]*)", xml)
    return match[1] if match else None


def check(workbook: Path) -> list[str]:
    """The installer's last step: the bridge imports, xlwings is the version of the workbook's VBA module, the
    workbook points at this install folder, the log and temporary folders exist, matplotlib's font cache is built.
    Returns the lines to print; raises ThiDuaError when the install cannot work."""
    from . import xlentry

    install = xlentry.install_dir()
    for folder in (install / "tmp", xlentry.log_file().parent):
        folder.mkdir(parents=True, exist_ok=True)
    import xlwings

    # the bridge and every stage the buttons run (pandas, matplotlib, python-docx, python-calamine, XlsxWriter, ...)
    from . import consolidate, excel, form, master, reader, report, validate  # noqa: F401

    wanted = built_with_xlwings(workbook)
    if wanted != xlwings.__version__:
        raise ThiDuaError(f"Bảng tính “{workbook.name}” cần xlwings {wanted}, máy đang có {xlwings.__version__}: "
                          "hãy dùng bảng tính đi kèm bộ cài này.")
    lines = [f"Đã nạp được chương trình ThiDua và xlwings {xlwings.__version__}."]
    changed = configure_workbook(workbook, install)
    if changed:
        lines.append(f"Đã ghi thư mục cài đặt “{install}” vào trang xlwings.conf ({', '.join(changed)}).")
    from matplotlib import font_manager

    font_manager.findfont("DejaVu Sans")  # builds the font cache now rather than at the first report
    lines.append("Đã chuẩn bị phông chữ cho biểu đồ.")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m thidua.bundle check WORKBOOK`` (run by cai-dat.bat) or ``verify BUNDLE``."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) == 2 and args[0] == "check":
            lines = check(Path(args[1]))
        elif len(args) == 2 and args[0] == "verify":
            lines = [f"Python {v.python}: {len(v.pip_installs)} gói, cài được không cần mạng."
                     for v in verify(Path(args[1]))]
        else:
            print("Cách dùng: python -m thidua.bundle check ThiDua2024.xlsm | verify THƯ_MỤC_BỘ_CÀI")
            return 2
    except ThiDuaError as exc:
        print(f"Lỗi: {exc.message}")
        return 1
    except Exception as exc:  # the installer shows this line and the install folder's log gets the details
        print(f"Lỗi: {type(exc).__name__}: {exc}")
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
