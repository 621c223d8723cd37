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

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from inspector.events.model import EXIT, RECEIVE, SCOPE, SEND, Event
from inspector.findings import http, lifespan, websocket
from inspector.findings.finding import Collector, Finding
from inspector.findings.rules import BY_ID, ERROR, INFO, RANK, RULES, WARNING, Rule
from inspector.findings.shapes import UNKNOWN, check_scope, unknown
from inspector.findings.timeline import NONE, Metrics, Timeline
from inspector.findings.timeline import check as check_timeline
from inspector.flows.model import Flow

__all__ = ["BY_ID", "ERROR", "INFO", "RANK", "RULES", "WARNING", "Analysis", "Finding",
           "Metrics", "Rule", "analyse", "analyse_events", "events_by_conn", "find", "run",
           "worst"]

# scope type -> (checker class, receive handlers, send handlers)
_Handlers = Mapping[str, Callable[..., int | None]]
_PROTOCOLS: dict[Any, tuple[type[Timeline], _Handlers, _Handlers]] = {
    "http": (http.HttpChecker, http.RECEIVE, http.SEND),
    "websocket": (websocket.WebSocketChecker, websocket.RECEIVE, websocket.SEND),
    "lifespan": (lifespan.LifespanChecker, lifespan.RECEIVE, lifespan.SEND),
}


_new = tuple.__new__      # an Analysis without the named tuple's Python-level __new__


class Analysis(NamedTuple):
    findings: tuple[Finding, ...]
    metrics: Metrics
    events: int             # how many events it was computed from (the cache key)

    def count(self, min_severity: str = INFO) -> int:
        rank = RANK[min_severity]
        return sum(1 for f in self.findings if RANK[f.severity] >= rank)


def run(events: list[Event]) -> Timeline | None:
    """One pass over a flow's events (its scope first): every rule's checks and the
    timeline metrics at once; the checker holds both. None when the first event is not
    the scope of a protocol we check.

    One handler call per event, except that a handler may take the events after its own
    too (a stream's plain chunks or messages, `http.chunks`, `websocket.messages`): it
    returns the index of the last one it took, and the pass goes on after it."""
    if not events or events[0].kind != SCOPE:
        return None
    scope = events[0].message
    if not isinstance(scope, dict):
        return None
    scope_type = scope.get("type")
    # A foreign capture's scope type may be any JSON value, unhashable ones included.
    protocol = _PROTOCOLS.get(scope_type) if isinstance(scope_type, str) else None
    if protocol is None:
        return None
    cls, on_receive, on_send = protocol
    c = Collector(events)
    check_scope(c, scope)
    s = cls(c, scope, scope.get("extensions", UNKNOWN))
    end = None
    send_handler = on_send.get
    receive_handler = on_receive.get
    n = len(events)
    i = 1
    while i < n:
        event = events[i]
        kind = event.kind
        msg = event.message
        t = msg.get("type") if type(msg) is dict else None
        if type(t) is not str:
            t = ""                         # no handler has this key: `unknown` reports it
        if kind == SEND:
            if s.left is not None:
                s.after += 1
                if s.first_after is None:
                    s.first_after = i
            handler = send_handler(t)
        elif kind == RECEIVE:
            handler = receive_handler(t)
        elif kind == EXIT:
            end = i
            s.exited = event.time
            break
        else:
            i += 1
            continue
        if handler is None:
            unknown(c, i, event, scope_type)   # type: ignore[arg-type]
        else:
            last = handler(s, i, event, msg)
            if last is not None:
                i = last                   # the handler took the events up to `last` too
        i += 1
    s.finish(end)
    check_timeline(s, end)
    return s


def _analysis(events: list[Event]) -> Analysis:
    """Findings (worst first) and metrics of one flow's events, uncached."""
    s = run(events)
    if s is None:
        return _new(Analysis, ((), NONE, len(events)))
    found = s.c.found
    if len(found) > 1:
        found.sort(key=lambda f: (-RANK[f.severity], f.seq if f.seq is not None else -1))
    return _new(Analysis, (tuple(found), s.concluded or s.metrics(), len(events)))


def find(flow: Flow | None, events: list[Event]) -> list[Finding]:
    """The findings of one flow: `events` are that flow's events, its scope first.

    Worst first, then in the order of the events they point at. `flow` may be None; it
    is taken for the cache (`analyse`) and kept in the signature so later rules can read
    derived state without a change to every caller.
    """
    return list((analyse(flow, events) if flow is not None else _analysis(events)).findings)


def analyse(flow: Flow, events: list[Event]) -> Analysis:
    """Findings and metrics of `flow`, cached on `flow.analysis` until it has more events."""
    cached = flow.analysis
    if cached is not None and cached.events == len(events):
        return cached
    flow.analysis = result = _analysis(events)
    return result


def events_by_conn(events: Iterable[Event]) -> dict[int, list[Event]]:
    """The events of each connection, as `fold_events` sees them: a scope seen again for
    a connection id starts it over (a restarted process in the same capture)."""
    out: dict[int, list[Event]] = {}
    last: int | None = None              # the connection of the previous event
    group: list[Event] | None = None     # and its events so far (None: no scope yet)
    for event in events:
        conn = event.conn
        if event.kind == SCOPE:
            out.pop(conn, None)
            out[conn] = group = [event]
            last = conn
        elif conn == last:       # a flow's events mostly come in runs: no lookup
            if group is not None:
                group.append(event)
        else:
            last = conn
            group = out.get(conn)
            if group is not None:
                group.append(event)
    return out


def analyse_events(events: list[Event], flows: list[Flow] | None = None
                   ) -> list[tuple[Flow, Analysis]]:
    """Every flow of one source's events with its analysis (attached to the flow)."""
    from inspector.flows.fold import fold_events

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
