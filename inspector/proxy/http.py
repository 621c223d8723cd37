"""The HTTP hop: one ASGI http request forwarded to the upstream, both bodies streamed.

One `HttpExchange` per request holds that request's state. The main coroutine writes the
request head, reads the response and sends it to the client. A child task pumps the rest
of a streamed request body upstream (one chunk at a time, waiting for the socket before
taking the next) and then watches for the client leaving; for a body-less request the
watcher starts only once the exchange takes a while (see `WATCH_AFTER`). If the client
leaves, the child aborts the upstream connection, which wakes the main coroutine, which
then returns quietly and never puts that connection back in the pool.

A request that fails on a reused connection before any response byte is sent again only
as `retry` allows (idempotent, still wholly in hand), and the capture is told either way.

A request with Expect: 100-continue keeps its meaning (RFC 9110 10.1.1): the head goes
upstream with the expectation and the proxy reads nothing of the body (uvicorn sends
the client its 100 on the first `receive()`) until the upstream says 100, or has said
nothing for `CONTINUE_WAIT` (as curl waits for a server that ignores expectations). A
final answer before that goes straight to the client, the body never asked for.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

from inspector.events.model import NOTES_KEY
from inspector.types import Receive, Scope, Send

from .dates import http_date
from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, ProxyError, UpstreamFailure
from .headers import ClientFields, client_fields
from .http_translate import (
    RequestBody,
    UnsendableRequest,
    body_messages,
    build_request,
    encode_request,
    error_messages,
    expects_continue,
    response_start,
)
from .parse import (
    Continue,
    EndOfResponse,
    Event,
    IncompleteResponse,
    ResponseHead,
    response_parser,
)
from .pool import ConnectionPool, UpstreamConnection
from .retry import resend

__all__ = ["HttpExchange", "Receive", "Send", "Scope", "within"]

T = TypeVar("T")

# How long the upstream may take before the proxy starts watching for the client leaving.
WATCH_AFTER = 0.05
# How long a request that expects 100-continue waits for the upstream's word before its
# body is sent anyway (curl's default, --expect100-timeout).
CONTINUE_WAIT = 1.0


async def within(awaitable: Awaitable[T], delay: float) -> T:
    """Await a coroutine or future for at most `delay` seconds (asyncio.TimeoutError after)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(delay):
            return await awaitable
    return await asyncio.wait_for(awaitable, delay)  # pragma: no cover - Python 3.10


class _ClientGone(Exception):
    """The client disconnected: unwind without a response and without noise."""


