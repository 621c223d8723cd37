"""What only a timeline shows: derived timings of one flow, and the findings over them.

A network proxy sees bytes; the record has a timestamp on every ASGI message, so it shows
what the app did around the response: work after the last byte (background tasks), work
after the client left, a request body it never read, and stalls inside a stream. All pure:
`metrics(events)` reads the flow's events in order and nothing else.
"""

from __future__ import annotations

from typing import NamedTuple

from inspector.events import EXIT, RECEIVE, SCOPE, SEND, Event
from inspector.findings.finding import Collector

# Thresholds of the timeline findings, in seconds.
BACKGROUND = 0.1
WASTED = 1.0
STALL = 1.0

_FINAL_BODY = ("http.response.body", "websocket.http.response.body")
_STREAM = frozenset({"http.response.body", "websocket.send", "websocket.receive"})


class Metrics(NamedTuple):
    background: float | None        # app's return - the response's last byte
    disconnect: float | None        # the client left before the response was complete
    sent_after_disconnect: int      # messages the app sent after that
    wasted: float | None            # app's return - the client's departure
    body_unread: bool               # answered before the request body's last chunk
    longest_gap: float | None       # between body chunks or WebSocket messages
    gap_seq: int | None             # the event that ended the longest gap
    first_after_disconnect: int | None = None   # index of the first send after it


NONE = Metrics(None, None, 0, None, False, None, None)


def _declares_body(scope: object) -> bool:
    if not isinstance(scope, dict):
        return False
    headers = scope.get("headers")
    if not isinstance(headers, (list, tuple)):
        return False
    for pair in headers:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            continue
        name = name.lower()
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def metrics(events: list[Event]) -> Metrics:
    """The timeline metrics of one flow's events (the scope first)."""
    if not events or events[0].kind != SCOPE:
        return NONE
    scope = events[0].message
    kind = scope.get("type") if isinstance(scope, dict) else None
    if kind not in ("http", "websocket"):
        return NONE
    done: float | None = None            # the response's last byte / the app's close
    trailers = False
    body_final = False
    left: float | None = None
    after = 0
    first_after: int | None = None
    exited: float | None = None
    last_more: bool | None = None        # more_body of the last http.request read
    unread = False
    answered = False
    prev: float | None = None
    gap: float | None = None
    gap_seq: int | None = None
    for i, event in enumerate(events):
        k = event.kind
        msg = event.message
        t = msg.get("type") if isinstance(msg, dict) else None
        if k == SEND:
            if left is not None:
                after += 1
                if first_after is None:
                    first_after = i
            if t == "http.response.start":
                trailers = msg.get("trailers") is True
            if t in _FINAL_BODY and not msg.get("more_body", False) and done is None:
                body_final = True
                if not trailers:
                    done = event.time
            elif t == "http.response.trailers" and body_final and done is None \
                    and not msg.get("more_trailers", False):
                done = event.time
            elif t == "websocket.close" and done is None:
                done = event.time
            if done is not None and not answered:
                answered = True
                # Only a body the request declares: some clients (httpx's ASGITransport)
                # deliver an empty chunk with more_body=True before the final one.
                unread = kind == "http" and last_more is not False and _declares_body(scope)
        elif k == RECEIVE:
            if t == "http.request":
                last_more = msg.get("more_body", False) is True
            elif t in ("http.disconnect", "websocket.disconnect") and done is None \
                    and left is None:
                left = event.time
        elif k == EXIT:
            exited = event.time
            break
        if t in _STREAM or t == "http.response.start" or t == "websocket.accept":
            if prev is not None and t != "websocket.accept" and t != "http.response.start":
                g = event.time - prev
                if gap is None or g > gap:
                    gap, gap_seq = g, event.seq
            prev = event.time
    background = exited - done if exited is not None and done is not None else None
    wasted = exited - left if exited is not None and left is not None else None
    return Metrics(background, left, after, wasted, unread, gap, gap_seq, first_after)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def check(c: Collector, m: Metrics, exit_index: int | None) -> None:
    """The timeline findings of one flow, from its metrics."""
    if m.background is not None and m.background > BACKGROUND:
        c.add("TL001", f"the app returned {_ms(m.background)} after the response's last byte",
              exit_index)
    if m.sent_after_disconnect and m.first_after_disconnect is not None:
        c.add("TL002", f"{m.sent_after_disconnect} message(s) sent after the client left",
              m.first_after_disconnect)
    if m.wasted is not None and m.wasted > WASTED:
        c.add("TL003", f"the app ran {_ms(m.wasted)} after the client left", exit_index)
    if m.body_unread:
        c.add("TL004", "the response was complete before the last request body chunk was read",
              None)
    if m.longest_gap is not None and m.longest_gap > STALL and m.gap_seq is not None:
        index = next((i for i, e in enumerate(c.events) if e.seq == m.gap_seq), None)
        c.add("TL005", f"{_ms(m.longest_gap)} between two chunks/messages", index)
