"""Editing a recorded exchange before it is sent again: pure helpers, no UI, no I/O.

The dashboard's editor hands over what the user typed (method, request target, headers as
"name: value" lines, body text); `edited_exchange` turns it into a new `Exchange` that
replays like a recorded one. `json_error` says where a JSON body stops parsing, so the
editor can point at the line and column while the user types.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from inspector.replay.plan import Exchange

# Recomputed by the sender from the body actually sent (RFC 9112 section 6).
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})


def request_target(scope: dict[str, Any]) -> str:
    """The scope's path and query as one request target ("/items?q=1")."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else str(scope.get("path", "/"))
    query = scope.get("query_string") or b""
    return path + ("?" + query.decode("latin-1") if query else "")


def headers_text(scope: dict[str, Any]) -> str:
    """The scope's request headers as "name: value" lines (the editor's text)."""
    return "\n".join(f"{bytes(n).decode('latin-1')}: {bytes(v).decode('latin-1')}"
                     for n, v in scope.get("headers", []))


def parse_headers(text: str) -> list[tuple[bytes, bytes]]:
    """ "name: value" lines to ASGI header pairs; blank lines are skipped.

    Raises ValueError naming the first line that is not a header (RFC 9110 section 5.1:
    a field name is a non-empty token, so it has no spaces and no colon).
    """
    out: list[tuple[bytes, bytes]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or any(c.isspace() for c in name):
            raise ValueError(f"line {number}: expected 'name: value'")
        out.append((name.lower().encode("latin-1"), value.strip().encode("latin-1")))
    return out


def json_error(text: str) -> str | None:
    """None when `text` is valid JSON (or blank), else "line L, column C: why"."""
    if not text.strip():
        return None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    return None


def is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Does the content-type say JSON (application/json, application/problem+json...)?"""
    for name, value in headers:
        if name.lower() == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media.endswith((b"/json", b"+json"))
    return False


def edited_exchange(exchange: Exchange, method: str, target: str, headers_text: str,
                    body: str | bytes) -> Exchange:
    """`exchange` with the method, path+query, headers and body the user typed.

    The body becomes one http.request message; framing headers are dropped (the sender
    sets them from the body it sends). Raises ValueError for an empty method or target,
    or a line that is not a header.
    """
    method = method.strip().upper()
    target = target.strip()
    if not method or any(c.isspace() for c in method):
        raise ValueError("the method must be one word")
    if not target.startswith("/"):
        raise ValueError("the path must start with /")
    raw_path, _, query = target.partition("?")
    headers = [(n, v) for n, v in parse_headers(headers_text) if n not in _FRAMING]
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if data:
        headers.append((b"content-length", str(len(data)).encode()))
    scope = dict(exchange.scope)
    scope.update(method=method, path=unquote(raw_path), raw_path=raw_path.encode("latin-1"),
                 query_string=query.encode("latin-1"), headers=headers)
    return replace(exchange, scope=scope,
                   client_messages=[(0.0, {"type": "http.request", "body": data,
                                           "more_body": False})],
                   app_messages=0, body_cut=False)
