"""The command line with Redis URLs: bad ones, a missing client, a dead server: one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import free_port
from tests.inspector.tap.redis.conftest import ROOT, RedisServer, run_cli


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", [
    ("export", "redis://h/notadb", "--format", "har"),
    ("replay", "redis://h/notadb", "--to", "http://127.0.0.1:1"),
    ("open", "redis://h/notadb"),
    ("tui", "redis://h/notadb"),
    ("run", "tests.apps:app", "--publish", "redis://h/notadb", "--headless"),
    ("demo", "--publish", "redis://h/notadb", "--headless"),
    ("proxy", "http://127.0.0.1:1", "--publish", "redis://h/notadb", "--headless"),
])
def test_bad_urls_give_one_line(args: tuple[str, ...]) -> None:
    line = one_line_error(run_cli(*args))
    assert "the database is a number" in line and line.startswith("asgi-inspector: ")


def test_bad_scheme_and_host_in_env(tmp_path: object) -> None:
    line = one_line_error(run_cli("run", "tests.apps:app", "--headless", "--port",
                                  str(free_port()),
                                  env={"ASGI_INSPECTOR_PUBLISH": "redis://:pw@/0"}))
    assert "no host" in line and "pw" not in line


def test_unreachable_server_is_one_line_and_masks_the_password() -> None:
    port = free_port()              # nothing listens there
    line = one_line_error(run_cli("export", f"redis://:hunter2@127.0.0.1:{port}/0",
                                  "--format", "har"))
    assert "hunter2" not in line and ":***@" in line and "connect" in line.lower()


def test_empty_stream_says_so(redis_server: RedisServer) -> None:
    line = one_line_error(run_cli("export", redis_server.url("nothing"), "--format", "har"))
    assert "stream 'nothing' holds no events" in line


# `import redis` made to fail in a fresh interpreter: the message names the extra.
NO_REDIS = ("import sys; sys.modules['redis'] = None; "
            "from inspector.cli.main import main; main(sys.argv[1:])")


@pytest.mark.parametrize("args", [
    ("export", "redis://127.0.0.1:6379/0", "--format", "har"),
    ("tui", "redis://127.0.0.1:6379/0"),
    ("run", "tests.apps:app", "--publish", "redis://127.0.0.1:6379/0", "--headless"),
])
def test_without_the_redis_client_the_error_names_the_extra(args: tuple[str, ...]) -> None:
    result = subprocess.run([sys.executable, "-c", NO_REDIS, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    line = one_line_error(result)
    assert "pip install 'asgi-inspector[redis]'" in line


def test_without_the_redis_client_the_middleware_refuses_in_one_line() -> None:
    code = ("import sys; sys.modules['redis'] = None\n"
            "from inspector import InspectorMiddleware\n"
            "try:\n"
            "    InspectorMiddleware(lambda s, r, c: None, publish='redis://h/0')\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.strip() == ("RedisMissing Redis support needs the redis client: "
                                     "pip install 'asgi-inspector[redis]'")


def test_publishing_does_not_load_redis_until_it_starts() -> None:
    code = ("import sys\nfrom inspector import InspectorMiddleware\n"
            "InspectorMiddleware(lambda s, r, c: None, tap=False, publish='redis://h/0')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_key_that_is_not_a_stream_and_a_missing_password(redis_server: RedisServer) -> None:
    assert redis_server.command("SET", "plain", "1") == "OK"
    line = one_line_error(run_cli("export", redis_server.url("plain"), "--format", "har"))
    assert "holds something other than a stream" in line
    assert redis_server.command("CONFIG", "SET", "requirepass", "pw") == "OK"
    line = one_line_error(run_cli("export", redis_server.url("plain"), "--format", "har"))
    assert "requires a password" in line
