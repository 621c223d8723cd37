"""WebSocket through the proxy against a real uvicorn upstream, driven by `websockets`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from inspector.proxy import ProxyApp
from tests.conftest import free_port, wait_for
from tests.inspector.proxy.apps import Recorder, UpstreamState, upstream_app
from tests.inspector.proxy.conftest import Servers, ServerThread


def ws_url(server: ServerThread, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_text_and_binary_both_ways(proxy: ServerThread, compression: str | None) -> None:
    # Without compression the client's hop takes the proxy's fast paths (ws_protocols);
    # with it (what browsers ask for) websockets does all the work.
    async with connect(ws_url(proxy, "/ws/echo"), compression=compression) as ws:
        await ws.send("hello")
        assert await ws.recv() == "echo:hello"
        await ws.send(b"\x00\xff")
        assert await ws.recv() == b"echo:\x00\xff"
        big = bytes(range(256)) * 2048   # 512 KiB: many reads on the way
        await ws.send(big)
        assert await ws.recv() == b"echo:" + big
        await ws.send("é" * 70_000)
        assert await ws.recv() == "echo:" + "é" * 70_000
        await ws.send(["frag", "mented"])            # one message in three frames
        assert await ws.recv() == "echo:fragmented"
        await ws.ping(b"p")                          # answered on the client's hop
        for i in range(200):                         # many small ones, back to back
            await ws.send(f"m{i}")
        assert [await ws.recv() for _ in range(200)] == [f"echo:m{i}" for i in range(200)]


async def test_subprotocol_chosen_by_upstream(proxy: ServerThread) -> None:
    offered = [Subprotocol("a"), Subprotocol("b")]
    async with connect(ws_url(proxy, "/ws/subprotocol"), subprotocols=offered) as ws:
        assert ws.subprotocol == "b"
        assert await ws.recv() == "a,b"


async def test_no_subprotocol_offered_none_chosen(proxy: ServerThread) -> None:
    async with connect(ws_url(proxy, "/ws/subprotocol")) as ws:
        assert ws.subprotocol is None
        assert await ws.recv() == ""


async def test_headers_reach_upstream_with_host_rewritten(upstream: ServerThread,
                                                          proxy: ServerThread) -> None:
    async with connect(ws_url(proxy, "/ws/headers?q=1"),
                       additional_headers={"cookie": "s=1"}) as ws:
        headers = dict(json.loads(await ws.recv()))
    assert headers["host"] == f"127.0.0.1:{upstream.port}"
    assert headers["cookie"] == "s=1"


async def test_refusal_passed_on_with_status_and_body(proxy: ServerThread) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(proxy, "/ws/refuse")):
            pass
    response = info.value.response
    assert response.status_code == 403
    assert response.body == b"go away"
    assert response.headers["x-why"] == "test"


async def test_refusal_without_denial_extension_is_403(servers: Servers,
                                                       upstream: ServerThread) -> None:
    proxy = servers.proxy(upstream.url, ws="wsproto")   # uvicorn's wsproto: no denial ext.
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(proxy, "/ws/refuse")):
            pass
    assert info.value.response.status_code == 403


async def test_upstream_down_refuses_with_502(servers: Servers) -> None:
    port = free_port()
    proxy = servers.proxy(f"http://127.0.0.1:{port}")
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(proxy, "/ws/echo")):
            pass
    response = info.value.response
    assert response.status_code == 502
    assert response.headers["x-inspector-error"] == "connection refused"
    assert response.body == (f"502 Bad Gateway: upstream 127.0.0.1:{port} refused the "
                             "connection\n").encode()


async def test_upstream_close_code_and_reason_reach_client(proxy: ServerThread) -> None:
    async with connect(ws_url(proxy, "/ws/close")) as ws:
        await ws.send("bye?")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 4001
    assert ws.close_reason == "bye from upstream"


async def test_client_close_code_and_reason_reach_upstream(proxy: ServerThread,
                                                           state: UpstreamState) -> None:
    async with connect(ws_url(proxy, "/ws/echo")) as ws:
        await ws.send("x")
        assert await ws.recv() == "echo:x"
        await ws.close(code=4002, reason="done here")
    await asyncio.to_thread(wait_for, lambda: state.ws_closes, 5, "upstream saw the close")
    assert state.ws_closes == [(4002, "done here")]


async def test_client_vanishing_closes_upstream(servers: Servers, proxy: ServerThread,
                                                state: UpstreamState) -> None:
    ws = await connect(ws_url(proxy, "/ws/echo"))
    await ws.send("x")
    assert await ws.recv() == "echo:x"
    ws.transport.abort()
    await asyncio.to_thread(wait_for, lambda: state.ws_closes, 5, "upstream saw the client go")
    assert state.ws_closes[0][0] in (1005, 1006)


async def test_pings_answered_on_each_hop(servers: Servers, state: UpstreamState) -> None:
    # The upstream pings the proxy every 50 ms and gives up after 100 ms without a pong.
    upstream = servers.serve(upstream_app(state), ws_ping_interval=0.05, ws_ping_timeout=0.1)
    recorder = Recorder(ProxyApp(upstream.url))
    proxy = servers.serve_proxy(recorder)
    async with connect(ws_url(proxy, "/ws/echo"), ping_interval=None) as ws:
        for i in range(5):
            pong = await ws.ping()          # answered by the proxy's uvicorn
            await asyncio.wait_for(pong, 2)
            await asyncio.sleep(0.1)        # time for the upstream's pings to need answers
            await ws.send(str(i))
            assert await ws.recv() == f"echo:{i}"
    await asyncio.to_thread(wait_for, lambda: state.ws_closes, 5, "upstream saw the close")
    assert state.ws_closes == [(1000, "")]
    # Pings are hop-local: none of them crossed the proxy as a message.
    assert all(m["type"] in ("websocket.accept", "websocket.send") for m in recorder.sent)


async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  accept: str | None = None, then: bytes = b"") -> None:
    """Answer a WebSocket handshake by hand (a raw upstream), then write `then`."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key"))
    if accept is None:
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode()
                 + then)
    await writer.drain()


