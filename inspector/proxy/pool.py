"""Upstream TCP connections and the small pool of idle ones kept for reuse.

This is the I/O edge of the HTTP hop: a `UpstreamConnection` pairs an asyncio stream with
its h11 state; the pool hands out idle ones (most recently used first) and takes back only
those h11 says may carry another request. The upstream may close an idle connection at any
time (uvicorn does after 5 s, or after an error response), so a reused one is checked and a
request that fails on it before any response byte is retried by the caller.
"""

from __future__ import annotations

import asyncio
from collections import deque

import h11

from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, UpstreamFailure
from .upstream import Upstream

__all__ = ["UpstreamConnection", "ConnectionPool", "open_stream", "READ_SIZE"]

READ_SIZE = 65536


async def open_stream(upstream: Upstream, timeout: float
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection, turning each way of failing into a 502 or 504."""
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(upstream.host, upstream.port, limit=READ_SIZE), timeout)
    except asyncio.TimeoutError:
        raise UpstreamFailure(GATEWAY_TIMEOUT, "connect timeout",
                              f"upstream {upstream.address} did not accept the connection "
                              f"within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise UpstreamFailure(BAD_GATEWAY, "connection refused",
                              f"upstream {upstream.address} refused the connection") from None
    except OSError as exc:
        raise UpstreamFailure(BAD_GATEWAY, "connect failed",
                              f"could not connect to upstream {upstream.address}: "
                              f"{exc.strerror or exc}") from None


class UpstreamConnection:
    """One TCP connection to the upstream and its h11 client state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.reused = False
        self.received = 0   # response bytes read in the current request/response cycle

    async def send(self, event: h11.Event) -> None:
        """Serialize an event and wait until the socket takes it: the backpressure point."""
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def read(self) -> bytes:
        """Read what has arrived (b"" at EOF) and feed it to h11."""
        data = await self.reader.read(READ_SIZE)
        self.received += len(data)
        self.h11.receive_data(data)
        return data

    @property
    def reusable(self) -> bool:
        """Both sides finished a keep-alive exchange (h11 says DONE/DONE)."""
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    @property
    def stale(self) -> bool:
        """The upstream closed it while idle, or it is closing."""
        return self.writer.transport.is_closing() or self.reader.at_eof()

    def abort(self) -> None:
        """Drop the connection at once (RST): it is in an unknown state."""
        self.writer.transport.abort()

    def close(self) -> None:
        """Close after writing what is buffered."""
        self.writer.close()


class ConnectionPool:
    """Idle upstream connections, at most `size` of them, reused newest first."""

    def __init__(self, upstream: Upstream, *, connect_timeout: float, size: int) -> None:
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self.size = size
        self._idle: deque[UpstreamConnection] = deque()
        self._closed = False

    async def acquire(self) -> UpstreamConnection:
        """An idle connection that still looks alive, else a new one."""
        while self._idle:
            conn = self._idle.pop()
            if conn.stale:
                conn.abort()
                continue
            conn.reused = True
            return conn
        return await self.connect()

    async def connect(self) -> UpstreamConnection:
        """A new connection, bypassing the idle ones (used for a retry)."""
        reader, writer = await open_stream(self.upstream, self.connect_timeout)
        return UpstreamConnection(reader, writer)

    def release(self, conn: UpstreamConnection) -> None:
        """Keep `conn` for the next request if h11 allows it and there is room; else close."""
        if self._closed or not conn.reusable or conn.stale or len(self._idle) >= self.size:
            conn.close()
            return
        conn.h11.start_next_cycle()
        conn.received = 0
        self._idle.append(conn)

    @property
    def idle(self) -> int:
        """How many connections wait for reuse."""
        return len(self._idle)

    async def aclose(self) -> None:
        """Close every idle connection; later releases close instead of pooling."""
        self._closed = True
        writers = []
        while self._idle:
            conn = self._idle.pop()
            conn.close()
            writers.append(conn.writer)
        for writer in writers:
            try:
                await writer.wait_closed()
            except OSError:
                pass
