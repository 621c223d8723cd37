"""The HTTP checker: the response state machine and HTTP semantics, over one flow's events.

States of the response, as the app's sends move it (ASGI www spec, extensions):

    waiting --start--> started --body(more_body=False)--> complete
                                   (trailers=True: --trailers(more_trailers=False)--> complete)

One handler per message type (`RECEIVE`, `SEND`), each checking the message's shape, its
place in the state machine and its HTTP semantics at once: one call per event. Every send
that does not fit the current state is a finding pointing at its event. The middle of a
streamed body is the exception: a chunk that can find nothing (`chunks` says which) only
counts, so the body handler takes the run of such chunks after it in one loop.
Response header semantics are `inspector.findings.headers`.
"""

from __future__ import annotations

from typing import Any, Callable

from inspector.events.model import SEND as SEND_KIND
from inspector.events.model import Event
from inspector.findings import shapes
from inspector.findings.finding import Collector, short
from inspector.findings.headers import response_headers
from inspector.findings.timeline import Timeline, declares_body

NO_BODY_STATUS = (204, 304)


class HttpChecker(Timeline):
    __slots__ = ("scope", "head", "start", "status", "length", "trailers", "body_done",
                 "trailers_done", "complete", "sent", "sized")

    def __init__(self, c: Collector, scope: dict[str, Any], ext: object) -> None:
        Timeline.__init__(self, c, scope, ext)
        self.scope = scope
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

    def completed(self, event: Event) -> None:
        self.complete = True
        self.done = event.time
        self.unread = self.last_more is not False and declares_body(self.scope)

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
        message = c.events[exit_index].message
        exc = message.get("exception") if isinstance(message, dict) else None
        where = ("before http.response.start" if self.start is None
                 else "before the final http.response.body")
        if exc and c.refused:
            return      # the raise is the server refusing a message a finding names
        if exc:
            kind = exc.get("type", "Exception") if isinstance(exc, dict) else "Exception"
            c.add("HM008", f"the app raised {kind} {where}", exit_index)
        else:
            c.add("HM007", f"the app returned {where}", exit_index)


# A handler returns None, or the index of the last event it took (`run` goes on after it).
Handler = Callable[[HttpChecker, int, Event, dict[str, Any]], int | None]


