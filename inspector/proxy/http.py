"""The HTTP hop: one ASGI http request forwarded to the upstream over h11, both bodies streamed.

One `HttpExchange` per request holds that request's state. The main coroutine writes the
request head, reads the response and sends it to the client. A child task pumps the rest
of a streamed request body upstream (one chunk at a time, waiting for the socket before
taking the next) and then watches for the client leaving; for a body-less request the
watcher starts only once the exchange takes a while (see `WATCH_AFTER`). If the client
leaves, the child aborts the upstream connection, which wakes the main coroutine, which
then returns quietly and never puts that connection back in the pool.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any, TypeVar

import h11

from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, ProxyError, UpstreamFailure
from .http_translate import body_messages, build_request, error_messages, response_start
from .pool import ConnectionPool, UpstreamConnection

__all__ = ["HttpExchange", "Receive", "Send", "Scope"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
T = TypeVar("T")

# How long the upstream may take before the proxy starts watching for the client leaving.
WATCH_AFTER = 0.05


async def within(coro: Coroutine[Any, Any, T], delay: float) -> T:
    """Await `coro` for at most `delay` seconds (asyncio.TimeoutError after)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(delay):
            return await coro
    return await asyncio.wait_for(coro, delay)  # pragma: no cover - Python 3.10


class _ClientGone(Exception):
    """The client disconnected: unwind without a response and without noise."""


