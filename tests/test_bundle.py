"""The offline install package for the secretary's Windows PC (thidua bundle): the installer's commands are the
guide's, the Windows dependency closure is computed with Windows markers (pip's is not), the workbook is pointed at
the install folder, and the whole bundle resolves offline for every supported Python on 64-bit Windows.

The heavy test downloads about 170 MB of Windows wheels once into a cache (``THIDUA_WHEEL_CACHE`` or
``~/.cache/thidua/wheels-win``); later runs need no network. Without network and without a filled cache it skips,
except in CI, where PyPI is reachable."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import unicodedata
import zipfile
from pathlib import Path, PureWindowsPath

import openpyxl
import pytest
from click.testing import CliRunner
from test_workbook import buttons_in, olevba_modules, parts
from thidua import bundle
from thidua.errors import ThiDuaError
from thidua.workbook import SHEET_XLWINGS, build_workbook, build_workbook_bytes

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "excel-install.md"


# --- the installer and the guide --------------------------------------------------------------------------------------


def guide_block() -> str:
    """The guide's code block after the ``install-commands`` marker."""
    text = GUIDE.read_text(encoding="utf-8")
    after = text.split("<!-- install-commands -->", 1)[1]
    return after.split("```bat\n", 1)[1].split("```", 1)[0]


def test_installer_runs_exactly_the_commands_the_guide_shows() -> None:
    bat = bundle.installer_text()
    commands = bundle.install_commands(bat)
    assert commands == bundle.install_commands(guide_block())
    assert any("--no-index --find-links" in c and c.endswith(" thidua") for c in commands)
    assert '%PY% -m venv "%TD_HOME%\\.venv"' in commands
    assert 'set "TEMP=%TD_HOME%\\tmp"' in commands  # an ASCII TEMP under the install folder during the install
    assert commands[-1] == '"%TD_HOME%\\.venv\\Scripts\\python.exe" -m thidua.bundle check "%TD_HOME%\\ThiDua2024.xlsm"'
    # every command of the .bat's block stops the install when it fails
    block = bat.split(bundle.COMMANDS_BEGIN)[1].split(bundle.COMMANDS_END)[0]
    for line in block.strip().split("\r\n"):
        assert line.startswith("set ") or line.endswith("|| goto :failed"), line


def test_install_commands_see_a_difference() -> None:
    changed = guide_block().replace("--no-index ", "")
    assert bundle.install_commands(changed) != bundle.install_commands(bundle.installer_text())


def test_installer_text() -> None:
    bat = bundle.installer_text(("3.11", "3.12", "3.13"))
    assert "\n" not in bat.replace("\r\n", "")  # CRLF only
    head, _, rest = bat.partition("chcp 65001 >nul\r\n")
    assert rest and head.isascii()  # nothing but ASCII before the console is switched to UTF-8
    assert unicodedata.is_normalized("NFC", bat)
    assert "{" not in bat.replace("%~dp0", "")  # every placeholder filled
    assert 'set "TD_HOME=C:\\ThiDua2024"' in bat
    assert "for %%V in (3.12:312 3.13:313 3.11:311) do" in bat
    assert "sys.version_info[:2] <= (3, 13) and sys.maxsize > 2**32" in bat and "(3, 11) <=" in bat
    assert "%LOCALAPPDATA%\\Programs\\Python\\Python%NUM%\\python.exe" in bat  # a per-user install, found without py
    assert bundle.python_candidates(("3.11", "3.12")) == "3.12:312 3.11:311"


def test_guide_pdf_source_is_the_vietnamese_part() -> None:
    html = bundle.guide_html(GUIDE.read_text(encoding="utf-8"))
    assert "Bước 1. Cài Python cho riêng tài khoản của bạn" in html
    assert "Nhờ bộ phận CNTT" in html and "Phương án dự phòng" in html and "<table border=\"1\"" in html
    assert "English version" not in html and "<!--" not in html
    assert unicodedata.is_normalized("NFC", html)


# --- the Windows closure ----------------------------------------------------------------------------------------------


