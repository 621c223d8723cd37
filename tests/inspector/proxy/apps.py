"""Upstreams for the proxy tests: a Starlette app that records what it saw, and a raw TCP
server that misbehaves on purpose (what a real server will not do on demand)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

CHUNK = 64 * 1024


@dataclass
class UpstreamState:
    """What the upstream saw; the test thread reads it, the server thread writes it."""

    client_ports: list[int] = field(default_factory=list)
    upload_chunks: list[int] = field(default_factory=list)
    first_chunk: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    stream_ended: threading.Event = field(default_factory=threading.Event)
    ws_closes: list[tuple[int, str | None]] = field(default_factory=list)

    def reset(self) -> None:
        """Forget everything, for the next test against the same server."""
        for name, value in vars(UpstreamState()).items():
            setattr(self, name, value)


async def wait_thread_event(event: threading.Event, timeout: float = 10.0) -> None:
    """Wait in the server's loop for an event the test thread sets (polled, with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not event.is_set():
        if loop.time() > deadline:
            raise TimeoutError("test never released the upstream")
        await asyncio.sleep(0.002)


def upstream_app(state: UpstreamState) -> Starlette:
    """Endpoints for each behaviour a proxy must forward faithfully."""

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello, world", headers={"x-custom": "yes"})

    async def chunked(request: Request) -> Response:
        async def parts() -> Any:
            for i in range(3):
                yield f"part{i};".encode()
        return StreamingResponse(parts(), media_type="text/plain")

    async def empty(request: Request) -> Response:
        return Response(status_code=204, headers={"x-empty": "1"})

    async def cached(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304, headers={"etag": '"v1"'})
        return PlainTextResponse("fresh", headers={"etag": '"v1"'})

    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream",
                        headers={"x-method": request.method})

    async def headers(request: Request) -> Response:
        return JSONResponse({"headers": [[k.decode("latin-1"), v.decode("latin-1")]
                                         for k, v in request.scope["headers"]],
                             "path": request.scope["raw_path"].decode(),
                             "query": request.scope["query_string"].decode()})

    async def client(request: Request) -> Response:
        port = request.scope["client"][1]
        state.client_ports.append(port)
        close = {"connection": "close"} if request.query_params.get("close") else {}
        return PlainTextResponse(str(port), headers=close)

    async def sse(request: Request) -> Response:
        async def events() -> Any:
            yield b"data: first\n\n"
            await wait_thread_event(state.release)
            yield b"data: second\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    async def forever(request: Request) -> Response:
        async def ticks() -> Any:
            try:
                for i in range(10_000):
                    yield f"tick {i}\n".encode()
                    await asyncio.sleep(0.01)
            finally:
                state.stream_ended.set()
        return StreamingResponse(ticks(), media_type="text/plain")

    async def upload(request: Request) -> Response:
        total = 0
        async for chunk in request.stream():
            if chunk:
                total += len(chunk)
                state.upload_chunks.append(len(chunk))
                state.first_chunk.set()
        return JSONResponse({"bytes": total})

    async def download(request: Request) -> Response:
        size = int(request.query_params["size"])

        async def blocks() -> Any:
            block = b"x" * CHUNK
            left = size
            while left > 0:
                yield block[:left]
                left -= CHUNK
        return StreamingResponse(blocks(), media_type="application/octet-stream",
                                 headers={"content-length": str(size)})

    async def slow(request: Request) -> Response:
        await wait_thread_event(state.release)
        return PlainTextResponse("late")

    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    state.ws_closes.append((message.get("code", 1005), message.get("reason")))
                    return
                if message.get("text") is not None:
                    await websocket.send_text("echo:" + message["text"])
                else:
                    await websocket.send_bytes(b"echo:" + message["bytes"])
        except WebSocketDisconnect:  # pragma: no cover
            return

    async def ws_subprotocol(websocket: WebSocket) -> None:
        offered = websocket.scope["subprotocols"]
        await websocket.accept(subprotocol=offered[-1] if offered else None)
        await websocket.send_text(",".join(offered))
        await websocket.close()

    async def ws_refuse(websocket: WebSocket) -> None:
        await websocket.send_denial_response(
            PlainTextResponse("go away", status_code=403, headers={"x-why": "test"}))

    async def ws_close(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        await websocket.close(code=4001, reason="bye from upstream")

    async def ws_headers(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps(
            [[k.decode("latin-1"), v.decode("latin-1")] for k, v in websocket.scope["headers"]]))
        await websocket.close()

    return Starlette(routes=[
        Route("/hello", hello), Route("/chunked", chunked), Route("/empty", empty),
        Route("/cached", cached), Route("/echo", echo, methods=["POST", "PUT"]),
        Route("/headers", headers), Route("/client", client), Route("/sse", sse),
        Route("/forever", forever), Route("/upload", upload, methods=["POST"]),
        Route("/download", download), Route("/slow", slow),
        WebSocketRoute("/ws/echo", ws_echo), WebSocketRoute("/ws/subprotocol", ws_subprotocol),
        WebSocketRoute("/ws/refuse", ws_refuse), WebSocketRoute("/ws/close", ws_close),
        WebSocketRoute("/ws/headers", ws_headers),
    ])


# What the raw server does with one connection: read the request, then write and close.
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


class RawUpstream:
    """A TCP server in its own thread whose handler scripts each connection by hand."""

    def __init__(self, handler: RawHandler, ssl: Any = None) -> None:
        self.handler = handler
        self.ssl = ssl                 # a server SSLContext: the handler speaks over TLS
        self.connections = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self.handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            self.tasks.discard(task)

    async def _shutdown(self) -> None:
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks))
        self.loop.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RawUpstream:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("raw upstream did not start")
        return self

    def stop_soon(self) -> None:
        pass

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        self.thread.join(10)


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """Read one request head (the raw handlers only get body-less requests)."""
    return await reader.readuntil(b"\r\n\r\n")


if __name__ == "__main__":  # an upstream in its own process, for the tests that kill it
    import uvicorn
    uvicorn.run(upstream_app(UpstreamState()), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning")


class Recorder:
    """A stand-in for the inspector's middleware: records messages and the app's exception."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent: list[dict[str, Any]] = []
        self.exceptions: list[BaseException] = []
        self.calls_done = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return

        async def record_send(message: dict[str, Any]) -> None:
            self.sent.append(message)
            await send(message)
        try:
            await self.app(scope, receive, record_send)
        except BaseException as exc:
            self.exceptions.append(exc)
            raise
        finally:
            self.calls_done += 1