class HttpExchange:
    """One request/response through the proxy."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, pool: ConnectionPool, *,
                 keep_host: bool, forwarded: bool, read_timeout: float) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.pool = pool
        self.keep_host = keep_host
        self.forwarded = forwarded
        self.read_timeout = read_timeout
        self.loop = asyncio.get_running_loop()
        self.conn: UpstreamConnection | None = None
        self.client_task: asyncio.Task[None] | None = None
        self.client_gone = False
        self.response_complete = False
        self.last_progress = 0.0       # loop time the request body last moved upstream

    async def run(self) -> None:
        """Forward the request; answer 502/504 if the upstream fails before responding.

        Raises ProxyError if it fails after the response started.
        """
        first = await self.receive()
        if first["type"] != "http.request":
            return
        body: bytes = first.get("body", b"")
        more: bool = first.get("more_body", False)
        try:
            try:
                request = self._build_request(body, more)
                head = await self._request(request, body, more)
            except UpstreamFailure as failure:
                for message in error_messages(failure):
                    await self._send(message)
                return
            await self._send(response_start(head))
            await self._stream_body()
        except _ClientGone:
            return
        finally:
            await self._finish()

    def _build_request(self, body: bytes, more: bool) -> h11.Request:
        try:
            return build_request(self.scope, self.pool.upstream, body=body, more_body=more,
                                 keep_host=self.keep_host, forwarded=self.forwarded)
        except h11.LocalProtocolError as exc:
            # The server in front may accept what h11 does not (httptools is lenient).
            raise UpstreamFailure(BAD_GATEWAY, "unsendable request",
                                  f"the request cannot be forwarded to upstream "
                                  f"{self.pool.upstream.address}: {exc}",
                                  before_response=False) from None

    async def _request(self, request: h11.Request, body: bytes, more: bool) -> h11.Response:
        """Send the head (and a whole body) and read the response head, retrying once.

        The retry is for a pooled connection the upstream closed just as it was reused:
        only when nothing of a response arrived and the body is still in hand (it came in
        one piece), so nothing is sent twice that the client sent once.
        """
        for attempt in (0, 1):
            conn = await (self.pool.acquire() if attempt == 0 else self.pool.connect())
            self.conn = conn
            if self.client_gone:
                raise _ClientGone
            try:
                await self._send_head(conn, request, body, more)
                return await self._read_head(conn)
            except UpstreamFailure as failure:
                conn.abort()
                self.conn = None
                if self.client_gone:
                    raise _ClientGone from None
                retry = (attempt == 0 and conn.reused and not more and failure.before_response
                         and failure.status == BAD_GATEWAY)
                if not retry:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_head(self, conn: UpstreamConnection, request: h11.Request, body: bytes,
                         more: bool) -> None:
        """Write head, first body chunk and (if it is all) the end, in one write."""
        upstream = self.pool.upstream
        try:
            data = conn.h11.send(request) or b""
            if body:
                data += conn.h11.send(h11.Data(data=body)) or b""
            if not more:
                data += conn.h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise UpstreamFailure(BAD_GATEWAY, "unsendable request",
                                  f"the request cannot be forwarded to upstream "
                                  f"{upstream.address}: {exc}", before_response=False) from None
        try:
            conn.writer.write(data)
            await conn.writer.drain()
        except OSError as exc:
            raise UpstreamFailure(BAD_GATEWAY, "connection reset",
                                  f"upstream {upstream.address} closed the connection while "
                                  f"the request was sent ({exc.strerror or exc})") from None
        self.last_progress = self.loop.time()
        if more:
            self.client_task = asyncio.create_task(self._pump_body(conn))

    async def _read_head(self, conn: UpstreamConnection) -> h11.Response:
        """Read until the final response head; 1xx responses are the upstream's business."""
        while True:
            event = self._next_event(conn)
            if event is h11.NEED_DATA:
                await self._read(conn)
            elif isinstance(event, h11.Response):
                return event
            elif not isinstance(event, h11.InformationalResponse):
                raise UpstreamFailure(BAD_GATEWAY, "protocol error",
                                      f"upstream {self.pool.upstream.address} sent "
                                      f"{type(event).__name__} instead of a response")

    async def _stream_body(self) -> None:
        """Send the response body as it arrives, one message per h11 Data event."""
        conn = self.conn
        assert conn is not None
        try:
            while True:
                events: list[h11.Data | h11.EndOfMessage] = []
                while not self.response_complete:
                    event = self._next_event(conn)
                    if event is h11.NEED_DATA:
                        break
                    if isinstance(event, h11.Data):
                        events.append(event)
                    elif isinstance(event, h11.EndOfMessage):
                        events.append(event)
                        self.response_complete = True
                        self._release()
                for message in body_messages(events):
                    await self._send(message)
                if self.response_complete:
                    return
                self._watch()   # a body that takes more than one read: a stream
                await self._read(conn)
        except UpstreamFailure as failure:
            raise ProxyError(f"{failure}: the response to the client was cut short") from None

    def _next_event(self, conn: UpstreamConnection) -> Any:
        """conn.h11.next_event(), with a broken peer turned into an UpstreamFailure."""
        try:
            return conn.h11.next_event()
        except h11.RemoteProtocolError as exc:
            if self.client_gone:
                raise _ClientGone from None
            address = self.pool.upstream.address
            if conn.reader.at_eof():
                what = "before responding" if conn.received == 0 else "mid-response"
                raise UpstreamFailure(BAD_GATEWAY, "connection closed",
                                      f"upstream {address} closed the connection {what}",
                                      before_response=conn.received == 0) from None
            raise UpstreamFailure(BAD_GATEWAY, "malformed response",
                                  f"upstream {address} sent a malformed response: {exc}",
                                  before_response=False) from None

    async def _read(self, conn: UpstreamConnection) -> None:
        """Read from the upstream; time out after read_timeout s with nothing moving.

        Time spent still streaming the request body upstream does not count: a slow
        upload is not a slow upstream.
        """
        start = self.loop.time()
        while True:
            remaining = max(start, self.last_progress) + self.read_timeout - self.loop.time()
            if remaining <= 0:
                waited = "sent no response" if conn.received == 0 else "sent nothing more"
                raise UpstreamFailure(GATEWAY_TIMEOUT, "read timeout",
                                      f"upstream {self.pool.upstream.address} {waited} "
                                      f"within {self.read_timeout:g} s",
                                      before_response=conn.received == 0)
            watching = self.client_task is not None
            try:
                await within(conn.read(), remaining if watching else min(remaining, WATCH_AFTER))
                return
            except asyncio.TimeoutError:
                self._watch()
                continue
            except OSError as exc:
                if self.client_gone:
                    raise _ClientGone from None
                raise UpstreamFailure(BAD_GATEWAY, "connection reset",
                                      f"upstream {self.pool.upstream.address} reset the "
                                      f"connection ({exc.strerror or exc})",
                                      before_response=conn.received == 0) from None

    async def _send(self, message: dict[str, Any]) -> None:
        """send() to the client; a client that left ends the exchange quietly."""
        if self.client_gone:
            raise _ClientGone
        try:
            await self.send(message)
        except OSError:
            self._client_left()
            raise _ClientGone from None
        if self.client_gone:
            raise _ClientGone

    async def _pump_body(self, conn: UpstreamConnection) -> None:
        """Forward the rest of the request body, one receive() per socket write."""
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    if not self.response_complete:
                        self._client_left()
                    return
                chunk: bytes = message.get("body", b"")
                more: bool = message.get("more_body", False)
                data = b""
                if chunk:
                    data += conn.h11.send(h11.Data(data=chunk)) or b""
                if not more:
                    data += conn.h11.send(h11.EndOfMessage()) or b""
                if data:
                    conn.writer.write(data)
                    await conn.writer.drain()
                self.last_progress = self.loop.time()
                if not more:
                    break
        except (OSError, h11.LocalProtocolError):
            # The upstream stopped reading. Whatever it answered, or how it failed, is
            # for the main coroutine to read.
            return
        await self._watch_client()

    def _watch(self) -> None:
        """Start watching for the client leaving, if nothing does yet.

        Only when the exchange turns out to take a while: most responses arrive whole
        within a few milliseconds, and a task per request would cost a quarter of the
        proxy's throughput.
        """
        if self.client_task is None:
            self.client_task = asyncio.create_task(self._watch_client())

    async def _watch_client(self) -> None:
        """Wait for http.disconnect; before the response is complete it means the client left."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if not self.response_complete:
                    self._client_left()
                return

    def _client_left(self) -> None:
        self.client_gone = True
        if self.conn is not None:
            self.conn.abort()

    async def _finish(self) -> None:
        """Stop the child task; drop a connection that was not handed back."""
        task = self.client_task
        if task is not None:
            if not task.done():
                task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # a bug: let the capture see it
        if self.conn is not None:
            self.conn.abort()
            self.conn = None

    def _release(self) -> None:
        """Hand the connection back as soon as the upstream's response ended, before the
        last send to the client: its next request may already be on the way."""
        conn, self.conn = self.conn, None
        if conn is not None:
            if conn.reusable:
                self.pool.release(conn)
            elif conn.h11.our_state is h11.DONE:
                conn.close()   # e.g. the upstream said Connection: close
            else:
                conn.abort()   # the upstream answered before the body was all sent
