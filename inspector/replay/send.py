"""Replay, the I/O half: send recorded exchanges again and capture what comes back.

In-process: the app is called with the recorded scope and the same receive() messages,
chunk boundaries kept, through an InspectorMiddleware, so the replay is captured like any
other connection. Over the network: an h11 / wsproto client sends the same request or
WebSocket messages to `--to URL`, and what it sends and gets is recorded as the events
the app side would have seen. Either way the new flow's scope carries the original's
label, so flows link "replay of #12".
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import h11
import wsproto
import wsproto.events as ws

from inspector.capture.middleware import InspectorMiddleware
from inspector.capture.recorder import Recorder
from inspector.events.model import Event
from inspector.flows.fold import fold_events
from inspector.flows.handlers import REPLAY_HEADER
from inspector.flows.model import Flow
from inspector.replay.plan import Exchange

REPLAY_ID = "asgi_inspector.replay_id"
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
                        b"transfer-encoding", b"upgrade", b"host", b"content-length",
                        b"sec-websocket-key", b"sec-websocket-version",
                        b"sec-websocket-extensions", b"sec-websocket-protocol"})
_ids = itertools.count(1)


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:   # headers and body go in separate writes: no Nagle delay
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _pace(start: float, offset: float, pace: str, loop: asyncio.AbstractEventLoop) -> None:
    if pace == "original":
        delay = start + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


def _flow_of(events: list[Event], conn: int, source: str = "replay") -> Flow:
    mine = [e for e in events if e.conn == conn]
    flows = fold_events(mine, source=source)
    if not flows:
        raise RuntimeError("the replay was not captured (ring buffer too small?)")
    return flows[0]


class InProcessTarget:
    """Replays into an ASGI app in this process, no sockets."""

    seen_by = "app"            # its flows record the app's side (see replay.compare)

    def __init__(self, app: Any, middleware: InspectorMiddleware | None = None,
                 quiet_period: float = 0.3) -> None:
        self.middleware = middleware or InspectorMiddleware(app, tap=False)
        self.quiet_period = quiet_period
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @property
    def recorder(self) -> Recorder:
        return self.middleware.recorder

    async def start(self) -> None:
        """Run the app's lifespan startup, as a server would (if the app has one)."""
        async def receive() -> dict[str, Any]:
            return await self._to_app.get()

        async def send(message: dict[str, Any]) -> None:
            await self._from_app.put(message)

        async def run() -> None:
            try:
                await self.middleware({"type": "lifespan", "asgi": {"version": "3.0"},
                                       "state": {}}, receive, send)
            except BaseException:
                pass
            await self._from_app.put({"type": "lifespan.unsupported"})

        self._lifespan = asyncio.create_task(run())
        await self._to_app.put({"type": "lifespan.startup"})
        answer = await self._from_app.get()
        if answer["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"the app's startup failed: {answer.get('message', '')}")
        if answer["type"] == "lifespan.unsupported":
            self._lifespan = None

    async def stop(self) -> None:
        if self._lifespan is not None:
            await self._to_app.put({"type": "lifespan.shutdown"})
            await asyncio.wait_for(self._from_app.get(), 10)
            self._lifespan.cancel()
        self.middleware.close()

    async def replay(self, exchange: Exchange, pace: str = "fast") -> Flow:
        loop = asyncio.get_running_loop()
        start = loop.time()
        scope = exchange.replay_scope()
        token = next(_ids)
        scope[REPLAY_ID] = token
        first_seq = self.recorder.ring.next_seq
        messages = list(exchange.client_messages)
        finished = asyncio.Event()
        app_sent = 0

        async def receive() -> dict[str, Any]:
            if messages:
                offset, message = messages.pop(0)
                await _pace(start, offset, pace, loop)
                if exchange.type == "websocket" and message["type"] == "websocket.disconnect":
                    await self._settle(lambda: app_sent >= exchange.app_messages, finished)
                return dict(message)
            if exchange.type == "websocket":
                await self._settle(lambda: app_sent >= exchange.app_messages, finished)
                return {"type": "websocket.disconnect", "code": 1000}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal app_sent
            kind = message.get("type", "")
            if kind == "websocket.send":
                app_sent += 1
            if (kind in ("http.response.body", "websocket.http.response.body")
                    and not message.get("more_body")) or kind == "websocket.close":
                finished.set()

        try:
            if sys.version_info >= (3, 11):       # a timeout without a task per replay
                async with asyncio.timeout(60):
                    await self.middleware(scope, receive, send)
            else:  # pragma: no cover
                await asyncio.wait_for(self.middleware(scope, receive, send), 60)
        except Exception:
            pass                      # recorded on the flow (app exception or timeout)
        events = self.recorder.events(first_seq)
        conn = next(e.conn for e in events if e.kind == "scope" and e.message.get(REPLAY_ID) == token)
        return _flow_of(events, conn)

    async def _settle(self, enough: Any, finished: asyncio.Event) -> None:
        """Wait until the app sent what it sent originally, closed, or went quiet."""
        deadline = asyncio.get_running_loop().time() + 10
        while not enough() and not finished.is_set():
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)


