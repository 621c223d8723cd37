"""The pure fold from events to flows: one `Flow` per connection, updated event by event.

No I/O and no clocks: the dashboard feeds live batches, the capture reader feeds a whole
file, and both get the same flows, because a flow depends only on its own events in order.

How a flow ends (`Flow.state`) is decided once, by the first ending fact, and never
changed after; later facts are still recorded:

* COMPLETE: the app finished the response (final `http.response.body`, or the final
  trailers when `trailers` was announced), closed an accepted WebSocket, or sent
  `lifespan.shutdown.complete`. An `http.disconnect` after that is normal (uvicorn sends
  one to a late `receive()`) and changes nothing.
* CLIENT_DISCONNECTED: `http.disconnect` / `websocket.disconnect` arrived first.
* REFUSED: `websocket.close` before `websocket.accept` (the server answers 403, ASGI
  www spec, "Close - send event"), or a finished `websocket.http.response.*` denial.
* APP_EXCEPTION: the app raised while the flow was still open, or a lifespan
  `*.failed` message.
* INCOMPLETE: the app returned while the flow was still open.

So a 500 that Starlette's ServerErrorMiddleware sent in full before re-raising is
COMPLETE *with* `exception` set: the state says what the client got, `exception` says
what the app did. Filter on `flow.exception is not None` for "the app raised".

`end` is set when the state leaves OPEN, so it is the time of the deciding fact; the exit
event sets it at the latest. Messages are captured data, not trusted: every key is read
defensively, and unknown or malformed messages only land in `event_seqs`.
"""

from __future__ import annotations

from typing import Iterable

from inspector.events.model import EXIT, SCOPE, Event
from inspector.flows.handlers import (
    DEFAULT_BODY_CAP,
    REPLAY_KEY,
    TABLES,
    Conn,
    Key,
    exit_event,
    flow_from_scope,
)
from inspector.flows.model import Flow

__all__ = ["DEFAULT_BODY_CAP", "REPLAY_KEY", "FlowFolder", "fold_events"]

class FlowFolder:
    """Folds events into flows, one event or one batch at a time, in any batch sizes."""

    def __init__(self, body_cap: int = DEFAULT_BODY_CAP, *, details: bool = True) -> None:
        """details=False folds summaries: no `Flow.messages` (WebSocket messages are only
        counted) and no `Flow.event_seqs` past the scope's, so that a consumer that keeps
        no history (headless lines) stays bounded however long a WebSocket session lasts."""
        self.body_cap = body_cap
        self.details = details
        self.flows: dict[Key, Flow] = {}      # (source, conn), in order of first scope
        self.orphans = 0     # events of a connection whose scope was never seen
        self.ignored = 0     # events of connections with a scope type we do not fold
        # source -> conn -> state; two levels so the hot path builds no key tuple.
        self._conns: dict[str, dict[int, Conn]] = {}
        self._ignored: set[Key] = set()

    def get(self, source: str, conn: int) -> Flow | None:
        """The flow of connection `conn` from `source`, if its scope was seen."""
        return self.flows.get((source, conn))

    def forget(self, source: str, conn: int) -> None:
        """Drop a finished flow (a consumer that keeps no history, such as headless
        output, stays bounded); its later events count as orphans."""
        self.flows.pop((source, conn), None)
        conns = self._conns.get(source)
        if conns is not None:
            conns.pop(conn, None)

    def add(self, event: Event, source: str = "") -> Flow | None:
        """Fold one event; the flow it touched, or None if it has no flow (an orphan)."""
        for c in self._fold((event,), source):
            c.sync()
            return c.flow
        return None

    def extend(self, events: Iterable[Event], source: str = "") -> list[Flow]:
        """Fold a batch; the distinct flows it touched, in order of first touch."""
        touched = self._fold(events, source)
        for c in touched:
            c.sync()
        return [c.flow for c in touched]

    def _fold(self, events: Iterable[Event], source: str) -> dict[Conn, None]:
        """Apply each event to its connection's state; the states touched, in order.

        One loop with the lookups in locals, not a call per event: the headless printer
        folds every event of a live proxy, so per-event overhead is its throughput.
        """
        conns = self._conns.get(source)
        if conns is None:
            conns = self._conns[source] = {}
        touched: dict[Conn, None] = {}
        conn_of = conns.get
        details = self.details
        for event in events:
            kind = event.kind
            if kind == SCOPE:
                c = self._open(event, source, conns)
                if c is not None:
                    touched[c] = None
                continue
            c = conn_of(event.conn)
            if c is None:
                if (source, event.conn) in self._ignored:
                    self.ignored += 1
                else:
                    self.orphans += 1
                continue
            touched[c] = None
            if details:
                c.flow.event_seqs.append(event.seq)
            msg = event.message
            table = c.tables.get(kind)
            if table is not None:
                if type(msg) is dict:
                    t = msg.get("type")
                    if type(t) is str:
                        handler = table.get(t)
                        if handler is not None:
                            handler(c, event, msg)
            elif kind == EXIT:
                exit_event(c, event, msg)
        return touched

    def _open(self, event: Event, source: str, conns: dict[int, Conn]) -> Conn | None:
        key = (source, event.conn)
        # A conn id seen again (a restarted process in the same capture) is a new flow.
        # (`flows` and `conns` gain and lose a connection together: one test, not two pops.)
        if event.conn in conns:
            del conns[event.conn]
            self.flows.pop(key, None)
        if self._ignored:
            self._ignored.discard(key)
        msg = event.message
        t = msg.get("type") if type(msg) is dict else None
        tables = TABLES.get(t) if type(t) is str else None
        if tables is None:
            # Not a protocol we fold (an extension's scope type): keep out of the orphans.
            self._ignored.add(key)
            self.ignored += 1
            return None
        # t is a key of TABLES, so a FlowType (no cast(): a call per flow).
        flow = flow_from_scope(t, event, source, msg)  # type: ignore[arg-type]
        self.flows[key] = flow
        c = conns[event.conn] = Conn(flow, tables, self.body_cap, self.details)
        return c


def fold_events(events: Iterable[Event], source: str = "",
                body_cap: int = DEFAULT_BODY_CAP) -> list[Flow]:
    """All flows of a finished event stream (a capture file), in order of first scope."""
    folder = FlowFolder(body_cap)
    folder.extend(events, source)
    return list(folder.flows.values())
