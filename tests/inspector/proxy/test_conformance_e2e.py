"""RFC 9110/9112 duties of the proxy, against raw upstreams that misbehave on purpose:
no automatic resend of a non-idempotent request, one response-head limit however the
head is cut into reads, Expect: 100-continue passed on, and a Date on the proxy's own
responses."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from inspector.proxy.parse import MAX_HEAD
from tests.inspector.proxy.apps import read_head, wait_thread_event
from tests.inspector.proxy.conftest import Servers

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def big_head(size: int) -> bytes:
    """A 200 response whose head is exactly `size` bytes, body "ok"."""
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    pad = size - len(start) - len(b"x-pad: \r\n\r\n")
    return start + b"x-pad: " + b"p" * pad + b"\r\n\r\nok"


@pytest.mark.parametrize("pieces", [1, 2, 7])
@pytest.mark.parametrize("size, status", [(40_000, 200), (MAX_HEAD, 200),
                                          (MAX_HEAD + 1, 502)])
def test_head_limit_does_not_depend_on_how_the_head_arrives(servers: Servers, pieces: int,
                                                            size: int, status: int) -> None:
    wire = big_head(size)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        step = -(-len(wire) // pieces)
        for i in range(0, len(wire), step):
            writer.write(wire[i:i + step])
            await writer.drain()
            await asyncio.sleep(0.02)    # a read of its own on the proxy's side
        await reader.read()

    proxy = servers.proxy(servers.raw(handle).url)
    response = httpx.get(proxy.url + "/big", timeout=10)
    assert response.status_code == status
    if status == 200:
        assert response.text == "ok" and len(response.headers["x-pad"]) > 30_000
    else:
        assert response.text.endswith(f"sent a malformed response: response head longer than "
                                      f"{MAX_HEAD} bytes\n")


def recording_upstream(requests: list[bytes]):  # type: ignore[no-untyped-def]
    """A raw upstream that records each request line. On its first connection it answers
    the first request and hangs up on the second after reading it (the stale keep-alive
    connection); later connections answer everything."""
    connections = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        first = connections[0] == 1
        for n in range(1_000):
            head = await read_head(reader)
            length = [line for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")]
            if length:
                await reader.readexactly(int(length[0].split(b":")[1]))
            requests.append(head.split(b"\r\n", 1)[0])
            if first and n == 1:
                return               # read it, close without a word
            writer.write(OK)
            await writer.drain()
    return handle


def captured_proxy(servers: Servers, upstream: str):  # type: ignore[no-untyped-def]
    """The proxy inside the capture middleware, as `asgi-inspector proxy` runs it."""
    from inspector import InspectorMiddleware
    from inspector.proxy import ProxyApp

    middleware = InspectorMiddleware(ProxyApp(upstream), tap=False)
    return servers.serve_proxy(middleware), middleware


def flows_of(middleware):  # type: ignore[no-untyped-def]
    from inspector import fold_events
    return [f for f in fold_events(middleware.events()) if f.type == "http"]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_request_is_never_sent_twice(servers: Servers, method: str) -> None:
    requests: list[bytes] = []
    proxy, middleware = captured_proxy(servers, servers.raw(recording_upstream(requests)).url)
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.get("/warm").text == "ok"
        response = client.request(method, "/pay", content=b"amount=10")
    assert response.status_code == 502
    assert response.headers["x-inspector-error"] == "connection closed"
    assert "closed the connection before responding" in response.text
    assert requests == [b"GET /warm HTTP/1.1", method.encode() + b" /pay HTTP/1.1"]
    flow = flows_of(middleware)[-1]
    assert flow.status == 502 and flow.path == "/pay"
    assert flow.notes == (f"not sent again after the reused connection failed: {method} is "
                          "not idempotent (RFC 9112 9.3.1)",)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_request_is_resent_and_the_capture_says_so(servers: Servers,
                                                              method: str) -> None:
    requests: list[bytes] = []
    raw = servers.raw(recording_upstream(requests))
    proxy, middleware = captured_proxy(servers, raw.url)
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.get("/warm").text == "ok"
        response = client.request(method, "/thing", content=b"v=1" if method == "PUT" else None)
    assert response.status_code == 200 and response.text == "ok"
    assert "asgi_inspector" not in str(response.headers).lower()
    line = method.encode() + b" /thing HTTP/1.1"
    assert requests == [b"GET /warm HTTP/1.1", line, line] and raw.connections == 2
    flows = flows_of(middleware)
    assert flows[0].notes == ()
    (note,) = flows[-1].notes
    assert note.startswith("sent upstream twice: upstream 127.0.0.1:")
    assert note.endswith(f"closed the connection before responding, on a reused connection, "
                         f"so the idempotent {method} was sent again on a new one")


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send `request` on a new connection; everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def date_of(head: bytes) -> str:
    """The one Date field of a response head (an assertion error if none or several)."""
    (date,) = [line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
               if line.lower().startswith(b"date:")]
    assert parsedate_to_datetime(date).tzinfo is not None
    return date


def h11_protocol():  # type: ignore[no-untyped-def]
    """The proxy's client-facing protocol, on uvicorn's h11 implementation."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from inspector.proxy.client_writes import CoalescingWrites

    class CoalescingH11(CoalescingWrites, H11Protocol):  # type: ignore[misc]
        pass
    return CoalescingH11


