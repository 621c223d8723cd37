"""A real app and real traffic for the dashboard tests: every kind of flow the dashboard
draws (JSON, form, text, binary, image, streaming, SSE, WebSocket, 404, an exception, a
client that leaves) plus hostile content (escape sequences, Rich markup, invalid UTF-8).

`record(path)` serves the app under uvicorn inside InspectorMiddleware(save=path) and
drives it with httpx and websockets, so the capture is what the middleware really wrote.
`python -m tests.tui.shop tests/tui/data/shop.jsonl` rewrites the committed capture the
snapshot tests use (a file, so snapshots do not move with timings).
"""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from inspector import InspectorMiddleware
from tests.apps import Raw, boom, echo, hello, raw_endless, ws_echo
from tests.conftest import ServerThread

ESCAPES = "\x1b]2;pwned\x07\x1b[31mred\x1b[0m"
MARKUP = "[bold red]loud[/] [link=https://evil.example]click[/link] [/]"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEklEQVR4nGP4z8DwHwyBNAMDAFXgA/1k3RxTAAAAAElFTkSuQmCC")


async def items(request: Request) -> Response:
    return JSONResponse({"items": [{"id": 1, "name": "mug", "price": 7.5},
                                   {"id": 2, "name": "tee", "price": 19}],
                         "page": request.query_params.get("page", "1")},
                        headers={"x-request-id": "req-42"})


async def login(request: Request) -> Response:
    form = dict(parse_qsl((await request.body()).decode()))
    return JSONResponse({"user": form.get("user"), "ok": True})


async def logo(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def blob(request: Request) -> Response:
    return Response(bytes(range(256)) * 2, media_type="application/octet-stream")


async def slow(request: Request) -> Response:
    async def gen() -> Any:
        for i in range(4):
            await asyncio.sleep(0.01)
            yield f"line {i}\n".encode()
    return StreamingResponse(gen(), media_type="text/plain")


async def events(request: Request) -> Response:
    async def gen() -> Any:
        for i in range(3):
            await asyncio.sleep(0.005)
            yield f"event: tick\ndata: {{\"n\": {i}}}\n\n".encode()
    return StreamingResponse(gen(), media_type="text/event-stream")


async def hostile(request: Request) -> Response:
    body = (ESCAPES + "\n" + MARKUP + "\n").encode() + b"\xff\xfe invalid utf-8 \xc3\n"
    return Response(body, media_type="text/plain",
                    headers={"x-markup": "[bold]not bold[/bold] [/]"})


async def ws_hostile(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(ESCAPES + " " + MARKUP)
    await websocket.send_bytes(b"\x1b[2J\xff\x00binary")
    await websocket.close()


def shop_app() -> Starlette:
    return Starlette(routes=[
        Route("/hello", hello),
        Route("/api/items", items),
        Route("/login", login, methods=["POST"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/logo.png", logo),
        Route("/blob", blob),
        Route("/slow", slow),
        Route("/events", events),
        Route("/boom", boom),
        Route("/hostile/{rest:path}", hostile),
        Route("/raw/endless", Raw(raw_endless)),
        WebSocketRoute("/ws", ws_echo),
        WebSocketRoute("/ws-hostile", ws_hostile),
    ])


async def traffic(url: str) -> None:
    """One of everything, in a fixed order."""
    ws_url = url.replace("http", "ws")
    # No keep-alive: uvicorn closes the connection after the app's exception (FACTS.md).
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=fresh) as client:
        await client.get("/hello")
        await client.get("/api/items", params={"page": "2"})
        await client.post("/login", data={"user": "ada", "password": "s3cret"})
        await client.post("/echo", json={"order": [1, 2, 3], "note": "thanks"})
        await client.get("/logo.png")
        await client.get("/blob")
        await client.get("/slow")
        await client.get("/events")
        await client.get("/missing")
        await client.get("/boom")
        await client.get("/hostile/%1b%5d2%3btitle%07/[bold red]x[/]")
    async with websockets.connect(ws_url + "/ws") as ws:
        for text in ("hello", "world"):
            await ws.send(text)
            await ws.recv()
        await ws.send(b"\x00\x01bin")
        await ws.recv()
    async with websockets.connect(ws_url + "/ws-hostile") as ws:
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    # A client that gives up on an endless stream.
    async with httpx.AsyncClient(base_url=url) as client, \
            client.stream("GET", "/raw/endless") as response:
        async for _ in response.aiter_bytes():
            break


def record(path: Path, **middleware: Any) -> InspectorMiddleware:
    """Serve the shop captured to `path`, run the traffic, stop: the file is complete."""
    mw = InspectorMiddleware(shop_app(), save=path, tap=False, name="shop", **middleware)
    server = ServerThread(mw, lifespan="off", ws="websockets-sansio",
                          log_level="critical").start()
    try:
        asyncio.run(traffic(server.url))
    finally:
        server.stop()
        mw.close()
    return mw


if __name__ == "__main__":
    record(Path(sys.argv[1]))