class HttpExchange:
    """One request/response through the proxy."""

    notes: list[str] | None = None     # for the capture (NOTES_KEY); most requests have none
    expecting = False                  # the request expects 100-continue

    def __init__(self, scope: Scope, receive: Receive, send: Send, pool: ConnectionPool, *,
                 keep_host: bool, forwarded: bool, read_timeout: float) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.pool = pool
        self.keep_host = keep_host
        self.forwarded = forwarded
        self.read_timeout = read_timeout
        self.conn: UpstreamConnection | None = None
        self.client_task: asyncio.Task[None] | None = None
        self.client_gone = False
        self.response_complete = False
        self.head_request = False
        self.body: RequestBody | None = None
        self.pending: list[Event] = []  # events that came with the response head
        self.last_progress = 0.0       # loop time the request body last moved upstream

    async def run(self) -> None:
        """Forward the request; answer 502/504 if the upstream fails before responding.

        Raises ProxyError if it fails after the response started.
        """
        fields = client_fields(self.scope.get("headers", ()))
        if fields.expect_continue and expects_continue(self.scope, fields):
            self.expecting = True
            body, more = b"", True     # nothing of the body is read before the upstream asks
        else:
            first = await self.receive()
            if first["type"] != "http.request":
                return
            body = first.get("body", b"")
            more = first.get("more_body", False)
        try:
            try:
                data = self._encode_request(fields, body, more)
                head = await self._request(data, more)
            except UpstreamFailure as failure:
                messages = error_messages(failure, http_date())
                if self.notes:
                    messages[0][NOTES_KEY] = self.notes
                for message in messages:
                    await self._send(message)
                return
            start = response_start(head, http_date)
            if self.notes:
                start[NOTES_KEY] = self.notes
            await self._send(start)
            await self._stream_body()
        except _ClientGone:
            return
        finally:
            if self.client_task is not None or self.conn is not None:
                await self._finish()

    def _encode_request(self, fields: ClientFields, body: bytes, more: bool) -> bytes:
        """The head and what the client sent of the body so far, framed for the upstream."""
        try:
            request = build_request(self.scope, self.pool.upstream, body=body, more_body=more,
                                    keep_host=self.keep_host, forwarded=self.forwarded,
                                    fields=fields)
            self.body = RequestBody(request.length)
            data = encode_request(request) + self.body.first(body, more)
        except UnsendableRequest as exc:
            # The server in front may accept what HTTP/1.1 does not (httptools is lenient).
            raise UpstreamFailure(BAD_GATEWAY, "unsendable request",
                                  f"the request cannot be forwarded to upstream "
                                  f"{self.pool.upstream.address}: {exc}",
                                  before_response=False) from None
        self.head_request = request.method == b"HEAD"
        return data

    async def _request(self, data: bytes, more: bool) -> ResponseHead:
        """Send the head (and a whole body) and read the response head, retrying once
        where a pooled connection died as it was reused and `retry` allows it."""
        for attempt in (0, 1):
            conn = self.pool.acquire_idle() if attempt == 0 else None
            if conn is None:
                conn = await self.pool.connect()
            self.conn = conn
            if self.client_gone:
                raise _ClientGone
            conn.begin(response_parser(self.head_request, self.expecting))
            try:
                await self._send_head(conn, data, more)
                if self.expecting:
                    head = await self._await_continue(conn)
                    if head is not None:
                        return head
                    self.client_task = asyncio.create_task(self._pump_body(conn))
                return await self._read_head(conn)
            except UpstreamFailure as failure:
                conn.abort()
                self.conn = None
                if self.client_gone:
                    raise _ClientGone from None
                if attempt == 0 and conn.reused and failure.before_response \
                        and failure.status == BAD_GATEWAY:
                    # Whole: no body pump started, so all that was read of it is in `data`.
                    again, note = resend(self.scope.get("method") or "GET",
                                         not more or self.client_task is None, failure)
                    self.notes = [*(self.notes or ()), note]
                    if again:
                        continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_head(self, conn: UpstreamConnection, data: bytes, more: bool) -> None:
        """Write head, first body chunk and (if it is all) the end, in one write."""
        try:
            conn.write(data)
            if conn.write_paused:
                await conn.drain()
        except OSError as exc:
            raise UpstreamFailure(BAD_GATEWAY, "connection reset",
                                  f"upstream {self.pool.upstream.address} closed the "
                                  f"connection while the request was sent "
                                  f"({exc.strerror or exc})") from None
        conn.request_sent = not more
        self.last_progress = conn.loop.time()
        if more and not self.expecting:
            self.client_task = asyncio.create_task(self._pump_body(conn))

    async def _await_continue(self, conn: UpstreamConnection) -> ResponseHead | None:
        """Wait for the upstream's word on a request that expects 100-continue: its final
        response head if that comes first, else None (a 100, or CONTINUE_WAIT s of
        silence) and the body is to be sent."""
        loop = conn.loop
        deadline = loop.time() + min(CONTINUE_WAIT, self.read_timeout)
        while True:
            events = self._take(conn)
            if events:
                if type(events[0]) is Continue:
                    del events[0]
                    if not events:
                        return None
                head = events[0]
                assert type(head) is ResponseHead, "a parser gives the head first"
                self.pending = events[1:]
                return head
            remaining = deadline - loop.time()
            if remaining <= 0 or not await conn.wait(remaining):
                return None

    async def _read_head(self, conn: UpstreamConnection) -> ResponseHead:
        """Read until the response head (the parser skips 1xx responses)."""
        while True:
            events = self._take(conn)
            if events:
                if type(events[0]) is Continue:   # came after CONTINUE_WAIT: the body went
                    del events[0]
                    if not events:
                        continue
                head = events[0]
                assert type(head) is ResponseHead, "a parser gives the head first"
                self.pending = events[1:]
                return head
            await self._read(conn)

    async def _stream_body(self) -> None:
        """Send the response body as it arrives, one message per piece the parser gave."""
        conn = self.conn
        assert conn is not None
        events, self.pending = self.pending, []
        try:
            while True:
                if events:
                    if type(events[-1]) is EndOfResponse:
                        self.response_complete = True
                        self._release()
                    for message in body_messages(events):
                        await self._send(message)
                    if self.response_complete:
                        return
                self._watch()   # a body that takes more than one read: a stream
                await self._read(conn)
                events = self._take(conn)
        except UpstreamFailure as failure:
            raise ProxyError(f"{failure}: the response to the client was cut short") from None

    def _take(self, conn: UpstreamConnection) -> list[Event]:
        """The events read so far; an UpstreamFailure once there are none and it failed."""
        events = conn.take()
        if events or not (conn.failure is not None or conn.closed):
            return events
        if self.client_gone:
            raise _ClientGone
        address = self.pool.upstream.address
        failure = conn.failure
        before = conn.received == 0
        if failure is None or isinstance(failure, IncompleteResponse):
            what = "before responding" if before else "mid-response"
            raise UpstreamFailure(BAD_GATEWAY, "connection closed",
                                  f"upstream {address} closed the connection {what}",
                                  before_response=before)
        if isinstance(failure, OSError):
            raise UpstreamFailure(BAD_GATEWAY, "connection reset",
                                  f"upstream {address} reset the connection "
                                  f"({failure.strerror or failure})", before_response=before)
        raise UpstreamFailure(BAD_GATEWAY, "malformed response",
                              f"upstream {address} sent a malformed response: {failure}",
                              before_response=False)

    async def _read(self, conn: UpstreamConnection) -> None:
        """Wait for the upstream; time out after read_timeout s with nothing moving.

        Time spent still streaming the request body upstream does not count: a slow
        upload is not a slow upstream.
        """
        loop = conn.loop
        start = loop.time()
        while True:
            remaining = max(start, self.last_progress) + self.read_timeout - loop.time()
            if remaining <= 0:
                waited = "sent no response" if conn.received == 0 else "sent nothing more"
                raise UpstreamFailure(GATEWAY_TIMEOUT, "read timeout",
                                      f"upstream {self.pool.upstream.address} {waited} "
                                      f"within {self.read_timeout:g} s",
                                      before_response=conn.received == 0)
            watching = self.client_task is not None
            if await conn.wait(remaining if watching else min(remaining, WATCH_AFTER)):
                return
            self._watch()

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
        body = self.body
        assert body is not None
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    if not self.response_complete:
                        self._client_left()
                    return
                chunk: bytes = message.get("body", b"")
                more: bool = message.get("more_body", False)
                data = body.data(chunk) if chunk else b""
                if not more:
                    data += body.end()
                if data:
                    conn.write(data)
                    await conn.drain()
                self.last_progress = conn.loop.time()
                if not more:
                    conn.request_sent = True
                    break
        except (OSError, UnsendableRequest):
            # The upstream stopped reading, or the body broke its own framing. Whatever
            # the upstream answered, or how it failed, is for the main coroutine to read.
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
            elif conn.request_sent:
                conn.close()   # e.g. the upstream said Connection: close
            else:
                conn.abort()   # the upstream answered before the body was all sent
