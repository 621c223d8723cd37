"""Stream entries and the reader's bookkeeping per publisher (pure: no server)."""

from __future__ import annotations

import marshal

import pytest

from inspector.events.model import encode_record
from inspector.tap.redis.entry import (
    EntryError,
    Sender,
    SourceTracker,
    batch_fields,
    decode_entry,
    sender_fields,
)

SENDER = Sender("web-1", 4242, 1, "shop:app", 1700000000.25, 1000, 1 << 20)


def records(n: int, conn: int = 1) -> list[bytes]:
    return [encode_record(conn, "receive", i / 10, {"type": "http.request", "body": b"x" * i})
            for i in range(n)]


def as_redis(fields: dict) -> dict[bytes, bytes]:
    """What redis-py hands back: bytes keys, bytes values."""
    out = {}
    for k, v in fields.items():
        out[k.encode()] = v if isinstance(v, bytes) else str(v).encode()
    return out


def encode_entry(sender: Sender, first: int, blob: bytes, **counters: int) -> dict:
    """An entry's fields as the publisher sends them."""
    return {**sender_fields(sender), **batch_fields(first, blob, **counters)}


def entry(first: int, n: int, unpublished: int = 0):
    return decode_entry(as_redis(encode_entry(SENDER, first, marshal.dumps(records(n), 2),
                                              unpublished=unpublished, ring_dropped=7)))


def test_round_trip_keeps_records_and_sender() -> None:
    e = entry(10, 3, unpublished=2)
    assert e.sender == SENDER and e.first_seq == 10 and e.next_seq == 13
    assert e.records == records(3) and (e.unpublished, e.ring_dropped) == (2, 7)
    assert SENDER.source_name() == "web-1 pid 4242"
    assert Sender("h", 1, 2, "a", 0.0).source_name() == "h pid 1/2"


def test_events_decode_with_their_seqs() -> None:
    tracker = SourceTracker(SENDER)
    events = tracker.accept(entry(0, 3))
    assert [e.seq for e in events] == [0, 1, 2]
    assert events[2].message["body"] == b"xx" and tracker.missed == 0


def test_a_trimmed_gap_is_missed_a_publisher_drop_is_not() -> None:
    tracker = SourceTracker(SENDER)
    tracker.accept(entry(0, 5))
    tracker.accept(entry(8, 2, unpublished=3))       # the publisher skipped 5..7 itself
    assert (tracker.missed, tracker.unpublished) == (0, 3)
    tracker.accept(entry(20, 1, unpublished=3))      # 10..19 trimmed before we read them
    assert (tracker.missed, tracker.unpublished) == (10, 3)
    tracker.accept(entry(30, 1, unpublished=8))      # 21..29: 5 dropped, 4 trimmed
    assert (tracker.missed, tracker.unpublished) == (14, 8)
    assert tracker.events == 9


def test_an_overlap_is_not_delivered_twice() -> None:
    tracker = SourceTracker(SENDER)
    tracker.accept(entry(0, 5))
    assert [e.seq for e in tracker.accept(entry(3, 4))] == [5, 6]
    assert tracker.accept(entry(0, 2)) == [] and tracker.missed == 0


@pytest.mark.parametrize("broken", [
    {b"h": b"x"},
    {**as_redis(encode_entry(SENDER, 0, marshal.dumps(records(1), 2), unpublished=0, ring_dropped=0)),
     b"r": b"not marshal"},
    {**as_redis(encode_entry(SENDER, 0, marshal.dumps(records(1), 2), unpublished=0, ring_dropped=0)),
     b"p": b"pid"},
])
def test_foreign_entries_are_refused(broken: dict[bytes, bytes]) -> None:
    with pytest.raises(EntryError):
        decode_entry(broken)
