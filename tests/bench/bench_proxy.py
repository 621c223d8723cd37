"""Benchmark: the reverse proxy (capture on) vs direct vs mitmproxy's reverse mode.

    python -m tests.bench.bench_proxy [--rounds 5] [--duration 5] [--mitmdump PATH]

One upstream (uvicorn + Starlette hello, httptools + uvloop when installed). Each round
runs wrk (-t1 -c32, keep-alive) against: the upstream directly, `asgi-inspector proxy`
(headless, lines to /dev/null), the bare `ProxyApp` under uvicorn without capture (what the
proxy costs on its own) and `mitmdump --mode reverse:URL -q`, alternating; then
WebSocket echo (4 connections, one 64-byte text message in flight each) against each,
driven twice: by picows on uvloop (Cython; like wrk for HTTP, a client that costs 6-8 µs
a message, so that the proxies are measured rather than the client) and by the pure-Python
`websockets` client (33 µs a message: on 2 cores it is most of what is measured).
Medians of the rounds, ratios against direct. Last, the proxy's resident memory after
100,000 requests against its ring buffer's byte cap.

picows: `pip install -e ".[bench]"`.

mitmproxy pins its own h11/wsproto: install it in its own venv
(`python -m venv /tmp/mitm-venv && /tmp/mitm-venv/bin/pip install mitmproxy`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests import ROOT
from tests.bench.wrk import wrk
from tests.conftest import free_port


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    import socket
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


def _start(cmd: list[str], port: int, what: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, proc, what)
    return proc


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _picows_echo_rate(port: int, seconds: float, connections: int = 4) -> float:
    """Echoed messages per second, each connection keeping one message in flight."""
    from picows import WSListener, WSMsgType, ws_connect

    message = b"x" * 64
    stop = time.monotonic() + seconds
    count = 0

    class Echo(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.done = asyncio.get_running_loop().create_future()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            nonlocal count
            if frame.msg_type != WSMsgType.TEXT:
                return
            count += 1
            if time.monotonic() < stop:
                transport.send(WSMsgType.TEXT, message)
            elif not self.done.done():
                self.done.set_result(None)

    clients = [await ws_connect(Echo, f"ws://127.0.0.1:{port}/ws")
               for _ in range(connections)]
    start = time.monotonic()
    stop = start + seconds
    for transport, _ in clients:
        transport.send(WSMsgType.TEXT, message)
    await asyncio.gather(*(listener.done for _, listener in clients))
    elapsed = time.monotonic() - start
    for transport, _ in clients:
        transport.disconnect()
    return count / elapsed


def run(client: str, coro: Any) -> float:
    """The picows client on uvloop (a load generator as cheap as it can be, as wrk is);
    the websockets client as its users run it, on asyncio's own loop."""
    if client == "picows":
        import uvloop
        return uvloop.run(coro)  # type: ignore[no-any-return]
    return asyncio.run(coro)


async def _ws_echo_rate(port: int, seconds: float, connections: int = 4) -> float:
    import websockets
    count = 0
    stop = time.monotonic() + seconds

    async def one() -> None:
        nonlocal count
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
            while time.monotonic() < stop:
                await ws.send("x" * 64)
                await ws.recv()
                count += 1
    await asyncio.gather(*(one() for _ in range(connections)))
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5,
                        help="seconds per run (wrk takes whole seconds only)")
    parser.add_argument("--mitmdump", default="/tmp/mitm-venv/bin/mitmdump")
    args = parser.parse_args()

    up_port, proxy_port, mitm_port = free_port(), free_port(), free_port()
    upstream = _start([sys.executable, "-m", "uvicorn", "tests.bench.bench_apps:bare",
                       "--port", str(up_port), "--no-access-log", "--log-level", "warning"],
                      up_port, "upstream")
    procs: list[subprocess.Popen[bytes]] = [upstream]
    targets = {"direct": up_port}
    try:
        proxy = _start([sys.executable, "-m", "inspector.cli.main", "proxy",
                        f"http://127.0.0.1:{up_port}", "--listen", f"127.0.0.1:{proxy_port}",
                        "--headless", "--no-tap"], proxy_port, "asgi-inspector proxy")
        procs.append(proxy)
        targets["asgi-inspector"] = proxy_port
        bare_port = free_port()
        bare = ("import uvicorn; from inspector.proxy import SERVE_OPTIONS, ProxyApp; "
                f"uvicorn.run(ProxyApp('http://127.0.0.1:{up_port}'), port={bare_port}, "
                "log_level='warning', access_log=False, **SERVE_OPTIONS)")
        procs.append(_start([sys.executable, "-c", bare], bare_port, "bare ProxyApp"))
        targets["no capture"] = bare_port
        if os.path.exists(args.mitmdump):
            procs.append(_start([args.mitmdump, "--mode", f"reverse:http://127.0.0.1:{up_port}",
                                 "-p", str(mitm_port), "-q"], mitm_port, "mitmdump"))
            targets["mitmproxy"] = mitm_port
        else:
            print(f"(no mitmdump at {args.mitmdump}: comparing with direct only)")

        try:
            import picows  # noqa: F401
            clients = {"picows": _picows_echo_rate, "websockets": _ws_echo_rate}
        except ImportError:
            print("(no picows: WebSocket echo with the websockets client only; "
                  "pip install -e '.[bench]')")
            clients = {"websockets": _ws_echo_rate}
        http: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
        ws = {(client, name): [] for client in clients for name in targets}
        for port in targets.values():
            wrk(port, "/", 1, None, pin=False)
        for _ in range(args.rounds):
            for name, port in targets.items():
                http[name].append(wrk(port, "/", args.duration, None, pin=False))
            for client, rate in clients.items():
                for name, port in targets.items():
                    ws[client, name].append(run(client, rate(port, args.duration)))

        direct_rps = statistics.median(r for r, _ in http["direct"])
        print(f"## HTTP keep-alive, wrk -t1 -c32, {args.duration:g} s x {args.rounds} rounds; medians")
        print(f"{'target':16} {'req/s':>8} {'x direct':>9} {'p99 ms':>8}")
        for name, samples in http.items():
            rps = statistics.median(r for r, _ in samples)
            p99 = statistics.median(p for _, p in samples)
            print(f"{name:16} {rps:>8.0f} {rps / direct_rps:>9.3f} {p99:>8.2f}")
        for client in clients:
            print(f"\n## WebSocket echo, {client} client, 4 connections, 64-byte text; medians")
            print(f"{'target':16} {'msg/s':>8} {'x direct':>9} {'x mitmproxy':>12}")
            rates = {name: statistics.median(ws[client, name]) for name in targets}
            for name, rate in rates.items():
                vs_mitm = f"{rate / rates['mitmproxy']:>12.2f}" if "mitmproxy" in rates else ""
                print(f"{name:16} {rate:>8.0f} {rate / rates['direct']:>9.3f} {vs_mitm}")

        before = _rss_mib(proxy.pid)
        done = 0
        while done < 100_000:
            rps, _ = wrk(proxy_port, "/", 5, None, pin=False)
            done += int(rps * 5)
        print(f"\n## Proxy memory: RSS {before:.0f} MiB before, {_rss_mib(proxy.pid):.0f} MiB "
              f"after {done:,} more requests (ring cap 64 MiB)")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
