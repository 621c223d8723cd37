"""flow_to_curl: every command runs in a POSIX shell (dash and bash) and hands curl exactly
the captured method, URL, headers and body, whatever hostile bytes they hold.

A stub `curl` first on PATH records its argv and stdin as bytes, so these tests need no
network; tests/inspector/io/test_export_curl.py runs the real curl against a real server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.flows.model import Flow
from inspector.io.curl import flow_to_curl
from inspector.io.secrets import MASK

SHELLS = [sh for sh in ("sh", "dash", "bash") if shutil.which(sh)]
HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} ; & | < > * ? ~ ! \\ %"

STUB = f"""#!{sys.executable} -S
import json, os, sys
data = sys.stdin.buffer.read()
argv = [os.fsencode(a).hex() for a in sys.argv[1:]]
with open(os.environ["CURL_STUB_OUT"], "w") as f:
    json.dump({{"argv": argv, "stdin": data.hex()}}, f)
"""


class Called:
    """What the stub curl was given."""

    def __init__(self, argv: list[bytes], stdin: bytes) -> None:
        self.argv = argv
        self.stdin = stdin

    def values(self, option: bytes) -> list[bytes]:
        return [self.argv[i + 1] for i, a in enumerate(self.argv[:-1]) if a == option]

    @property
    def headers(self) -> list[bytes]:
        return self.values(b"-H")

    @property
    def url(self) -> bytes:
        return next(a for a in self.argv if a.startswith((b"http://", b"https://")))


@pytest.fixture
def run(tmp_path: Path) -> Any:
    """run(command or flow, shell) -> Called: the command under `shell`, stub curl first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "curl"
    stub.write_text(STUB)
    stub.chmod(0o755)
    out = tmp_path / "called.json"
    work = tmp_path / "cwd"
    work.mkdir()

    def call(command: str | Flow, shell: str = "sh") -> Called:
        if isinstance(command, Flow):
            command = flow_to_curl(command)
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "CURL_STUB_OUT": str(out)}
        script = tmp_path / "command.sh"     # a file, as an export is: no argv limit
        script.write_text(command + "\n")
        subprocess.run([shell, "-n", str(script)], check=True, env=env, cwd=work)
        subprocess.run([shell, str(script)], check=True, env=env, cwd=work,
                       stdin=subprocess.DEVNULL, timeout=10)
        assert list(work.iterdir()) == []       # nothing in the command ran but curl
        data = json.loads(out.read_text())
        return Called([bytes.fromhex(a) for a in data["argv"]], bytes.fromhex(data["stdin"]))
    return call


def flow(method: str = "GET", body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
         **kw: Any) -> Flow:
    base = [(b"host", b"api.test:8000"), (b"user-agent", b"ua/1"), (b"accept", b"*/*")]
    f = Flow(7, "http", scheme="http", http_version="1.1", method=method,
             path=kw.pop("path", "/p"), raw_path=kw.pop("raw_path", b""),
             query=kw.pop("query", b""), server=("127.0.0.1", 8000),
             request_headers=base + (headers or []), request_body=body,
             request_body_size=len(body))
    for key, value in kw.items():
        setattr(f, key, value)
    return f


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_header_values_arrive_intact(run: Any, shell: str) -> None:
    headers = [(b"x-hostile", HOSTILE.encode()), (b"x-latin1", b"caf\xe9 \xff"),
               (b"x-control", b"a\x1b[31mred\x07"), (b"x-utf8", "ünï \u202ertl".encode()),
               (b"x-empty", b"")]
    called = run(flow(headers=headers), shell)
    assert called.headers == [b"user-agent: ua/1", b"accept: */*",
                              b"x-hostile: " + HOSTILE.encode(), b"x-latin1: caf\xe9 \xff",
                              b"x-control: a\x1b[31mred\x07", "x-utf8: ünï \u202ertl".encode(),
                              b"x-empty;"]
    assert called.url == b"http://api.test:8000/p"


@pytest.mark.parametrize("shell", SHELLS)
def test_bodies_arrive_byte_for_byte(run: Any, shell: str) -> None:
    binary = bytes(range(256)) + b"\n\n"          # NUL, invalid UTF-8, trailing newlines
    called = run(flow("POST", binary, [(b"content-type", b"application/octet-stream")]), shell)
    assert called.stdin == binary and called.values(b"--data-binary") == [b"@-"]
    text = (HOSTILE + "\n  indented\n\n").encode()
    called = run(flow("POST", text, [(b"content-type", b"text/plain")]), shell)
    assert called.values(b"--data-raw") == [text] and called.stdin == b""
    at = b"@/etc/passwd"                              # --data-raw: no file is read
    assert run(flow("POST", at, [(b"content-type", b"text/plain")]), shell).values(
        b"--data-raw") == [at]


def test_a_long_body_goes_through_printf_not_argv(run: Any) -> None:
    body = b"x" * (300 * 1024)              # over Linux's 128 KiB limit for one argv string
    command = flow_to_curl(flow("PUT", body, [(b"content-type", b"text/plain")]))
    assert command.startswith("printf '%b' 'xxx") and " | curl " in command
    assert run(command).stdin == body


