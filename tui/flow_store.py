"""The flow list's index: which flows are shown, in which order. No Textual.

A `DataTable` of 100,000 rows took half a minute to show (FACTS.md), so the list widget
draws only its visible rows and asks this store for them: `row(i)`, `index_of(flow)`,
`len(store)`. The store keeps, for the shown flows, one sorted list of keys; each key ends
with the flow's arrival number, so a key names its flow and sorting is a plain list sort.

Flows are updated in place by the fold, so a flow's key can change (an in-flight request
gets its duration). The store remembers the key each flow was filed under, so it can find
and move it when the app says the flow was touched. A few moves are bisect operations; many
(a big batch) are one removal pass and one sort, which timsort does in about linear time
because the bulk of the list is already in order.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

from inspector.findings.rules import RANK
from inspector.flows.model import Flow

Predicate = Callable[[Flow], bool]
Key = tuple

# Sorting "arrival" is the order flows were first seen: live rows append at the end, so
# rows arriving never move the rows above them.
ARRIVAL = "arrival"

_BULK = 48      # more moves than this in one update: rebuild instead of bisecting


def _none_last(value: float | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, value)


def _severity_rank(flow: Flow) -> int:
    """0 without findings (or not analysed yet), then info 1, warning 2, error 3."""
    analysis = flow.analysis
    if analysis is None or not analysis.findings:
        return 0
    return RANK[analysis.findings[0].severity] + 1     # sorted worst first


def kind_of(flow: Flow) -> str:
    """"HTTP", "SSE" or "WS": what the list's kind column shows."""
    if flow.type == "websocket":
        return "WS"
    return "SSE" if flow.is_sse else "HTTP"


# column -> key maker(flow, absolute start time) -> primary key (ends before arrival)
SortKey = Callable[[Flow, float], tuple]
SORT_KEYS: dict[str, SortKey] = {
    ARRIVAL: lambda f, t: (),
    "time": lambda f, t: (t,),
    "kind": lambda f, t: (kind_of(f),),
    "method": lambda f, t: (f.method,),
    "path": lambda f, t: (f.path,),
    "status": lambda f, t: _none_last(f.status),
    "duration": lambda f, t: _none_last(f.duration),
    "ttfb": lambda f, t: _none_last(f.ttfb),
    "request": lambda f, t: (f.request_size,),
    "response": lambda f, t: (f.response_size,),
    "source": lambda f, t: (f.source,),
    "finding": lambda f, t: (_severity_rank(f),),
}


@dataclass(frozen=True, slots=True)
class Sort:
    """A column to sort by, and whether the largest comes first."""

    column: str = ARRIVAL
    reverse: bool = False


