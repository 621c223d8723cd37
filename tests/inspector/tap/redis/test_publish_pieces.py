"""A round goes to Redis a piece at a time, and the publisher's loop lets other work run
between pieces (in the process, that is where the app's thread takes the GIL back).

`_send` is replaced by one that never waits, so the only place the loop can run anything
else during a round is the hand-over between pieces. (On Python 3.11 `asyncio.wait_for`
runs `_send` as a task of its own, which hands over too; from 3.12 only the publisher's
own hand-over does, and CI runs the suite on 3.13.)"""

from __future__ import annotations

import asyncio

from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.tap.redis.publish import RedisSink
from inspector.tap.redis.url import parse_redis_url


async def test_a_round_goes_in_pieces_with_the_loop_free_between_them() -> None:
    ring = RingBuffer(10_000)
    for i in range(100):
        ring.append(encode_record(i + 1, "scope", i / 1000, {"type": "http", "path": f"/{i}"}))
    sink = RedisSink(ring, parse_redis_url("redis://127.0.0.1:1/0"), app="t", started=1.0,
                     batch=4, piece_entries=3)
    ticks = 0
    sends: list[tuple[int, int, int]] = []        # (commands, seq after, ticks so far)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def send(chunks: list[bytes], commands: int) -> None:
        sends.append((commands, sink.seq, ticks))

    sink._send = send                             # type: ignore[method-assign]
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        assert await sink.send_round() == 100
    finally:
        task.cancel()
    # 100 records in entries of 4: 25 entries, in pieces of at most 3, read piece by piece.
    assert [c for c, _, _ in sends] == [3] * 8 + [1]
    assert [s for _, s, _ in sends] == [ring.first_seq + 12 * (k + 1) for k in range(8)] + \
        [ring.next_seq]
    assert all(a[2] < b[2] for a, b in zip(sends, sends[1:]))     # the loop ran between
    assert sink.published == 100 and sink.unpublished == 0


async def test_a_round_stops_at_its_bound_and_a_failed_piece_counts_as_unpublished() -> None:
    ring = RingBuffer(10_000)
    for i in range(40):
        ring.append(encode_record(i + 1, "scope", i / 1000, {"type": "http", "path": f"/{i}"}))
    sink = RedisSink(ring, parse_redis_url("redis://127.0.0.1:1/0"), app="t", started=1.0,
                     batch=4, piece_entries=2, round_records=12)
    calls = 0

    async def send(chunks: list[bytes], commands: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("gone")

    sink._send = send                             # type: ignore[method-assign]
    assert await sink.send_round() == 12          # 8 + 4: the bound, not all 40
    try:
        await sink.send_round()
    except ConnectionError:
        pass
    else:
        raise AssertionError("the piece's failure was not raised")
    assert sink.published == 12 and sink.unpublished == 8
