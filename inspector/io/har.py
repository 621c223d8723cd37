"""HAR 1.2 (HTTP Archive): export flows as Chrome writes them, import any tool's HAR as events.

Export is strict (import is `inspector.io.har_import`): what `flows_to_har` returns validates against the HAR 1.2 JSON schema
(npm `har-schema`; the tests check it) and follows the spec's prose where the schema is
silent: `time` is the sum of the non-negative `timings`; `send`, `wait` and `receive` are
never -1; `content.text` is the decoded body (gzip and deflate are undone, HAR 1.2
"content"). Where HAR has no field, we add one starting with an underscore, as the spec
asks of custom fields, reusing Chrome's names where Chrome has one:

* `_webSocketMessages` and `_resourceType: "websocket"` (Chrome), plus `_webSocketClose`
  {code, reason, by, time} so a re-import knows who closed the session and how;
* `postData._encoding: "base64"` for a request body that is not UTF-8 (HAR 1.2 has
  `encoding` only on response content); `content._contentEncoding` names a coding we
  could not undo (br, zstd, a cut body), so `text` still holds the encoded bytes;
* `_asgiFindings`: the flow's findings (`inspector.findings`), when the exporter had the
  events to compute them: [{rule, severity, message, seq, hint, link}];
* `response._error` (Chrome) for a flow without a full response, `_exception` {type,
  message} when the app raised, `_trailers` for HTTP trailers, `_originalSize` on a cut
  WebSocket message. A cut body says so in `comment`; its `size`/`bodySize` is the
  original size.

Import is lenient, because real HAR writers are not strict (see tests/inspector: a BOM,
`redirectURL: null`, missing sizes and timings, base64 bodies, "h2" or "http/2.0"): each
entry becomes the ASGI events a capture of that exchange would hold, so every consumer
(flows, the dashboard, replay, export) reads a HAR as it reads a capture. The timeline
comes from `startedDateTime` and `timings`. An entry without a usable URL is skipped and
counted in the header, never a crash. Pure except `load_har` and `is_har`, which read.
"""

from __future__ import annotations

import base64
import http
import ipaddress
import math
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from inspector import __version__
from inspector.flows.model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    COMPLETE,
    INCOMPLETE,
    OPEN,
    REFUSED,
    Flow,
    WsMessage,
)
from inspector.io.secrets import mask_headers, secret_names
from inspector.types import Headers

__all__ = [
    "HarError",
    "flow_to_entry",
    "flows_to_har",
    "request_url",
]

Json = dict[str, Any]

# Characters legal in a URI (RFC 3986 §2: unreserved, reserved, and "%" of an escape).
URI_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
_DECODED_LIMIT = 32 << 20      # a decompressed body larger than this stays encoded
WS_HANDSHAKE = frozenset({b"upgrade", b"connection", b"sec-websocket-accept",
                           b"sec-websocket-protocol", b"sec-websocket-extensions"})
_ERRORS = {
    OPEN: "still open when exported",
    CLIENT_DISCONNECTED: "the client disconnected before the response was complete",
    INCOMPLETE: "the app returned without completing the response",
    APP_EXCEPTION: "the app raised before completing the response",
}


class HarError(ValueError):
    """A file or document that is not HAR (or not JSON); the message is one line."""


# -- shared ---------------------------------------------------------------------------------

def request_url(flow: Flow, base_url: str | None = None) -> str:
    """The flow's URL, always a valid URI: raw path bytes kept, illegal bytes %-escaped.

    `base_url` ("http://127.0.0.1:8000", with an optional path prefix) replaces the
    scheme and host, for sending the request somewhere else.
    """
    target = flow.raw_path or flow.full_path.encode("utf-8", "surrogateescape")
    url = quote(target or b"/", safe=URI_SAFE)
    if flow.query:
        url += "?" + quote(flow.query, safe=URI_SAFE)
    if base_url is not None:
        return base_url.rstrip("/") + url
    host = header_value(flow.request_headers, b"host")
    if host is None:
        host = f"{flow.server[0]}:{flow.server[1]}".encode() if flow.server else b""
    scheme = flow.scheme or ("ws" if flow.type == "websocket" else "http")
    return f"{scheme}://{quote(host, safe=URI_SAFE)}{url}"


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_text(data: bytes) -> str:
    """Header bytes as text: UTF-8 when they are, else latin-1 (RFC 9110 §5.5 obs-text)."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _body_text(data: bytes) -> tuple[str, bool]:
    """(text, is_base64): UTF-8 text as it is, anything else as base64."""
    try:
        return data.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def _iso(epoch: float) -> str:
    """ISO 8601 in UTC with milliseconds, as Chrome writes startedDateTime.

    Rounded down, never up: read back, an entry then starts at or before its own
    request, so what the entry times absolutely (WebSocket messages, the close) never
    comes before its handshake. The 0.001 ms added keeps a time read back from a HAR,
    within a float's error of its millisecond on either side, on that millisecond."""
    ms = math.floor(epoch * 1000 + 0.001)
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000, 3)


