"""visible(): nothing captured reaches the terminal as a control sequence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from inspector.text import visible, visible_bytes


def test_escape_sequences_become_visible() -> None:
    osc_title = "\x1b]2;pwned\x07/path"
    assert visible(osc_title) == "\\e]2;pwned\\x07/path"
    assert visible("a\r\nb\tc\x00\x7f\x9b") == "a\\r\\nb\\tc\\x00\\x7f\\x9b"
    assert visible("abc\u202edcba") == "abc\\u202edcba"   # right-to-left override
    assert visible("[bold]x[/]") == "[bold]x[/]"          # markup is left to Text(), kept literal


def test_keep_newlines_for_bodies() -> None:
    assert visible("line1\nline2\x1b[2J", keep_newlines=True) == "line1\nline2\\e[2J"
    assert visible("a\tb", keep_newlines=True) == "a    b"


def test_invalid_utf8_shown_as_escapes() -> None:
    assert visible_bytes(b"ok\xff\xfe\x1b") == "ok\\xff\\xfe\\e"


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = visible(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\u202e" not in shown and "\u2028" not in shown


@given(st.binary())
def test_bytes_never_raise_and_stay_clean(data: bytes) -> None:
    shown = visible_bytes(data, keep_newlines=True)
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in shown)


def test_the_printable_ascii_fast_path_agrees_with_the_pattern() -> None:
    """visible() returns printable ASCII as it is: the pattern must find nothing there."""
    from inspector.text import _CONTROL, _escape, _escape_keep_tab

    for code in range(0x3000):
        char = f"a{chr(code)}b"
        assert visible(char) == _CONTROL.sub(_escape, char)
        assert visible(char, keep_newlines=True) == "\n".join(
            _CONTROL.sub(_escape_keep_tab, line) for line in char.split("\n"))
