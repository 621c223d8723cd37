"""A real app whose flows have findings, and its traffic, for the dashboard's findings tests.

Routes: `/ok` (clean), `/len` (a Content-Length the body does not match: SEM001, an
error), `/dup` (duplicate Content-Type and Transfer-Encoding: warnings), `/early` (the
app returns mid-response: HM007), `/orders` (FastAPI with a BackgroundTask that runs
300 ms after the response: TL001, background work), `/leave` (the client leaves a
stream and the app carries on for 1.1 s: TL003, wasted work).

`record(path)` serves it under uvicorn inside InspectorMiddleware(save=path) and drives it
with httpx. `python -m tests.tui.findings_app tests/tui/data/findings.jsonl` rewrites the
committed capture the snapshot test uses.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI

from inspector import InspectorMiddleware
from tests.conftest import ServerThread
from tests.inspector.findings import broken_apps

LEAVE_WORK = 1.1        # seconds the app runs on after the client left /leave


def _orders_app() -> FastAPI:
    app = FastAPI()

    def slow_job() -> None:
        time.sleep(0.3)

    @app.post("/orders")
    async def order(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(slow_job)
        return {"status": "queued"}

    return app


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _leave(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"first chunk\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass
    await asyncio.sleep(LEAVE_WORK)      # work nobody will see


def findings_app() -> Any:
    orders = _orders_app()
    routes = {"/ok": _ok, "/len": broken_apps.semantics, "/dup": broken_apps.semantics,
              "/early": broken_apps.returns_early, "/leave": _leave}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await routes.get(scope["path"], orders)(scope, receive, send)

    return app


async def traffic(url: str) -> None:
    """One request per route, in a fixed order, each on its own connection."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=fresh) as client:
        await client.get("/ok")
        for path in ("/len", "/early"):
            try:
                await client.get(path)
            except httpx.HTTPError:
                pass                     # the server cut a broken response short
        await client.get("/dup")
        await client.post("/orders")
        async with client.stream("GET", "/leave") as response:
            async for _ in response.aiter_bytes():
                break
    await asyncio.sleep(0.5)             # let the background task finish


def serve(middleware: Any) -> ServerThread:
    return ServerThread(middleware, lifespan="off", log_level="critical").start()


def record(path: Path) -> None:
    """Serve the app captured to `path`, run the traffic, wait for every app to return."""
    mw = InspectorMiddleware(findings_app(), save=path, tap=False, name="findings")
    server = serve(mw)
    try:
        asyncio.run(traffic(server.url))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _exits(mw) < 6:
            time.sleep(0.05)
    finally:
        server.stop()
        mw.close()


def _exits(mw: InspectorMiddleware) -> int:
    return sum(1 for e in mw.events() if e.kind == "exit")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
