"""`asgi-inspector replay --to URL` compares what a client can observe.

A capture holds the app's side: a HEAD's body the server never put on the wire, an
exception no client can see. Replayed against the same unchanged app over the network,
such flows must come out the same; a real change must still exit 1. A flow whose request
body was cut at capture is not replayed, and says why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from inspector import InspectorMiddleware, fold_events
from inspector.io.capture_file import CaptureWriter
from inspector.replay.plan import compare, exchanges
from tests import ROOT
from tests.conftest import wait_for


def versioned_app(version: int) -> Any:
    """Raw ASGI: /ok (JSON), HEAD /head (sends a body anyway), /boom (raises before the
    response), /late (raises mid-response), /upload (answers the body's length)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("kaboom")
        if path == "/late":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
            raise RuntimeError("late kaboom")
        if path == "/head":
            status = 200 if version == 1 else 404
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"text/plain"),
                                    (b"content-length", b"10")]})
            await send({"type": "http.response.body", "body": b"hello head"})
            return
        if path == "/upload":
            payload = str(len(body)).encode()
        else:
            payload = b'{"v": %d}' % version
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})
    return app


def record(serve: Any, tmp_path: Path, *, body_limit: int = 65536,
           upload: bytes = b"small") -> Path:
    """Real traffic through uvicorn into InspectorMiddleware, saved as a capture file."""
    mw = InspectorMiddleware(versioned_app(1), tap=False, body_limit=body_limit)
    server = serve(mw, lifespan="off")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/ok").json() == {"v": 1}
        head = client.head("/head")
        assert head.status_code == 200 and head.content == b""
        assert client.get("/boom").status_code == 500
    with httpx.Client(base_url=server.url) as client:
        try:
            client.get("/late")
        except httpx.HTTPError:
            pass                        # the server cut the connection mid-response
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/upload", content=upload).text == str(len(upload))
    wait_for(lambda: sum(1 for e in mw.events() if e.kind == "exit") == 5, timeout=10)
    capture = tmp_path / "cap.jsonl"
    with CaptureWriter(capture, {"started": 0.0}) as writer:
        writer.write(mw.events())
    return capture


def replay_cli(capture: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector.cli.main", "replay", str(capture), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=90)


def test_network_replay_of_the_unchanged_app_exits_0(serve: Any, tmp_path: Path) -> None:
    capture = record(serve, tmp_path)
    flows = {f.path: f for f in fold_events(__import__("inspector").read_capture(capture))}
    assert flows["/head"].response_body == b"hello head"    # the app's side, as captured
    assert flows["/boom"].exception is not None and flows["/boom"].status is None
    assert flows["/late"].exception is not None and flows["/late"].status == 200
    target = serve(InspectorMiddleware(versioned_app(1), tap=False), lifespan="off")
    result = replay_cli(capture, "--to", target.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 replayed: 5 same, 0 differ" in result.stdout
    assert "Traceback" not in result.stderr


def test_network_replay_still_reports_real_changes(serve: Any, tmp_path: Path) -> None:
    capture = record(serve, tmp_path)
    changed = serve(versioned_app(2), lifespan="off")
    result = replay_cli(capture, "--to", changed.url)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "GET /ok 200 -> 200 differs: JSON body differs at $.v" in out, out
    assert "HEAD /head 200 -> 404 differs: status 200 -> 404" in out, out
    assert "5 replayed: 3 same, 2 differ" in out, out


def test_client_view_of_exceptions_is_compared(serve: Any, tmp_path: Path) -> None:
    """An exception before the response is the server's 500; after it started, a cut."""
    capture = record(serve, tmp_path)
    events = __import__("inspector").read_capture(capture)
    originals = {f.conn: f for f in fold_events(events)}
    by_path = {e.scope["path"]: e for e in exchanges(events)}

    async def boom_ok_late_whole(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"whole"})
    server = serve(boom_ok_late_whole, lifespan="off")
    import asyncio

    from inspector.replay.send import NetworkTarget

    target = NetworkTarget(server.url)
    boom = asyncio.run(target.replay(by_path["/boom"]))
    late = asyncio.run(target.replay(by_path["/late"]))
    boom_verdict = compare(originals[by_path["/boom"].conn], boom, seen_by="client")
    late_verdict = compare(originals[by_path["/late"].conn], late, seen_by="client")
    assert boom_verdict.differences == ["status 500 -> 200"]
    assert "connection cut -> full response" in late_verdict.differences


def test_cut_request_body_is_not_replayed(serve: Any, tmp_path: Path) -> None:
    capture = record(serve, tmp_path, body_limit=16, upload=b"x" * 100)
    seen_by_server = InspectorMiddleware(versioned_app(1), tap=False)
    target = serve(seen_by_server, lifespan="off")
    result = replay_cli(capture, "--to", target.url)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    line = next(line for line in out.splitlines() if "/upload" in line)
    assert "POST /upload not replayed: request body was cut at capture" in line, out
    assert "--body-limit" in line
    assert "4 replayed: 4 same, 0 differ; 1 not replayable" in out, out
    strict = replay_cli(capture, "--to", target.url, "--strict")
    assert strict.returncode == 1 and "1 not replayable" in strict.stdout
    in_process = replay_cli(capture, "--app", "tests.inspector.replay.test_replay_network:app_v1", "--strict")
    assert in_process.returncode == 1 and "1 not replayable" in in_process.stdout
    # The server never saw a truncated upload from the replay.
    paths = [f.path for f in fold_events(seen_by_server.events())]
    assert "/ok" in paths and "/upload" not in paths


app_v1 = versioned_app(1)
