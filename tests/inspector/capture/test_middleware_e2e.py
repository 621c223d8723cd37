"""InspectorMiddleware under a real uvicorn on 127.0.0.1, driven by httpx and websockets:
each test asserts the exact sequence of events captured."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import websockets

from inspector import InspectorMiddleware
from tests.apps import starlette_app
from tests.conftest import wait_for


def seq_of(events: list[Any], conn: int | None = None) -> list[tuple[str, str]]:
    return [(e.kind, e.type) for e in events if conn is None or e.conn == conn]


def one_connection(mw: InspectorMiddleware, kind: str = "http") -> list[Any]:
    """The events of the single connection of `kind` captured, once its app call exited."""
    def done() -> list[Any] | None:
        events = mw.events()
        conns = [e.conn for e in events if e.kind == "scope" and e.message["type"] == kind]
        if len(conns) != 1:
            return None
        mine = [e for e in events if e.conn == conns[0]]
        return mine if mine[-1].kind == "exit" else None
    return wait_for(done)


@pytest.fixture(params=[False, True], ids=["plain", "watch_disconnects"])
def wrapped(serve: Any, request: pytest.FixtureRequest) -> tuple[InspectorMiddleware, str]:
    mw = InspectorMiddleware(starlette_app(), tap=False, watch_disconnects=request.param)
    server = serve(mw, lifespan="off")
    return mw, server.url


def test_get_exact_events(wrapped: tuple[InspectorMiddleware, str]) -> None:
    mw, url = wrapped
    response = httpx.get(url + "/hello?x=1", headers={"x-trace": "t1"})
    assert response.text == "hello, world"
    events = one_connection(mw)
    assert seq_of(events) == [("scope", "http"), ("send", "http.response.start"),
                              ("send", "http.response.body"), ("exit", "inspector.exit")]
    scope = events[0].message
    assert scope["method"] == "GET" and scope["path"] == "/hello"
    assert scope["query_string"] == b"x=1"
    assert (b"x-trace", b"t1") in scope["headers"]
    assert isinstance(scope["client"], tuple) and scope["server"] == ("127.0.0.1", int(url.rsplit(":", 1)[1]))
    assert events[1].message["status"] == 200
    assert (b"content-length", b"12") in events[1].message["headers"]
    assert events[2].message["body"] == b"hello, world"
    assert events[3].message["exception"] is None
    seqs = [e.seq for e in events]
    times = [e.time for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert times == sorted(times)


def test_streamed_request_and_response(wrapped: tuple[InspectorMiddleware, str]) -> None:
    mw, url = wrapped

    def body() -> Any:
        for i in range(4):
            yield b"x" * 1000 + bytes([48 + i])

    response = httpx.post(url + "/raw/stream", content=body())
    assert response.text == "part0;part1;part2;"
    events = one_connection(mw)
    kinds = seq_of(events)
    receives = [e for e in events if e.kind == "receive"]
    assert kinds == [("scope", "http")] + [("receive", "http.request")] * len(receives) + [
        ("send", "http.response.start")] + [("send", "http.response.body")] * 4 + [
        ("exit", "inspector.exit")]
    assert b"".join(e.message["body"] for e in receives) == b"".join(body())
    assert [e.message.get("more_body", False) for e in receives][-1] is False
    assert all(e.message.get("more_body") for e in receives[:-1])
    sent = [e.message for e in events if e.type == "http.response.body"]
    assert [(m["body"], m["more_body"]) for m in sent] == [
        (b"part0;", True), (b"part1;", True), (b"part2;", True), (b"", False)]
    assert events[0].message["headers"].count((b"transfer-encoding", b"chunked")) == 1


def test_starlette_streaming_response(wrapped: tuple[InspectorMiddleware, str]) -> None:
    mw, url = wrapped
    assert httpx.get(url + "/numbers").text == "chunk-0\nchunk-1\nchunk-2\n"
    events = one_connection(mw)
    sends = [e for e in events if e.kind == "send"]
    assert [(e.type, e.message.get("body"), e.message.get("more_body")) for e in sends] == [
        ("http.response.start", None, None),
        ("http.response.body", b"chunk-0\n", True), ("http.response.body", b"chunk-1\n", True),
        ("http.response.body", b"chunk-2\n", True), ("http.response.body", b"", False)]
    # Starlette's disconnect listener reads receive() concurrently: only what it got is fixed.
    assert {e.type for e in events if e.kind == "receive"} <= {"http.request", "http.disconnect"}
    assert events[0].kind == "scope" and events[-1].kind == "exit"


def test_204_and_head(wrapped: tuple[InspectorMiddleware, str]) -> None:
    mw, url = wrapped
    assert httpx.get(url + "/empty").status_code == 204
    events = one_connection(mw)
    assert seq_of(events) == [("scope", "http"), ("send", "http.response.start"),
                              ("send", "http.response.body"), ("exit", "inspector.exit")]
    assert events[1].message["status"] == 204
    assert events[2].message["body"] == b""

    mw.recorder.ring.clear()
    head = httpx.head(url + "/hello")
    assert head.status_code == 200 and head.content == b""
    events = one_connection(mw)
    assert events[0].message["method"] == "HEAD"
    # What the app sent, not what reached the wire: uvicorn drops a HEAD body itself.
    assert seq_of(events)[1:] == [("send", "http.response.start"), ("send", "http.response.body"),
                                  ("exit", "inspector.exit")]
    assert events[2].message["body"] == b"hello, world"


def test_app_exception_500_recorded(wrapped: tuple[InspectorMiddleware, str]) -> None:
    mw, url = wrapped
    response = httpx.get(url + "/boom")
    assert response.status_code == 500 and response.text == "Internal Server Error"
    events = one_connection(mw)
    assert seq_of(events) == [("scope", "http"), ("send", "http.response.start"),
                              ("send", "http.response.body"), ("exit", "inspector.exit")]
    exc = events[-1].message["exception"]
    assert exc["type"] == "builtins.RuntimeError" and exc["message"] == "kaboom"
    assert "raise RuntimeError" in exc["traceback"]


def test_client_disconnect_mid_stream(wrapped: tuple[InspectorMiddleware, str]) -> None:
    mw, url = wrapped
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"GET /raw/endless HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"first;" not in received:
            received += sock.recv(4096)
    events = one_connection(mw)
    assert seq_of(events) == [("scope", "http"), ("receive", "http.request"),
                              ("send", "http.response.start"), ("send", "http.response.body"),
                              ("receive", "http.disconnect"), ("exit", "inspector.exit")]
    assert events[-1].message["exception"] is None


async def test_websocket_text_bytes_close_codes(serve: Any) -> None:
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw, lifespan="off")
    ws_url = server.url.replace("http", "ws") + "/ws"
    async with websockets.connect(ws_url) as ws:
        await ws.send("hi")
        assert await ws.recv() == "echo:hi"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"echo:\x00\x01"
        await ws.send("close-me")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "asked to"
    events = await asyncio.to_thread(one_connection, mw, "websocket")
    assert seq_of(events) == [
        ("scope", "websocket"), ("receive", "websocket.connect"), ("send", "websocket.accept"),
        ("receive", "websocket.receive"), ("send", "websocket.send"),
        ("receive", "websocket.receive"), ("send", "websocket.send"),
        ("receive", "websocket.receive"), ("send", "websocket.close"), ("exit", "inspector.exit")]
    payloads = [(e.message.get("text"), e.message.get("bytes")) for e in events
                if e.type in ("websocket.receive", "websocket.send")]
    assert payloads == [("hi", None), ("echo:hi", None), (None, b"\x00\x01"),
                        (None, b"echo:\x00\x01"), ("close-me", None)]
    assert events[-2].message["code"] == 4001 and events[-2].message["reason"] == "asked to"

    # Now the client closes, with its own code.
    mw.recorder.ring.clear()
    async with websockets.connect(ws_url) as ws:
        await ws.send("one")
        await ws.recv()
        await ws.close(code=4002, reason="client leaving")
    events = await asyncio.to_thread(one_connection, mw, "websocket")
    assert seq_of(events)[-2:] == [("receive", "websocket.disconnect"), ("exit", "inspector.exit")]
    assert events[-2].message["code"] == 4002
    assert events[-2].message.get("reason") == "client leaving"


def test_lifespan_startup_and_shutdown(serve: Any) -> None:
    log: list[str] = []
    mw = InspectorMiddleware(starlette_app(log), tap=False)
    server = serve(mw, lifespan="on")
    assert httpx.get(server.url + "/hello").status_code == 200
    server.stop()
    assert log == ["startup", "shutdown"]
    life = [e for e in mw.events() if e.conn == mw.events()[0].conn]
    assert seq_of(life) == [("scope", "lifespan"), ("receive", "lifespan.startup"),
                            ("send", "lifespan.startup.complete"),
                            ("receive", "lifespan.shutdown"),
                            ("send", "lifespan.shutdown.complete"), ("exit", "inspector.exit")]
    assert "state" not in life[0].message and "app" not in life[0].message
