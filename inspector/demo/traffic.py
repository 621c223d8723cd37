"""The demo's traffic generator: a few clients that keep the demo app busy.

Real sockets, real HTTP/1.1 (h11) and WebSocket (wsproto) so that what the dashboard shows
is what a server really saw; keep-alive connections, a chunked upload, an SSE reader, a
chat session, a client that hangs up mid-response.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import h11
import wsproto
import wsproto.events as ws


class HttpClient:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.conn = h11.Connection(h11.CLIENT)

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.conn = h11.Connection(h11.CLIENT)

    async def request(self, method: str, target: str, body: bytes | list[bytes] = b"",
                      headers: list[tuple[str, str]] | None = None,
                      read: bool = True) -> tuple[int, bytes]:
        if self.writer is None or self.conn.our_state is not h11.IDLE:
            await self.close()
            await self._open()
        assert self.reader is not None and self.writer is not None
        chunks = body if isinstance(body, list) else [body]
        all_headers = [("host", f"{self.host}:{self.port}"), ("user-agent", "asgi-inspector-demo")]
        all_headers += headers or []
        if isinstance(body, list):
            all_headers.append(("transfer-encoding", "chunked"))
        else:
            all_headers.append(("content-length", str(len(body))))
        out = self.conn.send(h11.Request(method=method, target=target, headers=all_headers)) or b""
        for chunk in chunks:
            if chunk:
                out += self.conn.send(h11.Data(data=chunk)) or b""
        out += self.conn.send(h11.EndOfMessage()) or b""
        self.writer.write(out)
        await self.writer.drain()
        status, data = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                received = await self.reader.read(65536)
                self.conn.receive_data(received)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                if not read:                  # hang up mid-response
                    await self.close()
                    return status, b""
            elif isinstance(event, h11.Data):
                data.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        else:
            await self.close()
        return status, b"".join(data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def chat_session(host: str, port: int, messages: int) -> None:
    """Open /ws/chat, say a few things (text and binary), then /quit."""
    reader, writer = await asyncio.open_connection(host, port)
    conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    writer.write(conn.send(ws.Request(host=f"{host}:{port}", target="/ws/chat",
                                      subprotocols=["chat"])))
    try:
        async def until(kind: type) -> Any:
            while True:
                for event in conn.events():
                    if isinstance(event, ws.Ping):
                        writer.write(conn.send(event.response()))
                    if isinstance(event, kind):
                        return event
                    if isinstance(event, (ws.CloseConnection, ws.RejectConnection)):
                        return event
                data = await reader.read(65536)
                if not data:
                    return None
                conn.receive_data(data)

        if not isinstance(await until(ws.AcceptConnection), ws.AcceptConnection):
            return
        for n in range(messages):
            if n % 3 == 2:
                writer.write(conn.send(ws.BytesMessage(data=bytes(range(n, n + 16)))))
            else:
                writer.write(conn.send(ws.TextMessage(data=random.choice(
                    ["hello", "is the teapot in stock?", "price?", "\u2615 please", "thanks!"]))))
            await until(ws.Message)
            await asyncio.sleep(0.15 + random.random() * 0.3)
        writer.write(conn.send(ws.TextMessage(data="/quit")))
        closing = await until(ws.CloseConnection)
        if isinstance(closing, ws.CloseConnection):
            writer.write(conn.send(closing.response()))
    finally:
        writer.close()


async def one_round(client: HttpClient, host: str, port: int) -> None:
    """A random slice of what users of a shop do."""
    action = random.random()
    if action < 0.35:
        query = random.choice(["", "?q=tea", "?q=cup", "?q=kettle"])
        await client.request("GET", "/api/items" + query, headers=[("accept", "application/json")])
    elif action < 0.5:
        await client.request("GET", f"/api/items/{random.randrange(1, 7)}")
    elif action < 0.62:
        body = json.dumps({"item": random.randrange(1, 5), "qty": random.randrange(1, 4)})
        await client.request("POST", "/api/orders", body.encode(),
                             [("content-type", "application/json"),
                              ("authorization", "Bearer demo-token-123")])
    elif action < 0.7:
        password = random.choice(["hunter2", "wrong"])
        await client.request("POST", "/login", f"user=ada&password={password}".encode(),
                             [("content-type", "application/x-www-form-urlencoded")])
    elif action < 0.76:
        chunks = [bytes(random.randrange(256) for _ in range(1024)) for _ in range(16)]
        await client.request("POST", "/upload", chunks, [("content-type", "application/octet-stream")])
    elif action < 0.82:
        await client.request("GET", "/reports/slow")
    elif action < 0.87:
        await client.request("GET", "/api/discount")
    elif action < 0.92:
        await client.request("GET", "/events", headers=[("accept", "text/event-stream")])
    elif action < 0.96:
        await chat_session(host, port, random.randrange(2, 6))
    else:
        await client.request("GET", "/events", read=False)      # hangs up mid-stream


async def tour(client: HttpClient, host: str, port: int) -> None:
    """Every endpoint once, so the first seconds of the demo show every kind of flow."""
    await client.request("GET", "/api/items?q=tea", headers=[("accept", "application/json")])
    await client.request("POST", "/api/orders", b'{"item": 1, "qty": 2}',
                         [("content-type", "application/json"),
                          ("authorization", "Bearer demo-token-123")])
    await client.request("POST", "/login", b"user=ada&password=hunter2",
                         [("content-type", "application/x-www-form-urlencoded")])
    await client.request("POST", "/upload", [bytes(range(256)) * 4] * 8,
                         [("content-type", "application/octet-stream")])
    await client.request("GET", "/api/items/42")
    await client.request("GET", "/api/discount")
    await asyncio.gather(client.request("GET", "/events"), chat_session(host, port, 4),
                         HttpClient(host, port).request("GET", "/reports/slow"))


async def generate(host: str, port: int, *, clients: int = 3, pause: float = 0.35,
                   rounds: int | None = None) -> None:
    """Run `clients` concurrent users until cancelled (or `rounds` each)."""
    async def user() -> None:
        client = HttpClient(host, port)
        done = 0
        try:
            if first.pop() if first else False:
                await tour(client, host, port)
            while rounds is None or done < rounds:
                try:
                    await one_round(client, host, port)
                except (OSError, h11.ProtocolError, asyncio.IncompleteReadError):
                    await client.close()
                    await asyncio.sleep(0.5)
                done += 1
                await asyncio.sleep(pause * (0.5 + random.random()))
        finally:
            await client.close()

    first = [False] * (clients - 1) + [True]
    await asyncio.gather(*(user() for _ in range(clients)))
