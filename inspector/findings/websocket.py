"""The WebSocket checker: the handshake and session state machine over one flow's events.

    connecting --accept--> open --close--> closed
    connecting --close--> closed (refused: the server answers 403)
    connecting --websocket.http.response.start--> denying --body(more_body=False)--> closed

A send that does not fit the state is a finding at its event. The subprotocol accepted
must be one the client offered (scope "subprotocols").
"""

from __future__ import annotations

from typing import Any

from inspector.events import RECEIVE, SEND, Event
from inspector.findings.finding import Collector

CONNECTING, OPEN, DENYING, CLOSED = "connecting", "open", "denying", "closed"


class WebSocketChecker:
    def __init__(self, c: Collector, scope: dict[str, Any]) -> None:
        self.c = c
        protocols = scope.get("subprotocols", [])
        self.offered = [p for p in protocols if type(p) is str] \
            if isinstance(protocols, (list, tuple)) else []
        self.state = CONNECTING
        self.accepted: int | None = None     # index of the accept
        self.closed: int | None = None       # index of the app's close / final denial body
        self.disconnected = False

    def step(self, i: int, event: Event, t: str) -> None:
        if event.kind == RECEIVE:
            if t == "websocket.disconnect":
                self.disconnected = True
            return
        if event.kind != SEND:
            return
        c, state, msg = self.c, self.state, event.message
        if state == CLOSED:
            first = c.events[self.closed].seq if self.closed is not None else "?"
            c.add("WM003", f"{t} after the connection was closed (at seq {first})", i)
            return
        if t == "websocket.accept":
            if state == OPEN:
                c.add("WM002", "websocket.accept sent again (first at seq "
                               f"{c.events[self.accepted or 0].seq})", i)
            elif state == DENYING:
                c.add("WM004", "websocket.accept after a denial response started", i)
            else:
                self.state, self.accepted = OPEN, i
                sub = msg.get("subprotocol")
                if type(sub) is str and sub not in self.offered:
                    c.add("WE006", f"accepted subprotocol {sub!r}; the client offered "
                                   f"{self.offered!r}", i)
        elif t == "websocket.send":
            if state != OPEN:
                c.add("WM001", "websocket.send before websocket.accept", i)
        elif t == "websocket.close":
            if state == DENYING:
                c.add("WM004", "websocket.close in the middle of a denial response", i)
            self.state, self.closed = CLOSED, i
        elif t == "websocket.http.response.start":
            if state == OPEN:
                c.add("WM004", "a denial response after websocket.accept", i)
            elif state == DENYING:
                c.add("WM007", "websocket.http.response.start sent again", i)
            else:
                self.state = DENYING
        elif t == "websocket.http.response.body":
            if state != DENYING:
                c.add("WM007", "websocket.http.response.body before its start"
                      if state == CONNECTING else
                      "websocket.http.response.body after websocket.accept", i)
            elif not msg.get("more_body", False):
                self.state, self.closed = CLOSED, i

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
