"""Redis going away, coming back, trimming behind a slow reader: the app never notices.

The app is served by real uvicorn with publishing on; Redis is a real redis-server that
the tests kill (SIGKILL) and start again on the same port.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from inspector import InspectorMiddleware
from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.tap.feeds import Batch, SourceStatus
from inspector.tap.redis.feed import RedisFeed, read_stream
from inspector.tap.redis.publish import RedisSink
from inspector.tap.redis.url import parse_redis_url
from tests.apps import starlette_app
from tests.conftest import wait_for
from tests.inspector.tap.redis.conftest import RedisServer


def paths_in_stream(url: str) -> list[str]:
    try:
        _, events, _ = read_stream(parse_redis_url(url))
    except Exception:
        return []
    return [e.message.get("query_string", b"").decode() for e in events if e.kind == "scope"]


def test_redis_killed_mid_run_then_back(serve: Any, redis_server: RedisServer) -> None:
    url = redis_server.url("faults")
    mw = InspectorMiddleware(starlette_app(), tap=False, publish=url, name="faulty")
    server = serve(mw, lifespan="off")
    with httpx.Client(base_url=server.url, timeout=5) as client:
        assert client.get("/hello?n=before").status_code == 200
        wait_for(lambda: "n=before" in paths_in_stream(url), timeout=10, interval=0.1)
        sink = mw.publisher.redis
        assert sink is not None and sink.unpublished == 0

        redis_server.kill()
        # The app keeps serving; the local ring keeps capturing; drops are counted.
        for i in range(30):
            assert client.get(f"/hello?n=down{i}").status_code == 200
        wait_for(lambda: sink.unpublished > 0, timeout=10, what="drops counted")
        queries = [e.message.get("query_string") for e in mw.events() if e.kind == "scope"]
        assert b"n=down29" in queries and b"n=before" in queries

        # Redis returns (empty: no persistence): publishing resumes by itself.
        redis_server.start()
        def arrived() -> bool:
            assert client.get("/hello?n=after").status_code == 200
            return "n=after" in paths_in_stream(url)
        wait_for(arrived, timeout=20, interval=0.3, what="publishing resumed")
        dropped = sink.unpublished
        assert dropped >= 30 * 3       # at least each down request's scope, request, response...
        assert "n=down5" not in paths_in_stream(url)

        # The header of a dashboard on this process says how many were not published.
        from inspector.tap.feeds import LocalFeed

        async def local_status() -> SourceStatus:
            async for item in LocalFeed(mw).stream():
                if isinstance(item, SourceStatus):
                    return item
            raise AssertionError("no status")
        assert asyncio.run(local_status()).unpublished == dropped


async def test_dashboard_feed_says_redis_went_away_and_reconnects(
        redis_server: RedisServer) -> None:
    url = redis_server.url("feed")
    ring = RingBuffer(1000)
    sink = RedisSink(ring, parse_redis_url(url), app="feeder", started=1.0, interval=0.02)
    publishing = asyncio.create_task(sink.run())
    feed = RedisFeed(parse_redis_url(url), block_ms=200, timeout=1.0, max_backoff=0.5)
    stream = feed.stream()
    try:
        ring.append(encode_record(1, "scope", 0.0, {"type": "http", "path": "/one"}))
        item = await asyncio.wait_for(anext_of(stream, Batch), 10)
        assert item.events[0].message["path"] == "/one"

        await asyncio.to_thread(redis_server.kill)
        lost = await asyncio.wait_for(anext_of(stream, SourceStatus, error=True), 10)
        assert "connection lost" in lost.error and "reconnecting" in lost.error
        assert lost.source == ""

        await asyncio.to_thread(redis_server.start)
        ring.append(encode_record(2, "scope", 0.1, {"type": "http", "path": "/two"}))
        back = await asyncio.wait_for(anext_of(stream, SourceStatus, error=True), 15)
        assert "reconnected" in back.error

        # Records made while Redis was away may be dropped (and counted): keep making one
        # until the publisher, back on its own, has sent it and the feed has read it.
        next_batch = asyncio.ensure_future(anext_of(stream, Batch))

        async def two() -> Batch:
            nonlocal next_batch
            while True:
                done, _ = await asyncio.wait({next_batch}, timeout=0.5)
                if not done:
                    ring.append(encode_record(2, "scope", 0.1, {"type": "http", "path": "/two"}))
                    continue
                batch = next_batch.result()
                if any(e.message.get("path") == "/two" for e in batch.events):
                    return batch
                next_batch = asyncio.ensure_future(anext_of(stream, Batch))
        try:
            await asyncio.wait_for(two(), 15)
        finally:
            next_batch.cancel()
    finally:
        await stream.aclose()
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)


async def anext_of(stream: Any, kind: type, error: bool = False) -> Any:
    async for item in stream:
        if isinstance(item, kind) and (not error or item.error):
            return item
    raise AssertionError("the feed ended")


async def test_reader_behind_a_trimmed_stream_learns_what_it_missed(
        redis_server: RedisServer) -> None:
    # Small stream nodes, so that MAXLEN ~ trims close to the bound in a test's volume.
    assert redis_server.command("CONFIG", "SET", "stream-node-max-entries", "5") == "OK"
    url = redis_server.url("trim", maxlen=10)
    ring = RingBuffer(100_000)
    sink = RedisSink(ring, parse_redis_url(url), app="busy", started=1.0, batch=4)
    sink._client = __import__("inspector.tap.redis.client", fromlist=["x"]).open_client(sink.target)

    async def publish(n: int) -> None:
        for i in range(n):
            ring.append(encode_record(i + 1, "scope", i / 1000, {"type": "http", "path": f"/{i}"}))
        while sink.seq < ring.next_seq:
            await sink.send_round()

    feed = RedisFeed(parse_redis_url(url), count=1, block_ms=100)
    stream = feed.stream()
    received = 0
    try:
        await publish(8)                          # two entries of 4
        batch = await asyncio.wait_for(anext_of(stream, Batch), 10)
        received += len(batch.events)
        await publish(400)                        # 100 entries while the reader sleeps
        assert int(redis_server.command("XLEN", "trim") or 0) <= 20    # bounded
        last: SourceStatus | None = None
        while received < 408 - (last.missed if last else 0):
            item = await asyncio.wait_for(stream.__anext__(), 10)
            if isinstance(item, Batch):
                received += len(item.events)
            elif isinstance(item, SourceStatus) and item.source:
                last = item
        assert last is not None and last.missed > 0
        assert last.missed + received == 408 and last.unpublished == 0
    finally:
        await stream.aclose()
        await sink._close()


def test_redis_down_at_start_the_app_serves_and_the_summary_counts(tmp_path: Any) -> None:
    import signal

    from tests.conftest import free_port
    from tests.inspector.tap.redis.conftest import cli

    port, dead = free_port(), free_port()
    save = tmp_path / "down.jsonl"
    proc = cli("run", "--publish", f"redis://:topsecret@127.0.0.1:{dead}/0", "tests.apps:app",
               "--port", str(port), "--no-tap", "--headless", "--save", str(save))
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/hello", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, timeout=30)
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.count(" GET /hello 200 ") >= 11               # the headless lines go on
    assert "topsecret" not in err and "topsecret" not in out
    header = save.read_text().splitlines()[0]       # argv is in it, the password is not
    assert "--publish" in header and "redis://:***@127.0.0.1:" in header
    assert "topsecret" not in save.read_text()
    summary = [line for line in err.splitlines() if "events published to" in line]
    assert summary and summary[0].startswith("asgi-inspector: 0 events published to "
                                             "redis://:***@127.0.0.1:"), err
    assert int(summary[0].split(", ")[1].split()[0].replace(",", "")) >= 11 * 3


def test_redis_hung_the_app_serves_then_publishing_resumes(serve: Any,
                                                           redis_server: RedisServer,
                                                           tmp_path: Any) -> None:
    import signal

    url = redis_server.url("hung").replace("redis://", "redis://:s3cret@")
    redis_server.command("CONFIG", "SET", "requirepass", "s3cret")
    save = tmp_path / "hung.jsonl"
    mw = InspectorMiddleware(starlette_app(), tap=False, publish=url, save=save)
    server = serve(mw, lifespan="off")
    assert redis_server.proc is not None
    with httpx.Client(base_url=server.url, timeout=5) as client:
        assert client.get("/hello?n=before").status_code == 200
        sink = mw.publisher.redis
        wait_for(lambda: sink is not None and sink.published >= 3, timeout=10)
        redis_server.proc.send_signal(signal.SIGSTOP)       # accepts, never answers
        try:
            for i in range(20):
                assert client.get(f"/hello?n=hung{i}").status_code == 200
            wait_for(lambda: sink.unpublished > 0, timeout=15, what="a timeout counted")
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)

        def arrived() -> bool:
            assert client.get("/hello?n=after").status_code == 200
            return "n=after" in paths_in_stream(url)
        wait_for(arrived, timeout=20, interval=0.3, what="publishing resumed")
    # The capture file went on as before, and no header holds the password.
    mw.close()
    text = save.read_text()
    assert "n=hung19" in text and "s3cret" not in text
