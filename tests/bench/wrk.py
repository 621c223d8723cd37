"""Serving bench apps under uvicorn and driving them with wrk: the pieces every wrk
benchmark shares.

Servers run on core 0 and wrk (with anything else outside the server: Redis, a
dashboard) on core 1, so a ratio measures the server, not the scheduler. `paired` runs
servers in short rounds back to back, order alternating, and takes each ratio within a
round: this machine's speed drifts over seconds as the host serves other guests. It also
reads each server's CPU time per request, which a CPU-bound server's throughput is the
inverse of and which does not move with the time the host gives others.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from tests import ROOT
from tests.conftest import free_port

Server = tuple[subprocess.Popen[bytes], int]


def pinned(cpu: int) -> list[str]:
    """`taskset -c N` where there are two cores or more: the server on one, wrk on the other.

    Unpinned, two identical bare servers differed by up to 5% in one run (the scheduler
    moving them and wrk between the cores); pinned, by under 1%.
    """
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def serve(app: str, env: Mapping[str, str] | None = None) -> Server:
    """uvicorn serving `tests.bench.bench_apps:<app>` on core 0; (process, port)."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k != "ASGI_INSPECTOR_PURE_PYTHON"}
    proc = subprocess.Popen(
        [*pinned(0), sys.executable, "-m", "uvicorn", f"tests.bench.bench_apps:{app}",
         "--port", str(port), "--no-access-log", "--log-level", "warning"], cwd=ROOT,
        env={**base, **(env or {})})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"uvicorn {app} did not start")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, path: str, duration: float, script: str | None,
        pin: bool = True) -> tuple[float, float]:
    """wrk -t1 -c32 for `duration` whole seconds: (requests/s, p99 ms)."""
    cmd = [*(pinned(1) if pin else []), "wrk", "-t1", "-c32", f"-d{duration:g}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True,
                         text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    if re.search(r"Non-2xx|Socket errors", out):
        raise RuntimeError("wrk saw errors:\n" + out)
    return rps, float(value) * _UNITS[unit]


def cpu_ns(pid: int) -> dict[str, int]:
    """Nanoseconds on a CPU so far: the main thread's and the other threads' (Linux
    schedstat; {} elsewhere)."""
    out: dict[str, int] = {}
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/schedstat") as stat:
                name = "main thread" if task.name == str(pid) else "other threads"
                out[name] = out.get(name, 0) + int(stat.read().split()[0])
    except OSError:
        pass
    return out


def paired(servers: Mapping[str, Server], rounds: int, duration: float, path: str = "/",
           between: Callable[[], None] | None = None) -> None:
    """wrk against each server in turn, `rounds` times, order alternating; print req/s,
    p99 and CPU per request, each a median of per-round ratios to the first server.
    `between`, if given, runs after every round (to check on a reader, say)."""
    per: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for _, port in servers.values():
        wrk(port, path, 2, None)                                    # warm up
    order = list(servers.items())
    for _ in range(rounds):
        for name, (proc, port) in order:
            before = cpu_ns(proc.pid)
            rps, p99 = wrk(port, path, duration, None)
            after = cpu_ns(proc.pid)
            per[name].append((rps, p99))
            cpu[name].append({thread: (ns - before.get(thread, 0)) / 1e3 / (rps * duration)
                              for thread, ns in after.items()})
        order.reverse()
        if between is not None:
            between()
    first = next(iter(servers))
    print(f"## wrk -t1 -c32 GET {path}, {duration:g} s x {rounds} rounds, order alternating; "
          f"medians of the per-round ratios to {first}")
    for name, samples in per.items():
        rps = statistics.median(r for r, _ in samples)
        p99 = statistics.median(p for _, p in samples)
        rps_ratio = statistics.median(r / b for (r, _), (b, _) in zip(samples, per[first]))
        p99_ratio = statistics.median(p / b for (_, p), (_, b) in zip(samples, per[first]))
        print(f"{name:24} {rps:>8.0f} req/s ({rps_ratio:.3f}x)  p99 {p99:.2f} ms "
              f"({p99_ratio:.2f}x)   rounds: {[round(r) for r, _ in samples]}")
    print("## server CPU per request (medians; its threads)")
    base = [sum(r.values()) for r in cpu[first]]
    for name, rounds_cpu in cpu.items():
        total = [sum(r.values()) for r in rounds_cpu]
        threads = {t: statistics.median(r.get(t, 0.0) for r in rounds_cpu)
                   for t in rounds_cpu[0] if any(r.get(t, 0.0) > 0.01 for r in rounds_cpu)}
        ratio = statistics.median(b / t for t, b in zip(total, base))
        busy = statistics.median(t * r / 1e6 for t, (r, _) in zip(total, per[name]))
        print(f"{name:24} {statistics.median(total):6.2f} µs ({ratio:.3f}x the throughput of "
              f"{first}; core {busy:.0%} busy)  "
              + ", ".join(f"{t} {v:.2f} µs" for t, v in threads.items()))
