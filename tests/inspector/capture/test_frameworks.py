"""InspectorMiddleware around FastAPI, Django and Quart under uvicorn, and under hypercorn
and granian: the app answers as it would bare, and the capture holds the exchange."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector import InspectorMiddleware, read_capture
from tests import ROOT, framework_apps
from tests.conftest import free_port, wait_for


def exchanges(events: list[Any]) -> list[tuple[str, str, int, bytes]]:
    """(method, path, status, response body) of each finished HTTP connection."""
    by_conn: dict[int, list[Any]] = {}
    for event in events:
        by_conn.setdefault(event.conn, []).append(event)
    out = []
    for conn_events in by_conn.values():
        scope = conn_events[0].message
        if scope["type"] != "http" or conn_events[-1].kind != "exit":
            continue
        start = next(e.message for e in conn_events if e.type == "http.response.start")
        body = b"".join(e.message.get("body", b"") for e in conn_events
                        if e.type == "http.response.body")
        out.append((scope["method"], scope["path"], start["status"], body))
    return out


def drive(url: str) -> None:
    assert httpx.get(url + "/hello").text == "hello"
    response = httpx.post(url + "/echo", content=b"ping-pong")
    assert response.text == "ping-pong"


@pytest.mark.parametrize("framework", ["fastapi", "django", "quart"])
def test_framework_under_uvicorn(framework: str, serve: Any) -> None:
    mw = InspectorMiddleware(framework_apps.FACTORIES[framework](), tap=False)
    server = serve(mw)
    drive(server.url)
    got = wait_for(lambda: len(exchanges(mw.events())) == 2 and exchanges(mw.events()))
    assert sorted(got) == [("GET", "/hello", 200, b"hello"), ("POST", "/echo", 200, b"ping-pong")]
    assert mw.recorder.errors == 0


def test_under_hypercorn() -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    mw = InspectorMiddleware(framework_apps.fastapi_app(), tap=False)
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    stop = threading.Event()

    def run() -> None:
        async def main() -> None:
            async def shutdown() -> None:
                while not stop.is_set():
                    await asyncio.sleep(0.01)
            await serve(mw, config, shutdown_trigger=shutdown)  # type: ignore[arg-type]
        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), timeout=10)
        drive(url)
        got = wait_for(lambda: len(exchanges(mw.events())) >= 3 and exchanges(mw.events()))
        assert ("GET", "/hello", 200, b"hello") in got
        assert ("POST", "/echo", 200, b"ping-pong") in got
        lifespan = [e for e in mw.events() if e.kind == "scope" and e.message["type"] == "lifespan"]
        assert len(lifespan) == 1
    finally:
        stop.set()
        thread.join(10)


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/hello", timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


def test_under_granian_with_capture_file(tmp_path: Path) -> None:
    save = tmp_path / "granian.jsonl"
    port = free_port()
    granian = shutil.which("granian") or str(Path(sys.executable).with_name("granian"))
    env = dict(os.environ, FW_APP="starlette", FW_SAVE=str(save), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([granian, "--interface", "asgi", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "1", "--factory",
                             "tests.framework_apps:subprocess_app"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: proc.poll() is None and _answers(url), timeout=20)
        assert httpx.get(url + "/hello").text == "hello, world"
        assert httpx.post(url + "/echo", content=b"ping-pong").text == "ping-pong"
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=20)[0].decode(errors="replace")
    capture = read_capture(save)
    got = exchanges(list(capture))
    assert ("GET", "/hello", 200, b"hello, world") in got, output
    assert ("POST", "/echo", 200, b"ping-pong") in got, output
