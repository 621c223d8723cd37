"""rediss:// with a password: a TLS-only redis-server that requires AUTH."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector import InspectorMiddleware
from tests.apps import starlette_app
from tests.conftest import free_port, wait_for
from tests.inspector.tap.redis.conftest import REDIS_SERVER, run_cli

PASSWORD = "tls-pa55word"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (it makes the test's certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
         "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.create_default_context(cafile=str(cert))

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, \
                    context.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
        except OSError:
            return False
    try:
        wait_for(up, timeout=10, interval=0.05)
        yield port, cert
    finally:
        proc.kill()
        proc.wait(10)


def test_publish_and_export_over_tls_with_a_password(serve: Any,
                                                     tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?stream=tls&ssl_ca_certs={cert}"
    mw = InspectorMiddleware(starlette_app(), tap=False, publish=url)
    server = serve(mw, lifespan="off")
    assert httpx.get(server.url + "/hello?over=tls", timeout=5).status_code == 200
    sink = mw.publisher.redis
    wait_for(lambda: sink is not None and sink.published >= 3, timeout=10)

    result = run_cli("export", url, "--format", "curl")
    assert result.returncode == 0, result.stderr
    assert "/hello?over=tls" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr

    wrong = url.replace(PASSWORD, "not-it")
    result = run_cli("export", wrong, "--format", "curl")
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "not-it" not in result.stderr and ":***@" in result.stderr
