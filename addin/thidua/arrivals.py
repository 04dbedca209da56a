"""What arrived: the unit files of an inbox (or of the paths given), with the day each one counts as received.

A unit's file reaches the secretary as a file saved into the month's inbox, as an e-mail saved whole (``.eml``, the
file attached), or packed in a ``.zip``. :func:`collect` lists them all as :class:`Arrival` objects, the same way for
``validate`` and ``consolidate``: attachments are taken out into a private temporary folder (nothing is written into
the inbox, nothing in them is run), every file is hashed in chunks, and each gets its received day:

1. set afterwards by the secretary (``thidua received``; kept in the ledger, not decided here);
2. the ``Date`` header of the e-mail the file was attached to (the day the unit sent it);
3. the day given for the whole run (``--received DD/MM/YYYY``);
4. the day of the file's modification time as it sits in the inbox (for an attachment of a zip: the zip's).

An entry that cannot be taken this time (deleted, moved or locked between the listing and the read; an e-mail or zip
that cannot be opened) is a :class:`Skipped` with a Vietnamese message: it is not recorded, and is tried again on the
next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import email.utils
import errno
import hashlib
import os
import shutil
import tempfile
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ledger import RECEIVED_BATCH, RECEIVED_EMAIL, RECEIVED_MTIME

#: Spreadsheet files looked at in an inbox (anything else, e.g. a PDF, is ignored). Legacy and OpenDocument files are
#: included so that the unit is told how to send them.
SHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"})
#: Files that carry unit files: a saved e-mail and a zip.
CONTAINER_SUFFIXES = frozenset({".eml", ".zip"})
#: Bounds on containers: a unit's form is well under 1 MB; these leave room for many forms and refuse bombs.
MAX_CONTAINER_BYTES = 100 * 1024 * 1024
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS = 200
CHUNK = 1 << 20
#: Shown between a container and an attachment in a file's recorded path.
SEPARATOR = " › "


@dataclass
class Arrival:
    """One unit file to check: ``path`` is what is read (the file, or an attachment taken out into the run's
    temporary folder); ``origin`` the path to record for an attachment (``hop-thu/thư.eml › tệp.xlsx``)."""

    path: Path
    name: str
    sha256: str
    size: int
    mtime: float
    received_on: dt.date | None = None
    received_how: str = RECEIVED_MTIME
    origin: str | None = None
    container: str | None = None

    @property
    def shown(self) -> str:
        """The name to show a person: the file's, or ``thư.eml › tệp.xlsx``."""
        return f"{self.container}{SEPARATOR}{self.name}" if self.container else self.name


@dataclass
class Skipped:
    """An inbox entry not taken this time, and why (Vietnamese)."""

    name: str
    message: str


