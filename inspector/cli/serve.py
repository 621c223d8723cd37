"""Serve an ASGI app (the user's, or the proxy) under uvicorn with capture on.

`run` and `proxy` are the same machinery: wrap the app in InspectorMiddleware, bind the
listening socket ourselves (so a busy port is one clear error, not a uvicorn traceback),
serve, and feed the captured events to the consumers: headless lines on stdout now, the
dashboard later. uvicorn owns SIGINT/SIGTERM: it stops accepting, lets in-flight requests
finish, closes WebSockets (1012) and runs lifespan shutdown; then the capture file gets
its last events and every flow that never finished is printed as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from inspector.capture.middleware import InspectorMiddleware
from inspector.cli.headless import FlowLines
from inspector.events.model import decode_records
from inspector.findings.live import LiveFindings
from inspector.flows.fold import FlowFolder


def _run(coro: Any, config: Any) -> Any:
    """asyncio.run on the loop uvicorn would pick (uvloop when installed, loop="auto")."""
    factory = config.get_loop_factory() if hasattr(config, "get_loop_factory") else None
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    loop = factory() if factory is not None else asyncio.new_event_loop()  # pragma: no cover
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class StartupError(Exception):
    """Something the user asked for cannot start; the message is the one line to show."""


@dataclass
class CaptureOptions:
    """What `run` and `proxy` share: capture bounds and where events go."""

    save: str | None = None
    capacity: int = 200_000
    max_bytes: int = 64 * 1024 * 1024
    body_limit: int = 64 * 1024
    tap: bool = True
    publish: str | None = None      # a Redis URL (else $ASGI_INSPECTOR_PUBLISH)


def parse_listen(value: str, default_port: int) -> tuple[str, int]:
    """"HOST:PORT", ":PORT", "PORT" or "HOST" -> (host, port); IPv6 as [::1]:8080."""
    host, port_text = "127.0.0.1", str(default_port)
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise StartupError(f"listen address {value!r}: missing ']'")
        host, rest = value[1:end], value[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise StartupError(f"listen address {value!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
        host = host or "127.0.0.1"
    elif value.isdigit():
        port_text = value
    elif value:
        host = value
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise StartupError(f"listen address {value!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a StartupError that says why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP, and accepted sockets inherit the listener's proto. With Nagle on, a
    # response written as head then body waits for the client's delayed ACK: 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"cannot listen on {host}:{port}: the port is already in use") from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"cannot listen on {host}:{port}: permission denied") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def bind_unix(path: str) -> socket.socket:
    """A listening Unix domain socket at `path` (mode 0666, as uvicorn's --uds makes it).

    A socket file left by a server that is gone is replaced; one something still listens
    on is a StartupError, as a busy port is.
    """
    from inspector.tap.runtime_dir import listening

    if os.path.exists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise StartupError(f"cannot listen on {path}: the file exists and is not a socket")
        if listening(Path(path)):
            raise StartupError(f"cannot listen on {path}: a server is listening there")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {path}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def remove_socket_file(path: str | None) -> None:
    """Remove a Unix socket file we bound (uvicorn removes its --uds file at exit too)."""
    if path:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)


def quiet_collector() -> None:
    """For a server process that is ours alone (the proxy, the demo), once it is up.

    Moves everything alive at that point (modules, uvicorn, the app) out of the garbage
    collector's sight, and lets a young generation grow larger, so that per-request
    objects die by refcount before a collection walks them: the proxy's p99 is half of
    what it is without (docs/performance.md). Not for `run`: that process is the user's
    app, and the inspector does not change how it collects.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class HeadlessPrinter:
    """Follows the ring buffer from inside the server's loop; prints a line per flow."""

    # Small slices, often: the printer shares the server's loop, and a long slice is a
    # latency spike for every request waiting behind it.
    def __init__(self, middleware: InspectorMiddleware, out: TextIO, interval: float = 0.01,
                 slice_events: int = 1000):
        self.middleware = middleware
        self.out = out
        self.interval = interval
        self.slice_events = slice_events
        # Lines need sizes and counts, not bodies or each WebSocket message: a summary
        # fold keeps a long session's memory flat and costs less per event.
        self.folder = FlowFolder(body_cap=0, details=False)
        self.lines = FlowLines(middleware.recorder.started_wall)
        self._seq = 0
        self.missed = 0
        # Each flow's findings count, computed once when its line is due.
        self.findings = LiveFindings()

    def poll(self, limit: int | None = None) -> None:
        ring = self.middleware.ring
        batch = ring.since(self._seq, limit)
        self._seq = batch.next_seq
        if batch.missed:
            self.missed += batch.missed
            self._write([f"(missed {batch.missed} events: the ring buffer wrapped)"])
        if batch.records:
            events = decode_records(batch.first_seq, batch.records)
            touched = self.folder.extend(events)
            self.findings.feed(events, touched)
            self._write(self.lines.lines(touched))
            for source, conn in self.lines.finished:     # printed: keep memory bounded
                self.folder.forget(source, conn)
            self.lines.finished.clear()

    def finish(self) -> None:
        self.poll()              # everything left, in one go: the server has stopped
        self._write(self.lines.still_open(self.folder.flows.values()))

    def _write(self, lines: list[str]) -> None:
        if lines:
            try:
                self.out.write("\n".join(lines) + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):
                pass              # `| head` closed the pipe: keep serving, stop printing

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.poll(self.slice_events)


class CaptureServer:
    """uvicorn serving `app` wrapped in capture, in the foreground or in a thread.

    Foreground (headless): uvicorn owns SIGINT/SIGTERM. Background (dashboard): the
    dashboard owns the terminal and the main thread, and calls `stop()` when it quits.
    `companions` are coroutine functions run beside the server once it is up (the demo's
    traffic generator); they are cancelled when it stops. `own_process`: nothing but ours
    runs here (proxy, demo), so the collector may be tuned (`quiet_collector`).
    """

    def __init__(self, app: Any, host: str, port: int, options: CaptureOptions, *,
                 name: str = "", companions: Sequence[Callable[[], Coroutine[Any, Any, Any]]] = (),
                 log_level: str = "warning", own_process: bool = False,
                 uds: str | None = None, **uvicorn_options: Any):
        import uvicorn

        self.uds = uds
        self.sock = bind_unix(uds) if uds else bind(host, port)
        self.host, self.port = host, (0 if uds else self.sock.getsockname()[1])
        self.middleware = InspectorMiddleware(
            app, capacity=options.capacity, max_bytes=options.max_bytes,
            body_limit=options.body_limit, save=options.save, tap=options.tap, name=name,
            publish=options.publish)
        # log_level "critical" keeps uvicorn's tracebacks off a terminal the dashboard owns
        # (the flows carry the exceptions anyway).
        # No uvicorn access log: a line per flow (headless) or the dashboard says more, and
        # with it on uvicorn formats each request's log line even when the level hides it
        # (2.5% of the proxy's time, quoting paths).
        uvicorn_options.setdefault("access_log", False)
        uvicorn_options.setdefault("ws", "websockets-sansio")
        uvicorn_options.setdefault("lifespan", "auto")
        config = uvicorn.Config(self.middleware, log_level=log_level,
                                timeout_graceful_shutdown=3, **uvicorn_options)
        self.server = uvicorn.Server(config)
        self.companions = companions
        self.own_process = own_process
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.uds:
            return f"unix:{self.uds}"
        scheme = "https" if self.server.config.is_ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def _serve(self, printer: HeadlessPrinter | None) -> None:
        tasks = [asyncio.create_task(printer.run())] if printer is not None else []

        async def once_started() -> None:
            while not self.server.started:
                if self.server.should_exit:
                    return
                await asyncio.sleep(0.02)
            if self.own_process:
                quiet_collector()
            tasks.extend(asyncio.create_task(run()) for run in self.companions)
        tasks.append(asyncio.create_task(once_started()))
        try:
            await self.server.serve(sockets=[self.sock])
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def run_foreground(self, headless_out: TextIO | None = None) -> None:
        """Serve until SIGINT/SIGTERM, printing a line per flow to `headless_out`."""
        printer = HeadlessPrinter(self.middleware, headless_out) if headless_out else None
        # uvicorn handles SIGINT/SIGTERM while serving and re-raises them once stopped; make
        # that re-raise a KeyboardInterrupt we catch, so the capture is finished, exit 0.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            _run(self._serve(printer), self.server.config)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.sock.close()
            remove_socket_file(self.uds)
            if printer is not None:
                printer.finish()
            self.middleware.close()
        if not self.server.started:
            raise StartupError("the server did not start (see the error above)")

    def start_background(self, timeout: float = 10.0) -> None:
        """Serve in a daemon thread; return once it accepts connections."""
        self._thread = threading.Thread(target=lambda: _run(self._serve(None), self.server.config),
                                        name="asgi-inspector-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StartupError("the server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop a background server: finish in-flight requests, flush the capture."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()
        remove_socket_file(self.uds)
        self.middleware.close()
