"""Watching for a client that leaves while an HTTP app works, for apps that never ask.

An app that has read its whole request body rarely calls receive() again, and a handler
of a request without a body often never calls it at all, so when the client goes away
the server tells nobody: it holds `http.disconnect` until asked. With
`InspectorMiddleware(app, watch_disconnects=True)`, an app still running `WATCH_AFTER`
seconds (to 1.5 times that) into a request is watched: a task asks the server on its
behalf, as Starlette's StreamingResponse does for itself, once the app has the last body
chunk (or at once, for an HTTP/1 request that says it has no body: its one http.request
is taken and kept for the app). The capture, which sits outside this wrapper, records
each message when the server hands it over, so the flow shows the client leaving (at
most 1.5 x `WATCH_AFTER` late) and what the app sent after; the app gets that same
object when it next calls receive().

A request over sooner never starts a task: it costs a dict entry and the wrappers. The
watch never asks once the response is complete (a server's `http.disconnect` then means
"done", not "gone"), once the client's departure is known, or while the app is itself
waiting in receive(); an open question is withdrawn (the task cancelled, as servers
allow of any receive) before the server sees the response's end. The app's send() is
the server's own awaitable, with no await added.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from inspector.types import ASGIApp, Receive, Scope, Send

WATCH_AFTER = 0.1
"""Seconds into a request before the watch starts, if the app is still running."""


class DisconnectWatch:
    """The app, given receive()/send() that watch for the client leaving (HTTP only)."""

    __slots__ = ("app", "_sweeper")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._sweeper: _Sweeper | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        sweeper = self._sweeper
        if sweeper is None or sweeper.loop is not loop:
            sweeper = self._sweeper = _Sweeper(loop)
        watcher = _Watcher(scope, receive, send)
        sweeper.add(watcher)
        try:
            await self.app(scope, watcher.receive, watcher.send)
        finally:
            sweeper.discard(watcher)
            watcher.withdraw(done=True)


class _Sweeper:
    """One timer for the requests of one event loop: every WATCH_AFTER / 2 seconds while
    any runs, those started WATCH_AFTER ago or more are due. A timer per request would
    cost each about 3 µs; this costs each a dict entry."""

    __slots__ = ("loop", "watchers", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watchers: dict[_Watcher, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def add(self, watcher: _Watcher) -> None:
        self.watchers[watcher] = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(WATCH_AFTER / 2, self._sweep)

    def discard(self, watcher: _Watcher) -> None:
        self.watchers.pop(watcher, None)

    def _sweep(self) -> None:
        self._timer = None
        cutoff = self.loop.time() - WATCH_AFTER
        for watcher, started in list(self.watchers.items()):
            if started <= cutoff:
                del self.watchers[watcher]
                watcher.due()
        if self.watchers:
            self._timer = self.loop.call_later(WATCH_AFTER / 2, self._sweep)


def _bodiless(scope: Scope) -> bool:
    """An HTTP/1 request that says it has no body (no Content-Length but 0, no
    Transfer-Encoding, no Expect): its one http.request can be taken early, with no
    100 Continue invited and nothing held back from flow control."""
    try:
        if scope.get("http_version") not in ("1.1", "1.0"):
            return False
        for name, value in scope.get("headers") or ():
            if type(name) is not bytes:
                return False
            name = name.lower()
            if name in (b"transfer-encoding", b"expect") or (
                    name == b"content-length" and bytes(value).strip() != b"0"):
                return False
        return True
    except Exception:          # headers a server should not have sent: leave them alone
        return False


def _is_last(message: Any, kind: str) -> bool:
    return (type(message) is dict and message.get("type") == kind
            and not message.get("more_body", False))


def _is_disconnect(message: Any) -> bool:
    return type(message) is dict and message.get("type") == "http.disconnect"


class _Watcher:
    __slots__ = ("_scope", "_receive", "_send", "_ahead", "_may_ask", "_due", "_over",
                 "_waiting")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        # receive() calls made on the app's behalf, oldest first: answered ones wait for
        # the app to ask; at most the last is still open.
        self._ahead: deque[asyncio.Future[Any]] = deque()
        self._may_ask = False         # nothing of the request body is left for the app
        self._due = False             # WATCH_AFTER has passed
        self._over = False            # the response is complete, or the client left
        self._waiting = False         # the app is in a receive() of the server's

    def due(self) -> None:
        self._due = True
        if not self._may_ask and _bodiless(self._scope):    # looked at only when due
            self._may_ask = True
        self._ask_if_due()

    def _ask_if_due(self) -> None:
        if (self._due and self._may_ask and not self._over and not self._waiting
                and not self._ahead):
            self._ahead.append(asyncio.ensure_future(self._asked()))

    async def _asked(self) -> Any:
        message = await self._receive()
        if _is_disconnect(message):
            self._over = True
        elif _is_last(message, "http.request"):
            self._ahead.append(asyncio.ensure_future(self._asked()))
        return message

    async def receive(self) -> Any:
        ahead = self._ahead
        if ahead:
            first = ahead[0]
            # Shielded: an app that stops waiting (a cancelled listener) leaves the
            # question asked, and its next receive() gets the answer.
            message = await asyncio.shield(first)
            if ahead and ahead[0] is first:
                ahead.popleft()
            return message
        self._waiting = True
        try:
            message = await self._receive()
        finally:
            self._waiting = False
        if _is_disconnect(message):
            self._over = True
        elif _is_last(message, "http.request"):
            self._may_ask = True
            self._ask_if_due()
        return message

    def send(self, message: Any) -> Any:
        if _is_last(message, "http.response.body"):
            self._over = True
            if self._ahead:
                self.withdraw()
        return self._send(message)

    def withdraw(self, done: bool = False) -> None:
        """Cancel the question still open; answers stay for the app to ask for, unless
        the app is `done` (then an exception in one is not the app's to see, nor
        asyncio's to report)."""
        if not self._ahead:
            return
        kept: deque[asyncio.Future[Any]] = deque()
        for asked in self._ahead:
            if not asked.done():
                asked.cancel()
            elif not done:
                kept.append(asked)
            elif not asked.cancelled():
                asked.exception()
        self._ahead = kept
