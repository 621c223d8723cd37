"""Header rewriting shared by the HTTP and WebSocket hops. Pure: lists of byte pairs in and out.

A proxy is two connections, so headers that describe one connection must not cross it
(RFC 9110 7.6.1); `Host` names the upstream unless asked to keep the client's; and the
`X-Forwarded-*` headers tell the upstream who the client was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .upstream import Upstream

__all__ = ["HOP_BY_HOP", "Headers", "connection_tokens", "strip_hop_by_hop",
           "proxy_request_headers", "header_value"]

Headers = list[tuple[bytes, bytes]]

# RFC 9110 7.6.1: Connection and the fields it names are for the next hop only;
# Keep-Alive, Proxy-Connection, TE, Transfer-Encoding and Upgrade likewise. Trailer is
# dropped with Transfer-Encoding since the proxy does not forward trailers. Every Proxy-*
# field (Proxy-Authorization, Proxy-Authenticate, ...) is addressed to a proxy, not the
# origin.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade",
})


def connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The field names listed in Connection headers, lowercased (RFC 9110 7.6.1)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(tokens)


def strip_hop_by_hop(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """Headers with names lowercased, minus the hop-by-hop ones and those Connection names."""
    items = [(name.lower(), value) for name, value in headers]
    named = connection_tokens(items)
    return [(name, value) for name, value in items
            if name not in HOP_BY_HOP and name not in named and not name.startswith(b"proxy-")]


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (lowercase), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def proxy_request_headers(scope: Mapping[str, Any], upstream: Upstream, *,
                          keep_host: bool = False, forwarded: bool = False) -> Headers:
    """The scope's request headers as the upstream should see them, Host first.

    Framing headers (Content-Length) are left to the caller, which knows how the body
    will be sent.
    """
    original = list(scope.get("headers", ()))
    headers = strip_hop_by_hop(original)
    client_host = header_value(headers, b"host")
    host = client_host if keep_host and client_host else upstream.authority.encode("ascii")
    out: Headers = [(b"host", host)]
    out.extend((n, v) for n, v in headers if n != b"host")
    if forwarded:
        out = add_forwarded(out, scope, client_host)
    return out


def add_forwarded(headers: Headers, scope: Mapping[str, Any], client_host: bytes | None) -> Headers:
    """Add X-Forwarded-For (appending to what earlier proxies wrote), -Proto and -Host.

    -Proto and -Host are replaced rather than appended: they describe the hop into this
    proxy, which is the one the client used.
    """
    previous = [v.strip() for n, v in headers if n == b"x-forwarded-for" and v.strip()]
    out = [(n, v) for n, v in headers
           if n not in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")]
    client = scope.get("client")
    if client:
        previous.append(str(client[0]).encode("latin-1"))
    if previous:
        out.append((b"x-forwarded-for", b", ".join(previous)))
    scheme = str(scope.get("scheme") or "http")
    proto = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    out.append((b"x-forwarded-proto", proto.encode("ascii")))
    if client_host:
        out.append((b"x-forwarded-host", client_host))
    return out
