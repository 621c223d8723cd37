"""Watching for a client that leaves while an HTTP app works, for apps that never ask.

An app that has read its whole request body rarely calls receive() again, and a handler
of a request without a body often never calls it at all, so when the client goes away
the server tells nobody: it holds `http.disconnect` until asked. With
`InspectorMiddleware(app, watch_disconnects=True)` a task asks the server on the app's
behalf, as Starlette's StreamingResponse does for itself: once the app has the last body
chunk, or at once for an HTTP/1 request that says it has no body (its one http.request is
taken and kept for the app). The capture, which sits outside this wrapper, records each
message when the server hands it over (so the flow shows when the client left), and the
app gets that same object when it next calls receive().

When the app sends the end of its response first, the question is withdrawn (the task
cancelled, which servers allow of any receive) before the server sees that end: after
it, a server's `http.disconnect` means "done", not "gone", and nothing is recorded.
The app's send() is the server's own awaitable, with no await added.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from inspector.types import ASGIApp, Receive, Scope, Send


class DisconnectWatch:
    """The app, given receive()/send() that watch for the client leaving (HTTP only)."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watcher = _Watcher(receive, send)
        if _bodiless(scope):
            watcher.ask()
        try:
            await self.app(scope, watcher.receive, watcher.send)
        finally:
            watcher.withdraw(done=True)


def _bodiless(scope: Scope) -> bool:
    """An HTTP/1 request that says it has no body (no Content-Length but 0, no
    Transfer-Encoding, no Expect): its one http.request can be taken at once, with no
    100 Continue invited and nothing held back from flow control."""
    try:
        if scope.get("http_version") not in ("1.1", "1.0"):
            return False
        for name, value in scope.get("headers") or ():
            name = bytes(name).lower()
            if name in (b"transfer-encoding", b"expect") or (
                    name == b"content-length" and bytes(value).strip() != b"0"):
                return False
        return True
    except Exception:          # headers a server should not have sent: leave them alone
        return False


def _is_last(message: Any, kind: str) -> bool:
    return (type(message) is dict and message.get("type") == kind
            and not message.get("more_body", False))


class _Watcher:
    __slots__ = ("_receive", "_send", "_ahead")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        # receive() calls made on the app's behalf, oldest first: answered ones wait for
        # the app to ask; at most the last is still open.
        self._ahead: deque[asyncio.Future[Any]] = deque()

    def ask(self) -> None:
        """Ask the server for its next message on the app's behalf."""
        self._ahead.append(asyncio.ensure_future(self._asked()))

    async def _asked(self) -> Any:
        message = await self._receive()
        if _is_last(message, "http.request"):
            self.ask()
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
        message = await self._receive()
        if _is_last(message, "http.request"):
            self.ask()
        return message

    def send(self, message: Any) -> Any:
        if self._ahead and _is_last(message, "http.response.body"):
            self.withdraw()
        return self._send(message)

    def withdraw(self, done: bool = False) -> None:
        """Cancel the question still open; answers stay for the app to ask for, unless
        the app is `done` (then an exception in one is not the app's to see, nor
        asyncio's to report)."""
        kept: deque[asyncio.Future[Any]] = deque()
        for asked in self._ahead:
            if not asked.done():
                asked.cancel()
            elif not done:
                kept.append(asked)
            elif not asked.cancelled():
                asked.exception()
        self._ahead = kept
