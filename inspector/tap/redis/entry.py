"""One stream entry: a batch of ring records with who sent them; no I/O.

An entry's fields: `h` host, `p` pid, `i` the middleware's number in its process, `a`
the app's name, `t` the wall-clock epoch of the capture's time 0, `s` the seq of the
first record, `r` the records (one marshalled list of the ring's bytes, so nothing is
re-encoded per event), `d` events this publisher has failed to publish so far, `x` the
ring's evictions so far, `c`/`m` the ring's bounds. Readers decode the records with
`decode_records`, as a tap reader does.

`SourceTracker` is the reader's bookkeeping for one publisher: a gap in seqs that the
publisher did not account for as a drop was trimmed away before this reader got to it,
and is reported as missed.
"""

from __future__ import annotations

import marshal
from dataclasses import dataclass
from typing import Any

from inspector.events.model import Event, decode_records


@dataclass(frozen=True, slots=True)
class Sender:
    """Who publishes: fixed for a publisher's life."""

    host: str
    pid: int
    instance: int
    app: str
    started: float
    capacity: int = 0
    max_bytes: int = 0

    def source_name(self) -> str:
        """"web-1 pid 1234", or "web-1 pid 1234/2" for its second middleware."""
        name = f"{self.host} pid {self.pid}"
        return name if self.instance <= 1 else f"{name}/{self.instance}"

    def info(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "name": self.app,
                "started": self.started, "capacity": self.capacity,
                "max_bytes": self.max_bytes}


def sender_fields(sender: Sender) -> dict[str, Any]:
    """The fields every entry of `sender` carries alike."""
    return {"h": sender.host, "p": sender.pid, "i": sender.instance, "a": sender.app,
            "t": repr(sender.started), "c": sender.capacity, "m": sender.max_bytes}


def batch_fields(first_seq: int, records: bytes, *, unpublished: int,
                 ring_dropped: int) -> dict[str, Any]:
    """The fields of one entry's batch: `records` (seqs `first_seq` on) marshalled as the
    ring hands them out (`Ring.marshalled`), and the sender's counters."""
    return {"s": first_seq, "r": records, "d": unpublished, "x": ring_dropped}


class EntryError(ValueError):
    """A stream entry that is not one of ours."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A decoded entry: its sender, first seq, records and the sender's counters."""

    sender: Sender
    first_seq: int
    records: list[bytes]
    unpublished: int
    ring_dropped: int

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.records)


def _text(fields: dict[bytes, bytes], key: bytes) -> str:
    value = fields.get(key)
    if value is None:
        raise EntryError(f"no field {key.decode()!r}")
    return value.decode("utf-8", "replace")


def _int(fields: dict[bytes, bytes], key: bytes, default: int | None = None) -> int:
    value = fields.get(key)
    if value is None:
        if default is None:
            raise EntryError(f"no field {key.decode()!r}")
        return default
    try:
        return int(value)
    except ValueError:
        raise EntryError(f"field {key.decode()!r} is not a number") from None


def decode_entry(fields: dict[bytes, bytes]) -> Entry:
    """An entry's fields (bytes keys and values, as redis returns them) -> Entry."""
    try:
        started = float(_text(fields, b"t"))
    except ValueError:
        raise EntryError("field 't' is not a time") from None
    sender = Sender(_text(fields, b"h"), _int(fields, b"p"), _int(fields, b"i", 1),
                    _text(fields, b"a"), started, _int(fields, b"c", 0), _int(fields, b"m", 0))
    blob = fields.get(b"r")
    if blob is None:
        raise EntryError("no field 'r'")
    try:
        records = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        raise EntryError("field 'r' is not a batch of records") from None
    if type(records) is not list or not all(type(r) is bytes for r in records):
        raise EntryError("field 'r' is not a batch of records")
    return Entry(sender, _int(fields, b"s"), records, _int(fields, b"d", 0),
                 _int(fields, b"x", 0))


class SourceTracker:
    """What a reader knows of one publisher: the next seq expected and losses so far.

    `missed` counts events this reader never got because the stream was trimmed first;
    `unpublished` is the publisher's own count of events it could not send (Redis
    unreachable or slow), carried by every entry.
    """

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.next_seq: int | None = None
        self.missed = 0
        self.unpublished = 0
        self.ring_dropped = 0
        self.events = 0

    def accept(self, entry: Entry) -> list[Event]:
        """The entry's events, after counting any gap before them; [] for a replay of
        events already had (a publisher that restarted its seq counts as new)."""
        if self.next_seq is not None:
            if entry.first_seq < self.next_seq:
                skip = self.next_seq - entry.first_seq
                if skip >= len(entry.records):
                    return []
                entry = Entry(entry.sender, self.next_seq, entry.records[skip:],
                              entry.unpublished, entry.ring_dropped)
            gap = entry.first_seq - self.next_seq
            accounted = entry.unpublished - self.unpublished
            if gap > accounted:
                self.missed += gap - max(0, accounted)
        self.unpublished = max(self.unpublished, entry.unpublished)
        self.ring_dropped = entry.ring_dropped
        self.next_seq = entry.next_seq
        self.events += len(entry.records)
        return decode_records(entry.first_seq, entry.records)
