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
    demo = tmp_path / "demo"
    assert len(list((demo / "bieu-mau" / "2024-09").glob("*.xlsx"))) == 9
    assert len(list((demo / "2024-09").glob("ThiDua_*"))) == 9  # one of them a zip
    assert [p.name for p in sorted(demo.glob("2024-*"))] == [f"2024-{m:02d}" for m in range(1, 10)]
    assert "Biểu đơn vị gửi về" in proc.stderr and "Báo cáo sơ kết" in proc.stderr
    for name in ("thidua-ledger.sqlite", "tong-hop-2024-09.xlsx", "bao-cao/BaoCao_SoKet_2024-09.docx",
                 "bao-cao/PhuLuc_SoKet_2024-09.xlsx"):
        assert (demo / name).stat().st_size > 0, name
    # one return package per deliberately faulty file of September
    assert len(list((demo / "tra-lai" / "2024-09").glob("*.xlsx"))) == 4
    if soffice():
        assert (demo / "bao-cao" / "BaoCao_SoKet_2024-09.pdf").stat().st_size > 0


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_cmd = re.search(r"<!-- test-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S).group(1).strip()
    assert test_cmd in ci
    demo_cmd = re.search(r"<!-- demo-command -->\s*```(?:sh|bash)?\n(.+?)\n```", readme, re.S).group(1).strip()
    assert "thidua demo" in demo_cmd
