"""The events the dashboard holds, compact, for the Events tab and for saving. No Textual.

Kept as ring-buffer records (`encode_record` bytes), not `Event` objects: a hundred thousand
live message dicts make the garbage collector's full passes take hundreds of milliseconds
(FACTS.md), and that would be felt as a frozen dashboard. Records are decoded one at a
time, when a visible line or the capture writer asks for them.

Payloads above `body_cap` are cut when stored, with `truncated` set to their length, the
same way the recorder cuts them: a capture holding a 50 MiB body costs 1 MiB here.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from inspector.events.model import Event, decode_record, decode_records, encode_record, plain_data

DEFAULT_BODY_CAP = 1 << 20

# Which key of a message type holds the payload a cap applies to (as in the recorder).
_PAYLOAD_KEYS = {
    "http.request": ("body",),
    "http.response.body": ("body",),
    "websocket.http.response.body": ("body",),
    "websocket.receive": ("bytes", "text"),
    "websocket.send": ("bytes", "text"),
}


def _record(event: Event, cap: int) -> bytes:
    message = event.message
    truncated = event.truncated
    if type(message) is dict:
        keys = _PAYLOAD_KEYS.get(message.get("type"))  # type: ignore[arg-type]
        if keys is not None:
            for key in keys:
                payload = message.get(key)
                if isinstance(payload, (bytes, str)) and len(payload) > cap:
                    size = len(payload) if isinstance(payload, bytes) else \
                        len(payload.encode("utf-8", "surrogatepass"))
                    message = {**message, key: payload[:cap]}
                    truncated = max(truncated or 0, size)
                    break
    try:
        return encode_record(event.conn, event.kind, event.time, message, truncated)
    except ValueError:
        return encode_record(event.conn, event.kind, event.time, plain_data(message),
                             truncated)


@dataclass
class _Chunk:
    first_seq: int
    records: list[bytes] = field(default_factory=list)


class _SourceLog:
    __slots__ = ("chunks", "starts")

    def __init__(self) -> None:
        self.chunks: list[_Chunk] = []
        self.starts: list[int] = []

    def add(self, seq: int, record: bytes) -> None:
        if self.chunks:
            last = self.chunks[-1]
            if last.first_seq + len(last.records) == seq:
                last.records.append(record)
                return
        self.chunks.append(_Chunk(seq, [record]))
        self.starts.append(seq)

    def decode(self, first: int, last: int) -> list[Event]:
        """The held events `first`..`last` (consecutive seqs), decoded."""
        out: list[Event] = []
        seq = first
        while seq <= last:
            i = bisect_right(self.starts, seq) - 1
            if i < 0:
                seq = self.starts[0] if self.starts else last + 1
                continue
            chunk = self.chunks[i]
            offset = seq - chunk.first_seq
            stop = min(last + 1 - chunk.first_seq, len(chunk.records))
            if offset >= stop:
                # not held: skip to the next chunk's start (or past the run)
                seq = self.starts[i + 1] if i + 1 < len(self.starts) else last + 1
                continue
            out += decode_records(seq, chunk.records[offset:stop])
            seq = chunk.first_seq + stop
        return out

    def get(self, seq: int) -> bytes | None:
        i = bisect_right(self.starts, seq) - 1
        if i < 0:
            return None
        chunk = self.chunks[i]
        offset = seq - chunk.first_seq
        return chunk.records[offset] if offset < len(chunk.records) else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the log held at one moment: safe to read from another thread meanwhile."""

    sources: dict[str, list[tuple[int, list[bytes], int]]]   # source -> (seq, records, n)
    offsets: dict[str, float]
    events: int

    def events_of(self, source: str) -> Iterator[Event]:
        for first, records, n in self.sources.get(source, ()):
            for i in range(n):
                yield decode_record(first + i, records[i])


