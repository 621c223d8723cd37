"""r / R / e / d / x: replay, edit, diff and export, through Pilot, against real servers.

The captured app runs under uvicorn (tests/conftest.py `serve`) wrapped in the middleware;
the dashboard reads that middleware's ring (LocalFeed), as `asgi-inspector run` does, and
replays over the network to a real server.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from textual.widgets import Button, Input, RadioButton, Static, TextArea

from inspector.capture.middleware import InspectorMiddleware
from inspector.flows.model import Flow
from inspector.replay.edit import (
    edited_exchange,
    headers_text,
    is_json,
    json_error,
    parse_headers,
)
from inspector.replay.plan import Exchange
from inspector.tap.feeds import LocalFeed
from tests.apps import changed_app, starlette_app
from tests.tui.conftest import SIZE, until
from tui.app import InspectorApp
from tui.screens import HelpScreen
from tui.screens_replay import DiffScreen, EditScreen, ExportScreen

# -- inspector.replay.edit: pure ---------------------------------------------------------------------


def _exchange() -> Exchange:
    scope = {"type": "http", "method": "GET", "path": "/api/items", "raw_path": b"/api/items",
             "query_string": b"q=1", "headers": [(b"accept", b"*/*"),
                                                 (b"content-length", b"0")]}
    return Exchange("", 3, "http", scope, [(0.0, {"type": "http.request", "body": b""})])


def test_edited_exchange_sets_method_target_headers_and_body() -> None:
    original = _exchange()
    edited = edited_exchange(original, "post", "/echo?x=%41&y", "Content-Type: application/json\n\n"
                             "X-Token:  abc ", '{"a": 1}')
    scope = edited.scope
    assert (scope["method"], scope["path"], scope["raw_path"], scope["query_string"]) == \
        ("POST", "/echo", b"/echo", b"x=%41&y")
    assert scope["headers"] == [(b"content-type", b"application/json"), (b"x-token", b"abc"),
                                (b"content-length", b"8")]
    assert edited.client_messages == [(0.0, {"type": "http.request", "body": b'{"a": 1}',
                                             "more_body": False})]
    assert edited.label == "#3" and original.scope["method"] == "GET"   # original untouched


def test_edited_exchange_rejects_bad_input() -> None:
    for method, target, headers in [("", "/", ""), ("GET", "nope", ""),
                                    ("GET", "/", "no colon here"), ("G ET", "/", "")]:
        with pytest.raises(ValueError):
            edited_exchange(_exchange(), method, target, headers, "")


def test_helpers_round_trip_and_json_errors() -> None:
    scope = _exchange().scope
    assert parse_headers(headers_text(scope)) == scope["headers"]
    assert json_error('{"a": [1, 2]}') is None and json_error("  ") is None
    # (a trailing comma is worded differently from Python 3.13 on: a missing colon is not)
    assert json_error('{\n  "a" 1\n}') == "line 2, column 7: Expecting ':' delimiter"
    assert is_json([(b"content-type", b"application/problem+json; charset=utf-8")])
    assert not is_json([(b"content-type", b"text/plain")])


# -- the dashboard --------------------------------------------------------------------------


@pytest.fixture
def captured(serve: Any) -> tuple[InspectorMiddleware, Any]:
    """A served, captured app with some traffic already recorded."""
    middleware = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(middleware)
    with httpx.Client(base_url=server.url) as client:
        client.get("/hello")
        client.get("/api/items?q=shoes", headers={"authorization": "Bearer s3cret"})
        client.post("/echo", json={"n": 1})
    return middleware, server


def _app(middleware: InspectorMiddleware, replay_to: str | None, **options: Any) -> InspectorApp:
    return InspectorApp(LocalFeed(middleware, interval=0.01), clock="relative",
                        replay_to=replay_to, gc_freeze=False, **options)


def _flows(app: InspectorApp) -> list[Flow]:
    store = app.model.store
    return store.rows(0, len(store))


async def _select(pilot: Any, path: str) -> Flow:
    app = pilot.app
    flow = await until(pilot, lambda: next((f for f in _flows(app) if f.path == path
                                            and not f.replay_of and f.status), None))
    app.rows.select_flow(flow)
    await pilot.pause()
    assert app.rows.selected is flow
    return flow


def _notes(app: InspectorApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def _replay_notes(app: InspectorApp) -> list[str]:
    return [n for n in _notes(app) if n.startswith("replay of")]


async def test_r_replays_the_selected_flow_and_d_shows_it_is_the_same(captured: Any) -> None:
    middleware, server = captured
    app = _app(middleware, server.url)
    async with app.run_test(size=SIZE) as pilot:
        original = await _select(pilot, "/api/items")
        await pilot.press("r")
        # The target's own record of the replay, posted up as the source "replay"; the
        # server's capture of the same request arrives apart, in its own time.
        replay = await until(pilot, lambda: next(
            (f for f in _flows(app) if f.replay_of == f"#{original.conn}" and f.status
             and f.source == "replay"), None))
        assert replay.path == "/api/items" and replay.status == 200
        note = await until(pilot, lambda: [n for n in _notes(app) if n.startswith("replay of")])
        assert note == [f"replay of #{original.conn}: same"]
        # The replay went through the capture too: the server saw it as a new flow.
        await until(pilot, lambda: sum(f.path == "/api/items" and f.source == ""
                                       for f in _flows(app)) == 2)
        app.rows.select_flow(replay)
        await pilot.press("d")
        assert isinstance(app.screen, DiffScreen)
        text = str(app.screen.query_one("#diff-text").render())
        assert f"Replay of #{original.conn}: same" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DiffScreen)


async def test_replay_to_the_captured_server_shows_once_linked(captured: Any) -> None:
    """run/proxy/demo: the feed captures the replay target, so the replay arrives
    through the feed (linked by its marker header), not a second time as "replay"."""
    middleware, server = captured
    app = _app(middleware, server.url, replay_captured=True)
    async with app.run_test(size=SIZE) as pilot:
        original = await _select(pilot, "/api/items")
        await pilot.press("r")
        await until(pilot, lambda: [n for n in _notes(app) if n.startswith("replay of")])
        replay = await until(pilot, lambda: next(
            (f for f in _flows(app) if f.replay_of == f"#{original.conn}" and f.status), None))
        assert replay.source == "" and replay.path == "/api/items"
        assert not any(f.source == "replay" for f in _flows(app))
        assert sum(f.path == "/api/items" for f in _flows(app)) == 2
        app.rows.select_flow(replay)
        await pilot.press("d")
        assert isinstance(app.screen, DiffScreen)


async def test_replay_to_a_changed_app_and_d_shows_the_difference(captured: Any,
                                                                  serve: Any) -> None:
    middleware, _ = captured
    changed = serve(changed_app())
    app = _app(middleware, changed.url)
    async with app.run_test(size=SIZE) as pilot:
        original = await _select(pilot, "/api/items")
        await pilot.press("r")
        note = await until(pilot, lambda: [n for n in _notes(app) if n.startswith("replay of")])
        assert note[0].startswith(f"replay of #{original.conn}: differs: JSON body differs "
                                  "at $.items[2]")
        await pilot.press("d")             # on the original: its latest replay
        assert isinstance(app.screen, DiffScreen)
        text = app.screen.query_one("#diff-text").render()
        plain = str(text)
        assert "differs" in plain and "$.items[2]: 3 -> 4" in plain


async def test_R_replays_every_flow_matching_the_filter(captured: Any) -> None:
    middleware, server = captured
    app = _app(middleware, server.url)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(_flows(app)) >= 3)
        await pilot.press("R")              # no filter: told how
        assert any("filter" in n for n in _notes(app))
        from inspector.filters.compile import compile_filter
        app.apply_filter("method:GET", compile_filter("method:GET"))
        originals = {f"#{f.conn}" for f in _flows(app)}
        assert len(originals) == 2                      # /hello and /api/items, not /echo
        await pilot.press("R")
        notes = await until(pilot, lambda: len(_replay_notes(app)) == 2 and _replay_notes(app))
        assert all(n.endswith(": same") for n in notes)
        replays = await until(pilot, lambda: {f.replay_of for f in _flows(app)
                                              if f.replay_of and f.status} == originals)
        assert replays


async def test_without_a_target_r_says_how_to_set_one(captured: Any) -> None:
    middleware, _ = captured
    app = _app(middleware, None)
    async with app.run_test(size=SIZE) as pilot:
        await _select(pilot, "/hello")
        await pilot.press("r")
        assert any("--replay-to URL" in n for n in _notes(app))
        await pilot.press("d")
        assert any("No replay of this flow yet" in n for n in _notes(app))


async def test_e_edits_the_path_and_sends(captured: Any) -> None:
    middleware, server = captured
    app = _app(middleware, server.url)
    async with app.run_test(size=SIZE) as pilot:
        original = await _select(pilot, "/api/items")
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EditScreen)
        target = screen.query_one("#edit-target", Input)
        assert target.value == "/api/items?q=shoes"
        assert "authorization: Bearer s3cret" in screen.query_one("#edit-headers", TextArea).text
        target.value = "/api/items?q=boots"
        await pilot.click("#edit-send")
        replay = await until(pilot, lambda: next(
            (f for f in _flows(app) if f.replay_of == f"#{original.conn}" and f.status), None))
        assert replay.path == "/api/items" and replay.query == b"q=boots"
        assert json.loads(replay.response_body)["q"] == "boots"


async def test_e_blocks_send_while_the_json_body_is_invalid(captured: Any) -> None:
    middleware, server = captured
    app = _app(middleware, server.url)
    async with app.run_test(size=SIZE) as pilot:
        await _select(pilot, "/echo")
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EditScreen)
        body = screen.query_one("#edit-body", TextArea)
        send = screen.query_one("#edit-send", Button)
        assert json.loads(body.text) == {"n": 1} and not send.disabled
        body.text = '{"n": 1,\n  oops}'
        await pilot.pause()
        assert send.disabled
        assert "JSON body: line 2, column 3" in str(screen.query_one("#edit-error").render())
        await pilot.press("ctrl+s")               # refused while invalid
        assert app.screen is screen
        body.text = '{"n": 2}'
        await pilot.pause()
        assert not send.disabled
        await pilot.press("ctrl+s")
        replay = await until(pilot, lambda: next(
            (f for f in _flows(app) if f.replay_of and f.status), None))
        assert replay.method == "POST" and json.loads(replay.response_body) == {"n": 2}


async def test_x_exports_a_har_with_secrets_masked(captured: Any, tmp_path: Path) -> None:
    middleware, _ = captured
    app = _app(middleware, None, save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(_flows(app)) >= 3)
        from inspector.filters.compile import compile_filter
        app.apply_filter("method:GET", compile_filter("method:GET"))
        await pilot.pause()
        await pilot.press("x")
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        assert screen.query_one("#export-path", Input).value == str(tmp_path / "export-1.har")
        screen.query_one("#scope-filter", RadioButton).value = True
        await pilot.click("#export-go")
        note = await until(pilot, lambda: [n for n in _notes(app) if n.startswith("Exported")])
        assert note == [f"Exported 2 flows (har, secrets masked) to {tmp_path / 'export-1.har'}"]
        har = json.loads((tmp_path / "export-1.har").read_text())
        entries = har["log"]["entries"]
        assert [e["request"]["url"].split("127.0.0.1")[1].split("/", 1)[1]
                for e in entries] == ["hello", "api/items?q=shoes"]
        assert "s3cret" not in json.dumps(har)


async def test_help_and_footer_list_the_new_keys(captured: Any) -> None:
    middleware, _ = captured
    app = _app(middleware, None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from tests.tui.conftest import screen_text
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-keys", Static).content)
        text = console.export_text()
        assert "replay every flow matching the filter" in text and "export the selected" in text
        await pilot.press("escape")
        footer = screen_text(app).splitlines()[-1]
        for key in ("r Replay", "e Edit", "d Diff", "x Export"):
            assert key in footer


async def test_r_replays_a_websocket_session(serve: Any) -> None:
    import websockets

    middleware = InspectorMiddleware(starlette_app(), tap=False)
    server = serve(middleware)
    async with websockets.connect(server.url.replace("http", "ws") + "/ws") as ws:
        await ws.send("hi")
        assert await ws.recv() == "echo:hi"
    app = _app(middleware, server.url)
    async with app.run_test(size=SIZE) as pilot:
        original = await until(pilot, lambda: next(
            (f for f in _flows(app) if f.type == "websocket" and f.state != "open"), None))
        app.rows.select_flow(original)
        await pilot.press("r")
        note = await until(pilot, lambda: _replay_notes(app))
        assert note == [f"replay of #{original.conn}: same"]
        replay = await until(pilot, lambda: next(
            (f for f in _flows(app) if f.replay_of == f"#{original.conn}"), None))
        assert [m.text for m in replay.messages] == ["hi", "echo:hi"]


async def test_r_on_a_flow_whose_body_was_cut_says_why_instead(serve: Any) -> None:
    middleware = InspectorMiddleware(starlette_app(), tap=False, body_limit=8)
    server = serve(middleware)
    with httpx.Client(base_url=server.url) as client:
        client.post("/echo", content=b"x" * 100)
    app = _app(middleware, server.url)
    async with app.run_test(size=SIZE) as pilot:
        original = await _select(pilot, "/echo")
        await pilot.press("r")
        note = await until(pilot, lambda: [n for n in _notes(app) if "not replayed" in n])
        assert note[0].startswith(f"#{original.conn} not replayed: request body was cut")
        assert "--body-limit" in note[0]
        await pilot.pause(0.3)
        assert not _replay_notes(app) and not any(n.startswith("Replaying") for n in _notes(app))
        assert not any(f.replay_of for f in _flows(app))
        assert [f.path for f in _flows(app)] == ["/echo"]
