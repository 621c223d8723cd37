"""Dashboard figures, rerunnable: `python -m tests.bench.bench_dashboard [open|live|local]`.

open:  a capture of 100,000 flows (written once to /tmp): time to the first painted screen
       with rows, time until everything is loaded, and how long End (G) takes after that.
live:  a publisher process feeds 2,000 flows/s (10,000 events/s) through a real tap socket
       for 30 s; the dashboard (TapFeed) gets a key press every 100 ms; reported: the time
       from a key event's arrival to the action having run and the list repainted (p50,
       p95, max), and whether ingest kept up.
local: the same load appended to a ring buffer by a thread of this process (LocalFeed):
       the `run`/`proxy` arrangement, where the app shares the process (and the GIL).

Latency is measured inside the app's loop (a key event is handed to the driver, the clock
stops at the first repaint of the list after the action ran), so it includes every
tick, fold and redraw queued ahead of the key.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from textual import events

from inspector.events.model import Event, encode_record
from inspector.events.ring import RingBuffer
from inspector.io.capture_file import CaptureWriter
from inspector.tap.feeds import FileFeed, LocalFeed, TapFeed
from tui.app import InspectorApp
from tui.widgets.flow_rows import FlowRows

HEADERS = [(b"host", b"localhost:8000"), (b"user-agent", b"python-httpx/0.28"),
           (b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate")]


def flow_events(conn: int, t: float) -> list[tuple[str, float, dict[str, Any]]]:
    """The five events of one small JSON GET (every 17th answers 500)."""
    path = f"/api/items/{conn}"
    return [
        ("scope", t, {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                      "method": "GET", "path": path, "raw_path": path.encode(),
                      "query_string": b"q=1", "headers": HEADERS,
                      "client": ("127.0.0.1", 40000 + conn % 20000),
                      "server": ("127.0.0.1", 8000), "scheme": "http", "root_path": ""}),
        ("receive", t + 0.0001, {"type": "http.request", "body": b"", "more_body": False}),
        ("send", t + 0.0004, {"type": "http.response.start",
                              "status": 500 if conn % 17 == 0 else 200,
                              "headers": [(b"content-type", b"application/json"),
                                          (b"content-length", b"25")]}),
        ("send", t + 0.0005, {"type": "http.response.body",
                              "body": b'{"items":[1,2,3],"q":"1"}', "more_body": False}),
        ("exit", t + 0.0006, {"type": "inspector.exit", "exception": None}),
    ]


def big_capture(flows: int = 100_000) -> Path:
    path = Path(tempfile.gettempdir()) / f"asgi-inspector-bench-{flows}.jsonl"
    if path.exists():
        return path
    seq = 0
    with CaptureWriter(path, {"started": 1_700_000_000.0}) as writer:
        batch = []
        for conn in range(1, flows + 1):
            for kind, t, message in flow_events(conn, conn * 0.0005):
                batch.append(Event(seq, conn, t, kind, message))
                seq += 1
            if len(batch) > 5000:
                writer.write(batch)
                batch = []
        writer.write(batch)
    return path


class Probe:
    """Times key events from delivery to the first repaint after their action ran."""

    def __init__(self) -> None:
        self.sent = 0.0
        self.acted = False
        self.latencies: list[float] = []
        self.waiting = False
        original_up = FlowRows.action_cursor_up
        original_last = FlowRows.action_last
        original_render = FlowRows.render_lines
        probe = self

        def action_cursor_up(rows: FlowRows) -> None:
            original_up(rows)
            probe.acted = True
            rows.refresh()

        def action_last(rows: FlowRows) -> None:
            original_last(rows)
            probe.acted = True
            rows.refresh()

        def render_lines(rows: FlowRows, crop: Any) -> Any:
            if probe.waiting and probe.acted:
                probe.latencies.append(time.perf_counter() - probe.sent)
                probe.waiting = False
            return original_render(rows, crop)

        FlowRows.action_cursor_up = action_cursor_up  # type: ignore[method-assign, assignment]
        FlowRows.action_last = action_last  # type: ignore[method-assign, assignment]
        FlowRows.render_lines = render_lines  # type: ignore[method-assign, assignment]

    def press(self, app: InspectorApp, key: str = "k") -> None:
        self.sent = time.perf_counter()
        self.acted = False
        self.waiting = True
        event = events.Key(key, key)
        event.set_sender(app)
        assert app._driver is not None
        app._driver.send_message(event)

    def summary(self) -> str:
        lat = sorted(self.latencies)
        if not lat:
            return "no key presses measured"

        def p(f: float) -> float:
            return lat[min(len(lat) - 1, int(f * len(lat)))] * 1000

        return (f"key press -> repaint: p50 {p(0.5):.1f} ms, p95 {p(0.95):.1f} ms, "
                f"max {lat[-1] * 1000:.1f} ms over {len(lat)} presses")


async def bench_open(flows: int = 100_000) -> None:
    path = big_capture(flows)
    probe = Probe()
    t0 = time.perf_counter()
    app = InspectorApp(FileFeed(path), clock="relative")
    first = None
    original = FlowRows.render_line

    def render_line(rows: FlowRows, y: int) -> Any:
        nonlocal first
        if first is None and y > 0 and len(rows.store) > 0:
            first = time.perf_counter() - t0
        return original(rows, y)

    FlowRows.render_line = render_line  # type: ignore[method-assign, assignment]
    async with app.run_test(size=(140, 40)) as pilot:
        while not app.idle:
            if app.model.store.total > 100:
                probe.press(app)
            await asyncio.sleep(0.1)
        loaded = time.perf_counter() - t0
        await pilot.pause(0.2)
        rows = len(app.model.store)
        await pilot.press("g")
        loading = probe.summary()
        probe.latencies = []
        for _ in range(5):                     # End, from the top, five times
            await pilot.press("g")
            probe.press(app, "G")
            await asyncio.sleep(0.3)
        assert app.table.cursor == rows - 1
        end = max(probe.latencies) * 1000
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"open {flows:,} flows ({path.stat().st_size / 2**20:.0f} MiB): first screen with "
          f"rows {first:.2f} s, all loaded {loaded:.2f} s ({rows:,} rows, peak RSS "
          f"{rss:.0f} MiB); End (key to repaint, worst of 5) {end:.0f} ms; while loading "
          f"{loading}")


def _publish(directory: str, seconds: float, rate: int, ready: Any) -> None:
    """A publisher process: a ring buffer on a tap, `rate` flows/s appended for `seconds`."""
    os.environ["ASGI_INSPECTOR_RUNTIME_DIR"] = directory
    from inspector.tap.server import TapServer

    ring = RingBuffer()

    async def main() -> None:
        server = TapServer(ring, hello={"pid": os.getpid(), "name": "bench",
                                        "started": time.time()})
        await server.start()
        ready.set()
        await produce(ring, seconds, rate)
        await asyncio.sleep(1.0)
        await server.close()

    asyncio.run(main())


async def produce(ring: RingBuffer, seconds: float, rate: int) -> None:
    """Append `rate` flows per second (5 events each) in 10 ms slices."""
    start = time.perf_counter()
    conn = 0
    total = int(seconds * rate)
    while conn < total:
        now = time.perf_counter() - start
        due = min(total, int(now * rate))
        while conn < due:
            conn += 1
            for kind, t, message in flow_events(conn, now):
                ring.append(encode_record(conn, kind, t, message))
        await asyncio.sleep(0.01)


async def run_live(app: InspectorApp, seconds: float, probe: Probe, expect: int) -> str:
    async with app.run_test(size=(140, 40)) as pilot:
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        while app.model.store.total == 0:
            await asyncio.sleep(0.05)
        await pilot.press("f")          # stop following, so k moves the cursor
        while time.perf_counter() - t0 < seconds + 0.5:
            probe.press(app)
            await asyncio.sleep(0.1)
        deadline = time.perf_counter() + 10
        while app.model.store.total < expect and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        behind = time.perf_counter() - (t0 + seconds + 0.5)
        # The dashboard process's CPU over the run (in `local` mode it includes the
        # producer thread, as `run`/`proxy` include the served app).
        cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - t0)
        total = app.model.store.total
        missed = app.model.buffer().missed
        analysed = app.model.analysed
    return f"{total:,} flows shown (of {expect:,}), {analysed:,} analyses, " \
           f"{missed} events missed, " \
           f"caught up {max(0.0, behind):.1f} s after the load stopped; {probe.summary()}; " \
           f"CPU {cpu_share:.0%} of one core"


async def bench_live(seconds: float = 30, rate: int = 2000) -> None:
    directory = tempfile.mkdtemp(prefix="asgi-inspector-bench-")
    os.chmod(directory, 0o700)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_publish, args=(directory, seconds, rate, ready))
    proc.start()
    ready.wait(10)
    probe = Probe()
    app = InspectorApp(TapFeed(directory=Path(directory)), clock="relative")
    try:
        print(f"live tap {rate} flows/s for {seconds:.0f} s: "
              + await run_live(app, seconds, probe, int(seconds * rate)))
    finally:
        proc.join(15)


async def bench_local(seconds: float = 30, rate: int = 2000) -> None:
    ring = RingBuffer()
    probe = Probe()
    app = InspectorApp(LocalFeed(ring, time.time()), clock="relative")
    thread = threading.Thread(target=lambda: asyncio.run(produce(ring, seconds, rate)),
                              daemon=True)
    thread.start()
    print(f"live local {rate} flows/s for {seconds:.0f} s: "
          + await run_live(app, seconds, probe, int(seconds * rate)))


if __name__ == "__main__":
    which = sys.argv[1:] or ["open", "live", "local"]
    for name in which:
        asyncio.run({"open": bench_open, "live": bench_live, "local": bench_local}[name]())
