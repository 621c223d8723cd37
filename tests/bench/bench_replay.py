"""Benchmark: replaying 10,000 captured HTTP flows in-process vs over the network.

    python -m tests.bench.bench_replay [--flows 10000] [--rounds 3] [--concurrency 8]

The capture is real: the bench app (Starlette hello + 1 KiB POST echo) served by uvicorn
inside InspectorMiddleware and driven by httpx. Then, alternating per round: replay every
flow in-process (InProcessTarget, no sockets) and over the network to the same app under
uvicorn (NetworkTarget, one connection per flow, as `replay --to` does). Flows/s medians.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import httpx

from inspector.replay.plan import exchanges
from inspector.replay.send import InProcessTarget, NetworkTarget, replay_all
from tests.bench.bench_apps import make_app
from tests.conftest import ServerThread


async def capture(n: int) -> list:
    from inspector import InspectorMiddleware

    mw = InspectorMiddleware(make_app(), tap=False, capacity=10 * n)
    server = ServerThread(mw, lifespan="off", log_level="critical").start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for i in range(n):
                if i % 2:
                    await client.post("/echo", content=b"x" * 1024)
                else:
                    await client.get("/")
    finally:
        server.stop()
    return mw.events()


async def timed(target, items, concurrency: int) -> float:
    start = time.perf_counter()
    results = await replay_all(target, items, concurrency=concurrency)
    elapsed = time.perf_counter() - start
    assert all(flow.status == 200 for _, flow in results), "a replay failed"
    return len(results) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    events = asyncio.run(capture(args.flows))
    items = exchanges(events)
    print(f"captured {len(items)} flows ({len(events)} events)", file=sys.stderr)
    server = ServerThread(make_app(), lifespan="off", log_level="critical").start()
    in_process, network = [], []
    try:
        for _ in range(args.rounds):
            target = InProcessTarget(make_app())
            target.middleware.recorder.ring.capacity = 10 * args.flows
            in_process.append(asyncio.run(timed(target, items, args.concurrency)))
            network.append(asyncio.run(timed(NetworkTarget(server.url), items, args.concurrency)))
    finally:
        server.stop()
    a, b = statistics.median(in_process), statistics.median(network)
    print(f"## replay of {len(items):,} HTTP flows, concurrency {args.concurrency}, "
          f"median of {args.rounds} rounds")
    print(f"in-process  {a:8.0f} flows/s")
    print(f"network     {b:8.0f} flows/s")
    print(f"ratio       {a / b:8.1f}x")


if __name__ == "__main__":
    main()
