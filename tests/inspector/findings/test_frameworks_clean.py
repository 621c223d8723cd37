"""No false alarms on real frameworks: the clean apps of the framework tests, under real
uvicorn (and the Starlette app's streaming, 204, WebSocket and lifespan routes), produce
no error or warning finding. ASGI details differ per framework and server; these pin
what each really sends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from fastapi import BackgroundTasks, FastAPI  # module level: FastAPI resolves annotations here

from inspector import InspectorMiddleware
from inspector.findings import analyse_events
from tests import framework_apps
from tests.apps import starlette_app
from tests.conftest import wait_for


def loud(events: list[Any]) -> list[tuple[str, str, str, str]]:
    """(path, rule, severity, message) of every error or warning."""
    return [(flow.path, f.rule, f.severity, f.message)
            for flow, analysis in analyse_events(events) for f in analysis.findings
            if f.severity != "info"]


def exits(mw: Any, n: int) -> list[Any]:
    return wait_for(lambda: (lambda ev: ev if sum(e.kind == "exit" for e in ev) >= n
                             else None)(mw.events()), timeout=10)


@pytest.mark.parametrize("framework", ["fastapi", "django", "quart"])
def test_framework_apps_have_no_error_or_warning(framework: str, serve: Any) -> None:
    mw = InspectorMiddleware(framework_apps.FACTORIES[framework](), tap=False)
    server = serve(mw)
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/hello").text == "hello"
        assert client.post("/echo", content=b"ping-pong").text == "ping-pong"
        client.head("/hello")
        client.get("/missing")
    events = exits(mw, 4)
    server.stop()                 # lifespan shutdown, where the framework supports it
    events = mw.events()
    assert loud(events) == []
    assert [e for e in events if e.kind == "scope" and e.message["type"] == "http"]


def test_starlette_app_has_no_error_or_warning(serve: Any) -> None:
    mw = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(mw)
    with httpx.Client(base_url=server.url) as client:
        client.get("/hello")
        client.get("/api/items", params={"q": "x"})
        client.post("/echo", content=b"abc", headers={"content-type": "text/plain"})
        assert client.get("/empty").status_code == 204
        client.get("/numbers")
        client.post("/raw/stream", content=b"body")
        client.head("/hello")
    with ws_client.connect(server.url.replace("http", "ws") + "/ws") as ws:
        ws.send("hi")
        assert ws.recv() == "echo:hi"
        ws.send(b"\x01")
        assert ws.recv() == b"echo:\x01"
    exits(mw, 8)
    server.stop()
    events = mw.events()
    assert loud(events) == []
    lifespan = [f for f, _ in analyse_events(events) if f.type == "lifespan"]
    assert len(lifespan) == 1 and lifespan[0].state == "complete"


def test_fastapi_background_task_shows_as_background_work(serve: Any) -> None:
    """The issue's case: a POST whose BackgroundTask runs 300 ms after the response. The
    flow's duration ends at the last byte; the metric and TL001 show the rest."""
    import time as clock

    app = FastAPI()

    def slow_job() -> None:
        clock.sleep(0.3)

    @app.post("/orders")
    async def order(tasks: BackgroundTasks) -> dict[str, str]:
        tasks.add_task(slow_job)
        return {"status": "queued"}

    mw = InspectorMiddleware(app, tap=False)
    server = serve(mw, lifespan="off")
    assert httpx.post(server.url + "/orders").json() == {"status": "queued"}
    events = exits(mw, 1)
    ((flow, analysis),) = analyse_events(events)
    assert [f.rule for f in analysis.findings] == ["TL001"]
    assert analysis.metrics.background >= 0.29
    assert flow.duration is not None and flow.duration < 0.29
    from inspector.filters.compile import compile_filter
    assert compile_filter("background:>100ms")(flow)
    assert not compile_filter("background:>1s")(flow)
