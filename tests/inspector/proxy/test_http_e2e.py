"""HTTP through the proxy against a real uvicorn upstream, driven by httpx and curl."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import httpx
import pytest

from inspector.proxy import ProxyApp
from tests.inspector.proxy.apps import UpstreamState, read_head
from tests.inspector.proxy.conftest import Servers, ServerThread

HOP = {b"connection", b"keep-alive", b"transfer-encoding"}


def end_to_end(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """Response headers minus the hop-by-hop ones, date masked (it may tick between)."""
    return [(n.lower(), b"<date>" if n.lower() == b"date" else v)
            for n, v in response.headers.raw if n.lower() not in HOP]


def chunks() -> Any:
    for i in range(5):
        yield f"chunk{i}-".encode() * 100


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/hello", {}),
    ("GET", "/chunked", {}),
    ("HEAD", "/hello", {}),
    ("HEAD", "/chunked", {}),
    ("GET", "/empty", {}),
    ("GET", "/cached", {}),
    ("GET", "/cached", {"headers": {"if-none-match": '"v1"'}}),
    ("POST", "/echo", {"content": b"x" * 5000}),
    ("PUT", "/echo", {"content": chunks}),
    ("GET", "/download?size=300000", {}),
    ("GET", "/nowhere", {}),
]


@pytest.mark.parametrize("method, path, kwargs", REQUESTS,
                         ids=[f"{m} {p} {sorted(k)}" for m, p, k in REQUESTS])
def test_identical_direct_and_proxied(upstream: ServerThread, proxy: ServerThread, method: str,
                                      path: str, kwargs: dict[str, Any]) -> None:
    def fetch(base: str) -> httpx.Response:
        args = dict(kwargs)
        if callable(args.get("content")):
            args["content"] = args["content"]()
        return httpx.request(method, base + path, **args)

    direct, proxied = fetch(upstream.url), fetch(proxy.url)
    assert proxied.status_code == direct.status_code
    assert proxied.content == direct.content
    assert end_to_end(proxied) == end_to_end(direct)
    names = [n.lower() for n, _ in proxied.headers.raw]
    assert names.count(b"server") == 1 and names.count(b"date") == 1


def curl(*args: str) -> bytes:
    return subprocess.run(["curl", "-sS", "--raw", *args], capture_output=True, check=True,
                          timeout=20).stdout


@pytest.mark.parametrize("args", [["-i", "/hello"], ["-i", "/chunked"], ["-I", "/hello"],
                                  ["-i", "-X", "POST", "--data-binary", "abc", "/echo"]])
def test_curl_sees_byte_identical_responses(upstream: ServerThread, proxy: ServerThread,
                                            args: list[str]) -> None:
    def fetch(base: str) -> bytes:
        raw = curl(*args[:-1], base + args[-1])
        lines = raw.split(b"\r\n")
        return b"\r\n".join(b"date: <date>" if line.startswith(b"date: ") else line
                            for line in lines)

    direct = fetch(upstream.url)
    assert fetch(proxy.url) == direct
    assert direct.startswith(b"HTTP/1.1 ")


def test_hop_by_hop_request_headers_not_forwarded(proxy: ServerThread) -> None:
    raw = curl("-H", "Connection: x-hop", "-H", "X-Hop: 1", "-H", "TE: trailers",
               "-H", "Proxy-Authorization: Basic eA==", "-H", "X-End: 2",
               proxy.url + "/headers")
    names = {name for name, _ in json.loads(raw)["headers"]}
    assert "x-end" in names
    assert not names & {"x-hop", "te", "proxy-authorization", "connection"}


def test_host_rewritten_and_path_query_kept(upstream: ServerThread, proxy: ServerThread) -> None:
    seen = httpx.get(proxy.url + "/headers/../headers?a=1&b=%20").json()
    headers = dict(seen["headers"])
    assert headers["host"] == f"127.0.0.1:{upstream.port}"
    assert seen["query"] == "a=1&b=%20"
    assert "x-forwarded-for" not in headers


def test_keep_host_and_forwarded(servers: Servers, upstream: ServerThread) -> None:
    proxy = servers.proxy(upstream.url, keep_host=True, forwarded=True)
    seen = httpx.get(proxy.url + "/headers", headers={"x-forwarded-for": "203.0.113.9"}).json()
    headers = dict(seen["headers"])
    assert headers["host"] == f"127.0.0.1:{proxy.port}"
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == f"127.0.0.1:{proxy.port}"


async def test_sse_first_event_arrives_before_upstream_finishes(
        proxy: ServerThread, state: UpstreamState) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", proxy.url + "/sse") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            assert await anext(lines) == "data: first"
            # The upstream is still blocked on `release`: the event came through unbuffered.
            assert not state.release.is_set()
            state.release.set()
            rest = [line async for line in lines]
    assert "data: second" in rest


async def test_slow_request_body_streams_through(proxy: ServerThread,
                                                 state: UpstreamState) -> None:
    async def body() -> Any:
        yield b"a" * 1000
        # The upstream must see the first chunk before the client sends the second.
        deadline = asyncio.get_running_loop().time() + 5
        while not state.first_chunk.is_set():
            assert asyncio.get_running_loop().time() < deadline, "first chunk not forwarded"
            await asyncio.sleep(0.002)
        for _ in range(5):
            await asyncio.sleep(0.02)   # a slow client, not synchronisation
            yield b"b" * 1000

    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(proxy.url + "/upload", content=body())
    assert response.json() == {"bytes": 6000}
    assert len(state.upload_chunks) >= 2


def test_large_download_keeps_content_length(proxy: ServerThread) -> None:
    size = 8 * 1024 * 1024 + 3
    with httpx.stream("GET", f"{proxy.url}/download?size={size}") as response:
        assert response.headers["content-length"] == str(size)
        total = sum(len(chunk) for chunk in response.iter_raw())
    assert total == size


def test_keep_alive_reuses_one_upstream_connection(proxy: ServerThread,
                                                   state: UpstreamState) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(10):
            assert client.get("/client").status_code == 200
        assert client.post("/echo", content=b"body").content == b"body"
        client.get("/client")
    assert len(state.client_ports) == 11
    assert len(set(state.client_ports)) == 1


def test_connection_close_from_upstream_is_not_reused(proxy: ServerThread,
                                                      state: UpstreamState) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        for _ in range(3):
            response = client.get("/client?close=1")
            assert response.status_code == 200 and response.text.isdigit()
    assert len(set(state.client_ports)) == 3


async def test_concurrent_requests_use_several_connections(proxy: ServerThread,
                                                           state: UpstreamState) -> None:
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        async def one() -> str:
            return (await client.get("/client")).text
        for _ in range(3):
            results = await asyncio.gather(*(one() for _ in range(8)))
            assert all(r.isdigit() for r in results)
    # Pooled connections were reused across the three rounds.
    assert len(set(state.client_ports)) <= 16 and len(state.client_ports) == 24


@pytest.mark.parametrize("extra", [[], ["-H", "Transfer-Encoding: chunked"]],
                         ids=["content-length", "chunked"])
def test_curl_upload_with_expect_continue(proxy: ServerThread, tmp_path: Any,
                                          extra: list[str]) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"z" * (3 * 1024 * 1024 + 1))   # over 1 MiB: curl sends Expect
    out = subprocess.run(["curl", "-sS", "-v", *extra, "--data-binary", f"@{payload}",
                          proxy.url + "/upload"], capture_output=True, check=True, timeout=20)
    assert json.loads(out.stdout) == {"bytes": 3 * 1024 * 1024 + 1}
    assert b"Expect: 100-continue" in out.stderr


async def test_pool_keeps_every_connection_that_was_in_use(servers: Servers) -> None:
    """30 requests at once need 30 upstream connections; the next 30 reuse them all."""
    width = 30
    arrived = asyncio.Event()   # set in the raw server's loop, read there too
    heads = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            heads[0] += 1
            if heads[0] == width:
                arrived.set()
            await asyncio.wait_for(arrived.wait(), 10)   # answer once all are in flight
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    raw = servers.raw(handle)
    app = ProxyApp(raw.url)
    proxy = servers.serve_proxy(app)
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(base_url=proxy.url, limits=limits, timeout=10) as client:
        for _ in range(2):
            responses = await asyncio.gather(*(client.get("/") for _ in range(width)))
            assert [r.text for r in responses] == ["ok"] * width
    assert raw.connections == width
    assert app.pool.idle == width