# -- export -----------------------------------------------------------------------------

def flows_to_har(flows: Iterable[Flow], started_wall: float, *, include_secrets: bool = False,
                 secret_headers: Iterable[str] = ()) -> Json:
    """HAR 1.2 of the HTTP and WebSocket flows (lifespan skipped); secrets masked by default.

    `started_wall` is the wall-clock epoch of capture time 0 (the capture header's
    "started"): flow times are relative to it.
    """
    names = tuple(secret_names(secret_headers))
    entries = [flow_to_entry(f, started_wall, include_secrets=include_secrets,
                             secret_headers=names)
               for f in flows if f.type in ("http", "websocket")]
    return {"log": {"version": "1.2",
                    "creator": {"name": "asgi-inspector", "version": __version__},
                    "pages": [], "entries": entries}}


def flow_to_entry(flow: Flow, started_wall: float, *, include_secrets: bool = False,
                  secret_headers: Iterable[str] = ()) -> Json:
    """One HAR entry for one HTTP or WebSocket flow."""
    extra = tuple(secret_headers)
    req_headers = mask_headers(flow.request_headers, extra, include_secrets)
    resp_headers = mask_headers(flow.response_headers, extra, include_secrets)
    websocket = flow.type == "websocket"
    timings = _timings(flow)
    entry: Json = {
        "startedDateTime": _iso(started_wall + flow.start),
        "time": round(sum(timings.values()), 3),
        "request": _request(flow, req_headers),
        "response": _response(flow, resp_headers, started_wall),
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, **timings},
    }
    if flow.server and _is_ip(flow.server[0]):
        entry["serverIPAddress"] = flow.server[0]
    if flow.exception is not None:
        entry["_exception"] = {"type": flow.exception.type, "message": flow.exception.message}
    analysis = flow.analysis
    if analysis is not None and analysis.findings:
        entry["_asgiFindings"] = [f.as_json() for f in analysis.findings]
    if websocket:
        entry["_resourceType"] = "websocket"
        entry["_webSocketMessages"] = [_ws_message(m, started_wall) for m in flow.messages]
        if flow.close_code is not None and flow.end is not None:
            entry["_webSocketClose"] = {"code": flow.close_code, "reason": flow.close_reason,
                                        "by": flow.closed_by or "app",
                                        "time": started_wall + flow.end}
    return entry


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _timings(flow: Flow) -> dict[str, float]:
    """send/wait/receive in ms, >= 0, summing to the flow's duration (HAR 1.2 "timings").

    send: scope to the last request body chunk; wait: to the response start (TTFB);
    receive: to the end. An app may answer before reading the body: then wait is 0 and
    the phases stay in order rather than overlap. A WebSocket entry times the handshake.
    """
    t0 = flow.start
    known = [t for t in (flow.request_done, flow.response_start, flow.end) if t is not None]
    end = flow.end if flow.end is not None else max(known, default=t0)
    if flow.type == "websocket" and flow.response_start is not None:
        end = flow.response_start
    end = max(end, t0)
    t1 = min(max(flow.request_done if flow.request_done is not None else t0, t0), end)
    t2 = min(max(flow.response_start if flow.response_start is not None else end, t1), end)
    return {"send": _ms(t1 - t0), "wait": _ms(t2 - t1), "receive": _ms(end - t2)}


def _pairs(headers: Headers) -> list[Json]:
    return [{"name": header_text(name), "value": header_text(value)} for name, value in headers]


