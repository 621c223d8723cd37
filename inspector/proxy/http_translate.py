"""HTTP translation between ASGI messages and the upstream hop's bytes and events. Pure.

The asyncio shell (`http.py`) moves bytes; everything it decides about what to send where
is here, so tests drive it with scopes, bytes and lists. The request head is written here
(and checked as strictly as h11 would check it); the response is read by `parse.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import quote

from .errors import UpstreamFailure
from .headers import (
    ClientFields,
    Headers,
    client_fields,
    proxy_request_headers,
    strip_hop_by_hop,
)
from .parse import Data, EndOfResponse, Event, ResponseHead
from .upstream import Upstream

__all__ = ["request_target", "build_request", "expects_continue", "RequestHead",
           "UnsendableRequest", "encode_request", "RequestBody", "response_start", "body_messages",
           "error_messages", "CHUNKED"]

CHUNKED = -1   # RequestHead.length of a body sent chunked

# RFC 9110 5.1, 5.5 and RFC 9112 3.2, as h11 checks what it sends: a token for the method
# and field names; a target of visible ASCII; field values of anything but NUL and
# whitespace, with single spaces or tabs inside.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_REQUEST_LINE = re.compile(_TOKEN + rb" [\x21-\x7e]+ HTTP/1\.1\r\n")
_FIELDS = re.compile(rb"(?:" + _TOKEN + rb": (?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?\r\n)*")
_FIELD_NAME = re.compile(_TOKEN)
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
_MAX_LENGTH_DIGITS = 20


class UnsendableRequest(Exception):
    """The request cannot be written as valid HTTP/1.1 (the server in front took it, so it
    may be laxer than the wire: httptools accepts what h11 would refuse to send)."""


class RequestHead(NamedTuple):
    """The request as the upstream gets it: Host first, framing fields last.

    length: how many body bytes the head announces (0 without a body), or CHUNKED.
    """

    method: bytes
    target: bytes
    headers: Headers
    length: int = 0


def request_target(scope: Mapping[str, Any]) -> bytes:
    """The request-target as the client sent it: raw path (else the quoted path) + query."""
    raw = scope.get("raw_path")
    if not raw:
        raw = quote(str(scope.get("path") or "/")).encode("ascii")
    raw = bytes(raw).partition(b"?")[0]
    query = scope.get("query_string") or b""
    return raw + b"?" + bytes(query) if query else raw


def _content_length(value: bytes) -> int:
    """A Content-Length value as h11 reads it: "5" and "5, 5" are 5; "5, 6" is an error."""
    lengths = {part.strip() for part in value.split(b",")}
    if len(lengths) != 1:
        raise UnsendableRequest("conflicting Content-Length headers")
    text = lengths.pop()
    if not text.isdigit() or len(text) > _MAX_LENGTH_DIGITS:
        raise UnsendableRequest(f"bad Content-Length {value!r}")
    return int(text)


def _framing(fields: ClientFields, body: bytes, more_body: bool) -> tuple[Headers, int]:
    """How the body crosses the upstream hop (RFC 9112 6): the fields that say it, and
    RequestHead.length.

    The client's Content-Length is kept; a body that arrived whole gets its length; a body
    still streaming with no declared length goes chunked. A request that declared no body
    keeps declaring none.
    """
    if fields.content_length is not None:
        size = _content_length(fields.content_length)
        return [(b"content-length", b"%d" % size)], size
    if not more_body:
        if body or fields.transfer_encoding:
            return [(b"content-length", b"%d" % len(body))], len(body)
        return [], 0
    return [(b"transfer-encoding", b"chunked")], CHUNKED


def build_request(scope: Mapping[str, Any], upstream: Upstream, *, body: bytes = b"",
                  more_body: bool = False, keep_host: bool = False,
                  forwarded: bool = False, fields: ClientFields | None = None) -> RequestHead:
    """The request head for an ASGI http scope whose first body chunk is `body`.

    UnsendableRequest if the client's Content-Length cannot be passed on. `fields`: the
    scope's headers already sorted by client_fields().
    """
    if fields is None:
        fields = client_fields(scope.get("headers", ()))
    headers = proxy_request_headers(scope, upstream, keep_host=keep_host, forwarded=forwarded,
                                    fields=fields)
    framing, length = _framing(fields, body, more_body)
    if framing:
        headers += framing
    method = scope.get("method") or "GET"
    return RequestHead(method.encode("ascii"), request_target(scope), headers, length)


def expects_continue(scope: Mapping[str, Any], fields: ClientFields) -> bool:
    """Whether the client waits for a 100 (Continue) before sending its body: it asked
    with Expect: 100-continue on an HTTP/1.1 request that announces a body (RFC 9110
    10.1.1; an HTTP/1.0 client's expectation is ignored)."""
    if not fields.expect_continue or scope.get("http_version") == "1.0":
        return False
    length = fields.content_length
    return fields.transfer_encoding or (length is not None and bool(length.strip(b"0 ,")))


def encode_request(request: RequestHead) -> bytes:
    """The head's bytes, request line to blank line; UnsendableRequest if not valid HTTP/1.1."""
    line = b"%s %s HTTP/1.1\r\n" % (request.method, request.target)
    fields = b"".join([b"%s: %s\r\n" % field for field in request.headers])
    # One match for all fields; counting lines makes sure no CR or LF hid inside one.
    if (_REQUEST_LINE.fullmatch(line) is None or _FIELDS.fullmatch(fields) is None
            or fields.count(b"\n") != len(request.headers)):
        raise UnsendableRequest(_why_unsendable(request))
    return line + fields + b"\r\n"


def _why_unsendable(request: RequestHead) -> str:
    """The first thing wrong with a request head, worded as h11 words it."""
    if _FIELD_NAME.fullmatch(request.method) is None:
        return f"Illegal method characters {request.method!r}"
    if _REQUEST_LINE.fullmatch(b"GET %s HTTP/1.1\r\n" % request.target) is None:
        return f"Illegal target characters {request.target!r}"
    for name, value in request.headers:
        if _FIELD_NAME.fullmatch(name) is None:
            return f"Illegal header name {name!r}"
        if _FIELD_VALUE.fullmatch(value) is None:
            return f"Illegal header value {value!r}"
    return "invalid request head"  # pragma: no cover - one of the above failed


class RequestBody:
    """Frames the request body for the upstream hop: chunked (RFC 9112 7.1), or checked
    against the Content-Length the head announced."""

    __slots__ = ("chunked", "left")

    def __init__(self, length: int) -> None:
        self.chunked = length == CHUNKED
        self.left = 0 if self.chunked else length   # bytes still due

    def data(self, chunk: bytes) -> bytes:
        """The bytes that carry `chunk` (UnsendableRequest past the announced length)."""
        if self.chunked:
            return b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunk else b""
        if len(chunk) > self.left:
            raise UnsendableRequest("Too much data for declared Content-Length")
        self.left -= len(chunk)
        return chunk

    def end(self) -> bytes:
        """The bytes that end the body (UnsendableRequest if it fell short of its length)."""
        if self.chunked:
            return b"0\r\n\r\n"
        if self.left:
            raise UnsendableRequest("Too little data for declared Content-Length")
        return b""

    def first(self, chunk: bytes, more: bool) -> bytes:
        """data(chunk), plus end() if it is the whole body: what goes with the head."""
        if not more and not self.chunked and len(chunk) == self.left:
            self.left = 0
            return chunk               # the common case: the whole body, as announced
        return self.data(chunk) + self.end() if not more else self.data(chunk)


def response_start(response: ResponseHead, date: Callable[[], bytes] | None = None
                   ) -> dict[str, Any]:
    """The http.response.start for an upstream response head, hop-by-hop fields removed.

    Content-Length passes through (it is end-to-end); Transfer-Encoding does not: the
    server in front re-frames the body for its own client. `date`: where to get a Date
    for a response that has none (RFC 9110 6.6.1), asked only then.
    """
    headers = strip_hop_by_hop(response.headers)
    if date is not None:
        for name, _ in headers:      # (a server usually sends Date first)
            if name == b"date":
                break
        else:
            headers.append((b"date", date()))
    return {"type": "http.response.start", "status": response.status_code,
            "headers": headers}


def body_messages(events: Iterable[Event]) -> list[dict[str, Any]]:
    """http.response.body messages for the body events one upstream read produced.

    One message per Data event, so chunk boundaries (SSE events) survive; the last one
    carries more_body=False when the batch ends the message, sparing a separate empty one.
    """
    messages: list[dict[str, Any]] = []
    for event in events:
        if type(event) is Data:
            messages.append({"type": "http.response.body", "body": event.data,
                             "more_body": True})
        elif type(event) is EndOfResponse:
            if messages:
                messages[-1]["more_body"] = False
            else:
                messages.append({"type": "http.response.body", "body": b"", "more_body": False})
    return messages


def error_messages(failure: UpstreamFailure, date: bytes) -> list[dict[str, Any]]:
    """A complete 502/504 response saying what happened, marked for the capture, dated
    `date` (an HTTP-date: RFC 9110 6.6.1 wants one on every response of a sender with
    a clock).

    The `x-inspector-error` header is how the failure shows up in the recorded messages.
    """
    phrase = HTTPStatus(failure.status).phrase
    body = f"{failure.status} {phrase}: {failure}\n".encode("utf-8", "replace")
    headers: Headers = [
        (b"date", date),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-inspector-error", failure.reason.encode("ascii", "replace")),
    ]
    return [{"type": "http.response.start", "status": failure.status, "headers": headers},
            {"type": "http.response.body", "body": body, "more_body": False}]
