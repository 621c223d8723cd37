"""The WebSocket hop: one ASGI websocket session relayed to the upstream.

The client is accepted only once the upstream has accepted, with the subprotocol the
upstream chose; a refusal is passed on as a refusal. Then two coroutines pump messages,
one each way, and the closing handshake runs on each hop: the side that closes first has
its code and reason passed to the other. Each hop answers its own pings (uvicorn the
client's, websockets' `ClientProtocol` the upstream's). What is sent where is decided in
`ws_translate`; this module moves the bytes.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from websockets.exceptions import InvalidStatus, ProtocolError
from websockets.http11 import Response
from websockets.protocol import OPEN

from .dates import http_date
from .errors import BAD_GATEWAY, GATEWAY_TIMEOUT, UpstreamFailure
from .http import Receive, Scope, Send, within
from .http_translate import UnsendableRequest, error_messages
from .upstream import Upstream
from .ws_socket import UpstreamSocket, open_socket
from .ws_translate import (
    ABNORMAL,
    BAD_GATEWAY_CLOSE,
    DATA_OPCODES,
    INVALID_DATA,
    MessageAssembler,
    accept_message,
    client_close,
    close_message,
    close_reason,
    denial_messages,
    handshake_request,
    upstream_protocol,
)

__all__ = ["WebSocketSession", "CLOSE_TIMEOUT"]

DENIAL = "websocket.http.response"
# How long the upstream gets to answer our close frame once the client has gone.
CLOSE_TIMEOUT = 5.0


class WebSocketSession:
    """One client WebSocket session and its upstream twin."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, upstream: Upstream, *,
                 keep_host: bool, forwarded: bool, connect_timeout: float,
                 read_timeout: float, tls: ssl.SSLContext | None = None) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.upstream = upstream
        self.keep_host = keep_host
        self.forwarded = forwarded
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.tls = tls                 # the client context for a wss:// upstream
        self.protocol = upstream_protocol(scope)
        self.early: list[Any] = []     # frames that came in with the handshake response
        self.socket: UpstreamSocket | None = None
        self.client_closed = False     # the client left, or was sent websocket.close
        self.upstream_closed = False   # the upstream sent a close frame, or vanished

    async def run(self) -> None:
        """Handshake upstream, then accept or refuse the client, then relay until closed."""
        message = await self.receive()
        if message["type"] != "websocket.connect":
            return
        try:
            try:
                self.socket = await open_socket(self.upstream, self.protocol,
                                                self.connect_timeout, self.tls)
                accepted = await self._handshake()
            except UpstreamFailure as failure:
                await self._refuse_failure(failure)
                return
            if accepted is None:
                return
            if await self._send_client(accept_message(accepted, self.protocol.subprotocol)):
                await self._relay()
        finally:
            if self.socket is not None:
                if self.upstream_closed:
                    self.socket.close()
                else:
                    self.socket.abort()

    async def _handshake(self) -> Response | None:
        """Send the upgrade request; return the upstream's acceptance, or refuse the client."""
        try:
            data = handshake_request(self.scope, self.upstream, self.protocol.key,
                                     keep_host=self.keep_host, forwarded=self.forwarded)
        except UnsendableRequest as exc:
            # The server in front may accept what HTTP/1.1 does not (httptools is lenient).
            raise UpstreamFailure(BAD_GATEWAY, "unsendable request",
                                  f"the handshake cannot be forwarded to upstream "
                                  f"{self.upstream.address}: {exc}") from None
        assert self.socket is not None
        if self.socket.write([data]):
            await self.socket.drained()
        while True:
            events = self.socket.take()
            failure = self.protocol.handshake_exc
            if events:
                response = events[0]
                assert isinstance(response, Response), "the handshake's answer comes first"
                if failure is None:
                    self.early = events[1:]
                    return response
                if isinstance(failure, InvalidStatus):
                    await self._refuse(response)
                    return None
            if failure is not None:
                raise self._handshake_failure(failure)
            if self.socket.closed:   # (the protocol reports the end itself: never here)
                raise UpstreamFailure(BAD_GATEWAY, "connection closed",
                                      f"upstream {self.upstream.address} closed the "
                                      "connection during the WebSocket handshake")
            try:
                await within(self.socket.wait(), self.read_timeout)
            except asyncio.TimeoutError:
                raise UpstreamFailure(GATEWAY_TIMEOUT, "read timeout",
                                      f"upstream {self.upstream.address} did not answer the "
                                      f"WebSocket handshake within {self.read_timeout:g} s"
                                      ) from None

    def _handshake_failure(self, exc: Exception) -> UpstreamFailure:
        address = self.upstream.address
        lost = self.socket.error if self.socket is not None else None
        if isinstance(lost, OSError):
            return UpstreamFailure(BAD_GATEWAY, "connection reset",
                                   f"upstream {address} reset the connection "
                                   f"({lost.strerror or lost})")
        if isinstance(exc.__cause__, EOFError):
            return UpstreamFailure(BAD_GATEWAY, "connection closed",
                                   f"upstream {address} closed the connection during the "
                                   "WebSocket handshake")
        why = f"{exc}: {exc.__cause__}" if exc.__cause__ is not None else str(exc)
        return UpstreamFailure(BAD_GATEWAY, "malformed response",
                               f"upstream {address} sent an invalid WebSocket handshake "
                               f"response: {why}")

    async def _refuse(self, response: Response) -> None:
        """Pass the upstream's refusal on: as an HTTP response if the server can send one."""
        if DENIAL not in self.scope.get("extensions", {}):
            await self._send_client({"type": "websocket.close", "code": 1000,
                                     "reason": close_reason(
                                         f"upstream refused with {response.status_code}")})
            return
        for message in denial_messages(response):
            await self._send_client(message)

    async def _refuse_failure(self, failure: UpstreamFailure) -> None:
        """Refuse the client because the upstream failed: 502/504 if the server allows."""
        if DENIAL in self.scope.get("extensions", {}):
            for message in error_messages(failure, http_date()):
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
        socket = self.socket
        assert socket is not None
        protocol = self.protocol
        assembler = MessageAssembler()
        send = self.send
        events, self.early = self.early, []
        while True:
            for frame in events:
                if frame.opcode not in DATA_OPCODES:
                    continue     # pings are answered by the protocol; the close is below
                try:
                    message = assembler.feed(frame)
                except UnicodeDecodeError as exc:
                    protocol.fail(INVALID_DATA, "invalid UTF-8 in a text message")
                    socket.write(protocol.data_to_send())
                    await self._upstream_closed(BAD_GATEWAY_CLOSE,
                                                f"invalid frame from upstream: {exc.reason}")
                    return
                if message is not None and not self.client_closed:
                    try:         # (_send_client, inline: this is once per message)
                        await send(message)
                    except OSError:
                        self.client_closed = True
            pending = protocol.data_to_send()    # pongs, the answer to a close
            if pending and socket.write(pending):
                await socket.drained()
            if protocol.close_rcvd is not None:
                await self._upstream_closed(protocol.close_rcvd.code, protocol.close_rcvd.reason)
                return
            failure = protocol.parser_exc
            if failure is not None:
                if isinstance(failure, EOFError):
                    await self._upstream_closed(ABNORMAL)
                else:   # the protocol has sent the upstream a close with the right code
                    await self._upstream_closed(BAD_GATEWAY_CLOSE,
                                                f"invalid frame from upstream: {failure}")
                return
            if socket.closed and not events:   # (the protocol saw the end: never here)
                await self._upstream_closed(ABNORMAL)
                return
            await socket.wait()
            events = socket.take()

    async def _upstream_closed(self, code: int, reason: str = "") -> None:
        """The upstream hop is closed (or failed): tell the client, once."""
        self.upstream_closed = True
        if not self.client_closed:
            self.client_closed = True
            await self._send_client(close_message(code, reason))

    async def _client_to_upstream(self) -> None:
        socket = self.socket
        assert socket is not None
        protocol = self.protocol
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if protocol.state is OPEN:
                    data = message.get("bytes")
                    if data is not None:
                        protocol.send_binary(data)
                    else:
                        text = message.get("text")
                        protocol.send_text(text.encode("utf-8") if type(text) is str else b"")
                    if socket.write(protocol.data_to_send()):
                        await socket.drained()
            elif kind == "websocket.disconnect":
                self.client_closed = True
                if self.upstream_closed:
                    return
                close = client_close(message)
                if close.code == ABNORMAL:
                    socket.abort()
                elif protocol.state is OPEN:
                    try:
                        protocol.send_close(close.code, close.reason)
                    except ProtocolError:   # a code the wire may not carry
                        protocol.send_close()
                    socket.write(protocol.data_to_send())
                return

    async def _send_client(self, message: dict[str, Any]) -> bool:
        """send() to the client; False if it has gone (the relay then winds down)."""
        try:
            await self.send(message)
            return True
        except OSError:
            self.client_closed = True
            return False