class EventLog:
    """Records per source, found again by (source, seq)."""

    def __init__(self, body_cap: int = DEFAULT_BODY_CAP) -> None:
        self.body_cap = body_cap
        self._sources: dict[str, _SourceLog] = {}
        self.events = 0
        self.bytes = 0

    def add(self, source: str, events: Iterable[Event]) -> None:
        """Keep a batch of a source's events."""
        log = self._sources.get(source)
        if log is None:
            log = self._sources[source] = _SourceLog()
        cap = self.body_cap
        n = size = 0
        for event in events:
            record = _record(event, cap)
            log.add(event.seq, record)
            n += 1
            size += len(record)
        self.events += n
        self.bytes += size

    def get(self, source: str, seq: int) -> Event | None:
        """The event `seq` of `source`, decoded, if held."""
        log = self._sources.get(source)
        record = None if log is None else log.get(seq)
        return None if record is None else decode_record(seq, record)

    def events_of(self, source: str, seqs: Iterable[int]) -> list[Event]:
        """The held events among `seqs` of `source`, in the given order.

        Runs of consecutive seqs held in one chunk (a flow's events mostly arrive back to
        back) are decoded in one `decode_records` call each, which is several times faster
        than one record at a time.
        """
        log = self._sources.get(source)
        if log is None:
            return []
        out: list[Event] = []
        run_first: int | None = None
        run_last = 0
        for seq in seqs:
            if run_first is not None and seq == run_last + 1:
                run_last = seq
                continue
            if run_first is not None:
                out += log.decode(run_first, run_last)
            run_first = run_last = seq
        if run_first is not None:
            out += log.decode(run_first, run_last)
        return out

    @property
    def sources(self) -> list[str]:
        return list(self._sources)

    def clear(self) -> None:
        self._sources = {}
        self.events = 0
        self.bytes = 0

    def snapshot(self, offsets: dict[str, float] | None = None) -> Snapshot:
        """A frozen view (lists are only ever appended to, so lengths freeze them)."""
        return Snapshot(
            {source: [(c.first_seq, c.records, len(c.records)) for c in log.chunks]
             for source, log in self._sources.items()},
            dict(offsets or {}), self.events)


def merged_events(snapshot: Snapshot) -> Iterator[Event]:
    """Every held event as one capture: one source as it was; several merged by time.

    Several sources share no numbering (each process counts its own connections and
    seqs from 0), so their events are renumbered: connections in order of first sight,
    seqs from 0, times moved onto the shared axis (`offsets`), merged in time order.
    """
    names = list(snapshot.sources)
    if len(names) == 1:
        yield from snapshot.events_of(names[0])
        return
    conns: dict[tuple[str, int], int] = {}

    def moved(source: str) -> Iterator[tuple[float, int, str, Event]]:
        offset = snapshot.offsets.get(source, 0.0)
        for event in snapshot.events_of(source):
            yield (event.time + offset, order[source], source, event)

    order = {name: i for i, name in enumerate(names)}
    for seq, (t, _, source, event) in enumerate(
            heapq.merge(*(moved(name) for name in names), key=lambda x: (x[0], x[1]))):
        conn = conns.setdefault((source, event.conn), len(conns) + 1)
        yield Event(seq, conn, t, event.kind, event.message, event.truncated)


def save_steps(snapshot: Snapshot, path: str, header: dict[str, Any], missed: int = 0,
               batch: int = 2000) -> Iterator[int]:
    """Write a capture file of everything in `snapshot`, yielding the events written so
    far after each batch (so a UI can write a big one in slices, between key presses)."""
    from inspector.io.capture_file import CaptureWriter

    written = 0
    with CaptureWriter(path, header) as writer:
        writer.write_gap(missed)
        pending: list[Event] = []
        for event in merged_events(snapshot):
            pending.append(event)
            if len(pending) >= batch:
                written += writer.write(pending)
                pending = []
                yield written
        written += writer.write(pending)
    yield written


def save_snapshot(snapshot: Snapshot, path: str, header: dict[str, Any],
                  missed: int = 0) -> int:
    """Write a capture file of everything in `snapshot`; returns the events written."""
    written = 0
    for written in save_steps(snapshot, path, header, missed):
        pass
    return written
