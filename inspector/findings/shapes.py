"""Shapes: is each scope and message built as the spec says? One event at a time.

Families: general message types, the three scope types' fields, the HTTP, WebSocket and
lifespan event schemas, and extensions (a message the scope did not advertise). Order
between messages is the state machines' business (`http`, `websocket`, `lifespan`),
whose handlers call these for the messages they take; a type no handler takes is
`unknown`.
Receive-side messages come from the server (or the proxy, or a HAR import): their
findings say so, since the app is not the one to fix.
"""

from __future__ import annotations

from typing import Any

from inspector.events.model import RECEIVE, Event
from inspector.findings.finding import Collector, short
from inspector.flows.state import _header_pairs

# A message type -> the scope["extensions"] key the server must advertise for it.
EXTENSION_OF = {
    "http.response.trailers": "http.response.trailers",
    "http.response.pathsend": "http.response.pathsend",
    "http.response.zerocopy": "http.response.zerocopy",
    "http.response.early_hint": "http.response.early_hint",
    "http.response.debug": "http.response.debug",
    "http.response.push": "http.response.push",
    "websocket.http.response.start": "websocket.http.response",
    "websocket.http.response.body": "websocket.http.response",
}

# scope["extensions"] when the record does not say: InspectorMiddleware leaves the key
# out of what it records (it holds callables), so extension checks need a capture that
# kept it (another recorder, a hand-written capture) and stay silent otherwise.
UNKNOWN = object()

HTTP_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
# RFC 6455 §7.4.1/§7.4.2: codes an endpoint may put in a Close frame.
_SENDABLE_CLOSE = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015)) \
    | frozenset(range(3000, 5000))


def headers_ok(value: object) -> bool:
    """A list (or tuple) of two-item [bytes, bytes] pairs."""
    if _header_pairs(value) is not None:     # all (bytes, bytes) tuples: one C call
        return True
    if not isinstance(value, (list, tuple)):
        return False
    for pair in value:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 \
                or type(pair[0]) is not bytes or type(pair[1]) is not bytes:
            return False
    return True


def _uppercase_names(value: Any) -> list[bytes]:
    """Names that are not lowercase, of headers `headers_ok` accepted."""
    return [name for name, _ in value if name != name.lower()]


_MISSING = object()


def check_scope(c: Collector, scope: dict[str, Any]) -> None:
    """The scope event (index 0) of an HTTP, WebSocket or lifespan flow."""
    get = scope.get
    kind = get("type")
    asgi = get("asgi")
    if not isinstance(asgi, dict) or type(asgi.get("version")) is not str:
        c.add("G003", f"scope 'asgi' is {short(asgi)}", 0)
    if kind == "lifespan":
        if "state" in scope and not isinstance(scope["state"], dict):
            c.add("LS001", f"lifespan scope 'state' is {short(scope['state'])}", 0)
        return
    if kind == "http":
        method = get("method")
        if type(method) is not str or not method:
            c.add("HS001", f"scope 'method' is {short(method)}", 0)
        elif method != method.upper():
            c.add("HS002", f"scope 'method' is {short(method)}", 0)
    path = get("path")
    if type(path) is not str:
        c.add("HS003", f"scope 'path' is {short(path)}", 0)
    query = get("query_string", b"")
    if type(query) is not bytes:
        c.add("HS004", f"scope 'query_string' is {short(query)}", 0)
    headers = get("headers", [])
    if _header_pairs(headers) is None and not headers_ok(headers):   # one C call, mostly
        c.add("HS005", f"scope 'headers' is {short(headers)}", 0)
    else:
        for name, _ in headers:
            if name != name.lower():
                c.add("HS006", f"request header names not lowercase: "
                               f"{short(_uppercase_names(headers))}", 0)
                break
    version = get("http_version", "1.1")
    if type(version) is not str or version not in HTTP_VERSIONS:
        c.add("HS007", f"scope 'http_version' is {short(version)}", 0)
    scheme = get("scheme", _MISSING)
    if scheme is not _MISSING:
        if type(scheme) is not str or not scheme:
            c.add("HS008", f"scope 'scheme' is {short(scheme)}", 0)
        elif kind == "websocket" and scheme not in ("ws", "wss"):
            c.add("WS002", f"WebSocket scope 'scheme' is {short(scheme)}", 0)
    if kind == "websocket":
        protocols = get("subprotocols", [])
        if not isinstance(protocols, (list, tuple)) or \
                (protocols and any(type(p) is not str for p in protocols)):
            c.add("WS001", f"scope 'subprotocols' is {short(protocols)}", 0)


