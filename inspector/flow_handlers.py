"""The flow fold's handlers: one small function per ASGI message type, in tables.

`inspector.flows.FlowFolder` looks each event up in `TABLES` (scope type -> event kind ->
message type -> handler) and calls the handler with the connection's state. Messages
are captured data, not trusted: every key is read defensively.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from inspector.events import RECEIVE, SEND, Event
from inspector.flow_model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    COMPLETE,
    INCOMPLETE,
    OPEN,
    REFUSED,
    ExceptionInfo,
    Flow,
    FlowType,
    WsMessage,
)

DEFAULT_BODY_CAP = 1 << 20

Key = tuple[str, int]
Message = dict[str, Any]


class _Body:
    """A body joined from chunks up to `cap` bytes; always a prefix of the true body.

    Chunks grow a bytearray and `bytes` is made only when someone will look (`take`), so
    a stream of small chunks costs O(total) in a batch, not O(total²) of `bytes +=`.
    """

    __slots__ = ("cap", "first", "buf", "size", "cut", "dirty")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.first = b""                  # the body while it is one chunk (no copy)
        self.buf: bytearray | None = None  # the body once it is several
        self.size = 0                     # true size, counting bytes cut anywhere
        self.cut = False
        self.dirty = False

    def add(self, chunk: bytes, original: int | None) -> None:
        n = len(chunk)
        if original is not None and original > n:   # the capture cut this chunk
            self.size += original
            cut = True
        else:
            self.size += n
            cut = False
        if self.cut:
            return   # once a byte is missing, later bytes would not follow on
        held = len(self.first) if self.buf is None else len(self.buf)
        if n > self.cap - held:
            chunk = chunk[:max(0, self.cap - held)]
            cut = True
        if chunk:
            if self.buf is not None:
                self.buf += chunk
            elif self.first:
                self.buf = bytearray(self.first)
                self.buf += chunk
            else:
                self.first = chunk
            self.dirty = True
        self.cut = cut

    def take(self) -> bytes:
        """The joined body as bytes; clears `dirty`."""
        self.dirty = False
        return self.first if self.buf is None else bytes(self.buf)

    def close(self) -> bytes:
        """The final body; the bytearray is released (no second copy kept per flow)."""
        value = self.take()
        self.first, self.buf = value, None
        return value


class Conn:
    """Fold state of one connection beyond what `Flow` shows."""

    __slots__ = ("flow", "tables", "cap", "req", "resp", "started", "body_done",
                 "trailers", "trailers_done")

    def __init__(self, flow: Flow, tables: dict[str, dict[str, _Handler]], cap: int) -> None:
        self.flow = flow
        self.tables = tables        # kind -> message type -> handler, for this protocol
        self.cap = cap
        self.req: _Body | None = None
        self.resp: _Body | None = None
        self.started = False        # http.response.start / websocket.http.response.start
        self.body_done = False      # the response body's final chunk was sent
        self.trailers = False       # trailers announced in http.response.start
        self.trailers_done = False

    def sync(self) -> None:
        """Materialise body bytes that grew since the last look."""
        if self.req is not None and self.req.dirty:
            self.flow.request_body = self.req.take()
        if self.resp is not None and self.resp.dirty:
            self.flow.response_body = self.resp.take()


_Handler = Callable[[Conn, Event, Message], None]



# -- reading untrusted message values -----------------------------------------------------

def _str(value: object, default: str = "") -> str:
    return value if type(value) is str else default


def _int(value: object, default: int | None = None) -> int | None:
    return value if type(value) is int else default


def _bytes(value: object) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):   # a capture written by hand, or by a sloppy app
        return value.encode("utf-8", "surrogatepass")
    return b""


def _headers(value: object) -> list[tuple[bytes, bytes]]:
    """Header pairs as (bytes, bytes) tuples; lists from JSON become tuples, junk is dropped."""
    if not isinstance(value, (list, tuple)):
        return []
    out = []
    for pair in value:
        if type(pair) is tuple and len(pair) == 2 and type(pair[0]) is bytes \
                and type(pair[1]) is bytes:
            out.append(pair)
        elif isinstance(pair, (list, tuple)) and len(pair) == 2:
            name, val = pair
            if isinstance(name, (bytes, bytearray, str)) and \
                    isinstance(val, (bytes, bytearray, str)):
                out.append((_bytes(name), _bytes(val)))
    return out


def _addr(value: object) -> tuple[str, int] | None:
    """client/server as (host, port); a unix socket's `[path, None]` gets port 0."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    host, port = value
    if type(host) is not str:
        return None
    return (host, port if type(port) is int else 0)


def _settle(flow: Flow, state: str, time: float) -> None:
    """Decide how the flow ended, unless an earlier fact already did."""
    if flow.state == OPEN:
        flow.state = state
        flow.end = time


# A scope key replay adds (servers and apps ignore unknown keys): "<source>#<conn>" of the
# flow this connection replays.
REPLAY_KEY = "asgi_inspector.replay_of"
# The same, as a request header, for replays sent over the network.
REPLAY_HEADER = b"x-asgi-inspector-replay-of"