@pytest.mark.parametrize("server", ["httptools", "h11"])
def test_the_proxys_own_responses_carry_a_date(servers: Servers, server: str) -> None:
    from inspector.proxy import ProxyApp
    from tests.conftest import free_port

    options = {} if server == "httptools" else {"http": h11_protocol()}
    down = servers.serve_proxy(ProxyApp(f"http://127.0.0.1:{free_port()}"), **options)
    response = raw_exchange(down.port, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 502 ") and b"refused the connection" in response
    date_of(response.split(b"\r\n\r\n")[0])
    bad = raw_exchange(down.port, b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert bad.endswith(b"\r\n\r\nInvalid HTTP request received.")
    date_of(bad.split(b"\r\n\r\n")[0])


def test_504_carries_a_date(servers: Servers) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
    proxy = servers.proxy(servers.raw(silent).url, read_timeout=0.2)
    response = httpx.get(proxy.url + "/x", timeout=10)
    assert response.status_code == 504
    parsedate_to_datetime(response.headers["date"])


def test_a_forwarded_response_keeps_its_date_or_gets_one(servers: Servers) -> None:
    dated = b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Dec 2026 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_head(reader)
            writer.write(dated if b"/dated" in head else OK)
            await writer.drain()
    proxy = servers.proxy(servers.raw(handle).url)
    kept = raw_exchange(proxy.port, b"GET /dated HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert date_of(kept.split(b"\r\n\r\n")[0]) == "Sun, 06 Dec 2026 00:00:00 GMT"
    added = raw_exchange(proxy.port, b"GET /none HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    date_of(added.split(b"\r\n\r\n")[0])


def read_response_head(sock: socket.socket, seen: bytearray) -> bytes:
    """The next response head from `sock` (bytes after it stay in `seen`)."""
    while b"\r\n\r\n" not in seen:
        chunk = sock.recv(65536)
        assert chunk, f"the proxy closed the connection; it had sent {bytes(seen)!r}"
        seen += chunk
    head, _, rest = bytes(seen).partition(b"\r\n\r\n")
    seen[:] = rest
    return head


UPLOAD = (b"PUT /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
          b"Content-Length: 10\r\n\r\n")


def upstream_expecting(answer: str, got: list[bytes], go: threading.Event | None = None
                       ):  # type: ignore[no-untyped-def]
    """A raw upstream for a request with Expect: 100-continue: "refuse" answers 413 at once
    without reading the body, "continue" says 100 (once `go` is set) and reads it,
    "silent" reads it without a word, "late" too but sends a 100 before its answer. What
    it read of a body goes into `got`."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        assert b"\r\nexpect: 100-continue\r\n" in head.lower()
        if answer == "refuse":
            writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n"
                         b"Connection: close\r\n\r\nbig")
            await writer.drain()
            return
        if answer == "continue":
            if go is not None:
                await wait_thread_event(go)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        got.append(await reader.readexactly(10))
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + OK if answer == "late" else OK)
        await writer.drain()
        await reader.read()
    return handle


def test_expect_continue_final_answer_goes_back_without_a_100(servers: Servers) -> None:
    proxy = servers.proxy(servers.raw(upstream_expecting("refuse", [])).url)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(UPLOAD)
        seen = bytearray()
        head = read_response_head(sock, seen)
        assert head.startswith(b"HTTP/1.1 413 ")
        assert b"100 Continue" not in head
        while len(seen) < 3:
            seen += sock.recv(100)
        assert bytes(seen) == b"big"


def test_expect_continue_waits_for_the_upstreams_100(servers: Servers,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The proxy must not give up waiting while this test checks that it says nothing.
    monkeypatch.setattr("inspector.proxy.http.CONTINUE_WAIT", 30.0)
    got: list[bytes] = []
    go = threading.Event()
    proxy = servers.proxy(servers.raw(upstream_expecting("continue", got, go)).url)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(UPLOAD)
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(100)             # no 100 from the proxy while the upstream is silent
        sock.settimeout(10)
        go.set()
        seen = bytearray()
        assert read_response_head(sock, seen) == b"HTTP/1.1 100 Continue"
        sock.sendall(b"0123456789")
        assert read_response_head(sock, seen).startswith(b"HTTP/1.1 200 OK\r\n")
    assert got == [b"0123456789"]


@pytest.mark.parametrize("answer", ["silent", "late"])
def test_expect_continue_sends_the_body_after_a_silent_second(servers: Servers,
                                                              answer: str) -> None:
    """Silent: the upstream reads the body without a word; late: it says 100 only with
    its answer, after the body came."""
    got: list[bytes] = []
    proxy = servers.proxy(servers.raw(upstream_expecting(answer, got)).url)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(UPLOAD)
        seen = bytearray()
        assert read_response_head(sock, seen) == b"HTTP/1.1 100 Continue"
        sock.sendall(b"0123456789")
        assert read_response_head(sock, seen).startswith(b"HTTP/1.1 200 OK\r\n")
    assert got == [b"0123456789"]


@pytest.mark.parametrize("answer, status", [("refuse", "413"), ("continue", "200")])
def test_curl_with_expect_continue(servers: Servers, tmp_path: Path, answer: str,
                                   status: str) -> None:
    got: list[bytes] = []
    proxy = servers.proxy(servers.raw(upstream_expecting(answer, got)).url)
    upload = tmp_path / "upload"
    upload.write_bytes(b"0123456789")
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                           "-H", "Expect: 100-continue", "--data-binary", f"@{upload}",
                           "--expect100-timeout", "30", proxy.url + "/upload"],
                          capture_output=True, timeout=30)
    assert done.stdout.decode() == status
    assert got == ([b"0123456789"] if answer == "continue" else [])


@pytest.mark.parametrize("method, resent", [("PUT", True), ("POST", False)])
def test_expect_continue_on_a_stale_connection(servers: Servers, method: str,
                                               resent: bool) -> None:
    """Nothing of the body was read when the reused connection died: an idempotent
    request goes again on a new one; any other is a 502, and the client never uploads."""
    heads: list[bytes] = []
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await read_head(reader))
        if heads[-1].startswith(b"GET /warm "):
            writer.write(OK)
            await writer.drain()
            heads.append(await read_head(reader))
            return                     # hang up on the request that came next
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        got.append(await reader.readexactly(10))
        writer.write(OK)
        await writer.drain()
        await reader.read()

    proxy = servers.proxy(servers.raw(handle).url)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        seen = bytearray()
        sock.sendall(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response_head(sock, seen).startswith(b"HTTP/1.1 200 ")
        del seen[:2]                   # its body, "ok"
        sock.sendall(UPLOAD.replace(b"PUT", method.encode()))
        head = read_response_head(sock, seen)
        if resent:
            assert head == b"HTTP/1.1 100 Continue"
            sock.sendall(b"0123456789")
            assert read_response_head(sock, seen).startswith(b"HTTP/1.1 200 OK\r\n")
        else:
            assert head.startswith(b"HTTP/1.1 502 ")
    line = method.encode() + b" /upload HTTP/1.1"
    assert [h.split(b"\r\n")[0] for h in heads] == \
        [b"GET /warm HTTP/1.1", line] + ([line] if resent else [])
    assert got == ([b"0123456789"] if resent else [])
