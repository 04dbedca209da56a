"""Text from units shown on a terminal or written as JSON: control characters made visible, never sent raw.

A unit's file name, note or unit code can hold any character. On a terminal, ESC starts an escape sequence (clear the
screen, recolour, move the cursor, set the window title, even a hyperlink), CR rewrites the current line, the C1
controls (U+0080–U+009F) act as escapes on some terminals, and the bidirectional overrides (U+202A–U+202E,
U+2066–U+2069) make a name read backwards. Rich keeps markup literal in a :class:`rich.text.Text` (and
:func:`rich.markup.escape` does so inside markup strings), but passes most of these characters through.

- :func:`visible` replaces them: C0 controls by their Control Pictures (ESC → ␛, CR → ␍, NUL → ␀), DEL by ␡,
  C1 controls and bidirectional controls by ``\\u`` escapes (``\\u202e``); tab and newline stay;
- :class:`SafeConsole` is a rich console that applies :func:`visible` to every segment of text it renders (its own
  control sequences, colours and cursor moves for progress bars, are not text segments and stay), so no renderable,
  whoever made it, can send a raw control character from a unit; it also turns off emoji codes (``:thumbs_up:``);
- :func:`json_text` escapes the same characters as ``\\uXXXX`` in JSON text (``json.dumps`` with ``ensure_ascii=False``
  escapes only C0 controls); the JSON still parses to exactly the same strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_VISIBLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_VISIBLE[0x7F] = "\u2421"  # ␡
_VISIBLE.update({c: f"\\u{c:04x}" for c in (*range(0x80, 0xA0), *_BIDI)})
# A file name that is not valid UTF-8 reaches Python with each odd byte as a lone surrogate U+DC80–U+DCFF
# (``surrogateescape``): shown as ``\xNN`` (the byte), as thidua.guards.display_name stores it; other lone surrogates
# as ``\uXXXX``. A raw surrogate cannot be written to a terminal, a workbook or UTF-8 JSON at all.
_SURROGATES = {c: (f"\\x{c - 0xDC00:02x}" if 0xDC80 <= c <= 0xDCFF else f"\\u{c:04x}") for c in range(0xD800, 0xE000)}
_VISIBLE.update(_SURROGATES)
_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_VISIBLE)) + "]")
_JSON_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in (0x7F, *range(0x80, 0xA0), *_BIDI)) + "]"
                          "|[\ud800-\udfff]")


def visible(text: str) -> str:
    """``text`` with every control character a terminal would act on replaced by a visible stand-in."""
    if not _UNSAFE.search(text):
        return text
    return text.translate(_VISIBLE)


def json_text(text: str) -> str:
    """JSON text (from ``json.dumps``) with DEL, C1 and bidirectional controls written as ``\\uXXXX`` escapes."""
    return _JSON_UNSAFE.sub(_json_escape, text)


def _json_escape(m: re.Match) -> str:
    c = ord(m.group())
    if 0xD800 <= c < 0xE000:  # a lone surrogate: the display form of the name, as text ("\\xff" in JSON)
        return _SURROGATES[c].replace("\\", "\\\\")
    return f"\\u{c:04x}"


class SafeConsole(Console):
    """A rich console that never writes a raw control character taken from the text it prints (see the module
    docstring). Markup in strings is still interpreted: text from units goes through :func:`rich.markup.escape` or a
    :class:`rich.text.Text`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not _UNSAFE.search(segment.text):
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style, segment.control)


__all__ = ["SafeConsole", "json_text", "visible"]
