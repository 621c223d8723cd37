"""Shared fixtures: real uvicorn servers on 127.0.0.1, started and stopped per test."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from inspector._native import PURE_PYTHON_ENV, c_path

# The C extensions are optional (no compiler, or ASGI_INSPECTOR_PURE_PYTHON=1): a test of
# the C build itself skips on the Python path; every test of behaviour runs on both.
C_BUILT = c_path()
needs_c = pytest.mark.skipif(
    not C_BUILT, reason=f"needs the C extensions (not built, or {PURE_PYTHON_ENV}=1)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """A uvicorn server running an ASGI app in a thread of this process."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.port = free_port()
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "auto")
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(app) starts uvicorn on a free port and returns the ServerThread."""
    started: list[ServerThread] = []

    def start(app: Any, **config: Any) -> ServerThread:
        server = ServerThread(app, **config).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_for(predicate: Any, timeout: float = 5.0, what: str = "condition",
             interval: float = 0.005) -> Any:
    """Poll until predicate() is truthy (returned), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s: {predicate}")
        time.sleep(interval)