def fake_wheel(folder: Path, name: str, version: str, tag: str, requires: list[str] = (),
               requires_python: str | None = None) -> Path:
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-{tag}.whl"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}.dist-info/METADATA", "\n".join(lines) + "\n")
        archive.writestr(f"{dist}.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n")
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """An app needing a plain dependency, a Windows-only one (built for CPython 3.12 only) and a Linux-only one."""
    fake_wheel(tmp_path, "app", "1.0", "py3-none-any",
               ["dep>=1", 'winonly>=2; platform_system == "Windows"', 'linuxonly; sys_platform == "linux"',
                'extraonly; extra == "docs"'])
    fake_wheel(tmp_path, "dep", "1.0", "py3-none-any")
    fake_wheel(tmp_path, "dep", "0.9", "py3-none-any")
    fake_wheel(tmp_path, "winonly", "2.0", "cp312-cp312-win_amd64")
    fake_wheel(tmp_path, "winonly", "2.0", "cp312-cp312-manylinux_2_17_x86_64")
    return tmp_path


def test_closure_evaluates_markers_for_windows(shop: Path) -> None:
    found = bundle.closure(shop, "3.12", ["app"])
    assert sorted(found.files) == ["app", "dep", "winonly"] and found.missing == []
    assert found.files["winonly"].name.endswith("cp312-cp312-win_amd64.whl")
    assert found.files["dep"].name.startswith("dep-1.0-")
    assert bundle.closure(shop, "3.12", ["dep"], pins={"dep": "0.9"}).files["dep"].name.startswith("dep-0.9-")
    assert bundle.closure(shop, "3.12", ["app"], pins={"dep": "0.9"}).missing == ["dep>=1"]  # a pin never bends
    missing = bundle.closure(shop, "3.11", ["app"])  # no cp311 Windows wheel of winonly
    assert missing.missing == ["winonly>=2"]


def test_pip_alone_misses_windows_only_requirements(shop: Path) -> None:
    """Why the bundle computes the closure itself: pip, run on Linux with --platform win_amd64, evaluates markers
    for Linux — it leaves out winonly and wants linuxonly."""
    with pytest.raises(ThiDuaError, match="linuxonly"):
        bundle.pip_resolves_offline(shop, "3.12", [str(next(shop.glob("app-*.whl")))])
    fake_wheel(shop, "linuxonly", "1.0", "py3-none-any")
    installs = bundle.pip_resolves_offline(shop, "3.12", [str(next(shop.glob("app-*.whl")))])
    assert installs == ["app==1.0", "dep==1.0", "linuxonly==1.0"]  # no winonly: pip's answer is wrong for Windows


def test_closure_checks_requires_python(tmp_path: Path) -> None:
    fake_wheel(tmp_path, "app", "1.0", "py3-none-any", requires_python=">=3.12")
    assert bundle.closure(tmp_path, "3.11", ["app"]).missing == ["app (Requires-Python >=3.12)"]
    assert bundle.closure(tmp_path, "3.12", ["app"]).missing == []


# --- after installing: the workbook points at the install folder ------------------------------------------------------


def test_configure_workbook_points_xlwings_at_the_install_folder(tmp_path: Path) -> None:
    book = build_workbook(tmp_path / "ThiDua2024.xlsm")
    modules, buttons = olevba_modules(book), buttons_in(book)
    assert bundle.configure_workbook(book, PureWindowsPath(r"C:\ThiDua2024")) == []  # the default: untouched
    assert book.read_bytes() == build_workbook_bytes()
    changed = bundle.configure_workbook(book, PureWindowsPath(r"D:\ThiDua2024"))
    assert changed == ["Interpreter_Win", "TEMP DIR"]
    ws = openpyxl.load_workbook(book)[SHEET_XLWINGS]
    assert (ws["A1"].value, ws["B1"].value) == ("Interpreter_Win", r"D:\ThiDua2024\.venv\Scripts\pythonw.exe")
    assert (ws["A2"].value, ws["B2"].value) == ("TEMP DIR", r"D:\ThiDua2024\tmp")
    assert olevba_modules(book) == modules and buttons_in(book) == buttons  # macros and buttons kept
    assert "customUI/customUI.xml" in parts(book)


def test_built_with_xlwings(tmp_path: Path) -> None:
    import xlwings

    assert bundle.built_with_xlwings(build_workbook(tmp_path / "b.xlsm")) == xlwings.__version__


