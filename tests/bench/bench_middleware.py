"""Benchmark: what InspectorMiddleware costs an app.

    python -m tests.bench.bench_middleware [--rounds 5] [--duration 5] [--only inprocess,wrk,memory]
        [--c-vs-python]

1. In-process: a Starlette "hello" GET driven without sockets, bare vs wrapped (default
   options): µs per request, added µs, and ns per captured event.
2. wrk (keep-alive, 127.0.0.1) against uvicorn (httptools + uvloop when installed): bare vs
   wrapped vs a naive deque recorder (and, with `--apps`, OpenTelemetry's and Sentry's
   middleware: `--apps bare,wrapped,naive,otel,sentry`), for GET hello and a 1 KiB POST echo; rounds
   alternate; requests/s and p99 medians, ratios against bare. Servers run on core 0 and
   wrk on core 1 (taskset), so that the ratios measure the app, not the scheduler.
3. Memory: 1,000,000 events through a ring capped at 64 MiB: RSS growth.

--c-vs-python: what each C piece buys over the next simpler design, in parts 1 and 2
(the naive recorder left out): `wrapped` (the C `__call__` and `Capture.call`, the C
hooks, ring and encoder), `pycall` (an `async def __call__` in Python handing the app the
C hooks: `bench_apps.PythonCallMiddleware`) and `pure` (the pure-Python path: in-process
`bench_apps.PurePythonMiddleware`, under wrk `wrapped` served with
ASGI_INSPECTOR_PURE_PYTHON=1). All variants alternate within each round.

Needs wrk on PATH for part 2 (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from tests.bench.wrk import serve, wrk

# ---------------------------------------------------------------- in-process

def _inprocess_variants(rounds: int, n: int = 5_000) -> dict[str, float]:
    """CPU µs per request of each design (--c-vs-python), rounds alternating; medians.

    This thread's CPU time, not the wall clock: on a machine shared with other work, time
    spent descheduled is not the app's, and it moved wall-clock figures by more than the
    differences measured here."""
    from inspector import InspectorMiddleware
    from tests.bench.bench_apps import PurePythonMiddleware, PythonCallMiddleware, make_app

    scope, receive, send = _get_request()
    apps = {"bare": make_app(), "wrapped": InspectorMiddleware(make_app(), tap=False),
            "pycall": PythonCallMiddleware(make_app(), tap=False),
            "pure": PurePythonMiddleware(make_app(), tap=False)}

    async def drive(app: Any) -> float:
        start = time.thread_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.thread_time() - start) / n

    loop = asyncio.new_event_loop()
    for app in apps.values():                     # warm up every one
        loop.run_until_complete(drive(app))
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            gc.collect()
            times[name].append(loop.run_until_complete(drive(app)))
    loop.close()
    return {name: statistics.median(t) * 1e6 for name, t in times.items()}


def _get_request() -> tuple[dict[str, Any], Any, Any]:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
             "root_path": "", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"),
                         (b"accept", b"*/*")], "state": {}}
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: Any) -> None:
        pass

    return scope, receive, send


def _inprocess(rounds: int, n: int = 20_000) -> dict[str, float]:
    from inspector import InspectorMiddleware
    from tests.bench.bench_apps import make_app

    scope, receive, send = _get_request()

    async def drive(app: Any) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - start) / n

    bare = make_app()
    wrapped = InspectorMiddleware(make_app(), tap=False)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(drive(bare))          # warm up both
    loop.run_until_complete(drive(wrapped))
    bare_t, wrapped_t = [], []
    for _ in range(rounds):
        bare_t.append(loop.run_until_complete(drive(bare)))
        wrapped_t.append(loop.run_until_complete(drive(wrapped)))
    events_per_request = wrapped.ring.next_seq / ((1 + rounds) * n)

    # ns per captured event: the record call alone, on the messages of a GET.
    rec = wrapped.recorder
    start_msg = {"type": "http.response.start", "status": 200,
                 "headers": [(b"content-length", b"13"), (b"content-type", b"text/plain")]}
    body_msg = {"type": "http.response.body", "body": b"Hello, world!", "more_body": False}
    per_event = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            rec.message(1, "send", start_msg)
            rec.message(1, "send", body_msg)
            rec.message(1, "receive", {"type": "http.request", "body": b"", "more_body": False})
        per_event.append((time.perf_counter() - t0) / (3 * n))
    t_scope = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            rec.open(scope)
        t_scope.append((time.perf_counter() - t0) / n)
    loop.close()
    b, w = statistics.median(bare_t), statistics.median(wrapped_t)
    return {"bare_us": b * 1e6, "wrapped_us": w * 1e6, "added_us": (w - b) * 1e6,
            "events_per_request": events_per_request,
            "ns_per_message_event": statistics.median(per_event) * 1e9,
            "ns_per_scope_event": statistics.median(t_scope) * 1e9}


# ---------------------------------------------------------------- wrk

# What each served name runs: the app in tests.bench.bench_apps, and the environment.
_SERVED = {"pure": ("wrapped", {"ASGI_INSPECTOR_PURE_PYTHON": "1"})}


def _wrk_rounds(rounds: int, duration: float,
                apps: tuple[str, ...] = ("bare", "wrapped", "naive")) -> dict[str, Any]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    post = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    post.write('wrk.method = "POST"\nwrk.body = string.rep("a", 1024)\n'
               'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    post.close()
    servers = {name: serve(*_SERVED.get(name, (name, {}))) for name in apps}
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    try:
        for workload, path, script in (("GET hello", "/", None),
                                       ("POST 1 KiB echo", "/echo", post.name)):
            for _, port in servers.values():
                wrk(port, path, 1, script)               # warm up
            per = results.setdefault(workload, {name: [] for name in servers})
            for _ in range(rounds):
                for name, (_, port) in servers.items():   # alternate within each round
                    per[name].append(wrk(port, path, duration, script))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
        os.unlink(post.name)
    summary: dict[str, Any] = {}
    for workload, per in results.items():
        bare_rps = statistics.median(r for r, _ in per["bare"])
        bare_p99 = statistics.median(p for _, p in per["bare"])
        for name, samples in per.items():
            rps = statistics.median(r for r, _ in samples)
            p99 = statistics.median(p for _, p in samples)
            summary[f"{workload} / {name}"] = {
                "rps": round(rps), "p99_ms": round(p99, 2),
                "rps_ratio": round(rps / bare_rps, 3), "p99_ratio": round(p99 / bare_p99, 2)}
    return summary


# ---------------------------------------------------------------- memory

def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _memory(events: int = 1_000_000) -> dict[str, float]:
    from inspector.capture.recorder import Recorder
    from inspector.events.ring import RingBuffer

    gc.collect()
    before = _rss_mb()
    recorder = Recorder(RingBuffer(capacity=events, max_bytes=64 * 2**20))
    body = {"type": "http.response.body", "body": b"x" * 200, "more_body": True}
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain"), (b"x-request-id", b"1234567890")]}
    t0 = time.perf_counter()
    for i in range(events // 2):
        recorder.message(i, "send", start)
        recorder.message(i, "send", body)
    elapsed = time.perf_counter() - t0
    gc.collect()
    after = _rss_mb()
    ring = recorder.ring
    return {"events": events, "held": len(ring), "dropped": ring.dropped,
            "index_mib": events * 8 / 2**20,
            "ring_mib": ring.size_bytes / 2**20, "rss_growth_mib": after - before,
            "ns_per_event": elapsed / events * 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--only", default="inprocess,wrk,memory")
    parser.add_argument("--apps", default="bare,wrapped,naive",
                        help="apps of tests/bench/bench_apps.py that wrk drives; bare first")
    parser.add_argument("--c-vs-python", action="store_true",
                        help="compare the C pieces with the simpler designs (see above)")
    args = parser.parse_args()
    parts = args.only.split(",")
    from inspector.events.ring import RING
    print(f"(ring and encoder: {RING})")
    if args.c_vs_python and "inprocess" in parts:
        r = _inprocess_variants(args.rounds)
        print("## In-process (no sockets), GET hello, CPU time, medians of", args.rounds,
              "rounds")
        print(f"{'design':10} {'µs/request':>11} {'added µs':>9} {'added x wrapped':>16}")
        added_c = r["wrapped"] - r["bare"]
        for name, us in r.items():
            added = us - r["bare"]
            print(f"{name:10} {us:>11.2f} {added:>9.2f} {added / added_c:>16.2f}")
    elif "inprocess" in parts:
        r = _inprocess(args.rounds)
        print("## In-process (no sockets), medians of", args.rounds, "rounds")
        print(f"bare Starlette GET      {r['bare_us']:.2f} µs/request")
        print(f"wrapped                 {r['wrapped_us']:.2f} µs/request "
              f"(+{r['added_us']:.2f} µs, {r['events_per_request']:.0f} events/request)")
        print(f"record one message      {r['ns_per_message_event']:.0f} ns/event")
        print(f"record one scope        {r['ns_per_scope_event']:.0f} ns/event")
    if "wrk" in parts:
        print(f"\n## wrk -t1 -c32, {args.duration:g} s x {args.rounds} rounds, alternating; medians")
        print(f"{'workload / app':34} {'req/s':>8} {'ratio':>6} {'p99 ms':>7} {'p99 x':>6}")
        names = ("bare", "wrapped", "pycall", "pure") if args.c_vs_python else tuple(
            args.apps.split(","))
        for name, r in _wrk_rounds(args.rounds, args.duration, names).items():
            print(f"{name:34} {r['rps']:>8} {r['rps_ratio']:>6.3f} {r['p99_ms']:>7.2f} "
                  f"{r['p99_ratio']:>6.2f}")
    if "memory" in parts:
        r = _memory()
        print("\n## Memory: 1,000,000 events into a 64 MiB ring")
        print(f"held {r['held']:,} events ({r['ring_mib']:.1f} MiB counted), dropped "
              f"{r['dropped']:,}; RSS growth {r['rss_growth_mib']:.1f} MiB (of which the "
              f"seq index for {r['events']:,} slots: {r['index_mib']:.1f} MiB); "
              f"{r['ns_per_event']:.0f} ns/event")


if __name__ == "__main__":
    main()
