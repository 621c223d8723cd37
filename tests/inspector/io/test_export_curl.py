"""End to end: requests captured by InspectorMiddleware under uvicorn become curl commands;
the real curl, run by sh, gets the same answer, and the server sees the same request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector import InspectorMiddleware
from inspector.events.model import Event
from inspector.flows.fold import fold_events
from inspector.flows.model import Flow
from inspector.io.curl import flow_to_curl
from tests.apps import starlette_app
from tests.conftest import wait_for

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} ; & | < > * ? ~ ! \\"
# Headers the sender chooses per connection, not per request; curl sends them too.
SENDER_HEADERS = {b"host"}


def requests(client: httpx.Client) -> list[httpx.Response]:
    return [
        client.get("/api/items", params={"q": HOSTILE, "n": "ü"}),
        client.post("/echo", json={"quote": HOSTILE, "text": "ünïcode\n"}),
        client.post("/echo", content=bytes(range(256)) + b"\n",
                    headers={"content-type": "application/octet-stream"}),
        client.post("/echo", content=b"@/etc/passwd\n\n",
                    headers=[(b"content-type", b"text/plain"), (b"x-quote", HOSTILE.encode()),
                             (b"x-latin1", b"caf\xe9"), (b"x-empty", b""),
                             (b"authorization", b"Bearer secret-token")]),
        client.get("/hello"),
        client.post("/echo", content=b"no content type"),
        client.get("/raw/stream"),
    ]


def finished_events(mw: InspectorMiddleware, count: int) -> list[Event]:
    def done() -> list[Event] | None:
        events = mw.events()
        return events if sum(1 for e in events if e.kind == "exit") >= count else None
    return wait_for(done)


def run_curl(command: str, tmp_path: Path, index: int) -> tuple[int, bytes]:
    """Run a command with the real curl: status code and body, via a wrapping function."""
    out = tmp_path / f"body{index}"
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    script = tmp_path / f"command{index}.sh"
    script.write_text(
        'curl() { command curl -sS --max-time 10 -o "$OUT" -w "%{http_code}" "$@"; }\n'
        + command + "\n")
    done = subprocess.run(["sh", str(script)], capture_output=True, cwd=work, timeout=20,
                          env={**os.environ, "OUT": str(out)}, stdin=subprocess.DEVNULL,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert list(work.iterdir()) == []          # $(...) and backticks never ran
    return int(done.stdout), out.read_bytes()


def request_seen(flow: Flow) -> tuple[Any, ...]:
    headers = sorted((n, v) for n, v in flow.request_headers if n not in SENDER_HEADERS)
    return (flow.method, flow.path, flow.query, flow.request_body, headers)


def test_curl_commands_replay_captured_requests(serve: Any, tmp_path: Path) -> None:
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw, lifespan="off")
    with httpx.Client(base_url=server.url) as client:
        responses = requests(client)
    originals = [f for f in fold_events(finished_events(mw, len(responses)))
                 if f.type == "http"]
    assert [f.status for f in originals] == [r.status_code for r in responses]

    commands = [flow_to_curl(f, include_secrets=True) for f in originals]
    for index, (flow, command) in enumerate(zip(originals, commands)):
        status, body = run_curl(command, tmp_path, index)
        assert status == flow.status, command
        # /hello was asked for with gzip: --compressed hands back the decoded body.
        assert body == flow.response_body, command

    replays = [f for f in fold_events(finished_events(mw, 2 * len(responses)))
               if f.type == "http"][len(originals):]
    for original, replay in zip(originals, replays):
        assert request_seen(replay) == request_seen(original)
    assert "--compressed" in commands[4]              # httpx asked for gzip, deflate
    assert "--data-binary @-" in commands[2] and "printf '%b'" in commands[2]
    assert "-H Content-Type:" in commands[5]           # curl would have said it was a form


def test_masked_command_still_runs(serve: Any, tmp_path: Path) -> None:
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw, lifespan="off")
    httpx.post(server.url + "/echo", content=b"{}", headers={
        "authorization": "Bearer secret-token", "cookie": "sid=abc",
        "content-type": "application/json"})
    (flow,) = [f for f in fold_events(finished_events(mw, 1)) if f.type == "http"]
    command = flow_to_curl(flow)
    assert "secret-token" not in command and "sid=abc" not in command
    assert run_curl(command, tmp_path, 0) == (200, b"{}")
    replay = [f for f in fold_events(finished_events(mw, 2)) if f.type == "http"][1]
    assert (b"authorization", b"Bearer <masked>") in replay.request_headers
    assert (b"cookie", b"sid=<masked>") in replay.request_headers
    assert json.loads(replay.request_body) == {}
