"""WebSocket translation between ASGI websocket messages and wsproto events. Pure.

The ASGI side speaks whole messages and one close; the wire side speaks frames, pings and a
closing handshake. Fragments are joined here, close codes that may not appear on the wire
(RFC 6455 7.4.1: 1005, 1006) are mapped, and handshake headers are split from the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason

from .headers import Headers, proxy_request_headers, strip_hop_by_hop
from .http_translate import request_target
from .upstream import Upstream

__all__ = ["handshake_request", "accept_message", "denial_start", "denial_body",
           "client_event", "close_message", "close_reason", "MessageAssembler", "NO_STATUS",
           "ABNORMAL", "BAD_GATEWAY_CLOSE"]

NO_STATUS = 1005          # RFC 6455 7.4.1: a close frame without a code
ABNORMAL = 1006           # RFC 6455 7.4.1: the connection dropped without a close frame
BAD_GATEWAY_CLOSE = 1014  # IANA registry: a gateway got an invalid response from upstream

# Set by wsproto from the Request fields, or meaningless across the hop.
_HANDSHAKE = frozenset({
    b"host", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-protocol",
    b"sec-websocket-extensions", b"sec-websocket-accept", b"content-length",
})
# The server in front writes its own.
_SERVER_OWN = frozenset({b"date", b"server"})


def handshake_request(scope: Mapping[str, Any], upstream: Upstream, *, keep_host: bool = False,
                      forwarded: bool = False) -> Request:
    """The wsproto Request that opens the upstream session for a websocket scope.

    The client's subprotocols are offered as they were; extensions are not, since
    compression is negotiated per hop and the proxy passes whole messages.
    """
    headers = proxy_request_headers(scope, upstream, keep_host=keep_host, forwarded=forwarded)
    host = headers[0][1].decode("latin-1")
    extra = [(n, v) for n, v in headers[1:] if n not in _HANDSHAKE]
    target = request_target(scope).decode("latin-1")
    if not target.isascii():
        target = quote(target, safe="/?&=%:@!$'()*+,;~-._")
    return Request(host=host, target=target, extra_headers=extra,
                   subprotocols=[str(p) for p in scope.get("subprotocols", ())])


def _response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    return [(n, v) for n, v in strip_hop_by_hop(headers)
            if n not in _HANDSHAKE and n not in _SERVER_OWN]


def accept_message(event: AcceptConnection) -> dict[str, Any]:
    """websocket.accept with the subprotocol the upstream chose and its other headers."""
    return {"type": "websocket.accept", "subprotocol": event.subprotocol,
            "headers": _response_headers(event.extra_headers)}


def denial_start(event: RejectConnection) -> dict[str, Any]:
    """websocket.http.response.start passing the upstream's refusal on (ASGI denial ext.)."""
    return {"type": "websocket.http.response.start", "status": event.status_code,
            "headers": _response_headers(event.headers)}


def denial_body(event: RejectData) -> dict[str, Any]:
    """websocket.http.response.body for a piece of the upstream's refusal body."""
    return {"type": "websocket.http.response.body", "body": bytes(event.data),
            "more_body": not event.body_finished}


def client_event(message: Mapping[str, Any]) -> Event | None:
    """The wsproto event for an ASGI message from the client: a message, a close, or None."""
    kind = message.get("type")
    if kind == "websocket.receive":
        if message.get("bytes") is not None:
            return BytesMessage(data=bytes(message["bytes"]))
        return TextMessage(data=str(message.get("text") or ""))
    if kind == "websocket.disconnect":
        # 1005 becomes an empty close frame (wsproto); 1006 means no close frame at all,
        # which the shell mirrors by dropping the upstream connection.
        code = int(message.get("code") or NO_STATUS)
        if code == NO_STATUS:
            # wsproto recognises the enum member (by identity), not the number.
            return CloseConnection(code=CloseReason.NO_STATUS_RCVD)
        reason = None if code == ABNORMAL else (message.get("reason") or None)
        return CloseConnection(code=code, reason=reason)
    return None


def close_message(event: CloseConnection) -> dict[str, Any]:
    """websocket.close for the client when the upstream closed (or vanished)."""
    if event.code == ABNORMAL:
        return {"type": "websocket.close", "code": BAD_GATEWAY_CLOSE,
                "reason": "upstream connection lost"}
    code = 1000 if event.code == NO_STATUS else event.code
    return {"type": "websocket.close", "code": code, "reason": close_reason(event.reason or "")}


def close_reason(reason: str) -> str:
    """`reason` cut to the 123 UTF-8 bytes a close frame can carry (RFC 6455 5.5, 5.5.1)."""
    data = reason.encode("utf-8")
    return reason if len(data) <= 123 else data[:123].decode("utf-8", "ignore")


class MessageAssembler:
    """Joins the frames of one upstream message into the one ASGI message it is."""

    def __init__(self) -> None:
        self._parts: list[Any] = []

    def feed(self, event: TextMessage | BytesMessage) -> dict[str, Any] | None:
        """Add a fragment; return websocket.send when the message is finished."""
        self._parts.append(event.data)
        if not event.message_finished:
            return None
        parts, self._parts = self._parts, []
        if isinstance(event, TextMessage):
            return {"type": "websocket.send", "text": "".join(parts)}
        return {"type": "websocket.send", "bytes": b"".join(parts)}
