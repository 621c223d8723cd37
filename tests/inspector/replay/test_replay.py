"""Replay: in-process and over the network, HTTP and WebSocket, compared with the original;
and `asgi-inspector replay` as a regression test (exit 1 when the app changed)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from inspector import InspectorMiddleware, fold_events
from inspector.io.capture_file import CaptureWriter
from inspector.replay.plan import compare, compare_bodies, exchanges
from inspector.replay.send import InProcessTarget, NetworkTarget, replay_all
from tests import ROOT
from tests.apps import changed_app, starlette_app
from tests.conftest import wait_for


def record_traffic(serve: Any) -> list[Any]:
    """Real traffic through uvicorn: GET, streamed POST, streamed response, WebSocket."""
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw, lifespan="off")
    httpx.get(server.url + "/api/items?q=tea")

    def chunks() -> Any:
        yield b"first;"
        yield b"second;"
    httpx.post(server.url + "/raw/stream", content=chunks())
    httpx.post(server.url + "/echo", content=b'{"a": 1}', headers={"content-type": "application/json"})
    httpx.get(server.url + "/numbers")

    async def chat() -> None:
        async with websockets.connect(server.url.replace("http", "ws") + "/ws") as ws:
            await ws.send("hi")
            await ws.recv()
            await ws.send(b"\x00\x01")
            await ws.recv()
    asyncio.run(chat())
    wait_for(lambda: sum(1 for e in mw.events() if e.kind == "exit") == 5)
    return mw.events()


@pytest.fixture
def recorded(serve: Any) -> list[Any]:
    return record_traffic(serve)


def check_all_same(events: list[Any], results: list[Any]) -> None:
    originals = {f.conn: f for f in fold_events(events)}
    assert len(results) == 5
    for exchange, flow in results:
        verdict = compare(originals[exchange.conn], flow)
        assert verdict.same, (exchange.label, verdict.summary())
        assert flow.replay_of == exchange.label


async def test_in_process_replay_same_and_chunks_kept(recorded: list[Any]) -> None:
    target = InProcessTarget(starlette_app())
    await target.start()
    results = await replay_all(target, exchanges(recorded))
    await target.stop()
    check_all_same(recorded, results)
    # Chunk boundaries: the replayed app received the same http.request messages.
    original = [e for e in exchanges(recorded) if e.scope["path"] == "/raw/stream"][0]
    replay_events = target.recorder.events()
    replay_conn = next(f.conn for _, f in results if f.path == "/raw/stream")
    got = [e.message for e in replay_events if e.conn == replay_conn and e.kind == "receive"
           and e.message["type"] == "http.request"]
    assert [m.get("body") for m in got] == [m.get("body") for _, m in original.client_messages]
    ws_flow = next(f for _, f in results if f.type == "websocket")
    assert [(m.direction, m.text, m.data) for m in ws_flow.messages] == [
        ("in", "hi", None), ("out", "echo:hi", None), ("in", None, b"\x00\x01"),
        ("out", None, b"echo:\x00\x01")]


async def test_network_replay_same(recorded: list[Any], serve: Any) -> None:
    capturing = InspectorMiddleware(starlette_app(), tap=False)
    server = await asyncio.to_thread(serve, capturing, lifespan="off")
    target = NetworkTarget(server.url)
    results = await replay_all(target, exchanges(recorded), concurrency=3)
    check_all_same(recorded, results)
    # The server's own capture links each replay to its original too (marker header).
    seen = await asyncio.to_thread(wait_for, lambda: len(fold_events(capturing.events())) == 5
                                   and fold_events(capturing.events()))
    assert sorted(f.replay_of for f in seen) == sorted(e.label for e, _ in results)


async def test_changed_app_is_reported(recorded: list[Any]) -> None:
    target = InProcessTarget(changed_app())
    results = await replay_all(target, exchanges(recorded))
    originals = {f.conn: f for f in fold_events(recorded)}
    verdicts = {f.path: compare(originals[e.conn], f) for e, f in results}
    assert not verdicts["/api/items"].same
    assert "$.items[2]: 3 -> 4" in verdicts["/api/items"].summary()
    assert all(v.same for path, v in verdicts.items() if path != "/api/items")


def test_body_comparison_rules() -> None:
    assert compare_bodies(b'{"a":1,"b":2}', b'{"b": 2, "a": 1}', "application/json") == ([], "")
    diffs, text = compare_bodies(b"one\ntwo\n", b"one\nthree\n", "text/plain")
    assert diffs == ["text body differs"] and "-two" in text and "+three" in text
    diffs, _ = compare_bodies(b"\xff\x00", b"\xff\x01\x02")
    assert "2 bytes" in diffs[0] and "3 bytes" in diffs[0]


def test_replay_cli_exit_status(recorded: list[Any], tmp_path: Path) -> None:
    capture = tmp_path / "cap.jsonl"
    with CaptureWriter(capture, {"started": 0.0}) as writer:
        writer.write(recorded)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "inspector.cli.main", "replay", str(capture), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    same = run("--app", "tests.apps:app")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "5 replayed: 5 same, 0 differ" in same.stdout
    changed = run("--app", "tests.apps:app_v2", "--save", str(tmp_path / "replayed.jsonl"))
    assert changed.returncode == 1
    assert "GET /api/items?q=tea 200 -> 200 differs: JSON body differs at $.items[2]" in changed.stdout
    assert "5 replayed: 4 same, 1 differ" in changed.stdout
    replayed = fold_events(__import__("inspector").read_capture(tmp_path / "replayed.jsonl"))
    assert sum(1 for f in replayed if f.replay_of) == 5
    bad = run()
    assert bad.returncode == 2 and "--to URL or --app" in bad.stderr
    only_echo = run("--app", "tests.apps:app_v2", "--filter", "path:/echo method:POST")
    assert only_echo.returncode == 0 and "1 replayed: 1 same, 0 differ" in only_echo.stdout
    typo = run("--app", "tests.apps:app", "--filter", "stauts:5xx")
    assert typo.returncode == 1 and "column 1" in typo.stderr
    assert len(typo.stderr.strip().splitlines()) == 1
