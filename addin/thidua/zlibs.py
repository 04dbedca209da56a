"""The zlib the package's own deflate work uses: zlib-ng's binding (``zlib-ng`` on PyPI) where it is installed, else
the standard library's.

Why: the package check inflates every member of every unit's file and checks its CRC-32 (:mod:`thidua.package`), and
the master's rows are compressed as they are written (:mod:`thidua.sink`). Measured on this project's files (a form's
report sheet, 168 KB of XML; a master's "Tổng hợp", 23 MB): zlib-ng inflates twice as fast as zlib, computes a CRC-32
about 15 times as fast, and compresses the master at its level 2 in 60 % of the time zlib takes at level 1, into fewer
bytes. Its binding has the standard module's API and behaviour (``decompressobj(...).decompress(data, max_length)``
with ``unconsumed_tail`` and ``eof``, which the package check's bounded inflation relies on; ``compressobj`` with
``Z_SYNC_FLUSH``); both implement the deflate format (RFC 1951), so what one writes the other, and Excel, reads.
``tests/test_zlibs.py`` checks the two against each other."""

from __future__ import annotations

import zlib as _standard

try:
    from zlib_ng import zlib_ng as zlib
except ImportError:  # not installed for this Python or platform: the standard module does the same, slower
    zlib = _standard

#: The errors either module raises for damaged deflate data (zlib-ng's is a class of its own).
ERRORS: tuple[type[Exception], ...] = (_standard.error,) if zlib is _standard else (_standard.error, zlib.error)
#: The level the master's rows are compressed at: zlib-ng's 2 is faster and smaller than zlib's 1.
FAST_LEVEL = 1 if zlib is _standard else 2
