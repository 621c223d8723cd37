"""Replay, the pure half: what to send again, and how a replay differs from its original.

A captured connection already holds everything a replay needs: the scope, and every
message the app received from the client, in order, with its time. `exchanges()` takes
them out of the events; `compare()` decides whether the replayed flow answers the same.
Sending is `inspector.replay.send` (in-process or over the network).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from inspector.events.model import Event
from inspector.flows.fold import REPLAY_KEY
from inspector.flows.model import COMPLETE, Flow

# Response headers that differ between two answers to the same request by nature.
VOLATILE_HEADERS = frozenset({"date", "server", "age", "expires", "last-modified", "etag",
                              "x-request-id", "x-runtime", "x-response-time", "set-cookie",
                              "content-length", "transfer-encoding", "connection",
                              "keep-alive"})


@dataclass
class Exchange:
    """One recorded connection, ready to be sent again."""

    source: str
    conn: int
    type: str                                  # "http" or "websocket"
    scope: dict[str, Any]
    # What the app received from the client, with its offset from the scope, in order:
    # http.request chunks, or websocket.connect / websocket.receive / websocket.disconnect.
    client_messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    # How many messages the app sent back to the client during the session (WebSocket):
    # a network replay waits for as many before it closes.
    app_messages: int = 0
    body_cut: bool = False                     # a request chunk was cut at capture time

    @property
    def not_replayable(self) -> str:
        """Why this exchange cannot be sent again faithfully ("" when it can)."""
        if self.body_cut:
            what = "a client message" if self.type == "websocket" else "request body"
            return (f"{what} was cut at capture: capture again with a larger "
                    "--body-limit to replay it")
        return ""

    @property
    def label(self) -> str:
        return f"{self.source}#{self.conn}" if self.source else f"#{self.conn}"

    def replay_scope(self) -> dict[str, Any]:
        """The scope to replay with: the original, marked as a replay of it."""
        scope = dict(self.scope)
        scope[REPLAY_KEY] = self.label
        return scope


def exchanges(events: Iterable[Event], source: str = "") -> list[Exchange]:
    """Every HTTP and WebSocket connection in `events` as an Exchange, in order."""
    found: dict[int, Exchange] = {}
    starts: dict[int, float] = {}
    for event in events:
        if event.kind == "scope":
            kind = event.message.get("type")
            if kind in ("http", "websocket"):
                found[event.conn] = Exchange(source, event.conn, kind, dict(event.message))
                starts[event.conn] = event.time
            continue
        exchange = found.get(event.conn)
        if exchange is None:
            continue
        mtype = event.message.get("type", "")
        if event.kind == "receive" and mtype != "http.disconnect":
            exchange.client_messages.append((event.time - starts[event.conn], dict(event.message)))
            if event.truncated is not None:
                exchange.body_cut = True
        elif event.kind == "send" and mtype == "websocket.send":
            exchange.app_messages += 1
    return list(found.values())


# -- comparing ---------------------------------------------------------------------------


@dataclass
class Comparison:
    """How a replayed flow differs from its original; `same` when it does not."""

    differences: list[str] = field(default_factory=list)
    body_diff: str = ""

    @property
    def same(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        return "same" if self.same else "differs: " + "; ".join(self.differences)


def _headers(flow: Flow, ignore: frozenset[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in flow.response_headers:
        key = name.decode("latin-1").lower()
        if key not in ignore:
            out.setdefault(key, []).append(value.decode("latin-1"))
    return out


def _content_type(flow: Flow) -> str:
    for name, value in flow.response_headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").lower()
    return ""


def _json_paths(a: Any, b: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ (up to a few places)."""
    if type(a) is not type(b):
        return [f"{path}: {json.dumps(a)[:60]} -> {json.dumps(b)[:60]}"]
    if isinstance(a, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}.{key}: added")
            elif key not in b:
                out.append(f"{path}.{key}: removed")
            else:
                out += _json_paths(a[key], b[key], f"{path}.{key}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items -> {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _json_paths(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {json.dumps(a)[:60]} -> {json.dumps(b)[:60]}"]


