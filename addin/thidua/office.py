"""LibreOffice headless: an independent client of the files we write (conversion to PDF, CSV or a re-saved .xlsx)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ThiDuaError

SOFFICE_NAMES = ("soffice", "libreoffice")


def soffice() -> str | None:
    """Path of the LibreOffice binary, or None when it is not installed."""
    return next((p for p in map(shutil.which, SOFFICE_NAMES) if p), None)


def convert(sources: list[Path] | Path, out_dir: Path, target: str, timeout: float = 180,
            infilter: str | None = None) -> list[Path]:
    """Convert files with LibreOffice headless (``target`` e.g. "pdf", "csv", "xlsx"; ``infilter`` the import filter,
    e.g. "HTML (StarWriter)" to lay out an HTML page as a Writer document); return the files written.

    Each call uses its own throw-away user profile, so parallel runs do not lock each other out.
    """
    binary = soffice()
    if binary is None:
        raise ThiDuaError("Chưa cài LibreOffice nên không chuyển đổi được tệp (cần lệnh “soffice”).")
    sources = [Path(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="thidua-lo-") as profile:
        cmd = [binary, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--nolockcheck",
               *([f"--infilter={infilter}"] if infilter else []),
               "--convert-to", target, "--outdir", str(out_dir), *map(str, sources)]
        try:
            subprocess.run(cmd, check=False, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ThiDuaError(f"LibreOffice không chuyển đổi xong trong {timeout:.0f} giây.") from None
    ext = target.split(":")[0]
    written = [out_dir / f"{s.stem}.{ext}" for s in sources]
    missing = [w.name for w in written if not w.exists() or w.stat().st_size == 0]
    if missing:
        raise ThiDuaError(f"LibreOffice không chuyển đổi được: {', '.join(missing)}.")
    return written
