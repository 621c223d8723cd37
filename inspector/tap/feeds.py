"""Feeds: where a dashboard's events come from, behind one interface.

A feed is an async iterator of `FeedItem`s (`feed.stream()`). It yields after every batch,
and no batch takes long to make (a few milliseconds of decoding), so a consumer can run it
as a task on its own event loop (the dashboard does, in an async worker) and still answer
a key press within a batch's time. Running it in a thread instead would cost more than it
saves: the decoding holds the GIL, and the UI thread would queue for it at every await.
Three feeds:

* `LocalFeed`: polls a ring buffer in this process (`run` and `proxy`: the server runs in
  a background thread, the dashboard in the main thread).
* `TapFeed`: attaches to every tap socket `discover_taps()` finds, again every second so
  processes started later appear (all uvicorn workers of one app, aggregated), or to the
  sockets it is given; backlog first, then live. Each flow is tagged with its source
  ("pid 1234"); a process whose socket closes is reported gone.
* `FileFeed`: streams a saved capture (`iter_capture`), so the first screen shows while the
  rest is still being read.

Items are small frozen facts: `SourceInfo` (a source appeared), `Batch` (its events, in
order), `SourceStatus` (cumulative counters: missed, dropped, ring use; gone; loaded).
Nothing here imports a UI.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from inspector.events.model import Event, decode_records

if TYPE_CHECKING:
    from inspector.events.ring import Ring

__all__ = ["Batch", "Feed", "FeedItem", "FileFeed", "LocalFeed", "SourceInfo", "SourceStatus",
           "TapFeed", "tap_source_name"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A source appeared: its name, the wall-clock epoch of its time 0, what it said."""

    source: str
    started: float
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Batch:
    """Consecutive events of one source, in the order they happened there."""

    source: str
    events: list[Event]


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Where a source stands; every counter is cumulative, so the newest status wins.

    missed: events this reader never got (ring wrapped before we read, or gap lines in a
    file). dropped: events the source's ring evicted (None when unknown). ring_*: the
    source's buffer use right now (None for a file). gone: the source will send nothing
    more (socket closed, file read to the end: then `loaded` too). error: why it stopped,
    when something went wrong. unpublished: events the source could not send to its Redis
    stream (Redis down or slow; see inspector/tap/redis/publish.py).
    """

    source: str
    missed: int = 0
    dropped: int | None = None
    ring_events: int | None = None
    ring_capacity: int | None = None
    ring_bytes: int | None = None
    ring_max_bytes: int | None = None
    events: int = 0
    gone: bool = False
    loaded: bool = False
    reason: str = ""
    error: str = ""
    unpublished: int = 0


FeedItem = SourceInfo | Batch | SourceStatus


class Feed(Protocol):
    """What the dashboard consumes: a description, and a stream of items."""

    description: str
    live: bool        # events keep coming (follow the newest), or a fixed set (a file)

    def stream(self) -> AsyncIterator[FeedItem]:
        """Items until the feed ends (a file read) or forever (live); cancel to stop."""
        ...


# -- this process ----------------------------------------------------------------------


class Capturing(Protocol):
    """What `LocalFeed` reads of an InspectorMiddleware: its ring and its recorder."""

    @property
    def ring(self) -> Ring: ...

    @property
    def recorder(self) -> Any: ...


class LocalFeed:
    """Polls a ring buffer of this process: `LocalFeed(middleware)` or `LocalFeed(ring, t0)`.

    Starts at the oldest event the ring still holds. The ring's writer runs in another
    thread; `RingBuffer.since` is safe for that.
    """

    def __init__(self, source: Capturing | Ring,
                 started_wall: float | None = None, *, name: str = "",
                 interval: float = 0.05, batch: int = 1024) -> None:
        ring = getattr(source, "ring", None)
        self._publisher = getattr(source, "publisher", None)
        if ring is not None:          # a middleware
            self.ring: Ring = ring
            started = source.recorder.started_wall  # type: ignore[union-attr]
        else:
            self.ring = source  # type: ignore[assignment]
            started = time.time()
        self.started_wall = started if started_wall is None else started_wall
        self.name = name
        self.interval = interval
        self.batch = batch
        self.description = "this process"
        self.live = True

    async def stream(self) -> AsyncIterator[FeedItem]:
        ring, source = self.ring, self.name
        yield SourceInfo(source, self.started_wall, {"pid": os.getpid()})
        seq = ring.first_seq
        missed = 0
        received = 0
        last: SourceStatus | None = None
        while True:
            batch = ring.since(seq, limit=self.batch)
            missed += batch.missed
            if batch.records:
                events = decode_records(batch.first_seq, batch.records)
                received += len(events)
                seq = batch.next_seq
                yield Batch(source, events)
            else:
                seq = batch.first_seq
            status = SourceStatus(source, missed=missed, dropped=ring.dropped,
                                  ring_events=len(ring), ring_capacity=ring.capacity,
                                  ring_bytes=ring.size_bytes, ring_max_bytes=ring.max_bytes,
                                  events=received, unpublished=self._unpublished())
            if status != last:
                last = status
                yield status
            if len(batch.records) < self.batch:
                await asyncio.sleep(self.interval)
            else:
                await asyncio.sleep(0)      # behind: read on, but let a stop through


    def _unpublished(self) -> int:
        sink = getattr(self._publisher, "redis", None)
        return sink.unpublished if sink is not None else 0


# -- a saved capture ---------------------------------------------------------------------


class FileFeed:
    """Streams a capture file: items while it reads, then a final status with `loaded`.

    Read-only. `source` names its flows ("" by default: one file, one process). A bad line
    ends the feed with `error` set; the events before it are kept.
    """

    def __init__(self, path: str | os.PathLike[str], *, source: str = "",
                 batch: int = 500) -> None:
        self.path = Path(path)
        self.source = source
        self.batch = batch
        self.description = f"file {self.path.name}"
        self.live = False

    async def stream(self) -> AsyncIterator[FeedItem]:
        from inspector.io.capture_file import Capture, CaptureError, iter_capture

        capture = Capture()
        source = self.source
        announced = False
        read = 0
        error = ""
        events = iter_capture(self.path, capture)
        while True:
            pending: list[Event] = []
            try:
                for event in events:
                    pending.append(event)
                    if len(pending) >= self.batch:
                        break
            except CaptureError as exc:     # the events before the bad line still count
                error = str(exc)
            except OSError as exc:
                error = f"{self.path}: {exc.strerror or exc}"
            if not announced:
                announced = True
                started = capture.header.get("started")
                yield SourceInfo(source, float(started)
                                 if isinstance(started, (int, float)) else 0.0,
                                 dict(capture.header))
            if pending:
                read += len(pending)
                yield Batch(source, pending)
            if error or len(pending) < self.batch:
                break
            yield SourceStatus(source, missed=capture.missed, events=read)
            await asyncio.sleep(0)
        yield SourceStatus(source, missed=capture.missed, events=read, gone=True,
                           loaded=not error, reason="" if error else "read to the end",
                           error=error)


# -- tap sockets -----------------------------------------------------------------------------


def tap_source_name(path: Path, hello: dict[str, Any] | None = None) -> str:
    """"pid 1234" for a process's first tap; "pid 1234/2" for its second middleware."""
    from inspector.tap.runtime_dir import parse_tap_name

    parsed = parse_tap_name(path)
    pid = hello.get("pid") if hello else None
    n = 1
    if parsed is not None:
        pid = parsed[0] if pid is None else pid
        n = parsed[1]
    if pid is None:
        return path.stem
    return f"pid {pid}" if n <= 1 else f"pid {pid}/{n}"


