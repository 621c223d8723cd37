"""Tap throughput: events/s a reader gets through the socket, events of ~150 bytes."""
from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.tap.server import Events, Missed, TapClient, TapServer


def rec(i):
    return encode_record(i % 50, "send", i / 1e4, {"type": "http.response.body", "body": b"x" * 60, "more_body": False})

def publisher(ring, directory):
    ready = threading.Event()
    box = {}

    async def main():
        box["loop"] = asyncio.get_running_loop()
        box["stop"] = asyncio.Event()
        server = TapServer(ring, directory=directory)
        await server.start()
        box["server"] = server
        ready.set()
        await server.serve(box["stop"])
    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    ready.wait()

    def stop():
        box["loop"].call_soon_threadsafe(box["stop"].set)
        t.join()
    return box["server"], stop

async def backlog(n, d):
    ring = RingBuffer(n, 1 << 30)
    for i in range(n):
        ring.append(rec(i))
    server, stop = publisher(ring, d)
    t0 = time.perf_counter()
    got = 0
    async with TapClient(server.path) as c:
        async for item in c:
            if isinstance(item, Events):
                got += len(item.events)
                if got >= n:
                    break
    dt = time.perf_counter() - t0
    stop()
    return got / dt

async def backlog_raw(n, d):
    """Bytes only: socket + framing, no record decoding."""
    ring = RingBuffer(n, 1 << 30)
    for i in range(n):
        ring.append(rec(i))
    server, stop = publisher(ring, d)
    from inspector.tap.protocol import encode_start
    r, w = await asyncio.open_unix_connection(str(server.path), limit=1 << 20)
    w.write(encode_start())
    t0 = time.perf_counter()
    total = 0
    expect = sum(len(x) + 4 for x in ring.since(0).records) + 12 * ((n + 4095) // 4096)
    while total < expect:
        data = await r.read(1 << 20)
        total += len(data)
    dt = time.perf_counter() - t0
    w.close()
    stop()
    return n / dt, total / dt / 1e6

async def live(seconds, d):
    ring = RingBuffer(200_000)
    server, stop = publisher(ring, d)
    done = threading.Event()
    appended = [0]

    def writer():
        i = 0
        while not done.is_set():
            for _ in range(1000):
                ring.append(rec(i))
                i += 1
            time.sleep(0)  # let other threads in, as an app loop would between requests
        appended[0] = i
    got = missed = 0
    async with TapClient(server.path, "live") as c:
        th = threading.Thread(target=writer)
        th.start()
        t0 = time.perf_counter()
        async for item in c:
            if isinstance(item, Events):
                got += len(item.events)
            elif isinstance(item, Missed):
                missed += item.count
            if time.perf_counter() - t0 > seconds:
                break
        done.set()
        th.join()
    dt = time.perf_counter() - t0
    stop()
    return appended[0] / dt, got / dt, missed

async def main():
    d = Path(tempfile.mkdtemp(prefix="tb-", dir="/tmp"))
    print(f"record size: {len(rec(1))} bytes, python {sys.version.split()[0]}")
    for _ in range(3):
        print(f"backlog 200k, decoded Events:  {await backlog(200_000, d):>10,.0f} events/s")
    for _ in range(3):
        eps, mbs = await backlog_raw(200_000, d)
        print(f"backlog 200k, bytes only:      {eps:>10,.0f} events/s ({mbs:.0f} MB/s)")
    a, g, m = await live(2.0, d)
    print(f"live, writer flat out: appends {a:,.0f}/s, reader got {g:,.0f}/s, missed {m:,}")

asyncio.run(main())
