"""HAR import: any tool's HAR 1.2 file as the ASGI events a capture would hold.

Lenient, because real writers are not strict (a BOM, `redirectURL: null`, missing sizes and
timings, base64 bodies, "h2" or "http/2.0"): each entry becomes scope / receive / send /
exit events, so flows, the dashboard, replay and export read a HAR as they read a capture.
The timeline comes from `startedDateTime` and `timings`. An entry without a usable URL is
skipped and counted in the header, never a crash. Export is `inspector.io.har`.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from urllib.parse import SplitResult, quote, unquote, urlencode, urlsplit

from inspector.events.model import EXIT, RECEIVE, SCOPE, SEND, Event, clean_exit_message
from inspector.io.codec import FORMAT, VERSION
from inspector.io.har import (
    URI_SAFE,
    WS_HANDSHAKE,
    HarError,
    Headers,
    Json,
    decode_body,
    header_text,
    header_value,
)
from inspector.io.har_values import (
    as_epoch,
    as_number,
    as_object,
    asgi_headers,
    asgi_version,
    decoded_payload,
)

__all__ = ["har_to_events", "is_har", "load_har"]


def load_har(path: str | os.PathLike[str]) -> tuple[Json, list[Event]]:
    """Read a HAR file into (capture header, events); HarError names the file and why."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        data = f.read()
    try:
        return har_to_events(data)
    except HarError as exc:
        raise HarError(f"{name}: {exc}") from None


