"""Publishing a process's records to a Redis stream, from the publisher thread.

`RedisSink.run` is a task on the publisher thread's loop (never the app's): it reads the
ring buffer from behind, as the capture-file writer does, and appends batches of records
as stream entries (`XADD key MAXLEN ~ N`, several written at once on one connection,
packed by `resp.XaddPacker` so a batch is never copied into a command buffer). The ring is the
bounded queue: when Redis is down or too slow to keep up, what the sink cannot send is
skipped and counted in `unpublished` (fire-and-forget: the app never waits), and the
sink tries again after a back-off that doubles up to `max_backoff` seconds.

The publisher thread shares the GIL, and under a CPU-bound app often the core, with the
app's thread. A round is therefore written a piece at a time (a few entries, read from the
ring, packed and written), and between pieces the thread lets go of the GIL: the app's
requests wait for one piece at most, not for a whole round. Redis's replies are read once
the round is written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from itertools import count
from typing import TYPE_CHECKING, Any

from inspector.tap.redis.entry import Sender, batch_fields, sender_fields
from inspector.tap.redis.resp import XaddPacker
from inspector.tap.redis.url import RedisTarget

if TYPE_CHECKING:
    from inspector.events.ring import Ring

log = logging.getLogger("asgi_inspector")

_instances = count(1)


class RedisSink:
    """Sends `ring`'s records to `target`'s stream; counters for the header and summary."""

    def __init__(self, ring: Ring, target: RedisTarget, *, app: str, started: float,
                 interval: float = 0.25, batch: int = 1024, entry_bytes: int = 64 * 1024,
                 piece_entries: int = 8, round_records: int = 32768,
                 max_backlog: int = 100_000, timeout: float = 2.0,
                 max_backoff: float = 5.0) -> None:
        self.ring = ring
        self.target = target
        self.sender = Sender(socket.gethostname(), os.getpid(), next(_instances), app,
                             started, ring.capacity, ring.max_bytes)
        self._xadd = XaddPacker(target.stream, target.maxlen, sender_fields(self.sender))
        self.interval = interval
        self.batch = batch
        self.entry_bytes = entry_bytes
        self.piece_entries = piece_entries
        self.round_records = round_records
        self.max_backlog = max_backlog
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.seq = ring.first_seq
        self.published = 0        # events in entries Redis accepted
        self.unpublished = 0      # events skipped: Redis down, slow, or the ring wrapped
        self.connected = False
        self.last_error = ""
        self._client: Any = None

    def _skip_to(self, seq: int) -> None:
        if seq > self.seq:
            self.unpublished += seq - self.seq
            self.seq = seq

    def _entries(self, records: int) -> list[tuple[int, dict[str, Any]]]:
        """The next piece's entries: (events, fields); skips a backlog beyond the bound.

        Up to `piece_entries` entries and `records` records, each entry of up to `batch`
        records and about `entry_bytes` (a larger record goes alone), so a stream of
        `maxlen` entries holds about maxlen x entry_bytes at most."""
        ring = self.ring
        self._skip_to(ring.next_seq - self.max_backlog)
        out: list[tuple[int, dict[str, Any]]] = []
        while records > 0 and len(out) < self.piece_entries:
            got = ring.marshalled(self.seq, min(records, self.batch), self.entry_bytes)
            self.unpublished += got.missed          # evicted before we read them
            self.seq = got.next_seq
            if not got.count:
                break
            records -= got.count
            out.append((got.count, batch_fields(
                got.first_seq, got.blob, unpublished=self.unpublished,
                ring_dropped=ring.dropped)))
        return out

    async def send_round(self) -> int:
        """Send what the ring holds now, up to `round_records`: the events sent. Raises
        what Redis raised, or TimeoutError; the round's events then count as unpublished,
        and a connection left with replies unread is closed, never reused."""
        pool = self._client.connection_pool
        conn = None
        try:
            conn = await asyncio.wait_for(pool.get_connection(), self.timeout)
            return await asyncio.wait_for(self._send_pieces(conn), self.timeout * 2)
        except BaseException:
            if conn is not None:
                await conn.disconnect(nowait=True)
            raise
        finally:
            if conn is not None:
                await pool.release(conn)

    async def _send_pieces(self, conn: Any) -> int:
        """Write the round a piece at a time, then read one reply per entry (pipelined:
        the thread waits for Redis once a round, not once a piece)."""
        taken = entries_sent = 0
        try:
            while taken < self.round_records:
                entries = self._entries(self.round_records - taken)
                if not entries:
                    break
                taken += sum(n for n, _ in entries)
                await conn.send_packed_command(
                    [chunk for _, fields in entries for chunk in self._xadd.pack(fields)],
                    check_health=False)
                entries_sent += len(entries)
                # The loop polls without waiting, and lets go of the GIL to do it: an app
                # thread waiting for the GIL takes it here, after one piece. (A timed
                # sleep instead costs the app far more: each wakeup takes the GIL back
                # by force.)
                await asyncio.sleep(0)
            for _ in range(entries_sent):
                await conn.read_response()
        except BaseException:
            self.unpublished += taken
            raise
        self.published += taken
        return taken

    async def run(self) -> None:
        """Publish until cancelled; never raises (a failure waits for the back-off)."""
        from inspector.tap.redis.client import connection_errors, open_client

        self._client = open_client(self.target, timeout=self.timeout)
        errors: tuple[type[BaseException], ...] = (asyncio.TimeoutError, *connection_errors())
        backoff = 0.25
        try:
            while True:
                try:
                    sent = await self.send_round()
                except errors as exc:
                    self._down(exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
                    self._skip_to(self.ring.next_seq)   # what came while down: dropped
                    continue
                except Exception as exc:     # a command refused (wrong type, OOM, ...)
                    self._down(exc)
                    await asyncio.sleep(self.max_backoff)
                    continue
                if sent and not self.connected:
                    self.connected = True
                    log.info("asgi-inspector: publishing to %s", self.target.masked)
                backoff = 0.25
                # A round short of `round_records` read all there was: wait `interval`
                # for the next batch to gather. Under load something always arrives
                # during a round, and going again at once would send a stream of tiny
                # batches. Each round costs a fixed part (a loop wakeup, a connection
                # from the pool, a timeout task per command, GIL switches with the app's
                # loop), so fewer, fuller rounds cost the app less.
                await asyncio.sleep(0 if sent >= self.round_records else self.interval)
        finally:
            # Stopping (the app exits): one last round for what is left, bounded.
            try:
                await asyncio.wait_for(self.send_round(), 1.0)
            except BaseException:
                pass
            await self._close()

    def _down(self, exc: BaseException) -> None:
        from inspector.tap.redis.client import describe_error

        error = describe_error(exc).replace(self.target.client_url, self.target.masked)
        if self.connected or error != self.last_error:
            log.warning("asgi-inspector: cannot publish to %s (%s); the app is unaffected, "
                        "retrying", self.target.masked, error)
        self.connected = False
        self.last_error = error

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.aclose(), 1)
            except BaseException:
                pass
