"""https:// and wss:// upstreams: the certificate checked against a CA (a throwaway one
made by trustme here), SNI sent, and the failures a user meets said in one line."""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import trustme
import websockets

from tests.conftest import free_port, wait_for
from tests.inspector.proxy.apps import UpstreamState, read_head, upstream_app
from tests.inspector.proxy.conftest import ROOT, Servers

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Authority:
    ca_file: str          # the CA's certificate (what --ca-file takes)
    key_file: str         # the server's key and certificate, for localhost and 127.0.0.1
    cert_file: str
    ca: trustme.CA

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    paths = [where / "ca.pem", where / "key.pem", where / "cert.pem"]
    ca.cert_pem.write_to_path(str(paths[0]))
    cert.private_key_pem.write_to_path(str(paths[1]))
    cert.cert_chain_pems[0].write_to_path(str(paths[2]))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(paths[2]), append=True)
    yield Authority(*(str(p) for p in paths), ca)


def tls_upstream(servers: Servers, test_ca: Authority, seen: list[tuple[str | None, bytes]]):  # type: ignore[no-untyped-def]
    """A raw TLS upstream that records the SNI name and Host header of each request."""
    context = test_ca.server_context()
    names: list[str | None] = []

    def sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name)
    context.sni_callback = sni      # type: ignore[assignment]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_head(reader)
            host = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                    if line.lower().startswith(b"host:")]
            seen.append((names[-1] if names else None, host[0]))
            writer.write(OK)
            await writer.drain()
    return servers.raw(handle, ssl=context)


def test_https_upstream_verified_against_the_ca_file_with_sni(servers: Servers,
                                                              test_ca: Authority) -> None:
    seen: list[tuple[str | None, bytes]] = []
    raw = tls_upstream(servers, test_ca, seen)
    proxy = servers.proxy(f"https://localhost:{raw.port}", ca_file=test_ca.ca_file)
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.get("/a").text == "ok"
        assert client.get("/b").text == "ok"      # on the pooled TLS connection
    assert seen == [("localhost", f"localhost:{raw.port}".encode())] * 2
    assert raw.connections == 1


def test_untrusted_certificate_is_a_502_that_says_why(servers: Servers,
                                                      test_ca: Authority) -> None:
    raw = tls_upstream(servers, test_ca, [])
    proxy = servers.proxy(f"https://localhost:{raw.port}")    # the system's CAs only
    response = httpx.get(proxy.url + "/a", timeout=10)
    assert response.status_code == 502
    assert response.headers["x-inspector-error"] == "certificate not trusted"
    assert response.text == (f"502 Bad Gateway: upstream localhost:{raw.port} presented a "
                             "certificate that was not accepted: unable to get local issuer "
                             "certificate (trust its CA with --ca-file, or skip the check "
                             "with --insecure)\n")


def test_a_certificate_for_another_name_is_refused(servers: Servers,
                                                  test_ca: Authority) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.ca.issue_cert("elsewhere.test").configure_cert(context)
    raw = servers.raw(lambda reader, writer: reader.read(), ssl=context)
    proxy = servers.proxy(f"https://127.0.0.1:{raw.port}", ca_file=test_ca.ca_file)
    response = httpx.get(proxy.url + "/a", timeout=10)
    assert response.status_code == 502
    assert "was not accepted: IP address mismatch, certificate is not valid for " \
           "'127.0.0.1'" in response.text


def test_insecure_skips_the_check(servers: Servers, test_ca: Authority) -> None:
    seen: list[tuple[str | None, bytes]] = []
    raw = tls_upstream(servers, test_ca, seen)
    proxy = servers.proxy(f"https://localhost:{raw.port}", insecure=True)
    assert httpx.get(proxy.url + "/a", timeout=10).text == "ok"
    assert seen == [("localhost", f"localhost:{raw.port}".encode())]


def test_https_and_wss_through_a_real_tls_server(servers: Servers, test_ca: Authority) -> None:
    upstream = servers.serve(upstream_app(UpstreamState()), ssl_keyfile=test_ca.key_file,
                             ssl_certfile=test_ca.cert_file)
    proxy = servers.proxy(f"https://127.0.0.1:{upstream.port}", ca_file=test_ca.ca_file)
    assert httpx.get(proxy.url + "/hello", timeout=10).text == "hello, world"
    echoed = httpx.post(proxy.url + "/echo", content=b"x" * 200_000, timeout=10)
    assert echoed.content == b"x" * 200_000

    async def chat() -> None:
        url = proxy.url.replace("http://", "ws://") + "/ws/echo"
        async with websockets.connect(url) as ws:
            await ws.send("hi")
            assert await ws.recv() == "echo:hi"
            await ws.send(b"\x00" * 100_000)
            assert await ws.recv() == b"echo:" + b"\x00" * 100_000
    asyncio.run(chat())
    wss = servers.proxy(f"wss://127.0.0.1:{upstream.port}", ca_file=test_ca.ca_file)

    async def chat_wss() -> None:
        async with websockets.connect(wss.url.replace("http://", "ws://") + "/ws/echo") as ws:
            await ws.send("again")
            assert await ws.recv() == "echo:again"
    asyncio.run(chat_wss())


def test_wss_with_an_untrusted_certificate_is_refused(servers: Servers,
                                                      test_ca: Authority) -> None:
    upstream = servers.serve(upstream_app(UpstreamState()), ssl_keyfile=test_ca.key_file,
                             ssl_certfile=test_ca.cert_file)
    proxy = servers.proxy(f"wss://127.0.0.1:{upstream.port}")

    async def chat() -> None:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(proxy.url.replace("http://", "ws://") + "/ws/echo"):
                pass
        assert refused.value.response.status_code == 502
        assert b"was not accepted" in refused.value.response.body
    asyncio.run(chat())


@pytest.mark.parametrize("args, says", [
    (["https://localhost:1", "--ca-file", "/nonexistent/ca.pem"],
     "CA file '/nonexistent/ca.pem' does not exist"),
    (["https://localhost:1", "--ca-file", __file__], "could not be read as PEM certificates"),
    (["http://localhost:1", "--insecure"], "apply to https:// and wss:// upstreams only"),
])
def test_cli_tls_mistakes_are_one_line(args: list[str], says: str) -> None:
    done = subprocess.run([sys.executable, "-m", "inspector.cli.main", "proxy", *args,
                           "--headless", "--no-tap", "--listen", "127.0.0.1:0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert done.stderr.startswith("asgi-inspector: ")


def test_cli_proxies_an_https_upstream_with_a_ca_file(servers: Servers,
                                                     test_ca: Authority) -> None:
    seen: list[tuple[str | None, bytes]] = []
    raw = tls_upstream(servers, test_ca, seen)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "inspector.cli.main", "proxy",
                             f"https://localhost:{raw.port}", "--ca-file", test_ca.ca_file,
                             "--listen", f"127.0.0.1:{port}", "--headless", "--no-tap"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def answered() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/a", timeout=0.5).text == "ok"
        except httpx.HTTPError:
            return False
    try:
        wait_for(answered, timeout=20)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"-> https://localhost:{raw.port}" in err and "Traceback" not in err
    assert " GET /a 200 " in out and seen[0][0] == "localhost"