def original_first(arrival: Arrival) -> tuple:
    """Sort key putting the original before its copies: saved first, then the shorter name ("x.xlsx" before
    "x (1).xlsx"), then the name. The duplicates check of :mod:`thidua.rules` uses the same order."""
    return arrival.mtime, len(arrival.name), arrival.name, str(arrival.path)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def hash_file(path: Path) -> tuple[str, int, float]:
    """``(sha256, size, mtime)`` of a file, read in chunks (a file of any size costs a fixed amount of memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest(), st.st_size, st.st_mtime


def _safe_name(raw: str | None, fallback: str) -> str:
    """An attachment's name as a plain file name: the last part of any path, no control characters."""
    name = _nfc(str(raw or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(" .")
    return name[:150] or fallback


def _email_day(message: email.message.Message) -> dt.date | None:
    """The local day an e-mail was sent, from its ``Date`` header."""
    raw = message.get("Date")
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.date()


def _email_parts(data: bytes) -> tuple[dt.date | None, list[tuple[str, bytes]], list[str]]:
    """(the day sent, the spreadsheet attachments as (name, bytes), notes on attachments left out)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    day = _email_day(message)
    found: list[tuple[str, bytes]] = []
    notes: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if not filename:
            continue
        name = _safe_name(filename, "tep-dinh-kem")
        if os.path.splitext(name)[1].lower() not in SHEET_SUFFIXES:
            continue
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, LookupError):  # a broken transfer encoding
            payload = None
        if not isinstance(payload, bytes):
            notes.append(f"không giải mã được tệp đính kèm “{name}”")
            continue
        if len(payload) > MAX_ATTACHMENT_BYTES:
            notes.append(f"tệp đính kèm “{name}” lớn hơn {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
            continue
        found.append((name, payload))
        if len(found) > MAX_ATTACHMENTS:
            raise ValueError(f"quá {MAX_ATTACHMENTS} tệp đính kèm")
    return day, found, notes


def _zip_parts(path: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The spreadsheets packed in a zip, each read with a bound whatever its header declares."""
    found: list[tuple[str, bytes]] = []
    notes: list[str] = []
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = _safe_name(info.filename, "tep-nen")
            if name.startswith("~$") or os.path.splitext(name)[1].lower() not in SHEET_SUFFIXES:
                continue
            if info.flag_bits & 0x1:
                notes.append(f"tệp “{name}” trong tệp nén có đặt mật khẩu")
                continue
            with zf.open(info) as fh:
                data = fh.read(MAX_ATTACHMENT_BYTES + 1)
            if len(data) > MAX_ATTACHMENT_BYTES:
                notes.append(f"tệp “{name}” trong tệp nén lớn hơn {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
                continue
            total += len(data)
            if total > MAX_CONTAINER_BYTES or len(found) >= MAX_ATTACHMENTS:
                raise ValueError("tệp nén chứa quá nhiều dữ liệu")
            found.append((name, data))
    return found, notes


class Collector:
    """Lists arrivals; holds the temporary folder of the attachments until :meth:`close` (a context manager)."""

    def __init__(self, received: dt.date | None = None, stats: Any = None):
        self.received = received
        # ``lookup(path, stat) -> sha256 | None`` and ``note(path, stat before, stat after, sha256, hashed_ns)``
        # (:class:`thidua.derived.StatCache`): a file known by its stat is not read again
        self.stats = stats
        self._tmp: Path | None = None
        self._count = 0

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _extract(self, name: str, data: bytes) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="thidua-dinh-kem-"))
        self._count += 1
        folder = self._tmp / str(self._count)
        folder.mkdir()
        path = folder / name
        path.write_bytes(data)
        return path

    def collect(self, paths: Iterable[Path]) -> tuple[list[Arrival], list[Skipped]]:
        arrivals: list[Arrival] = []
        skipped: list[Skipped] = []
        for path in paths:
            arrivals.extend(self._one(path, skipped))
        return arrivals, skipped

    def _one(self, path: Path, skipped: list[Skipped]) -> Iterator[Arrival]:
        name = _nfc(path.name)
        suffix = os.path.splitext(name)[1].lower()
        stats = self.stats if suffix not in CONTAINER_SUFFIXES else None  # a container is opened anyway
        before = None
        if stats is not None:
            with contextlib.suppress(OSError):
                before = os.stat(path)
            sha = stats.lookup(path, before) if before is not None else None
            if sha is not None:
                how, day = (RECEIVED_BATCH, self.received) if self.received else (RECEIVED_MTIME, None)
                yield Arrival(path, name, sha, before.st_size, before.st_mtime, day, how)
                return
        hashed_ns = time.time_ns()
        try:
            sha, size, mtime = hash_file(path)
        except OSError as exc:
            skipped.append(Skipped(name, _not_read(exc)))
            return
        if stats is not None and before is not None:
            with contextlib.suppress(OSError):
                stats.note(path, before, os.stat(path), sha, hashed_ns)
        if suffix not in CONTAINER_SUFFIXES:
            how, day = (RECEIVED_BATCH, self.received) if self.received else (RECEIVED_MTIME, None)
            yield Arrival(path, name, sha, size, mtime, day, how)
            return
        if size > MAX_CONTAINER_BYTES:
            skipped.append(Skipped(name, f"tệp lớn hơn {MAX_CONTAINER_BYTES // (1024 * 1024)} MB, không mở."))
            return
        try:
            if suffix == ".eml":
                sent, parts, notes = _email_parts(path.read_bytes())
            else:
                sent, (parts, notes) = None, _zip_parts(path)
        except OSError as exc:
            skipped.append(Skipped(name, _not_read(exc)))
            return
        except Exception as exc:  # whatever a broken e-mail or zip makes the standard library raise: one entry lost
            # for this run, never the batch
            what = "thư điện tử" if suffix == ".eml" else "tệp nén"
            skipped.append(Skipped(name, f"không mở được {what} ({_nfc(str(exc))[:120]}). Đề nghị đơn vị gửi lại."))
            return
        for note in notes:
            skipped.append(Skipped(name, note + "."))
        if not parts:
            what = "Thư điện tử" if suffix == ".eml" else "Tệp nén"
            skipped.append(Skipped(name, f"{what} không có tệp biểu (.xlsx) nào."))
            return
        if sent is not None:
            how, day = RECEIVED_EMAIL, sent
        elif self.received is not None:
            how, day = RECEIVED_BATCH, self.received
        else:
            how, day = RECEIVED_MTIME, dt.date.fromtimestamp(mtime)
        used: set[str] = set()
        for inner, data in parts:
            shown = inner
            n = 1
            while shown.casefold() in used:
                n += 1
                stem, ext = os.path.splitext(inner)
                shown = f"{stem} ({n}){ext}"
            used.add(shown.casefold())
            extracted = self._extract(shown, data)
            yield Arrival(extracted, shown, hashlib.sha256(data).hexdigest(), len(data), mtime, day, how,
                          origin=f"{path}{SEPARATOR}{shown}", container=name)


#: What the system said, in words the secretary reads (the system's own text is English).
_OS_REASONS = {
    errno.ENOENT: "tệp không còn ở đó",
    errno.EACCES: "không có quyền đọc",
    errno.EPERM: "không có quyền đọc",
    errno.ELOOP: "đường dẫn là liên kết vòng",
    errno.EBUSY: "tệp đang bị khóa",
    errno.EAGAIN: "tệp đang bị khóa",
    errno.EISDIR: "đây là một thư mục",
    errno.EIO: "lỗi đọc ổ đĩa",
}


def os_reason(exc: OSError) -> str:
    """Why a file could not be read, in Vietnamese (the error number kept for the technician)."""
    text = _OS_REASONS.get(exc.errno or -1)
    if text is None:
        return f"lỗi hệ thống, mã {exc.errno}" if exc.errno else "lỗi hệ thống"
    return text


def _not_read(exc: OSError) -> str:
    reason = os_reason(exc)
    return (f"chưa đọc được lúc này ({reason}): có thể tệp vừa bị xóa, di chuyển hoặc đang bị chương trình khác "
            "(diệt virus, đồng bộ) khóa. Tệp chưa được ghi vào sổ theo dõi; lần chạy sau sẽ đọc lại.")


@contextlib.contextmanager
def collected(paths: Iterable[Path], received: dt.date | None = None
              ) -> Iterator[tuple[list[Arrival], list[Skipped]]]:
    """``(arrivals, skipped)`` of ``paths``; attachments' temporary copies are removed on leaving."""
    with Collector(received) as collector:
        yield collector.collect(paths)
