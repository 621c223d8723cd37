"""Watching for a client that leaves while an HTTP app works, for apps that never ask.

An app that has read its whole request body rarely calls receive() again, so when the
client goes away the server tells nobody: it holds `http.disconnect` until asked. With
`InspectorMiddleware(app, watch_disconnects=True)`, once the app has the last body chunk
a task asks the server on the app's behalf, as Starlette's StreamingResponse does for
itself. The capture, which sits outside this wrapper, records the message when the
server hands it over (so the flow shows when the client left), and the app gets that
same object when it next calls receive().

When the app sends the end of its response first, the question is withdrawn (the task
cancelled, which servers allow of any receive) before the server sees that end: after
it, a server's `http.disconnect` means "done", not "gone", and nothing is recorded.
The app's send() is the server's own awaitable, with no await added.
"""

from __future__ import annotations

import asyncio
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
        try:
            await self.app(scope, watcher.receive, watcher.send)
        finally:
            watcher.withdraw(done=True)


def _is_last(message: Any, kind: str) -> bool:
    return (type(message) is dict and message.get("type") == kind
            and not message.get("more_body", False))


class _Watcher:
    __slots__ = ("_receive", "_send", "_pending")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._pending: asyncio.Future[Any] | None = None   # the server's next message

    async def receive(self) -> Any:
        pending = self._pending
        if pending is not None:
            # Shielded: an app that stops waiting (a cancelled listener) leaves the
            # question asked, and its next receive() gets the answer.
            message = await asyncio.shield(pending)
            self._pending = None
            return message
        message = await self._receive()
        if _is_last(message, "http.request"):
            self._pending = asyncio.ensure_future(self._receive())
        return message

    def send(self, message: Any) -> Any:
        if self._pending is not None and _is_last(message, "http.response.body"):
            self.withdraw()
        return self._send(message)

    def withdraw(self, done: bool = False) -> None:
        """Cancel a question still open; when the app is `done`, also collect an answer
        it never asked for (an exception in it is not the app's to see, nor asyncio's
        to report)."""
        pending = self._pending
        if pending is None:
            return
        if not pending.done():
            pending.cancel()
            self._pending = None
        elif done:
            if not pending.cancelled():
                pending.exception()
            self._pending = None
