"""InspectorMiddleware's contract: transparent to the app and the server, never a source of
errors, bounded in what it keeps."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from inspector import InspectorMiddleware
from inspector.events.ring import RingBuffer
from tests.apps import starlette_app


class FakeServer:
    """Drives an ASGI app in-process: scripted receive(), recorded send()."""

    def __init__(self, incoming: list[dict[str, Any]]) -> None:
        self.incoming = list(incoming)
        self.given: list[dict[str, Any]] = []
        self.sent: list[Any] = []

    async def receive(self) -> dict[str, Any]:
        message = self.incoming.pop(0)
        self.given.append(message)
        return message

    async def send(self, message: Any) -> None:
        self.sent.append(message)


def http_scope(path: str = "/", method: str = "GET", **extra: Any) -> dict[str, Any]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80)}
    scope.update(extra)
    return scope


@pytest.mark.parametrize("watch", [False, True], ids=["plain", "watch_disconnects"])
async def test_same_objects_same_order_both_ways(watch: bool) -> None:
    seen_by_app: list[Any] = []
    response_messages = [
        {"type": "http.response.start", "status": 201, "headers": [(b"a", b"b")]},
        {"type": "http.response.body", "body": b"x", "more_body": True},
        {"type": "http.response.body", "body": b"y"},
    ]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen_by_app.append(scope)
        seen_by_app.append(await receive())
        seen_by_app.append(await receive())
        for message in response_messages:
            await send(message)

    incoming = [{"type": "http.request", "body": b"1", "more_body": True},
                {"type": "http.request", "body": b"2"}]
    server = FakeServer(incoming)
    scope = http_scope(method="POST")
    await InspectorMiddleware(app, tap=False, watch_disconnects=watch)(
        scope, server.receive, server.send)
    assert seen_by_app[0] is scope
    assert all(a is b for a, b in zip(seen_by_app[1:], server.given))
    assert len(server.sent) == 3 and all(a is b for a, b in zip(server.sent, response_messages))
    assert response_messages[2] == {"type": "http.response.body", "body": b"y"}  # untouched
    assert scope == http_scope(method="POST")


async def test_app_exception_reraised_unchanged() -> None:
    error = ValueError("from the app")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise error

    mw = InspectorMiddleware(app, tap=False)
    with pytest.raises(ValueError) as raised:
        await mw(http_scope(), FakeServer([]).receive, FakeServer([]).send)
    assert raised.value is error
    exit_event = mw.events()[-1]
    assert exit_event.kind == "exit"
    assert exit_event.message["exception"]["message"] == "from the app"


async def test_cancellation_recorded_and_propagated() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(10)

    mw = InspectorMiddleware(app, tap=False)
    task = asyncio.create_task(mw(http_scope(), FakeServer([]).receive, FakeServer([]).send))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert mw.events()[-1].message["exception"]["type"] == "asyncio.exceptions.CancelledError"


class BrokenRing(RingBuffer):
    def append(self, record: bytes) -> int:
        raise OSError("disk on fire")

    def record(self, *args: Any) -> int | None:
        raise OSError("disk on fire")


async def test_inspector_failure_never_reaches_app(caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = InspectorMiddleware(app, tap=False)
    mw.recorder.ring = BrokenRing()
    for _ in range(3):
        server = FakeServer([{"type": "http.request", "body": b""}])
        await mw(http_scope(), server.receive, server.send)
        assert [m["type"] for m in server.sent] == ["http.response.start", "http.response.body"]
    assert mw.recorder.errors == 15          # 5 records per request, every one failed
    warnings = [r for r in caplog.records if "capture failed" in r.getMessage()]
    assert len(warnings) == 1                # logged once


async def test_non_data_in_scope_and_messages_summarised() -> None:
    class Weird:
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")],
                    "extra": Weird()})
        await send({"type": "http.response.body", "body": bytearray(b"ba")})

    mw = InspectorMiddleware(app, tap=False)
    scope = http_scope(app=app, state={"db": Weird()}, extensions={"x": {"cb": print}},
                       custom=Weird())
    server = FakeServer([])
    await mw(scope, server.receive, server.send)
    events = mw.events()
    captured = events[0].message
    assert "app" not in captured and "state" not in captured and "extensions" not in captured
    assert captured["custom"].endswith("Weird>") and captured["path"] == "/"
    assert events[1].message["extra"].endswith("Weird>")
    assert events[1].message["headers"] == [(b"a", b"b")]
    assert events[2].message["body"] == b"ba"
    assert mw.recorder.errors == 0


async def test_body_limit_cuts_record_not_app() -> None:
    big = b"z" * 100_000
    got: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": big})

    mw = InspectorMiddleware(app, tap=False, body_limit=1000)
    server = FakeServer([{"type": "http.request", "body": big}])
    await mw(http_scope(method="POST"), server.receive, server.send)
    assert got == [big] and server.sent[1]["body"] is big
    received, sent = mw.events()[1], mw.events()[3]
    assert received.message["body"] == big[:1000] and received.truncated == 100_000
    assert sent.message["body"] == big[:1000] and sent.truncated == 100_000
    assert mw.events()[2].truncated is None


async def test_websocket_text_limit_counts_utf8_bytes() -> None:
    text = "é" * 3000

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": text})

    mw = InspectorMiddleware(app, tap=False, body_limit=1000)
    server = FakeServer([{"type": "websocket.connect"}])
    await mw({"type": "websocket", "path": "/ws", "headers": []}, server.receive, server.send)
    sent = mw.events()[3]
    assert sent.message["text"] == text[:1000] and sent.truncated == 6000


async def test_excluded_paths_and_other_scope_types_pass_through() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    mw = InspectorMiddleware(app, tap=False, exclude_paths=["/health"])
    await mw(http_scope("/health"), FakeServer([]).receive, FakeServer([]).send)
    await mw({"type": "custom.protocol"}, FakeServer([]).receive, FakeServer([]).send)
    assert mw.events() == []
    await mw(http_scope("/other"), FakeServer([]).receive, FakeServer([]).send)
    assert [e.kind for e in mw.events()] == ["scope", "send", "exit"]


@pytest.mark.parametrize("excluded", [[], ["/health"]])
@pytest.mark.parametrize("path", [["/health"], b"/health", 7, None])
async def test_a_path_that_is_not_a_str_is_captured_as_not_excluded(path: Any,
                                                                    excluded: list[str]) -> None:
    """The exclude check never raises into the server: only a str path can be excluded."""
    seen = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})

    mw = InspectorMiddleware(app, tap=False, exclude_paths=excluded)
    server = FakeServer([])
    for _ in range(2):    # the first call starts the publisher, the second is the fast path
        await mw({**http_scope(), "path": path}, server.receive, server.send)
    assert seen == [path, path] and len(server.sent) == 2
    assert [e.kind for e in mw.events()] == ["scope", "send", "exit"] * 2
    assert [e.message["path"] for e in mw.events() if e.kind == "scope"] == [path, path]


def test_the_environment_switch_forces_the_python_path() -> None:
    """ASGI_INSPECTOR_PURE_PYTHON=1: no C anywhere, the same events."""
    import os
    import subprocess
    import sys

    script = """
