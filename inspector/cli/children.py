"""`run --reload` and `run --workers N`: the app in child processes, shown by this one.

uvicorn's reloader and worker supervisor need the app as an import string and run it in
processes of their own, so this process only binds the socket, starts the supervisor
(`python -m inspector.cli.supervise`) on it, and follows what the children capture: each one
publishes a tap (`inspector.cli.child_app`) in a directory private to this run, and a
`TapFeed` on that directory finds every child as it starts. A code reload is the old
process gone and a new one arriving; flows already shown stay shown. The headless lines
are tagged with the child's pid; the dashboard shows each child as a source.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from inspector.cli.child_app import ENV as APP_ENV
from inspector.cli.headless import FlowLines
from inspector.cli.supervise import ENV as SUPERVISE_ENV
from inspector.flows.fold import FlowFolder
from inspector.tap.feeds import Batch, FeedItem, SourceInfo, SourceStatus, TapFeed
from inspector.tap.runtime_dir import RUNTIME_DIR_ENV
from inspector.text import visible


@dataclass
class Supervision:
    """What the supervisor runs: uvicorn's own option names and meanings."""

    reload: bool = False
    reload_dirs: list[str] = field(default_factory=list)
    reload_includes: list[str] = field(default_factory=list)
    reload_excludes: list[str] = field(default_factory=list)
    workers: int = 1
    log_level: str = "warning"
    uvicorn: dict[str, Any] = field(default_factory=dict)   # passed to uvicorn.Config


class TapLines:
    """Feed items from many child processes -> (lines for stdout, notes for stderr)."""

    def __init__(self) -> None:
        self.folder = FlowFolder(body_cap=0, details=False)
        self.lines: dict[str, FlowLines] = {}
        self.live: set[str] = set()
        self.missed: dict[str, int] = {}

    def take(self, item: FeedItem) -> tuple[list[str], list[str]]:
        if isinstance(item, SourceInfo):
            self.lines[item.source] = FlowLines(item.started)
            self.live.add(item.source)
            return [], [f"asgi-inspector: {visible(item.source)} serving"]
        if isinstance(item, Batch):
            lines = self.lines.setdefault(item.source, FlowLines(0.0))
            printed = lines.lines(self.folder.extend(item.events, item.source))
            for source, conn in lines.finished:     # printed: keep memory bounded
                self.folder.forget(source, conn)
            lines.finished.clear()
            return printed, []
        if isinstance(item, SourceStatus):
            out: list[str] = []
            notes: list[str] = []
            missed = item.missed - self.missed.get(item.source, 0)
            if missed > 0:
                self.missed[item.source] = item.missed
                out.append(f"(missed {missed} events of {visible(item.source)}: its ring "
                           "buffer wrapped)")
            if item.gone and item.source in self.live:
                self.live.discard(item.source)
                out += self.still_open([item.source])
                notes.append(f"asgi-inspector: {visible(item.source)} gone")
            elif item.error and not item.gone:
                notes.append(f"asgi-inspector: {visible(item.error)}")
            return out, notes
        return [], []

    def still_open(self, sources: Iterable[str]) -> list[str]:
        """Lines for the flows of `sources` that will never finish; then forgotten."""
        out: list[str] = []
        for source in sources:
            flows = [f for (s, _), f in list(self.folder.flows.items()) if s == source]
            lines = self.lines.get(source)
            if lines is not None:
                out += lines.still_open(flows)
            for flow in flows:
                self.folder.forget(source, flow.conn)
        return out


