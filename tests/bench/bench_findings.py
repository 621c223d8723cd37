"""Findings cost: `python -m tests.bench.bench_findings` (not run by the suite).

1. Findings over 100,000 captured flows (the bench_flows mix: 70% plain GETs, 20% SSE
   streams of 50 chunks, 10% WebSocket sessions of 50 messages), given flows and their
   events as `asgi-inspector check` has them: seconds in all and µs per flow.
2. The headless printer's work per batch (fold + lines) with and without the findings
   count, interleaved rounds, medians: the ratio is what the count costs a live server.
The machine is shared: read ratios, not absolute times.
"""

from __future__ import annotations

import statistics
import time

from inspector.cli.headless import FlowLines
from inspector.events.model import Event
from inspector.findings import analyse_events, events_by_conn
from inspector.flows.fold import FlowFolder, fold_events


def build(flows: int) -> list[Event]:
    ev: list[Event] = []
    hdrs = [(b"host", b"localhost:8000"), (b"user-agent", b"curl/8"), (b"accept", b"*/*")]
    asgi = {"version": "3.0", "spec_version": "2.3"}
    for conn in range(1, flows + 1):
        k = conn % 10

        def e(kind: str, msg: dict) -> None:
            ev.append(Event(len(ev), conn, len(ev) * 1e-5, kind, msg))
        if k < 7:
            e("scope", {"type": "http", "asgi": asgi, "method": "GET", "path": "/x",
                        "raw_path": b"/x", "query_string": b"a=1", "headers": hdrs,
                        "scheme": "http", "http_version": "1.1", "root_path": ""})
            e("receive", {"type": "http.request", "body": b"", "more_body": False})
            e("send", {"type": "http.response.start", "status": 200,
                       "headers": [(b"content-type", b"text/plain"),
                                   (b"content-length", b"5")]})
            e("send", {"type": "http.response.body", "body": b"hello", "more_body": False})
            e("exit", {"type": "inspector.exit", "exception": None})
        elif k < 9:
            e("scope", {"type": "http", "asgi": asgi, "method": "GET", "path": "/sse",
                        "headers": hdrs, "query_string": b""})
            e("receive", {"type": "http.request", "body": b"", "more_body": False})
            e("send", {"type": "http.response.start", "status": 200,
                       "headers": [(b"content-type", b"text/event-stream")]})
            for i in range(50):
                e("send", {"type": "http.response.body", "body": b"data: %d\n\n" % i,
                           "more_body": True})
            e("send", {"type": "http.response.body", "body": b"", "more_body": False})
            e("exit", {"type": "inspector.exit", "exception": None})
        else:
            e("scope", {"type": "websocket", "asgi": asgi, "path": "/ws", "headers": hdrs,
                        "subprotocols": []})
            e("receive", {"type": "websocket.connect"})
            e("send", {"type": "websocket.accept", "subprotocol": None})
            for i in range(25):
                e("receive", {"type": "websocket.receive", "text": "ping %d" % i})
                e("send", {"type": "websocket.send", "bytes": b"pong"})
            e("receive", {"type": "websocket.disconnect", "code": 1000})
            e("exit", {"type": "inspector.exit", "exception": None})
    return ev


def findings_over(events: list[Event]) -> tuple[float, float]:
    """(seconds of the fold, seconds of the findings over the folded flows)."""
    t = time.perf_counter()
    flows = fold_events(events)
    fold = time.perf_counter() - t
    t = time.perf_counter()
    cpu = time.process_time()
    analysed = analyse_events(events, flows)
    cpu = time.process_time() - cpu
    dt = time.perf_counter() - t
    n = len(analysed)
    found = sum(len(a.findings) for _, a in analysed)
    print(f"findings over {n} flows ({len(events)} events): {dt:.2f} s wall, {cpu:.2f} s "
          f"CPU, {dt / n * 1e6:.1f} µs/flow, {found} findings; the fold itself {fold:.2f} s")
    return fold, dt


def headless(events: list[Event], with_findings: bool) -> float:
    """What HeadlessPrinter.poll does per batch of 1000 events, with or without the count."""
    from inspector.findings.live import LiveFindings

    folder = FlowFolder(body_cap=0, details=False)
    lines = FlowLines(0.0)
    findings = LiveFindings()
    t = time.perf_counter()
    for i in range(0, len(events), 1000):
        batch = events[i:i + 1000]
        touched = folder.extend(batch)
        if with_findings:
            findings.feed(batch, touched)
        lines.lines(touched)
        for source, conn in lines.finished:
            folder.forget(source, conn)
        lines.finished.clear()
    return time.perf_counter() - t


def main() -> None:
    events = build(100_000)
    assert len(events_by_conn(events)) == 100_000
    rounds = [findings_over(events) for _ in range(3)]
    fold = statistics.median(r[0] for r in rounds)
    found = statistics.median(r[1] for r in rounds)
    print(f"median: findings {found:.2f} s ({found / 100_000 * 1e6:.1f} µs/flow), "
          f"{found / fold:.2f}x the fold's time")
    small = events[:300_000]
    base, count = [], []
    for _ in range(5):
        base.append(headless(small, False))
        count.append(headless(small, True))
    b, c = statistics.median(base), statistics.median(count)
    print(f"headless over {len(small)} events: {b / len(small) * 1e9:.0f} ns/event without "
          f"findings, {c / len(small) * 1e9:.0f} ns/event with the count ({c / b:.2f}x)")


if __name__ == "__main__":
    main()
