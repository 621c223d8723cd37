"""Events leave the process: a capture file written as they happen, and the tap socket
that a dashboard started later attaches to (backlog first, then live), for every worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector import CaptureError, InspectorMiddleware, fold_events, read_capture
from inspector.tap.server import Events, Hello, TapClient, discover_taps
from tests import ROOT
from tests.apps import starlette_app
from tests.conftest import free_port, wait_for


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "rt"
    monkeypatch.setenv("ASGI_INSPECTOR_RUNTIME_DIR", str(directory))
    return directory


async def collect(path: Path, until: Any, timeout: float = 10) -> tuple[dict[str, Any], list[Any]]:
    """Read a tap until `until(events)` holds: (hello info, events)."""
    hello: dict[str, Any] = {}
    events: list[Any] = []
    async with TapClient(path) as client:
        async def read() -> None:
            async for item in client:
                if isinstance(item, Hello):
                    hello.update(item.info)
                elif isinstance(item, Events):
                    events.extend(item.events)
                    if until(events):
                        return
        await asyncio.wait_for(read(), timeout)
    return hello, events


async def test_tap_backlog_then_live(serve: Any, runtime: Path) -> None:
    mw = InspectorMiddleware(starlette_app(), name="demo app")
    server = serve(mw, lifespan="off")
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.url + "/hello")).status_code == 200
        (tap,) = await asyncio.to_thread(wait_for, discover_taps)
        assert tap.parent == runtime and tap.name.startswith(f"{os.getpid()}-")
        assert oct(tap.stat().st_mode & 0o777) == "0o600"
        assert oct(runtime.stat().st_mode & 0o777) == "0o700"

        # Attach after the first request: its events come first (backlog)...
        def two_requests(events: list[Any]) -> bool:
            return sum(1 for e in events if e.kind == "exit") >= 2
        reader = asyncio.create_task(collect(tap, two_requests))
        await asyncio.sleep(0.1)
        # ...then what happens while attached (live).
        assert (await client.get(server.url + "/api/items?q=live")).status_code == 200
        hello, events = await reader
    assert hello["pid"] == os.getpid() and hello["name"] == "demo app"
    flows = fold_events(events)
    assert [(f.path, f.status, f.state) for f in flows] == [
        ("/hello", 200, "complete"), ("/api/items", 200, "complete")]
    assert [e.seq for e in events] == list(range(len(events)))
    mw.close()
    assert not tap.exists()


def test_workers_each_publish_and_reader_finds_all(tmp_path: Path, runtime: Path) -> None:
    port = free_port()
    env = {**os.environ, "ASGI_INSPECTOR_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(ROOT),
           "PUBLISHED_SAVE": str(tmp_path / "w-{pid}.jsonl")}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.published_app:app",
                             "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            cwd=ROOT, env=env)
    try:
        taps = wait_for(lambda: len(discover_taps(runtime)) == 2 and discover_taps(runtime),
                        timeout=30)
        pids = sorted(int(p.name.split("-")[0]) for p in taps)
        with httpx.Client():   # new connections: the kernel spreads them
            for _ in range(20):
                with httpx.Client() as one:
                    assert one.get(f"http://127.0.0.1:{port}/hello").status_code == 200

        async def read_all() -> list[tuple[int, list[Any]]]:
            out = []
            for tap in taps:
                hello, events = await collect(
                    tap, lambda evs: any(e.message.get("type") == "lifespan" for e in evs
                                         if e.kind == "scope"))
                out.append((hello["pid"], events))
            return out
        results = asyncio.run(read_all())
        assert sorted(pid for pid, _ in results) == pids
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    # Each worker's own capture file is complete after a clean stop, and together they
    # hold every request.
    files = sorted(tmp_path.glob("w-*.jsonl"))
    assert len(files) == 2
    flows = [f for path in files for f in fold_events(read_capture(path))]
    assert sum(1 for f in flows if f.path == "/hello" and f.status == 200) == 20
    assert sum(1 for f in flows if f.type == "lifespan" and f.state == "complete") == 2


def test_capture_file_grows_while_serving_and_survives_kill(tmp_path: Path) -> None:
    save = tmp_path / "live.jsonl"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PUBLISHED_SAVE": str(save)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.published_app:app",
                             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for(lambda: save.exists() and save.stat().st_size > 0, timeout=20)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(url + "/hello"), timeout=20)
        for i in range(5):
            assert httpx.post(url + "/echo", content=b"n%d" % i).status_code == 200
        # Written as it happens: readable while the server still runs.
        wait_for(lambda: sum(1 for f in fold_events(read_capture(save))
                             if f.path == "/echo" and f.state == "complete") == 5, timeout=5)
    finally:
        proc.kill()                       # no shutdown, no atexit
        proc.wait(10)
    try:
        capture = read_capture(save)
    except CaptureError as exc:           # a line cut mid-write is allowed, and named
        capture = exc.capture
    echoes = [f for f in fold_events(capture) if f.path == "/echo"]
    assert [f.request_body for f in echoes] == [b"n%d" % i for i in range(5)]


def _get(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False
