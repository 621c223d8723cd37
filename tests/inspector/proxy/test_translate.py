"""The proxy's pure parts, driven with scopes, bytes, frames and lists: no sockets."""

from __future__ import annotations

from typing import Any

import h11
import pytest
from websockets.datastructures import Headers as WsHeaders
from websockets.frames import Frame, Opcode
from websockets.http11 import Response

from inspector.proxy import Upstream, UpstreamFailure, parse_upstream
from inspector.proxy.headers import (
    client_fields,
    connection_tokens,
    proxy_request_headers,
    strip_hop_by_hop,
)
from inspector.proxy.http_translate import (
    RequestBody,
    UnsendableRequest,
    body_messages,
    build_request,
    encode_request,
    error_messages,
    expects_continue,
    request_target,
    response_start,
)
from inspector.proxy.parse import Data, ResponseHead, response_parser
from inspector.proxy.upstream import shown_url
from inspector.proxy.ws_translate import (
    ClientClose,
    MessageAssembler,
    accept_message,
    client_close,
    close_message,
    close_reason,
    denial_messages,
    handshake_request,
    upstream_protocol,
)

UP = Upstream("10.0.0.5", 8000)


def scope(headers: list[tuple[bytes, bytes]] | None = None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http", "method": "GET", "scheme": "http", "path": "/a b",
        "raw_path": b"/a%20b", "query_string": b"x=1", "client": ("192.0.2.7", 5555),
        "headers": headers if headers is not None else [(b"host", b"front.example:8080")],
    }
    base.update(extra)
    return base


# parse_upstream

@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:9000", Upstream("127.0.0.1", 9000)),
    ("http://example.com", Upstream("example.com", 80)),
    ("http://example.com/", Upstream("example.com", 80)),
    ("ws://localhost:8000", Upstream("localhost", 8000)),
    ("HTTP://[::1]:81", Upstream("::1", 81)),
    ("https://example.com", Upstream("example.com", 443, tls=True)),
    ("wss://example.com:8443", Upstream("example.com", 8443, tls=True)),
])
def test_parse_upstream_accepts(url: str, expected: Upstream) -> None:
    assert parse_upstream(url) == expected


def test_host_header_leaves_out_the_schemes_default_port_only() -> None:
    assert parse_upstream("https://a.test").authority == "a.test"
    assert parse_upstream("https://a.test:80").authority == "a.test:80"
    assert parse_upstream("http://a.test:443").authority == "a.test:443"


