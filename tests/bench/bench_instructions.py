"""Benchmark: what InspectorMiddleware costs a live server, in instructions per request.

    python -m tests.bench.bench_instructions [--requests 1000,3000]

Wall-clock ratios on a 2-core machine move by a few percent from run to run; instruction
counts do not. Each app (bare, wrapped) is served by uvicorn under valgrind's callgrind
twice, once for each request count, and a keep-alive client sends that many GET hello or
1 KiB POST echo requests; the difference between the two totals, divided by the
difference in requests, is what one request costs, startup left out. Kernel time
(syscalls) is not counted: both apps make the same syscalls per request.

Needs valgrind on PATH (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tests import ROOT
from tests.conftest import free_port

BODY = b"a" * 1024
REQUESTS = {
    "GET hello": b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n",
    "POST 1 KiB echo": (b"POST /echo HTTP/1.1\r\nHost: bench\r\n"
                        b"Content-Type: application/octet-stream\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY,
}


def _client(port: int, request: bytes, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            sock.sendall(request)
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                    if len(rest) >= length:
                        break


def _instructions(app: str, request: bytes, count: int, workdir: str) -> int:
    port = free_port()
    out = os.path.join(workdir, f"cg.{app}.{count}.{len(request)}")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
         sys.executable, "-m", "uvicorn", f"tests.bench.bench_apps:{app}", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"uvicorn {app} did not start under valgrind") from None
                time.sleep(0.2)
        _client(port, request, count)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    total = 0
    for path in glob.glob(out + ".*"):
        with open(path) as f:
            match = re.search(r"^summary: (\d+)", f.read(), re.M)
        total += int(match.group(1)) if match else 0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", default="1000,3000",
                        help="two request counts; their difference is what is measured")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    low, high = (int(n) for n in args.requests.split(","))
    print(f"## Instructions per request under uvicorn (callgrind; {high} - {low} requests)")
    print(f"{'workload':18} {'bare':>10} {'wrapped':>10} {'added':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as workdir:
        for workload, request in REQUESTS.items():
            per = {}
            for app in ("bare", "wrapped"):
                counts = [_instructions(app, request, n, workdir) for n in (low, high)]
                per[app] = (counts[1] - counts[0]) / (high - low)
            print(f"{workload:18} {per['bare']:>10,.0f} {per['wrapped']:>10,.0f} "
                  f"{per['wrapped'] - per['bare']:>+9,.0f} {per['wrapped'] / per['bare']:>6.3f}")


if __name__ == "__main__":
    main()