# Seconds the supervisor has to stop (uvicorn's 3 s grace per worker, and lifespan
# shutdowns) before its whole process group is killed.
STOP_GRACE = 20.0


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the supervisor and its children (its own session, so its own group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _write(stream: TextIO, lines: list[str]) -> None:
    if lines:
        try:
            stream.write("\n".join(lines) + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass


class Children:
    """The supervisor process and the private tap directory of one `run`."""

    def __init__(self, sock: socket.socket, app_spec: str, supervision: Supervision) -> None:
        self.sock = sock
        self.tap_dir = tempfile.mkdtemp(prefix="asgi-inspector-run-")   # mode 0700
        wanted = {"fd": sock.fileno(), "parent": os.getpid(),
                  **{k: v for k, v in supervision.__dict__.items()}}
        self.env = {**os.environ, APP_ENV: app_spec, SUPERVISE_ENV: json.dumps(wanted),
                    RUNTIME_DIR_ENV: self.tap_dir}
        self.argv = [sys.executable, "-m", "inspector.cli.supervise"]

    def feed(self) -> TapFeed:
        feed = TapFeed(directory=Path(self.tap_dir), rediscover=0.2)
        feed.description = "run's worker processes"
        return feed

    def popen(self, **options: Any) -> subprocess.Popen[bytes]:
        """Start the supervisor in a session of its own: signals reach it from us only."""
        return subprocess.Popen(self.argv, env=self.env, pass_fds=[self.sock.fileno()],
                                start_new_session=True, **options)

    def cleanup(self) -> None:
        self.sock.close()
        shutil.rmtree(self.tap_dir, ignore_errors=True)

    # -- headless ----------------------------------------------------------------------------

    def run_headless(self, out: TextIO, err: TextIO) -> int:
        """Serve until SIGINT/SIGTERM (passed on to the supervisor); the supervisor's exit
        status, or 0 when it stopped because we were told to stop."""
        try:
            return asyncio.run(self._headless(out, err))
        finally:
            self.cleanup()

    async def _headless(self, out: TextIO, err: TextIO) -> int:
        loop = asyncio.get_running_loop()
        printer = TapLines()
        proc = self.popen()
        stopping = False

        def stop(signum: int) -> None:
            nonlocal stopping
            stopping = True
            if proc.poll() is None:
                proc.send_signal(signum)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop, signum)

        async def follow() -> None:
            async for item in self.feed().stream():
                lines, notes = printer.take(item)
                _write(out, lines)
                _write(err, notes)
        following = asyncio.create_task(follow())
        waited = 0.0
        try:
            while proc.poll() is None:
                await asyncio.sleep(0.1)
                waited = waited + 0.1 if stopping else 0.0
                if waited > STOP_GRACE:       # told to stop, and still not stopped
                    _kill_group(proc)
            # The children are gone: let their last events arrive, then end.
            for _ in range(50):
                if not printer.live:
                    break
                await asyncio.sleep(0.1)
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
            if proc.poll() is None:
                _kill_group(proc)
                proc.wait()
        _write(out, printer.still_open(list(printer.lines)))
        return 0 if stopping else proc.returncode

    # -- dashboard ---------------------------------------------------------------------------

    def run_dashboard(self, show: Any, log_path: str) -> int:
        """`show(feed)` runs the dashboard in this thread; the supervisor's logs go to
        `log_path` (the dashboard owns the terminal). Stops the supervisor when it quits."""
        with open(log_path, "ab") as log:
            proc = self.popen(stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            show(self.feed())
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    proc.wait()
            self.cleanup()
        return 0 if proc.returncode in (0, -signal.SIGTERM) else proc.returncode


def last_line(path: str) -> str:
    """The last non-empty line of a log file, or ""."""
    with contextlib.suppress(OSError):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1] if lines else ""
    return ""


def run_in_children(app_spec: str, host: str, port: int, run_options: Any, banner: str,
                    show: Callable[[TapFeed, str, str | None], None] | None, *,
                    replay_url: Callable[[str, str, int], str | None]) -> None:
    """Bind, start the supervisor and follow its children: headless lines on stdout, or
    the dashboard (`show(feed, url, replay_to)`). StartupError for what cannot start."""
    from inspector.cli.serve import StartupError, bind, bind_unix, remove_socket_file

    sock = bind_unix(run_options.uds) if run_options.uds else bind(host, port)
    bound_port = 0 if run_options.uds else sock.getsockname()[1]
    url = run_options.url(host, bound_port)
    children = Children(sock, app_spec,
                        run_options.supervision("warning" if show is None else "critical"))
    try:
        if show is None:
            print(banner.format(url=url), file=sys.stderr, flush=True)
            status = children.run_headless(sys.stdout, sys.stderr)
            if status:
                raise StartupError(f"the server stopped (exit status {status})")
            return
        log_path = children.tap_dir + ".log"
        try:
            status = children.run_dashboard(
                lambda feed: show(feed, url, replay_url(url, host, bound_port)), log_path)
            if status:
                raise StartupError(f"the server stopped (exit status {status}): "
                                   f"{visible(last_line(log_path))}")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(log_path)
    finally:
        remove_socket_file(run_options.uds)
