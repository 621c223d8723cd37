"""The capture path: ASGI messages in, compact records into the ring buffer.

This runs for every message of every connection, on the app's event loop, so it does as
little as it can: one call into the ring (`RingBuffer.record`, in C where built), which reads
the clock and writes the record straight from the app's own message into the ring's
arena (no copy; bodies are copied once, into the record). Whatever the encoder leaves to
Python (a body over the limit, values that are not plain data) takes a slow path that
cuts or summarises it. Nothing here may raise into the app: failures are counted and
logged once.
"""

from __future__ import annotations

import logging
import marshal
import time
import traceback
from itertools import count
from typing import Any

from inspector._native import native
from inspector.events.model import (
    EXIT,
    MARSHAL_VERSION,
    RECEIVE,
    SCOPE,
    SEND,
    Event,
    decode_records,
    encode_record,
    plain_data,
)
from inspector.events.ring import Ring, RingBuffer

_hooks = native("_hooks")   # None: built without a C compiler, or forced off
_Capture = None if _hooks is None else _hooks.Capture

_dumps = marshal.dumps

log = logging.getLogger("asgi_inspector")

DEFAULT_BODY_LIMIT = 64 * 1024

# The three scope entries a server or framework commonly adds that are not request data
# (the encoder leaves them out), and the rest, added by frameworks, for the slow path.
_SKIP_IN_SCOPE = ("state", "app", "extensions")
_NOT_DATA = _SKIP_IN_SCOPE + ("router", "endpoint", "route", "path_params", "fastapi_astack",
                              "fastapi_inner_astack", "session", "user", "auth")

# Which key of a message type carries the payload the body limit applies to
# (WebSocket messages carry "bytes" or else "text").
_PAYLOAD_KEY = {
    "http.request": "body",
    "http.response.body": "body",
    "websocket.receive": "bytes",
    "websocket.send": "bytes",
    "websocket.http.response.body": "body",
}