import asyncio, sys
from inspector import InspectorMiddleware
from inspector.events import model as events, ring
from inspector.flows import state as flow_state
from inspector.capture import recorder
async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}
async def send(message):
    pass
mw = InspectorMiddleware(app, tap=False)
asyncio.run(mw({"type": "http", "path": "/", "headers": []}, receive, send))
print(ring.RING, mw.recorder.call, events._c_decode, type(mw).__mro__[1].__module__,
      flow_state._header_pairs.__name__, "inspector.capture._hooks" in sys.modules,
      "inspector.events._encoder" in sys.modules, *(e.kind for e in mw.events()))
"""
    env = {**os.environ, "ASGI_INSPECTOR_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True, env=env).stdout
    assert out.split() == ["python", "None", "None", "inspector.capture.middleware", "_no_header_pairs",
                           "False", "False", "scope", "receive", "send", "exit"]


async def test_ring_bounds_apply() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"."})

    mw = InspectorMiddleware(app, tap=False, capacity=10)
    for _ in range(20):
        await mw(http_scope(), FakeServer([]).receive, FakeServer([]).send)
    assert len(mw.ring) == 10 and mw.ring.dropped == 70
    assert [e.seq for e in mw.events()] == list(range(70, 80))


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


REQUESTS = [
    b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /api/items?q=%5Bbold%5D HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 7\r\n"
    b"Connection: close\r\n\r\na,b\n1,2",
    b"POST /raw/stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close"
    b"\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    b"GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /numbers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
]


@pytest.mark.parametrize("watch", [False, True], ids=["plain", "watch_disconnects"])
def test_byte_identical_responses_with_and_without(serve: Any, watch: bool) -> None:
    options = {"lifespan": "off", "date_header": False, "server_header": False}
    bare = serve(starlette_app(), **options)
    wrapped_mw = InspectorMiddleware(starlette_app(), tap=False, watch_disconnects=watch)
    wrapped = serve(wrapped_mw, **options)
    for request in REQUESTS:
        plain = raw_exchange(bare.port, request)
        inspected = raw_exchange(wrapped.port, request)
        assert plain.startswith(b"HTTP/1.1 ")
        assert inspected == plain, request
    assert sum(1 for e in wrapped_mw.events() if e.kind == "scope") == len(REQUESTS)


# The middleware's own call, in C where built (inspector.capture._hooks.Middleware).

def test_servers_take_it_for_an_asgi3_app() -> None:
    """uvicorn, hypercorn and granian ask `iscoroutinefunction(app.__call__)`; a wrong
    answer would make them call it the ASGI 2 way, with the scope alone."""
    import inspect

    from hypercorn.utils import is_asgi
    from uvicorn.config import Config

    mw = InspectorMiddleware(starlette_app(), tap=False)
    assert asyncio.iscoroutinefunction(mw.__call__) and inspect.iscoroutinefunction(mw.__call__)
    config = Config(mw)
    config.load()
    assert config.interface == "asgi3"
    assert is_asgi(mw)


async def test_a_captured_call_is_the_recorders_own_awaitable() -> None:
    """No coroutine of the middleware's between the server and the capture: the server
    awaits recorder.call's object directly (where the C extension is built)."""
    mw = InspectorMiddleware(starlette_app(), tap=False)
    built = mw.recorder.call is not None     # else the Python path is all there is
    server = FakeServer([{"type": "http.request", "body": b"", "more_body": False}])
    await mw(http_scope("/"), server.receive, server.send)      # starts the publisher
    awaitable = mw(http_scope("/"), server.receive, server.send)
    assert type(awaitable).__name__ == ("Calling" if built else "coroutine")
    server.incoming.append({"type": "http.request", "body": b"", "more_body": False})
    await awaitable
    assert [e.kind for e in mw.events()].count("scope") == 2


