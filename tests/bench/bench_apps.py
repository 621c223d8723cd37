"""Apps the benchmarks serve under uvicorn: the same Starlette app bare and wrapped.

`naive` wraps it in the recorder everyone writes first (a deque of the message dicts),
to show what the garbage collector does with what the buffer holds.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inspector import InspectorMiddleware


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, world!")


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


def make_app() -> Starlette:
    return Starlette(routes=[Route("/", hello), Route("/echo", echo, methods=["POST"]),
                             WebSocketRoute("/ws", ws_echo)])


class NaiveRecorder:
    """Appends every scope and message to a deque, as a first attempt would."""

    def __init__(self, app: Any, maxlen: int = 200_000) -> None:
        self.app = app
        self.events: deque[Any] = deque(maxlen=maxlen)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        events = self.events
        events.append(("scope", dict(scope)))

        async def rcv() -> Any:
            message = await receive()
            events.append(("receive", message))
            return message

        async def snd(message: Any) -> None:
            events.append(("send", message))
            await send(message)

        await self.app(scope, rcv, snd)


bare = make_app()
wrapped = InspectorMiddleware(make_app())
naive = NaiveRecorder(make_app())
wrapped_no_tap = InspectorMiddleware(make_app(), tap=False)
