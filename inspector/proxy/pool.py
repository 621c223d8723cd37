"""Upstream TCP connections and the pool of idle ones kept for reuse.

This is the I/O edge of the HTTP hop. An `UpstreamConnection` is an asyncio Protocol: the
loop hands it each read, which it feeds at once to the response parser of the request in
flight, so the exchange wakes once per read with events, not bytes. The pool hands out
idle connections (most recently used first) and takes back those whose last response
left them reusable. The upstream may close an idle connection at any time (uvicorn does
after 5 s, or after an error response), so a reused one is checked, and a request that
fails on it before any response byte is retried by the caller.
"""

from __future__ import annotations

import asyncio
import ssl

from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, UpstreamFailure
from .parse import EndOfResponse, Event, ResponseError, ResponseParser
from .tls import tls_failure
from .upstream import Upstream

__all__ = ["UpstreamConnection", "WriteFlow", "ConnectionPool", "connect_failure", "READ_SIZE", "POOL_SIZE",
           "HIGH_WATER"]

READ_SIZE = 65536
# Idle connections kept at most. The pool keeps every connection that was in use, up to
# this: fewer would mean a new TCP connection for some requests at a steady load.
POOL_SIZE = 100
# Unread response bytes past which the upstream socket stops being read (the client is
# slower than the upstream): the kernel's buffers then push back on the upstream.
HIGH_WATER = 4 * READ_SIZE


def connect_failure(upstream: Upstream, timeout: float, exc: BaseException) -> UpstreamFailure:
    """What a failed connect means for the client: a 502 or a 504."""
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamFailure(GATEWAY_TIMEOUT, "connect timeout",
                               f"upstream {upstream.address} did not accept the connection "
                               f"within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return UpstreamFailure(BAD_GATEWAY, "connection refused",
                               f"upstream {upstream.address} refused the connection")
    if isinstance(exc, ssl.SSLError):
        return tls_failure(upstream, exc)
    strerror = getattr(exc, "strerror", None)
    return UpstreamFailure(BAD_GATEWAY, "connect failed",
                           f"could not connect to upstream {upstream.address}: "
                           f"{strerror or exc}")


class WriteFlow(asyncio.Protocol):
    """The write side of an upstream connection's flow control, for both hops: the
    transport says when its buffer passes the high-water mark and when it has drained;
    a writer waits on `_drain_waiter` in between. And EOF ends the connection
    (`_ended`) and lets the transport close."""

    _write_paused = False
    _drain_waiter: asyncio.Future[None] | None = None

    def _ended(self) -> None:
        raise NotImplementedError

    def eof_received(self) -> bool | None:
        self._ended()
        return None                    # let the transport close

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_drain()

    def _release_drain(self) -> None:
        drain, self._drain_waiter = self._drain_waiter, None
        if drain is not None and not drain.done():
            drain.set_result(None)


