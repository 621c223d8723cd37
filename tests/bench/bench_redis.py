"""Redis publishing figures: `python -m tests.bench.bench_redis [cpu|wrk|rate|memory|dashboard]`.

Starts its own redis-server (loopback, free port, no persistence) and stops it.

cpu:       the bench app driven in-process (no sockets) wrapped with capture alone and with
           capture + publishing, rounds alternating: process CPU per request, publisher
           thread included, until everything is published. On a CPU-bound server the
           ratio is the throughput ratio; CPU time is what other jobs on a shared machine
           disturb least.
wrk:       uvicorn serving the bench app wrapped (capture alone) against the same with
           $ASGI_INSPECTOR_PUBLISH set (capture + publishing): wrk -t1 -c32, rounds
           alternate, medians; req/s and p99 ratios against capture alone.
rate:      one process appends 4,000 flows/s (20,000 events/s) to a ring for 10 s while
           its publisher thread sends them: events published per second, events dropped.
memory:    10,000 flows (50,000 events, small JSON GETs) published: MEMORY USAGE of the
           stream and the growth of INFO memory's used_memory.
dashboard: four publisher processes at 500 flows/s each (2,000 flows/s in all) into one
           stream; the dashboard (RedisFeed) gets a key press every 100 ms; key-to-screen
           p50/p95/max as tests/bench/bench_dashboard.py measures it.

Options: --rounds N --duration S (wrk), --seconds S (rate, dashboard).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any

from tests.bench.bench_dashboard import Probe, flow_events, produce, run_live
from tests.bench.wrk import paired, pinned, serve
from tests.conftest import free_port


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        # On wrk's core, as the world outside the server is: the server's core is its own.
        self.proc = subprocess.Popen(
            [*pinned(1), "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def url(self, stream: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?stream={stream}"

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                              text=True).stdout.strip()

    def used_memory(self) -> int:
        for line in self.cli("INFO", "memory").splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        raise RuntimeError("no used_memory")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_wrk(redis: Redis, rounds: int, duration: float) -> None:
    servers = {"capture": serve("wrapped_no_tap"),
               "capture+publish": serve("wrapped_no_tap",
                                        {"ASGI_INSPECTOR_PUBLISH": redis.url("wrk")})}
    try:
        paired(servers, rounds, duration)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
    print(f"stream entries: {redis.cli('XLEN', 'wrk')}")


def bench_cpu(redis: Redis, rounds: int, n: int = 20_000) -> None:
    from inspector import InspectorMiddleware
    from tests.bench.bench_apps import make_app

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
             "root_path": "", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench")]}
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: Any) -> None:
        pass

    apps = {"capture": InspectorMiddleware(make_app(), tap=False),
            "capture+publish": InspectorMiddleware(make_app(), tap=False,
                                                   publish=redis.url("cpu"))}

    async def drive(app: Any) -> float:
        cpu = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        sink = app.publisher.redis
        while sink is not None and not done(sink):
            await asyncio.sleep(0.005)
        return (time.process_time() - cpu) / n

    loop = asyncio.new_event_loop()
    for app in apps.values():
        loop.run_until_complete(drive(app))        # warm up, start the publisher
    per: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            per[name].append(loop.run_until_complete(drive(app)))
    loop.close()
    base = statistics.median(per["capture"])
    print(f"## in-process, {n:,} GETs x {rounds} rounds alternating; process CPU medians")
    for name, samples in per.items():
        m = statistics.median(samples)
        print(f"{name:18} {m * 1e6:6.1f} µs CPU/request ({base / m:.3f}x the throughput "
              f"of capture alone)")
    sink = apps["capture+publish"].publisher.redis
    print(f"published {sink.published:,}, unpublished {sink.unpublished:,}")
    for app in apps.values():
        app.close()


def done(sink: Any) -> bool:
    """Every record in the ring sent (or given up on): read from the ring is not enough,
    since a piece read is sent after."""
    return bool(sink.published + sink.unpublished >= sink.ring.next_seq - sink.ring.first_seq)


def _sink_thread(ring: Any, url: str, name: str) -> tuple[Any, threading.Thread, Any]:
    """A RedisSink on a loop of its own thread, as the publisher thread runs it."""
    from inspector.tap.redis.publish import RedisSink
    from inspector.tap.redis.url import parse_redis_url

    sink = RedisSink(ring, parse_redis_url(url), app=name, started=time.time())
    loop = asyncio.new_event_loop()
    task_box: list[Any] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        task_box.append(loop.create_task(sink.run()))
        try:
            loop.run_until_complete(task_box[0])
        except asyncio.CancelledError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop() -> None:
        while not task_box:
            time.sleep(0.01)
        loop.call_soon_threadsafe(task_box[0].cancel)
        thread.join(10)
    return sink, thread, stop


def bench_rate(redis: Redis, seconds: float, rate: int = 4000) -> None:
    from inspector.events.ring import RingBuffer

    ring = RingBuffer()
    sink, thread, stop = _sink_thread(ring, redis.url("rate"), "rate")
    clock = time.pthread_getcpuclockid(thread.ident)  # type: ignore[arg-type]
    cpu0 = time.clock_gettime(clock)
    t0 = time.perf_counter()
    asyncio.run(produce(ring, seconds, rate))
    while not done(sink) and time.perf_counter() - t0 < seconds + 10:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    cpu = time.clock_gettime(clock) - cpu0
    stop()
    print(f"## one process, {rate * 5:,} events/s offered for {seconds:g} s")
    print(f"published {sink.published:,} events in {elapsed:.2f} s "
          f"({sink.published / elapsed:,.0f}/s), unpublished {sink.unpublished:,}, "
          f"caught up {max(0.0, elapsed - seconds):.2f} s after the load stopped; "
          f"{redis.cli('XLEN', 'rate')} entries; publisher thread CPU "
          f"{cpu / max(1, sink.published) * 1e9:.0f} ns/event ({cpu / elapsed:.1%} of a core)")


def bench_memory(redis: Redis, flows: int = 10_000) -> None:
    from inspector.events.model import encode_record
    from inspector.events.ring import RingBuffer

    before = redis.used_memory()
    ring = RingBuffer()
    sink, _, stop = _sink_thread(ring, redis.url("memory"), "memory")
    for conn in range(1, flows + 1):
        for kind, t, message in flow_events(conn, conn / 1000):
            ring.append(encode_record(conn, kind, t, message))
        if conn % 500 == 0:
            time.sleep(0.02)           # batches as a live app makes them, not one burst
    while not done(sink):
        time.sleep(0.01)
    stop()
    usage = int(redis.cli("MEMORY", "USAGE", "memory", "SAMPLES", "0"))
    grown = redis.used_memory() - before
    print(f"## memory: {flows:,} flows ({ring.next_seq:,} events, {ring.size_bytes / 2**20:.1f} "
          f"MiB of records) in {redis.cli('XLEN', 'memory')} entries")
    print(f"MEMORY USAGE {usage / 2**20:.1f} MiB; used_memory grew {grown / 2**20:.1f} MiB; "
          f"{usage / flows:.0f} bytes/flow")


def _publisher(url: str, seconds: float, rate: int, ready: Any, go: Any) -> None:
    from inspector.events.ring import RingBuffer

    ring = RingBuffer()
    sink, _, stop = _sink_thread(ring, url, f"bench-{os.getpid()}")
    ready.set()
    go.wait(30)
    asyncio.run(produce(ring, seconds, rate))
    time.sleep(1.0)
    stop()


async def bench_dashboard(redis: Redis, seconds: float, publishers: int = 4,
                          rate: int = 500) -> None:
    from inspector.tap.redis.feed import RedisFeed
    from inspector.tap.redis.url import parse_redis_url
    from tui.app import InspectorApp

    url = redis.url("dash")
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = []
    for _ in range(publishers):
        ready = ctx.Event()
        proc = ctx.Process(target=_publisher, args=(url, seconds, rate, ready, go))
        proc.start()
        ready.wait(20)
        procs.append(proc)
    probe = Probe()
    app = InspectorApp(RedisFeed(parse_redis_url(url)), clock="relative")
    go.set()
    try:
        result = await run_live(app, seconds, probe, int(seconds * rate * publishers))
        print(f"## dashboard on redis, {publishers} publishers x {rate} flows/s for "
              f"{seconds:g} s: {result}")
    finally:
        for proc in procs:
            proc.join(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["cpu", "wrk", "rate", "memory", "dashboard"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    redis = Redis()
    try:
        for part in args.parts:
            if part == "cpu":
                bench_cpu(redis, args.rounds)
            elif part == "wrk":
                bench_wrk(redis, args.rounds, args.duration)
            elif part == "rate":
                bench_rate(redis, args.seconds)
            elif part == "memory":
                bench_memory(redis)
            elif part == "dashboard":
                asyncio.run(bench_dashboard(redis, args.seconds))
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
