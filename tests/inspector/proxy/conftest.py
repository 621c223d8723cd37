"""Fixtures for the proxy's end-to-end tests: real uvicorn servers on 127.0.0.1.

Each server listens on a socket bound here to port 0 (no free-port race) and runs in a
thread of the test process; readiness is polled with a deadline, never slept for.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from inspector.proxy import SERVE_OPTIONS, ProxyApp
from tests import ROOT
from tests.conftest import wait_for
from tests.inspector.proxy.apps import RawHandler, RawUpstream, UpstreamState, upstream_app


def can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class ServerThread:
    """uvicorn serving `app` in a thread, on a socket this process already bound."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        config.setdefault("log_level", "error")
        config.setdefault("lifespan", "on")
        config.setdefault("timeout_graceful_shutdown", 2)
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), what="uvicorn start")
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return self

    def stop_soon(self) -> None:
        self.server.should_exit = True

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class Servers:
    """Starts servers for one test and stops them all after it."""

    def __init__(self) -> None:
        self.started: list[ServerThread | RawUpstream] = []

    def serve(self, app: Any, **config: Any) -> ServerThread:
        server = ServerThread(app, **config).start()
        self.started.append(server)
        return server

    def proxy(self, upstream: str, **options: Any) -> ServerThread:
        """The proxy app under uvicorn, served as `asgi-inspector proxy` serves it."""
        ws = options.pop("ws", SERVE_OPTIONS["ws"])
        return self.serve_proxy(ProxyApp(upstream, **options), ws=ws)

    def serve_proxy(self, app: Any, **config: Any) -> ServerThread:
        """`app` (a ProxyApp, maybe wrapped) served the way `proxy` serves one."""
        return self.serve(app, **{**SERVE_OPTIONS, **config})

    def raw(self, handler: RawHandler, ssl: Any = None) -> RawUpstream:
        server = RawUpstream(handler, ssl).start()
        self.started.append(server)
        return server

    def stop(self) -> None:
        for server in self.started:
            server.stop_soon()
        for server in reversed(self.started):
            server.stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    """Start uvicorn / raw servers on demand; all are stopped when the test ends."""
    started = Servers()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Servers, UpstreamState, ServerThread, ServerThread]]:
    """One recording upstream and a default proxy for a whole test module: starting and
    stopping uvicorn costs more than most tests."""
    started = Servers()
    recorded = UpstreamState()
    upstream = started.serve(upstream_app(recorded))
    proxy = started.proxy(upstream.url)
    yield started, recorded, upstream, proxy
    started.stop()


@pytest.fixture
def state(shared: tuple[Servers, UpstreamState, ServerThread, ServerThread]) -> UpstreamState:
    """What the shared upstream records, emptied for this test."""
    recorded = shared[1]
    recorded.reset()
    return recorded


@pytest.fixture
def upstream(shared: tuple[Servers, UpstreamState, ServerThread, ServerThread],
             state: UpstreamState) -> ServerThread:
    """The recording Starlette upstream under uvicorn."""
    return shared[2]


@pytest.fixture
def proxy(shared: tuple[Servers, UpstreamState, ServerThread, ServerThread],
          state: UpstreamState) -> ServerThread:
    """A proxy with default options in front of `upstream`."""
    return shared[3]


class Process:
    """A Python process serving on a port, stopped (killed if need be) at teardown."""

    def __init__(self, code: str, port: int) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.port = port
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
        wait_for(lambda: can_connect(port) or self.proc.poll() is not None, 20, "process start")
        if self.proc.poll() is not None:
            raise RuntimeError(f"server process exited with {self.proc.returncode}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def spawn() -> Iterator[Callable[[str, int], Process]]:
    """spawn(code, port): run `python -c code` that listens on `port`, wait until it does."""
    procs: list[Process] = []

    def start(code: str, port: int) -> Process:
        proc = Process(code, port)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.proc.poll() is None:
            proc.kill()
