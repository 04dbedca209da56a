"""thidua.zlibs: zlib-ng's binding where installed, behaving as the standard zlib where the package check relies on it
(bounded inflation: the same verdicts on forms and on the hostile corpus's zip files), and writing deflate data the
standard zlib reads."""

from __future__ import annotations

import importlib
import os
import sys
import zlib as standard

import pytest
from hostile import _duplicate_member, _honest_bomb, _lying_bomb, _truncated, deflate, members, raw_zip
from test_hostile import corpus  # noqa: F401 (the fixture)
from thidua import package, zlibs


def _deflate(module, data: bytes, level: int = 6) -> bytes:
    c = module.compressobj(level, module.DEFLATED, -15)
    return c.compress(data) + c.flush()


def test_zlib_ng_is_used_when_installed():
    pytest.importorskip("zlib_ng", reason="zlib-ng is a dependency of the package (pyproject.toml)")
    assert zlibs.zlib is not standard and zlibs.FAST_LEVEL == 2
    assert set(zlibs.ERRORS) == {standard.error, zlibs.zlib.error}


def _checked(module, data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """What the package check makes of ``data`` inflating with ``module`` (no member cache: everything inflated)."""
    with monkeypatch.context() as m:
        m.setattr(package, "zlib", module)
        m.setattr(package, "_verified", package._Verified())
        check = package.inspect_package(data)
    return ([(p.code, p.detail) for p in check.problems], check.inflated, check.ok, dict(check.parts))


def test_the_package_check_gives_the_same_verdicts_with_either_module(corpus, make_form, monkeypatch):  # noqa: F811
    """Forms, bombs (declared and lying), a truncated file, a duplicated member and a damaged deflate stream: the same
    problems, the same count of bytes inflated and the same parts with zlib-ng as with the standard zlib."""
    good = make_form().read_bytes()
    parts = members(good)
    broken = [(n, b"\xff" * 64 if n == "xl/workbook.xml" else deflate(p), 8, standard.crc32(p), len(p))
              for n, p in parts]
    samples = {"form": good, "lying bomb": _lying_bomb(corpus), "honest bomb": _honest_bomb(corpus),
               "truncated": _truncated(corpus), "duplicate": _duplicate_member(corpus), "damaged": raw_zip(broken)}
    for name, data in samples.items():
        ours, theirs = _checked(zlibs.zlib, data, monkeypatch), _checked(standard, data, monkeypatch)
        assert ours == theirs, name
    assert _checked(zlibs.zlib, samples["form"], monkeypatch)[2]
    codes = {name: {code for code, _detail in _checked(zlibs.zlib, data, monkeypatch)[0]}
             for name, data in samples.items() if name != "form"}
    assert codes == {"lying bomb": {"zip_bomb"}, "honest bomb": {"zip_bomb"}, "truncated": {"zip_corrupt"},
                     "duplicate": {"zip_corrupt"}, "damaged": {"zip_corrupt"}}
    assert zlibs.zlib.crc32(good) == standard.crc32(good)
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
