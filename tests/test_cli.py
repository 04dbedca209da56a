"""The command line: Vietnamese help on every command, the demo runs, errors are messages, not tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

from click.testing import CliRunner
from thidua.cli import app
from thidua.office import soffice

ROOT = Path(__file__).resolve().parents[1]


def test_every_command_has_vietnamese_help():
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    assert "Cách dùng:" in top.output and "Lệnh:" in top.output and "Show this message" not in top.output
    for name, command in app.commands.items():
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Tùy chọn:" in result.output, name
        assert re.search("[àáảãạăâđèéêìíòóôơùúưỳý]", command.help or "", re.I), name
        assert unicodedata.is_normalized("NFC", result.output)


def test_bad_arguments_exit_2_with_a_vietnamese_message(tmp_path):
    result = CliRunner().invoke(app, ["form", "--period", "2024-13", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "Kỳ báo cáo “2024-13” không hợp lệ" in result.output
    result = CliRunner().invoke(app, ["form", "--period", "2024-09", "--out", str(tmp_path), "--unit", "XYZ"])
    assert result.exit_code == 2 and "XYZ" in result.output and "Traceback" not in result.output


def test_form_json(tmp_path):
    result = CliRunner().invoke(app, ["form", "--period", "2024-09", "--out", str(tmp_path), "--unit", "vp", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {"period": "2024-09", "files": [str(tmp_path / "ThiDua_2024-09_VP.xlsx")]}


def test_demo_runs_as_a_console_script(tmp_path):
    exe = Path(sys.executable).with_name("thidua")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "thidua.cli"]
    proc = subprocess.run([*cmd, "demo", "--out", str(tmp_path / "demo")], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "demo" / "forms").glob("*.xlsx"))) >= 8
    assert len(list((tmp_path / "demo" / "inbox").glob("*.xlsx"))) >= 8
    assert "Biểu đã điền mẫu" in proc.stderr
    demo = tmp_path / "demo"
    for name in ("ledger.sqlite", "tong-hop-2024-09.xlsx", "bao-cao/BaoCao_SoKet_2024-09.docx",
                 "bao-cao/PhuLuc_SoKet_2024-09.xlsx"):
        assert (demo / name).stat().st_size > 0, name
    assert len(list((demo / "tra-lai").glob("*.xlsx"))) == 4  # one return package per deliberately faulty file
    if soffice():
        assert (demo / "bao-cao" / "BaoCao_SoKet_2024-09.pdf").stat().st_size > 0


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_cmd = re.search(r"<!-- test-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S).group(1).strip()
    assert test_cmd in ci
    demo_cmd = re.search(r"<!-- demo-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S).group(1).strip()
    assert "thidua demo" in demo_cmd
