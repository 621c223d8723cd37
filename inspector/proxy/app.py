"""`ProxyApp`: the reverse proxy as an ASGI application.

Served by uvicorn (wrapped in the inspector's middleware, so what it receives and sends
is the capture), it forwards http scopes over HTTP/1.1 and websocket scopes over RFC 6455
(websockets' sans-I/O client) to one upstream. The only state it keeps across requests is
the pool of idle upstream connections; everything about one request lives in the
exchange object made for it.
"""

from __future__ import annotations

from typing import Any

from .client_websocket import ClientFacingWebSocket
from .client_writes import CoalescingHTTPProtocol
from .http import HttpExchange, Receive, Scope, Send
from .pool import POOL_SIZE, ConnectionPool
from .tls import client_context
from .upstream import parse_upstream
from .websocket import WebSocketSession

__all__ = ["ProxyApp", "SERVE_OPTIONS"]

# How a ProxyApp is served by uvicorn: the upstream's Server and Date headers pass through,
# so uvicorn must add none of its own, nor rewrite the client address from X-Forwarded-For
# (the proxy appends to it); responses go out in one write; WebSocket messages take the
# fast paths on the client's hop as on the upstream's.
SERVE_OPTIONS: dict[str, Any] = {"server_header": False, "date_header": False,
                                 "proxy_headers": False, "http": CoalescingHTTPProtocol,
                                 "ws": ClientFacingWebSocket}


class ProxyApp:
    """Reverse proxy to `upstream` ("http://host:port" or "https://host:port"; ValueError
    if malformed).

    keep_host: send the client's Host instead of the upstream's host:port.
    forwarded: add X-Forwarded-For/-Proto/-Host.
    connect_timeout: seconds to open a connection before answering 504.
    read_timeout: seconds the upstream may stay silent (once the request is sent) before
        a 504, or before a started response is cut short with ProxyError.
    pool_size: idle upstream connections kept for reuse, at most. Every connection that
        was in use is kept, up to this, so a steady load opens no new ones. It does not
        cap concurrent connections: a slow stream (SSE, long poll) must never make other
        requests wait.
    ca_file: for an https:// upstream, trust the CAs in this PEM file instead of the
        system's store (ValueError if it cannot be read).
    insecure: for an https:// upstream, do not verify its certificate at all.
    """

    def __init__(self, upstream: str, *, keep_host: bool = False, forwarded: bool = False,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0,
                 pool_size: int = POOL_SIZE, ca_file: str | None = None,
                 insecure: bool = False) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("connect_timeout and read_timeout must be positive seconds")
        if pool_size < 0:
            raise ValueError("pool_size must be 0 or more")
        self.upstream = parse_upstream(upstream)
        if not self.upstream.tls and (ca_file is not None or insecure):
            raise ValueError(f"upstream {upstream!r}: a CA file and --insecure apply to "
                             "https:// and wss:// upstreams only")
        self.tls = client_context(ca_file, insecure) if self.upstream.tls else None
        self.keep_host = keep_host
        self.forwarded = forwarded
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool = ConnectionPool(self.upstream, connect_timeout=connect_timeout,
                                   size=pool_size, tls=self.tls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await HttpExchange(scope, receive, send, self.pool, keep_host=self.keep_host,
                               forwarded=self.forwarded, read_timeout=self.read_timeout).run()
        elif kind == "websocket":
            await WebSocketSession(scope, receive, send, self.upstream,
                                   keep_host=self.keep_host, forwarded=self.forwarded,
                                   connect_timeout=self.connect_timeout,
                                   read_timeout=self.read_timeout, tls=self.tls).run()
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Nothing to start; close the idle upstream connections on shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Close the idle upstream connections (for hosts that run no lifespan)."""
        await self.pool.aclose()
