"""A reverse proxy as an ASGI app: HTTP/1.1 (httptools, else h11) and WebSocket (websockets'
sans-I/O client) to the upstream, over TCP or, for https:// and wss://, verified TLS.

Serve `ProxyApp("http://127.0.0.1:8000")` with uvicorn (inside the inspector's middleware,
whose capture then is the proxy's capture). Bodies stream both ways with backpressure;
idle upstream connections are pooled; a failing upstream becomes a 502 or 504 with an
`x-inspector-error` header, or a `ProxyError` once the response had started.

Serve it with uvicorn and `SERVE_OPTIONS`: the upstream's Server and Date headers are
passed through (uvicorn would otherwise add a second of each; the proxy dates what has no
Date, `inspector.proxy.dates`), and responses go to the client in one write
(`inspector.proxy.client_writes`).
"""

from __future__ import annotations

from .app import SERVE_OPTIONS, ProxyApp
from .errors import ProxyError, UpstreamFailure
from .upstream import Upstream, parse_upstream

__all__ = ["SERVE_OPTIONS", "ProxyApp", "ProxyError", "Upstream", "UpstreamFailure", "parse_upstream"]
