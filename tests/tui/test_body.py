"""Bodies shown by type, and every captured string made safe before it is shown."""

from __future__ import annotations

import gzip
import json

from rich.text import Text

from inspector.flows.model import Flow
from tests.tui.shop import ESCAPES, MARKUP, PNG
from tui.body import HexLines, render_body
from tui.detail_text import header_lines
from tui.overview_text import overview
from tui.widgets.flow_detail import json_styler
from tui.widgets.lines_view import plain_styler

JSON = [(b"content-type", b"application/json")]


def test_json_is_pretty_printed() -> None:
    view = render_body(b'{"a":[1,2],"b":"x"}', JSON, size=19, truncated=False)
    assert view.syntax == "json"
    assert view.summary == "JSON, 19B"
    assert list(view.lines) == json.dumps({"a": [1, 2], "b": "x"}, indent=2).split("\n")


def test_cut_json_is_shown_as_text_with_the_cut_said() -> None:
    view = render_body(b'{"a": [1, 2, 3', JSON, size=5000, truncated=True)
    assert view.syntax == "json"
    assert "cut at capture: 14B of 4.9KB kept" in view.summary
    assert list(view.lines) == ['{"a": [1, 2, 3']


def test_form_is_decoded() -> None:
    view = render_body(b"user=ada&note=a%20b+c&empty=",
                       [(b"content-type", b"application/x-www-form-urlencoded")],
                       size=28, truncated=False)
    assert view.syntax == "form"
    assert [line.split(" = ") for line in view.lines] == [
        ["user ", "ada"], ["note ", "a b c"], ["empty", ""]]


def test_binary_is_a_lazy_hex_dump() -> None:
    data = bytes(range(256)) * 4096          # 1 MiB
    view = render_body(data, [(b"content-type", b"application/octet-stream")],
                       size=len(data), truncated=False)
    assert isinstance(view.lines, HexLines) and len(view.lines) == 65536
    assert view.lines[1] == ("00000010  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f"
                             "  ................")
    assert view.lines[-1].startswith("000ffff0  f0 f1")


def test_image_is_summarised() -> None:
    view = render_body(PNG, [(b"content-type", b"image/png")], size=len(PNG), truncated=False)
    assert list(view.lines) == ["image/png image, 75B, 2×3 pixels"]


def test_gzip_is_decoded_for_showing() -> None:
    raw = gzip.compress(b"hello " * 100)
    view = render_body(raw, [(b"content-type", b"text/plain"),
                             (b"content-encoding", b"gzip")], size=len(raw), truncated=False)
    assert view.lines[0].startswith("hello hello")
    assert view.summary.startswith("text, ") and "gzip-encoded" in view.summary


def test_multipart_parts_are_listed() -> None:
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue-a\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n--XX--\r\n")
    view = render_body(body, [(b"content-type", b"multipart/form-data; boundary=XX")],
                       size=len(body), truncated=False)
    assert view.lines[0] == "part 1: 7B"
    assert "    value-a" in view.lines and "part 2: 3B" in view.lines


def test_text_lines_and_long_lines() -> None:
    view = render_body(b"a\r\nb\n" + b"x" * 5000, [(b"content-type", b"text/plain")],
                       size=5005, truncated=False)
    assert list(view.lines)[:2] == ["a", "b"] and len(view.lines) == 5


def test_no_body() -> None:
    assert render_body(b"", [], size=0, truncated=False).summary == "no body"


def _safe(text: Text) -> None:
    """No control character survives (line ends of multi-line texts apart)."""
    assert not any((ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f
                   for c in text.plain), text.plain


def test_hostile_text_is_made_visible_never_interpreted() -> None:
    data = (ESCAPES + "\n" + MARKUP).encode() + b"\xff\xfe"
    view = render_body(data, [(b"content-type", b"text/plain")], size=len(data),
                       truncated=False)
    lines = [plain_styler(line) for line in view.lines]
    for line in lines:
        _safe(line)
    assert lines[0].plain == "\\e]2;pwned\\x07\\e[31mred\\e[0m"
    assert lines[1].plain == MARKUP + "\\xff\\xfe"       # markup shown as typed
    assert lines[1].spans == []


def test_hostile_json_strings_are_made_visible() -> None:
    data = json.dumps({"k": "\u202e\x7f\x9b" + MARKUP}, ensure_ascii=False).encode()
    view = render_body(data, JSON, size=len(data), truncated=False)
    for line in view.lines:
        _safe(json_styler(line))
    assert "\\u202e\\x7f\\x9b[bold red]" in "".join(json_styler(x).plain for x in view.lines)


def test_headers_and_overview_are_safe() -> None:
    lines = header_lines([(b"x-\x1bname", b"[/] \x1b]2;t\x07 \xff")])
    _safe(lines[0])
    assert lines[0].plain == "x-\\ename  [/] \\e]2;t\\x07 \\xff"
    flow = Flow(1, "http")
    flow.method = "GET\x1b"
    flow.path = "/[bold]\x1b]2;x\x07"
    flow.request_headers = [(b"host", b"h\x1bost")]
    text = overview(flow)
    _safe(text)
    assert "/[bold]\\e]2;x\\x07" in text.plain
