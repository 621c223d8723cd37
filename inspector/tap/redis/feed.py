"""Reading a Redis stream: a live dashboard feed, or the stream's contents as a capture.

`RedisFeed` is a `Feed` (see inspector/tap/feeds.py): every publisher in the stream (host,
pid, middleware) is a source. Live, it reads from the start of what the stream holds
(`XREAD BLOCK` from id 0: backlog first), then follows; when Redis goes away it says so
in a feed-wide status, retries with back-off and carries on from the last entry it got.
Not live (`open`), it reads up to the entry that was last when it began, then ends.
`read_stream` collects that as one capture (header, events), for export and replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from inspector.events.model import Event
from inspector.tap.feeds import Batch, FeedItem, SourceInfo, SourceStatus
from inspector.tap.redis.entry import EntryError, SourceTracker, decode_entry
from inspector.tap.redis.url import RedisTarget


class StreamState:
    """The pure part of a reader: stream entries in, feed items out."""

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.sources: dict[str, SourceTracker] = {}
        self.foreign = 0          # entries that are not ours, skipped
        self.cursor = "0-0"       # the id of the last entry read

    def items(self, entry_id: bytes | str, fields: dict[bytes, bytes]) -> list[FeedItem]:
        self.cursor = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        try:
            entry = decode_entry(fields)
        except EntryError as exc:
            self.foreign += 1
            if self.foreign == 1:
                return [SourceStatus("", error=f"{self.target.masked}: entry "
                                     f"{self.cursor} skipped ({exc})")]
            return []
        name = entry.sender.source_name()
        out: list[FeedItem] = []
        tracker = self.sources.get(name)
        if tracker is None or tracker.sender.started != entry.sender.started:
            tracker = self.sources[name] = SourceTracker(entry.sender)
            out.append(SourceInfo(name, entry.sender.started,
                                  {**entry.sender.info(), "stream": self.target.stream}))
        before = (tracker.missed, tracker.unpublished, tracker.ring_dropped)
        events = tracker.accept(entry)
        if events:
            out.append(Batch(name, events))
        if (tracker.missed, tracker.unpublished, tracker.ring_dropped) != before \
                or tracker.events == len(events):
            out.append(self.status(name))
        return out

    def status(self, name: str, **extra: Any) -> SourceStatus:
        t = self.sources[name]
        return SourceStatus(name, missed=t.missed, dropped=t.ring_dropped,
                            unpublished=t.unpublished, events=t.events, **extra)


class RedisFeed:
    """The dashboard's view of a stream: `RedisFeed(target)` live, `live=False` to load."""

    def __init__(self, target: RedisTarget, *, live: bool = True, count: int = 64,
                 block_ms: int = 1000, timeout: float = 3.0, max_backoff: float = 5.0) -> None:
        self.target = target
        self.live = live
        self.count = count
        self.block_ms = block_ms
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.description = target.masked
        self.state = StreamState(target)

    async def stream(self) -> AsyncIterator[FeedItem]:
        from inspector.tap.redis.client import connection_errors, open_client

        client = open_client(self.target, timeout=self.timeout, block_ms=self.block_ms)
        errors = connection_errors()
        state = self.state
        key = self.target.stream
        try:
            end = None if self.live else await self._last_id(client)
            if end == "":
                yield SourceStatus("", error=f"{self.target.masked}: stream "
                                   f"{key!r} holds no entries")
            backoff, down, ever = 0.25, False, False
            while end != "":
                try:
                    if end is None:
                        got = await client.xread({key: state.cursor}, count=self.count,
                                                 block=self.block_ms)
                        entries = _entries_of(got)
                    else:
                        entries = await client.xrange(key, f"({state.cursor}", end,
                                                      count=self.count)
                except errors as exc:
                    if not self.live:
                        raise
                    if not down:
                        down = True
                        what = "connection lost" if ever else "cannot connect"
                        yield SourceStatus("", error=f"{self.target.masked}: "
                                           f"{what} ({_reason(exc)}); reconnecting")
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    continue
                ever = True
                if down:
                    down, backoff = False, 0.25
                    yield SourceStatus("", error=f"{self.target.masked}: reconnected")
                for entry_id, fields in entries:
                    for item in state.items(entry_id, fields):
                        yield item
                if end is not None and (not entries or state.cursor == end):
                    break
                await asyncio.sleep(0)
            for name in state.sources if not self.live else ():
                yield state.status(name, gone=True, loaded=True,
                                   reason="read to the end of the stream")
        finally:
            try:
                await asyncio.wait_for(client.aclose(), 1)
            except BaseException:
                pass

    async def _last_id(self, client: Any) -> str:
        """The id of the stream's newest entry now ("" for an empty or absent stream)."""
        last = await client.xrevrange(self.target.stream, "+", "-", count=1)
        if not last:
            return ""
        entry_id = last[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def _entries_of(got: Any) -> list[Any]:
    """XREAD's answer for one stream: a list of [key, entries] (RESP2) or a map (RESP3)."""
    if not got:
        return []
    if isinstance(got, dict):
        return list(next(iter(got.values())))
    return list(got[0][1])


def _reason(exc: BaseException) -> str:
    from inspector.tap.redis.client import describe_error

    return describe_error(exc)[:160]


def read_stream(target: RedisTarget) -> tuple[dict[str, Any], list[Event], int]:
    """A stream's contents now as one capture: (header, events, missed).

    Every publisher's connections get numbers of their own (two processes both have a
    connection 1), times are on one axis from the earliest publisher's start, and seqs
    follow that time order. Entries that are not ours are skipped. Raises what the
    connection raised.
    """
    feed = RedisFeed(target, live=False, count=512)
    infos: dict[str, SourceInfo] = {}
    batches: list[Batch] = []

    async def collect() -> None:
        async for item in feed.stream():
            if isinstance(item, SourceInfo):
                infos[item.source] = item
            elif isinstance(item, Batch):
                batches.append(item)

    asyncio.run(collect())
    missed = sum(t.missed for t in feed.state.sources.values())
    base = min((i.started for i in infos.values()), default=0.0)
    conns: dict[tuple[str, int], int] = {}
    merged: list[tuple[float, int, Event]] = []
    for batch in batches:
        offset = infos[batch.source].started - base
        for event in batch.events:
            conn = conns.setdefault((batch.source, event.conn), len(conns) + 1)
            merged.append((event.time + offset, len(merged),
                           event._replace(conn=conn, time=event.time + offset)))
    merged.sort(key=lambda m: (m[0], m[1]))
    events = [e._replace(seq=i) for i, (_, _, e) in enumerate(merged)]
    header = {"started": base, "source": target.masked, "stream": target.stream,
              "publishers": [{"source": name, **info.info} for name, info in infos.items()]}
    return header, events, missed