class NetworkTarget:
    """Replays to a server over the network (h11 / wsproto), recording as the app would."""

    seen_by = "client"         # its flows record what a client received (see replay.compare)

    def __init__(self, url: str, recorder: Recorder | None = None, timeout: float = 30.0,
                 quiet_period: float = 0.5) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "ws") or not parts.hostname:
            raise ValueError(f"{url!r}: replay targets are http://host:port URLs")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.recorder = recorder or Recorder()
        self.timeout = timeout
        self.quiet_period = quiet_period

    async def start(self) -> None:
        """Nothing to start: the server is already running."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def _target(self, exchange: Exchange) -> bytes:
        scope = exchange.scope
        raw = scope.get("raw_path") or str(scope.get("path", "/")).encode()
        if scope.get("query_string"):
            raw += b"?" + scope["query_string"]
        return self.prefix.encode() + raw

    def _headers(self, exchange: Exchange) -> list[tuple[bytes, bytes]]:
        host = f"{self.host}:{self.port}".encode()
        # The marker lets a capturing server (InspectorMiddleware) link the flow it
        # records to the original, as the replay's own scope key does in-process.
        return [(b"host", host)] + [(n, v) for n, v in exchange.scope.get("headers", [])
                                    if n.lower() not in HOP_BY_HOP
                                    and n.lower() != REPLAY_HEADER] + [
            (REPLAY_HEADER, exchange.label.encode("utf-8", "replace"))]

    async def replay(self, exchange: Exchange, pace: str = "fast") -> Flow:
        scope = exchange.replay_scope()
        scope["server"] = (self.host, self.port)
        first_seq = self.recorder.ring.next_seq
        conn = self.recorder.open(scope)
        try:
            if exchange.type == "websocket":
                await asyncio.wait_for(self._websocket(exchange, conn, pace), self.timeout)
            else:
                await asyncio.wait_for(self._http(exchange, conn, pace), self.timeout)
        except (OSError, asyncio.TimeoutError, h11.ProtocolError,
                wsproto.utilities.LocalProtocolError) as exc:
            self.recorder.exit(conn, exc)
        else:
            self.recorder.exit(conn, None)
        return _flow_of(self.recorder.events(first_seq), conn)

    async def _http(self, exchange: Exchange, conn: int, pace: str) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        reader, writer = await _connect(self.host, self.port)
        try:
            h = h11.Connection(h11.CLIENT)
            chunks = [(t, m) for t, m in exchange.client_messages if m.get("type") == "http.request"]
            body_size = sum(len(m.get("body", b"")) for _, m in chunks)
            headers = self._headers(exchange)
            declared = [v for n, v in exchange.scope.get("headers", []) if n.lower() == b"content-length"]
            if declared and not exchange.body_cut:
                headers.append((b"content-length", str(body_size).encode()))
            elif chunks and (body_size or len(chunks) > 1):
                headers.append((b"transfer-encoding", b"chunked"))
            method = str(exchange.scope.get("method", "GET")).encode()
            writer.write(h.send(h11.Request(method=method, target=self._target(exchange),
                                            headers=headers)) or b"")
            for offset, message in chunks:
                await _pace(start, offset, pace, loop)
                self.recorder.message(conn, "receive", message)
                if message.get("body"):
                    writer.write(h.send(h11.Data(data=message["body"])) or b"")
                await writer.drain()
            writer.write(h.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            while True:
                event = h.next_event()
                if event is h11.NEED_DATA:
                    h.receive_data(await reader.read(65536))
                elif isinstance(event, h11.InformationalResponse):
                    continue
                elif isinstance(event, h11.Response):
                    self.recorder.message(conn, "send", {
                        "type": "http.response.start", "status": event.status_code,
                        "headers": [(n, v) for n, v in event.headers]})
                elif isinstance(event, h11.Data):
                    self.recorder.message(conn, "send", {"type": "http.response.body",
                                                         "body": bytes(event.data),
                                                         "more_body": True})
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    self.recorder.message(conn, "send", {"type": "http.response.body",
                                                         "body": b"", "more_body": False})
                    return
        finally:
            writer.close()

    async def _websocket(self, exchange: Exchange, conn: int, pace: str) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        reader, writer = await _connect(self.host, self.port)
        wsc = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        scope = exchange.scope
        writer.write(wsc.send(ws.Request(
            host=f"{self.host}:{self.port}", target=self._target(exchange).decode("latin-1"),
            subprotocols=list(scope.get("subprotocols") or []),
            extra_headers=self._headers(exchange)[1:])))
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        got = 0
        closed = asyncio.Event()

        async def pump() -> None:
            nonlocal got
            while not closed.is_set():
                data = await reader.read(65536)
                if not data:
                    closed.set()
                    return
                wsc.receive_data(data)
                for event in wsc.events():
                    if isinstance(event, ws.AcceptConnection):
                        await inbox.put(event)
                    elif isinstance(event, ws.RejectConnection):
                        await inbox.put(event)
                    elif isinstance(event, ws.Message):
                        got += 1
                        key = "text" if isinstance(event, ws.TextMessage) else "bytes"
                        self.recorder.message(conn, "send", {"type": "websocket.send",
                                                             key: event.data})
                    elif isinstance(event, ws.Ping):
                        writer.write(wsc.send(event.response()))
                    elif isinstance(event, ws.CloseConnection):
                        self.recorder.message(conn, "send", {"type": "websocket.close",
                                                             "code": event.code,
                                                             "reason": event.reason or ""})
                        if wsc.state is wsproto.connection.ConnectionState.REMOTE_CLOSING:
                            writer.write(wsc.send(event.response()))
                        closed.set()
                        return

        reading = asyncio.create_task(pump())
        try:
            self.recorder.message(conn, "receive", {"type": "websocket.connect"})
            answer = await inbox.get()
            if isinstance(answer, ws.RejectConnection):
                self.recorder.message(conn, "send", {"type": "websocket.close", "code": 403})
                return
            self.recorder.message(conn, "send", {"type": "websocket.accept",
                                                 "subprotocol": answer.subprotocol})
            close_code = 1000
            for offset, message in exchange.client_messages:
                kind = message.get("type")
                if kind == "websocket.disconnect":
                    close_code = int(message.get("code") or 1000)
                    break
                if kind != "websocket.receive" or closed.is_set():
                    continue
                await _pace(start, offset, pace, loop)
                self.recorder.message(conn, "receive", message)
                if message.get("text") is not None:
                    writer.write(wsc.send(ws.TextMessage(data=message["text"])))
                else:
                    writer.write(wsc.send(ws.BytesMessage(data=message.get("bytes") or b"")))
                await writer.drain()
            # Wait for the answers the original got, or the server's close, or quiet.
            deadline = loop.time() + self.quiet_period
            seen = got
            while not closed.is_set() and got < exchange.app_messages:
                if got != seen:
                    seen, deadline = got, loop.time() + self.quiet_period
                if loop.time() > deadline:
                    break
                await asyncio.sleep(0.01)
            if not closed.is_set():
                self.recorder.message(conn, "receive", {"type": "websocket.disconnect",
                                                        "code": close_code})
                writer.write(wsc.send(ws.CloseConnection(code=close_code)))
                await writer.drain()
                try:
                    await asyncio.wait_for(closed.wait(), 2)
                except asyncio.TimeoutError:
                    pass
        finally:
            reading.cancel()
            writer.close()


async def replay_all(target: InProcessTarget | NetworkTarget, items: Iterable[Exchange], *,
                     pace: str = "fast", concurrency: int = 1) -> list[tuple[Exchange, Flow]]:
    """Replay every exchange (at most `concurrency` at once); results in input order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(exchange: Exchange) -> tuple[Exchange, Flow]:
        async with gate:
            return exchange, await target.replay(exchange, pace)
    return list(await asyncio.gather(*(one(e) for e in items)))
