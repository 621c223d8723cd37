"""The proxy's client side writes a response in one write: the transport on its own (a
recording stand-in for the socket's transport, a real loop), then through the proxy."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import websockets
from uvicorn.protocols.http.h11_impl import H11Protocol

from inspector.proxy import ProxyApp
from inspector.proxy.client_writes import FLUSH_SIZE, CoalescingTransport, CoalescingWrites
from tests.inspector.proxy.conftest import ServerThread


class SocketTransport(asyncio.Transport):
    """What the socket would have been given: each write, and what was asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        if self.closing:
            self.calls.append("late write")
            return
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append("eof")

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1234)}.get(name, default)


async def turn() -> None:
    """Let the loop run the callbacks scheduled so far."""
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_as_one() -> None:
    raw = SocketTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    t.write(bytearray(b"he"))
    t.writelines([b"ll", memoryview(b"o")])
    assert raw.writes == []
    assert t.get_write_buffer_size() == 7 + 43
    await turn()
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
    assert t.get_write_buffer_size() == 7
    t.write(b"next")
    await turn()
    assert raw.writes[1:] == [b"next"]


async def test_held_bytes_past_the_flush_size_leave_at_once() -> None:
    raw = SocketTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"h" * 100)
    t.write(b"b" * FLUSH_SIZE)
    assert raw.writes == [b"h" * 100 + b"b" * FLUSH_SIZE]   # flow control sees it now
    t.write(b"tail")
    await turn()
    assert raw.writes[1:] == [b"tail"]


async def test_close_and_eof_send_what_is_held_first_abort_drops_it() -> None:
    raw = SocketTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"last words")
    t.write_eof()
    assert raw.writes == [b"last words"] and raw.calls == ["eof"]
    t.write(b"bye")
    t.close()
    assert raw.writes[1:] == [b"bye"] and raw.calls[1:] == ["close"]
    assert t.is_closing()

    raw = SocketTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"never sent")
    t.abort()
    await turn()
    assert raw.writes == [] and raw.calls == ["abort"]


async def test_a_peer_gone_before_the_flush_gets_nothing() -> None:
    raw = SocketTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    t.write(b"held")
    raw.closing = True          # connection_lost came first
    await turn()
    assert raw.writes == [] and raw.calls == []
    t.write(b"late")             # a write to a closed transport is the transport's to answer
    assert raw.calls == ["late write"]


async def test_everything_else_is_the_socket_transports() -> None:
    raw = SocketTransport()
    t = CoalescingTransport(raw, asyncio.get_running_loop())
    assert t.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert t.get_extra_info("sslcontext") is None


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every write the proxy's client transports make, as the socket gets them."""
    seen: list[bytes] = []
    original = CoalescingTransport.flush

    def spy(self: CoalescingTransport) -> None:
        if self._held:
            seen.append(b"".join(self._held))
        original(self)
    monkeypatch.setattr(CoalescingTransport, "flush", spy)
    return seen


class H11Coalescing(CoalescingWrites, H11Protocol):
    """The same writes under uvicorn's h11 protocol (where httptools is not installed)."""


@pytest.fixture(params=["httptools", "h11"])
def coalescing_proxy(request: pytest.FixtureRequest, shared: Any) -> ServerThread:
    """The shared upstream behind a proxy served with each of uvicorn's HTTP protocols."""
    servers, _, upstream, proxy = shared
    if request.param == "httptools":
        return proxy
    served = servers.serve_proxy(ProxyApp(upstream.url), http=H11Coalescing)
    request.addfinalizer(served.stop)
    return served


def test_a_proxied_response_is_one_write(coalescing_proxy: ServerThread,
                                         flushes: list[bytes]) -> None:
    with httpx.Client(base_url=coalescing_proxy.url) as client:
        response = client.get("/hello")
        flushes.clear()
        again = client.get("/hello")
    assert again.content == response.content == b"hello, world"
    assert len(flushes) == 1
    assert flushes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert flushes[0].endswith(b"\r\n\r\nhello, world")


async def test_a_websocket_after_the_upgrade_writes_to_the_socket_itself(
        coalescing_proxy: ServerThread, flushes: list[bytes]) -> None:
    ws_url = coalescing_proxy.url.replace("http://", "ws://")
    async with websockets.connect(f"{ws_url}/ws/echo") as ws:
        for i in range(3):
            await ws.send(f"m{i}")
            assert await ws.recv() == f"echo:m{i}"
    assert flushes == []     # the 101 went out with the upgrade, after the handover
