"""HTTP translation between ASGI messages and h11 events. Pure: no sockets, no loop.

The asyncio shell (`http.py`) moves bytes; everything it decides about what to send where
is here, so tests drive it with scopes, h11 events and lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import h11

from .errors import UpstreamFailure
from .headers import Headers, header_value, proxy_request_headers, strip_hop_by_hop
from .upstream import Upstream

__all__ = ["request_target", "build_request", "response_start", "body_messages",
           "error_messages"]


def request_target(scope: Mapping[str, Any]) -> bytes:
    """The request-target as the client sent it: raw path (else the quoted path) + query."""
    raw = scope.get("raw_path")
    if not raw:
        raw = quote(str(scope.get("path") or "/")).encode("ascii")
    raw = bytes(raw).partition(b"?")[0]
    query = scope.get("query_string") or b""
    return raw + b"?" + bytes(query) if query else raw


def _framing(headers: Headers, body: bytes, more_body: bool) -> Headers:
    """How the body crosses the upstream hop (RFC 9112 6): h11 needs it said in the head.

    The client's Content-Length is kept; a body that arrived whole gets its length; a body
    still streaming with no declared length goes chunked. A request that declared no body
    keeps declaring none.
    """
    length = header_value(headers, b"content-length")
    if length is not None:
        return [(b"content-length", length)]
    if not more_body:
        declared = any(n == b"transfer-encoding" for n, _ in headers)
        return [(b"content-length", str(len(body)).encode())] if body or declared else []
    return [(b"transfer-encoding", b"chunked")]


def build_request(scope: Mapping[str, Any], upstream: Upstream, *, body: bytes = b"",
                  more_body: bool = False, keep_host: bool = False,
                  forwarded: bool = False) -> h11.Request:
    """The h11 request head for an ASGI http scope whose first body chunk is `body`."""
    headers = proxy_request_headers(scope, upstream, keep_host=keep_host, forwarded=forwarded)
    headers = [(n, v) for n, v in headers if n != b"content-length"]
    headers.extend(_framing([(n.lower(), v) for n, v in scope.get("headers", ())],
                            body, more_body))
    return h11.Request(method=str(scope.get("method") or "GET").encode("ascii"),
                       target=request_target(scope), headers=headers)


def response_start(response: h11.Response) -> dict[str, Any]:
    """The http.response.start for an upstream response head, hop-by-hop fields removed.

    Content-Length passes through (it is end-to-end); Transfer-Encoding does not: the
    server in front re-frames the body for its own client.
    """
    return {"type": "http.response.start", "status": response.status_code,
            "headers": strip_hop_by_hop(response.headers)}


def body_messages(events: Iterable[h11.Data | h11.EndOfMessage]) -> list[dict[str, Any]]:
    """http.response.body messages for the body events one upstream read produced.

    One message per Data event, so chunk boundaries (SSE events) survive; the last one
    carries more_body=False when the batch ends the message, sparing a separate empty one.
    """
    messages: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, h11.Data):
            messages.append({"type": "http.response.body", "body": bytes(event.data),
                             "more_body": True})
        elif isinstance(event, h11.EndOfMessage):
            if messages:
                messages[-1]["more_body"] = False
            else:
                messages.append({"type": "http.response.body", "body": b"", "more_body": False})
    return messages


def error_messages(failure: UpstreamFailure) -> list[dict[str, Any]]:
    """A complete 502/504 response saying what happened, marked for the capture.

    The `x-inspector-error` header is how the failure shows up in the recorded messages.
    """
    phrase = HTTPStatus(failure.status).phrase
    body = f"{failure.status} {phrase}: {failure}\n".encode("utf-8", "replace")
    headers: Headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"x-inspector-error", failure.reason.encode("ascii", "replace")),
    ]
    return [{"type": "http.response.start", "status": failure.status, "headers": headers},
            {"type": "http.response.body", "body": body, "more_body": False}]