@pytest.mark.parametrize("url, says", [
    ("gopher://example.com", "scheme gopher:// is not supported; use http:// or https://"),
    ("ftp://example.com", "scheme ftp:// is not supported"),
    ("localhost:8000", "no scheme"),
    ("http://", "no host"),
    ("http://host:99999", "port must be a number"),
    ("http://host:abc", "port must be a number"),
    ("http://host:0", "port must be a number"),
    ("http://host:80/api", "without a path"),
    ("http://host?x=1", "without a path, query"),
    ("http://user:pw@host", "credentials"),
    ("https://user:s3cret@host", "credentials in the URL are not supported"),
    ("user:s3cret@host:80", "no scheme"),
])
def test_parse_upstream_rejects_with_one_line(url: str, says: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_upstream(url)
    message = str(info.value)
    assert says in message and "\n" not in message and repr(shown_url(url)) in message
    assert "pw" not in message and "s3cret" not in message


def test_shown_url_masks_a_password_only() -> None:
    assert shown_url("http://user:pw@host:81/x") == "http://user:***@host:81/x"
    assert shown_url("http://user@host") == "http://user@host"
    assert shown_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert shown_url("localhost:8000") == "localhost:8000"


def test_authority_omits_default_port_and_brackets_ipv6() -> None:
    assert Upstream("example.com", 80).authority == "example.com"
    assert Upstream("::1", 8080).authority == "[::1]:8080"
    assert Upstream("::1", 80).address == "[::1]:80"


def test_url_is_what_the_dashboard_header_shows() -> None:
    assert parse_upstream("http://127.0.0.1:18001").url == "http://127.0.0.1:18001"
    assert parse_upstream("ws://example.com").url == "http://example.com"
    assert Upstream("::1", 8080).url == "http://[::1]:8080"


# headers

def test_strip_hop_by_hop_and_fields_named_by_connection() -> None:
    headers = [(b"Connection", b"keep-alive, X-Secret"), (b"Keep-Alive", b"timeout=5"),
               (b"TE", b"trailers"), (b"Trailer", b"x"), (b"Transfer-Encoding", b"chunked"),
               (b"Upgrade", b"h2c"), (b"Proxy-Authorization", b"Basic x"),
               (b"Proxy-Connection", b"keep-alive"), (b"x-secret", b"1"),
               (b"Content-Length", b"3"), (b"X-Keep", b"yes")]
    assert connection_tokens(headers) == {b"keep-alive", b"x-secret"}
    assert strip_hop_by_hop(headers) == [(b"content-length", b"3"), (b"x-keep", b"yes")]


def test_host_is_rewritten_to_upstream_and_put_first() -> None:
    headers = proxy_request_headers(
        scope([(b"accept", b"*/*"), (b"host", b"front.example:8080")]), UP)
    assert headers == [(b"host", b"10.0.0.5:8000"), (b"accept", b"*/*")]


def test_keep_host_keeps_the_clients() -> None:
    headers = proxy_request_headers(scope(), UP, keep_host=True)
    assert headers[0] == (b"host", b"front.example:8080")


def test_keep_host_without_a_client_host_falls_back_to_upstream() -> None:
    assert proxy_request_headers(scope([]), UP, keep_host=True)[0] == (b"host", b"10.0.0.5:8000")


def test_forwarded_headers_added() -> None:
    headers = proxy_request_headers(scope(), UP, forwarded=True)
    assert headers[1:] == [(b"x-forwarded-for", b"192.0.2.7"), (b"x-forwarded-proto", b"http"),
                           (b"x-forwarded-host", b"front.example:8080")]


def test_forwarded_for_appends_to_earlier_proxies_and_replaces_proto_host() -> None:
    headers = proxy_request_headers(scope([
        (b"host", b"h"), (b"x-forwarded-for", b"203.0.113.1"),
        (b"X-Forwarded-For", b"198.51.100.2"), (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"spoofed")]), UP, forwarded=True)
    assert headers == [(b"host", b"10.0.0.5:8000"),
                       (b"x-forwarded-for", b"203.0.113.1, 198.51.100.2, 192.0.2.7"),
                       (b"x-forwarded-proto", b"http"), (b"x-forwarded-host", b"h")]


def test_forwarded_proto_for_websocket_schemes() -> None:
    headers = proxy_request_headers(scope(scheme="wss"), UP, forwarded=True)
    assert (b"x-forwarded-proto", b"https") in headers


def test_without_forwarded_existing_x_forwarded_pass_untouched() -> None:
    headers = proxy_request_headers(scope([(b"x-forwarded-for", b"1.2.3.4")]), UP)
    assert headers == [(b"host", b"10.0.0.5:8000"), (b"x-forwarded-for", b"1.2.3.4")]


# HTTP requests

def test_request_target_uses_raw_path_and_query() -> None:
    assert request_target(scope()) == b"/a%20b?x=1"
    assert request_target(scope(raw_path=None, query_string=b"")) == b"/a%20b"


def test_build_request_without_body() -> None:
    request = build_request(scope(), UP)
    assert request.method == b"GET" and request.target == b"/a%20b?x=1"
    assert list(request.headers) == [(b"host", b"10.0.0.5:8000")]


def test_build_request_keeps_client_content_length() -> None:
    request = build_request(scope([(b"host", b"h"), (b"content-length", b"10")], method="POST"),
                            UP, body=b"01234", more_body=True)
    assert (b"content-length", b"10") in list(request.headers)
    assert all(n != b"transfer-encoding" for n, _ in request.headers)


def test_build_request_streams_chunked_body_as_chunked() -> None:
    request = build_request(scope([(b"host", b"h"), (b"transfer-encoding", b"chunked")],
                                  method="POST"), UP, body=b"abc", more_body=True)
    assert (b"transfer-encoding", b"chunked") in list(request.headers)


def test_build_request_whole_chunked_body_gets_a_length() -> None:
    request = build_request(scope([(b"host", b"h"), (b"transfer-encoding", b"chunked")],
                                  method="POST"), UP, body=b"abc")
    assert (b"content-length", b"3") in list(request.headers)
    empty = build_request(scope([(b"host", b"h"), (b"transfer-encoding", b"chunked")],
                                method="POST"), UP)
    assert (b"content-length", b"0") in list(empty.headers)


def test_build_request_is_sendable_by_h11() -> None:
    request = build_request(scope([(b"host", b"h"), (b"transfer-encoding", b"chunked")],
                                  method="PUT"), UP, body=b"abc", more_body=True)
    body = RequestBody(request.length)
    wire = encode_request(request) + body.first(b"abc", True) + body.data(b"de") + body.end()
    assert wire.startswith(b"PUT /a%20b?x=1 HTTP/1.1\r\nhost: 10.0.0.5:8000\r\n")
    assert wire.endswith(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    # h11, as the upstream, reads what the proxy wrote.
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire)
    event = server.next_event()
    assert isinstance(event, h11.Request) and event.method == b"PUT"
    assert event.target == b"/a%20b?x=1"
    data = b""
    while not isinstance(event := server.next_event(), h11.EndOfMessage):
        data += event.data
    assert data == b"abcde"


def test_whole_body_goes_with_the_head_and_its_length() -> None:
    request = build_request(scope([(b"host", b"h"), (b"content-length", b"5, 5")],
                                  method="POST"), UP, body=b"hello")
    assert request.length == 5
    wire = encode_request(request) + RequestBody(request.length).first(b"hello", False)
    assert wire == (b"POST /a%20b?x=1 HTTP/1.1\r\nhost: 10.0.0.5:8000\r\n"
                    b"content-length: 5\r\n\r\nhello")


def test_body_must_match_its_declared_length() -> None:
    body = RequestBody(3)
    with pytest.raises(UnsendableRequest, match="Too much data"):
        body.data(b"abcd")
    body = RequestBody(3)
    assert body.data(b"ab") == b"ab"
    with pytest.raises(UnsendableRequest, match="Too little data"):
        body.end()


@pytest.mark.parametrize("headers, says", [
    ([(b"host", b"h"), (b"x-bad", b"a\r\nx-injected: 1")], "Illegal header value"),
    ([(b"host", b"h"), (b"x-bad", b" padded")], "Illegal header value"),
    ([(b"host", b"h"), (b"x-bad", b"nul\x00")], "Illegal header value"),
    ([(b"host", b"h"), (b"bad name", b"1")], "Illegal header name"),
    ([(b"host", b"h"), (b"content-length", b"5, 6")], "conflicting Content-Length"),
    ([(b"host", b"h"), (b"content-length", b"-1")], "bad Content-Length"),
])
def test_unsendable_request_says_why(headers: list[tuple[bytes, bytes]], says: str) -> None:
    with pytest.raises(UnsendableRequest, match=says):
        encode_request(build_request(scope(headers), UP, body=b"12345"))


def test_unsendable_target() -> None:
    with pytest.raises(UnsendableRequest, match="Illegal target"):
        encode_request(build_request(scope(raw_path=b"/a b"), UP))


def response_events(wire: bytes, method: bytes = b"GET", prefer_h11: bool = False) -> list[Any]:
    parser = response_parser(method == b"HEAD", prefer_h11=prefer_h11)
    return parser.feed(wire)


PARSERS = [pytest.param(False, id="httptools"), pytest.param(True, id="h11")]


@pytest.mark.parametrize("prefer_h11", PARSERS)
def test_response_start_strips_transfer_encoding_keeps_length(prefer_h11: bool) -> None:
    events = response_events(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: keep-alive, x-hop\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n"
                             b"3\r\nabc\r\n0\r\n\r\n", prefer_h11=prefer_h11)
    assert response_start(events[0]) == {"type": "http.response.start", "status": 200,
                                         "headers": [(b"x-end", b"2")]}
    events = response_events(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                             prefer_h11=prefer_h11)
    assert response_start(events[0])["headers"] == [(b"content-length", b"3")]


def test_response_start_adds_a_date_only_where_the_upstream_sent_none() -> None:
    asked: list[int] = []

    def date() -> bytes:
        asked.append(1)
        return b"Mon, 07 Dec 2026 01:50:00 GMT"
    dated = ResponseHead(200, [(b"server", b"s"), (b"date", b"Sun, 06 Dec 2026 00:00:00 GMT")])
    assert response_start(dated, date)["headers"] == dated.headers and asked == []
    undated = ResponseHead(200, [(b"content-length", b"0")])
    assert response_start(undated, date)["headers"] == [
        (b"content-length", b"0"), (b"date", b"Mon, 07 Dec 2026 01:50:00 GMT")]


@pytest.mark.parametrize("prefer_h11", PARSERS)
def test_body_messages_one_per_chunk_last_one_ends(prefer_h11: bool) -> None:
    events = response_events(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n", prefer_h11=prefer_h11)
    assert body_messages(events[1:]) == [
        {"type": "http.response.body", "body": b"a", "more_body": True},
        {"type": "http.response.body", "body": b"bc", "more_body": False}]


def test_body_messages_partial_batch_stays_open() -> None:
    assert body_messages([Data(b"x")]) == [
        {"type": "http.response.body", "body": b"x", "more_body": True}]
    assert body_messages([]) == []


@pytest.mark.parametrize("prefer_h11", PARSERS)
@pytest.mark.parametrize("wire, method", [
    (b"HTTP/1.1 204 No Content\r\n\r\n", b"GET"),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", b"GET"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", b"HEAD"),
])
def test_no_body_for_head_204_304(wire: bytes, method: bytes, prefer_h11: bool) -> None:
    events = response_events(wire, method, prefer_h11)
    assert body_messages(events[1:]) == [
        {"type": "http.response.body", "body": b"", "more_body": False}]


def test_error_messages_say_what_happened() -> None:
    failure = UpstreamFailure(502, "connection refused",
                              "upstream 127.0.0.1:9 refused the connection")
    start, body = error_messages(failure, b"Mon, 07 Dec 2026 01:50:00 GMT")
    assert start["status"] == 502
    assert (b"date", b"Mon, 07 Dec 2026 01:50:00 GMT") in start["headers"]
    assert (b"x-inspector-error", b"connection refused") in start["headers"]
    assert (b"content-type", b"text/plain; charset=utf-8") in start["headers"]
    assert body["body"] == b"502 Bad Gateway: upstream 127.0.0.1:9 refused the connection\n"
    assert (b"content-length", str(len(body["body"])).encode()) in start["headers"]


# WebSocket

def ws_scope(headers: tuple[tuple[bytes, bytes], ...] = (), **extra: Any) -> dict[str, Any]:
    extra.setdefault("subprotocols", ["a", "b"])
    return scope([(b"host", b"front:1"), (b"connection", b"Upgrade"),
                  (b"upgrade", b"websocket"), (b"sec-websocket-key", b"k"),
                  (b"sec-websocket-version", b"13"), (b"sec-websocket-protocol", b"a, b"),
                  (b"sec-websocket-extensions", b"permessage-deflate"),
                  (b"cookie", b"s=1"), (b"origin", b"http://front:1"), *headers],
                 type="websocket", scheme="ws", **extra)


def test_handshake_request_offers_subprotocols_and_passes_headers() -> None:
    request = handshake_request(ws_scope(), UP, "a2V5a2V5a2V5a2V5a2V5a2V5", forwarded=True)
    assert request == (
        b"GET /a%20b?x=1 HTTP/1.1\r\n"
        b"host: 10.0.0.5:8000\r\n"
        b"cookie: s=1\r\norigin: http://front:1\r\n"
        b"x-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\n"
        b"x-forwarded-host: front:1\r\n"
        b"upgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-key: a2V5a2V5a2V5a2V5a2V5a2V5\r\nsec-websocket-version: 13\r\n"
        b"sec-websocket-protocol: a, b\r\n\r\n")   # no extensions: compression is per hop
    plain = handshake_request(ws_scope(subprotocols=[]), UP, "k")
    assert b"sec-websocket-protocol" not in plain


def test_handshake_request_unsendable_says_why() -> None:
    with pytest.raises(UnsendableRequest, match="Illegal header value"):
        handshake_request(ws_scope(headers=((b"x-bad", b"a\x00b"),)), UP, "k")


def test_upstream_protocol_checks_the_upstreams_choice_of_subprotocol() -> None:
    protocol = upstream_protocol(ws_scope())
    handshake_request(ws_scope(), UP, protocol.key)
    from websockets.utils import accept_key
    protocol.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                          + accept_key(protocol.key).encode() + b"\r\n"
                          b"Sec-WebSocket-Protocol: c\r\n\r\n")
    assert protocol.handshake_exc is not None and "c" in str(protocol.handshake_exc)


