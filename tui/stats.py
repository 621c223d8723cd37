"""The header's numbers: requests per second, errors, p50/p95, buffer use. No Textual.

Fed the flows each ingest step touched, so each number is kept up to date in time
proportional to what changed, not to what is held. Times are on the capture's shared axis
(seconds since the first source started), never the wall clock: a saved capture shows the
same header every time it is opened, and snapshot tests have nothing that ticks.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass

from inspector.findings.rules import ERROR
from inspector.flows.model import APP_EXCEPTION, INCOMPLETE, OPEN, Flow
from inspector.tap.feeds import SourceStatus

SPARK_SECONDS = 60


def is_error(flow: Flow) -> bool:
    """A 5xx, or the app raised, or it returned without finishing the response, or an
    error finding is attached (the app broke the spec or HTTP)."""
    return flow.exception is not None or flow.state in (APP_EXCEPTION, INCOMPLETE) \
        or (flow.status is not None and flow.status >= 500) \
        or worst_finding(flow) == ERROR


def worst_finding(flow: Flow) -> str | None:
    """The most severe finding attached to `flow` ("error", "warning", "info"), or None
    (none found, or not analysed yet)."""
    analysis = flow.analysis
    if analysis is None or not analysis.findings:
        return None
    return analysis.findings[0].severity     # findings are sorted worst first


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True, slots=True)
class Buffer:
    """Sources' buffers summed: events held / capacity, bytes held / max, losses."""

    events: int = 0
    capacity: int = 0
    bytes: int = 0
    max_bytes: int = 0
    dropped: int = 0
    missed: int = 0
    known: bool = False     # some source reported its ring (a file has none)


class LiveStats:
    """Counts per second of flow starts, errors, and the sorted durations of HTTP flows."""

    def __init__(self) -> None:
        self._per_second: dict[int, int] = {}
        self._seen: set[int] = set()          # id(flow) counted as started
        self._done: set[int] = set()          # id(flow) whose duration is filed
        self._errors: set[int] = set()
        self.durations: list[float] = []      # ascending
        self.latest = 0.0                     # newest time seen on the shared axis
        self.earliest: float | None = None    # oldest flow start seen
        self.flows = 0

    def observe(self, flows: Iterable[Flow], offsets: dict[str, float]) -> None:
        """Account for flows that are new or changed."""
        per_second = self._per_second
        for flow in flows:
            if flow.type == "lifespan":
                continue
            key = id(flow)
            start = flow.start + offsets.get(flow.source, 0.0)
            if self.earliest is None or start < self.earliest:
                self.earliest = start
            if key not in self._seen:
                self._seen.add(key)
                self.flows += 1
                second = int(start // 1)
                per_second[second] = per_second.get(second, 0) + 1
            end = flow.end if flow.end is not None else flow.start
            latest = end + offsets.get(flow.source, 0.0)
            self.latest = max(self.latest, latest)
            if key not in self._done and flow.state != OPEN and flow.end is not None:
                self._done.add(key)
                if flow.type == "http":
                    insort(self.durations, flow.end - flow.start)
            if key not in self._errors and is_error(flow):
                self._errors.add(key)

    @property
    def errors(self) -> int:
        return len(self._errors)

    def p(self, fraction: float) -> float | None:
        return percentile(self.durations, fraction)

    def spark(self, seconds: int = SPARK_SECONDS) -> list[float]:
        """Flows started per second over the last `seconds` seconds of capture time."""
        last = int(self.latest // 1)
        get = self._per_second.get
        return [float(get(s, 0)) for s in range(last - seconds + 1, last + 1)]

    def rate(self) -> float:
        """Flows started in the last full second (or the current one if it is the only)."""
        last = int(self.latest // 1)
        return float(self._per_second.get(last - 1, self._per_second.get(last, 0)))

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


def buffer_of(statuses: Iterable[SourceStatus]) -> Buffer:
    """Sum the newest status of every source."""
    events = capacity = size = max_bytes = dropped = missed = 0
    known = False
    for s in statuses:
        missed += s.missed
        dropped += s.dropped or 0
        if s.ring_capacity is not None:
            known = True
            events += s.ring_events or 0
            capacity += s.ring_capacity
            size += s.ring_bytes or 0
            max_bytes += s.ring_max_bytes or 0
    return Buffer(events, capacity, size, max_bytes, dropped, missed, known)
