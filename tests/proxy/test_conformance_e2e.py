"""RFC 9110/9112 duties of the proxy, against raw upstreams that misbehave on purpose:
no automatic resend of a non-idempotent request, one response-head limit however the
head is cut into reads, Expect: 100-continue passed on, and a Date on the proxy's own
responses."""

from __future__ import annotations

import asyncio
import socket
from email.utils import parsedate_to_datetime

import httpx
import pytest

from inspector.proxy.parse import MAX_HEAD
from tests.proxy.apps import read_head
from tests.proxy.conftest import Servers

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
