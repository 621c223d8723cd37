"""Small real apps the tests serve under uvicorn: Starlette routes plus raw ASGI endpoints
whose message order is deterministic, so tests can assert exact event sequences."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello, world")


async def json_api(request: Request) -> Response:
    return JSONResponse({"items": [1, 2, 3], "q": request.query_params.get("q")},
                        headers={"x-request-id": "abc123"})


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type", "application/octet-stream"))


async def empty(request: Request) -> Response:
    return Response(status_code=204)


async def boom(request: Request) -> Response:
    raise RuntimeError("kaboom")


async def numbers(request: Request) -> Response:
    async def gen() -> Any:
        for i in range(3):
            yield f"chunk-{i}\n".encode()
    return StreamingResponse(gen(), media_type="text/plain")


class Gate:
    """Lets a test hold a streaming endpoint mid-response."""

    def __init__(self) -> None:
        self.release = asyncio.Event()


async def raw_stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole request body, then streams three chunks: fixed message order."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for i in range(3):
        await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def raw_endless(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Streams until the client goes away, then notices the disconnect and returns."""
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"first;", "more_body": True})
    message = await receive()       # blocks until the client disconnects
    assert message["type"] == "http.disconnect"


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol=None)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close-me":
            await websocket.close(code=4001, reason="asked to")
            return
        if message.get("text") is not None:
            await websocket.send_text("echo:" + message["text"])
        else:
            await websocket.send_bytes(b"echo:" + message["bytes"])


class Raw:
    """Lets Starlette route to a plain ASGI function (a function endpoint means request/response)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def starlette_app(lifespan_log: list[str] | None = None) -> Starlette:
    """The app most tests wrap; lifespan_log collects startup/shutdown if given."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if lifespan_log is not None:
            lifespan_log.append("startup")
        yield
        if lifespan_log is not None:
            lifespan_log.append("shutdown")

    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/api/items", json_api),
            Route("/echo", echo, methods=["POST"]),
            Route("/empty", empty),
            Route("/boom", boom),
            Route("/numbers", numbers),
            Route("/raw/stream", Raw(raw_stream), methods=["GET", "POST"]),
            Route("/raw/endless", Raw(raw_endless)),
            WebSocketRoute("/ws", ws_echo),
        ],
        lifespan=lifespan,
    )


# For `asgi-inspector run tests.apps:app` in subprocess tests.
app = starlette_app()


async def json_api_v2(request: Request) -> Response:
    return JSONResponse({"items": [1, 2, 4], "q": request.query_params.get("q")},
                        headers={"x-request-id": "abc123"})


def changed_app() -> Starlette:
    """The same app after a change: /api/items answers differently."""
    changed = starlette_app()
    for route in changed.routes:
        if getattr(route, "path", "") == "/api/items":
            route.endpoint = json_api_v2  # type: ignore[attr-defined]
            route.app = Route("/api/items", json_api_v2).app  # type: ignore[attr-defined]
    return changed


app_v2 = changed_app()
