"""Feeds against real sources: a capture file, a server in this process, tap sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector import InspectorMiddleware
from inspector.flows.fold import FlowFolder
from inspector.io.capture_file import read_capture
from inspector.tap.feeds import (
    Batch,
    FeedItem,
    FileFeed,
    LocalFeed,
    SourceInfo,
    SourceStatus,
    TapFeed,
    tap_source_name,
)
from inspector.tap.server import discover_taps
from tests.apps import starlette_app
from tests.tui.conftest import SHOP


async def take(stream: AsyncIterator[FeedItem], until: Any, timeout: float = 10) -> list[FeedItem]:
    """Items from `stream` until `until(items)` holds; the stream is closed after."""
    items: list[FeedItem] = []

    async def read() -> None:
        async for item in stream:
            items.append(item)
            if until(items):
                return
    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
    return items


def folded(items: list[FeedItem]) -> FlowFolder:
    folder = FlowFolder()
    for item in items:
        if isinstance(item, Batch):
            folder.extend(item.events, item.source)
    return folder


async def test_file_feed_streams_a_capture_then_says_loaded() -> None:
    items = [item async for item in FileFeed(SHOP, batch=10).stream()]
    info = items[0]
    assert isinstance(info, SourceInfo) and info.info["name"] == "shop"
    assert info.started == read_capture(SHOP).header["started"]
    batches = [i for i in items if isinstance(i, Batch)]
    assert max(len(b.events) for b in batches) == 10
    assert sum(len(b.events) for b in batches) == len(read_capture(SHOP).events)
    last = items[-1]
    assert isinstance(last, SourceStatus) and last.loaded and last.gone and not last.error


async def test_file_feed_keeps_what_came_before_a_bad_line(tmp_path: Path) -> None:
    lines = SHOP.read_bytes().split(b"\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b"\n".join(lines[:20] + [b"{not json"] + lines[20:]))
    items = [item async for item in FileFeed(broken).stream()]
    assert sum(len(i.events) for i in items if isinstance(i, Batch)) == 19
    last = items[-1]
    assert isinstance(last, SourceStatus) and not last.loaded
    assert "line 21" in last.error


async def test_file_feed_of_a_missing_file_says_why(tmp_path: Path) -> None:
    items = [item async for item in FileFeed(tmp_path / "nope.jsonl").stream()]
    assert isinstance(items[-1], SourceStatus) and "nope.jsonl" in items[-1].error


async def test_local_feed_follows_a_server_in_this_process(serve: Any) -> None:
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw, lifespan="off")
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url + "/hello")).status_code == 200
        feed = LocalFeed(mw, interval=0.01)
        stream = feed.stream()
        first = await take(stream, lambda items: any(isinstance(i, Batch) for i in items))
        assert isinstance(first[0], SourceInfo)
        assert first[0].started == mw.recorder.started_wall
        # Live: a request made now arrives too.
        later = asyncio.create_task(take(feed.stream(), lambda items: any(
            f.path == "/api/items" and f.state == "complete"
            for f in folded(items).flows.values())))
        await asyncio.sleep(0.05)
        assert (await client.get(server.url + "/api/items")).status_code == 200
        items = await later
    flows = folded(items).flows.values()
    assert [f.path for f in flows] == ["/hello", "/api/items"]
    status = [i for i in items if isinstance(i, SourceStatus)][-1]
    assert status.ring_capacity == mw.ring.capacity and 0 < status.ring_events <= len(mw.ring)


async def test_local_feed_reports_what_the_ring_dropped() -> None:
    from inspector.events.model import encode_record
    from inspector.events.ring import RingBuffer

    ring = RingBuffer(capacity=64)
    for i in range(200):
        ring.append(encode_record(i, "scope", 0.0, {"type": "http", "path": f"/{i}"}))
    items = await take(LocalFeed(ring, 0.0).stream(),
                       lambda items: any(isinstance(i, SourceStatus) for i in items))
    status = next(i for i in items if isinstance(i, SourceStatus))
    assert status.dropped == ring.dropped > 0
    assert sum(len(i.events) for i in items if isinstance(i, Batch)) == len(ring)


@pytest.fixture
def runtime() -> Any:
    # Short: a Unix socket path must fit in 108 bytes.
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="ai-rt-"))
    os.chmod(directory, 0o700)
    old = os.environ.get("ASGI_INSPECTOR_RUNTIME_DIR")
    os.environ["ASGI_INSPECTOR_RUNTIME_DIR"] = str(directory)
    yield directory
    if old is None:
        os.environ.pop("ASGI_INSPECTOR_RUNTIME_DIR", None)
    else:
        os.environ["ASGI_INSPECTOR_RUNTIME_DIR"] = old
    shutil.rmtree(directory, ignore_errors=True)


async def test_tap_feed_on_one_socket_backlog_then_live_then_gone(
        serve: Any, runtime: Path) -> None:
    mw = InspectorMiddleware(starlette_app(), name="one")
    server = serve(mw, lifespan="off")
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url + "/hello")).status_code == 200
        (path,) = await asyncio.to_thread(lambda: _wait(lambda: discover_taps(runtime)))
        feed = TapFeed([path])
        stream = feed.stream()

        def has(path_: str) -> Any:
            return lambda items: any(f.path == path_ and f.state == "complete"
                                     for f in folded(items).flows.values())
        items = await take_open(stream, has("/hello"))
        assert isinstance(items[0], SourceInfo)
        # "pid N", or "pid N/k" when earlier tests left other publishers in this process.
        assert items[0].source == tap_source_name(path)
        assert items[0].source.split("/")[0] == f"pid {os.getpid()}"
        assert items[0].info["name"] == "one"
        assert (await client.get(server.url + "/api/items")).status_code == 200
        items += await take_open(stream, has("/api/items"), items)
        await asyncio.to_thread(mw.close)           # the publisher says BYE
        items += await take_open(stream, lambda new: any(
            isinstance(i, SourceStatus) and i.gone for i in new), items)
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]
    gone = next(i for i in items if isinstance(i, SourceStatus) and i.gone)
    assert gone.source == tap_source_name(path) and gone.reason == "publisher stopped"


async def take_open(stream: AsyncIterator[FeedItem], until: Any,
                    before: list[FeedItem] | None = None, timeout: float = 10) -> list[FeedItem]:
    """Like take, but leaves the stream open; `until` sees `before` + the new items."""
    items: list[FeedItem] = []

    async def read() -> None:
        while True:
            item = await stream.__anext__()
            items.append(item)
            if until([*(before or []), *items]):
                return
    await asyncio.wait_for(read(), timeout)
    return items


def _wait(predicate: Any, timeout: float = 10.0) -> Any:
    from tests.conftest import wait_for

    return wait_for(predicate, timeout)


def test_only_a_discovering_tap_feed_may_start_with_no_process(tmp_path: Path) -> None:
    """The dashboard's empty-state panel is for a feed that finds processes itself."""
    found = TapFeed(directory=tmp_path)
    assert found.discovers and found.watched_dir() == str(tmp_path)
    fixed = TapFeed([tmp_path / "1-1.sock"])
    assert not fixed.discovers and fixed.watched_dir() is None
    assert not hasattr(FileFeed(SHOP), "discovers")
