"""Response framing from a hand-written upstream, through the proxy under uvicorn.

Each test runs twice: with the httptools (llhttp) parser and with the h11 fallback, which
the proxy uses where httptools is not installed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from inspector.proxy import ProxyApp, ProxyError
from inspector.proxy import parse as parse_module
from tests.conftest import wait_for
from tests.inspector.proxy.apps import Recorder, read_head, wait_thread_event
from tests.inspector.proxy.conftest import Servers


@pytest.fixture(params=["httptools", "h11"], autouse=True)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which response parser the proxy uses (servers run in this process's threads)."""
    if request.param == "h11":
        monkeypatch.setattr(parse_module, "httptools", None)
    yield request.param


def replying(*replies: bytes, close: bool = False):  # type: ignore[no-untyped-def]
    """A raw upstream handler: reads request heads on one connection and answers each
    with the next reply; closes after the last one (or after each, if `close`)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await read_head(reader)
            writer.write(reply)
            await writer.drain()
            if close:
                return
        await reader.read()            # keep the connection until the proxy drops it
    return handle


def test_chunked_response(servers: Servers) -> None:
    raw = servers.raw(replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                               b"Content-Type: text/plain\r\n\r\n"
                               b"5\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"))
    proxy = servers.proxy(raw.url)
    response = httpx.get(proxy.url + "/")
    assert response.status_code == 200 and response.text == "hello, world"
    assert "x-trailer" not in response.headers


def test_close_delimited_response(servers: Servers) -> None:
    """No Content-Length, no chunks: the body ends when the upstream closes (RFC 9112
    6.3), and that connection is not reused."""
    raw = servers.raw(replying(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                               b"until the end", close=True))
    proxy = servers.proxy(raw.url)
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(2):
            assert client.get("/").text == "until the end"
    assert raw.connections == 2


def test_http_1_0_response_is_not_reused(servers: Servers) -> None:
    raw = servers.raw(replying(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                               b"Content-Length: 2\r\n\r\nok", close=True))
    proxy = servers.proxy(raw.url)
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(2):
            assert client.get("/").text == "ok"
    assert raw.connections == 2


def test_interim_responses_are_skipped(servers: Servers) -> None:
    raw = servers.raw(replying(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                               b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade"))
    proxy = servers.proxy(raw.url)
    response = httpx.get(proxy.url + "/")
    assert response.status_code == 201 and response.text == "made"
    assert "link" not in response.headers


def test_keep_alive_connection_carries_the_next_request(servers: Servers) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    raw = servers.raw(replying(ok, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ok))
    proxy = servers.proxy(raw.url)
    with httpx.Client(base_url=proxy.url) as client:
        assert client.get("/").text == "ok"
        assert client.head("/").status_code == 200
        assert client.get("/").text == "ok"
    assert raw.connections == 1


def test_bytes_after_the_response_mean_a_new_connection(servers: Servers) -> None:
    """An upstream out of step (a body longer than its Content-Length) is not reused."""
    raw = servers.raw(replying(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"))
    proxy = servers.proxy(raw.url)
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(2):
            assert client.get("/").text == "ok"
    assert raw.connections == 2


@pytest.mark.parametrize("reply, says", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
     "sent a malformed response"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
     "sent a malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "closed the connection mid-response"),
])
def test_broken_head_is_502(servers: Servers, reply: bytes, says: str) -> None:
    raw = servers.raw(replying(reply, close=True))
    proxy = servers.proxy(raw.url)
    response = httpx.get(proxy.url + "/")
    assert response.status_code == 502
    assert says in response.text


def test_broken_chunked_body_cuts_the_response(servers: Servers) -> None:
    """The head and a first chunk went to the client; then the chunks turn to garbage."""
    first_chunk_read = threading.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
        await writer.drain()
        await wait_thread_event(first_chunk_read)
        writer.write(b"zz\r\n")
        await writer.drain()

    raw = servers.raw(handle)
    recorder = Recorder(ProxyApp(raw.url))
    proxy = servers.serve_proxy(recorder)
    with httpx.stream("GET", proxy.url + "/") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"ok"
        first_chunk_read.set()
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in chunks:
                pass
    wait_for(lambda: recorder.exceptions, what="the ProxyError recorded")
    assert isinstance(recorder.exceptions[0], ProxyError)
    assert "sent a malformed response" in str(recorder.exceptions[0])


def test_garbage_right_after_the_head_is_502(servers: Servers) -> None:
    raw = servers.raw(replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"zz\r\n", close=True))
    proxy = servers.proxy(raw.url)
    response = httpx.get(proxy.url + "/")
    assert response.status_code == 502 and "sent a malformed response" in response.text
