"""The HTTP checker: the response state machine and HTTP semantics, over one flow's events.

States of the response, as the app's sends move it (ASGI www spec, extensions):

    waiting --start--> started --body(more_body=False)--> complete
                                   (trailers=True: --trailers(more_trailers=False)--> complete)

Every send that does not fit the current state is a finding, pointing at its event. The
semantics checks read the start's status and headers and the bytes that followed it.
"""

from __future__ import annotations

import re
from typing import Any

from inspector.events import EXIT, RECEIVE, SEND, Event
from inspector.findings.finding import Collector, short
from inspector.findings.shapes import headers_ok

NO_BODY_STATUS = (204, 304)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


class HttpChecker:
    """Feed it a flow's events in order (`step`), then `finish`."""

    def __init__(self, c: Collector, scope: dict[str, Any]) -> None:
        self.c = c
        method = scope.get("method")
        self.head = type(method) is str and method.upper() == "HEAD"
        self.start: int | None = None        # index of http.response.start
        self.status: int | None = None
        self.length: int | None = None       # a valid Content-Length
        self.trailers = False                # announced
        self.body_done: int | None = None    # index of the final body (or pathsend)
        self.trailers_done = False
        self.complete = False
        self.sent = 0                        # body bytes, counting bytes the capture cut
        self.sized = True                    # every body byte is counted (no zerocopy)
        self.disconnected = False

    def step(self, i: int, event: Event, t: str) -> None:
        msg = event.message
        if event.kind == RECEIVE:
            if t == "http.disconnect":
                self.disconnected = True
            return
        if event.kind != SEND:
            return
        if t == "http.response.start":
            self._start(i, msg)
        elif t in ("http.response.body", "http.response.zerocopy", "http.response.pathsend"):
            self._body(i, event, t, msg)
        elif t == "http.response.trailers":
            self._trailers(i, msg)

    def _start(self, i: int, msg: dict[str, Any]) -> None:
        c = self.c
        if self.complete:
            c.add("HM003", "http.response.start after the response was complete", i)
            return
        if self.start is not None:
            c.add("HM001", "http.response.start sent again (first at seq "
                           f"{c.events[self.start].seq})", i)
            return
        self.start = i
        status = msg.get("status")
        self.status = status if type(status) is int else None
        self.trailers = msg.get("trailers") is True
        if self.status is not None and not 100 <= self.status <= 599:
            c.add("SEM007", f"status {self.status}", i)
        headers = msg.get("headers", [])
        if headers_ok(headers):
            self._headers(i, headers)

    def _headers(self, i: int, headers: list[Any]) -> None:
        c = self.c
        upper: list[bytes] = []
        types = 0
        lengths: list[bytes] = []
        for name, value in headers:
            low = name.lower()
            if low != name:
                upper.append(name)
            if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                c.add("SEM009", f"header {short(name)}: {short(value)}", i)
            if low == b"transfer-encoding":
                c.add("SEM004", f"the app set transfer-encoding: {short(value)}", i)
            elif low == b"content-type":
                types += 1
            elif low == b"content-length":
                lengths.append(value.strip())
        if upper:
            c.add("SEM006", f"response header names not lowercase: {short(upper)}", i)
        if types > 1:
            c.add("SEM005", f"{types} content-type headers", i)
        if lengths:
            distinct = set(lengths)
            value = lengths[0]
            if len(distinct) > 1 or not value.isdigit():
                c.add("SEM008", f"content-length {short(lengths)}", i)
            else:
                self.length = int(value)

    def _body(self, i: int, event: Event, t: str, msg: dict[str, Any]) -> None:
        c = self.c
        if self.complete or self.body_done is not None:
            c.add("HM003", f"{t} after the final body (seq {c.events[self.body_done].seq})"
                  if self.body_done is not None else f"{t} after the response was complete", i)
            return
        if self.start is None:
            c.add("HM002", f"{t} before http.response.start", i)
            return
        if t == "http.response.body":
            body = msg.get("body", b"")
            n = len(body) if isinstance(body, (bytes, bytearray, str)) else 0
            cut = event.truncated
            if type(cut) is int and cut > n:
                n = cut
            if n and self.sent == 0:
                if self.status is not None and (100 <= self.status < 200
                                                or self.status in NO_BODY_STATUS):
                    c.add("SEM002", f"{n} body bytes on a {self.status} response", i)
                elif self.head:
                    c.add("SEM003", f"{n} body bytes in the response to HEAD", i)
            self.sent += n
        else:
            self.sized = False
        if t == "http.response.pathsend" or not msg.get("more_body", False):
            self.body_done = i
            if not self.trailers:
                self.complete = True
            self._length(i)

    def _length(self, i: int) -> None:
        if self.length is None or not self.sized or self.head:
            return
        if self.status is not None and (self.status < 200 or self.status in NO_BODY_STATUS):
            return
        if self.length != self.sent:
            self.c.add("SEM001", f"content-length {self.length}, body {self.sent} bytes", i)

    def _trailers(self, i: int, msg: dict[str, Any]) -> None:
        c = self.c
        if self.complete or self.trailers_done:
            c.add("HM003", "http.response.trailers after the response was complete", i)
            return
        if not self.trailers:
            c.add("HM005", "http.response.trailers without trailers=True in the start", i)
            return
        if self.body_done is None:
            c.add("HM006", "http.response.trailers before the final body", i)
            return
        if not msg.get("more_trailers", False):
            self.trailers_done = True
            self.complete = True

    def finish(self, exit_index: int | None) -> None:
        """After the last event; `exit_index` is the app's exit event, if it returned."""
        c = self.c
        if exit_index is None or self.complete:
            return
        if self.trailers and self.body_done is not None:
            c.add("HM004", "trailers announced, the final http.response.trailers never sent",
                  self.body_done)
            return
        if self.disconnected:
            return      # the client left first: nothing was left to complete for
        exc = c.events[exit_index].message.get("exception") \
            if isinstance(c.events[exit_index].message, dict) else None
        where = ("before http.response.start" if self.start is None
                 else "before the final http.response.body")
        if exc and c.refused:
            return      # the raise is the server refusing a message a finding names
        if exc:
            kind = exc.get("type", "Exception") if isinstance(exc, dict) else "Exception"
            c.add("HM008", f"the app raised {kind} {where}", exit_index)
        else:
            c.add("HM007", f"the app returned {where}", exit_index)


def exit_index(events: list[Event]) -> int | None:
    for i in range(len(events) - 1, 0, -1):
        if events[i].kind == EXIT:
            return i
    return None
