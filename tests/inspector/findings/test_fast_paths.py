"""The stream fast paths (`http.chunks`, `websocket.messages`) take a run of plain body
chunks or WebSocket messages in one loop; switched off, every event goes through its own
handler. Both ways find the same findings and the same metrics, for any mix of plain and
odd chunks, messages, disconnects and exits."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events.model import Event
from inspector.findings import find, http, run, websocket
from tests.inspector.findings.test_rules import http_scope, ws_scope


class Text(str):
    """A str subclass: a message type the run loop does not take for a str."""


def _slow(s: Any, i: int) -> None:
    return None


def state(checker: Any) -> dict[str, Any]:
    """Every slot of a checker but its collector, and what the collector holds."""
    slots = {name: getattr(checker, name) for cls in type(checker).__mro__
             for name in getattr(cls, "__slots__", ()) if name != "c"}
    return {**slots, "found": checker.c.found, "refused": checker.c.refused}


def both_ways(events: list[Event]) -> tuple[Any, Any]:
    def analysis() -> Any:
        checker = run(events)
        return [tuple(f) for f in find(None, events)], state(checker)
    fast = analysis()
    with mock.patch.object(http, "chunks", _slow), \
            mock.patch.object(websocket, "messages", _slow):
        slow = analysis()
    return fast, slow


Step = tuple[str, Any, float, Any]      # kind, message, seconds since the last, truncated

gap = st.sampled_from([0.0, 0.001, 0.001, 0.5, 1.5])


def stream(plain: st.SearchStrategy[tuple[str, Any]], other: st.SearchStrategy[Step]
           ) -> st.SearchStrategy[list[Step]]:
    """Runs of plain events (what a fast path takes) between single odd ones."""
    run_of = st.lists(st.tuples(plain, gap).map(lambda p: (*p[0], p[1], None)),
                      min_size=1, max_size=6)
    return st.lists(st.one_of(run_of, other.map(lambda step: [step])), max_size=12).map(
        lambda parts: [step for part in parts for step in part])


def near_miss(plain: st.SearchStrategy[tuple[str, Any]],
              changes: list[tuple[str, Any]], others: list[Any]) -> st.SearchStrategy[Step]:
    """A plain event with one thing changed (a message key set or dropped, its kind, its
    truncated length), or another message altogether."""
    def change(event: tuple[str, Any], what: tuple[str, Any], dt: float) -> Step:
        kind, message = event
        key, value = what
        if key == "kind":
            return (value, message, dt, None)
        if key == "truncated":
            return (kind, message, dt, value)
        if key == "message":
            return (kind, value, dt, None)
        changed = {k: v for k, v in message.items() if k != key}
        if value is not DROP:
            changed[key] = value
        return (kind, changed, dt, None)
    return st.one_of(
        st.builds(change, plain, st.sampled_from(changes), gap),
        st.tuples(st.sampled_from(["send", "receive"]), st.sampled_from(others), gap,
                  st.just(None)))


DROP = object()
COMMON = [("kind", "receive"), ("kind", "send"), ("kind", "exit"), ("kind", "scope"),
          ("message", "not a message"), ("message", None),
          ("truncated", 0), ("truncated", 3), ("truncated", 1000), ("truncated", "x")]

plain_chunk = st.sampled_from([b"", b"data: 1\n\n", b"x" * 40]).map(
    lambda body: ("send", {"type": "http.response.body", "body": body, "more_body": True}))
odd_chunk = near_miss(plain_chunk, COMMON + [
    ("type", Text("http.response.body")), ("type", "http.response.start"), ("type", DROP),
    ("body", "str"), ("body", bytearray(b"ab")), ("body", None), ("body", DROP),
    ("more_body", False), ("more_body", 1), ("more_body", None), ("more_body", DROP),
], [
    {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"12")]},
    {"type": "http.request", "body": b"", "more_body": False},
    {"type": "http.disconnect"},
    {"type": "inspector.exit", "exception": None},
])

plain_message = st.sampled_from([
    ("receive", {"type": "websocket.receive", "text": "hi"}),
    ("receive", {"type": "websocket.receive", "bytes": b"hi"}),
    ("send", {"type": "websocket.send", "text": "hi"}),
    ("send", {"type": "websocket.send", "bytes": b"hi"}),
])
odd_message = near_miss(plain_message, COMMON + [
    ("type", Text("websocket.send")), ("type", Text("websocket.receive")),
    ("type", Text("websocket.send")), ("type", Text("websocket.receive")),
    ("type", "websocket.close"), ("type", DROP),
    ("text", b"x"), ("text", None), ("text", "a"), ("bytes", "x"), ("bytes", None),
    ("bytes", b"b"),
], [
    {"type": "websocket.accept"},
    {"type": "websocket.close", "code": 1000},
    {"type": "websocket.disconnect", "code": 1000},
    {"type": "websocket.connect"},
    {"type": "inspector.exit", "exception": None},
])


def flow(scope: dict[str, Any], opening: list[tuple[str, Any]], steps: list[Step]
         ) -> list[Event]:
    events = [Event(0, 1, 0.0, "scope", scope)]
    t = 0.0
    for kind, message in opening:
        t += 0.001
        events.append(Event(len(events), 1, t, kind, message))
    for kind, message, dt, truncated in steps:
        t += dt
        events.append(Event(len(events), 1, t, kind, message, truncated))
    return events


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["GET", "HEAD"]), st.sampled_from([200, 200, 204, 101]),
       st.sampled_from([[], [(b"content-length", b"12")], [(b"content-length", b"41")]]),
       st.sampled_from([b"a", b""]), stream(plain_chunk, odd_chunk))
def test_body_chunks_fast_and_one_by_one(method: str, status: int, headers: list[Any],
                                         first: bytes, steps: list[Step]) -> None:
    opening = [("receive", {"type": "http.request", "body": b"", "more_body": False}),
               ("send", {"type": "http.response.start", "status": status,
                         "headers": headers}),
               ("send", {"type": "http.response.body", "body": first, "more_body": True})]
    fast, slow = both_ways(flow(http_scope(method), opening, steps))
    assert fast == slow


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([["websocket.accept"]] * 4 + [[], ["websocket.close"]]),
       stream(plain_message, odd_message))
def test_websocket_messages_fast_and_one_by_one(answer: list[str], steps: list[Step]
                                                ) -> None:
    opening = [("receive", {"type": "websocket.connect"}),
               *(("send", {"type": t}) for t in answer)]
    fast, slow = both_ways(flow(ws_scope(subprotocols=["chat"]), opening, steps))
    assert fast == slow


def test_the_fast_paths_take_a_stream_in_one_call() -> None:
    """A plain stream goes through the fast paths, so the properties above compare two
    different code paths."""
    body = [("send", {"type": "http.response.body", "body": b"x", "more_body": True}, 0.01,
             None)] * 20
    events = flow(http_scope(), [("send", {"type": "http.response.start", "status": 200,
                                           "headers": []})], body)
    taken = []
    real = http.chunks

    def spy(s: Any, i: int) -> int | None:
        last = real(s, i)
        taken.append((i, last))
        return last
    with mock.patch.object(http, "chunks", spy):
        run(events)
    assert taken == [(3, len(events) - 1)]