async def test_whatever_the_fast_path_leaves_goes_the_python_way() -> None:
    """Odd arguments, a scope that is not a dict, lifespan: the same rule, in Python."""
    seen = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})

    mw = InspectorMiddleware(app, tap=False)
    server = FakeServer([])
    await mw(scope=http_scope("/kw"), receive=server.receive, send=server.send)

    class Scope(dict):  # a mapping the server made its own way
        pass

    await mw(Scope(http_scope("/sub")), server.receive, server.send)
    with pytest.raises(TypeError):
        await mw(http_scope("/"), server.receive)
    with pytest.raises(KeyError):
        await mw({}, server.receive, server.send)
    assert seen == ["http", "http"]
    assert [e.message["path"] for e in mw.events() if e.kind == "scope"] == ["/kw", "/sub"]


def test_without_the_c_extension_the_same_events() -> None:
    """A machine without a compiler gets the pure-Python base, ring and hooks."""
    import subprocess
    import sys

    script = """
import asyncio, inspect, sys
class Absent:
    def find_spec(self, name, path, target=None):
        if name in ("inspector.capture._hooks", "inspector.events._encoder"):
            raise ImportError(name)
sys.meta_path.insert(0, Absent())
from inspector import InspectorMiddleware
async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}
async def send(message):
    pass
mw = InspectorMiddleware(app, tap=False)
assert mw.recorder.call is None and inspect.iscoroutinefunction(mw.__call__)
asyncio.run(mw({"type": "http", "path": "/", "headers": []}, receive, send))
print(" ".join(e.kind for e in mw.events()))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.split() == ["scope", "receive", "send", "send", "exit"]
