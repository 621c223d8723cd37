"""Attach the dashboard to a real app served by `uvicorn --workers 2`, started after it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inspector.tap.feeds import TapFeed
from tests.conftest import free_port
from tests.tui.conftest import SIZE, screen_text, until
from tui.app import InspectorApp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runtime() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="ai-rt-"))   # short: a socket path is <108 bytes
    os.chmod(directory, 0o700)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def get(url: str) -> bool:
    try:
        with httpx.Client(timeout=1) as client:    # a new connection each time: the kernel
            return client.get(url).status_code == 200   # spreads them over the workers
    except httpx.HTTPError:
        return False


async def test_two_workers_appear_aggregate_and_go(runtime: Path) -> None:
    app = InspectorApp(TapFeed(directory=runtime, rediscover=0.2), clock="relative")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.model.store.total == 0          # nothing published yet
        port = free_port()
        env = {**os.environ, "ASGI_INSPECTOR_RUNTIME_DIR": str(runtime),
               "PYTHONPATH": str(ROOT)}
        env.pop("PUBLISHED_SAVE", None)
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for off the loop
            [sys.executable, "-m", "uvicorn", "tests.published_app:app", "--port", str(port),
             "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env)
        try:
            # Both workers are found once they start (lifespan flows: sources, no rows).
            await until(pilot, lambda: len(app.model.sources) == 2, timeout=30)
            pids = {s.info["pid"] for s in app.model.sources.values()}
            assert len(pids) == 2 and os.getpid() not in pids
            url = f"http://127.0.0.1:{port}/hello"

            def both_served() -> bool:
                return {f.source for f in app.model.store.flows} == \
                    {f"pid {pid}" for pid in pids}
            for _ in range(200):
                assert await asyncio.to_thread(get, url)
                await pilot.pause(0.01)
                if both_served():
                    break
            await until(pilot, both_served)
            await pilot.pause(0.2)
            text = screen_text(app)
            assert "Source" in next(line for line in text.splitlines() if " Path " in line)
            assert any(f"pid {pid}" in text for pid in pids)
            assert "sources 2" in text
            # Sorted by source, the two workers' flows are side by side in one list.
            app.set_sort(app.model.store.sort.__class__("source"))
            sources = [app.model.store.row(i).source for i in range(len(app.model.store))]
            assert sources == sorted(sources)
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 30)
        # Both publishers said BYE: both sources gone, their flows kept.
        await until(pilot, lambda: all(s.gone for s in app.model.sources.values()),
                    timeout=15)
        await pilot.pause(0.2)
        assert "(2 gone)" in screen_text(app)
        assert app.model.store.total >= 2



async def test_with_nothing_running_it_says_so_then_picks_up_a_process(runtime: Path) -> None:
    """`asgi-inspector tui` before any capturing process: the list area says none was
    found and how to start one; a process started after the dashboard replaces the panel
    with its flows."""
    app = InspectorApp(TapFeed(directory=runtime, rediscover=0.2), clock="relative")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "No capturing process found" in text
        for way in ("InspectorMiddleware(app)", "asgi-inspector run", "asgi-inspector proxy",
                    "asgi-inspector demo", str(runtime)):
            assert way in text, way
        assert not app.table.display and app.query_one("#empty").display
        port = free_port()
        env = {**os.environ, "ASGI_INSPECTOR_RUNTIME_DIR": str(runtime),
               "PYTHONPATH": str(ROOT)}
        env.pop("PUBLISHED_SAVE", None)
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for off the loop
            [sys.executable, "-m", "uvicorn", "tests.published_app:app", "--port", str(port),
             "--log-level", "warning"], cwd=ROOT, env=env)
        try:
            await until(pilot, lambda: len(app.model.sources) == 1, timeout=30)
            url = f"http://127.0.0.1:{port}/hello"
            assert await asyncio.to_thread(get, url)
            await until(pilot, lambda: any(f.path == "/hello" for f in app.model.store.flows))
            await until(pilot, lambda: "/hello" in screen_text(app))
            text = screen_text(app)
            assert "No capturing process found" not in text
            assert "Path" in text and "Status" in text
            titles = next(line for line in text.splitlines() if " Path " in line)
            assert "Source" not in titles      # one source: no column to tell them apart
            assert app.table.display and not app.query_one("#empty").display
            assert app.focused is app.table
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 30)
        # The process going away does not bring the panel back: its flows stay.
        await until(pilot, lambda: all(s.gone for s in app.model.sources.values()),
                    timeout=15)
        await pilot.pause(0.2)
        assert "No capturing process found" not in screen_text(app)
        assert "/hello" in screen_text(app)
