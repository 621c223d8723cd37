"""Captured content is untrusted: nothing it holds may reach the terminal as a control
sequence, be parsed as Rich markup, or stall the dashboard (a 50 MiB body)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from inspector.events.model import Event
from inspector.io.capture_file import CaptureWriter
from inspector.tap.feeds import FileFeed
from tests.tui.conftest import SIZE, screen_strips, screen_text, settle, shop_app, until
from tui.app import InspectorApp
from tui.widgets.flow_detail import TABS

OSC = "\x1b]2;pwned\x07"
PATH = f"/{OSC}[bold red]x[/]"
TEXT = (f"{OSC}\x1b[31mred\x1b[0m [bold]not bold[/bold] [/] [link=https://evil.example]"
        "click[/link]\u202eevil\u202c\x9b2J end").encode() + b"\n\xff\xfe\xc3 invalid\n"


def hostile_events() -> list[Event]:
    """One HTTP exchange and one WebSocket session, hostile everywhere a string can be."""
    seq = iter(range(1000))

    def e(conn: int, t: float, kind: str, message: dict[str, Any],
          truncated: int | None = None) -> Event:
        return Event(next(seq), conn, t, kind, message, truncated)

    headers = [(b"host", b"shop.example"), (b"x-evil\x1b[2J", b"[bold]" + OSC.encode()),
               (b"user-agent", b"[link=https://evil.example]ua[/link]")]
    return [
        e(1, 0.010, "scope", {"type": "http", "method": "GET\x1b[5m", "path": PATH,
                              "raw_path": PATH.encode(), "query_string": b"q=[/]%1b",
                              "headers": headers, "scheme": "http", "http_version": "1.1",
                              "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}),
        e(1, 0.011, "receive", {"type": "http.request", "body": b"", "more_body": False}),
        e(1, 0.020, "send", {"type": "http.response.start", "status": 500,
                             "headers": [(b"content-type", b"text/plain"),
                                         (b"x-markup", b"[/][bold]\x07")]}),
        e(1, 0.021, "send", {"type": "http.response.body", "body": TEXT, "more_body": False}),
        e(1, 0.022, "exit", {"type": "inspector.exit", "exception": {
            "type": "app.Evil[/]", "message": f"{OSC} [bold]boom[/]",
            "traceback": f"Traceback (most recent call last):\n  {OSC}[/]\nEvil: x\n"}}),
        e(2, 0.030, "scope", {"type": "websocket", "path": "/ws[/]", "headers": headers,
                              "subprotocols": ["chat\x1b"]}),
        e(2, 0.031, "receive", {"type": "websocket.connect"}),
        e(2, 0.032, "send", {"type": "websocket.accept", "subprotocol": "chat\x1b"}),
        e(2, 0.033, "receive", {"type": "websocket.receive", "text": f"{OSC}[bold]hi[/]"}),
        e(2, 0.034, "send", {"type": "websocket.send", "bytes": b"\x1b[2J\xff\x00"}),
        e(2, 0.035, "send", {"type": "websocket.close", "code": 4000,
                             "reason": f"{OSC}[/]"}),
        e(2, 0.036, "exit", {"type": "inspector.exit", "exception": None}),
    ]


def hostile_capture(directory: Path | None = None) -> Path:
    directory = directory or Path(tempfile.mkdtemp(prefix="ai-hostile-"))
    path = directory / "hostile.jsonl"
    with CaptureWriter(path, {"started": 1_700_000_000.0, "name": f"evil{OSC}[/]"}) as w:
        w.write(hostile_events())
    return path


def hostile_app(**options: Any) -> InspectorApp:
    options.setdefault("clock", "relative")
    return InspectorApp(FileFeed(hostile_capture()), **options)


def assert_terminal_safe(app: InspectorApp) -> None:
    """No segment the terminal would get carries a control character."""
    for text in screen_strips(app):
        bad = [c for c in text if ord(c) < 32 or 0x7f <= ord(c) <= 0x9f
               or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
        assert not bad, repr(text)


async def visit_every_tab(pilot: Any, app: InspectorApp) -> None:
    for key in "12345":
        await pilot.press(key)
        await pilot.pause()
        assert_terminal_safe(app)


async def test_hostile_capture_is_shown_literally_and_safely() -> None:
    app = hostile_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert_terminal_safe(app)
        text = screen_text(app)
        assert "/\\e]2;pwned\\x07[bold red]x[/]?q=[/]%1b" in text       # the list
        assert "GET\\e[…" in text                      # cut to the column, still escaped
        for row in (0, 1):
            app.table.move_to(row)
            await pilot.pause()
            await visit_every_tab(pilot, app)
        app.table.move_to(0)
        await pilot.press("3")
        text = screen_text(app)
        assert "[bold]not bold[/bold] [/] [link=https://evil.example]click[/link]" in text
        assert "\\u202eevil\\u202c\\x9b2J" in text and "\\xff\\xfe\\xc3 invalid" in text
        assert "[/][bold]\\x07" in text
        await pilot.press("1")
        assert "GET\\e[5m http://shop.example/" in screen_text(app)
        assert "app.Evil[/]: \\e]2;pwned\\x07 [bold]boom[/]" in screen_text(app)
        app.table.move_to(1)
        await pilot.press("5")
        text = screen_text(app)
        assert "\\e]2;pwned\\x07[bold]hi[/]" in text and "1b 5b 32 4a ff 00" in text
        await pilot.press("t")
        assert_terminal_safe(app)
        # The filter bar shows hostile text it is given, safely, too.
        await pilot.press("t", "slash")
        app.query_one("#filter-input").value = f"path:{OSC}[/] ("  # type: ignore[attr-defined]
        await pilot.pause()
        assert_terminal_safe(app)
        assert "path:\\e]2;pwned\\x07[/] (" in screen_text(app)


async def test_the_recorded_shop_is_safe_on_every_row_and_tab(recorded: Path) -> None:
    app = shop_app(recorded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for row in range(len(app.model.store)):
            app.table.move_to(row)
            for tab in TABS:
                app.detail.show_tab(tab)
                await pilot.pause()
                assert_terminal_safe(app)
        hostile = next(i for i in range(len(app.model.store))
                       if app.model.store.row(i).path.startswith("/hostile"))
        app.table.move_to(hostile)
        await pilot.press("3")
        text = screen_text(app)
        assert "/hostile/\\e]2;title\\x07/[bold red]x[/]" in text
        assert "\\e]2;pwned\\x07\\e[31mred\\e[0m" in text
        assert "[bold red]loud[/] [link=https://evil.example]click[/link] [/]" in text


async def test_a_50_mib_body_opens_fast_and_is_shown_cut(tmp_path: Path) -> None:
    unit = OSC.encode() + b"[/] line\n"
    body = (unit * (50 * 1024 * 1024 // len(unit) + 1))[:50 * 1024 * 1024]
    path = tmp_path / "big.jsonl"
    with CaptureWriter(path, {"started": 1.0}) as writer:
        writer.write([
            Event(0, 1, 0.0, "scope", {"type": "http", "method": "POST", "path": "/upload",
                                       "headers": [(b"content-type", b"text/plain")]}),
            Event(1, 1, 0.1, "receive", {"type": "http.request", "body": body,
                                         "more_body": False}),
            Event(2, 1, 0.2, "send", {"type": "http.response.start", "status": 200,
                                      "headers": []}),
            Event(3, 1, 0.3, "send", {"type": "http.response.body", "body": b"ok"}),
            Event(4, 1, 0.3, "exit", {"type": "inspector.exit", "exception": None}),
        ])
    started = time.perf_counter()
    app = InspectorApp(FileFeed(path), clock="relative")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, timeout=20)
        await pilot.press("2")
        await until(pilot, lambda: "cut at capture" in screen_text(app))
        elapsed = time.perf_counter() - started
        text = screen_text(app)
        assert "text, 50.0MB; cut at capture: 1.0MB of 50.0MB kept" in text
        assert "\\e]2;pwned\\x07[/] line" in text
        assert_terminal_safe(app)
        # The dashboard keeps 1 MiB of it, not 50.
        assert app.model.log.bytes < 2 * 1024 * 1024
        await pilot.press("tab", "G")          # scroll to the end of what was kept
        assert_terminal_safe(app)
    assert elapsed < 15
