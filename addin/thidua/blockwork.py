"""A share of the master's blocks made on the machine's second core (issue #16).

A first run over a large period, or the run after a change of the catalogue or of the program, makes every block of
units of the master (:mod:`thidua.derived`): the tables of the block's units, its "Tổng hợp" rows and its digest, then
those rows as sheet XML, compressed. For 1,000 units that is about 0.3 s of one core, at a moment when the other core
has nothing to do (the files were all read). A :class:`Helper` is a process forked for the run that makes the second
half of those blocks while this process makes the first half: first their rows and digests, then, once the master is
being written and the sheet's styles are known (:class:`thidua.sink.Renderer`), their XML, compressed.

What the helper needs is already in its memory when it is forked: the period's frame, the catalogue and the cells of
its units, gathered from the ledger by this process beforehand (:func:`thidua.consolidate.period_cells`). It opens no
file and no database (a SQLite connection must not cross a fork, and need not here), writes nothing, and sends back
only digests and compressed pieces. It ends as forked processes of :mod:`multiprocessing` do, without running the
interpreter's exit handlers. Its cost in memory, while it lives (a few tenths of a second): the pages it writes, its
half of the tables and their XML and the objects it touches (CPython's reference counts copy their pages), measured at
44 MB of private memory for 1,000 units (its resident size, 107 MB, counts the pages it shares with this process).

Only where the system forks (Linux): there the helper starts in a few milliseconds. Where processes are spawned
(Windows, macOS), a new interpreter would first import pandas and everything else, which costs more than the helper
saves: the blocks are made here, as before. Whatever the helper does not deliver (it failed, died, or took longer than
:data:`WAIT` seconds) is made by this process: the helper can only save time, never change what is written; the
master it helps write is byte for byte the one this process alone writes (``tests/test_blockwork.py``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from .sink import ROWS_LEVEL, Piece, Renderer, deflate_piece

#: Use a helper at all (tests turn it off to compare, or on for small periods with :data:`MIN_BLOCKS`).
ENABLED = True
#: Blocks to make, from which a helper is worth its start (a few ms) and its messages.
MIN_BLOCKS = 8
#: Seconds to wait for any one message of the helper before making its blocks here instead (its whole share takes
#: well under a second for 1,000 units).
WAIT = 60.0

Built = dict[int, tuple[list[list[Any]], dict[str, Any]]]  # block number -> ("Tổng hợp" rows, digest)


def available() -> bool:
    """The system forks, this process may run on two cores or more, and it runs no other thread: a process forked
    while another thread holds a lock (a terminal's progress bar writing, say) would find that lock held forever."""
    if not ENABLED or not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return False
    if threading.active_count() > 1:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2


class Helper:
    """The forked process making the blocks ``numbers`` (see the module's text). Ask, in this order,
    :meth:`digests`, then :meth:`render` once, then :meth:`piece` for each block in ``numbers`` order; any answer
    that does not come (None, or {} for the digests) is for the caller to make. Always :meth:`close` it."""

    def __init__(self, process: Any, conn: Connection, numbers: list[int]):
        self.process: Any = process
        self.conn: Connection | None = conn
        self.numbers = numbers
        self.failure: str | None = None  # why it stopped helping, when it did (for developers: never shown)

    @classmethod
    def start(cls, build: Callable[[], Built], numbers: list[int]) -> Helper | None:
        """Fork a helper that runs ``build()`` (a function of what is in memory only: no file, no database) for the
        blocks ``numbers``; None when no helper can be had here."""
        if not available():
            return None
        context = multiprocessing.get_context("fork")
        here, there = context.Pipe()
        process = context.Process(target=_serve, args=(there, build), name="thidua-blocks", daemon=True)
        try:
            process.start()
        except OSError:  # no process to be had (limits): the blocks are made here
            here.close()
            there.close()
            return None
        there.close()  # the helper's end: once it exits, a wait here ends at once
        return cls(process, here, numbers)

    def digests(self) -> dict[int, dict[str, Any]]:
        """The digests of the helper's blocks (their row counts included), or {}."""
        message = self._receive("digests")
        return message[1] if message is not None else {}

    def render(self, renderer: Renderer, firsts: dict[int, int]) -> None:
        """Have the helper render its blocks with ``renderer``, each from its row in ``firsts``, and compress them
        as :func:`thidua.sink._deflated` would."""
        if self.conn is None:
            return
        try:
            self.conn.send(("render", renderer.portable(), firsts))
        except Exception as exc:  # a closed pipe, or anything pickling raises: the helper's blocks are made here
            self._stop(f"request not sent: {type(exc).__name__}: {exc}")

    def piece(self, number: int) -> tuple[Piece, int] | None:
        """Block ``number``'s rows as compressed XML, and the string references in it, or None."""
        message = self._receive("piece")
        if message is None:
            return None
        if message[1] != number:
            self._stop(f"block {message[1]} instead of {number}")
            return None
        _tag, _number, data, crc, size, refs = message
        return Piece(data, crc, size), refs

    def _receive(self, tag: str) -> tuple[Any, ...] | None:
        if self.conn is None:
            return None
        try:
            if not self.conn.poll(WAIT):
                self._stop("no answer in time")
                return None
            message = self.conn.recv()
        except (EOFError, OSError) as exc:  # it died
            self._stop(f"helper gone ({type(exc).__name__})")
            return None
        except Exception as exc:  # an answer that does not unpickle: its blocks are made here
            self._stop(f"unreadable answer: {type(exc).__name__}: {exc}")
            return None
        if not isinstance(message, tuple) or not message or message[0] != tag:
            detail = message[1] if isinstance(message, tuple) and len(message) > 1 and message[0] == "error" else ""
            self._stop(f"helper failed: {detail}" if detail else "unexpected answer")
            return None
        return message

    def _stop(self, why: str) -> None:
        self.failure = self.failure or why
        self.close()

    def close(self) -> None:
        """Stop the helper (it is told to, then ended if it does not) and wait for it."""
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
            conn.close()
        process, self.process = self.process, None
        if process is None:
            return
        process.join(1.0)
        if process.is_alive():
            process.terminate()
            process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join()
        with contextlib.suppress(ValueError):
            process.close()


def _serve(conn: Connection, build: Callable[[], Built]) -> None:
    """The helper: make the blocks, send their digests, wait to be asked to render them, send each piece."""
    try:
        built = build()
        conn.send(("digests", {number: digest for number, (_rows, digest) in built.items()}))
        request = conn.recv()
        if request[0] != "render":
            return
        _tag, renderer, firsts = request
        pieces = []
        for number in sorted(firsts):  # the caller's order: blocks are numbered in sheet order
            raw, refs = renderer.render(built.pop(number)[0], firsts[number])
            piece = deflate_piece(raw, ROWS_LEVEL)
            pieces.append(("piece", number, piece.data, piece.crc, piece.size, refs))
        # Sent once all are made: the caller reads them only after rendering its own share, and a pipe holds only a
        # few of them: sending each as it is made would stop this process at the first until then.
        for message in pieces:
            conn.send(message)
    except BaseException as exc:  # said to the caller, which makes the blocks itself
        with contextlib.suppress(BaseException):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
