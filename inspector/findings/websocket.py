"""The WebSocket checker: the handshake and session state machine over one flow's events.

    connecting --accept--> open --close--> closed
    connecting --close--> closed (refused: the server answers 403)
    connecting --websocket.http.response.start--> denying --body(more_body=False)--> closed

One handler per message type, checking shape and state at once. A send that does not fit
the state is a finding at its event. The subprotocol accepted must be one the client
offered (scope "subprotocols"). Messages of an open session that can find nothing
(`messages` says which) only count in the gaps, so the message handlers take the run of
such messages after theirs in one loop.
"""

from __future__ import annotations

from typing import Any, Callable

from inspector.events.model import RECEIVE as RECEIVE_KIND
from inspector.events.model import SEND as SEND_KIND
from inspector.events.model import Event
from inspector.findings import shapes
from inspector.findings.finding import Collector
from inspector.findings.timeline import Timeline

CONNECTING, OPEN, DENYING, CLOSED = "connecting", "open", "denying", "closed"


class WebSocketChecker(Timeline):
    __slots__ = ("offered", "state", "accepted", "closed")

    def __init__(self, c: Collector, scope: dict[str, Any], ext: object) -> None:
        Timeline.__init__(self, c, scope, ext)
        protocols = scope.get("subprotocols", [])
        self.offered = [p for p in protocols if type(p) is str] \
            if isinstance(protocols, (list, tuple)) and protocols else []
        self.state = CONNECTING
        self.accepted: int | None = None     # index of the accept
        self.closed: int | None = None       # index of the app's close / final denial body

    def after_close(self, i: int, t: str) -> bool:
        if self.state != CLOSED:
            return False
        first = self.c.events[self.closed].seq if self.closed is not None else "?"
        self.c.add("WM003", f"{t} after the connection was closed (at seq {first})", i)
        return True

    def close(self, i: int, event: Event) -> None:
        self.state, self.closed = CLOSED, i
        if self.done is None:
            self.done = event.time

    def finish(self, exit_index: int | None) -> None:
        c = self.c
        if exit_index is None or self.state in (OPEN, CLOSED) or self.disconnected:
            return
        message = c.events[exit_index].message
        exc = message.get("exception") if isinstance(message, dict) else None
        if exc and c.refused:
            return      # the raise is the server refusing a message a finding names
        if exc:
            kind = exc.get("type", "Exception") if isinstance(exc, dict) else "Exception"
            c.add("WM006", f"the app raised {kind} before answering the handshake", exit_index)
        else:
            c.add("WM005", "the app returned without websocket.accept or websocket.close",
                  exit_index)


# A handler returns None, or the index of the last event it took (`run` goes on after it).
Handler = Callable[[WebSocketChecker, int, Event, dict[str, Any]], int | None]


def _connect(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    return None


def _receive(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> int | None:
    data, text = msg.get("bytes"), msg.get("text")
    if not ((type(text) is str and data is None) or (type(data) is bytes and text is None)):
        shapes.ws_receive(s.c, i, msg)
    s.tick(i, event)
    return messages(s, i + 1) if s.state == OPEN and s.left is None else None


def _disconnect(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    s.client_left(event)


def _send(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> int | None:
    """The hot path: most events of a session are messages. Takes the plain messages that
    follow it too (`messages`)."""
    data, text = msg.get("bytes"), msg.get("text")
    if not ((type(text) is str and data is None) or (type(data) is bytes and text is None)):
        shapes.ws_send(s.c, i, msg)
    if s.state != OPEN and not s.after_close(i, "websocket.send"):
        s.c.add("WM001", "websocket.send before websocket.accept", i)
    s.tick(i, event)
    return messages(s, i + 1) if s.state == OPEN and s.left is None else None


def messages(s: WebSocketChecker, i: int) -> int | None:
    """The plain messages from index i on, taken as `_receive` and `_send` would take them
    one by one: a websocket.receive received or a websocket.send sent, with a str 'text'
    and no 'bytes' or a bytes 'bytes' and no 'text'. Called while the session is open and
    the client is there: such a message then finds nothing and only counts in the gaps.
    Stops at the first other event; returns the index of the last message taken, or None.
    """
    events = s.c.events
    n = len(events)
    prev, gap, gap_index = s.prev, s.gap, s.gap_index
    for j in range(i, n):
        _, _, now, kind, msg, _ = events[j]          # an Event's fields, in one step
        if type(msg) is not dict:
            break
        t = msg.get("type")
        if kind == SEND_KIND:
            if t != "websocket.send":
                break
        elif kind != RECEIVE_KIND or t != "websocket.receive":
            break
        data, text = msg.get("bytes"), msg.get("text")
        if not ((type(text) is str and data is None) or (type(data) is bytes and text is None)) \
                or type(t) is not str:
            break
        if prev is not None and now - prev > gap:
            gap = now - prev
            gap_index = j
        prev = now
    else:
        j = n
    s.prev, s.gap, s.gap_index = prev, gap, gap_index
    return j - 1 if j > i else None


def _accept(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    c = s.c
    shapes.ws_accept(c, i, msg)
    if s.after_close(i, "websocket.accept"):
        return
    if s.state == OPEN:
        c.add("WM002", f"websocket.accept sent again (first at seq "
                       f"{c.events[s.accepted or 0].seq})", i)
    elif s.state == DENYING:
        c.add("WM004", "websocket.accept after a denial response started", i)
    else:
        s.state, s.accepted = OPEN, i
        s.prev = event.time
        sub = msg.get("subprotocol")
        if type(sub) is str and sub not in s.offered:
            c.add("WE006", f"accepted subprotocol {sub!r}; the client offered "
                           f"{s.offered!r}", i)


def _close(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    shapes.ws_close(s.c, i, msg)
    if s.after_close(i, "websocket.close"):
        return
    if s.state == DENYING:
        s.c.add("WM004", "websocket.close in the middle of a denial response", i)
    s.close(i, event)


def _denial_start(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    t = "websocket.http.response.start"
    shapes.extension(s.c, i, t, s.ext)
    shapes.start(s.c, i, t, msg, s.ext)
    if s.after_close(i, t):
        return
    if s.state == OPEN:
        s.c.add("WM004", "a denial response after websocket.accept", i)
    elif s.state == DENYING:
        s.c.add("WM007", "websocket.http.response.start sent again", i)
    else:
        s.state = DENYING


def _denial_body(s: WebSocketChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    t = "websocket.http.response.body"
    shapes.extension(s.c, i, t, s.ext)
    if "body" in msg and type(msg["body"]) is not bytes:
        s.c.add("HE003", f"{t} 'body' is {msg['body']!r:.60}", i)
    shapes.flag(s.c, i, msg, "more_body")
    if s.after_close(i, t):
        return
    if s.state != DENYING:
        s.c.add("WM007", f"{t} before its start" if s.state == CONNECTING
                else f"{t} after websocket.accept", i)
    elif not msg.get("more_body", False):
        s.close(i, event)


RECEIVE: dict[str, Handler] = {"websocket.connect": _connect, "websocket.receive": _receive,
                               "websocket.disconnect": _disconnect}
SEND: dict[str, Handler] = {
    "websocket.accept": _accept,
    "websocket.send": _send,
    "websocket.close": _close,
    "websocket.http.response.start": _denial_start,
    "websocket.http.response.body": _denial_body,
}
