"""`asgi-inspector run` end to end: a real process, real clients, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import websockets

from inspector import fold_events, read_capture
from tests import ROOT
from tests.conftest import free_port, wait_for


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "inspector.cli.main", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


def test_run_headless_lines_and_capture_file(tmp_path: Path) -> None:
    port = free_port()
    save = tmp_path / "run.jsonl"
    proc = start("run", "tests.apps:app", "--port", str(port), "--save", str(save), "--no-tap")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is None and answers(url + "/hello"), timeout=20)
        assert httpx.post(url + "/echo", content=b"abc").content == b"abc"
        assert httpx.get(url + "/boom").status_code == 500

        async def chat() -> None:
            async with websockets.connect(url.replace("http", "ws") + "/ws") as ws:
                await ws.send("hi")
                assert await ws.recv() == "echo:hi"
        asyncio.run(chat())
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert any(" GET /hello 200 " in line for line in lines), out
    assert any(" POST /echo 200 " in line and "req=3B resp=3B" in line for line in lines), out
    assert any(" GET /boom 500 " in line and "RuntimeError: kaboom" in line for line in lines), out
    assert any(" WS /ws open" in line for line in lines), out
    assert any(" WS /ws closed code=1000 by=client in=1 out=1" in line for line in lines), out
    assert "Traceback" not in out

    capture = read_capture(save)
    flows = fold_events(capture)
    kinds = [(f.type, f.path, f.state) for f in flows]
    assert ("lifespan", "", "complete") in kinds
    assert ("http", "/echo", "complete") in kinds
    assert ("websocket", "/ws", "client_disconnected") in kinds or \
        ("websocket", "/ws", "complete") in kinds


def test_sigterm_marks_in_flight_flows(tmp_path: Path) -> None:
    port = free_port()
    save = tmp_path / "term.jsonl"
    proc = start("run", "tests.apps:app", "--port", str(port), "--save", str(save), "--no-tap")
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(url + "/hello"), timeout=20)
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(b"GET /raw/endless HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"first;" not in got:
            got += sock.recv(4096)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        sock.close()
    assert proc.returncode == 0, err
    endless = [line for line in out.splitlines() if "/raw/endless" in line]
    assert len(endless) == 1 and "[" in endless[0], out   # marked: not a clean "complete"
    flows = fold_events(read_capture(save))
    flow = next(f for f in flows if f.path == "/raw/endless")
    assert flow.state != "complete" and flow.app_exited


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector.cli.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_startup_errors_are_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        one_line_error(run_cli("run", "tests.apps:app", "--port", str(port)), "already in use")
        one_line_error(run_cli("proxy", "http://127.0.0.1:9", "--listen", f"127.0.0.1:{port}"),
                       "already in use")
    one_line_error(run_cli("run", "no_such_module:app"), "no_such_module")
    one_line_error(run_cli("run", "tests.apps:nothing_here"), "nothing_here")
    one_line_error(run_cli("run", "tests.apps"), "MODULE:APP")
    one_line_error(run_cli("proxy", "not a url"), "not a url")
    one_line_error(run_cli("proxy", "ftp://example.com"), "ftp")
    one_line_error(run_cli("proxy", "http://127.0.0.1:8000", "--listen", "127.0.0.1:99999"),
                   "port")
    one_line_error(run_cli("run", "tests.apps:app", "--max-bytes", "lots"), "lots")
    one_line_error(run_cli("open", "README.md"), "line 1", "not an asgi-inspector capture")
    one_line_error(run_cli("open", "no-such-file.jsonl"), "does not exist")
    one_line_error(run_cli("export", "README.md", "--format", "har"), "line 1")
    one_line_error(run_cli("tui", "--connect", "/nonexistent.sock"), "does not exist")
    one_line_error(run_cli("tui", "--replay-to", "bogus"), "--replay-to 'bogus'", "http://")
    error = run_cli("open", "tests/tui/data/shop.jsonl", "--replay-to", "ftp://u:pw@host")
    one_line_error(error, "'ftp://u:***@host'")
    assert "pw" not in error.stderr


def test_served_without_uvicorns_access_log() -> None:
    """A line per flow replaces uvicorn's access log; left on, uvicorn would format every
    request's log line even where the log level hides it."""
    from inspector.cli.serve import CaptureOptions, CaptureServer

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass
    server = CaptureServer(app, "127.0.0.1", 0, CaptureOptions(tap=False))
    try:
        assert server.server.config.access_log is False
    finally:
        server.sock.close()
        server.middleware.close()


SLOW_APP = '''
import asyncio


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.4)
    await send({"type": "http.response.body", "body": b"late"})
'''


def test_run_watch_disconnects_records_a_client_who_hangs_up(tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    port = free_port()
    save = tmp_path / "watch.jsonl"
    proc = start("run", "slowapp:app", "--app-dir", str(tmp_path), "--port", str(port),
                 "--save", str(save), "--no-tap", "--watch-disconnects")
    try:
        wait_for(lambda: proc.poll() is None and answers(f"http://127.0.0.1:{port}/"),
                 timeout=20)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            sock.recv(100)                    # the response head; then hang up

        def work_ended() -> bool:
            try:
                flows = fold_events(read_capture(save))
            except Exception:                 # a line still being written
                return False
            return any(f.path == "/work" and f.app_exited for f in flows)
        wait_for(work_ended, timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    [flow] = [f for f in fold_events(read_capture(save)) if f.path == "/work"]
    events = [e for e in read_capture(save) if e.conn == flow.conn]
    assert [(e.kind, e.type) for e in events] == [
        ("scope", "http"), ("receive", "http.request"), ("send", "http.response.start"),
        ("receive", "http.disconnect"), ("send", "http.response.body"),
        ("exit", "inspector.exit")]
    line = next(line for line in out.splitlines() if " POST /work " in line)
    assert "findings=" in line, out
