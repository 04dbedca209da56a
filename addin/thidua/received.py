"""Finding a recorded file for ``thidua received``: by its bytes (a path to the file) or by its recorded name."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from .arrivals import hash_file
from .errors import ThiDuaError
from .ledger import Ledger


def find_recorded(led: Ledger, file: str) -> dict[str, Any]:
    """The ``files`` row of ``file``: a path to a file whose bytes the ledger knows, else a recorded file name (or an
    attachment's ``thư.eml › tệp.xlsx``). Raises :class:`ThiDuaError` when there is none, or several of that name."""
    path = Path(file)
    if path.is_file():
        sha, _size, _mtime = hash_file(path)
        found = led.known_files([sha]).get(sha)
        if found is not None:
            return led.files(id=found["id"])[0]
    name = unicodedata.normalize("NFC", path.name)
    rows = [r for r in led.files() if r["file_name"] == name or r["path"].endswith(name)]
    if not rows:
        raise ThiDuaError(f"Sổ theo dõi không có tệp “{file}”. Hãy chỉ đường dẫn tới chính tệp đã tổng hợp, hoặc "
                          "tên tệp đúng như trên trang “Tình hình nộp”.")
    if len(rows) > 1:
        listed = "; ".join(f"{r['path']} (kỳ {r['period'] or '?'})" for r in rows[:10])
        raise ThiDuaError(f"Có {len(rows)} tệp tên “{name}” trong sổ theo dõi: {listed}. Hãy chỉ đường dẫn tới chính "
                          "tệp cần ghi ngày nhận.")
    return rows[0]
