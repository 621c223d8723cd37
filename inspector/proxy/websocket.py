"""The WebSocket hop: one ASGI websocket session relayed to the upstream over wsproto.

The client is accepted only once the upstream has accepted, with the subprotocol the
upstream chose; a refusal is passed on as a refusal. Then two coroutines pump messages,
one each way, and the closing handshake runs on each hop: the side that closes first has
its code and reason passed to the other. Each hop answers its own pings (uvicorn the
client's, this module the upstream's).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto.utilities import ProtocolError

from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, ProxyError, UpstreamFailure
from .http import Receive, Scope, Send, within
from .http_translate import error_messages
from .pool import READ_SIZE, open_stream
from .upstream import Upstream
from .ws_translate import (
    ABNORMAL,
    BAD_GATEWAY_CLOSE,
    MessageAssembler,
    accept_message,
    client_event,
    close_message,
    close_reason,
    denial_body,
    denial_start,
    handshake_request,
)

__all__ = ["WebSocketSession", "CLOSE_TIMEOUT"]

DENIAL = "websocket.http.response"
# How long the upstream gets to answer our close frame once the client has gone.
CLOSE_TIMEOUT = 5.0


class WebSocketSession:
    """One client WebSocket session and its upstream twin."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream, *,
                 keep_host: bool, forwarded: bool, connect_timeout: float,
                 read_timeout: float) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.upstream = upstream
        self.keep_host = keep_host
        self.forwarded = forwarded
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.client_closed = False     # the client left, or was sent websocket.close
        self.upstream_closed = False   # the upstream sent a close frame, or vanished

    async def run(self) -> None:
        """Handshake upstream, then accept or refuse the client, then relay until closed."""
        message = await self.receive()
        if message["type"] != "websocket.connect":
            return
        try:
            try:
                self.reader, self.writer = await open_stream(self.upstream,
                                                             self.connect_timeout)
                accepted = await self._handshake()
            except UpstreamFailure as failure:
                await self._refuse_failure(failure)
                return
            if accepted is None:
                return
            if await self._send_client(accept_message(accepted)):
                await self._relay()
        finally:
            if self.writer is not None:
                if self.upstream_closed:
                    self.writer.close()
                else:
                    self.writer.transport.abort()

    async def _handshake(self) -> AcceptConnection | None:
        """Send the upgrade request; return the upstream's acceptance, or refuse the client."""
        request = handshake_request(self.scope, self.upstream, keep_host=self.keep_host,
                                    forwarded=self.forwarded)
        try:
            data = self.ws.send(request)
        except (ProtocolError, h11.LocalProtocolError) as exc:
            # The server in front may accept headers that h11 (inside wsproto) does not.
            raise UpstreamFailure(BAD_GATEWAY, "unsendable request",
                                  f"the handshake cannot be forwarded to upstream "
                                  f"{self.upstream.address}: {exc}") from None
        await self._write_or_fail(data)
        while True:
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    return event
                if isinstance(event, RejectConnection):
                    await self._refuse(event)
                    return None
            await self._read_handshake()

    async def _read_handshake(self) -> None:
        assert self.reader is not None
        address = self.upstream.address
        try:
            data = await within(self.reader.read(READ_SIZE), self.read_timeout)
        except asyncio.TimeoutError:
            raise UpstreamFailure(GATEWAY_TIMEOUT, "read timeout",
                                  f"upstream {address} did not answer the WebSocket "
                                  f"handshake within {self.read_timeout:g} s") from None
        except OSError as exc:
            raise UpstreamFailure(BAD_GATEWAY, "connection reset",
                                  f"upstream {address} reset the connection "
                                  f"({exc.strerror or exc})") from None
        try:
            self.ws.receive_data(data or None)
        except ProtocolError as exc:
            if not data:
                raise UpstreamFailure(BAD_GATEWAY, "connection closed",
                                      f"upstream {address} closed the connection during the "
                                      "WebSocket handshake") from None
            raise UpstreamFailure(BAD_GATEWAY, "malformed response",
                                  f"upstream {address} sent an invalid WebSocket handshake "
                                  f"response: {exc}") from None

    async def _refuse(self, event: RejectConnection) -> None:
        """Pass the upstream's refusal on: as an HTTP response if the server can send one."""
        if DENIAL not in self.scope.get("extensions", {}):
            await self._send_client({"type": "websocket.close", "code": 1000,
                                     "reason": close_reason(
                                         f"upstream refused with {event.status_code}")})
            return
        await self._send_client(denial_start(event))
        if not event.has_body:
            await self._send_client({"type": "websocket.http.response.body", "body": b"",
                                     "more_body": False})
            return
        while True:
            for data_event in self.ws.events():
                if isinstance(data_event, RejectData):
                    await self._send_client(denial_body(data_event))
                    if data_event.body_finished:
                        return
            try:
                await self._read_handshake()
            except UpstreamFailure as failure:
                raise ProxyError(f"{failure}: the refusal passed to the client was cut "
                                 "short") from None

    async def _refuse_failure(self, failure: UpstreamFailure) -> None:
        """Refuse the client because the upstream failed: 502/504 if the server allows."""
        if DENIAL in self.scope.get("extensions", {}):
            for message in error_messages(failure):
                await self._send_client(dict(message, type="websocket." + message["type"]))
        else:
            await self._send_client({"type": "websocket.close", "code": BAD_GATEWAY_CLOSE,
                                     "reason": close_reason(failure.reason)})

    async def _relay(self) -> None:
        """Pump both ways until one side closes, then let the other hop finish closing."""
        up = asyncio.create_task(self._upstream_to_client())
        down = asyncio.create_task(self._client_to_upstream())
        try:
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up not in done:
                # The client left and its close went upstream: give the upstream a moment
                # to answer, so it sees a clean closing handshake.
                await asyncio.wait({up}, timeout=CLOSE_TIMEOUT)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.wait({up, down})
        for task in (up, down):
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _upstream_to_client(self) -> None:
        assert self.reader is not None
        assembler = MessageAssembler()
        while True:
            # Events first: frames that came in with the handshake response wait in wsproto.
            for event in self.ws.events():
                if isinstance(event, (TextMessage, BytesMessage)):
                    message = assembler.feed(event)
                    if message is not None and not self.client_closed:
                        await self._send_client(message)
                elif isinstance(event, Ping):
                    if self.ws.state is ConnectionState.OPEN:
                        await self._write(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await self._upstream_closed(event)
                    return
            try:
                data = await self.reader.read(READ_SIZE)
            except OSError:
                data = b""
            self.ws.receive_data(data or None)

    async def _upstream_closed(self, event: CloseConnection) -> None:
        """Finish the upstream's closing handshake and tell the client, once."""
        self.upstream_closed = True
        to_client = close_message(event)
        if self.ws.state is ConnectionState.REMOTE_CLOSING:
            await self._write(self.ws.send(event.response()))
        elif self.ws.state is ConnectionState.OPEN:
            # wsproto could not parse what the upstream sent (it reports that as a close
            # with the code to send back): close upstream with it, tell the client 1014.
            await self._write(self.ws.send(CloseConnection(code=event.code)))
            to_client = {"type": "websocket.close", "code": BAD_GATEWAY_CLOSE,
                         "reason": close_reason(f"invalid frame from upstream: {event.reason}")}
        if not self.client_closed:
            self.client_closed = True
            await self._send_client(to_client)

    async def _client_to_upstream(self) -> None:
        while True:
            message = await self.receive()
            event = client_event(message)
            if isinstance(event, CloseConnection):
                self.client_closed = True
                if self.upstream_closed:
                    return
                if event.code == ABNORMAL:
                    assert self.writer is not None
                    self.writer.transport.abort()
                elif self.ws.state is ConnectionState.OPEN:
                    await self._write(self.ws.send(event))
                return
            if event is not None and self.ws.state is ConnectionState.OPEN:
                await self._write(self.ws.send(event))

    async def _write(self, data: bytes) -> None:
        """Write upstream; a failure shows up as EOF on the reading side."""
        assert self.writer is not None
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError:
            self.writer.transport.abort()

    async def _write_or_fail(self, data: bytes) -> None:
        assert self.writer is not None
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError as exc:
            raise UpstreamFailure(BAD_GATEWAY, "connection reset",
                                  f"upstream {self.upstream.address} closed the connection "
                                  f"({exc.strerror or exc})") from None

    async def _send_client(self, message: dict[str, Any]) -> bool:
        """send() to the client; False if it has gone (the relay then winds down)."""
        try:
            await self.send(message)
            return True
        except OSError:
            self.client_closed = True
            return False
