"""Text for people: captured bytes shown safely, sizes and durations in short form.

Captured bytes are untrusted: show them, never let the terminal interpret them.

Rich escapes markup when given `Text`, but passes ESC through (an OSC 2 sequence in a
captured path retitled the terminal in tests): every string from a capture goes through
`visible()` before it reaches a screen or stdout.
"""

from __future__ import annotations

import re

# C0 controls except nothing, DEL, C1 controls, and the Unicode line/paragraph separators
# and bidi overrides that can reorder or hide text on screen.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character shown as an escape (\\e, \\x07, \\u202e...).

    keep_newlines leaves "\\n" (and "\\t") as they are, for multi-line bodies.
    """
    # Most captured text is printable ASCII, where no control can be: two C scans and no
    # regex call, for the three or four strings of every headless line.
    if text.isascii() and text.isprintable():
        return text
    if keep_newlines:
        return "\n".join(_CONTROL.sub(_escape_keep_tab, line) for line in text.split("\n"))
    return _CONTROL.sub(_escape, text)


def _escape_keep_tab(match: re.Match[str]) -> str:
    return "    " if match.group() == "\t" else _escape(match)


def visible_bytes(data: bytes, *, keep_newlines: bool = False) -> str:
    """Decode as UTF-8 (invalid bytes shown as \\xNN), then make controls visible."""
    text = data.decode("utf-8", "backslashreplace")
    return visible(text, keep_newlines=keep_newlines)


def human_size(n: int) -> str:
    """1234567 -> "1.2MB": short, for columns."""
    if n < 1024:
        return f"{n}B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024  # type: ignore[assignment]
        if n < 1024:
            return f"{n:.1f}{unit}"
    return f"{n:.1f}TB"


def human_duration(seconds: float | None) -> str:
    """0.01234 -> "12.3ms"."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return "%.1fms" % (seconds * 1000)
    return "%.2fs" % seconds
