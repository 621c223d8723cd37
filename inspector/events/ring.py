"""A bounded buffer of event records, by count and by bytes; no asyncio, no I/O.

The rule: a new record goes in after the oldest records are evicted, one by one, until
the buffer holds fewer than `capacity` records and the new record fits within
`max_bytes` with the ones kept (a record larger than the whole cap goes in alone).
Evictions are counted; a reader asks for everything from seq N and learns how many it
missed.

Where the C extension is built (`inspector/events/_encoder.c`) the records live back to back in
one arena: storing one allocates nothing and evicting one frees nothing, so the app's
event loop never touches the cold memory of old records (with a bytes object per
record, that cost a live server more than the encoding did). `record()` encodes an
event and stores it in one call. `PyRingBuffer` is the same rule in Python over a deque,
for installs without a compiler. All methods run under the GIL, so a reader in another
thread sees whole records only.
"""

from __future__ import annotations

import marshal
import struct
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from inspector._native import native
from inspector.events.model import MARSHAL_VERSION, encode_event

DEFAULT_CAPACITY = 200_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_SIZE = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Batch:
    """What a reader gets: records `first_seq`, `first_seq + 1`, ... and how many it missed."""

    first_seq: int
    records: list[bytes]
    missed: int

    @property
    def next_seq(self) -> int:
        return self.first_seq + len(self.records)


_Buffer = TypeVar("_Buffer", bytes, bytearray)


@dataclass(frozen=True, slots=True)
class Packed(Generic[_Buffer]):
    """`count` records from `first_seq` written into one buffer (`Ring.marshalled`,
    `Ring.framed`), and how many before them were lost: a batch to send on without a
    bytes object per record."""

    first_seq: int
    count: int
    blob: _Buffer
    missed: int

    @property
    def next_seq(self) -> int:
        return self.first_seq + self.count


class Ring(Protocol):
    """What every ring offers its writer and its readers: `PyRingBuffer` and the C ring
    alike (`RingBuffer` is whichever this process uses)."""

    @property
    def capacity(self) -> int: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def first_seq(self) -> int: ...
    @property
    def next_seq(self) -> int: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    def __len__(self) -> int: ...
    def append(self, record: bytes) -> int: ...
    def record(self, conn: int, kind: str, t0: float, message: Any, limit: int,
               skip: tuple[str, ...] | None) -> int | None: ...
    def since(self, seq: int, limit: int | None = None) -> Batch: ...
    def marshalled(self, seq: int, limit: int, max_bytes: int) -> Packed[bytes]: ...
    def framed(self, seq: int, limit: int, max_bytes: int, head: int) -> Packed[bytearray]: ...
    def clear(self) -> None: ...


