"""A round goes to Redis a piece at a time, the publisher's loop free between pieces (in
the process, that is where the app's thread takes the GIL back), and Redis's replies are
read once the round is written.

The connection is a fake that never waits, so the only place the loop can run anything
else during a round is the hand-over between pieces."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.tap.redis.publish import RedisSink
from inspector.tap.redis.url import parse_redis_url


class Connection:
    """What the sink uses of a redis-py connection; writes logged, replies counted."""

    def __init__(self, log: list[Any], fail_on_write: int = 0) -> None:
        self.log = log
        self.fail_on_write = fail_on_write
        self.writes = 0
        self.closed = False

    async def send_packed_command(self, chunks: list[bytes], check_health: bool) -> None:
        self.writes += 1
        if self.writes == self.fail_on_write:
            raise ConnectionError("gone")
        self.log.append(("write", sum(chunk.startswith(b"*") for chunk in chunks)))

    async def read_response(self) -> bytes:
        self.log.append(("reply", 1))
        return b"1-0"

    async def disconnect(self, nowait: bool) -> None:
        self.closed = True


class Pool:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.released = 0

    async def get_connection(self) -> Connection:
        return self.conn

    async def release(self, conn: Connection) -> None:
        self.released += 1


def sink_over(records: int, conn: Connection, **options: Any) -> tuple[RedisSink, Pool]:
    ring = RingBuffer(10_000)
    for i in range(records):
        ring.append(encode_record(i + 1, "scope", i / 1000, {"type": "http", "path": f"/{i}"}))
    sink = RedisSink(ring, parse_redis_url("redis://127.0.0.1:1/0"), app="t", started=1.0,
                     batch=4, **options)
    pool = Pool(conn)
    sink._client = type("Client", (), {"connection_pool": pool})()
    return sink, pool


async def test_a_round_goes_in_pieces_with_the_loop_free_between_them() -> None:
    log: list[Any] = []
    sink, pool = sink_over(100, Connection(log), piece_entries=3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            log.append(("tick", ticks))
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        assert await sink.send_round() == 100
    finally:
        task.cancel()
    # 100 records in entries of 4: 25 entries (XADD commands), in pieces of at most 3,
    # the loop free after each piece; then the 25 replies.
    writes = [n for kind, n in log if kind == "write"]
    assert writes == [3] * 8 + [1]
    steps = [kind for kind, _ in log]
    first_reply = steps.index("reply")
    assert steps[first_reply:].count("reply") == 25 and "write" not in steps[first_reply:]
    between = [steps[i + 1] for i, kind in enumerate(steps[:first_reply]) if kind == "write"]
    assert between == ["tick"] * 9
    assert sink.published == 100 and sink.unpublished == 0 and sink.seq == sink.ring.next_seq
    assert pool.released == 1


async def test_a_round_stops_at_its_bound_and_a_failed_one_counts_as_unpublished() -> None:
    log: list[Any] = []
    conn = Connection(log, fail_on_write=3)
    sink, pool = sink_over(40, conn, piece_entries=2, round_records=12)
    assert await sink.send_round() == 12          # pieces of 8 and 4: the bound, not 40
    with pytest.raises(ConnectionError):
        await sink.send_round()                   # its first piece (8 records) fails
    assert sink.published == 12 and sink.unpublished == 8
    assert conn.closed and pool.released == 2
