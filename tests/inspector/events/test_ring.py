"""RingBuffer: bounds by count and bytes, readers that learn what they missed."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events.ring import RING, PyRingBuffer, RingBuffer
from tests.conftest import needs_c

# Both implementations keep the same rule: every test runs on each.
IMPLEMENTATIONS = [RingBuffer, PyRingBuffer]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda cls: cls.__module__ + "." + cls.__qualname__)
def Ring(request: pytest.FixtureRequest) -> type:
    return request.param


@needs_c
def test_the_c_ring_is_built() -> None:
    """A developer or CI install compiles inspector/events/_encoder.c; the figures depend on it."""
    assert RING == "c" and RingBuffer is not PyRingBuffer


def test_append_and_since(Ring: type) -> None:
    ring = Ring(capacity=4)
    for i in range(3):
        assert ring.append(b"r%d" % i) == i
    batch = ring.since(0)
    assert batch.records == [b"r0", b"r1", b"r2"] and batch.first_seq == 0 and batch.missed == 0
    assert ring.since(2).records == [b"r2"]
    assert ring.since(3).records == [] and ring.since(3).next_seq == 3


def test_wrap_counts_drops_and_missed(Ring: type) -> None:
    ring = Ring(capacity=3)
    for i in range(10):
        ring.append(b"%d" % i)
    assert len(ring) == 3 and ring.dropped == 7 and ring.first_seq == 7
    batch = ring.since(2)
    assert batch.missed == 5 and batch.first_seq == 7 and batch.records == [b"7", b"8", b"9"]


def test_byte_cap_evicts_oldest(Ring: type) -> None:
    ring = Ring(capacity=100, max_bytes=35)
    for i in range(5):
        ring.append(bytes([i]) * 10)
    assert len(ring) == 3 and ring.dropped == 2 and ring.since(0).records[0] == bytes([2]) * 10
    assert ring.size_bytes == 30
    # A record larger than the whole cap still goes in, alone; then the cap holds again.
    ring.append(b"x" * 1000)
    assert len(ring) == 1 and ring.since(0).records == [b"x" * 1000]
    for i in range(4):
        ring.append(bytes([i]) * 10)
    assert ring.since(0).records == [bytes([i]) * 10 for i in (1, 2, 3)]


@given(sizes=st.lists(st.integers(0, 300), max_size=60), seq=st.integers(0, 70),
       limit=st.integers(0, 70), max_bytes=st.integers(0, 2000))
@settings(max_examples=150, deadline=None)
def test_marshalled_and_framed_are_the_records_cut_to_the_bounds(
        sizes: list[int], seq: int, limit: int, max_bytes: int) -> None:
    """Both rings: the records since `seq`, at most `limit`, at most `max_bytes` after the
    first (counting 4 bytes a record when framed), as marshal.dumps would write them, or
    each after its size; the arena wraps inside records here."""
    import marshal

    for Ring in IMPLEMENTATIONS:
        ring = Ring(capacity=40, max_bytes=3000)
        for i, n in enumerate(sizes):
            ring.append(bytes([i % 256]) * n + b"\r\n" * (n % 3))
        batch = ring.since(seq, limit)
        records = batch.records
        while len(records) > 1 and sum(map(len, records)) > max_bytes:
            records = records[:-1]
        got = ring.marshalled(seq, limit, max_bytes)
        assert (got.first_seq, got.count, got.missed) == (batch.first_seq, len(records),
                                                          batch.missed), Ring
        assert got.blob == marshal.dumps(records, 2) and got.next_seq == seq + got.missed + got.count
        records = batch.records
        while len(records) > 1 and sum(len(r) + 4 for r in records) > max_bytes:
            records = records[:-1]
        framed = ring.framed(seq, limit, max_bytes, 7)
        assert (framed.first_seq, framed.count, framed.missed) == (
            batch.first_seq, len(records), batch.missed), Ring
        assert framed.blob == bytearray(7) + b"".join(
            len(r).to_bytes(4, "big") + r for r in records)


def test_limit_and_clear(Ring: type) -> None:
    ring = Ring(capacity=8)
    for i in range(6):
        ring.append(b"%d" % i)
    assert ring.since(1, limit=2).records == [b"1", b"2"]
    ring.clear()
    assert len(ring) == 0 and ring.size_bytes == 0 and ring.since(0).missed == 6


def test_bad_bounds(Ring: type) -> None:
    with pytest.raises(ValueError):
        Ring(capacity=0)
    with pytest.raises(ValueError):
        Ring(max_bytes=0)


class ListModel:
    """The ring's rule written plainly over an unbounded list: before a record goes in,
    drop the oldest, one by one, until fewer than `capacity` are held and the record fits
    within `max_bytes` beside them (alone, it always goes in)."""

    def __init__(self, capacity: int, max_bytes: int) -> None:
        self.capacity, self.max_bytes = capacity, max_bytes
        self.records: list[bytes] = []
        self.first = 0

    def held(self) -> list[bytes]:
        return self.records[self.first:]

    def size(self) -> int:
        return sum(len(r) for r in self.held())

    def append(self, record: bytes) -> None:
        while len(self.held()) >= self.capacity:
            self.first += 1
        while self.held() and self.size() + len(record) > self.max_bytes:
            self.first += 1
        self.records.append(record)


ops = st.lists(st.one_of(st.binary(max_size=40).map(lambda b: ("append", b)),
                         st.integers(min_value=0, max_value=80).map(lambda n: ("since", n)),
                         st.tuples(st.integers(0, 80), st.integers(0, 5)).map(
                             lambda a: ("limit", a)),
                         st.just(("clear", None))),
               max_size=120)


@pytest.mark.parametrize("Ring", IMPLEMENTATIONS)
@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 200), max_bytes=st.integers(1, 300), ops=ops)
def test_matches_a_plain_list_model(Ring: type, capacity: int, max_bytes: int,
                                    ops: list) -> None:
    # Small byte caps make records wrap around the end of the C ring's arena often.
    ring = Ring(capacity=capacity, max_bytes=max_bytes)
    model = ListModel(capacity, max_bytes)
    dropped = 0
    for op, arg in ops:
        if op == "append":
            assert ring.append(arg) == len(model.records)
            before = model.first
            model.append(arg)
            dropped += model.first - before
            assert ring.first_seq == model.first and ring.dropped == dropped
            assert ring.size_bytes == model.size() and len(ring) == len(model.held())
            assert len(ring) <= capacity
            assert ring.size_bytes <= max_bytes or len(ring) == 1
        elif op == "clear":
            ring.clear()
            model.first = len(model.records)
            assert len(ring) == 0 and ring.size_bytes == 0 and ring.next_seq == model.first
        else:
            seq, limit = (arg, None) if op == "since" else arg
            batch = ring.since(seq, limit)
            start = max(seq, model.first)
            stop = None if limit is None else start + limit
            assert batch.first_seq == start
            assert batch.records == model.records[start:stop]
            assert batch.missed == max(0, model.first - seq)


def test_evicts_exactly_what_it_must(Ring: type) -> None:
    ring = Ring(capacity=6400)
    for i in range(20_000):
        ring.append(b"r")
        assert len(ring) == min(i + 1, 6400)
    assert ring.dropped == 20_000 - 6400


def test_records_wrap_around_the_arena_intact(Ring: type) -> None:
    """Records of awkward sizes straddle the end of the arena and come back whole."""
    ring = Ring(capacity=1000, max_bytes=1000)
    records = [bytes([i % 251]) * (1 + (i * 37) % 300) for i in range(2000)]
    for record in records:
        ring.append(record)
        assert ring.size_bytes <= 1000
    batch = ring.since(0)
    assert batch.records == records[batch.first_seq:] and batch.missed == batch.first_seq


def test_record_encodes_and_stores_an_event(Ring: type) -> None:
    from inspector.events.model import decode_record

    ring = Ring()
    seq = ring.record(3, "send", 0.0, {"type": "http.response.body", "body": b"hi"}, 100, None)
    event = decode_record(seq, ring.since(seq).records[0])
    assert (event.conn, event.kind, event.message) == (
        3, "send", {"type": "http.response.body", "body": b"hi"})
    # Over the limit, or not plain data: left to the caller's slow path, nothing stored.
    assert ring.record(3, "send", 0.0, {"type": "x", "body": b"x" * 101}, 100, None) is None
    assert ring.record(3, "send", 0.0, {"type": "x", "o": object()}, 100, None) is None
    assert len(ring) == 1


def test_concurrent_reader_never_sees_torn_records(Ring: type) -> None:
    """A reader thread following a writer gets every record in order, or counts it missed."""
    ring = Ring(capacity=64)
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
