"""The headless lines of `run --reload` / `--workers`: many processes' feed items, folded."""

from __future__ import annotations

from inspector.capture.recorder import Recorder
from inspector.cli.children import TapLines
from inspector.tap.feeds import Batch, SourceInfo, SourceStatus


def _events(path: str, finish: bool) -> list:
    recorder = Recorder()
    conn = recorder.open({"type": "http", "method": "GET", "path": path, "headers": [],
                          "query_string": b"", "root_path": ""})
    recorder.message(conn, "receive", {"type": "http.request", "body": b""})
    if finish:
        recorder.message(conn, "send", {"type": "http.response.start", "status": 200,
                                        "headers": []})
        recorder.message(conn, "send", {"type": "http.response.body", "body": b"ok"})
        recorder.exit(conn, None)
    return recorder.events()


def test_lines_are_tagged_and_a_gone_process_ends_its_open_flows() -> None:
    lines = TapLines()
    assert lines.take(SourceInfo("pid 10", 0.0)) == ([], ["asgi-inspector: pid 10 serving"])
    assert lines.take(SourceInfo("pid 11", 0.0))[1] == ["asgi-inspector: pid 11 serving"]
    out, _ = lines.take(Batch("pid 10", _events("/old", finish=True)))
    assert len(out) == 1 and out[0].startswith("[pid 10] ") and " GET /old 200 " in out[0]
    assert lines.take(Batch("pid 11", _events("/hangs", finish=False))) == ([], [])
    out, notes = lines.take(SourceStatus("pid 11", missed=3))
    assert out == ["(missed 3 events of pid 11: its ring buffer wrapped)"] and notes == []
    assert lines.take(SourceStatus("pid 11", missed=3)) == ([], [])     # cumulative
    out, notes = lines.take(SourceStatus("pid 11", missed=3, gone=True))
    assert len(out) == 1 and "[pid 11]" in out[0] and "/hangs" in out[0]
    assert out[0].endswith("[still open at exit]")
    assert notes == ["asgi-inspector: pid 11 gone"] and lines.live == {"pid 10"}
    assert lines.still_open(["pid 10"]) == []
