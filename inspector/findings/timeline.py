"""What only a timeline shows: derived timings of one flow, and the findings over them.

A network proxy sees bytes; the record has a timestamp on every ASGI message, so it shows
what the app did around the response: work after the last byte (background tasks), work
after the client left, a request body it never read, and stalls inside a stream.

`Timeline` is the state every protocol checker shares (they subclass it), so the metrics
come out of the same single pass over the events as the rules; `metrics(events)` is that
pass for callers that want only the numbers. All pure.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from inspector.events.model import Event
from inspector.findings.finding import Collector

# Thresholds of the timeline findings, in seconds.
BACKGROUND = 0.1
WASTED = 1.0
STALL = 1.0


class Metrics(NamedTuple):
    background: float | None        # app's return - the response's last byte
    disconnect: float | None        # the client left before the response was complete
    sent_after_disconnect: int      # messages the app sent after that
    wasted: float | None            # app's return - the client's departure
    body_unread: bool               # answered before the request body's last chunk
    longest_gap: float | None       # between body chunks or WebSocket messages
    gap_seq: int | None             # the event that ended the longest gap


NONE = Metrics(None, None, 0, None, False, None, None)
_new = tuple.__new__      # a Metrics without the named tuple's Python-level __new__


class Timeline:
    """Timing state of one flow, filled in by the protocol checkers' handlers."""

    __slots__ = ("c", "done", "left", "after", "first_after", "last_more", "unread",
                 "prev", "gap", "gap_index", "exited", "disconnected", "ext", "concluded")

    def __init__(self, c: Collector, scope: dict[str, Any], ext: object) -> None:
        self.c = c
        self.ext = ext                           # scope["extensions"], or shapes.UNKNOWN
        self.done: float | None = None           # the response's last byte / app's close
        self.left: float | None = None           # the client left before `done`
        self.after = 0                           # sends after `left`
        self.first_after: int | None = None
        self.last_more: bool | None = None       # more_body of the last http.request read
        self.unread = False
        self.prev: float | None = None           # the last chunk or message
        self.gap = 0.0
        self.gap_index: int | None = None
        self.exited: float | None = None
        self.disconnected = False
        self.concluded: Metrics | None = None    # `check`'s metrics, once the flow is done

    def finish(self, exit_index: int | None) -> None:
        """After the flow's last event (`exit_index`: the app's exit event, if it returned):
        what the protocol's checker concludes; each checker says."""

    def client_left(self, event: Event) -> None:
        self.disconnected = True
        if self.done is None and self.left is None:
            self.left = event.time

    def tick(self, i: int, event: Event) -> None:
        """A body chunk or WebSocket message at index i: the stream's gaps."""
        prev = self.prev
        t = event.time
        if prev is not None and t - prev > self.gap:
            self.gap = t - prev
            self.gap_index = i
        self.prev = t

    def metrics(self) -> Metrics:
        exited, done, left = self.exited, self.done, self.left
        gap_index = self.gap_index
        return _new(Metrics, (
            exited - done if exited is not None and done is not None else None,
            left, self.after,
            exited - left if exited is not None and left is not None else None,
            self.unread,
            self.gap if gap_index is not None else None,
            self.c.events[gap_index].seq if gap_index is not None else None))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def check(s: Timeline, exit_index: int | None) -> None:
    """The timeline findings of one flow, from its checker's state."""
    c = s.c
    s.concluded = m = s.metrics()
    background, wasted, longest_gap = m.background, m.wasted, m.longest_gap
    if background is not None and background > BACKGROUND:
        c.add("TL001", f"the app returned {_ms(background)} after the response's last byte",
              exit_index)
    if s.after and s.first_after is not None:
        c.add("TL002", f"{s.after} message(s) sent after the client left", s.first_after)
    if wasted is not None and wasted > WASTED:
        c.add("TL003", f"the app ran {_ms(wasted)} after the client left", exit_index)
    if s.unread:
        c.add("TL004", "the response was complete before the last request body chunk was read",
              None)
    if longest_gap is not None and longest_gap > STALL:
        c.add("TL005", f"{_ms(longest_gap)} between two chunks/messages", s.gap_index)


def declares_body(scope: dict[str, Any]) -> bool:
    """The request headers announce a body: Content-Length above 0, or Transfer-Encoding."""
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
    """The timeline metrics of one flow's events (its scope first)."""
    from inspector.findings import run

    checker = run(events)
    return NONE if checker is None else checker.metrics()