def _request(flow: Flow, headers: Headers) -> Json:
    query = flow.query.decode("latin-1")
    request: Json = {
        "method": flow.method or "GET",
        "url": request_url(flow),
        "httpVersion": _har_version(flow.http_version),
        "cookies": [{"name": n, "value": v} for n, v in _cookie_pairs(headers)],
        "headers": _pairs(headers),
        "queryString": [{"name": n, "value": v}
                        for n, v in parse_qsl(query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": flow.request_body_size,
    }
    if flow.request_body_size:
        mime = header_text(header_value(headers, b"content-type") or b"")
        text, is_b64 = _body_text(flow.request_body)
        post: Json = {"mimeType": mime, "text": text}
        if is_b64:
            post["_encoding"] = "base64"
        elif mime.split(";")[0].strip().lower() == "application/x-www-form-urlencoded" \
                and not flow.request_body_truncated:
            post["params"] = [{"name": n, "value": v}
                              for n, v in parse_qsl(text, keep_blank_values=True)]
        if flow.request_body_truncated:
            post["comment"] = _cut_note(len(flow.request_body), flow.request_body_size)
        request["postData"] = post
    return request


def _cut_note(held: int, size: int) -> str:
    return f"truncated by asgi-inspector: {held} of {size} bytes captured"


def _response(flow: Flow, headers: Headers, started_wall: float) -> Json:
    if flow.status is None:
        return {"status": 0, "statusText": "", "httpVersion": "", "cookies": [],
                "headers": [], "content": {"size": 0, "mimeType": "x-unknown"},
                "redirectURL": "", "headersSize": -1, "bodySize": -1,
                "_error": _error(flow)}
    try:
        reason = http.HTTPStatus(flow.status).phrase
    except ValueError:
        reason = ""
    response: Json = {
        "status": flow.status,
        "statusText": reason,
        "httpVersion": _har_version(flow.http_version),
        "cookies": _set_cookies(headers, started_wall + flow.start),
        "headers": _pairs(headers),
        "content": _content(flow, headers),
        "redirectURL": header_text(header_value(headers, b"location") or b""),
        "headersSize": -1,
        "bodySize": flow.response_body_size,
    }
    if flow.response_trailers:
        response["_trailers"] = _pairs(flow.response_trailers)
    if flow.state not in (COMPLETE, REFUSED):
        response["_error"] = _error(flow)
    return response


def _error(flow: Flow) -> str:
    if flow.exception is not None and flow.state == APP_EXCEPTION:
        return f"the app raised {flow.exception.type}: {flow.exception.message}"
    return _ERRORS.get(flow.state, flow.state)


def _content(flow: Flow, headers: Headers) -> Json:
    body, size = flow.response_body, flow.response_body_size
    content: Json = {"size": size,
                     "mimeType": header_text(header_value(headers, b"content-type") or b"")}
    if body:
        coding = header_text(header_value(headers, b"content-encoding") or b"").strip().lower()
        decoded = None
        if coding not in ("", "identity") and not flow.response_body_truncated:
            decoded = decode_body(body, coding)
        if decoded is not None:
            content["size"] = len(decoded)
            content["compression"] = len(decoded) - len(body)
            body = decoded
        elif coding not in ("", "identity"):
            content["_contentEncoding"] = coding
        text, is_b64 = _body_text(body)
        content["text"] = text
        if is_b64:
            content["encoding"] = "base64"
    if flow.response_body_truncated:
        content["comment"] = _cut_note(len(flow.response_body), size)
    return content


def decode_body(body: bytes, coding: str) -> bytes | None:
    """Undo gzip or deflate (RFC 9110 §8.4.1); None for other codings or a bad stream."""
    attempts: tuple[int, ...]
    if coding in ("gzip", "x-gzip"):
        attempts = (31,)                  # gzip header
    elif coding == "deflate":
        attempts = (15, -15)              # zlib stream, then the raw deflate some servers send
    else:
        return None
    for wbits in attempts:
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(body, _DECODED_LIMIT)
        except zlib.error:
            continue
        if d.eof and not d.unconsumed_tail and not d.unused_data:
            return out
    return None


def _ws_message(m: WsMessage, started_wall: float) -> Json:
    if m.text is not None:
        opcode, data = 1, m.text
    else:
        opcode, data = 2, base64.b64encode(m.data or b"").decode("ascii")
    # Chrome's perspective is the client's: "send" went to the app, "receive" came back.
    out: Json = {"type": "send" if m.direction == "in" else "receive",
                 "time": started_wall + m.time, "opcode": opcode, "data": data}
    if m.truncated:
        out["_originalSize"] = m.size
    return out


def _cookie_pairs(headers: Headers) -> list[tuple[str, str]]:
    """name/value pairs of every Cookie header (RFC 6265 §4.2.1)."""
    out = []
    for name, value in headers:
        if name.lower() == b"cookie":
            for pair in header_text(value).split(";"):
                key, sep, val = pair.strip().partition("=")
                if sep or key:
                    out.append((key.strip(), val.strip()))
    return out


def _set_cookies(headers: Headers, now: float) -> list[Json]:
    """HAR cookies of every Set-Cookie header (RFC 6265 §4.1); Max-Age wins over Expires."""
    out = []
    for name, value in headers:
        if name.lower() != b"set-cookie":
            continue
        first, *attributes = header_text(value).split(";")
        key, _, val = first.partition("=")
        cookie: Json = {"name": key.strip(), "value": val.strip(), "httpOnly": False,
                        "secure": False}
        expires = max_age = None
        for attribute in attributes:
            attr, _, arg = attribute.strip().partition("=")
            attr = attr.strip().lower()
            if attr in ("path", "domain"):
                cookie[attr] = arg.strip()
            elif attr in ("httponly", "secure"):
                cookie["httpOnly" if attr == "httponly" else "secure"] = True
            elif attr == "expires":
                try:
                    expires = parsedate_to_datetime(arg.strip()).timestamp()
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
            elif attr == "max-age" and arg.strip().lstrip("-").isdigit():
                max_age = now + int(arg)
        when = max_age if max_age is not None else expires
        if when is not None and -62135596800 <= when < 253402300800:   # years 1..9999
            cookie["expires"] = _iso(when)
        out.append(cookie)
    return out


def _har_version(version: str) -> str:
    return {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2", "3": "HTTP/3"}.get(
        version, f"HTTP/{version}" if version else "HTTP/1.1")
