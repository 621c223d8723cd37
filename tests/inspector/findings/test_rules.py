"""One broken ASGI app per rule family, each asserting the exact rule ids found.

Under real uvicorn where the server lets the message through (and where its refusal is
itself what the finding reports), in-process where the server would stop the app first.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from inspector import InspectorMiddleware
from inspector.events.model import Event
from inspector.findings import analyse_events, find, run
from inspector.findings.docs import PATH, page
from inspector.findings.rules import FAMILIES, RULES
from inspector.flows.fold import fold_events
from tests.conftest import wait_for
from tests.inspector.findings import broken_apps as broken

HEADERS = [(b"host", b"test"), (b"user-agent", b"t")]


def http_scope(method: str = "GET", path: str = "/", **extra: Any) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": method, "scheme": "http", "path": path,
            "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": list(HEADERS), "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000), **extra}


def in_process(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[Event]:
    """Run `app` once under capture with a server that accepts every message."""
    mw = InspectorMiddleware(app, tap=False)
    queue = list(incoming)
    final = {"http": {"type": "http.disconnect"},
             "websocket": {"type": "websocket.disconnect", "code": 1000},
             "lifespan": {"type": "lifespan.shutdown"}}[scope["type"]]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else final

    async def send(message: dict[str, Any]) -> None:
        return None

    async def main() -> None:
        try:
            await mw(scope, receive, send)
        except Exception:
            pass
    asyncio.run(main())
    return mw.events()


def rules_of(events: list[Event]) -> list[str]:
    """Rule ids found over every flow of `events`, sorted (repeats kept)."""
    return sorted(f.rule for _, a in analyse_events(events) for f in a.findings)


REQUEST = {"type": "http.request", "body": b"", "more_body": False}


def served(serve: Any, app: Any, requests: list[tuple[str, str]]) -> list[Event]:
    """`app` under uvicorn (capture on), sent `requests` [(method, path)]; every event
    once each app call has returned."""
    mw = InspectorMiddleware(app, tap=False)
    server = serve(mw, lifespan="off", log_level="critical")
    for method, path in requests:
        # A connection each: a server that refused a response closes its connection, and
        # a kept-alive client's next request on it could be reset before the app sees it.
        try:
            httpx.request(method, server.url + path, timeout=10)
        except httpx.HTTPError:
            pass
    return wait_for(lambda: (lambda ev: ev if sum(e.kind == "exit" for e in ev)
                             == len(requests) else None)(mw.events()), timeout=10)


# -- http state machine -----------------------------------------------------------------------

def test_start_twice_under_uvicorn_names_the_refused_message(serve: Any) -> None:
    events = served(serve, broken.start_twice, [("GET", "/")])
    flow = fold_events(events)[0]
    found = find(flow, events)
    assert [f.rule for f in found] == ["HM001"]
    assert "the server refused this http.response.start" in found[0].message
    assert found[0].seq == [e for e in events if e.type == "http.response.start"][1].seq


@pytest.mark.parametrize(("app", "expected"), [
    (broken.body_before_start, ["HM002", "HM007"]),
    (broken.body_after_last, ["HM003"]),
    (broken.returns_early, ["HM007"]),
    (broken.trailers_unsent, ["HM004"]),
])
def test_http_state_machine_in_process(app: Any, expected: list[str]) -> None:
    assert rules_of(in_process(app, http_scope(), [REQUEST])) == expected


def test_extensions_from_a_capture_that_kept_them() -> None:
    # InspectorMiddleware does not record scope["extensions"]; a capture that has them
    # (another recorder, written by hand) is checked against them.
    scope = http_scope(extensions={"http.response.debug": {}})
    events = [Event(0, 1, 0.0, "scope", scope),
              Event(1, 1, 0.0, "send", {"type": "http.response.start", "status": 200,
                                         "trailers": True}),
              Event(2, 1, 0.0, "send", {"type": "http.response.body", "body": b""}),
              Event(3, 1, 0.0, "send", {"type": "http.response.trailers", "headers": []}),
              Event(4, 1, 0.0, "send", {"type": "http.response.pathsend", "path": "rel"})]
    assert rules_of(events) == ["EX001", "EX001", "EX001", "EX002", "HM003"]
    assert rules_of(events[:1] + [Event(1, 1, 0.0, "send", {
        "type": "http.response.debug", "info": {}})]) == []


def test_http_semantics_under_uvicorn(serve: Any) -> None:
    events = served(serve, broken.semantics,
                    [("GET", "/204"), ("GET", "/len"), ("GET", "/dup"), ("HEAD", "/dup")])
    by_path = {}
    for flow, analysis in analyse_events(events):
        by_path[(flow.method, flow.path)] = sorted(f.rule for f in analysis.findings)
    assert by_path == {
        ("GET", "/204"): ["SEM002"],
        ("GET", "/len"): ["SEM001"],
        ("GET", "/dup"): ["SEM004", "SEM005", "SEM006"],
        ("HEAD", "/dup"): ["SEM003", "SEM004", "SEM005", "SEM006"],
    }


def test_status_out_of_range_in_process() -> None:
    assert rules_of(in_process(broken.bad_status, http_scope(), [REQUEST])) == ["SEM007"]


# -- general message types and http event schemas ---------------------------------------------

def test_bad_shapes_in_process() -> None:
    # Each message's own schema finding; the malformed start still starts the response
    # and the text body still ends it, so the state machine has nothing to add.
    assert rules_of(in_process(broken.bad_shapes, http_scope(), [REQUEST])) == \
        ["G002", "HE001", "HE002", "HE003", "HE004"]


def test_scope_fields_in_process() -> None:
    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b""})
    scope = http_scope(method="get", query_string="a=1", http_version="1.2")
    scope["headers"] = [(b"Host", b"x")]
    del scope["asgi"]
    assert rules_of(in_process(ok, scope, [REQUEST])) == \
        ["G003", "HS002", "HS004", "HS006", "HS007"]


@pytest.mark.parametrize("scope_type", [["http"], {"http": 1}, None, 3, "htttp"])
def test_a_scope_of_no_protocol_we_check_has_no_findings(scope_type: Any) -> None:
    # A foreign capture may hold any JSON as a scope's type: nothing to check, no error.
    events = [Event(0, 1, 0.0, "scope", {"type": scope_type, "path": "/"}),
              Event(1, 1, 0.1, "exit", {"type": "inspector.exit", "exception": None})]
    assert run(events) is None
    assert find(None, events) == []


# -- websocket --------------------------------------------------------------------------------

def ws_scope(**extra: Any) -> dict[str, Any]:
    return {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "scheme": "ws", "path": "/ws", "raw_path": b"/ws", "query_string": b"",
            "root_path": "", "headers": list(HEADERS), "subprotocols": [], **extra}


def test_websocket_send_before_accept_under_uvicorn(serve: Any) -> None:
    import websockets.sync.client as ws_client

    mw = InspectorMiddleware(broken.ws_send_before_accept, tap=False)
    server = serve(mw, lifespan="off", log_level="critical")
    with pytest.raises(Exception):
        with ws_client.connect(server.url.replace("http", "ws") + "/ws", open_timeout=5):
            pass
    events = wait_for(lambda: (lambda ev: ev if any(e.kind == "exit" for e in ev)
                               else None)(mw.events()), timeout=10)
    found = find(fold_events(events)[0], events)
    assert [f.rule for f in found] == ["WM001"]
    assert "the server refused this websocket.send" in found[0].message


def test_websocket_state_and_events_in_process() -> None:
    events = in_process(broken.ws_accept_twice, ws_scope(), [{"type": "websocket.connect"}])
    assert rules_of(events) == ["WE001", "WE004", "WE006", "WM002", "WM003"]


def test_websocket_unanswered_handshake_in_process() -> None:
    events = in_process(broken.ws_returns, ws_scope(subprotocols="chat"),
                        [{"type": "websocket.connect"}])
    assert rules_of(events) == ["WM005", "WS001"]


# -- lifespan -----------------------------------------------------------------------------------

LIFESPAN = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}


def test_lifespan_order_in_process() -> None:
    events = in_process(broken.lifespan_out_of_order, LIFESPAN, [{"type": "lifespan.startup"}])
    assert rules_of(events) == ["LM001", "LM002", "LM003"]


def test_lifespan_left_early_in_process() -> None:
    events = in_process(broken.lifespan_leaves, LIFESPAN, [{"type": "lifespan.startup"}])
    assert rules_of(events) == ["LM007"]


def test_lifespan_scope_state_from_a_foreign_capture() -> None:
    # The middleware does not record scope["state"]; a capture written by another tool may.
    events = [Event(0, 1, 0.0, "scope", {**LIFESPAN, "state": "nope"}),
              Event(1, 1, 0.0, "receive", {"type": "lifespan.startup"}),
              Event(2, 1, 0.1, "send", {"type": "lifespan.startup.complete"})]
    assert rules_of(events) == ["LS001"]


def test_lifespan_unsupported_is_only_info() -> None:
    async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("only http")
    events = in_process(no_lifespan, LIFESPAN, [{"type": "lifespan.startup"}])
    found = [f for _, a in analyse_events(events) for f in a.findings]
    assert [(f.rule, f.severity) for f in found] == [("LM006", "info")]


# -- timeline ---------------------------------------------------------------------------------

def test_background_work_under_uvicorn(serve: Any) -> None:
    events = served(serve, broken.background, [("POST", "/")])
    flow, analysis = analyse_events(events)[0]
    assert [f.rule for f in analysis.findings] == ["TL001"]
    assert analysis.metrics.background >= 0.29
    assert flow.duration is not None and flow.duration < analysis.metrics.background


def test_unread_body_under_uvicorn(serve: Any) -> None:
    mw = InspectorMiddleware(broken.unread_body, tap=False)
    server = serve(mw, lifespan="off", log_level="critical")
    assert httpx.post(server.url, content=b"x" * 100_000).status_code == 413
    events = wait_for(lambda: (lambda ev: ev if any(e.kind == "exit" for e in ev)
                               else None)(mw.events()), timeout=10)
    flow, analysis = analyse_events(events)[0]
    assert [f.rule for f in analysis.findings] == ["TL004"]
    assert analysis.metrics.body_unread


def test_work_after_the_client_left_under_uvicorn(serve: Any) -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        await asyncio.sleep(1.2)          # keeps working for a client that is gone
        await send({"type": "http.response.body", "body": b"late"})

    mw = InspectorMiddleware(slow, tap=False)
    server = serve(mw, lifespan="off", log_level="critical")
    with httpx.stream("GET", server.url, timeout=10) as response:
        next(response.iter_raw())         # the first chunk, then hang up
    events = wait_for(lambda: (lambda ev: ev if any(e.kind == "exit" for e in ev)
                               else None)(mw.events()), timeout=10)
    flow, analysis = analyse_events(events)[0]
    # TL005 too: 1.2 s passed between the two chunks.
    assert sorted(f.rule for f in analysis.findings) == ["TL002", "TL003", "TL005"]
    assert analysis.metrics.wasted >= 1.1 and analysis.metrics.sent_after_disconnect == 1


def test_stall_between_chunks() -> None:
    scope = http_scope()
    events = [Event(0, 1, 0.0, "scope", scope),
              Event(1, 1, 0.0, "receive", REQUEST),
              Event(2, 1, 0.01, "send", {"type": "http.response.start", "status": 200}),
              Event(3, 1, 0.02, "send", {"type": "http.response.body", "body": b"a",
                                          "more_body": True}),
              Event(4, 1, 2.52, "send", {"type": "http.response.body", "body": b"b"}),
              Event(5, 1, 2.53, "exit", {"type": "inspector.exit", "exception": None})]
    flow, analysis = analyse_events(events)[0]
    assert [(f.rule, f.seq) for f in analysis.findings] == [("TL005", 4)]
    assert analysis.metrics.longest_gap == pytest.approx(2.5)


# -- the table and its page -------------------------------------------------------------------

def test_table_is_well_formed() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert {r.family for r in RULES} == set(FAMILIES)
    assert all(r.link.startswith("https://") and r.summary and r.hint for r in RULES)


def test_committed_page_equals_the_generated_one() -> None:
    assert PATH.read_text(encoding="utf-8") == page(), \
        "docs/findings.md is stale: run python -m inspector.findings.docs"
