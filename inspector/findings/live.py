"""Findings for flows read live, batch by batch: each open flow's events are kept until
the app has returned, then the flow is analysed once (`inspector.findings.analyse`).

The headless printer uses this on the server's own loop, so memory stays bounded: a flow
past `cap` events drops what it kept and gets no analysis (its line has no count).
"""

from __future__ import annotations

from collections.abc import Iterable

from inspector.events.model import SCOPE, Event
from inspector.findings import analyse
from inspector.flows.model import Flow

DEFAULT_CAP = 1_000    # events kept per open flow


class LiveFindings:
    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.cap = cap
        self._events: dict[int, list[Event] | None] = {}

    def feed(self, events: Iterable[Event], touched: Iterable[Flow]) -> None:
        """Keep `events`; analyse the flows of `touched` whose app has returned."""
        kept, cap = self._events, self.cap
        for event in events:
            if event.kind == SCOPE:
                kept[event.conn] = [event]
                continue
            mine = kept.get(event.conn)
            if mine is not None:
                if len(mine) < cap:
                    mine.append(event)
                else:
                    kept[event.conn] = None
        for flow in touched:
            if flow.app_exited:
                mine = kept.pop(flow.conn, None)
                if mine:
                    analyse(flow, mine)
