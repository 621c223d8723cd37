"""Headless lines: one per finished flow, safe to print."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

from inspector.capture.middleware import InspectorMiddleware
from inspector.cli.headless import FlowLines, clock
from inspector.cli.serve import HeadlessPrinter
from inspector.events.model import Event
from inspector.flows.fold import FlowFolder
from inspector.text import human_duration, human_size


def events(*specs: tuple[int, str, dict[str, Any]]) -> list[Event]:
    return [Event(i, conn, i * 0.01, kind, message) for i, (conn, kind, message) in enumerate(specs)]


SCOPE = {"type": "http", "method": "GET", "path": "/x\x1b]2;t\x07", "query_string": b"a=1",
         "headers": [(b"host", b"h")], "root_path": ""}


def test_http_line_after_completion_only() -> None:
    folder, lines = FlowFolder(), FlowLines(started_wall=0.0)
    first = events((1, "scope", SCOPE), (1, "send", {"type": "http.response.start", "status": 201,
                                                     "headers": []}),
                   (1, "send", {"type": "http.response.body", "body": b"x" * 2048}))
    assert lines.lines(folder.extend(first)) == []        # complete, but the app still runs
    boom = {"type": "inspector.exit", "exception": {"type": "E", "message": "after response"}}
    (line,) = lines.lines(folder.extend([Event(3, 1, 0.6, "exit", boom)]))
    assert " #1 GET /x\\e]2;t\\x07?a=1 201 20.0ms req=0B resp=2.0KB E: after response" in line
    assert "\x1b" not in line
    assert lines.finished == [("", 1)]


def test_websocket_open_and_close_lines() -> None:
    folder, lines = FlowFolder(), FlowLines(started_wall=0.0)
    scope = {"type": "websocket", "path": "/ws", "headers": [], "subprotocols": ["chat"]}
    opened = events((7, "scope", scope), (7, "receive", {"type": "websocket.connect"}),
                    (7, "send", {"type": "websocket.accept", "subprotocol": "chat"}))
    (line,) = lines.lines(folder.extend(opened))
    assert line.endswith("#7 WS /ws open subprotocol=chat")
    more = [Event(3, 7, 1.0, "receive", {"type": "websocket.receive", "text": "hi"}),
            Event(4, 7, 1.1, "send", {"type": "websocket.send", "text": "hi"}),
            Event(5, 7, 1.2, "send", {"type": "websocket.send", "bytes": b"x"}),
            Event(6, 7, 2.0, "send", {"type": "websocket.close", "code": 4001})]
    assert lines.lines(folder.extend(more)) == []          # the app has not returned yet
    (line,) = lines.lines(folder.extend([Event(7, 7, 2.1, "exit", {"type": "inspector.exit",
                                                                    "exception": None})]))
    assert "#7 WS /ws closed code=4001 by=app in=1 out=2" in line


def test_headless_printer_forgets_printed_flows() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def nothing() -> dict[str, Any]:
        return {}

    async def sink(message: Any) -> None:
        pass

    mw = InspectorMiddleware(app, tap=False)
    out = io.StringIO()
    printer = HeadlessPrinter(mw, out)
    for i in range(300):
        asyncio.run(mw({"type": "http", "method": "GET", "path": f"/{i}", "headers": []},
                       nothing, sink))
        printer.poll()
    assert len(out.getvalue().splitlines()) == 300
    assert len(printer.folder.flows) == 0        # bounded: nothing kept once printed


def test_headless_printer_keeps_no_message_of_an_open_websocket_session() -> None:
    """The printer's fold counts WebSocket messages without keeping them: a session that
    runs for hours costs it no memory per message."""
    echoed = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal echoed
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            await send({"type": "websocket.send", "text": message["text"]})
            echoed += 1

    async def session() -> HeadlessPrinter:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        inbox.put_nowait({"type": "websocket.connect"})
        for i in range(1000):
            inbox.put_nowait({"type": "websocket.receive", "text": f"m{i}"})

        async def sink(message: Any) -> None:
            pass
        mw = InspectorMiddleware(app, tap=False)
        printer = HeadlessPrinter(mw, io.StringIO())
        task = asyncio.create_task(mw({"type": "websocket", "path": "/ws", "headers": []},
                                      inbox.get, sink))
        while echoed < 1000:
            await asyncio.sleep(0)
        printer.poll()
        task.cancel()
        return printer

    printer = asyncio.run(session())
    (flow,) = printer.folder.flows.values()
    assert (flow.messages_in, flow.messages_out) == (1000, 1000)
    assert flow.messages == [] and len(flow.event_seqs) == 1
    assert printer.out.getvalue().count(" WS /ws open") == 1


def test_still_open_at_exit_is_marked() -> None:
    folder, lines = FlowFolder(), FlowLines(started_wall=0.0)
    folder.extend(events((3, "scope", SCOPE)))
    (line,) = lines.still_open(folder.flows.values())
    assert line.endswith("[still open at exit]") and " GET " in line


def test_human_units() -> None:
    assert human_size(0) == "0B" and human_size(1536) == "1.5KB" and human_size(3 * 2**20) == "3.0MB"
    assert human_duration(None) == "-" and human_duration(0.0123) == "12.3ms"
    assert human_duration(2.5) == "2.50s"


def test_clock_reformats_when_the_second_changes() -> None:
    """clock() keeps the last second's text; each instant still gets its own second."""
    start = 1_800_000_000.0
    for t in (0.0, 0.2, 0.999, 1.0, 1.5, 59.0, 3600.25, 3600.75, 0.5):
        wall = start + t
        expected = time.strftime("%H:%M:%S", time.localtime(int(wall)))
        assert clock(start, t) == f"{expected}.{int(wall % 1 * 1000):03d}"


def test_clock_milliseconds_as_formatted_before() -> None:
    """The milliseconds come from a table: the same text as formatting them, even for a
    tiny negative instant, where float % 1 is 1.0."""
    for start in (1_800_000_000.0, 0.0):
        for t in [i / 997 for i in range(2000)] + [0.0005, 0.9995, 1 - 2 ** -53, -1e-20]:
            wall = start + t
            assert clock(start, t).endswith(f".{int(wall % 1 * 1000):03d}")
    assert clock(0.0, -1e-20).endswith(".1000")


def test_http_line_shows_the_notes_safely() -> None:
    folder, lines = FlowFolder(), FlowLines(started_wall=0.0)
    start = {"type": "http.response.start", "status": 200, "headers": [],
             "asgi_inspector.notes": ["sent upstream twice: \x1b[2J"]}
    (line,) = lines.lines(folder.extend(events(
        (1, "scope", SCOPE), (1, "send", start),
        (1, "send", {"type": "http.response.body", "body": b"ok"}), (1, "exit", None))))
    assert line.endswith(" 200 20.0ms req=0B resp=2B (sent upstream twice: \\e[2J)")
    assert "\x1b" not in line