# -- scope ----------------------------------------------------------------------------------

def flow_from_scope(ftype: FlowType, event: Event, source: str, scope: Message) -> Flow:
    flow = Flow(event.conn, ftype, source)
    flow.start = event.time
    flow.event_seqs.append(event.seq)
    if ftype == "lifespan":
        return flow
    get = scope.get
    websocket = ftype == "websocket"
    # Defaults from the ASGI www spec: scheme "http"/"ws", http_version "1.1".
    flow.scheme = _str(get("scheme")) or ("ws" if websocket else "http")
    flow.http_version = _str(get("http_version")) or "1.1"
    if not websocket:
        flow.method = _str(get("method"))
    flow.path = _str(get("path"))
    raw_path = get("raw_path")
    flow.raw_path = _bytes(raw_path) if raw_path is not None else b""
    flow.query = _bytes(get("query_string"))
    flow.root_path = _str(get("root_path"))
    flow.client = _addr(get("client"))
    flow.server = _addr(get("server"))
    flow.request_headers = _headers(get("headers"))
    flow.replay_of = _str(get(REPLAY_KEY)) or None
    if flow.replay_of is None:
        for name, value in flow.request_headers:
            if name.lower() == REPLAY_HEADER:
                flow.replay_of = value.decode("utf-8", "replace")
                break
    if websocket:
        protocols = get("subprotocols")
        if isinstance(protocols, (list, tuple)):
            flow.subprotocols = [p for p in protocols if type(p) is str]
    return flow


# -- exit (not an ASGI message: the app's __call__ returned or raised) ---------------------

def _exception(value: object) -> ExceptionInfo | None:
    if not value:
        return None
    if isinstance(value, dict):
        return ExceptionInfo(_str(value.get("type"), "Exception") or "Exception",
                             _str(value.get("message")), _str(value.get("traceback")))
    return ExceptionInfo("Exception", value if type(value) is str else "")


def exit_event(c: Conn, event: Event, msg: object) -> None:
    flow = c.flow
    if flow.app_exited:
        return
    flow.app_exited = True
    # The recorder writes a clean return as message None (cheaper than a dict).
    info = _exception(msg.get("exception")) if isinstance(msg, dict) else None
    if info is not None:
        # Replaces a lifespan *.failed message: the raised exception has the traceback.
        flow.exception = info
    _settle(flow, INCOMPLETE if info is None else APP_EXCEPTION, event.time)


# -- http -----------------------------------------------------------------------------------

def _chunk(c: Conn, event: Event, msg: Message, side: str) -> _Body | None:
    """Add a body chunk to the request ("req") or response ("resp") body, if any."""
    body = msg.get("body", b"")
    if type(body) is not bytes:
        body = _bytes(body)
    original = event.truncated   # Event.truncated: the payload's length before the cut
    if type(original) is not int:
        original = None
    if not (body or original):
        return None
    b: _Body | None = getattr(c, side)
    if b is None:
        b = _Body(c.cap)
        setattr(c, side, b)
    b.add(body, original)
    return b