class TapFeed:
    """Attaches to tap sockets: every one `discover_taps()` finds (again every
    `rediscover` seconds), or just `paths` (`--connect`). Backlog first, then live.
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]] | None = None, *,
                 directory: Path | None = None, rediscover: float = 1.0,
                 start: str = "backlog") -> None:
        self.paths = None if paths is None else [Path(p) for p in paths]
        self.directory = directory
        self.rediscover = rediscover
        self.start = start
        self._resume: dict[Path, int] = {}
        self.live = True
        if self.paths is None:
            self.description = "taps"
        elif len(self.paths) == 1:
            self.description = f"tap {self.paths[0].name}"
        else:
            self.description = f"{len(self.paths)} taps"

    @property
    def discovers(self) -> bool:
        """True when it finds the processes itself (no fixed paths): it may start with
        none, and picks each one up as it starts."""
        return self.paths is None

    def watched_dir(self) -> str | None:
        """The directory searched for tap sockets (None: fixed paths, or none usable)."""
        if self.paths is not None:
            return None
        from inspector.tap.runtime_dir import runtime_dir

        try:
            return str(self.directory if self.directory is not None else runtime_dir())
        except (OSError, RuntimeError):
            return None

    def _discover(self) -> list[Path]:
        from inspector.tap.runtime_dir import discover_taps

        return discover_taps(self.directory)

    async def stream(self) -> AsyncIterator[FeedItem]:
        queue: asyncio.Queue[FeedItem] = asyncio.Queue(maxsize=64)
        readers: dict[Path, asyncio.Task[None]] = {}
        discovery = asyncio.create_task(self._watch(queue, readers))
        getter: asyncio.Task[FeedItem] | None = None
        try:
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, discovery},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                discovery.result()       # raises what discovery raised
                # Fixed paths all read: drain what is queued, then end.
                while not queue.empty():
                    yield queue.get_nowait()
                return
        finally:
            tasks = [*readers.values(), discovery, *([getter] if getter else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, queue: asyncio.Queue[FeedItem],
                     readers: dict[Path, asyncio.Task[None]]) -> None:
        if self.paths is not None:
            for path in self.paths:
                readers[path] = asyncio.create_task(self._read(path, queue))
            await asyncio.gather(*readers.values(), return_exceptions=True)
            return
        warned = ""
        while True:
            try:
                found = await asyncio.to_thread(self._discover)
                warned = ""
            except (OSError, RuntimeError) as exc:
                found = []
                if str(exc) != warned:
                    warned = str(exc)
                    await queue.put(SourceStatus("", error=f"tap discovery: {exc}"))
            for path in found:
                task = readers.get(path)
                if task is None or task.done():
                    readers[path] = asyncio.create_task(self._read(path, queue))
            await asyncio.sleep(self.rediscover)

    async def _read(self, path: Path, queue: asyncio.Queue[FeedItem]) -> None:
        from inspector.tap.client import Closed, TapClient
        from inspector.tap.protocol import (
            Events,
            Hello,
            Missed,
            Stats,
            TapProtocolError,
        )

        source = tap_source_name(path)
        resume = self._resume.get(path)
        missed = 0
        received = 0
        last = SourceStatus(source)
        # Reconnecting to a socket we read before: resume after the last event we got.
        client = TapClient(path, self.start if resume is None else resume)  # type: ignore[arg-type]
        try:
            await client.connect()
            async for item in client:
                if isinstance(item, Events):
                    received += len(item.events)
                    self._resume[path] = item.next_seq
                    await queue.put(Batch(source, item.events))
                elif isinstance(item, Hello):
                    source = tap_source_name(path, item.info)
                    last = replace(last, source=source,
                                   ring_capacity=item.info.get("capacity"),
                                   ring_max_bytes=item.info.get("max_bytes"))
                    started = item.info.get("started")
                    await queue.put(SourceInfo(
                        source, float(started) if isinstance(started, (int, float))
                        else time.time(), {**item.info, "path": str(path)}))
                elif isinstance(item, Missed):
                    missed += item.count
                    last = replace(last, missed=missed, events=received)
                    await queue.put(last)
                elif isinstance(item, Stats):
                    info = item.info
                    last = replace(last, missed=missed, events=received,
                                   dropped=_int(info.get("dropped")),
                                   ring_events=_int(info.get("size")),
                                   ring_capacity=_int(info.get("capacity")),
                                   ring_bytes=_int(info.get("bytes")),
                                   ring_max_bytes=_int(info.get("max_bytes")))
                    await queue.put(last)
                elif isinstance(item, Closed):
                    await queue.put(replace(last, missed=missed, events=received,
                                            gone=True, reason=item.reason))
                    return
            await queue.put(replace(last, missed=missed, events=received, gone=True,
                                    reason="publisher closed the connection"))
        except (OSError, TapProtocolError) as exc:
            await queue.put(replace(last, missed=missed, events=received, gone=True,
                                    reason=str(exc), error=str(exc)))
        finally:
            await client.close()


def _int(value: Any) -> int | None:
    return value if type(value) is int else None
