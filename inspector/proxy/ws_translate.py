"""WebSocket translation between ASGI websocket messages and the upstream hop. Pure.

The upstream hop speaks RFC 6455 through websockets' sans-I/O `ClientProtocol`, the same
library uvicorn's websockets-sansio backend uses on the client's hop, and about three
times cheaper per message than wsproto (docs/performance.md). The ASGI side speaks whole
messages and one close;
the wire side speaks frames, pings and a closing handshake. Fragments are joined here,
close codes that may not appear on the wire (RFC 6455 7.4.1: 1005, 1006) are mapped, and
handshake headers are split from the rest. The handshake request is written here, checked
as strictly as the HTTP hop's requests (`encode_request`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from .headers import Headers, proxy_request_headers, strip_hop_by_hop
from .http_translate import RequestHead, encode_request, request_target
from .upstream import Upstream
from .ws_protocols import UpstreamProtocol

__all__ = ["upstream_protocol", "handshake_request", "accept_message", "denial_messages",
           "ClientClose", "client_close", "close_message", "close_reason", "MessageAssembler",
           "DATA_OPCODES", "NO_STATUS", "ABNORMAL", "BAD_GATEWAY_CLOSE", "INVALID_DATA"]

NO_STATUS = 1005          # RFC 6455 7.4.1: a close frame without a code
ABNORMAL = 1006           # RFC 6455 7.4.1: the connection dropped without a close frame
INVALID_DATA = 1007       # RFC 6455 7.4.1: e.g. a text message that is not UTF-8
BAD_GATEWAY_CLOSE = 1014  # IANA registry: a gateway got an invalid response from upstream

# Written here for the upstream hop, or meaningless across it.
_HANDSHAKE = frozenset({
    b"host", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-protocol",
    b"sec-websocket-extensions", b"sec-websocket-accept", b"content-length",
})
# The server in front writes its own.
_SERVER_OWN = frozenset({b"date", b"server"})
DATA_OPCODES = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.CONT})


def _offered(scope: Mapping[str, Any]) -> list[str]:
    return [str(p) for p in scope.get("subprotocols", ())]


def upstream_protocol(scope: Mapping[str, Any]) -> UpstreamProtocol:
    """The upstream hop's protocol state for a websocket scope.

    It checks that the upstream picks one of the client's subprotocols, if any. No
    extensions are offered, since compression is negotiated per hop and the proxy passes
    whole messages; and no size limit, since the proxy passes on what the upstream sends.
    """
    offered = _offered(scope)
    return UpstreamProtocol(parse_uri("ws://upstream/"), max_size=None,
                          subprotocols=[Subprotocol(p) for p in offered] or None)


def handshake_request(scope: Mapping[str, Any], upstream: Upstream, key: str, *,
                      keep_host: bool = False, forwarded: bool = False) -> bytes:
    """The upgrade request that opens the upstream session, with the protocol's `key`.

    The client's subprotocols are offered as they were, its other end-to-end headers
    passed on. UnsendableRequest if it cannot be written as valid HTTP/1.1.
    """
    headers = proxy_request_headers(scope, upstream, keep_host=keep_host, forwarded=forwarded)
    fields = [headers[0]] + [(n, v) for n, v in headers[1:] if n not in _HANDSHAKE]
    fields += [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
               (b"sec-websocket-key", key.encode("ascii")), (b"sec-websocket-version", b"13")]
    offered = _offered(scope)
    if offered:
        fields.append((b"sec-websocket-protocol", ", ".join(offered).encode("utf-8")))
    target = request_target(scope)
    if not target.isascii():
        target = quote(target.decode("latin-1"), safe="/?&=%:@!$'()*+,;~-._").encode("ascii")
    return encode_request(RequestHead(b"GET", target, fields))


def _response_headers(response: Response) -> Headers:
    # websockets reads header values as ISO-8859-1 (opaque bytes); this gives them back.
    raw = ((name.encode("latin-1"), value.encode("latin-1"))
           for name, value in response.headers.raw_items())
    return [(n, v) for n, v in strip_hop_by_hop(raw)
            if n not in _HANDSHAKE and n not in _SERVER_OWN]


def accept_message(response: Response, subprotocol: str | None) -> dict[str, Any]:
    """websocket.accept with the subprotocol the upstream chose and its other headers."""
    return {"type": "websocket.accept", "subprotocol": subprotocol,
            "headers": _response_headers(response)}


def denial_messages(response: Response) -> list[dict[str, Any]]:
    """The upstream's refusal, passed on with the ASGI denial-response extension."""
    return [{"type": "websocket.http.response.start", "status": response.status_code,
             "headers": _response_headers(response)},
            {"type": "websocket.http.response.body", "body": bytes(response.body),
             "more_body": False}]


class ClientClose(NamedTuple):
    """How to close the upstream hop after the client left.

    code None: a close frame without a code (the client sent none). ABNORMAL: no close
    frame at all; the connection is dropped, as the client's was.
    """

    code: int | None
    reason: str = ""


def client_close(message: Mapping[str, Any]) -> ClientClose:
    """The upstream close for a websocket.disconnect from the client."""
    code = int(message.get("code") or NO_STATUS)
    if code == NO_STATUS:
        return ClientClose(None)
    if code == ABNORMAL:
        return ClientClose(ABNORMAL)
    return ClientClose(code, close_reason(str(message.get("reason") or "")))


def close_message(code: int, reason: str = "") -> dict[str, Any]:
    """websocket.close for the client when the upstream closed (or vanished: ABNORMAL)."""
    if code == ABNORMAL:
        return {"type": "websocket.close", "code": BAD_GATEWAY_CLOSE,
                "reason": "upstream connection lost"}
    code = 1000 if code == NO_STATUS else code
    return {"type": "websocket.close", "code": code, "reason": close_reason(reason)}


def close_reason(reason: str) -> str:
    """`reason` cut to the 123 UTF-8 bytes a close frame can carry (RFC 6455 5.5, 5.5.1)."""
    data = reason.encode("utf-8")
    return reason if len(data) <= 123 else data[:123].decode("utf-8", "ignore")


class MessageAssembler:
    """Joins the frames of one upstream message into the one ASGI message it is."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._text = False

    def feed(self, frame: Frame) -> dict[str, Any] | None:
        """Add a data frame; return websocket.send when the message is finished.

        UnicodeDecodeError if a finished text message is not UTF-8.
        """
        if frame.opcode is not Opcode.CONT:
            self._text = frame.opcode is Opcode.TEXT
            if frame.fin:         # the common case: a message in one frame
                return self._message(bytes(frame.data))
        self._parts.append(bytes(frame.data))
        if not frame.fin:
            return None
        parts, self._parts = self._parts, []
        return self._message(b"".join(parts))

    def _message(self, data: bytes) -> dict[str, Any]:
        if self._text:
            return {"type": "websocket.send", "text": data.decode("utf-8")}
        return {"type": "websocket.send", "bytes": data}