def _request(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    more = msg.get("more_body", False)
    if type(msg.get("body", b"")) is not bytes or (more is not True and more is not False):
        s.c.add("HE005", f"http.request body={short(msg.get('body'))} "
                         f"more_body={short(more)}", i)
    s.last_more = more is True


def _disconnect(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    s.client_left(event)


def _start(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    c = s.c
    headers_fine = shapes.start(c, i, "http.response.start", msg, s.ext)
    if s.complete:
        c.add("HM003", "http.response.start after the response was complete", i)
        return
    if s.start is not None:
        c.add("HM001", f"http.response.start sent again (first at seq "
                       f"{c.events[s.start].seq})", i)
        return
    s.start = i
    s.prev = event.time
    status = msg.get("status")
    if type(status) is int:
        s.status = status
        if not 100 <= status <= 599:
            c.add("SEM007", f"status {status}", i)
    s.trailers = msg.get("trailers") is True
    headers = msg.get("headers")
    if headers and headers_fine:
        s.length = response_headers(c, i, headers)


def _out_of_order(s: HttpChecker, i: int, t: str) -> bool:
    """HM003/HM002 for a body-like message that does not fit; True when it does not."""
    c = s.c
    if s.complete or s.body_done is not None:
        c.add("HM003", f"{t} after the final body (seq {c.events[s.body_done].seq})"
              if s.body_done is not None else f"{t} after the response was complete", i)
        return True
    if s.start is None:
        c.add("HM002", f"{t} before http.response.start", i)
        return True
    return False


def _body(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> int | None:
    """The hot path: most events of a streamed response are body chunks. Takes the plain
    chunks that follow it too (`chunks`)."""
    body = msg.get("body", b"")
    more = msg.get("more_body", False)
    if type(body) is not bytes:
        s.c.add("HE003", f"http.response.body 'body' is {short(body)}", i)
        body = body if isinstance(body, (bytes, bytearray, str)) else b""
    if more is not True and more is not False:
        shapes.flag(s.c, i, msg, "more_body")
    if (s.complete or s.body_done is not None or s.start is None) \
            and _out_of_order(s, i, "http.response.body"):
        return None
    n = len(body)
    cut = event.truncated
    if cut is not None and type(cut) is int and cut > n:
        n = cut
    if n and not s.sent:
        status = s.status
        if status is not None and (100 <= status < 200 or status in NO_BODY_STATUS):
            s.c.add("SEM002", f"{n} body bytes on a {status} response", i)
        elif s.head:
            s.c.add("SEM003", f"{n} body bytes in the response to HEAD", i)
    s.sent += n
    t = event.time                       # Timeline.tick, inlined: the hottest handler
    prev = s.prev
    if prev is not None and t - prev > s.gap:
        s.gap = t - prev
        s.gap_index = i
    s.prev = t
    if not more:
        _final(s, i, event)
    elif s.sent and s.left is None:
        return chunks(s, i + 1)
    return None


def chunks(s: HttpChecker, i: int) -> int | None:
    """The plain middle chunks from index i on, taken as `_body` would take them one by
    one: sends of http.response.body with a bytes body, more_body=True and nothing cut.
    Called in the middle of the response (started, not final) once a body byte was sent
    and while the client is there: such a chunk then finds nothing and only counts its
    bytes and the stream's gap. Stops at the first other event; returns the index of the
    last chunk taken, or None."""
    events = s.c.events
    n = len(events)
    sent, prev, gap, gap_index = s.sent, s.prev, s.gap, s.gap_index
    for j in range(i, n):
        _, _, now, kind, msg, cut = events[j]        # an Event's fields, in one step
        if kind != SEND_KIND or type(msg) is not dict or cut is not None:
            break
        try:
            t = msg["type"]
            more = msg["more_body"]
            body = msg["body"]
        except KeyError:
            break
        if more is not True or t != "http.response.body" or type(body) is not bytes \
                or type(t) is not str:
            break
        sent += len(body)
        if prev is not None and now - prev > gap:
            gap = now - prev
            gap_index = j
        prev = now
    else:
        j = n
    s.sent, s.prev, s.gap, s.gap_index = sent, prev, gap, gap_index
    return j - 1 if j > i else None


def _final(s: HttpChecker, i: int, event: Event) -> None:
    s.body_done = i
    if not s.trailers:
        s.completed(event)
    if s.length is None or not s.sized or s.head:
        return
    if s.status is not None and (s.status < 200 or s.status in NO_BODY_STATUS):
        return
    if s.length != s.sent:
        s.c.add("SEM001", f"content-length {s.length}, body {s.sent} bytes", i)


def _zerocopy(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    shapes.extension(s.c, i, "http.response.zerocopy", s.ext)
    shapes.flag(s.c, i, msg, "more_body")
    if _out_of_order(s, i, "http.response.zerocopy"):
        return
    s.sized = False
    s.tick(i, event)
    if not msg.get("more_body", False):
        _final(s, i, event)


def _pathsend(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    shapes.extension(s.c, i, "http.response.pathsend", s.ext)
    shapes.pathsend(s.c, i, msg)
    if _out_of_order(s, i, "http.response.pathsend"):
        return
    s.sized = False
    _final(s, i, event)


def _trailers(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    c = s.c
    shapes.extension(c, i, "http.response.trailers", s.ext)
    shapes.trailers(c, i, msg)
    if s.complete or s.trailers_done:
        c.add("HM003", "http.response.trailers after the response was complete", i)
    elif not s.trailers:
        c.add("HM005", "http.response.trailers without trailers=True in the start", i)
    elif s.body_done is None:
        c.add("HM006", "http.response.trailers before the final body", i)
    elif not msg.get("more_trailers", False):
        s.trailers_done = True
        s.completed(event)


def _extension_only(t: str) -> Handler:
    def handler(s: HttpChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
        shapes.extension(s.c, i, t, s.ext)
    return handler


RECEIVE: dict[str, Handler] = {"http.request": _request, "http.disconnect": _disconnect}
SEND: dict[str, Handler] = {
    "http.response.start": _start,
    "http.response.body": _body,
    "http.response.trailers": _trailers,
    "http.response.pathsend": _pathsend,
    "http.response.zerocopy": _zerocopy,
    **{t: _extension_only(t) for t in ("http.response.early_hint", "http.response.debug",
                                        "http.response.push")},
}
