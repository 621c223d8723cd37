"""The app's cost with a dashboard attached: `python -m tests.bench.bench_attached`.

Findings are computed by the dashboard, from what the tap sends it, so the app should
pay for the tap's reader and for nothing the findings do. Three uvicorn servers of the
bench app wrapped with capture (tap on), each with a runtime directory of its own:

- capture alone: nobody attached;
- dashboard: the dashboard (headless) attached to its tap, analysing every flow that
  ends, as it does on screen;
- dashboard, no findings: the same dashboard with its analysis switched off.

The dashboards run on wrk's core (as the world outside the server does), at idle
priority so that wrk, whose pace sets the server's, always goes first: a dashboard that
falls behind misses events and says so, as on screen. Options:
--rounds N (default 10) --duration S (default 2). Needs wrk and taskset.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import ROOT
from tests.bench.wrk import paired, pinned, serve


def idle_priority() -> list[str]:
    """`chrt --idle 0` where there is one (Linux): run only when the core is otherwise
    idle; else `nice -n 19`."""
    return ["chrt", "--idle", "0"] if shutil.which("chrt") else ["nice", "-n", "19"]


def dashboard(directory: str, stop_file: str, findings: bool) -> None:
    """The dashboard, headless, attached to the taps in `directory` until `stop_file`
    appears; then one line: flows shown, flows analysed for findings, events missed."""
    import tui.model
    from inspector.tap.feeds import TapFeed
    from tui.app import InspectorApp

    real, analysed = tui.model.analyse, [0]

    def analyse(flow, events):  # type: ignore[no-untyped-def]
        if findings:
            analysed[0] += 1
            return real(flow, events)
        return None

    tui.model.analyse = analyse
    app = InspectorApp(TapFeed(directory=Path(directory)), clock="relative")

    def check() -> None:
        if os.path.exists(stop_file):
            app.exit(f"{app.model.store.total} flows shown, {analysed[0]} analysed for "
                     f"findings, {app.model.buffer().missed} events missed")

    app.call_later(lambda: app.set_interval(0.5, check))
    print(app.run(headless=True), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--dashboard", nargs=3, metavar=("DIR", "STOP", "FINDINGS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dashboard:
        directory, stop, findings = args.dashboard
        dashboard(directory, stop, findings == "1")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-attached-"))
    servers, readers = {}, []
    for name, findings in (("capture alone", None), ("dashboard", "1"),
                           ("dashboard, no findings", "0")):
        directory = work / f"run-{len(servers)}"
        directory.mkdir(mode=0o700)
        servers[name] = serve("wrapped", {"ASGI_INSPECTOR_RUNTIME_DIR": str(directory)})
        if findings is not None:
            readers.append((name, subprocess.Popen(
                [*pinned(1), *idle_priority(), sys.executable, "-m",
                 "tests.bench.bench_attached", "--dashboard",
                 str(directory), str(work / "stop"), findings], cwd=ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)))
    try:
        time.sleep(3)                    # the dashboards find their taps
        paired(servers, args.rounds, args.duration)
    finally:
        (work / "stop").touch()
        for name, reader in readers:
            try:
                out, _ = reader.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                reader.kill()
                out = "did not stop"
            print(f"{name}: {out.strip().splitlines()[-1] if out.strip() else 'no report'}")
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