def _request_chunk(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    b = _chunk(c, event, msg, "req")
    if b is not None:
        flow.request_body_size = b.size
        flow.request_body_truncated = b.cut
    if not msg.get("more_body", False) and flow.request_done is None:
        flow.request_done = event.time
        if c.req is not None:
            flow.request_body = c.req.close()


def _http_disconnect(c: Conn, event: Event, msg: Message) -> None:
    _settle(c.flow, CLIENT_DISCONNECTED, event.time)


def _response_start(c: Conn, event: Event, msg: Message) -> None:
    if c.started or c.flow.accepted or c.flow.closed_by == "app":
        return   # a second start (or a denial after accept/close) is the app's error
    c.started = True
    flow = c.flow
    flow.status = _int(msg.get("status"))
    flow.response_headers = _headers(msg.get("headers"))
    flow.response_start = event.time
    c.trailers = bool(msg.get("trailers", False))


def _response_chunk(c: Conn, event: Event, msg: Message) -> bool:
    """Add a response body chunk; True when it is the final one of a started response."""
    flow = c.flow
    b = _chunk(c, event, msg, "resp")
    if b is not None:
        flow.response_body_size = b.size
        flow.response_body_truncated = b.cut
    if msg.get("more_body", False) or c.body_done or not c.started:
        return False
    c.body_done = True
    if c.resp is not None:
        flow.response_body = c.resp.close()
    return True


def _http_body(c: Conn, event: Event, msg: Message) -> None:
    if _response_chunk(c, event, msg) and (not c.trailers or c.trailers_done):
        _settle(c.flow, COMPLETE, event.time)


def _http_trailers(c: Conn, event: Event, msg: Message) -> None:
    c.flow.response_trailers.extend(_headers(msg.get("headers")))
    if not msg.get("more_trailers", False) and not c.trailers_done:
        c.trailers_done = True
        if c.body_done and c.trailers:
            _settle(c.flow, COMPLETE, event.time)


# -- websocket ------------------------------------------------------------------------------

def _ws_message(c: Conn, event: Event, msg: Message, direction: Literal["in", "out"]
                ) -> None:
    data = msg.get("bytes")
    text = msg.get("text")
    original = event.truncated   # Event.truncated: the payload's length before the cut
    if type(original) is not int:
        original = None
    # Exactly one of bytes/text is non-None (ASGI www spec); uvicorn prefers bytes.
    if data is not None and isinstance(data, (bytes, bytearray)):
        data = bytes(data) if type(data) is not bytes else data
        text = None
        size = len(data)
    elif type(text) is str:
        data = None
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    else:
        data, text, size = b"", None, 0
    cut = False
    if original is not None and original > size:
        size, cut = original, True
    c.flow.messages.append(WsMessage(direction, event.time, text, data, size, cut))


def _ws_receive(c: Conn, event: Event, msg: Message) -> None:
    _ws_message(c, event, msg, "in")


def _ws_send(c: Conn, event: Event, msg: Message) -> None:
    _ws_message(c, event, msg, "out")


def _ws_accept(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    if flow.accepted or c.started or flow.closed_by == "app":
        return   # accept after a denial or a close is the app's error; the server refuses
    flow.accepted = True
    subprotocol = msg.get("subprotocol")
    flow.subprotocol = subprotocol if type(subprotocol) is str else None
    flow.response_headers = _headers(msg.get("headers"))
    flow.response_start = event.time
    # The handshake's answer: 101 on HTTP/1.1 (RFC 6455), 200 over HTTP/2 (RFC 8441).
    flow.status = 200 if flow.http_version[:1] in ("2", "3") else 101


def _ws_close(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    if flow.state != OPEN:
        return
    flow.close_code = _int(msg.get("code"), 1000)   # ASGI: defaults to 1000
    flow.close_reason = _str(msg.get("reason"))
    flow.closed_by = "app"
    if flow.accepted:
        _settle(flow, COMPLETE, event.time)
        return
    # Before accept the server answers 403 and never completes the handshake.
    if flow.status is None:
        flow.status = 403
    if flow.response_start is None:
        flow.response_start = event.time
    _settle(flow, REFUSED, event.time)


def _ws_disconnect(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    if flow.state != OPEN:
        return   # the disconnect that follows the app's own close
    # ASGI: "If no code was received ... the server should set this to 1005".
    flow.close_code = _int(msg.get("code"), 1005)
    flow.close_reason = _str(msg.get("reason"))
    flow.closed_by = "client"
    _settle(flow, CLIENT_DISCONNECTED, event.time)


def _ws_denial_body(c: Conn, event: Event, msg: Message) -> None:
    if _response_chunk(c, event, msg):
        _settle(c.flow, REFUSED, event.time)


# -- lifespan -------------------------------------------------------------------------------

def _lifespan_note(c: Conn, event: Event, msg: Message) -> None:
    c.flow.lifespan_messages.append(msg["type"])


def _lifespan_ready(c: Conn, event: Event, msg: Message) -> None:
    c.flow.lifespan_messages.append(msg["type"])
    if c.flow.response_start is None:
        c.flow.response_start = event.time   # "time to ready": how long startup took


def _lifespan_done(c: Conn, event: Event, msg: Message) -> None:
    c.flow.lifespan_messages.append(msg["type"])
    _settle(c.flow, COMPLETE, event.time)


def _lifespan_failed(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    flow.lifespan_messages.append(msg["type"])
    if flow.exception is None:
        flow.exception = ExceptionInfo(msg["type"], _str(msg.get("message")))
    _settle(flow, APP_EXCEPTION, event.time)


TABLES: dict[str, dict[str, dict[str, _Handler]]] = {
    "http": {
        RECEIVE: {
            "http.request": _request_chunk,
            "http.disconnect": _http_disconnect,
        },
        SEND: {
            "http.response.start": _response_start,
            "http.response.body": _http_body,
            "http.response.trailers": _http_trailers,
        },
    },
    "websocket": {
        RECEIVE: {
            "websocket.receive": _ws_receive,
            "websocket.disconnect": _ws_disconnect,
        },
        SEND: {
            "websocket.accept": _ws_accept,
            "websocket.send": _ws_send,
            "websocket.close": _ws_close,
            # The denial-response extension: an HTTP answer instead of the handshake.
            "websocket.http.response.start": _response_start,
            "websocket.http.response.body": _ws_denial_body,
        },
    },
    "lifespan": {
        RECEIVE: {
            "lifespan.startup": _lifespan_note,
            "lifespan.shutdown": _lifespan_note,
        },
        SEND: {
            "lifespan.startup.complete": _lifespan_ready,
            "lifespan.startup.failed": _lifespan_failed,
            "lifespan.shutdown.complete": _lifespan_done,
            "lifespan.shutdown.failed": _lifespan_failed,
        },
    },
}
