"""The demo app: a small plain-ASGI shop API with every kind of traffic worth seeing.

JSON API, a form POST, a file upload, a slow endpoint, one that raises, a server-sent
events stream and a WebSocket chat. Plain ASGI (no framework) so the dashboard's event
lane shows exactly what an app does, and so the demo needs nothing but this package.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from inspector.types import Receive, Send

ITEMS: list[dict[str, Any]] = [
    {"id": 1, "name": "Teapot", "price": 18.0, "stock": 4},
    {"id": 2, "name": "Espresso cups (2)", "price": 12.5, "stock": 0},
    {"id": 3, "name": "Pour-over kettle", "price": 42.0, "stock": 7},
    {"id": 4, "name": "Tea towel [bold]", "price": 6.0, "stock": 12},
]


async def read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json",
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())] + (headers or [])})
    await send({"type": "http.response.body", "body": body})


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


async def items(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    found = [i for i in ITEMS if query.get("q", [""])[0].lower() in i["name"].lower()]
    await respond(send, 200, as_json({"items": found, "count": len(found)}),
                  headers=[(b"x-request-id", f"req-{random.randrange(10**6):06d}".encode()),
                           (b"cache-control", b"max-age=30")])


async def item(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    wanted = scope["path"].rsplit("/", 1)[-1]
    match = [i for i in ITEMS if str(i["id"]) == wanted]
    if match:
        await respond(send, 200, as_json(match[0]))
    else:
        await respond(send, 404, as_json({"detail": f"no item {wanted}"}))


async def order(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    body = await read_body(receive)
    try:
        data = json.loads(body)
        item_id = int(data["item"])
    except (ValueError, KeyError, TypeError):
        await respond(send, 422, as_json({"detail": "expected {\"item\": <id>, \"qty\": <n>}"}))
        return
    if not any(i["id"] == item_id and i["stock"] > 0 for i in ITEMS):
        await respond(send, 409, as_json({"detail": "out of stock"}))
        return
    await respond(send, 201, as_json({"order": random.randrange(1000, 9999), "item": item_id,
                                      "qty": data.get("qty", 1)}),
                  headers=[(b"location", b"/api/orders/1")])


async def login(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    form = parse_qs((await read_body(receive)).decode("latin-1"))
    ok = form.get("password", [""])[0] == "hunter2"
    cookie = [(b"set-cookie", b"session=s3cr3t-token; HttpOnly; Path=/")] if ok else []
    await respond(send, 303 if ok else 401, b"" if ok else b"bad credentials",
                  b"text/plain", headers=cookie + ([(b"location", b"/")] if ok else []))


async def upload(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    size = 0
    more = True
    while more:                               # streamed: never holds the whole file
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await respond(send, 200, as_json({"received": size}))


async def slow(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    await asyncio.sleep(0.4 + random.random() * 0.6)
    await respond(send, 200, as_json({"report": "done", "rows": random.randrange(100)}))


async def crash(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    raise ZeroDivisionError("division by zero while computing the discount")


async def events(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"),
                            (b"cache-control", b"no-cache")]})
    for n in range(5):
        payload = as_json({"tick": n, "price": round(18 + random.random(), 2)})
        await send({"type": "http.response.body", "body": b"event: price\ndata: " + payload +
                    b"\n\n", "more_body": True})
        await asyncio.sleep(0.2)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def chat(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    message = await receive()                 # websocket.connect
    if message["type"] != "websocket.connect":
        return
    wanted = scope.get("subprotocols") or []
    await send({"type": "websocket.accept", "subprotocol": "chat" if "chat" in wanted else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text == "/quit":
            await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": json.dumps({"echo": text})})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


ROUTES: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
    ("GET", "/api/items"): items,
    ("POST", "/api/orders"): order,
    ("POST", "/login"): login,
    ("POST", "/upload"): upload,
    ("GET", "/reports/slow"): slow,
    ("GET", "/api/discount"): crash,
    ("GET", "/events"): events,
}


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The demo ASGI app."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        if scope["path"] == "/ws/chat":
            await chat(scope, receive, send)
        else:
            await receive()
            await send({"type": "websocket.close", "code": 1008})
        return
    path, method = scope["path"], scope["method"]
    handler = ROUTES.get((method, path))
    if handler is None and method == "GET" and path.startswith("/api/items/"):
        handler = item
    if handler is None:
        await respond(send, 404, as_json({"detail": "not found"}))
        return
    await handler(scope, receive, send)
