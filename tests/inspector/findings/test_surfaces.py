"""Where findings show outside the dashboard: the headless line, HAR export, the export
filter, and `asgi-inspector check` (exit codes 0/1/2, text and JSON)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from inspector import InspectorMiddleware
from inspector.cli.serve import HeadlessPrinter
from inspector.findings.live import DEFAULT_CAP as FINDINGS_CAP
from inspector.io.capture_file import CaptureWriter
from inspector.io.exports import export_text
from tests import ROOT
from tests.inspector.findings import broken_apps as broken
from tests.inspector.findings.test_rules import REQUEST, http_scope, in_process
from tests.inspector.io.test_har import assert_valid_har


async def _router(scope: Any, receive: Any, send: Any) -> None:
    """/late breaks HM003, /dup SEM004+SEM005+SEM006, anything else is clean."""
    if scope["path"] == "/late":
        await broken.body_after_last(scope, receive, send)
    elif scope["path"] == "/dup":
        await broken.semantics(scope, receive, send)
    else:
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"fine"})


def capture_of(paths: list[str]) -> list[Any]:
    """Events of one GET per path, connections numbered from 1 as a capture has them."""
    events: list[Any] = []
    for conn, path in enumerate(paths, 1):
        for e in in_process(_router, http_scope(path=path), [REQUEST]):
            events.append(e._replace(seq=len(events), conn=conn))
    return events


def write(tmp_path: Path, name: str, events: list[Any]) -> Path:
    path = tmp_path / name
    with CaptureWriter(path, {"started": 1_700_000_000.0}) as writer:
        writer.write(events)
    return path


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inspector.cli.main", "check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


# -- headless ---------------------------------------------------------------------------------

def test_headless_line_ends_with_the_findings_count() -> None:
    mw = InspectorMiddleware(_router, tap=False)
    out = io.StringIO()
    printer = HeadlessPrinter(mw, out)

    async def receive() -> dict[str, Any]:
        return REQUEST

    async def send(message: Any) -> None:
        return None

    async def run(path: str) -> None:
        try:
            await mw(http_scope(path=path), receive, send)
        except Exception:
            pass
    for path in ("/ok", "/late", "/dup"):
        asyncio.run(run(path))
        printer.poll()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert " GET /ok 200 " in lines[0] and "findings" not in lines[0]
    assert lines[1].endswith(" findings=1")            # HM003
    assert lines[2].endswith(" findings=3")            # SEM004, SEM005, SEM006
    assert printer.findings._events == {}                       # nothing kept once printed


def test_headless_keeps_at_most_the_cap_of_a_long_flow() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(FINDINGS_CAP + 10):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await asyncio.sleep(3600)

    async def main() -> HeadlessPrinter:
        mw = InspectorMiddleware(app, tap=False)
        printer = HeadlessPrinter(mw, io.StringIO())

        async def receive() -> dict[str, Any]:
            return REQUEST

        async def send(message: Any) -> None:
            return None
        task = asyncio.create_task(mw(http_scope(), receive, send))
        while mw.ring.next_seq < FINDINGS_CAP + 12:
            await asyncio.sleep(0)
        printer.poll()
        task.cancel()
        return printer
    printer = asyncio.run(main())
    assert list(printer.findings._events.values()) == [None]    # dropped: bounded memory


# -- HAR and export ---------------------------------------------------------------------------

def test_har_export_carries_findings_and_stays_valid() -> None:
    events = capture_of(["/ok", "/late", "/dup"])
    har = json.loads(export_text("har", {"started": 1_700_000_000.0}, events))
    assert_valid_har(har)
    found = {e["request"]["url"].rsplit("/", 1)[1]: e.get("_asgiFindings")
             for e in har["log"]["entries"]}
    assert found["ok"] is None
    assert [f["rule"] for f in found["late"]] == ["HM003"]
    assert sorted(f["rule"] for f in found["dup"]) == ["SEM004", "SEM005", "SEM006"]
    first = found["late"][0]
    assert first["severity"] == "error" and first["link"].startswith("https://asgi.")
    assert set(first) == {"rule", "severity", "message", "seq", "hint", "link"}


def test_export_filter_on_findings() -> None:
    events = capture_of(["/ok", "/late", "/dup"])
    text = export_text("curl", {}, events, predicate=__import__(
        "inspector.filters.compile", fromlist=["compile_filter"]).compile_filter("finding:warning"))
    assert "/late" in text and "/dup" in text and "/ok" not in text


# -- check ------------------------------------------------------------------------------------

def test_check_exit_codes_and_text(tmp_path: Path) -> None:
    clean = write(tmp_path, "clean.jsonl", capture_of(["/ok", "/ok"]))
    bad = write(tmp_path, "bad.jsonl", capture_of(["/ok", "/late", "/dup", "/late"]))
    done = check(str(clean))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.endswith("0 findings in 0 of 2 flows (0 error, 0 warning, 0 info)\n")

    done = check(str(bad))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "HM003 error: A response message after the response was complete " \
                       "(2 flows)"
    assert lines[1].startswith("    #2 GET /late seq ")
    assert "SEM004" not in done.stdout                 # a warning: below the default
    assert lines[-1] == "2 findings in 2 of 4 flows (2 error, 0 warning, 0 info)"

    assert check(str(bad), "--ignore", "HM003").returncode == 0
    assert check(str(bad), "--ignore", "hm").returncode == 0
    warned = check(str(bad), "--min-severity", "warning", "--ignore", "HM")
    assert warned.returncode == 1 and "SEM004 warning" in warned.stdout
    assert "SEM006" not in warned.stdout                # an info
    assert check(str(bad), "--select", "SEM", "--min-severity", "info").returncode == 1
    assert check(str(bad), "--select", "SEM").returncode == 0


def test_check_json(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.jsonl", capture_of(["/ok", "/late", "/dup"]))
    done = check(str(bad), "--format", "json", "--min-severity", "info")
    assert done.returncode == 1
    rows = json.loads(done.stdout)
    assert [(r["flow"], r["method"], r["path"], r["rule"], r["severity"]) for r in rows] == [
        (2, "GET", "/late", "HM003", "error"),
        (3, "GET", "/dup", "SEM004", "warning"),
        (3, "GET", "/dup", "SEM005", "warning"),
        (3, "GET", "/dup", "SEM006", "info"),
    ]
    assert all(type(r["seq"]) is int and r["message"] for r in rows)
    empty = check(str(bad), "--format", "json", "--select", "WM")
    assert (empty.returncode, json.loads(empty.stdout)) == (0, [])


def test_check_reads_har_too(tmp_path: Path) -> None:
    har = tmp_path / "bad.har"
    har.write_text(export_text("har", {"started": 1_700_000_000.0},
                               capture_of(["/ok", "/dup"])))
    done = check(str(har), "--min-severity", "warning")
    assert done.returncode == 1 and "SEM005 warning" in done.stdout, done.stdout + done.stderr


def test_check_unreadable_capture_is_exit_2_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_text("this is not a capture\n")
    done = check(str(junk))
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "not an asgi-inspector capture" in done.stderr
    missing = check(str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
