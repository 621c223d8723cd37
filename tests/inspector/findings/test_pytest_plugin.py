"""The pytest plugin, run as a user runs it: pytest in a subprocess on a small project
with a passing, a failing and a protocol-violating test, FastAPI and Starlette apps,
sync and async tests, through TestClient and httpx.ASGITransport."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inspector import read_capture
from inspector.cli.pytest_plugin import safe_name

PROJECT = '''
import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

api = FastAPI()


@api.get("/hello")
async def hello() -> dict:
    return {"hello": "world"}


async def ping(request):
    return PlainTextResponse("pong")

site = Starlette(routes=[Route("/ping", ping)])


async def rude(scope, receive, send):
    """Answers 204 with a body: SEM002, an error finding."""
    await receive()
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b"nope"})


def test_passes():
    assert TestClient(api).get("/hello").json() == {"hello": "world"}


def test_fails():
    response = TestClient(site).get("/ping")
    assert response.text == "pang"


async def test_violates():
    transport = httpx.ASGITransport(app=rude)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/x")).status_code == 204


def test_fixture(asgi_capture):
    TestClient(api).get("/hello")
    TestClient(api).get("/missing")
    flows = asgi_capture.flows()
    assert [(f.path, f.status) for f in flows] == [("/hello", 200), ("/missing", 404)]
    assert asgi_capture.findings("warning") == []
    assert asgi_capture.events()[0].message["path"] == "/hello"
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_app.py").write_text(textwrap.dedent(PROJECT))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    return tmp_path


def pytest_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                           "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                           *args], cwd=project, capture_output=True, text=True, timeout=120)


def test_capture_shows_and_saves_the_failing_tests_flows(project: Path) -> None:
    done = pytest_run(project, "--asgi-capture")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 3 passed" in out, out
    section = out[out.index("asgi-inspector flows"):]
    assert " GET /ping 200 " in section
    saved = project / ".asgi-inspector" / f"{safe_name('test_app.py::test_fails')}.jsonl"
    assert f"capture saved: {saved}" in section
    capture = read_capture(saved)
    assert [e.type for e in capture.events if e.kind != "scope"][-2:] == \
        ["http.response.body", "inspector.exit"]
    assert capture.events[0].message["path"] == "/ping"
    # Only the failing test's traffic is reported and saved.
    assert "/hello" not in section and "/x" not in section
    assert sorted(p.name for p in saved.parent.iterdir()) == [saved.name]


def test_strict_fails_the_violating_test_with_its_findings(project: Path) -> None:
    done = pytest_run(project, "--asgi-strict")
    out = done.stdout
    assert "2 failed, 2 passed" in out, out + done.stderr
    assert "FAILED test_app.py::test_violates" in out
    assert "SEM002 4 body bytes on a 204 response (flow #1 GET /x)" in out
    violating = out[out.index("_ test_violates _"):]
    assert " GET /x 204 " in violating and "findings=1" in violating


def test_idle_without_the_option(project: Path) -> None:
    done = pytest_run(project)
    assert "1 failed, 3 passed" in done.stdout, done.stdout + done.stderr
    assert "asgi-inspector flows" not in done.stdout
    assert not (project / ".asgi-inspector").exists()


def test_safe_name() -> None:
    assert safe_name("tests/test_a.py::test_x[a/b c]") == "tests_test_a.py_test_x_a_b_c"
    assert safe_name("../..") == "test"
