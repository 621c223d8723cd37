"""The lifespan checker: startup and shutdown in order, over the lifespan flow's events.

    idle --lifespan.startup--> starting --startup.complete/.failed--> running
    running --lifespan.shutdown--> stopping --shutdown.complete/.failed--> done

Raising on the lifespan scope before answering startup is how an app says it has no
lifespan support (the server carries on): an info, not an error.
"""

from __future__ import annotations

from typing import Any, Callable

from inspector.events.model import Event
from inspector.findings import shapes
from inspector.findings.finding import Collector
from inspector.findings.timeline import Timeline


class LifespanChecker(Timeline):
    __slots__ = ("startup_asked", "startup_answer", "shutdown_asked", "shutdown_answer")

    def __init__(self, c: Collector, scope: dict[str, Any], ext: object) -> None:
        Timeline.__init__(self, c, scope, ext)
        self.startup_asked = False
        self.startup_answer: int | None = None
        self.shutdown_asked = False
        self.shutdown_answer: int | None = None

    def finish(self, exit_index: int | None) -> None:
        c = self.c
        if exit_index is None:
            return
        message = c.events[exit_index].message
        exc = message.get("exception") if isinstance(message, dict) else None
        if self.startup_answer is None:
            if exc:
                c.add("LM006", "the app raised on the lifespan scope", exit_index)
            elif self.startup_asked:
                c.add("LM005", "the app returned without answering lifespan.startup",
                      exit_index)
            return
        failed = c.events[self.startup_answer].message["type"] == "lifespan.startup.failed"
        if self.shutdown_answer is None and not self.shutdown_asked and not failed:
            c.add("LM007", "the app returned from the lifespan before lifespan.shutdown",
                  exit_index)


Handler = Callable[[LifespanChecker, int, Event, dict[str, Any]], None]


def _startup(s: LifespanChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    s.startup_asked = True


def _shutdown(s: LifespanChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    s.shutdown_asked = True


def _answer(s: LifespanChecker, i: int, event: Event, msg: dict[str, Any]) -> None:
    c = s.c
    t = msg["type"]
    if t.endswith(".failed"):
        shapes.failed(c, i, t, msg)
    if s.shutdown_answer is not None:
        c.add("LM004", f"{t} after the shutdown was answered", i)
    elif t.startswith("lifespan.startup."):
        if not s.startup_asked:
            c.add("LM001", f"{t} before lifespan.startup was received", i)
        elif s.startup_answer is not None:
            c.add("LM002", f"{t}: startup already answered at seq "
                           f"{c.events[s.startup_answer].seq}", i)
            return
        s.startup_answer = i
    else:
        if not s.shutdown_asked:
            c.add("LM003", f"{t} before lifespan.shutdown was received", i)
        s.shutdown_answer = i


RECEIVE: dict[str, Handler] = {"lifespan.startup": _startup, "lifespan.shutdown": _shutdown}
SEND: dict[str, Handler] = {t: _answer for t in (
    "lifespan.startup.complete", "lifespan.startup.failed",
    "lifespan.shutdown.complete", "lifespan.shutdown.failed")}
