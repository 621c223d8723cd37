"""RingBuffer: bounds by count and bytes, readers that learn what they missed."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.ring import RECORD_OVERHEAD, RingBuffer


def test_append_and_since() -> None:
    ring = RingBuffer(capacity=4)
    for i in range(3):
        assert ring.append(b"r%d" % i) == i
    batch = ring.since(0)
    assert batch.records == [b"r0", b"r1", b"r2"] and batch.first_seq == 0 and batch.missed == 0
    assert ring.since(2).records == [b"r2"]
    assert ring.since(3).records == [] and ring.since(3).next_seq == 3


def test_wrap_counts_drops_and_missed() -> None:
    ring = RingBuffer(capacity=3)
    for i in range(10):
        ring.append(b"%d" % i)
    assert len(ring) == 3 and ring.dropped == 7 and ring.first_seq == 7
    batch = ring.since(2)
    assert batch.missed == 5 and batch.first_seq == 7 and batch.records == [b"7", b"8", b"9"]


def test_byte_cap_evicts_oldest() -> None:
    ring = RingBuffer(capacity=100, max_bytes=3 * (10 + RECORD_OVERHEAD))
    for i in range(5):
        ring.append(bytes([i]) * 10)
    assert len(ring) == 3 and ring.dropped == 2 and ring.since(0).records[0] == bytes([2]) * 10
    assert ring.size_bytes == 3 * (10 + RECORD_OVERHEAD)
    # A record larger than the whole cap still goes in, alone.
    ring.append(b"x" * 1000)
    assert len(ring) == 1 and ring.since(0).records == [b"x" * 1000]


def test_limit_and_clear() -> None:
    ring = RingBuffer(capacity=8)
    for i in range(6):
        ring.append(b"%d" % i)
    assert ring.since(1, limit=2).records == [b"1", b"2"]
    ring.clear()
    assert len(ring) == 0 and ring.size_bytes == 0 and ring.since(0).missed == 6


def test_bad_bounds() -> None:
    with pytest.raises(ValueError):
        RingBuffer(capacity=0)
    with pytest.raises(ValueError):
        RingBuffer(max_bytes=0)


ops = st.lists(st.one_of(st.binary(max_size=40).map(lambda b: ("append", b)),
                         st.integers(min_value=0, max_value=80).map(lambda n: ("since", n))),
               max_size=120)


class ListModel:
    """The ring's rule written plainly over an unbounded list: when a bound would break,
    drop the oldest in batches of 1/64 of what is held (at least one)."""

    def __init__(self, capacity: int, max_bytes: int) -> None:
        self.capacity, self.max_bytes = capacity, max_bytes
        self.records: list[bytes] = []
        self.first = 0

    def held(self) -> list[bytes]:
        return self.records[self.first:]

    def size(self) -> int:
        return sum(len(r) + RECORD_OVERHEAD for r in self.held())

    def append(self, record: bytes) -> None:
        batch = max(1, len(self.held()) // 64)
        if len(self.held()) >= self.capacity:
            self.first += batch
        while self.held() and self.size() + len(record) + RECORD_OVERHEAD > self.max_bytes:
            self.first += min(batch, len(self.held()))
        self.records.append(record)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 200), max_bytes=st.integers(1, 3000), ops=ops)
def test_matches_a_plain_list_model(capacity: int, max_bytes: int, ops: list) -> None:
    ring = RingBuffer(capacity=capacity, max_bytes=max_bytes)
    model = ListModel(capacity, max_bytes)
    for op, arg in ops:
        if op == "append":
            assert ring.append(arg) == len(model.records)
            model.append(arg)
            assert ring.first_seq == model.first and ring.dropped == model.first
            assert ring.size_bytes == model.size()
            assert len(ring) <= capacity
            assert ring.size_bytes <= max_bytes or len(ring) == 1
        else:
            batch = ring.since(arg)
            assert batch.first_seq == max(arg, model.first) or not batch.records
            assert batch.records == model.records[max(arg, model.first):]
            assert batch.missed == max(0, model.first - arg)


def test_eviction_is_batched_and_bounded() -> None:
    ring = RingBuffer(capacity=6400)
    for i in range(20_000):
        ring.append(b"r")
        assert 6400 - 100 <= len(ring) <= 6400 or i < 6400


def test_concurrent_reader_never_sees_torn_records() -> None:
    """A reader thread following a writer gets every record in order, or counts it missed."""
    ring = RingBuffer(capacity=64)
    total = 200_000
    seen: list[int] = []
    missed = [0]
    done = threading.Event()

    def reader() -> None:
        seq = 0
        while True:
            finished = done.is_set()
            batch = ring.since(seq)
            missed[0] += batch.missed
            for i, record in enumerate(batch.records):
                assert int(record) == batch.first_seq + i
                seen.append(batch.first_seq + i)
            seq = batch.next_seq
            if finished and seq == ring.next_seq:
                return

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(total):
        ring.append(b"%d" % i)
    done.set()
    thread.join(30)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert len(seen) + missed[0] == total
