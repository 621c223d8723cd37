"""The lifespan checker: startup and shutdown in order, over the lifespan flow's events.

    idle --lifespan.startup--> starting --startup.complete/.failed--> running
    running --lifespan.shutdown--> stopping --shutdown.complete/.failed--> done

Raising on the lifespan scope before answering startup is how an app says it has no
lifespan support (the server carries on): an info, not an error.
"""

from __future__ import annotations

from typing import Any

from inspector.events import RECEIVE, SEND, Event
from inspector.findings.finding import Collector


class LifespanChecker:
    def __init__(self, c: Collector, scope: dict[str, Any]) -> None:
        self.c = c
        self.startup_asked = False
        self.startup_answer: int | None = None
        self.shutdown_asked = False
        self.shutdown_answer: int | None = None

    def step(self, i: int, event: Event, t: str) -> None:
        c = self.c
        if event.kind == RECEIVE:
            if t == "lifespan.startup":
                self.startup_asked = True
            elif t == "lifespan.shutdown":
                self.shutdown_asked = True
            return
        if event.kind != SEND:
            return
        if self.shutdown_answer is not None:
            c.add("LM004", f"{t} after the shutdown was answered", i)
            return
        if t.startswith("lifespan.startup."):
            if not self.startup_asked:
                c.add("LM001", f"{t} before lifespan.startup was received", i)
            elif self.startup_answer is not None:
                c.add("LM002", f"{t}: startup already answered at seq "
                               f"{c.events[self.startup_answer].seq}", i)
                return
            self.startup_answer = i
        elif t.startswith("lifespan.shutdown."):
            if not self.shutdown_asked:
                c.add("LM003", f"{t} before lifespan.shutdown was received", i)
            self.shutdown_answer = i

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
        failed = c.events[self.startup_answer].type == "lifespan.startup.failed"
        if self.shutdown_answer is None and not self.shutdown_asked and not failed:
            c.add("LM007", "the app returned from the lifespan before lifespan.shutdown",
                  exit_index)
