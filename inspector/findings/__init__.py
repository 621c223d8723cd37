"""Findings: what is wrong (or worth knowing) in one flow, from its recorded events.

Pure analysis on the reading side: no I/O, no clocks, no UI, nothing in the app's path.
It covers the families of `inspector.findings.rules` (message and scope shapes, the
HTTP, WebSocket and lifespan state machines, extensions, HTTP semantics) and the timeline
(`inspector.findings.timeline`).

    find(flow, events)       the findings of one flow, from that flow's events in order
    analyse(flow, events)    findings and timeline metrics, cached on `flow.analysis`
    analyse_events(events)   every flow of a capture with its analysis

Consumers that only hold flows (filter terms `finding:`, `rule:`, `background:`,
`wasted:`) read `flow.analysis`; whoever holds the events attaches it with `analyse`.
It is recomputed only when the flow has grown since, so a live view pays once per change
and the fold itself never pays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from inspector.events import EXIT, SCOPE, Event
from inspector.findings.finding import Collector, Finding
from inspector.findings.http import HttpChecker, exit_index
from inspector.findings.lifespan import LifespanChecker
from inspector.findings.rules import BY_ID, ERROR, INFO, RANK, RULES, WARNING, Rule
from inspector.findings.shapes import UNKNOWN, check_message, check_scope
from inspector.findings.timeline import NONE, Metrics, check as check_timeline, metrics
from inspector.findings.websocket import WebSocketChecker
from inspector.flow_model import Flow

__all__ = ["BY_ID", "ERROR", "INFO", "RANK", "RULES", "WARNING", "Analysis", "Finding",
           "Metrics", "Rule", "analyse", "analyse_events", "events_by_conn", "find",
           "worst"]

_CHECKERS = {"http": HttpChecker, "websocket": WebSocketChecker, "lifespan": LifespanChecker}


class Analysis(NamedTuple):
    findings: tuple[Finding, ...]
    metrics: Metrics
    events: int             # how many events it was computed from (the cache key)

    def count(self, min_severity: str = INFO) -> int:
        rank = RANK[min_severity]
        return sum(1 for f in self.findings if RANK[f.severity] >= rank)


def _find(events: list[Event]) -> tuple[list[Finding], Metrics]:
    if not events or events[0].kind != SCOPE or not isinstance(events[0].message, dict):
        return [], NONE
    scope = events[0].message
    scope_type = scope.get("type")
    checker_class = _CHECKERS.get(scope_type)  # type: ignore[arg-type]
    if checker_class is None:
        return [], NONE
    c = Collector(events)
    check_scope(c, scope)
    checker = checker_class(c, scope)
    extensions = scope.get("extensions", UNKNOWN)
    end = None
    for i in range(1, len(events)):
        event = events[i]
        if event.kind == EXIT:
            end = i
            break
        if event.kind == SCOPE:
            continue
        t = check_message(c, i, event, scope_type, extensions)   # type: ignore[arg-type]
        if t is not None:
            checker.step(i, event, t)
    checker.finish(end)
    m = metrics(events)
    check_timeline(c, m, end)
    c.found.sort(key=lambda f: (-RANK[f.severity], f.seq if f.seq is not None else -1))
    return c.found, m


def find(flow: Flow | None, events: list[Event]) -> list[Finding]:
    """The findings of one flow: `events` are that flow's events, its scope first.

    Worst first, then in the order of the events they point at. `flow` may be None; it
    is taken for the cache (`analyse`) and kept in the signature so later rules can read
    derived state without a change to every caller.
    """
    return list(analyse(flow, events).findings) if flow is not None else _find(events)[0]


def analyse(flow: Flow, events: list[Event]) -> Analysis:
    """Findings and metrics of `flow`, cached on `flow.analysis` until it has more events."""
    cached = flow.analysis
    if cached is not None and cached.events == len(events):
        return cached
    found, m = _find(events)
    flow.analysis = result = Analysis(tuple(found), m, len(events))
    return result


def events_by_conn(events: Iterable[Event]) -> dict[int, list[Event]]:
    """The events of each connection, as `fold_events` sees them: a scope seen again for
    a connection id starts it over (a restarted process in the same capture)."""
    out: dict[int, list[Event]] = {}
    for event in events:
        if event.kind == SCOPE:
            out.pop(event.conn, None)
            out[event.conn] = [event]
        else:
            group = out.get(event.conn)
            if group is not None:
                group.append(event)
    return out


def analyse_events(events: list[Event], flows: list[Flow] | None = None
                   ) -> list[tuple[Flow, Analysis]]:
    """Every flow of one source's events with its analysis (attached to the flow)."""
    from inspector.flows import fold_events

    if flows is None:
        flows = fold_events(events)
    groups = events_by_conn(events)
    return [(flow, analyse(flow, groups.get(flow.conn, []))) for flow in flows]


def worst(findings: Iterable[Finding]) -> str | None:
    """The highest severity among `findings`, or None."""
    best = None
    for f in findings:
        if best is None or RANK[f.severity] > RANK[best]:
            best = f.severity
    return best


def attached(flow: Flow) -> Analysis | None:
    """The analysis attached to `flow`, if any."""
    return flow.analysis   # type: ignore[no-any-return]