def response(status: int, headers: list[tuple[str, str]], body: bytes = b"") -> Response:
    return Response(status, "", WsHeaders(headers), body)


def test_accept_and_denial_messages() -> None:
    accepted = response(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                              ("Sec-WebSocket-Accept", "x"), ("Sec-WebSocket-Protocol", "b"),
                              ("Set-Cookie", "t=2"), ("X-Opaque", "caf\xe9"), ("Date", "x"),
                              ("Server", "uvicorn")])
    assert accept_message(accepted, "b") == {
        "type": "websocket.accept", "subprotocol": "b",
        "headers": [(b"set-cookie", b"t=2"), (b"x-opaque", b"caf\xe9")]}
    refused = response(403, [("Content-Length", "2"), ("X-Why", "test"),
                             ("Connection", "close")], b"no")
    assert denial_messages(refused) == [
        {"type": "websocket.http.response.start", "status": 403,
         "headers": [(b"x-why", b"test")]},
        {"type": "websocket.http.response.body", "body": b"no", "more_body": False}]


def test_client_close() -> None:
    assert client_close({"type": "websocket.disconnect", "code": 4002, "reason": "done"}) == \
        ClientClose(4002, "done")
    assert client_close({"type": "websocket.disconnect", "code": 1005, "reason": "x"}) == \
        ClientClose(None)
    assert client_close({"type": "websocket.disconnect", "code": 1006}) == ClientClose(1006)
    assert client_close({"type": "websocket.disconnect", "code": 1000,
                         "reason": "é" * 100}).reason == close_reason("é" * 100)