def test_methods() -> None:
    def first_line(method: str, body: bytes = b"") -> str:
        return flow_to_curl(flow(method, body)).split(" \\\n")[0]
    url = "http://api.test:8000/p"
    assert first_line("GET") == f"curl --http1.1 {url}"
    assert first_line("POST", b"x") == f"curl --http1.1 {url}"
    assert first_line("POST") == f"curl --http1.1 -X POST {url}"
    assert first_line("GET", b"x") == f"curl --http1.1 -X GET {url}"
    assert first_line("PUT", b"x") == f"curl --http1.1 -X PUT {url}"
    assert first_line("HEAD") == f"curl --http1.1 --head {url}"
    assert first_line("DELETE") == f"curl --http1.1 -X DELETE {url}"


def test_what_curl_would_add_or_change_is_held_back(run: Any) -> None:
    bare = Flow(1, "http", scheme="https", http_version="2", method="POST", path="/",
                request_headers=[(b"host", b"h.test"), (b"content-length", b"3")],
                request_body=b"a=b" * 500, request_body_size=1500)
    called = run(flow_to_curl(bare))
    assert called.argv[0] == b"--http2"
    assert called.headers == [b"Content-Type:", b"User-Agent:", b"Accept:", b"Expect:"]
    assert called.url == b"https://h.test/"      # Host matched the URL: left to curl


def test_compressed_when_the_client_asked_for_a_coding(run: Any) -> None:
    called = run(flow_to_curl(flow(headers=[(b"accept-encoding", b"gzip, br")])))
    assert b"--compressed" in called.argv and b"accept-encoding: gzip, br" in called.headers
    plain = run(flow_to_curl(flow(headers=[(b"accept-encoding", b"identity")])))
    assert b"--compressed" not in plain.argv


def test_base_url_sends_elsewhere_and_keeps_the_host(run: Any) -> None:
    called = run(flow_to_curl(flow(query=b"a=1"), base_url="http://127.0.0.1:9/"))
    assert called.url == b"http://127.0.0.1:9/p?a=1"
    assert called.headers[0] == b"host: api.test:8000"


def test_urls_are_exact_and_safe(run: Any) -> None:
    f = flow(raw_path=b"/a/../b/[x]", query=b"q='$(id)'&r=`x` y&s=\xff")
    called = run(flow_to_curl(f))
    assert called.url == b"http://api.test:8000/a/../b/[x]?q='$(id)'&r=%60x%60%20y&s=%FF"
    assert b"--path-as-is" in called.argv and b"--globoff" in called.argv


def test_secrets_masked_unless_asked(run: Any) -> None:
    f = flow(headers=[(b"authorization", b"Bearer tok"), (b"cookie", b"sid=abc; t=1"),
                      (b"x-private", b"p")])
    masked = run(flow_to_curl(f, secret_headers=["X-Private"])).headers
    assert f"authorization: Bearer {MASK}".encode() in masked
    assert f"cookie: sid={MASK}; t={MASK}".encode() in masked
    assert f"x-private: {MASK}".encode() in masked
    kept = run(flow_to_curl(f, include_secrets=True)).headers
    assert b"authorization: Bearer tok" in kept and b"cookie: sid=abc; t=1" in kept


def test_truncated_body_is_flagged_and_still_runs(run: Any) -> None:
    f = flow("POST", b"partial", [(b"content-type", b"text/plain")],
             request_body_size=100, request_body_truncated=True)
    command = flow_to_curl(f)
    assert command.startswith("# asgi-inspector: only 7 of 100 body bytes were captured")
    assert run(command).values(b"--data-raw") == [b"partial"]


def test_versions_and_refusals() -> None:
    assert flow_to_curl(flow(http_version="1.0")).startswith("curl --http1.0 ")
    assert flow_to_curl(flow(http_version="3")).startswith("curl --http3 ")
    with pytest.raises(ValueError, match="websocket"):
        flow_to_curl(Flow(1, "websocket"))


def test_output_is_readable() -> None:
    command = flow_to_curl(flow("POST", b'{"a": 1}', [(b"content-type", b"application/json")]))
    assert command == (
        "curl --http1.1 http://api.test:8000/p \\\n"
        "  -H 'user-agent: ua/1' \\\n"
        "  -H 'accept: */*' \\\n"
        "  -H 'content-type: application/json' \\\n"
        "  --data-raw '{\"a\": 1}'")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.binary(min_size=1, max_size=40).filter(
           lambda v: b"\0" not in v and not v.endswith(b"\n") and v.strip() == v and v),
       body=st.binary(max_size=200),
       method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
def test_any_bytes_survive_the_shell(run: Any, value: bytes, body: bytes, method: str) -> None:
    called = run(flow(method, body, [(b"x-any", value), (b"content-type", b"a/b")]))
    assert b"x-any: " + value in called.headers
    sent = called.stdin if called.values(b"--data-binary") else b"".join(
        called.values(b"--data-raw"))
    assert sent == body
