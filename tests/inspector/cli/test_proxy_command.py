"""`asgi-inspector proxy` end to end: a real upstream, the proxy process, real clients;
what passes is captured exactly as the middleware would capture it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import websockets

from inspector import fold_events, read_capture
from tests import ROOT
from tests.apps import starlette_app
from tests.conftest import free_port, wait_for


def test_proxy_captures_what_it_forwards(serve: Any, tmp_path: Path) -> None:
    upstream = serve(starlette_app(), lifespan="off")
    save = tmp_path / "proxy.jsonl"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli.main", "proxy", upstream.url,
                             "--listen", f"127.0.0.1:{port}", "--save", str(save), "--no-tap"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/hello", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_for(up, timeout=20)
        direct = httpx.get(upstream.url + "/api/items?q=1")
        proxied = httpx.get(url + "/api/items?q=1")
        assert (proxied.status_code, proxied.content) == (direct.status_code, direct.content)
        assert proxied.headers["x-request-id"] == "abc123"
        curl = subprocess.run(["curl", "-s", "--data-binary", "a,b\n1,2", "-H",
                               "content-type: text/csv", url + "/echo"],
                              capture_output=True, timeout=10)
        assert curl.stdout == b"a,b\n1,2"

        async def chat() -> None:
            async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
                await ws.send("hi")
                assert await ws.recv() == "echo:hi"
                await ws.send(b"\x01")
                assert await ws.recv() == b"echo:\x01"
        asyncio.run(chat())
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "proxying" in err and "Traceback" not in err
    # The banner (and the dashboard's title, cut from it) names the upstream by its URL.
    assert f"proxying http://127.0.0.1:{port} -> {upstream.url.rstrip('/')}\n" in err, err
    assert " GET /api/items?q=1 200 " in out and " POST /echo 200 " in out
    assert " WS /ws open" in out and " WS /ws closed" in out

    events = list(read_capture(save))
    flows = {f.path: f for f in fold_events(events) if f.type != "lifespan"}
    echo = flows["/echo"]
    assert echo.request_body == b"a,b\n1,2" and echo.response_body == b"a,b\n1,2"
    assert (b"content-type", b"text/csv") in echo.request_headers
    # The same event sequence the middleware records around any app.
    conn = [e for e in events if e.conn == echo.conn]
    kinds = [(e.kind, e.type) for e in conn]
    assert kinds[0] == ("scope", "http") and kinds[-1] == ("exit", "inspector.exit")
    assert ("send", "http.response.start") in kinds
    ws = flows["/ws"]
    assert [(m.direction, m.text, m.data) for m in ws.messages] == [
        ("in", "hi", None), ("out", "echo:hi", None), ("in", None, b"\x01"),
        ("out", None, b"echo:\x01")]


def test_proxy_upstream_down_is_a_502_flow(tmp_path: Path) -> None:
    save = tmp_path / "down.jsonl"
    port, dead = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli.main", "proxy",
                             f"http://127.0.0.1:{dead}", "--listen", f"127.0.0.1:{port}",
                             "--save", str(save), "--no-tap"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def answer() -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/x", timeout=2)
        except httpx.HTTPError:
            return None
    try:
        response = wait_for(answer, timeout=20)
        assert response.status_code == 502
        assert "refused" in response.text
        assert httpx.get(f"http://127.0.0.1:{port}/y").status_code == 502   # still serving
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert " GET /x 502 " in out
    flows = [f for f in fold_events(read_capture(save)) if f.type == "http"]
    assert any((b"x-inspector-error", ) == (n,) for f in flows for n, _ in f.response_headers)
