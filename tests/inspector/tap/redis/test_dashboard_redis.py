"""The dashboard reading a stream: `open redis://` loads it; the header counts losses."""

from __future__ import annotations

import asyncio
import socket

from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.tap.feeds import SourceInfo, SourceStatus
from inspector.tap.redis.feed import RedisFeed
from inspector.tap.redis.publish import RedisSink
from inspector.tap.redis.url import parse_redis_url
from tests.inspector.tap.redis.conftest import RedisServer
from tests.tui.conftest import SIZE, screen_text, steady_screen, until  # noqa: F401
from tui.app import InspectorApp
from tui.model import Model
from tui.widgets.header_bar import stats_text


def flow(ring: RingBuffer, conn: int, path: str) -> None:
    for kind, t, message in [
        ("scope", 0.01 * conn, {"type": "http", "method": "GET", "path": path,
                                "query_string": b"", "headers": []}),
        ("send", 0.01 * conn + 0.001, {"type": "http.response.start", "status": 200,
                                       "headers": []}),
        ("send", 0.01 * conn + 0.002, {"type": "http.response.body", "body": b"ok"}),
        ("exit", 0.01 * conn + 0.003, {"type": "inspector.exit", "exception": None}),
    ]:
        ring.append(encode_record(conn, kind, t, message))


async def test_open_reads_the_stream_then_says_loaded(redis_server: RedisServer) -> None:
    url = redis_server.url("opened")
    ring = RingBuffer()
    sink = RedisSink(ring, parse_redis_url(url), app="shop", started=1_700_000_000.0)
    from inspector.tap.redis.client import open_client

    sink._client = open_client(sink.target)
    for conn in range(1, 6):
        flow(ring, conn, f"/items/{conn}")
    await sink.send_round()
    await sink._close()

    app = InspectorApp(RedisFeed(parse_redis_url(url), live=False), clock="relative")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.idle and app.model.store.total == 5)
        await pilot.pause(0.2)
        (source,) = app.model.sources.values()
        assert source.name == f"{socket.gethostname()} pid {sink.sender.pid}"
        assert source.info["name"] == "shop" and source.gone
        text = screen_text(app)
        assert "/items/5" in text and "loaded" in text


def test_header_counts_unpublished_and_missed() -> None:
    model = Model()
    model.ingest([SourceInfo("web-1 pid 1", 1.0), SourceInfo("web-2 pid 2", 1.0),
                  SourceStatus("web-1 pid 1", unpublished=7, missed=3),
                  SourceStatus("web-2 pid 2", unpublished=5)])
    text = stats_text(model).plain
    assert "unpublished 12" in text and "missed 3" in text and "sources 2" in text


def test_redis_feed_on_a_dead_server_keeps_trying() -> None:
    from tests.conftest import free_port

    feed = RedisFeed(parse_redis_url(f"redis://127.0.0.1:{free_port()}/0"), timeout=0.5,
                     max_backoff=0.2)

    async def first() -> SourceStatus:
        stream = feed.stream()
        try:
            item = await asyncio.wait_for(stream.__anext__(), 10)
            assert isinstance(item, SourceStatus)
            return item
        finally:
            await stream.aclose()
    status = asyncio.run(first())
    assert status.source == "" and "cannot connect" in status.error
    assert "reconnecting" in status.error
