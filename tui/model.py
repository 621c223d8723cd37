"""What the dashboard knows, and how feed items change it. No Textual.

`Inbox` is the hand-off between the feed's worker and the redraw timer: the worker puts
items (and waits while it is `full`, so a slow or paused UI pushes back on the feed instead
of growing without bound); the timer takes them in steps bounded by a time budget. `Model`
applies items: fold events into flows, keep the records, file flows in the list's store,
update the header's numbers. The UI calls `Model.apply` and then redraws what changed,
so every rule about ingest is testable without a terminal.

Findings (`inspector.findings.analyse`) are attached to a flow once it has ended (its app
returned, or a step after the response was complete), and again when more of its events
arrive (the app's return after the last byte, say). The
analysis reads the flow's records back from the `EventLog` and runs inside the same
bounded step: flows wait in a queue and each step analyses what its budget leaves room
for, and at least `ANALYSE_AT_LEAST` flows, so findings keep up under a steady backlog
without a key press ever waiting behind a burst of them.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from inspector.events.model import Event
from inspector.findings import analyse
from inspector.flows.fold import FlowFolder
from inspector.flows.model import OPEN, Flow
from inspector.tap.feeds import Batch, FeedItem, SourceInfo, SourceStatus
from tui.event_log import EventLog
from tui.flow_store import FlowStore
from tui.stats import Buffer, LiveStats, buffer_of

ANALYSE_AT_LEAST = 32
"""Flows analysed per step even when the step's budget is spent on ingest."""


class Inbox:
    """Feed items waiting to be applied, weighed in events."""

    def __init__(self, max_events: int = 200_000) -> None:
        self.max_events = max_events
        self._items: deque[FeedItem] = deque()
        self.pending_events = 0

    @property
    def full(self) -> bool:
        """More events wait than `max_events`: the feed should wait before the next batch."""
        return self.pending_events > self.max_events

    def put(self, item: FeedItem) -> None:
        self._items.append(item)
        if isinstance(item, Batch):
            self.pending_events += len(item.events)

    def take(self) -> FeedItem | None:
        """The oldest item, or None."""
        if not self._items:
            return None
        item = self._items.popleft()
        if isinstance(item, Batch):
            self.pending_events -= len(item.events)
        return item

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Changes:
    """What one ingest step changed, for the UI to redraw."""

    touched: dict[int, Flow] = field(default_factory=dict)   # id(flow) -> flow
    rows_changed: bool = False
    sources_changed: bool = False
    status_changed: bool = False
    events: int = 0

    def __bool__(self) -> bool:
        return bool(self.touched or self.rows_changed or self.sources_changed
                    or self.status_changed)

    def merge(self, other: Changes) -> None:
        """Add what a later step changed (the UI redraws several steps at once)."""
        self.touched.update(other.touched)
        self.rows_changed |= other.rows_changed
        self.sources_changed |= other.sources_changed
        self.status_changed |= other.status_changed
        self.events += other.events


@dataclass
class Source:
    """A source as the dashboard sees it."""

    name: str
    started: float
    info: dict = field(default_factory=dict)
    status: SourceStatus | None = None

    @property
    def gone(self) -> bool:
        return self.status is not None and self.status.gone


