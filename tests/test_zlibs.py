"""thidua.zlibs: zlib-ng's binding where installed, behaving as the standard zlib where the package check relies on it
(bounded inflation), and writing deflate data the standard zlib reads."""

from __future__ import annotations

import importlib
import os
import sys
import zipfile
import zlib as standard

import pytest
from thidua import package, zlibs


def _inflate_bounded(module, data: bytes, chunk: int) -> tuple[bytes, bool, int]:
    """The package check's loop (thidua.package._inflate): at most ``chunk`` bytes out per call."""
    d = module.decompressobj(-15)
    out, at, biggest = b"", 0, 0
    raw = memoryview(data)
    while not d.eof:
        if d.unconsumed_tail:
            piece = d.unconsumed_tail
        elif at < len(raw):
            piece, at = raw[at:at + chunk], at + chunk
        else:
            break
        got = d.decompress(piece, chunk)
        biggest = max(biggest, len(got))
        out += got
    return out, d.eof, biggest


def _deflate(module, data: bytes, level: int = 6) -> bytes:
    c = module.compressobj(level, module.DEFLATED, -15)
    return c.compress(data) + c.flush()


def test_zlib_ng_is_used_when_installed():
    pytest.importorskip("zlib_ng", reason="zlib-ng is a dependency of the package (pyproject.toml)")
    assert zlibs.zlib is not standard and zlibs.FAST_LEVEL == 2
    assert set(zlibs.ERRORS) == {standard.error, zlibs.zlib.error}


@pytest.mark.parametrize("chunk", [300, 4096, 65536, package.CHUNK])  # more than a match (258 bytes) per call
def test_bounded_inflation_behaves_as_the_standard_zlib(chunk, make_form):
    with zipfile.ZipFile(make_form()) as z:
        parts = [z.read(name) for name in z.namelist()]
    samples = [*parts, os.urandom(3000) * 50 + b"x" * 100_000, b"", b"\0" * (2 << 20)]
    for data in samples:
        packed = _deflate(standard, data)
        ours, theirs = _inflate_bounded(zlibs.zlib, packed, chunk), _inflate_bounded(standard, packed, chunk)
        assert ours == theirs and ours[0] == data and ours[1] and ours[2] <= chunk
        half = packed[: len(packed) // 2]  # cut short: never at its end, as with the standard module
        assert _inflate_bounded(zlibs.zlib, half, chunk)[1] is False
    assert zlibs.zlib.crc32(samples[-2]) == standard.crc32(samples[-2])
    assert zlibs.zlib.crc32(b"abc", 12345) == standard.crc32(b"abc", 12345)


def test_a_bomb_gives_at_most_what_is_asked_and_damage_raises_a_known_error():
    bomb = _deflate(standard, b"\0" * (64 << 20), 9)
    d = zlibs.zlib.decompressobj(-15)
    assert len(d.decompress(bomb, 65536)) == 65536 and d.unconsumed_tail and not d.eof
    with pytest.raises(zlibs.ERRORS):
        zlibs.zlib.decompressobj(-15).decompress(b"\xff" * 64, 1024)


def test_what_it_writes_the_standard_zlib_reads_piece_by_piece():
    from thidua.sink import _FINAL_BLOCK, Piece, crc32_combine, deflate_piece

    texts = [os.urandom(500) * 20, "<row>Tổng hợp</row>".encode() * 3000, b""]
    pieces: list[Piece] = [deflate_piece(t, zlibs.FAST_LEVEL) for t in texts]
    joined = b"".join(p.data for p in pieces) + _FINAL_BLOCK
    assert standard.decompressobj(-15).decompress(joined) == b"".join(texts)
    crc = 0
    for p in pieces:
        crc = crc32_combine(crc, p.crc, p.size)
    assert crc == standard.crc32(b"".join(texts))


def test_without_zlib_ng_the_standard_module_does_the_same(monkeypatch, make_form):
    monkeypatch.setitem(sys.modules, "zlib_ng", None)  # "not installed": its import fails
    fallback = importlib.reload(zlibs)
    try:
        assert fallback.zlib is standard and fallback.FAST_LEVEL == 1 and fallback.ERRORS == (standard.error,)
        monkeypatch.setattr(package, "zlib", standard)
        monkeypatch.setattr(package, "_verified", package._Verified())
        check = package.inspect_package(make_form().read_bytes())
        assert check.ok and not check.problems and check.scans
    finally:
        monkeypatch.undo()
        importlib.reload(zlibs)
