"""Writing to the proxy's clients: one write() per response where uvicorn would make two.

uvicorn writes a response's head to the socket as soon as the app sends
`http.response.start`, and the body when it sends `http.response.body`. For a proxy,
which has a small response whole in hand, that is two system calls and two wake-ups of
the client per response; on the project's machine the wake-up is most of the cost of a
write (README, "Speed"). `CoalescingTransport` holds what is written during one turn of
the event loop and gives it to the socket as one write at the end of that turn
(`call_soon`), or at once when it passes `FLUSH_SIZE`, so that a large body still meets
the socket's flow control as it did. The bytes and their order do not change, and nothing
waits on a timer: a streamed chunk leaves in the same loop turn as before.

`CoalescingHTTPProtocol` is uvicorn's own HTTP protocol (httptools, else h11) handing its
connections that transport (`CoalescingWrites`); the proxy is served with it
(`inspector.proxy.SERVE_OPTIONS`). Its 400 for a request it cannot parse carries a Date,
which uvicorn's own leaves out when its Date header is off (RFC 9110 6.6.1). A WebSocket
upgrade gets the socket's own transport back: a WebSocket message is one write already.
One write instead of two saves the proxy and its client a system call and a wake-up per
response (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from .dates import http_date

__all__ = ["FLUSH_SIZE", "CoalescingHTTPProtocol", "CoalescingTransport", "CoalescingWrites"]

# Held bytes past which a write goes out at once: the socket's flow control (uvicorn
# pauses a sender at 64 KiB buffered) must see a big body, not our buffer.
FLUSH_SIZE = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """A transport that joins the writes of one loop turn into one write of `raw`."""

    def __init__(self, raw: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.raw = raw
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            if self.raw.is_closing():
                self.raw.write(data)   # the transport's own answer to a late write
                return
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_SIZE:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Hand what is held to the socket now (a no-op when nothing is)."""
        held = self._held
        if not held:
            return
        self._held, self._size = [], 0
        if not self.raw.is_closing():   # the peer may have gone since: drop, as it would
            self.raw.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self.flush()
        self.raw.write_eof()

    def close(self) -> None:
        self.flush()
        self.raw.close()

    def abort(self) -> None:
        self._held, self._size = [], 0
        self.raw.abort()

    # Everything else is the socket transport's.
    def can_write_eof(self) -> bool:
        return self.raw.can_write_eof()

    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.raw.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.raw.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.raw.get_protocol()

    def is_reading(self) -> bool:
        return self.raw.is_reading()

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.raw.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.raw.get_write_buffer_limits()


class CoalescingWrites:
    """Mixed into one of uvicorn's HTTP protocols (httptools or h11): its connections
    write through a `CoalescingTransport`, and a WebSocket upgrade hands the WebSocket
    protocol the socket's own transport."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(  # type: ignore[misc]
            CoalescingTransport(transport, asyncio.get_running_loop()))

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, with a Date; then close."""
        body = msg.encode("ascii", "replace")
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ndate: %s\r\n"
                             b"content-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (http_date(), len(body), body))
        self.transport.close()

    def handle_websocket_upgrade(self, *args: Any) -> None:
        transport = self.transport
        if isinstance(transport, CoalescingTransport):
            transport.flush()
            self.transport = transport.raw
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]


class CoalescingHTTPProtocol(CoalescingWrites, AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's own choice of HTTP protocol (httptools if installed, else h11)."""