def flag(c: Collector, i: int, msg: dict[str, Any], key: str) -> None:
    if key in msg and type(msg[key]) is not bool:
        c.add("HE004", f"{msg.get('type')} '{key}' is {short(msg[key])}", i)


def unknown(c: Collector, i: int, event: Event, scope_type: str) -> None:
    """A message no handler of this scope type takes: not a message, or an unknown type."""
    msg = event.message
    t = msg.get("type") if isinstance(msg, dict) else None
    who = "the server sent" if event.kind == RECEIVE else "the app sent"
    if type(t) is not str:
        c.add("G001", f"{who} {short(msg)}", i)
    else:
        c.add("G002", f"{who} {t!r} on a {scope_type} connection", i)


def extension(c: Collector, i: int, t: str, extensions: object) -> None:
    """EX001 when the record says which extensions the server offered, and not this one."""
    ext = EXTENSION_OF[t]
    if extensions is not UNKNOWN and not (isinstance(extensions, dict) and ext in extensions):
        c.add("EX001", f"{t} sent, but scope['extensions'] has no {ext!r}", i)


def start(c: Collector, i: int, t: str, msg: dict[str, Any], extensions: object) -> bool:
    """The start's shape; True when its headers are well-formed [bytes, bytes] pairs."""
    status = msg.get("status")
    if type(status) is not int:
        c.add("HE001", f"{t} 'status' is {short(status)}", i)
    headers = msg.get("headers", [])
    ok = _header_pairs(headers) is not None or headers_ok(headers)      # one C call, mostly
    if not ok:
        c.add("HE002", f"{t} 'headers' is {short(headers)}", i)
    if "trailers" in msg:
        flag(c, i, msg, "trailers")
        if msg["trailers"] is True and extensions is not UNKNOWN and \
                not (isinstance(extensions, dict) and "http.response.trailers" in extensions):
            c.add("EX001", "trailers=True, but scope['extensions'] has no "
                           "'http.response.trailers'", i)
    return ok


def trailers(c: Collector, i: int, msg: dict[str, Any]) -> None:
    if not headers_ok(msg.get("headers", [])):
        c.add("HE002", f"http.response.trailers 'headers' is {short(msg.get('headers'))}", i)
    flag(c, i, msg, "more_trailers")


def pathsend(c: Collector, i: int, msg: dict[str, Any]) -> None:
    path = msg.get("path")
    if type(path) is not str or not path.startswith("/"):
        c.add("EX002", f"pathsend 'path' is {short(path)}", i)


def ws_send(c: Collector, i: int, msg: dict[str, Any]) -> None:
    data, text = msg.get("bytes"), msg.get("text")
    if (data is None) == (text is None):
        c.add("WE001", "websocket.send with " +
              ("both 'bytes' and 'text'" if data is not None else "neither 'bytes' nor 'text'"),
              i)
    if data is not None and type(data) is not bytes:
        c.add("WE002", f"websocket.send 'bytes' is {short(data)}", i)
    if text is not None and type(text) is not str:
        c.add("WE002", f"websocket.send 'text' is {short(text)}", i)


def ws_close(c: Collector, i: int, msg: dict[str, Any]) -> None:
    code = msg.get("code", 1000)
    reason = msg.get("reason")
    if type(code) is not int or (reason is not None and type(reason) is not str):
        c.add("WE003", f"websocket.close code={short(code)} reason={short(reason)}", i)
    elif code not in _SENDABLE_CLOSE:
        c.add("WE004", f"websocket.close code {code}", i)


def ws_accept(c: Collector, i: int, msg: dict[str, Any]) -> None:
    sub = msg.get("subprotocol")
    headers = msg.get("headers", [])
    if (sub is not None and type(sub) is not str) or not headers_ok(headers):
        c.add("WE005", f"websocket.accept subprotocol={short(sub)} headers={short(headers)}", i)


def failed(c: Collector, i: int, t: str, msg: dict[str, Any]) -> None:
    if "message" in msg and type(msg["message"]) is not str:
        c.add("LE001", f"{t} 'message' is {short(msg['message'])}", i)


def ws_receive(c: Collector, i: int, msg: dict[str, Any]) -> None:
    data, text = msg.get("bytes"), msg.get("text")
    if (data is None) == (text is None) or (data is not None and type(data) is not bytes) \
            or (text is not None and type(text) is not str):
        c.add("WE007", f"websocket.receive bytes={short(data)} text={short(text)}", i)
