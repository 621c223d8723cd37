"""`asgi-inspector demo`: the demo app and its traffic generator, end to end."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from inspector import InspectorMiddleware, fold_events, read_capture
from inspector.demo.app import app as demo_app
from inspector.demo.traffic import generate
from tests import ROOT
from tests.conftest import free_port


def test_demo_command_shows_every_kind_of_flow(tmp_path: Path) -> None:
    save = tmp_path / "demo.jsonl"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli.main", "demo", "--port", str(port),
                             "--save", str(save), "--no-tap"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    wanted = ["GET /api/items?q=tea 200", "POST /api/orders 201", "POST /login 303",
              "POST /upload 200 ", "GET /api/items/42 404", "GET /api/discount ---",
              "GET /events 200", "sse", "WS /ws/chat open subprotocol=chat",
              "WS /ws/chat closed code=1000 by=app", "GET /reports/slow 200"]
    deadline = time.monotonic() + 20
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if all(any(w in seen for seen in lines) for w in wanted):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    text = "".join(lines) + out
    for w in wanted:
        assert w in text, (w, text)
    assert proc.returncode == 0 and "Traceback" not in err
    flows = fold_events(read_capture(save))
    assert any(f.path == "/api/discount" and f.state == "app_exception" for f in flows)
    # A whole chat session: at least two messages each way and the client's /quit (the
    # traffic's sessions say 2 to 5 things; which one closes first depends on the load).
    assert any(f.type == "websocket" and f.state != "open" and len(f.messages) >= 5
               for f in flows)


async def test_generator_rounds_against_wrapped_app(serve: Any) -> None:
    mw = InspectorMiddleware(demo_app, tap=False)
    server = serve(mw, log_level="critical")
    await asyncio.wait_for(generate("127.0.0.1", server.port, clients=2, pause=0.0, rounds=15),
                           timeout=30)
    flows = fold_events(mw.events())
    http = [f for f in flows if f.type == "http"]
    assert len(http) >= 30
    assert {f.status for f in http} >= {200, 201, 404}
    assert mw.recorder.errors == 0
