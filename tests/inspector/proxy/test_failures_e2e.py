"""The proxy when things break: upstream down, slow, killed, malformed; client gone.

Each case also checks that the proxy keeps serving afterwards, and where the capture sees
the failure (the x-inspector-error header, or the exception the app raised).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import httpx
import pytest

from inspector.proxy import ProxyApp, ProxyError
from tests.conftest import free_port, wait_for
from tests.inspector.proxy.apps import Recorder, UpstreamState, read_head
from tests.inspector.proxy.conftest import Process, Servers, ServerThread

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_upstream_down_is_502_and_proxy_keeps_serving(servers: Servers) -> None:
    port = free_port()   # nothing listens there
    proxy = servers.proxy(f"http://127.0.0.1:{port}")
    for _ in range(2):
        response = httpx.get(proxy.url + "/x")
        assert response.status_code == 502
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["x-inspector-error"] == "connection refused"
        assert response.text == (f"502 Bad Gateway: upstream 127.0.0.1:{port} refused the "
                                 "connection\n")


def test_upstream_slow_is_504_and_proxy_keeps_serving(servers: Servers, upstream: ServerThread,
                                                      state: UpstreamState) -> None:
    proxy = servers.proxy(upstream.url, read_timeout=0.3)
    try:
        response = httpx.get(proxy.url + "/slow")
    finally:
        state.release.set()
    assert response.status_code == 504
    assert response.headers["x-inspector-error"] == "read timeout"
    assert response.text == (f"504 Gateway Timeout: upstream 127.0.0.1:{upstream.port} sent "
                             "no response within 0.3 s\n")
    assert httpx.get(proxy.url + "/hello").text == "hello, world"


@pytest.fixture
def unaccepting() -> Iterator[int]:
    """A port whose listen queue is full, so a connect() neither succeeds nor fails."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


def test_connect_timeout_is_504(servers: Servers, unaccepting: int) -> None:
    proxy = servers.proxy(f"http://127.0.0.1:{unaccepting}", connect_timeout=0.2)
    response = httpx.get(proxy.url + "/x")
    assert response.status_code == 504
    assert response.headers["x-inspector-error"] == "connect timeout"
    assert "did not accept the connection within 0.2 s" in response.text


def scripted(*replies: bytes | None) -> Callable[[Any, Any], Any]:
    """A raw upstream handler: connection i reads one request head and writes replies[i]
    (the last reply for later connections), then closes. None: close without a word."""
    count = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = replies[min(count[0], len(replies) - 1)]
        count[0] += 1
        await read_head(reader)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
    return handle


@pytest.mark.parametrize("reply, says", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "sent a malformed response"),
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "sent a malformed response"),
    (None, "closed the connection before responding"),
])
def test_broken_upstream_response_is_502_with_the_reason(servers: Servers, reply: bytes | None,
                                                         says: str) -> None:
    raw = servers.raw(scripted(reply))
    proxy = servers.proxy(raw.url)
    response = httpx.get(proxy.url + "/x")
    assert response.status_code == 502
    assert says in response.text and response.text.startswith("502 Bad Gateway: upstream ")


def test_upstream_dies_mid_response(servers: Servers) -> None:
    raw = servers.raw(scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10,
                               OK))
    recorder = Recorder(ProxyApp(raw.url))
    proxy = servers.serve_proxy(recorder)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(proxy.url + "/x")
    wait_for(lambda: recorder.exceptions, what="the ProxyError recorded")
    assert isinstance(recorder.exceptions[0], ProxyError)
    assert "closed the connection mid-response" in str(recorder.exceptions[0])
    assert httpx.get(proxy.url + "/x").text == "ok"


def test_upstream_killed_mid_response(servers: Servers, spawn: Callable[[str, int], Process]
                                      ) -> None:
    port = free_port()
    code = (f"import runpy, sys; sys.argv = ['apps', '{port}']; "
            "runpy.run_module('tests.inspector.proxy.apps', run_name='__main__')")
    upstream = spawn(code, port)
    proxy = servers.proxy(upstream.url)
    with httpx.Client(timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("GET", proxy.url + "/forever") as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert next(lines) == "tick 0"
                upstream.kill()
                for _ in lines:
                    pass
        after = client.get(proxy.url + "/hello")
    assert after.status_code == 502 and "refused the connection" in after.text


def test_client_gone_mid_response(servers: Servers, upstream: ServerThread,
                                  state: UpstreamState) -> None:
    recorder = Recorder(ProxyApp(upstream.url))
    proxy = servers.serve_proxy(recorder)
    with httpx.stream("GET", proxy.url + "/forever") as response:
        assert next(response.iter_lines()) == "tick 0"
    # The proxy dropped its upstream connection, so the upstream's stream was cancelled.
    wait_for(lambda: state.stream_ended.is_set(), what="upstream stream ended")
    wait_for(lambda: recorder.calls_done == 1, what="proxy call ended")
    assert recorder.exceptions == []
    assert httpx.get(proxy.url + "/hello").text == "hello, world"


async def test_client_gone_while_waiting_for_the_head(servers: Servers, upstream: ServerThread,
                                                      state: UpstreamState) -> None:
    recorder = Recorder(ProxyApp(upstream.url))
    proxy = servers.serve_proxy(recorder)
    try:
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(client.get(proxy.url + "/slow"))
            await asyncio.sleep(0.05)    # let the request reach the upstream
            task.cancel()
        await asyncio.to_thread(wait_for, lambda: recorder.calls_done == 1, 10, "proxy call ended")
        assert recorder.exceptions == [] and recorder.sent == []
    finally:
        state.release.set()


def test_stale_pooled_connection_is_retried(servers: Servers) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first_connection = raw.connections == 1
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" if first_connection
                     else OK)
        await writer.drain()
        if first_connection:
            await read_head(reader)   # the next request on this connection: hang up on it
            return
        while True:
            await read_head(reader)
            writer.write(OK)

    raw = servers.raw(handle)
    proxy = servers.proxy(raw.url)
    with httpx.Client(base_url=proxy.url) as client:
        assert client.get("/a").text == "one"
        assert client.get("/b").text == "ok"
        assert client.post("/c", content=b"small body").text == "ok"
    assert raw.connections == 2


def test_lifespan_shutdown_closes_idle_connections(upstream: ServerThread) -> None:
    async def main() -> None:
        app = ProxyApp(upstream.url)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://front") as client:
            assert (await client.get("/hello")).text == "hello, world"
        assert app.pool.idle == 1
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[MutableMapping[str, Any]] = []
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)
        await app({"type": "lifespan"}, inbox.get, send)
        assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                             "lifespan.shutdown.complete"]
        assert app.pool.idle == 0
    asyncio.run(main())
