"""InspectorMiddleware: pure-ASGI capture of every scope, receive() and send().

Transparency is the contract: the app gets the same message objects in the same order,
and the server gets the same messages the app sent, with no extra awaits between them.
What the inspector does with a message (record it) happens synchronously, cannot raise,
and keeps no reference to the message (records are bytes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from inspector._native import native
from inspector.capture.disconnects import DisconnectWatch
from inspector.capture.publisher import Publisher
from inspector.capture.recorder import DEFAULT_BODY_LIMIT, Recorder
from inspector.events.model import Event
from inspector.events.ring import DEFAULT_CAPACITY, DEFAULT_MAX_BYTES, Ring, RingBuffer
from inspector.types import ASGIApp, Receive, Scope, Send

_CAPTURED = frozenset(("http", "websocket", "lifespan"))
WATCH_DISCONNECTS_ENV = "ASGI_INSPECTOR_WATCH_DISCONNECTS"

class _PyBase:
    """The middleware's __call__ in Python: where `_hooks` is not built."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._dispatch(scope, receive, send)  # type: ignore[attr-defined]


_hooks = native("_hooks")
if TYPE_CHECKING:  # the type checker sees the C base (`_hooks.pyi`)
    from inspector.capture._hooks import Middleware as _Base
elif _hooks is not None:  # its __call__ in C: a captured call goes straight to recorder.call
    _Base = _hooks.Middleware
else:  # built without a C compiler, or ASGI_INSPECTOR_PURE_PYTHON=1
    _Base = _PyBase

# This process's pid, kept current across fork without a system call per connection.
_pid = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


class InspectorMiddleware(_Base):
    """Wrap an ASGI app: `app = InspectorMiddleware(app)`.

    capacity / max_bytes bound the ring buffer (events, bytes); body_limit cuts larger
    payloads in the record (the app still sees them whole); exclude_paths are passed
    through uncaptured; save streams events to a JSON Lines capture file; tap publishes
    them on a private local socket for `asgi-inspector tui`; publish sends them to a Redis
    stream (`redis://host:6379/0?stream=NAME`; default: $ASGI_INSPECTOR_PUBLISH) from the
    publisher thread, for a dashboard on another machine (docs/multi-host.md);
    watch_disconnects asks the server, once an HTTP request has run 0.1 s and the app has
    its whole body, whether the client is still there, so that a client who left is
    recorded even when the app never asks (`inspector.capture.disconnects`; default:
    $ASGI_INSPECTOR_WATCH_DISCONNECTS set to 1; it costs 3-4 µs a request).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_bytes: int = DEFAULT_MAX_BYTES,
        body_limit: int = DEFAULT_BODY_LIMIT,
        exclude_paths: Iterable[str] = (),
        save: str | os.PathLike[str] | None = None,
        tap: bool = True,
        name: str | None = None,
        publish: str | None = None,
        watch_disconnects: bool | None = None,
    ) -> None:
        if watch_disconnects is None:
            watch_disconnects = os.environ.get(WATCH_DISCONNECTS_ENV, "") == "1"
        # The watch goes inside the capture: what the capture records is what the server
        # handed over, when it did.
        self.app = DisconnectWatch(app) if watch_disconnects else app
        self.recorder = Recorder(RingBuffer(capacity, max_bytes), body_limit=body_limit)
        self.exclude_paths = frozenset(exclude_paths)
        self.publisher = Publisher(self.recorder, save=save, tap=tap,
                                   name=name or _describe(app),
                                   publish=_publish_target(publish))
        self._pid_cell = _pid
        self._publisher_pid: int | None = None
        # Servers tell ASGI 3 from ASGI 2 by `iscoroutinefunction(app.__call__)`, and the
        # C __call__ is not one. An instance attribute answers that lookup; a call
        # `app(...)` still takes the type's __call__.
        self.__call__ = self._dispatch  # type: ignore[method-assign]

    @property
    def given_app(self) -> ASGIApp:
        """The app as given: `app` itself, or inside the disconnect watch."""
        app = self.app
        return app.app if type(app) is DisconnectWatch else app

    @property
    def ring(self) -> Ring:
        return self.recorder.ring

    # __call__ (the base's): a captured http or websocket call, once the publisher runs in
    # this process, is recorder.call(app, scope, receive, send) itself; the rest comes here.
    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")   # excluded: a str in exclude_paths; any other value is not
        if scope["type"] not in _CAPTURED or (isinstance(path, str)
                                              and path in self.exclude_paths):
            await self.given_app(scope, receive, send)
            return
        if self._publisher_pid != self._pid_cell[0]:
            self._start_publisher()
        call = self.recorder.call     # in C where built: scope, hooks, exit in one object
        try:
            if call is not None:
                await call(self.app, scope, receive, send)
            else:
                await self._call_in_python(scope, receive, send)
        finally:
            if scope["type"] == "lifespan":
                # Shutdown: some servers (granian) end workers without running atexit.
                self._flush()

    async def _call_in_python(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What `Recorder.call` does, where the C extension is not built."""
        recorder = self.recorder
        conn = recorder.open(scope)
        inspected_receive, inspected_send = recorder.python_hooks(conn, receive, send)
        try:
            await self.app(scope, inspected_receive, inspected_send)
        except BaseException as exc:
            recorder.exit(conn, exc)
            raise
        recorder.exit(conn, None)

    def events(self, since: int = 0) -> list[Event]:
        """Captured events still in the ring buffer, from seq `since` on."""
        return self.recorder.events(since)

    def _start_publisher(self) -> None:
        # Lazily, and again after a fork (gunicorn --preload): threads do not survive fork.
        self._publisher_pid = self._pid_cell[0]
        try:
            self.publisher.start()
        except Exception as exc:
            self.recorder.failed(exc)

    def _flush(self) -> None:
        try:
            self.publisher.flush()
        except Exception as exc:
            self.recorder.failed(exc)

    def close(self) -> None:
        """Flush the capture file and stop publishing (also done at interpreter exit)."""
        self.publisher.close()


def _publish_target(url: str | None) -> Any:
    """The Redis stream to publish to (`publish=`, else $ASGI_INSPECTOR_PUBLISH), or None.
    A bad URL or a missing `redis` package raises here, at wrapping time, in one line."""
    url = url or os.environ.get("ASGI_INSPECTOR_PUBLISH") or None
    if url is None:
        return None
    from inspector.tap.redis.url import parse_redis_url, require_redis

    target = parse_redis_url(url)
    require_redis()
    return target


def _describe(app: Any) -> str:
    target = getattr(app, "__class__", type(app))
    return f"{getattr(app, '__module__', None) or target.__module__}.{target.__qualname__}"
