"""The WebSocket hop's connection: reading pauses for a slow client, writing for a slow
upstream, and the end of the connection reaches the protocol. A stand-in transport."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.protocol import OPEN
from websockets.uri import parse_uri

from inspector.proxy.pool import HIGH_WATER
from inspector.proxy.ws_protocols import UpstreamProtocol
from inspector.proxy.ws_socket import UpstreamSocket


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.written: list[bytes] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.calls.append("eof")


def connected() -> tuple[UpstreamSocket, Transport]:
    protocol = UpstreamProtocol(parse_uri("ws://upstream/"), state=OPEN, max_size=None)
    socket = UpstreamSocket(protocol, asyncio.get_running_loop())
    transport = Transport()
    socket.connection_made(transport)
    return socket, transport


async def test_reading_pauses_while_much_waits_unread_and_resumes_when_taken() -> None:
    socket, transport = connected()
    frame = b"\x82\x7e\xff\xff" + b"x" * 0xFFFF
    waiter = socket.wait()
    assert not waiter.done()
    for _ in range(HIGH_WATER // len(frame) + 1):
        socket.data_received(frame)
    assert waiter.done() and transport.calls == ["pause"]
    assert len(socket.take()) == HIGH_WATER // len(frame) + 1
    assert transport.calls == ["pause", "resume"]
    assert not socket.wait().done()            # nothing new since the take


async def test_writing_waits_while_the_transport_is_full() -> None:
    socket, transport = connected()
    assert socket.write([b"a"]) is False             # the socket took it: go on
    socket.pause_writing()
    assert socket.write([b"b", b"", b"c"]) is True   # over the high-water mark: wait
    assert transport.written == [b"a", b"b", b"c"] and transport.calls == ["eof"]
    task = asyncio.create_task(socket.drained())
    await asyncio.sleep(0)
    assert not task.done()
    socket.resume_writing()
    await asyncio.wait_for(task, 1)


async def test_the_end_of_the_connection_reaches_the_protocol() -> None:
    socket, _ = connected()
    waiter = socket.wait()
    socket.connection_lost(ConnectionResetError(104, "reset"))
    assert waiter.done() and socket.closed
    assert isinstance(socket.protocol.parser_exc, EOFError)
    assert isinstance(socket.error, ConnectionResetError)
    assert socket.wait().done()                # an ended connection never makes one wait
