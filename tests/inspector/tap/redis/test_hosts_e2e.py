"""Two processes publish to one Redis stream; export and the dashboard see both.

One is `asgi-inspector run --publish URL`, the other plain uvicorn with
ASGI_INSPECTOR_PUBLISH in its environment (no code, no flag): different names, pids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inspector.tap.redis.feed import RedisFeed
from inspector.tap.redis.url import parse_redis_url
from tests.conftest import free_port, wait_for
from tests.inspector.tap.redis.conftest import ROOT, RedisServer, cli, run_cli
from tests.tui.conftest import SIZE, screen_text, steady_screen, until  # noqa: F401
from tui.app import InspectorApp


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def two_publishers(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[str, list]]:
    url = redis_server.url("hosts")
    runtime = tmp_path / "rt"
    env = {"ASGI_INSPECTOR_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(ROOT)}
    port_a, port_b = free_port(), free_port()
    a = cli("run", "tests.apps:app", "--port", str(port_a), "--publish", url, "--no-tap",
            "--headless", env=env)
    b = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.published_app:app",
                          "--port", str(port_b), "--log-level", "warning"], cwd=ROOT,
                         env={**os.environ, **env, "ASGI_INSPECTOR_PUBLISH": url},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs = [a, b]
    try:
        for port in (port_a, port_b):
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/hello"), timeout=30)
        for i in range(3):
            assert answers(f"http://127.0.0.1:{port_a}/hello?from=a{i}")
            assert answers(f"http://127.0.0.1:{port_b}/hello?from=b{i}")
        yield url, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()


def test_export_shows_both_processes(two_publishers: tuple[str, list]) -> None:
    url, procs = two_publishers

    def exported() -> str:
        result = run_cli("export", url, "--format", "curl")
        return result.stdout if result.returncode == 0 else ""
    text = wait_for(lambda: all(f"from={s}2" in exported() for s in ("a", "b")) and exported(),
                    timeout=15, interval=0.2)
    for who in ("a0", "a1", "a2", "b0", "b1", "b2"):
        assert f"/hello?from={who}" in text

    result = run_cli("export", url, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    header = json.loads(result.stdout.splitlines()[0])
    pids = {p["pid"] for p in header["publishers"]}
    names = {p["name"] for p in header["publishers"]}
    assert len(pids) == 2 and procs[1].pid in pids     # uvicorn serves in its own pid
    assert "tests.apps:app" in names and len(names) == 2
    # Connection numbers are per process; merged, every flow keeps its own.
    conns = {json.loads(line)["conn"] for line in result.stdout.splitlines()[1:]
             if '"kind": "scope"' in line or '"kind":"scope"' in line}
    assert len(conns) >= 6

    # Replay reads the stream as it reads a capture file.
    port_a = procs[0].args[procs[0].args.index("--port") + 1]
    result = run_cli("replay", url, "--to", f"http://127.0.0.1:{port_a}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/hello?from=b1" in result.stdout and "/hello?from=a1" in result.stdout
    assert " 0 differ" in result.stdout

    # The run process's headless summary counts what it published.
    procs[0].send_signal(signal.SIGINT)
    out, err = procs[0].communicate(timeout=20)
    assert "events published to redis://127.0.0.1:" in err and ", 0 not" in err, err
    assert "/hello?from=a0" not in err


async def test_dashboard_attached_over_redis_sees_both(
        two_publishers: tuple[str, list]) -> None:
    url, procs = two_publishers
    app = InspectorApp(RedisFeed(parse_redis_url(url)), clock="relative")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.model.sources) == 2, timeout=15)
        names = {s.info["name"] for s in app.model.sources.values()}
        assert "tests.apps:app" in names
        await until(pilot, lambda: sum(f.path == "/hello" for f in app.model.store.flows) >= 6
                    and app.model.store.total >= 6, timeout=15)
        by_source = {f.source for f in app.model.store.flows if f.path == "/hello"}
        assert by_source == set(app.model.sources)
        # Live: a request made now arrives too.
        port_a = int(procs[0].args[procs[0].args.index("--port") + 1])
        assert answers(f"http://127.0.0.1:{port_a}/hello?from=live")
        await until(pilot, lambda: any(f.query == b"from=live" for f in app.model.store.flows),
                    timeout=15)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "sources 2" in text
        assert "pid" in text