class Recorder:
    """Turns ASGI occurrences into ring-buffer records. One per capture (middleware)."""

    def __init__(self, ring: Ring | None = None, *, body_limit: int = DEFAULT_BODY_LIMIT):
        self.started_wall = time.time()
        self.t0 = time.perf_counter()   # what the ring subtracts from the clock
        self._body_limit = body_limit
        self._conn_ids = count(1)
        self.errors = 0           # failures inside the inspector, never shown to the app
        self.ring = ring if ring is not None else RingBuffer()

    @property
    def ring(self) -> Ring:
        return self._ring

    @ring.setter
    def ring(self, ring: Ring) -> None:
        self._ring = ring
        self._append = ring.append     # bound once: these run for every message
        self.record_event = ring.record
        self._bind_hooks()

    @property
    def body_limit(self) -> int:
        return self._body_limit

    @body_limit.setter
    def body_limit(self, limit: int) -> None:
        self._body_limit = limit
        self._bind_hooks()

    def _bind_hooks(self) -> None:
        # In C where built (inspector/capture/_hooks.c), else None and the middleware does it in
        # Python: hooks(conn, receive, send) -> the receive/send the app is given;
        # call(app, scope, receive, send) -> the whole captured call, open to exit (what
        # the middleware uses; hooks are its per-message part, there for direct tests).
        capture = None if _Capture is None else _Capture(self, _SKIP_IN_SCOPE)
        self.hooks = self.python_hooks if capture is None else capture.hooks
        self.call = None if capture is None else capture.call

    def python_hooks(self, conn: int, receive: Any, send: Any) -> tuple[Any, Any]:
        """The receive/send the app is given, in Python: what the C hooks do, where they
        are not built. receive() awaits the server's and records the message it returns
        (a cancelled one records nothing); send(message) records the message and returns
        the server's own send(message) awaitable, adding no await of ours."""
        record = self.message

        async def inspected_receive() -> Any:
            message = await receive()
            record(conn, "receive", message)
            return message

        def inspected_send(message: Any) -> Any:
            record(conn, "send", message)
            return send(message)

        return inspected_receive, inspected_send

    def now(self) -> float:
        """Seconds since this capture started, on the monotonic clock."""
        return time.perf_counter() - self.t0

    def open(self, scope: dict[str, Any]) -> int:
        """Record a new connection's scope; return its connection id."""
        conn = next(self._conn_ids)
        try:
            if self.record_event(conn, SCOPE, self.t0, scope, -1, _SKIP_IN_SCOPE) is None:
                self.open_slow(conn, scope)
        except Exception as exc:  # pragma: no cover - defensive: never reach the app
            self.failed(exc)
        return conn

    def open_slow(self, conn: int, scope: dict[str, Any]) -> None:
        """Record a scope the encoder handed back: without what is not request data,
        and the rest summarised where it is not plain data."""
        try:
            data = {k: v for k, v in scope.items() if k not in _NOT_DATA}
            self._append(encode_record(conn, SCOPE, self.now(), plain_data(data)))
        except Exception as exc:
            self.failed(exc)

    def message(self, conn: int, kind: str, message: Any) -> None:
        """Record a message the app received (kind "receive") or sent (kind "send")."""
        try:
            if self.record_event(conn, kind, self.t0, message, self._body_limit, None) is None:
                self.message_slow(conn, kind, message)
        except Exception as exc:
            self.failed(exc)

    def message_slow(self, conn: int, kind: str, message: Any) -> None:
        """Record a message the ring's encoder handed back (over the body limit, or not
        plain data): what `message` does when `record_event` answers None."""
        try:
            self._append(self._slow(conn, kind, message))
        except Exception as exc:
            self.failed(exc)

    def exit(self, conn: int, exc: BaseException | None) -> None:
        """Record that the app's call for this connection returned or raised."""
        try:
            if exc is None:
                self.record_event(conn, EXIT, self.t0, None, -1, None)
                return
            info = {"type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                    "message": _safe_str(exc),
                    "traceback": "".join(traceback.format_exception(exc))[-8000:]}
            self.ring.append(encode_record(conn, EXIT, self.now(),
                                           {"type": "inspector.exit", "exception": info}))
        except Exception as failure:
            self.failed(failure)

    def _slow(self, conn: int, kind: str, message: Any) -> bytes:
        # What the encoder left to Python: a payload over the body limit, or values
        # that are not plain data.
        t = self.now()
        key = _PAYLOAD_KEY.get(message["type"])
        if key is not None:
            payload = message.get(key)
            if payload is None and key == "bytes":
                key = "text"
                payload = message.get(key)
            if payload is not None and len(payload) > self._body_limit:
                return self._cut(conn, kind, t, message, key, payload)
        try:
            return _dumps((conn, kind, t, message), MARSHAL_VERSION)
        except ValueError:
            return encode_record(conn, kind, t, plain_data(message))

    def events(self, since: int = 0) -> list[Event]:
        """The events still held from seq `since` on, decoded (for tests and tools)."""
        batch = self.ring.since(since)
        return decode_records(batch.first_seq, batch.records)

    def _cut(self, conn: int, kind: str, t: float, message: dict[str, Any], key: str,
             payload: bytes | str) -> bytes:
        original = len(payload)
        if isinstance(payload, str):
            original = len(payload.encode("utf-8", "surrogatepass"))
        cut = dict(message)
        cut[key] = payload[: self._body_limit]
        try:
            return encode_record(conn, kind, t, cut, original)
        except ValueError:
            return encode_record(conn, kind, t, plain_data(cut), original)

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1:
            log.warning("asgi-inspector: capture failed (%s: %s); the app is unaffected, "
                        "further failures are counted silently", type(exc).__name__, exc)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:2000]
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


__all__ = ["Recorder", "RECEIVE", "SEND", "DEFAULT_BODY_LIMIT"]