def test_bundle_command_refuses_a_folder_with_files(tmp_path: Path) -> None:
    from thidua.cli import app

    (tmp_path / "old.txt").write_text("x")
    result = CliRunner().invoke(app, ["bundle", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "đã có tệp" in " ".join(result.output.split())


# --- the whole bundle -------------------------------------------------------------------------------------------------


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def built_bundle(tmp_path_factory) -> bundle.Bundle:
    cache = bundle.default_cache()
    online = _pypi_reachable()
    if not online and not os.environ.get("CI"):
        complete = all(not bundle.closure(cache, v, ["thidua"]).missing for v in bundle.PYTHONS) if cache.is_dir() \
            else False
        if not complete:
            pytest.skip(f"PyPI is not reachable and the wheel cache {cache} is not filled (CI always runs this)")
    return bundle.build_bundle(tmp_path_factory.mktemp("bundle") / "ThiDua2024-bo-cai", cache=cache,
                               offline=not online)


def test_bundle_resolves_offline_for_windows(built_bundle: bundle.Bundle) -> None:
    out = built_bundle.folder
    assert sorted(p.name for p in out.iterdir()) == sorted(["cai-dat.bat", "goi", "ThiDua2024.xlsm",
                                                            bundle.GUIDE_PDF])
    assert [v.python for v in built_bundle.verified] == list(bundle.PYTHONS)
    for v in built_bundle.verified:
        names = {line.split("==")[0] for line in v.pip_installs}
        assert {"thidua", "xlwings", "pywin32", "pandas", "numpy", "matplotlib", "python-calamine"} <= names
        assert "xlwings==0.37.8" in v.pip_installs
        tag = f"cp{v.python.replace('.', '')}-win_amd64.whl"
        assert v.closure.files["pywin32"].name.endswith(tag) and v.closure.files["numpy"].name.endswith(tag)
    again = bundle.verify(out)  # the check is repeatable on the folder alone
    assert [v.pip_installs for v in again] == [v.pip_installs for v in built_bundle.verified]
    assert (out / "cai-dat.bat").read_bytes() == bundle.installer_text().encode("utf-8")
    assert (out / "ThiDua2024.xlsm").read_bytes() == build_workbook_bytes()


def test_bundle_guide_is_a_vietnamese_pdf(built_bundle: bundle.Bundle) -> None:
    pdf = built_bundle.guide
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    text = unicodedata.normalize("NFC", text)
    assert "Bước 1. Cài Python cho riêng tài khoản của bạn" in text
    assert "Nhờ bộ phận CNTT" in text and "English version" not in text


def test_an_incomplete_bundle_fails_the_check(built_bundle: bundle.Bundle, tmp_path: Path) -> None:
    """Without the Windows-only pywin32 (which pip on Linux would not notice), or without one Python's numpy, the
    check fails and names what is missing."""
    for drop, expected in (("pywin32-*.whl", "pywin32"), ("numpy-*cp311*.whl", "numpy")):
        copy = tmp_path / drop.split("-")[0] / "bundle"
        (copy / bundle.WHEELS_DIR).mkdir(parents=True)
        dropped = set(built_bundle.folder.joinpath(bundle.WHEELS_DIR).glob(drop))
        assert dropped
        for wheel in built_bundle.folder.joinpath(bundle.WHEELS_DIR).glob("*.whl"):
            if wheel not in dropped:
                os.link(wheel, copy / bundle.WHEELS_DIR / wheel.name)
        with pytest.raises(ThiDuaError, match=f"Python 3.11: {expected}"):
            bundle.verify(copy)


def test_the_installers_last_step_checks_and_configures(tmp_path: Path) -> None:
    """``python -m thidua.bundle check WORKBOOK`` as cai-dat.bat runs it: the bridge imports, xlwings matches the
    workbook, the workbook points at the install folder, the log and temporary folders exist; exit status 0. A
    workbook built with another xlwings is refused with a message and exit status 1."""
    import sys

    install = tmp_path / "ThiDua2024"
    book = build_workbook(install / "ThiDua2024.xlsm")
    env = {**os.environ, "THIDUA_HOME": str(install)}
    command = [sys.executable, "-m", "thidua.bundle", "check", str(book)]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Đã nạp được chương trình ThiDua và xlwings 0.37.8.")
    assert (install / "tmp").is_dir() and (install / "nhat-ky").is_dir()
    ws = openpyxl.load_workbook(book)[SHEET_XLWINGS]
    assert ws["B1"].value == str(install / ".venv" / "Scripts" / "pythonw.exe")
    assert ws["B2"].value == str(install / "tmp")
    files = parts(book)
    files["docProps/custom.xml"] = files["docProps/custom.xml"].replace(b"xlwings 0.37.8", b"xlwings 0.30.0")
    from thidua.workbook import write_zip

    book.write_bytes(write_zip(files))
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=300, env=env)
    assert result.returncode == 1 and result.stdout.startswith("Lỗi: Bảng tính “ThiDua2024.xlsm” cần xlwings 0.30.0")