class UpstreamConnection(WriteFlow):
    """One TCP connection to the upstream, parsing the response of the request in flight.

    Between requests it has no parser: bytes arriving then are a broken upstream, and the
    connection is not reused.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Kept: asyncio.get_running_loop() costs a getpid() system call on Python 3.11.
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.events: list[Event] = []
        self.failure: BaseException | None = None  # ResponseError, or the OSError it died of
        self.closed = False            # EOF from the upstream, or the connection is gone
        self.reused = False
        self.received = 0              # response bytes read in this request/response cycle
        self.request_sent = False      # the whole request went out
        self.response_done = False     # the parser said EndOfResponse
        self.keep_alive = False        # ... and that the connection may carry another
        self._waiter: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_paused = False
        self._unread = 0

    # The exchange's side

    def begin(self, parser: ResponseParser) -> None:
        """Start a request/response cycle whose response `parser` reads."""
        self.parser = parser
        self.received = 0
        self.request_sent = False
        self.response_done = False
        self.keep_alive = False

    def write(self, data: bytes) -> None:
        """Queue bytes for the upstream; ConnectionResetError if the connection is gone."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        transport.write(data)

    @property
    def write_paused(self) -> bool:
        """The transport's buffer is over its high-water mark: drain() before writing more."""
        return self._write_paused

    async def drain(self) -> None:
        """Wait until the socket takes what was written: the backpressure point."""
        if self._write_paused and not self.transport.is_closing():  # type: ignore[union-attr]
            waiter = self._drain_waiter = self.loop.create_future()
            await waiter
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the connection is closed")

    def take(self) -> list[Event]:
        """The events parsed since the last take (and more reading, if it was paused)."""
        events, self.events = self.events, []
        self._unread = 0
        if self._read_paused and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return events

    @property
    def ready(self) -> bool:
        """Something to act on: events, a failure, or the end of the connection."""
        return bool(self.events) or self.failure is not None or self.closed

    def wait(self, timeout: float) -> asyncio.Future[bool]:
        """A future that becomes True once `ready`, or False after `timeout` seconds.

        A plain future, not a coroutine: this is awaited once or twice per request.
        """
        waiter = self.loop.create_future()
        if self.ready:
            waiter.set_result(True)
        else:
            self._waiter = waiter
            self._timer = self.loop.call_later(timeout, self._time_out, waiter)
        return waiter

    @property
    def reusable(self) -> bool:
        """The request went out whole and the response said the connection may persist."""
        return (self.request_sent and self.response_done and self.keep_alive
                and not self.closed and self.failure is None)

    def abort(self) -> None:
        """Drop the connection at once (RST): it is in an unknown state."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close after writing what is buffered."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        parser = self.parser
        if parser is None or self.response_done or self.failure is not None:
            # Nothing was asked, or the response had ended: the upstream is out of step.
            self.keep_alive = False
            if parser is None:
                self.abort()
            return
        try:
            events = parser.feed(data)
        except ResponseError as exc:
            self.failure = exc
        else:
            if events:
                self.events += events
                last = events[-1]
                if type(last) is EndOfResponse:
                    self.response_done = True
                    self.keep_alive = last.keep_alive
            self._unread += len(data)
            if self._unread > HIGH_WATER and not self._read_paused:
                self._read_paused = True
                self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.failure is None and not self.response_done:
            self.failure = exc
        self._ended()
        self._release_drain()

    def _ended(self) -> None:
        self.closed = True
        parser = self.parser
        if parser is not None and not self.response_done and self.failure is None:
            try:
                events = parser.feed_eof()
            except ResponseError as exc:
                self.failure = exc
            else:
                if events:
                    self.events += events
                    self.response_done = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            self._timer.cancel()  # type: ignore[union-attr]
            if not waiter.done():  # (cancelled with the task that awaited it)
                waiter.set_result(True)

    def _time_out(self, waiter: asyncio.Future[bool]) -> None:
        if self._waiter is waiter:
            self._waiter = None
        if not waiter.done():
            waiter.set_result(False)


class ConnectionPool:
    """Idle upstream connections, at most `size` of them, reused newest first."""

    def __init__(self, upstream: Upstream, *, connect_timeout: float,
                 size: int = POOL_SIZE, tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self.size = size
        self.tls = tls                 # the client context for an https:// upstream
        self._idle: list[UpstreamConnection] = []
        self._closed = False

    def acquire_idle(self) -> UpstreamConnection | None:
        """An idle connection that still looks alive, or None."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.closed or conn.failure is not None:
                conn.abort()
                continue
            conn.reused = True
            return conn
        return None

    async def acquire(self) -> UpstreamConnection:
        """An idle connection that still looks alive, else a new one."""
        return self.acquire_idle() or await self.connect()

    async def connect(self) -> UpstreamConnection:
        """A new connection, bypassing the idle ones (used for a retry)."""
        loop = asyncio.get_running_loop()
        tls = self.tls
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: UpstreamConnection(loop), self.upstream.host,
                                       self.upstream.port, ssl=tls,
                                       server_hostname=self.upstream.host if tls else None),
                self.connect_timeout)
        except (asyncio.TimeoutError, OSError) as exc:
            raise connect_failure(self.upstream, self.connect_timeout, exc) from None
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Keep `conn` for the next request if it is reusable and there is room; else close."""
        if self._closed or not conn.reusable or len(self._idle) >= self.size:
            conn.close()
            return
        conn.parser = None
        conn.events = []
        self._idle.append(conn)

    @property
    def idle(self) -> int:
        """How many connections wait for reuse."""
        return len(self._idle)

    async def aclose(self) -> None:
        """Close every idle connection; later releases close instead of pooling."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        # Let the transports run their close callbacks before the loop may stop.
        await asyncio.sleep(0)