def compare_bodies(original: bytes, replayed: bytes, content_type: str = "") -> tuple[list[str], str]:
    """(differences, diff text): JSON structurally, text as a unified diff, else length+hash."""
    if original == replayed:
        return [], ""
    if "json" in content_type or original[:1] in (b"{", b"["):
        try:
            a, b = json.loads(original), json.loads(replayed)
        except ValueError:
            pass
        else:
            paths = _json_paths(a, b)
            if not paths:
                return [], ""   # same JSON, other formatting
            return [f"JSON body differs at {', '.join(paths[:3])}"
                    + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")], "\n".join(paths)
    try:
        a_text, b_text = original.decode("utf-8"), replayed.decode("utf-8")
    except UnicodeDecodeError:
        return [f"binary body differs: {len(original)} bytes sha256 "
                f"{hashlib.sha256(original).hexdigest()[:12]} -> {len(replayed)} bytes sha256 "
                f"{hashlib.sha256(replayed).hexdigest()[:12]}"], ""
    diff = "\n".join(difflib.unified_diff(a_text.splitlines(), b_text.splitlines(),
                                          "original", "replay", lineterm=""))
    return ["text body differs"], diff


def compare(original: Flow, replayed: Flow,
            ignore_headers: Iterable[str] = VOLATILE_HEADERS, *,
            seen_by: str = "app") -> Comparison:
    """Does the replay answer as the original did? Status, headers, body, WebSocket messages.

    `original` is always the app's side of a connection (a capture). `seen_by` says what
    `replayed` records: "app" (an in-process replay: the app's side too) or "client" (a
    network replay: what a client received). A client sees neither an exception nor a
    HEAD's body, so then the original is compared as a client would have seen it.
    """
    ignore = frozenset(h.lower() for h in ignore_headers)
    if seen_by == "client" and original.type == "http":
        return _compare_as_client(original, replayed, ignore)
    result = Comparison()
    if original.status != replayed.status:
        result.differences.append(f"status {original.status} -> {replayed.status}")
    if seen_by == "app" and (original.exception is None) != (replayed.exception is None):
        what = replayed.exception.type if replayed.exception else "none"
        result.differences.append(f"app exception {original.exception.type if original.exception else 'none'} -> {what}")
    a, b = _headers(original, ignore), _headers(replayed, ignore)
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            result.differences.append(f"header {name}: {a.get(name)} -> {b.get(name)}")
    if original.type == "websocket":
        _compare_messages(original, replayed, result)
        return result
    _compare_body(original, replayed, result)
    return result


def _compare_body(original: Flow, replayed: Flow, result: Comparison) -> None:
    if original.response_body_truncated or replayed.response_body_truncated:
        if original.response_body_size != replayed.response_body_size:
            result.differences.append(f"body size {original.response_body_size} -> "
                                      f"{replayed.response_body_size}")
        return
    diffs, text = compare_bodies(original.response_body, replayed.response_body,
                                 _content_type(original))
    result.differences += diffs
    result.body_diff = text


# What a client over the network observes of an HTTP exchange.
SERVER_ERROR = "error response from the server"   # the app never started a response
CUT = "connection cut"                            # the response started, never finished
ANSWERED = "full response"
NO_RESPONSE = "no response"


def client_outcome(flow: Flow, side: str) -> str:
    """How the exchange ended for its client. `side`: what `flow` records, "app" or
    "client". On the app's side, a response never started is the server's 500 (uvicorn
    answers an exception, or a return without a response, so), and a response started
    and never finished is a connection the server closes mid-response."""
    if flow.status is None:
        return SERVER_ERROR if side == "app" else NO_RESPONSE
    return ANSWERED if flow.state == COMPLETE else CUT


def _compare_as_client(original: Flow, replayed: Flow, ignore: frozenset[str]) -> Comparison:
    result = Comparison()
    expected = client_outcome(original, "app")
    got = client_outcome(replayed, "client")
    status = 500 if expected == SERVER_ERROR else original.status
    if status != replayed.status:
        result.differences.append(f"status {status} -> {replayed.status}")
    if expected == SERVER_ERROR:
        # The server wrote that answer, not the app: only its status is the app's doing.
        if got != ANSWERED:
            result.differences.append(f"{expected} -> {got}")
        return result
    if expected != got:
        result.differences.append(f"{expected} -> {got}")
    a, b = _headers(original, ignore), _headers(replayed, ignore)
    if got != NO_RESPONSE:
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                result.differences.append(f"header {name}: {a.get(name)} -> {b.get(name)}")
    # A cut body is however much got through before the cut; a HEAD has none on the wire
    # (the server drops what the app sends).
    if expected == got == ANSWERED and original.method.upper() != "HEAD":
        _compare_body(original, replayed, result)
    return result


def _compare_messages(original: Flow, replayed: Flow, result: Comparison) -> None:
    a = [m for m in original.messages if m.direction == "out"]
    b = [m for m in replayed.messages if m.direction == "out"]
    if len(a) != len(b):
        result.differences.append(f"{len(a)} messages from the app -> {len(b)}")
    lines = []
    for i, (x, y) in enumerate(zip(a, b)):
        if (x.text, x.data) != (y.text, y.data):
            shown_x = x.text if x.text is not None else repr(x.data)
            shown_y = y.text if y.text is not None else repr(y.data)
            lines.append(f"message {i + 1}: {shown_x[:60]} -> {shown_y[:60]}")
    if lines:
        result.differences.append(f"{len(lines)} app messages differ")
        result.body_diff = "\n".join(lines)
    if original.close_code != replayed.close_code and original.closed_by == "app":
        result.differences.append(f"close code {original.close_code} -> {replayed.close_code}")
