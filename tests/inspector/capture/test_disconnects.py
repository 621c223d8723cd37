"""watch_disconnects: a client that leaves is recorded when it leaves, even when the app
never asks; and the app sees exactly what it would have seen without the watch."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
from typing import Any

import pytest

from inspector import InspectorMiddleware
from inspector.capture.disconnects import WATCH_AFTER
from inspector.findings import analyse_events
from tests.conftest import wait_for

SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
         "scheme": "http", "path": "/work", "raw_path": b"/work", "query_string": b"",
         "root_path": "", "headers": [(b"host", b"test"), (b"content-length", b"2")],
         "client": ("127.0.0.1", 1234),
         "server": ("127.0.0.1", 80)}


class Client:
    """A server's side of one request: the body, then a receive() that waits, as a real
    server's does, until the client leaves (`leave()`) or the response is complete."""

    def __init__(self, body: list[dict[str, Any]]) -> None:
        self.body = list(body)
        self.given: list[Any] = []
        self.sent: list[Any] = []
        self.asked = 0
        self.cancelled = 0
        self.gone = asyncio.Event()

    def leave(self) -> None:
        self.gone.set()

    async def receive(self) -> Any:
        self.asked += 1
        if self.body:
            message = self.body.pop(0)
        else:
            try:
                await self.gone.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            message = {"type": "http.disconnect"}
        self.given.append(message)
        return message

    async def send(self, message: Any) -> None:
        self.sent.append(message)


BODY = [{"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b", "more_body": False}]


def kinds(mw: InspectorMiddleware) -> list[tuple[str, str]]:
    return [(e.kind, e.type) for e in mw.events()]


async def slow_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads its body, then works and answers without ever asking again."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.25)
    await send({"type": "http.response.body", "body": b"done"})


async def test_a_client_who_leaves_is_recorded_when_it_leaves() -> None:
    client = Client(BODY)
    mw = InspectorMiddleware(slow_app, tap=False, watch_disconnects=True)
    asyncio.get_running_loop().call_later(0.05, client.leave)
    await mw(dict(SCOPE), client.receive, client.send)
    assert kinds(mw) == [("scope", "http"), ("receive", "http.request"),
                         ("receive", "http.request"), ("send", "http.response.start"),
                         ("receive", "http.disconnect"), ("send", "http.response.body"),
                         ("exit", "inspector.exit")]
    left = mw.events()[4].time
    assert 0.04 < left < 0.2 < mw.events()[5].time
    [(flow, analysis)] = analyse_events(mw.events())
    assert "TL002" in {f.rule for f in analysis.findings}      # sent after the client left
    assert analysis.metrics.sent_after_disconnect == 1
    assert analysis.metrics.disconnect is not None


async def test_without_the_watch_nobody_learns_of_it() -> None:
    client = Client(BODY)
    mw = InspectorMiddleware(slow_app, tap=False, watch_disconnects=False)
    asyncio.get_running_loop().call_later(0.05, client.leave)
    await mw(dict(SCOPE), client.receive, client.send)
    assert ("receive", "http.disconnect") not in kinds(mw)


async def test_a_normal_request_leaves_no_trace_and_the_question_is_withdrawn() -> None:
    client = Client(BODY)
    mw = InspectorMiddleware(slow_app, tap=False, watch_disconnects=True)
    await mw(dict(SCOPE), client.receive, client.send)
    assert kinds(mw) == [("scope", "http"), ("receive", "http.request"),
                         ("receive", "http.request"), ("send", "http.response.start"),
                         ("send", "http.response.body"), ("exit", "inspector.exit")]
    await asyncio.sleep(0)
    # Asked once more than the app did, and withdrawn before the response's end went out.
    assert client.asked == 3 and client.cancelled == 1 and client.given == BODY


@pytest.mark.parametrize("headers", [[(b"host", b"test")], [(b"content-length", b"2")]])
async def test_a_request_over_before_the_watch_starts_asks_nothing(headers: list[Any]) -> None:
    async def quick(scope: Any, receive: Any, send: Any) -> None:
        if headers[0][0] == b"content-length":
            await receive()
            await receive()
        await asyncio.sleep(WATCH_AFTER / 4)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = Client(BODY)
    mw = InspectorMiddleware(quick, tap=False, watch_disconnects=True)
    await mw({**SCOPE, "headers": headers}, client.receive, client.send)
    await asyncio.sleep(WATCH_AFTER * 1.5)
    assert client.asked == len(client.given) and client.cancelled == 0
    assert ("receive", "http.disconnect") not in kinds(mw)


async def test_the_app_gets_the_same_objects_in_the_same_order() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        seen.append(await receive())         # the watch's answer: the client left
        seen.append(await receive())         # and asking again asks the server again

    client = Client(BODY)
    client.leave()
    mw = InspectorMiddleware(app, tap=False, watch_disconnects=True)
    await mw(dict(SCOPE), client.receive, client.send)
    assert len(seen) == 4 and all(a is b for a, b in zip(seen, client.given))
    assert client.asked == 4