def is_har(path: str | os.PathLike[str]) -> bool:
    """Whether `path` looks like a HAR rather than a capture: sniffs the first bytes.

    A JSON object whose first key is "log", or a ".har" file that is not a capture. An
    unreadable file is "not HAR", so the capture reader reports the error.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf")
    if FORMAT.encode() in head.split(b"\n", 1)[0]:
        return False
    return bool(re.match(rb'\s*\{\s*"log"\s*:', head)) or name.lower().endswith(".har")


def har_to_events(har: Json | str | bytes) -> tuple[Json, list[Event]]:
    """A HAR document (parsed, text, or file bytes) -> (capture header, events).

    The header's "started" is the earliest startedDateTime (epoch seconds), so flow
    times are relative to it as in a capture; each entry is its own connection.
    """
    log = _log(har)
    raw = log.get("entries")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise HarError("not a HAR file (log.entries is not a list)")
    entries = [e for e in raw if isinstance(e, dict) and _entry_url(e) is not None]
    starts = [as_epoch(e.get("startedDateTime")) for e in entries]
    t0 = min((s for s in starts if s is not None), default=0.0)
    rows: list[tuple[float, int, int, str, Json, int | None]] = []
    previous = t0
    for conn, (entry, start) in enumerate(zip(entries, starts), 1):
        previous = start if start is not None else previous
        for i, (t, kind, message, cut) in enumerate(_entry_events(entry, previous - t0, t0)):
            rows.append((t, conn, i, kind, message, cut))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    events = [Event(seq, conn, t, kind, message, cut)
              for seq, (t, conn, _, kind, message, cut) in enumerate(rows)]
    creator = as_object(log.get("creator"))
    made_by = " ".join(str(creator.get(k) or "") for k in ("name", "version")).strip()
    header = {"format": FORMAT, "version": VERSION, "name": f"HAR ({made_by or 'unknown'})",
              "started": t0, "har": {"creator": made_by, "entries": len(raw),
                                     "skipped": len(raw) - len(entries)}}
    return header, events


def _log(har: Json | str | bytes) -> Json:
    if isinstance(har, (bytes, bytearray, str)):
        if isinstance(har, str):
            har = har.removeprefix("\ufeff")
        try:
            har = json.loads(har)          # bytes: UTF-8 (with BOM), UTF-16 or UTF-32
        except json.JSONDecodeError as exc:
            raise HarError(f"not a HAR file (not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno})") from None
        except UnicodeDecodeError as exc:
            raise HarError(f"not a HAR file (not UTF-8 text: byte {exc.start + 1})") from None
    log = har.get("log") if isinstance(har, dict) else None
    if not isinstance(log, dict):
        raise HarError('not a HAR file (no "log" object at the top level)')
    return log


def _entry_url(entry: Json) -> SplitResult | None:
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    return parts if parts.scheme and parts.netloc else None


def _request_body(request: Json) -> tuple[bytes, int | None]:
    post = request.get("postData")
    body = b""
    if isinstance(post, dict):
        if isinstance(post.get("text"), str):
            body = decoded_payload(post["text"], post.get("_encoding") or post.get("encoding"))
        elif isinstance(post.get("params"), list):
            body = urlencode([(str(p.get("name", "")), str(p.get("value") or ""))
                              for p in post["params"] if isinstance(p, dict)]).encode()
    elif isinstance(request.get("_content"), dict):       # HTTP Toolkit's binary bodies
        content = request["_content"]
        body = decoded_payload(content.get("text"), content.get("encoding"))
    size = as_number(request.get("bodySize"))
    return body, (int(size) if size is not None and size > len(body) else None)


def _response_body(response: Json, headers: Headers) -> tuple[bytes, int | None, Headers]:
    """The body the app sent, with headers that describe it.

    HAR holds the decoded body: gzip/deflate is redone so the events match the headers;
    a coding we cannot redo (br, zstd) is dropped from the headers with Content-Length.
    """
    content = as_object(response.get("content"))
    body = decoded_payload(content.get("text"), content.get("encoding"))
    size = as_number(content.get("size"))
    cut = int(size) if size is not None and size > len(body) else None
    coding = header_text(header_value(headers, b"content-encoding") or b"").strip().lower()
    if not body or coding in ("", "identity") or content.get("_contentEncoding"):
        return body, cut, headers
    if decode_body(body, coding) is not None:
        return body, cut, headers               # a writer that kept the encoded bytes
    if cut is None and coding in ("gzip", "x-gzip", "deflate"):
        if coding == "deflate":
            body = zlib.compress(body)
        else:
            c = zlib.compressobj(wbits=31)          # gzip, mtime 0: same input, same bytes
            body = c.compress(body) + c.flush()
        fix = {b"content-length": str(len(body)).encode()}
        return body, None, [(n, fix.get(n, v)) for n, v in headers]
    dropped = (b"content-encoding", b"content-length")
    return body, cut, [(n, v) for n, v in headers if n not in dropped]


def _entry_events(entry: Json, start: float, t0: float
                  ) -> list[tuple[float, str, Json, int | None]]:
    """One entry's events as (time, kind, message, truncated), in order."""
    request = entry["request"]
    response = as_object(entry.get("response"))
    parts = _entry_url(entry)
    assert parts is not None                # har_to_events kept only entries with a URL
    websocket = (entry.get("_resourceType") == "websocket" or "_webSocketMessages" in entry
                 or parts.scheme.lower() in ("ws", "wss"))
    secure = parts.scheme.lower() in ("https", "wss")
    headers = asgi_headers(request.get("headers"))
    if header_value(headers, b"host") is None:   # HTTP/1.1 requires Host (RFC 9112 §3.2)
        headers.insert(0, (b"host", parts.netloc.encode("utf-8", "surrogateescape")))
    raw_path = quote(parts.path or "/", safe=URI_SAFE).encode("ascii")
    try:
        port = parts.port
    except ValueError:
        port = None
    scope: Json = {
        "type": "websocket" if websocket else "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": asgi_version(request.get("httpVersion")),
        "scheme": ("wss" if secure else "ws") if websocket else ("https" if secure else "http"),
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": quote(parts.query, safe=URI_SAFE).encode("ascii"),
        "root_path": "",
        "headers": headers,
        "client": None,
        "server": (parts.hostname or "", port or (443 if secure else 80)),
    }
    if not websocket:
        scope["method"] = str(request.get("method") or "GET")
    status = as_number(response.get("status"))
    status_code = int(status) if status is not None and status > 0 else 0
    resp_headers = asgi_headers(response.get("headers"))
    t_scope, t_sent, t_resp, t_end = _phases(entry, start)
    events: list[tuple[float, str, Json, int | None]] = [(t_scope, SCOPE, scope, None)]
    if websocket:
        _ws_events(events, entry, scope, status_code, response, resp_headers, t_resp, t0)
    else:
        body, cut = _request_body(request)
        events.append((t_sent, RECEIVE, {"type": "http.request", "body": body,
                                         "more_body": False}, cut))
        if status_code:
            rbody, rcut, resp_headers = _response_body(response, resp_headers)
            trailers = asgi_headers(response.get("_trailers"))
            start_msg: Json = {"type": "http.response.start", "status": status_code,
                               "headers": resp_headers}
            if trailers:
                start_msg["trailers"] = True
            events.append((t_resp, SEND, start_msg, None))
            events.append((t_end, SEND, {"type": "http.response.body", "body": rbody,
                                         "more_body": False}, rcut))
            if trailers:
                events.append((t_end, SEND, {"type": "http.response.trailers",
                                             "headers": trailers, "more_trailers": False},
                               None))
        elif not isinstance(entry.get("_exception"), dict):
            events.append((t_end, RECEIVE, {"type": "http.disconnect"}, None))
    exit_message = clean_exit_message()
    exc = entry.get("_exception")
    if isinstance(exc, dict):
        exit_message["exception"] = {"type": str(exc.get("type") or "Exception"),
                                     "message": str(exc.get("message") or ""),
                                     "traceback": ""}
    last = max(t for t, *_ in events)
    events.append((max(last, t_end), EXIT, exit_message, None))
    return events