async def test_upstream_vanishing_closes_client_with_1014(servers: Servers) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upgrade(reader, writer, then=b"\x81\x02hi")  # a text frame; then it drops

    proxy = servers.proxy(servers.raw(handle).url)
    async with connect(ws_url(proxy, "/x")) as ws:
        assert await ws.recv() == "hi"
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1014
    assert ws.close_reason == "upstream connection lost"


async def test_fragmented_upstream_message_reaches_client_whole(servers: Servers) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upgrade(reader, writer, then=b"\x01\x02he")
        await asyncio.sleep(0.05)                 # the rest in a later read
        writer.write(b"\x89\x00" + b"\x80\x03llo" + b"\x02\x01\x01\x80\x01\x02")
        await writer.drain()
        await reader.read()

    proxy = servers.proxy(servers.raw(handle).url)
    async with connect(ws_url(proxy, "/x")) as ws:
        assert await ws.recv() == "hello"          # the ping between was answered upstream
        assert await ws.recv() == b"\x01\x02"


@pytest.mark.parametrize("frame, upstream_code", [
    (b"\x81\x02\xff\xfe", 1007),                 # a text message that is not UTF-8
    (b"\x81\x82abcd\x01\x02", 1002),             # a masked frame from a server
])
async def test_invalid_upstream_frame_closes_both_hops(servers: Servers, frame: bytes,
                                                       upstream_code: int) -> None:
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upgrade(reader, writer, then=frame)
        got.append(await reader.read(2 + 2 + 125 + 4))   # the proxy's close frame

    proxy = servers.proxy(servers.raw(handle).url)
    async with connect(ws_url(proxy, "/x")) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1014
    assert ws.close_reason.startswith("invalid frame from upstream")
    await asyncio.to_thread(wait_for, lambda: got, 5, "the upstream got a close frame")
    close = got[0]
    assert close[0] == 0x88 and close[1] & 0x80      # a masked close frame, from a client
    mask, payload = close[2:6], close[6:]
    code = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))[:2]
    assert int.from_bytes(code, "big") == upstream_code


@pytest.mark.parametrize("answer, says", [
    ("wrong-accept-key", "sent an invalid WebSocket handshake response"),
    (None, "closed the connection during the WebSocket handshake"),
])
async def test_broken_handshake_answer_is_502(servers: Servers, answer: str | None,
                                              says: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if answer is None:
            await reader.readuntil(b"\r\n\r\n")
            writer.close()
            return
        await upgrade(reader, writer, accept=answer)
        await reader.read()

    proxy = servers.proxy(servers.raw(handle).url)
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(proxy, "/ws")):
            pass
    assert info.value.response.status_code == 502
    assert says.encode() in info.value.response.body


async def test_upstream_silent_on_handshake_is_504(servers: Servers) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()     # never answer, until the proxy hangs up

    raw = servers.raw(handle)
    proxy = servers.proxy(raw.url, read_timeout=0.2)
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(proxy, "/ws")):
            pass
    assert info.value.response.status_code == 504
    assert b"did not answer the WebSocket handshake within 0.2 s" in info.value.response.body
