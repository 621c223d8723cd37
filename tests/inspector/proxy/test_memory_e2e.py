"""100 MiB each way through a proxy in its own process, whose peak memory must stay flat:
proof that bodies stream with backpressure instead of being buffered."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx

from tests.conftest import free_port
from tests.inspector.proxy.apps import UpstreamState
from tests.inspector.proxy.conftest import Process, ServerThread

MiB = 1024 * 1024
SIZE = 100 * MiB
LIMIT = 20 * MiB


def peak_rss(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def body(size: int) -> Iterator[bytes]:
    block = b"u" * MiB
    for _ in range(size // MiB):
        yield block


def test_100_mib_up_and_down_with_flat_memory(upstream: ServerThread, state: UpstreamState,
                                              spawn: Callable[[str, int], Process]) -> None:
    port = free_port()
    proxy = spawn("import uvicorn\n"
                  "from inspector.proxy import SERVE_OPTIONS, ProxyApp\n"
                  f"uvicorn.run(ProxyApp({upstream.url!r}), host='127.0.0.1', port={port}, "
                  "log_level='warning', **SERVE_OPTIONS)", port)
    pid = proxy.proc.pid
    with httpx.Client(base_url=proxy.url, timeout=60) as client:
        # Warm up: imports, buffers and the first connection are not what is measured.
        assert client.post("/upload", content=body(2 * MiB)).json() == {"bytes": 2 * MiB}
        assert len(client.get(f"/download?size={2 * MiB}").content) == 2 * MiB
        before = peak_rss(pid)

        response = client.post("/upload", content=body(SIZE))
        assert response.json() == {"bytes": SIZE}
        after_upload = peak_rss(pid)

        total = 0
        with client.stream("GET", f"/download?size={SIZE}") as download:
            assert download.headers["content-length"] == str(SIZE)
            for chunk in download.iter_raw():
                total += len(chunk)
        assert total == SIZE
        after_download = peak_rss(pid)

    print(f"\nproxy peak RSS: {before / MiB:.1f} MiB before, +{(after_upload - before) / MiB:.1f}"
          f" MiB after 100 MiB up, +{(after_download - before) / MiB:.1f} MiB after 100 MiB down")
    assert after_upload - before < LIMIT
    assert after_download - before < LIMIT