def _phases(entry: Json, start: float) -> tuple[float, float, float, float]:
    """Times of the scope, the last request byte, the response start and the end.

    The app sees the request after blocked + dns + connect: the entry's `time` less
    send, wait and receive, since writers disagree on whether ssl is inside connect (HAR
    1.2 says it is; Safari adds it again). Without send/wait/receive, the entry's `time`
    is all waiting.
    """
    timings = as_object(entry.get("timings"))

    def phase(key: str) -> float | None:
        value = as_number(timings.get(key))
        return value / 1000 if value is not None and value >= 0 else None

    total = as_number(entry.get("time"))
    total = total / 1000 if total is not None and total >= 0 else None
    before = sum(phase(k) or 0.0 for k in ("blocked", "dns", "connect"))
    send, wait, receive = phase("send"), phase("wait"), phase("receive")
    if send is None and wait is None and receive is None:
        wait = max(0.0, (total or 0.0) - before)
    elif total is not None:
        # To the microsecond, a HAR's resolution: the float remainder of a subtraction
        # (0.4 - 0.1 - 0.1 - 0.2 ms is 2.7e-20 s) must not put this entry's request
        # behind another's that started in the same millisecond.
        before = round(max(0.0, total - (send or 0.0) - (wait or 0.0) - (receive or 0.0)), 6)
    t_scope = start + before
    t_sent = t_scope + (send or 0.0)
    t_resp = t_sent + (wait or 0.0)
    return t_scope, t_sent, t_resp, t_resp + (receive or 0.0)


def _ws_events(events: list[tuple[float, str, Json, int | None]], entry: Json, scope: Json,
               status: int, response: Json, resp_headers: Headers, t_resp: float,
               t0: float) -> None:
    """A WebSocket entry: connect, then accept and messages, or the refusal."""
    t = events[0][0]
    protocols = header_text(header_value(scope["headers"], b"sec-websocket-protocol") or b"")
    scope["subprotocols"] = [p.strip() for p in protocols.split(",") if p.strip()]
    events.append((t, RECEIVE, {"type": "websocket.connect"}, None))
    if status == 0:
        events.append((t_resp, RECEIVE, {"type": "websocket.disconnect", "code": 1006}, None))
        return
    if status not in (101, 200):
        body, cut, resp_headers = _response_body(response, resp_headers)
        if body or resp_headers or status != 403:   # the denial-response extension
            events.append((t_resp, SEND, {"type": "websocket.http.response.start",
                                          "status": status, "headers": resp_headers}, None))
            events.append((t_resp, SEND, {"type": "websocket.http.response.body",
                                          "body": body, "more_body": False}, cut))
        else:                                      # closed before accept: the server's 403
            events.append((t_resp, SEND, {"type": "websocket.close", "code": 1000}, None))
        return
    subprotocol = header_value(resp_headers, b"sec-websocket-protocol")
    events.append((t_resp, SEND, {
        "type": "websocket.accept",
        "subprotocol": subprotocol.decode("utf-8", "surrogateescape") if subprotocol else None,
        "headers": [(n, v) for n, v in resp_headers if n not in WS_HANDSHAKE]}, None))
    t = t_resp
    messages = entry.get("_webSocketMessages")
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, dict) or m.get("opcode") not in (1, 2):
            continue                                # control frames carry no message
        when = as_number(m.get("time"))
        t = max(t, when - t0) if when is not None else t
        data = m["data"] if isinstance(m.get("data"), str) else ""
        payload: Json = ({"text": data, "bytes": None} if m["opcode"] == 1 else
                         {"text": None, "bytes": decoded_payload(data, "base64")})
        size = as_number(m.get("_originalSize"))
        held = len(data.encode("utf-8", "surrogatepass")) if m["opcode"] == 1 else \
            len(payload["bytes"])
        if m.get("type") == "send":      # the client sent it: the app received it
            message, kind = {"type": "websocket.receive", **payload}, RECEIVE
        else:
            message, kind = {"type": "websocket.send", **payload}, SEND
        events.append((t, kind, message, int(size) if size is not None and size > held
                       else None))
    close = as_object(entry.get("_webSocketClose"))
    when = as_number(close.get("time"))
    t = max(t, when - t0) if when is not None else t
    code = as_number(close.get("code"))
    code_value = int(code) if code is not None else 1000
    reason = str(close.get("reason") or "")
    if close.get("by") == "client":
        events.append((t, RECEIVE, {"type": "websocket.disconnect", "code": code_value,
                                    "reason": reason}, None))
    else:
        events.append((t, SEND, {"type": "websocket.close", "code": code_value,
                                 "reason": reason}, None))
