"""Header rewriting shared by the HTTP and WebSocket hops. Pure: lists of byte pairs in and out.

A proxy is two connections, so headers that describe one connection must not cross it
(RFC 9110 7.6.1); `Host` names the upstream unless asked to keep the client's; and the
`X-Forwarded-*` headers tell the upstream who the client was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from inspector.types import Headers

from .upstream import Upstream

__all__ = ["HOP_BY_HOP", "Headers", "connection_tokens", "strip_hop_by_hop",
           "proxy_request_headers", "header_value", "ClientFields", "client_fields"]


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
    out: Headers = []
    named: list[bytes] | None = None
    for name, value in headers:   # one pass: this runs twice per proxied request
        name = name.lower()
        if name in HOP_BY_HOP or name[:6] == b"proxy-":
            if name == b"connection":
                named = (named or []) + [t.strip().lower() for t in value.split(b",")]
            continue
        out.append((name, value))
    if named:
        return [(name, value) for name, value in out if name not in named]
    return out


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header `name` (lowercase), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class ClientFields(NamedTuple):
    """The client's request fields, sorted in one pass for the upstream hop."""

    end_to_end: Headers            # lowercased; no hop-by-hop, Host or Content-Length
    host: bytes | None             # the first Host
    content_length: bytes | None   # every Content-Length value, joined by ","
    transfer_encoding: bool        # the client framed its body with Transfer-Encoding
    expect_continue: bool = False  # Expect: 100-continue (RFC 9110 10.1.1); it goes on too


# The fields client_fields() sets aside, or looks at; any other goes through unless
# Connection names it.
_SET_ASIDE = HOP_BY_HOP | {b"host", b"content-length", b"expect"}


def client_fields(headers: Iterable[tuple[bytes, bytes]]) -> ClientFields:
    """Sort the client's fields (RFC 9110 7.6.1): this runs once per proxied request."""
    out: Headers = []
    host = length = None
    chunked = expect = False
    named: list[bytes] | None = None
    for name, value in headers:
        name = name.lower()
        if name in _SET_ASIDE:
            if name == b"host":
                host = value if host is None else host
            elif name == b"content-length":
                length = value if length is None else length + b"," + value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"connection":
                named = (named or []) + [t.strip().lower() for t in value.split(b",")]
            elif name == b"expect":
                expect = expect or value.strip().lower() == b"100-continue"
                out.append((name, value))
        elif name[:6] != b"proxy-":
            out.append((name, value))
    if named:
        out = [(name, value) for name, value in out if name not in named]
        if b"host" in named:
            host = None
        if b"expect" in named:
            expect = False
    return ClientFields(out, host, length, chunked, expect)


def proxy_request_headers(scope: Mapping[str, Any], upstream: Upstream, *,
                          keep_host: bool = False, forwarded: bool = False,
                          fields: ClientFields | None = None) -> Headers:
    """The scope's request headers as the upstream should see them, Host first.

    Content-Length is left out: the caller knows how the body will be sent. `fields`:
    the scope's headers already sorted by client_fields().
    """
    if fields is None:
        fields = client_fields(scope.get("headers", ()))
    client_host = fields.host
    host = client_host if keep_host and client_host else upstream.authority.encode("ascii")
    out: Headers = [(b"host", host)]
    out += fields.end_to_end
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