def test_close_messages_map_codes_a_frame_cannot_carry() -> None:
    assert close_message(4001, "bye") == {"type": "websocket.close", "code": 4001,
                                          "reason": "bye"}
    assert close_message(1005)["code"] == 1000
    lost = close_message(1006)
    assert lost["code"] == 1014 and "upstream" in lost["reason"]
    assert len(close_reason("é" * 100).encode()) <= 123


def test_message_assembler_joins_fragments() -> None:
    joiner = MessageAssembler()
    assert joiner.feed(Frame(Opcode.TEXT, b"h\xc3", fin=False)) is None
    assert joiner.feed(Frame(Opcode.CONT, b"\xa9", fin=False)) is None
    assert joiner.feed(Frame(Opcode.CONT, b"llo")) == {"type": "websocket.send",
                                                      "text": "h\u00e9llo"}
    assert joiner.feed(Frame(Opcode.BINARY, b"\x01")) == {"type": "websocket.send",
                                                          "bytes": b"\x01"}
    assert joiner.feed(Frame(Opcode.BINARY, b"\x02", fin=False)) is None
    assert joiner.feed(Frame(Opcode.CONT, b"\x03")) == {"type": "websocket.send",
                                                        "bytes": b"\x02\x03"}
    with pytest.raises(UnicodeDecodeError):
        joiner.feed(Frame(Opcode.TEXT, b"\xff"))


