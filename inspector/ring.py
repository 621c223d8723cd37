"""A bounded buffer of event records, by count and by bytes; no asyncio, no I/O.

Records are `bytes` (see `inspector.events.encode_record`): immutable objects the garbage
collector does not track, so a full buffer costs the collector one list, not a hundred
thousand dicts. Append is a list append; when a bound would break, the oldest 1/64 of
the records go in one slice deletion, so eviction is O(1) amortised per append.

One writer (the event loop running the app) and any number of readers in other threads.
The writer bumps `_generation` around each eviction (odd while it runs, a seqlock); a
reader that saw the generation move retries, so it never returns records under the wrong
seq.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a bytes object costs beyond its payload (CPython object header + allocator
# rounding), so that the byte cap bounds real memory, not just payload.
RECORD_OVERHEAD = 48

DEFAULT_CAPACITY = 200_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Batch:
    """What a reader gets: records `first_seq`, `first_seq + 1`, ... and how many it missed."""

    first_seq: int
    records: list[bytes]
    missed: int

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.records)


class RingBuffer:
    """Keeps the newest records within `capacity` records and `max_bytes` bytes."""

    __slots__ = ("capacity", "max_bytes", "_records", "first_seq", "size_bytes", "dropped",
                 "_generation")

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._records: list[bytes] = []
        self.first_seq = 0        # seq of _records[0]
        self.size_bytes = 0       # bytes held, counting RECORD_OVERHEAD per record
        self.dropped = 0          # records evicted to stay within the bounds
        self._generation = 0

    def __len__(self) -> int:
        return len(self._records)

    @property
    def next_seq(self) -> int:
        """The seq the next record will get."""
        return self.first_seq + len(self._records)

    def append(self, record: bytes) -> int:
        """Store a record; evict the oldest as needed; return the record's seq."""
        records = self._records
        size = len(record) + RECORD_OVERHEAD
        if len(records) >= self.capacity or self.size_bytes + size > self.max_bytes:
            self._make_room(size)
        records.append(record)
        self.size_bytes += size
        return self.first_seq + len(records) - 1

    def _make_room(self, size: int) -> None:
        # A record larger than the whole byte cap still goes in, alone.
        records = self._records
        batch = max(1, len(records) >> 6)
        n = batch if len(records) >= self.capacity else 0
        freed = sum(map(len, records[:n])) + n * RECORD_OVERHEAD
        while n < len(records) and self.size_bytes - freed + size > self.max_bytes:
            more = records[n:n + batch]
            freed += sum(map(len, more)) + len(more) * RECORD_OVERHEAD
            n += len(more)
        self._generation += 1
        del records[:n]
        self.first_seq += n
        self._generation += 1
        self.size_bytes -= freed
        self.dropped += n

    def since(self, seq: int, limit: int | None = None) -> Batch:
        """Records from `seq` on (at most `limit`), and how many before them were lost."""
        while True:
            generation = self._generation
            if generation & 1:
                continue          # an eviction is half done; the writer will finish it
            first = self.first_seq
            start = max(seq, first)
            stop = None if limit is None else start - first + limit
            records = self._records[start - first:stop]
            if self._generation == generation:
                return Batch(start, records, start - seq)

    def clear(self) -> None:
        """Forget every record (counted neither as dropped nor as missed by readers)."""
        self._generation += 1
        self.first_seq += len(self._records)
        self._records = []
        self._generation += 1
        self.size_bytes = 0
