"""End to end: traffic captured under uvicorn, saved, exported by `asgi-inspector export
--format har`; the HAR is strictly valid, masks secrets, and reads back in as a capture
(exporting the export gives the same HAR)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from websockets.sync.client import connect as ws_connect

from inspector import InspectorMiddleware
from inspector.cli.main import cli
from inspector.io.capture_file import CaptureWriter
from tests.apps import starlette_app
from tests.conftest import wait_for
from tests.inspector.io.test_har import assert_valid_har


def capture(serve: Any, path: Path) -> None:
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw, lifespan="off")
    with httpx.Client(base_url=server.url) as client:
        client.get("/api/items", params={"q": "x y"}, headers={"authorization": "Bearer tok"})
        client.post("/echo", content=b"\x00\x01binary", headers={"cookie": "sid=abc"})
        client.get("/numbers")
    with ws_connect(server.url.replace("http://", "ws://") + "/ws") as ws:
        ws.send("hi")
        assert ws.recv() == "echo:hi"

    def finished() -> list[Any] | None:
        events = mw.events()
        return events if sum(1 for e in events if e.kind == "exit") == 4 else None
    events = wait_for(finished)
    with CaptureWriter(path, {"started": mw.recorder.started_wall}) as writer:
        writer.write(events)


def export(*args: str) -> str:
    result = CliRunner().invoke(cli, ["export", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_export_har_and_back(serve: Any, tmp_path: Path) -> None:
    saved = tmp_path / "capture.jsonl"
    capture(serve, saved)
    out = tmp_path / "out.har"
    export(str(saved), "--format", "har", "-o", str(out))
    har = json.loads(out.read_text())
    assert_valid_har(har)
    entries = har["log"]["entries"]
    assert [e["request"]["method"] for e in entries] == ["GET", "POST", "GET", "GET"]
    assert entries[3]["_resourceType"] == "websocket"
    assert entries[2]["response"]["content"]["text"] == "chunk-0\nchunk-1\nchunk-2\n"
    text = out.read_text()
    assert "Bearer <masked>" in text and "tok\"" not in text and "sid=abc" not in text

    # A HAR is read as a capture: exporting the export gives the same HAR.
    again = json.loads(export(str(out), "--format", "har"))
    assert again["log"]["entries"] == entries

    secrets = json.loads(export(str(saved), "--format", "har", "--include-secrets"))
    assert "Bearer tok" in json.dumps(secrets)
    curl = export(str(out), "--format", "curl")
    assert curl.count("curl --http1.1 ") == 3 and "--data-binary @-" in curl


def test_not_a_har_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": ')
    result = CliRunner().invoke(cli, ["export", str(bad), "--format", "har"])
    assert result.exit_code != 0
    assert f"{bad}: not a HAR file (not valid JSON" in result.output
    assert "Traceback" not in result.output
