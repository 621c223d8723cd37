"""Every rule of the table fires on a small event list made to break it, with exactly the
rule ids expected: the cases a running server would refuse before the app could send
them (a str header, a message that is not a dict) are written as a foreign capture would
hold them. A last test checks that no rule of the table is left untested here or in
test_rules.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inspector.events.model import Event
from inspector.findings import find
from inspector.findings.rules import RULES
from tests.inspector.findings.test_rules import http_scope, ws_scope

RAISED = {"type": "inspector.exit", "exception": {"type": "RuntimeError", "message": "x"}}
CLEAN = {"type": "inspector.exit", "exception": None}
START = {"type": "http.response.start", "status": 200, "headers": []}
BODY = {"type": "http.response.body", "body": b""}
LIFESPAN = {"type": "lifespan", "asgi": {"version": "3.0"}}


def flow(scope: dict[str, Any], *steps: tuple[str, Any], dt: float = 0.01) -> list[Event]:
    events = [Event(0, 7, 0.0, "scope", scope)]
    for kind, message in steps:
        events.append(Event(len(events), 7, len(events) * dt, kind, message))
    return events


def send(message: Any) -> tuple[str, Any]:
    return ("send", message)


def recv(message: Any) -> tuple[str, Any]:
    return ("receive", message)


def leave(message: Any = CLEAN) -> tuple[str, Any]:
    return ("exit", message)


CASES: list[tuple[str, list[Event], list[str]]] = [
    ("G001 not a dict", flow(http_scope(), send("http.response.start"), send(START),
                             send(BODY)), ["G001"]),
    ("G001 no type", flow(http_scope(), send({"status": 200}), send(START), send(BODY)),
     ["G001"]),
    ("HS001 method", flow(http_scope(method=None), send(START), send(BODY)), ["HS001"]),
    ("HS003 path", flow({**http_scope(), "path": b"/x"}, send(START), send(BODY)), ["HS003"]),
    ("HS005 headers", flow(http_scope(headers=[("host", "x")]), send(START), send(BODY)),
     ["HS005"]),
    ("HS008 scheme", flow(http_scope(scheme=""), send(START), send(BODY)), ["HS008"]),
    ("WS002 scheme", flow(ws_scope(scheme="http"), send({"type": "websocket.close"})),
     ["WS002"]),
    ("HE005 request", flow(http_scope(), recv({"type": "http.request", "body": "x"}),
                           send(START), send(BODY)), ["HE005"]),
    ("HM005 trailers unannounced", flow(http_scope(), send(START),
                                    send({"type": "http.response.trailers", "headers": []}),
                                    send(BODY)), ["HM005"]),
    ("HM006 trailers early", flow(http_scope(), send({**START, "trailers": True}),
                                  send({"type": "http.response.trailers", "headers": []}),
                                  send(BODY), leave()), ["HM004", "HM006"]),
    ("HM008 raised", flow(http_scope(), send(START), leave(RAISED)), ["HM008"]),
    ("trailers done right", flow(http_scope(), send({**START, "trailers": True}), send(BODY),
                                 send({"type": "http.response.trailers", "headers": []}),
                                 leave()), []),
    ("SEM008 content-length", flow(http_scope(), send({**START, "headers": [
        (b"content-length", b"5"), (b"content-length", b"6")]}), send(BODY)), ["SEM008"]),
    ("SEM009 header value", flow(http_scope(), send({**START, "headers": [
        (b"x-a", b"1\r\nset-cookie: evil")]}), send(BODY)), ["SEM009"]),
    ("SEM009 header name", flow(http_scope(), send({**START, "headers": [
        (b"x a", b"1")]}), send(BODY)), ["SEM009"]),
    ("SEM001 short body", flow(http_scope(), send({**START, "headers": [
        (b"content-length", b"10")]}), send({"type": "http.response.body", "body": b"12"})),
     ["SEM001"]),
    ("WE002 + WE001", flow(ws_scope(), send({"type": "websocket.accept"}),
                           send({"type": "websocket.send", "text": b"bytes"}),
                           send({"type": "websocket.send"}),
                           send({"type": "websocket.close"})), ["WE001", "WE002"]),
    ("WE003 close", flow(ws_scope(), send({"type": "websocket.accept"}),
                         send({"type": "websocket.close", "code": "1000"})), ["WE003"]),
    ("WE005 accept", flow(ws_scope(), send({"type": "websocket.accept", "subprotocol": 1}),
                          send({"type": "websocket.close"})), ["WE005"]),
    ("WE007 receive", flow(ws_scope(), send({"type": "websocket.accept"}),
                           recv({"type": "websocket.receive"}),
                           send({"type": "websocket.close"})), ["WE007"]),
    ("WM004 denial after accept", flow(ws_scope(), send({"type": "websocket.accept"}),
                                       send({"type": "websocket.http.response.start",
                                             "status": 403, "headers": []}),
                                       send({"type": "websocket.close"})), ["WM004"]),
    ("WM007 denial body first", flow(ws_scope(), send({"type": "websocket.http.response.body",
                                                       "body": b""}),
                                     send({"type": "websocket.close"})), ["WM007"]),
    ("denial done right", flow(ws_scope(), send({"type": "websocket.http.response.start",
                                                 "status": 403, "headers": []}),
                               send({"type": "websocket.http.response.body", "body": b"no"}),
                               leave()), []),
    ("WM006 raised", flow(ws_scope(), recv({"type": "websocket.connect"}), leave(RAISED)),
     ["WM006"]),
    ("LE001 failed message", flow(LIFESPAN, recv({"type": "lifespan.startup"}),
                                  send({"type": "lifespan.startup.failed", "message": 3}),
                                  leave()), ["LE001"]),
    ("LM004 after shutdown", flow(LIFESPAN, recv({"type": "lifespan.startup"}),
                                  send({"type": "lifespan.startup.complete"}),
                                  recv({"type": "lifespan.shutdown"}),
                                  send({"type": "lifespan.shutdown.complete"}),
                                  send({"type": "lifespan.shutdown.complete"}), leave()),
     ["LM004"]),
    ("LM005 no answer", flow(LIFESPAN, recv({"type": "lifespan.startup"}), leave()),
     ["LM005"]),
    ("lifespan done right", flow(LIFESPAN, recv({"type": "lifespan.startup"}),
                                 send({"type": "lifespan.startup.complete"}),
                                 recv({"type": "lifespan.shutdown"}),
                                 send({"type": "lifespan.shutdown.complete"}), leave()), []),
    ("G002 cross-protocol", flow(LIFESPAN, recv({"type": "lifespan.startup"}),
                                 send({"type": "http.response.start"})), ["G002"]),
    ("disconnect after completion is normal", flow(http_scope(), send(START), send(BODY),
                                                   recv({"type": "http.disconnect"}),
                                                   leave()), []),
]


def test_content_length_counts_bytes_the_capture_cut() -> None:
    events = flow(http_scope(), send({**START, "headers": [(b"content-length", b"100")]}))
    events.append(Event(2, 7, 0.02, "send", {"type": "http.response.body", "body": b"x" * 10},
                        100))    # the record kept 10 of 100 bytes
    assert find(None, events) == []


@pytest.mark.parametrize(("name", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(name: str, events: list[Event], expected: list[str]) -> None:
    assert sorted(f.rule for f in find(None, events)) == expected


def test_every_rule_is_tested() -> None:
    here = Path(__file__).parent
    text = "".join((here / name).read_text() for name in ("test_every_rule.py",
                                                          "test_rules.py",
                                                          "test_surfaces.py"))
    untested = [r.id for r in RULES if f'"{r.id}"' not in text]
    assert untested == []


# -- captured data is not trusted ------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TYPES = ["http.request", "http.disconnect", "http.response.start", "http.response.body",
          "http.response.trailers", "http.response.pathsend", "http.response.zerocopy",
          "websocket.connect", "websocket.accept", "websocket.send", "websocket.receive",
          "websocket.close", "websocket.disconnect", "websocket.http.response.start",
          "websocket.http.response.body", "lifespan.startup", "lifespan.startup.complete",
          "lifespan.shutdown", "lifespan.shutdown.failed", "inspector.exit"]
_JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() |
                     st.text(max_size=5) | st.binary(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) |
                     st.tuples(inner, inner) |
                     st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)
_MESSAGE = st.one_of(_JUNK, st.fixed_dictionaries(
    {"type": st.sampled_from(_TYPES) | _JUNK},
    optional={k: _JUNK for k in ("body", "more_body", "status", "headers", "trailers",
                                 "bytes", "text", "code", "reason", "subprotocol",
                                 "message", "exception", "path", "more_trailers")}))
_SCOPE = st.fixed_dictionaries({"type": st.sampled_from(["http", "websocket", "lifespan"])},
                               optional={k: _JUNK for k in (
                                   "method", "path", "headers", "query_string", "scheme",
                                   "http_version", "subprotocols", "asgi", "state",
                                   "extensions")})


@settings(max_examples=150, deadline=None)
@given(_SCOPE, st.lists(st.tuples(st.sampled_from(["send", "receive", "exit", "scope"]),
                                  _MESSAGE, st.none() | st.integers(-5, 50)), max_size=12))
def test_junk_never_raises(scope: Any, steps: list[Any]) -> None:
    events = [Event(0, 1, 0.0, "scope", scope)]
    for kind, message, truncated in steps:
        events.append(Event(len(events), 1, len(events) * 0.5, kind, message, truncated))
    for f in find(None, events):
        assert f.rule and f.severity in ("error", "warning", "info") and f.message