class PyRingBuffer:
    """The ring's rule in Python: the fallback where the C ring is not built (the tests run
    both against the same list model)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._records: deque[bytes] = deque()
        self.first_seq = 0        # seq of _records[0]
        self.size_bytes = 0       # payload bytes held
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
        if len(records) >= self.capacity or self.size_bytes + len(record) > self.max_bytes:
            self._generation += 1     # odd while evicting: readers retry (a seqlock)
            while len(records) >= self.capacity:
                self._evict_oldest()
            while records and self.size_bytes + len(record) > self.max_bytes:
                self._evict_oldest()
            self._generation += 1
        records.append(record)
        self.size_bytes += len(record)
        return self.first_seq + len(records) - 1

    def record(self, conn: int, kind: str, t0: float, message: Any, limit: int,
               skip: tuple[str, ...] | None) -> int | None:
        """Encode an event (see `encode_event`) and store it; None: the caller's slow path."""
        record = encode_event(conn, kind, t0, message, limit, skip)
        return None if record is None else self.append(record)

    def _evict_oldest(self) -> None:
        self.size_bytes -= len(self._records.popleft())
        self.first_seq += 1
        self.dropped += 1

    def _since(self, seq: int, limit: int | None = None) -> tuple[int, list[bytes], int]:
        while True:               # the writer may run between two of these lines
            generation = self._generation
            if generation & 1:
                continue
            first = self.first_seq
            start = max(seq, first)
            stop = None if limit is None else start - first + max(0, limit)
            try:
                records = list(islice(self._records, start - first, stop))
            except RuntimeError:  # deque mutated during iteration
                continue
            if self._generation == generation:
                return start, records, start - seq

    def since(self, seq: int, limit: int | None = None) -> Batch:
        """Records from `seq` on (at most `limit`), and how many before them were lost."""
        return Batch(*self._since(seq, limit))

    def _batch(self, seq: int, limit: int, max_bytes: int,
               overhead: int) -> tuple[int, list[bytes], int]:
        first, records, missed = self._since(seq, limit)
        total = 0
        for count, record in enumerate(records):
            total += len(record) + overhead
            if count and total > max_bytes:
                del records[count:]
                break
        return first, records, missed

    def marshalled(self, seq: int, limit: int, max_bytes: int) -> Packed[bytes]:
        """Records from `seq` on: at most `limit`, and at most `max_bytes` of them after
        the first (one larger record goes alone), as `marshal.dumps(records, 2)`."""
        first, records, missed = self._batch(seq, limit, max_bytes, 0)
        return Packed(first, len(records), marshal.dumps(records, MARSHAL_VERSION), missed)

    def framed(self, seq: int, limit: int, max_bytes: int, head: int) -> Packed[bytearray]:
        """Records from `seq` on: at most `limit`, and at most `max_bytes` counting 4
        bytes a record after the first, each after its size (big-endian 32 bits), in a
        bytearray that starts with `head` zero bytes for the caller's header."""
        first, records, missed = self._batch(seq, limit, max_bytes, 4)
        frame = bytearray(head)
        for record in records:
            frame += _SIZE.pack(len(record))
            frame += record
        return Packed(first, len(records), frame, missed)

    def clear(self) -> None:
        """Forget every record (counted neither as dropped nor as missed by readers)."""
        self._generation += 1
        self.first_seq += len(self._records)
        self._records.clear()
        self.size_bytes = 0
        self._generation += 1


_encoder = native("_encoder")   # None: built without a C compiler, or forced off
if TYPE_CHECKING:  # the type checker reads the C ring's interface in `_encoder.pyi`
    from inspector.events._encoder import Ring as _NativeRing
elif _encoder is not None:
    _NativeRing = _encoder.Ring

RING: Literal["c", "python"]
if _encoder is None and not TYPE_CHECKING:
    RingBuffer = PyRingBuffer
    RING = "python"
else:
    class RingBuffer(_NativeRing):
        """Keeps the newest records within `capacity` records and `max_bytes` bytes."""

        __slots__ = ()

        def __init__(self, capacity: int = DEFAULT_CAPACITY,
                     max_bytes: int = DEFAULT_MAX_BYTES) -> None:
            super().__init__(capacity, max_bytes)

        def since(self, seq: int, limit: int | None = None) -> Batch:
            """Records from `seq` on (at most `limit`), and how many before them were lost."""
            return Batch(*self._since(seq, limit))

        def marshalled(self, seq: int, limit: int, max_bytes: int) -> Packed[bytes]:
            """Records from `seq` on: at most `limit`, and at most `max_bytes` of them after
            the first (one larger record goes alone), as `marshal.dumps(records, 2)`."""
            return Packed(*self._marshalled(seq, limit, max_bytes))

        def framed(self, seq: int, limit: int, max_bytes: int, head: int) -> Packed[bytearray]:
            """Records from `seq` on, each after its size (big-endian 32 bits), after
            `head` zero bytes; bounded as `marshalled` is, counting 4 bytes a record."""
            return Packed(*self._framed(seq, limit, max_bytes, head))

    RING = "c"

if TYPE_CHECKING:  # both rings offer the interface the rest of the package relies on
    _RINGS: tuple[type[Ring], ...] = (PyRingBuffer, RingBuffer)