def test_proxy_app_rejects_bad_settings() -> None:
    from inspector.proxy import ProxyApp
    with pytest.raises(ValueError, match="apply to https:// and wss:// upstreams only"):
        ProxyApp("http://example.com", insecure=True)
    with pytest.raises(ValueError, match="positive"):
        ProxyApp("http://example.com", read_timeout=0)
    with pytest.raises(ValueError, match="pool_size"):
        ProxyApp("http://example.com", pool_size=-1)


@pytest.mark.parametrize("headers, version, expected", [
    ([(b"Expect", b"100-Continue"), (b"Content-Length", b"10")], "1.1", True),
    ([(b"expect", b"100-continue"), (b"transfer-encoding", b"chunked")], "1.1", True),
    ([(b"expect", b"100-continue"), (b"content-length", b"0")], "1.1", False),
    ([(b"expect", b"100-continue")], "1.1", False),
    ([(b"expect", b"100-continue"), (b"content-length", b"10")], "1.0", False),
    ([(b"expect", b"100-continue"), (b"content-length", b"10"),
      (b"connection", b"expect")], "1.1", False),
    ([(b"expect", b"something-else"), (b"content-length", b"10")], "1.1", False),
])
def test_expects_continue(headers: list[tuple[bytes, bytes]], version: str,
                          expected: bool) -> None:
    fields = client_fields(headers)
    assert expects_continue({"http_version": version}, fields) is expected
    if expected:     # the expectation goes upstream with the request
        assert (b"expect", headers[0][1]) in fields.end_to_end
