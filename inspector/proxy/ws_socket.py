"""The WebSocket hop's TCP connection, as an asyncio protocol.

Bytes from the upstream go into the WebSocket protocol the moment they arrive, inside
`data_received`: no stream buffer between the socket and the parser, and no copy. The
relay takes the protocol's events when `wait()` says something happened. Reading pauses
while more than HIGH_WATER bytes wait unread (a slow client pushes back on the upstream,
through the kernel's buffers), and writing waits while the transport is over its
high-water mark, as the HTTP hop does (`pool.UpstreamConnection`).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from websockets.client import ClientProtocol

from .pool import HIGH_WATER, WriteFlow, connect_failure
from .upstream import Upstream

__all__ = ["UpstreamSocket", "open_socket"]


class UpstreamSocket(WriteFlow):
    """One TCP connection to the upstream, feeding `protocol`."""

    def __init__(self, protocol: ClientProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = protocol
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False            # EOF from the upstream, or the connection is gone
        self.error: Exception | None = None   # what the connection was lost to, if anything
        self._fresh = False            # something arrived since the last take()
        self._waiter: asyncio.Future[None] | None = None
        self._read_paused = False
        self._unread = 0

    # The relay's side

    def take(self) -> list[Any]:
        """The protocol's events since the last take (and more reading, if it was paused)."""
        self._fresh = False
        self._unread = 0
        if self._read_paused and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return self.protocol.events_received()

    def wait(self) -> asyncio.Future[None]:
        """A future done once something arrived since the last take, or the connection
        ended. A plain future, not a coroutine: it is awaited once per message."""
        waiter = self.loop.create_future()
        if self._fresh or self.closed:
            waiter.set_result(None)
        else:
            self._waiter = waiter
        return waiter

    def write(self, pending: list[bytes]) -> bool:
        """Write what the protocol had for the upstream (b"": end of stream). True if the
        transport is now over its high-water mark: await `drained()` before writing more.
        A connection that is gone takes nothing: the reading side sees the end."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        for data in pending:
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
        return self._write_paused

    async def drained(self) -> None:
        """Until the transport is back under its low-water mark (or gone)."""
        if self._write_paused and not self.transport.is_closing():  # type: ignore[union-attr]
            waiter = self._drain_waiter = self.loop.create_future()
            await waiter

    def close(self) -> None:
        """Close after writing what is buffered (the closing handshake is done)."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._unread += len(data)
        if self._unread > HIGH_WATER and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._fresh = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self._ended()
        self._release_drain()

    def _ended(self) -> None:
        if not self.closed:
            self.closed = True
            self.protocol.receive_eof()
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():   # (cancelled with its task)
            waiter.set_result(None)


async def open_socket(upstream: Upstream, protocol: ClientProtocol, timeout: float,
                      tls: ssl.SSLContext | None = None) -> UpstreamSocket:
    """Connect to the upstream for `protocol` (over TLS with `tls`), failing as a 502 or
    504."""
    loop = asyncio.get_running_loop()
    try:
        _, socket = await asyncio.wait_for(
            loop.create_connection(lambda: UpstreamSocket(protocol, loop),
                                   upstream.host, upstream.port, ssl=tls,
                                   server_hostname=upstream.host if tls else None), timeout)
    except (asyncio.TimeoutError, OSError) as exc:
        raise connect_failure(upstream, timeout, exc) from None
    return socket