class FlowStore:
    """Every flow the list may show, the filter, the sort, and the shown rows in order."""

    def __init__(self, *, listed: Predicate | None = None) -> None:
        # Lifespan flows are no exchange and no session: not listed by default.
        self.listed: Predicate = listed or (lambda f: f.type != "lifespan")
        self.flows: list[Flow] = []            # every listed flow, in arrival order
        self._arrival: dict[int, int] = {}     # id(flow) -> arrival number
        self.offsets: dict[str, float] = {}    # source -> its time 0 on the shared axis
        self._filter: Predicate | None = None
        self._sort = Sort()
        self._make_key: SortKey = SORT_KEYS[ARRIVAL]
        self._keys: list[Key] = []             # shown flows' keys, ascending
        self._filed: dict[int, Key] = {}       # arrival -> key it is filed under

    # -- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def total(self) -> int:
        """Listed flows, shown or filtered out."""
        return len(self.flows)

    @property
    def sort(self) -> Sort:
        return self._sort

    def row(self, i: int) -> Flow:
        """The flow shown at row `i` (0 is the top)."""
        n = len(self._keys)
        if not 0 <= i < n:
            raise IndexError(i)
        key = self._keys[n - 1 - i if self._sort.reverse else i]
        return self.flows[key[-1]]

    def rows(self, start: int, stop: int) -> list[Flow]:
        """Rows `start` to `stop` (clamped)."""
        n = len(self._keys)
        start, stop = max(0, start), min(n, stop)
        return [self.row(i) for i in range(start, stop)]

    def index_of(self, flow: Flow) -> int | None:
        """The row showing `flow`, or None if it is not shown."""
        arrival = self._arrival.get(id(flow))
        if arrival is None:
            return None
        key = self._filed.get(arrival)
        if key is None:
            return None
        i = bisect_left(self._keys, key)
        return len(self._keys) - 1 - i if self._sort.reverse else i

    def newest(self) -> Flow | None:
        """The shown flow that arrived last (what follow mode keeps in view)."""
        if not self._keys:
            return None
        if self._sort.column == ARRIVAL:
            return self.flows[self._keys[-1][-1]]
        return self.flows[max(self._filed)]

    def abs_start(self, flow: Flow) -> float:
        """When the flow started on the shared time axis (seconds)."""
        return flow.start + self.offsets.get(flow.source, 0.0)

    def arrival(self, flow: Flow) -> int | None:
        return self._arrival.get(id(flow))

    # -- writing -------------------------------------------------------------------------

    def _key(self, flow: Flow, arrival: int) -> Key:
        return (*self._make_key(flow, flow.start + self.offsets.get(flow.source, 0.0)),
                arrival)

    def update(self, flows: Iterable[Flow]) -> bool:
        """File new flows and re-file touched ones; True if the shown rows changed."""
        keep = self._filter
        listed = self.listed
        arrivals = self._arrival
        filed = self._filed
        adds: list[Key] = []
        removes: list[Key] = []
        for flow in flows:
            arrival = arrivals.get(id(flow))
            if arrival is None:
                if not listed(flow):
                    continue
                arrival = len(self.flows)
                self.flows.append(flow)
                arrivals[id(flow)] = arrival
                old = None
            else:
                old = filed.get(arrival)
            if keep is not None and not keep(flow):
                if old is not None:
                    removes.append(old)
                    del filed[arrival]
                continue
            key = self._key(flow, arrival)
            if key == old:
                continue
            if old is not None:
                removes.append(old)
            adds.append(key)
            filed[arrival] = key
        if not adds and not removes:
            return False
        keys = self._keys
        if len(adds) + len(removes) > _BULK:
            if removes:
                gone = set(removes)
                keys[:] = [k for k in keys if k not in gone]
            if adds and keys and adds[0] > keys[-1] and all(
                    a < b for a, b in pairwise(adds)):
                keys.extend(adds)
            else:
                keys.extend(adds)
                keys.sort()
        else:
            for key in removes:
                del keys[bisect_left(keys, key)]
            for key in adds:
                if not keys or key > keys[-1]:
                    keys.append(key)
                else:
                    insort(keys, key)
        return True

    def set_filter(self, predicate: Predicate | None) -> None:
        """Show only flows for which `predicate` holds (None: all)."""
        self._filter = predicate
        self._rebuild()

    def set_sort(self, sort: Sort) -> None:
        """Order rows by `sort.column` (a key of SORT_KEYS), ties by arrival."""
        if sort.column not in SORT_KEYS:
            raise ValueError(f"unknown sort column {sort.column!r}")
        same_keys = sort.column == self._sort.column
        self._sort = sort
        self._make_key = SORT_KEYS[sort.column]
        if not same_keys:
            self._rebuild()

    def set_offsets(self, offsets: dict[str, float]) -> None:
        """Move sources on the shared time axis (a source's start became known)."""
        if offsets != self.offsets:
            self.offsets = dict(offsets)
            if self._sort.column == "time":
                self._rebuild()

    def clear(self) -> None:
        """Forget every flow."""
        self.flows = []
        self._arrival = {}
        self._keys = []
        self._filed = {}

    def _rebuild(self) -> None:
        keep = self._filter
        flows = self.flows
        chosen: Iterable[int]
        if keep is None:
            chosen = range(len(flows))
        else:
            chosen = [i for i, f in enumerate(flows) if keep(f)]
        if self._sort.column == ARRIVAL:
            keys = [(i,) for i in chosen]
        else:
            key = self._key
            keys = [key(flows[i], i) for i in chosen]
            keys.sort()
        self._keys = keys
        self._filed = {k[-1]: k for k in keys}
