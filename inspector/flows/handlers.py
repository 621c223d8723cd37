"""The flow fold's handlers: one small function per ASGI message type, in tables.

`inspector.flows.fold.FlowFolder` looks each event up in `TABLES` (scope type -> event kind ->
message type -> handler) and calls the handler with the connection's state. Messages
are captured data, not trusted: every key is read defensively.
"""

from __future__ import annotations

from typing import Literal

from inspector.events.model import NOTES_KEY, RECEIVE, SEND, Event
from inspector.flows.model import (
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
from inspector.flows.state import (
    DEFAULT_BODY_CAP,
    REPLAY_HEADER,
    REPLAY_KEY,
    Body,
    Conn,
    Handler,
    Key,
    Message,
    as_addr,
    as_bytes,
    as_headers,
    as_int,
    as_str,
    settle,
)

__all__ = ["DEFAULT_BODY_CAP", "REPLAY_HEADER", "REPLAY_KEY", "TABLES", "Body", "Conn", "Key",
           "exit_event", "flow_from_scope"]


# -- scope ----------------------------------------------------------------------------------

_REPLAY_HEADER_LEN = len(REPLAY_HEADER)


def flow_from_scope(ftype: FlowType, event: Event, source: str, scope: Message) -> Flow:
    flow = Flow(event.conn, ftype, source)
    flow.start = event.time
    flow.event_seqs.append(event.seq)
    if ftype == "lifespan":
        return flow
    get = scope.get
    websocket = ftype == "websocket"
    # Defaults from the ASGI www spec: scheme "http"/"ws", http_version "1.1".
    flow.scheme = as_str(get("scheme")) or ("ws" if websocket else "http")
    flow.http_version = as_str(get("http_version")) or "1.1"
    if not websocket:
        flow.method = as_str(get("method"))
    flow.path = as_str(get("path"))
    raw_path = get("raw_path")
    flow.raw_path = as_bytes(raw_path) if raw_path is not None else b""
    flow.query = as_bytes(get("query_string"))
    flow.root_path = as_str(get("root_path"))
    flow.client = as_addr(get("client"))
    flow.server = as_addr(get("server"))
    flow.request_headers = headers = as_headers(get("headers"))
    flow.replay_of = as_str(get(REPLAY_KEY)) or None
    if flow.replay_of is None:
        for name, value in headers:
            # The length first: lower() makes a new bytes, and hardly a name is this long.
            if len(name) == _REPLAY_HEADER_LEN and name.lower() == REPLAY_HEADER:
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
        return ExceptionInfo(as_str(value.get("type"), "Exception") or "Exception",
                             as_str(value.get("message")), as_str(value.get("traceback")))
    return ExceptionInfo("Exception", value if type(value) is str else "")


def exit_event(c: Conn, event: Event, msg: object) -> None:
    flow = c.flow
    if flow.app_exited:
        return
    flow.app_exited = True
    # The recorder writes a clean return as message None (cheaper than a dict).
    raised = msg.get("exception") if isinstance(msg, dict) else None
    info = _exception(raised) if raised else None
    if info is not None:
        # Replaces a lifespan *.failed message: the raised exception has the traceback.
        flow.exception = info
    settle(flow, INCOMPLETE if info is None else APP_EXCEPTION, event.time)


# -- http -----------------------------------------------------------------------------------

def _chunk(b: Body | None, c: Conn, event: Event, msg: Message) -> Body | None:
    """Body `b` (made here on the first bytes) with this chunk added; None if it is empty."""
    body = msg.get("body", b"")
    if type(body) is not bytes:
        body = as_bytes(body)
    original = event.truncated   # Event.truncated: the payload's length before the cut
    if type(original) is not int:
        original = None
    if not (body or original):
        return None
    if b is None:
        b = Body(c.cap)
    b.add(body, original)
    return b


def _request_chunk(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    b = _chunk(c.req, c, event, msg)
    if b is not None:
        c.req = b
        flow.request_body_size = b.size
        flow.request_body_truncated = b.cut
    if not msg.get("more_body", False) and flow.request_done is None:
        flow.request_done = event.time
        if c.req is not None:
            flow.request_body = c.req.close()


def _http_disconnect(c: Conn, event: Event, msg: Message) -> None:
    settle(c.flow, CLIENT_DISCONNECTED, event.time)


def _response_start(c: Conn, event: Event, msg: Message) -> None:
    if c.started or c.flow.accepted or c.flow.closed_by == "app":
        return   # a second start (or a denial after accept/close) is the app's error
    c.started = True
    flow = c.flow
    flow.status = as_int(msg.get("status"))
    flow.response_headers = as_headers(msg.get("headers"))
    flow.response_start = event.time
    c.trailers = True if msg.get("trailers", False) else False   # bool(), without the call
    notes = msg.get(NOTES_KEY)
    if notes and isinstance(notes, (list, tuple)):
        flow.notes = tuple(note for note in notes if type(note) is str)


def _response_chunk(c: Conn, event: Event, msg: Message) -> bool:
    """Add a response body chunk; True when it is the final one of a started response."""
    flow = c.flow
    b = _chunk(c.resp, c, event, msg)
    if b is not None:
        c.resp = b
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
        settle(c.flow, COMPLETE, event.time)


def _http_trailers(c: Conn, event: Event, msg: Message) -> None:
    c.flow.response_trailers.extend(as_headers(msg.get("headers")))
    if not msg.get("more_trailers", False) and not c.trailers_done:
        c.trailers_done = True
        if c.body_done and c.trailers:
            settle(c.flow, COMPLETE, event.time)


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
    flow = c.flow
    if direction == "in":
        flow.messages_in += 1
        flow.message_bytes_in += size
    else:
        flow.messages_out += 1
        flow.message_bytes_out += size
    if c.details:
        flow.messages.append(WsMessage(direction, event.time, text, data, size, cut))


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
    flow.response_headers = as_headers(msg.get("headers"))
    flow.response_start = event.time
    # The handshake's answer: 101 on HTTP/1.1 (RFC 6455), 200 over HTTP/2 (RFC 8441).
    flow.status = 200 if flow.http_version[:1] in ("2", "3") else 101


def _ws_close(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    if flow.state != OPEN:
        return
    flow.close_code = as_int(msg.get("code"), 1000)   # ASGI: defaults to 1000
    flow.close_reason = as_str(msg.get("reason"))
    flow.closed_by = "app"
    if flow.accepted:
        settle(flow, COMPLETE, event.time)
        return
    # Before accept the server answers 403 and never completes the handshake.
    if flow.status is None:
        flow.status = 403
    if flow.response_start is None:
        flow.response_start = event.time
    settle(flow, REFUSED, event.time)


def _ws_disconnect(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    if flow.state != OPEN:
        return   # the disconnect that follows the app's own close
    # ASGI: "If no code was received ... the server should set this to 1005".
    flow.close_code = as_int(msg.get("code"), 1005)
    flow.close_reason = as_str(msg.get("reason"))
    flow.closed_by = "client"
    settle(flow, CLIENT_DISCONNECTED, event.time)


def _ws_denial_body(c: Conn, event: Event, msg: Message) -> None:
    if _response_chunk(c, event, msg):
        settle(c.flow, REFUSED, event.time)


# -- lifespan -------------------------------------------------------------------------------

def _lifespan_note(c: Conn, event: Event, msg: Message) -> None:
    c.flow.lifespan_messages.append(msg["type"])


def _lifespan_ready(c: Conn, event: Event, msg: Message) -> None:
    c.flow.lifespan_messages.append(msg["type"])
    if c.flow.response_start is None:
        c.flow.response_start = event.time   # "time to ready": how long startup took


def _lifespan_done(c: Conn, event: Event, msg: Message) -> None:
    c.flow.lifespan_messages.append(msg["type"])
    settle(c.flow, COMPLETE, event.time)


def _lifespan_failed(c: Conn, event: Event, msg: Message) -> None:
    flow = c.flow
    flow.lifespan_messages.append(msg["type"])
    if flow.exception is None:
        flow.exception = ExceptionInfo(msg["type"], as_str(msg.get("message")))
    settle(flow, APP_EXCEPTION, event.time)


TABLES: dict[str, dict[str, dict[str, Handler]]] = {
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