async def test_an_app_that_stops_listening_gets_the_answer_next_time() -> None:
    """Starlette's disconnect listener is cancelled when its response ends; a question
    left open by a cancelled receive() is answered to the next one."""
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await receive()
        await asyncio.sleep(WATCH_AFTER + 0.02)     # the watch has asked
        listener = asyncio.ensure_future(receive())
        await asyncio.sleep(0.01)
        listener.cancel()
        client.leave()
        got.append(await receive())

    client = Client(BODY)
    mw = InspectorMiddleware(app, tap=False, watch_disconnects=True)
    await mw(dict(SCOPE), client.receive, client.send)
    assert got == [{"type": "http.disconnect"}] and got[0] is client.given[-1]
    assert client.asked == 3


async def test_errors_reach_the_app_as_they_would_and_none_is_left_unretrieved(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Client):
        async def receive(self) -> Any:
            if not self.body:
                raise OSError("server went away")
            return await super().receive()

    async def reader(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await receive()
        await receive()

    with pytest.raises(OSError, match="server went away"):
        await InspectorMiddleware(reader, tap=False, watch_disconnects=True)(
            dict(SCOPE), Broken(BODY).receive, Client([]).send)

    async def returns(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await receive()
        await asyncio.sleep(0.01)            # the watch's receive() fails meanwhile

    await InspectorMiddleware(returns, tap=False, watch_disconnects=True)(
        dict(SCOPE), Broken(BODY).receive, Client([]).send)
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def test_other_scopes_and_excluded_paths_are_not_watched() -> None:
    client = Client(BODY)
    mw = InspectorMiddleware(slow_app, tap=False, watch_disconnects=True,
                             exclude_paths=["/work"])
    await mw(dict(SCOPE), client.receive, client.send)
    assert client.asked == 2 and mw.events() == []


async def test_a_request_without_a_body_is_watched_from_the_start() -> None:
    """A GET handler that never calls receive(): the watch takes the request's one
    http.request at once (kept for the app), then waits for the client to leave."""
    async def handler(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.25)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"late"})

    client = Client([{"type": "http.request", "body": b"", "more_body": False}])
    get = {**SCOPE, "method": "GET", "headers": [(b"host", b"test")]}
    mw = InspectorMiddleware(handler, tap=False, watch_disconnects=True)
    asyncio.get_running_loop().call_later(0.13, client.leave)
    await mw(get, client.receive, client.send)
    assert kinds(mw) == [("scope", "http"), ("receive", "http.request"),
                         ("receive", "http.disconnect"), ("send", "http.response.start"),
                         ("send", "http.response.body"), ("exit", "inspector.exit")]
    assert WATCH_AFTER <= mw.events()[1].time < 0.12 < mw.events()[2].time < 0.2
    [(flow, analysis)] = analyse_events(mw.events())
    assert "TL002" in {f.rule for f in analysis.findings}


@pytest.mark.parametrize("headers", [
    [(b"transfer-encoding", b"chunked")], [(b"content-length", b"5")],
    [(b"expect", b"100-continue"), (b"content-length", b"0")], [("not", "bytes")]])
async def test_a_request_that_may_have_a_body_is_not_read_ahead(headers: list[Any]) -> None:
    async def answers(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = Client([{"type": "http.request", "body": b"hello", "more_body": False}])
    mw = InspectorMiddleware(answers, tap=False, watch_disconnects=True)
    await mw({**SCOPE, "headers": headers}, client.receive, client.send)
    assert client.asked == 0 and ("receive", "http.request") not in kinds(mw)


def test_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspector.capture.disconnects import DisconnectWatch

    monkeypatch.setenv("ASGI_INSPECTOR_WATCH_DISCONNECTS", "1")
    assert isinstance(InspectorMiddleware(slow_app, tap=False).app, DisconnectWatch)
    assert InspectorMiddleware(slow_app, tap=False, watch_disconnects=False).app is slow_app
    monkeypatch.delenv("ASGI_INSPECTOR_WATCH_DISCONNECTS")
    assert InspectorMiddleware(slow_app, tap=False).app is slow_app


async def never_reads(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(0.25)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"late"})


POST = b"POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
GET = b"GET /work HTTP/1.1\r\nHost: x\r\n\r\n"
READS = [("receive", "http.request"), ("send", "http.response.start"),
         ("receive", "http.disconnect"), ("send", "http.response.body")]
# uvicorn answers any receive() after the client left with http.disconnect, the request's
# own http.request included.
NEVER_READS = [("receive", "http.disconnect"), ("send", "http.response.start"),
               ("send", "http.response.body")]


@pytest.mark.parametrize("app, request_bytes, expected", [
    (slow_app, POST, READS), (slow_app, GET, READS), (never_reads, GET, NEVER_READS)],
    ids=["POST reads", "GET reads", "GET never reads"])
def test_under_uvicorn_a_client_that_hangs_up_is_seen(serve: Any, app: Any, request_bytes: bytes,
                                                      expected: list[Any]) -> None:
    """An endpoint that works for 0.25 s, after reading its body or without asking at all.
    The client hangs up after 0.05 s: the capture shows it (once the watch starts, at
    WATCH_AFTER), and what the app sent after."""
    mw = InspectorMiddleware(app, tap=False, watch_disconnects=True)
    server = serve(mw, lifespan="off")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request_bytes)
        time.sleep(0.05)

    def done() -> list[Any] | None:
        events = mw.events()
        return events if events and events[-1].kind == "exit" else None
    events = wait_for(done)
    assert [(e.kind, e.type) for e in events] == [("scope", "http"), *expected,
                                                  ("exit", "inspector.exit")]
    [(flow, analysis)] = analyse_events(events)
    assert {f.rule for f in analysis.findings} >= {"TL002"}