class Model:
    """Flows, their events, the list's index and the header's numbers."""

    def __init__(self, body_cap: int = 1 << 20) -> None:
        self.body_cap = body_cap
        self.folder = FlowFolder(body_cap)
        self.log = EventLog(body_cap)
        self.store = FlowStore()
        self.stats = LiveStats()
        self.sources: dict[str, Source] = {}
        self.base_wall: float | None = None      # wall epoch of the shared axis's 0
        self.offsets: dict[str, float] = {}
        self.errors: list[str] = []
        # id(flow) -> ended flow, oldest first (an OrderedDict: popping the oldest of a
        # plain dict rescans the deleted slots at its front, quadratic over a big file).
        self.to_analyse: OrderedDict[int, Flow] = OrderedDict()
        # Ended flows whose app has not returned yet wait one step for it (the exit most
        # often comes in the same or the next batch), so most flows are analysed once.
        self._unreturned: dict[int, Flow] = {}
        self.analysed = 0                        # analyses run (for tests and benchmarks)

    # -- applying items ----------------------------------------------------------------

    def apply(self, item: FeedItem, changes: Changes) -> None:
        """Apply one feed item, noting what changed in `changes`."""
        if isinstance(item, Batch):
            self._batch(item.source, item.events, changes)
        elif isinstance(item, SourceStatus):
            self._status(item, changes)
        elif isinstance(item, SourceInfo):
            self._source(item, changes)

    def _source(self, item: SourceInfo, changes: Changes) -> None:
        source = self.sources.get(item.source)
        if source is None:
            source = self.sources[item.source] = Source(item.source, item.started, item.info)
        else:
            source.started, source.info = item.started, item.info
        if self.base_wall is None and item.started:
            self.base_wall = item.started
        base = self.base_wall or item.started
        self.offsets[item.source] = (item.started - base) if item.started else 0.0
        self.store.set_offsets(self.offsets)
        changes.sources_changed = True

    def _status(self, item: SourceStatus, changes: Changes) -> None:
        if not item.source and item.error and item.source not in self.sources:
            self.errors.append(item.error)        # a feed-wide problem (tap discovery)
            changes.status_changed = True
            return
        source = self.sources.get(item.source)
        if source is None:
            source = self.sources[item.source] = Source(item.source, 0.0)
            changes.sources_changed = True
        if source.status is None or source.status.gone != item.gone:
            changes.sources_changed = True
        source.status = item
        if item.error and item.error not in self.errors:
            self.errors.append(item.error)
        changes.status_changed = True

    def _batch(self, source: str, events: list[Event], changes: Changes) -> None:
        self.log.add(source, events)
        touched = self.folder.extend(events, source)
        for flow in touched:
            changes.touched[id(flow)] = flow
        changes.events += len(events)

    def finish(self, changes: Changes, deadline: float | None = None,
               at_least: int = ANALYSE_AT_LEAST) -> None:
        """After a step's items: queue ended flows for analysis, analyse until `deadline`
        (None: all of them; at least `at_least`), then re-file touched and analysed flows
        and count them (once per step)."""
        queue = self.to_analyse
        waiting = self._unreturned
        if waiting:                       # waited a step for the app's return: go ahead
            queue.update(waiting)
            waiting.clear()
        for key, flow in changes.touched.items():
            if flow.app_exited:
                queue[key] = flow
            elif flow.state != OPEN and key not in queue:
                waiting[key] = flow
        if queue:
            for flow in self._analyse(deadline, at_least):
                changes.touched[id(flow)] = flow
        if changes.touched:
            flows = list(changes.touched.values())
            if self.store.update(flows):
                changes.rows_changed = True
            self.stats.observe(flows, self.offsets)

    @property
    def analysis_pending(self) -> bool:
        """Some ended flow still waits for its findings."""
        return bool(self.to_analyse or self._unreturned)

    def _analyse(self, deadline: float | None, at_least: int) -> list[Flow]:
        """Analyse queued flows, oldest first, until `deadline` once `at_least` are done.

        A flow already analysed from as many events as it has now is skipped: the queue
        holds flows that were touched, and a touch without new events changes nothing.
        """
        queue = self.to_analyse
        log = self.log
        done: list[Flow] = []
        n = 0
        clock = time.perf_counter
        while queue:
            if deadline is not None and n >= at_least and clock() >= deadline:
                break
            _, flow = queue.popitem(last=False)
            seqs = flow.event_seqs
            cached = flow.analysis
            if cached is not None and cached.events == len(seqs):
                continue
            events = log.events_of(flow.source, seqs)
            if cached is not None and cached.events == len(events):
                continue                   # some records are no longer held: nothing new
            analyse(flow, events)
            self.analysed += 1
            done.append(flow)
            n += 1
        return done

    def ingest(self, items: Iterable[FeedItem]) -> Changes:
        """Apply items and finish: for tests and for tools that need no time budget."""
        changes = Changes()
        for item in items:
            self.apply(item, changes)
        self.finish(changes)
        if self._unreturned:              # no next step to wait for: analyse them now
            more = Changes()
            self.finish(more)
            changes.merge(more)
        return changes

    # -- questions the UI asks -----------------------------------------------------------

    def buffer(self) -> Buffer:
        return buffer_of(s.status for s in self.sources.values() if s.status is not None)

    @property
    def loaded(self) -> bool:
        """Every source said it will send nothing more (a file read to the end)."""
        return bool(self.sources) and all(s.gone for s in self.sources.values())

    def abs_time(self, flow: Flow, t: float) -> float:
        """A flow's capture-relative instant `t` on the shared axis."""
        return t + self.offsets.get(flow.source, 0.0)

    # -- clearing ------------------------------------------------------------------------

    def clear(self) -> Changes:
        """Forget finished flows and their events; flows still open carry on."""
        open_flows = [f for f in self.store.flows if f.state == OPEN]
        kept: dict[str, list[Event]] = {}
        for flow in open_flows:
            kept.setdefault(flow.source, []).extend(
                self.log.events_of(flow.source, flow.event_seqs))
        self.folder = FlowFolder(self.body_cap)
        self.log = EventLog(self.body_cap)
        self.store.clear()
        self.stats = LiveStats()
        self.to_analyse = OrderedDict()
        self._unreturned = {}
        changes = Changes(rows_changed=True, status_changed=True)
        for source, events in kept.items():
            events.sort(key=lambda e: e.seq)
            self._batch(source, events, changes)
        self.finish(changes)
        return changes


def step(model: Model, inbox: Inbox, budget: float, max_items: int = 10_000) -> Changes:
    """Apply inbox items for up to `budget` seconds (at least one batch)."""
    changes = Changes()
    deadline = time.perf_counter() + budget
    for _ in range(max_items):
        item = inbox.take()
        if item is None:
            break
        model.apply(item, changes)
        if time.perf_counter() >= deadline:
            break
    model.finish(changes, deadline)
    return changes
