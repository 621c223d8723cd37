"""The C encoder writes exactly what marshal writes, or hands the message back to Python."""

from __future__ import annotations

import marshal
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events._encoder import encode
from inspector.events.model import MARSHAL_VERSION, decode_record, encode_event

atoms = st.one_of(st.none(), st.booleans(), st.integers(-2**31, 2**31 - 1),
                  st.floats(allow_nan=False), st.text(max_size=20), st.binary(max_size=40))
values = st.recursive(atoms, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)
messages = st.dictionaries(st.text(max_size=12), values, max_size=6)


def as_written_by_marshal(record: bytes, skip: tuple[str, ...] = ()) -> bytes:
    """marshal's own bytes for what the record decodes to, with the record's own time."""
    conn, kind, t, message = marshal.loads(record)
    return marshal.dumps((conn, kind, t, message), MARSHAL_VERSION)


@settings(max_examples=400, deadline=None)
@given(conn=st.integers(0, 2**31 - 1), kind=st.sampled_from(["scope", "send", "receive"]),
       message=messages)
def test_same_bytes_as_marshal(conn: int, kind: str, message: dict[str, Any]) -> None:
    record = encode(conn, kind, 0.0, message, -1, None)
    assert record is not None
    _, _, t, decoded = marshal.loads(record)
    assert record == marshal.dumps((conn, kind, t, message), MARSHAL_VERSION)
    assert decoded == message and [type(v) for v in decoded.values()] == [
        type(v) for v in message.values()]


@settings(max_examples=200, deadline=None)
@given(message=messages, limit=st.integers(-1, 30),
       skip=st.lists(st.text(max_size=12), max_size=2).map(tuple))
def test_agrees_with_the_python_twin(message: dict[str, Any], limit: int,
                                     skip: tuple[str, ...]) -> None:
    c = encode(1, "send", 0.0, message, limit, skip or None)
    python = encode_event(1, "send", 0.0, message, limit, skip or None)
    assert (c is None) == (python is None)
    if c is not None and python is not None:
        assert marshal.loads(c)[3] == marshal.loads(python)[3]
        assert c == as_written_by_marshal(c)


def test_text_and_bytes_stay_distinct() -> None:
    text = decode_record(0, encode(1, "send", 0.0, {"type": "websocket.send", "text": "abc"},
                                   -1, None))
    data = decode_record(0, encode(1, "send", 0.0, {"type": "websocket.send", "bytes": b"abc"},
                                   -1, None))
    assert text.message["text"] == "abc" and data.message["bytes"] == b"abc"


def test_time_is_the_perf_counter_clock_less_t0() -> None:
    t0 = time.perf_counter()
    before = time.perf_counter() - t0
    record = encode(1, "send", t0, None, -1, None)
    after = time.perf_counter() - t0
    assert before <= marshal.loads(record)[2] <= after


def test_skip_leaves_out_top_level_keys_only() -> None:
    scope = {"type": "http", "state": {"db": object()}, "app": object(),
             "asgi": {"state": "kept: not top level"}}
    record = encode(1, "scope", 0.0, scope, -1, ("state", "app", "extensions"))
    assert marshal.loads(record)[3] == {"type": "http", "asgi": {"state": "kept: not top level"}}


DEEP: list[Any] = []
for _ in range(100):
    DEEP = [DEEP]


@pytest.mark.parametrize("message", [
    {"type": "x", "n": 2**40},                      # marshal's long form: Python writes it
    {"type": "x", "b": bytearray(b"a")},            # not an exact type
    {"type": "x", "s": "\ud800"},                   # a lone surrogate
    {"type": "x", "o": object()},
    {"type": "x", "deep": DEEP},                   # deeper than the writer goes
    {"type": "x", "body": b"x" * 11},               # over the limit: to be cut
    {"type": "x", "text": "y" * 11},
])
def test_hands_back_what_it_does_not_write(message: dict[str, Any]) -> None:
    assert encode(1, "send", 0.0, message, 10, None) is None


def test_large_bodies_and_bad_arguments() -> None:
    body = bytes(range(256)) * 4096                 # 1 MiB: past the stack buffer
    record = encode(1, "send", 0.0, {"type": "http.response.body", "body": body}, -1, None)
    assert marshal.loads(record)[3]["body"] == body
    with pytest.raises(TypeError):
        encode(1, "send", 0.0, {}, -1)              # type: ignore[call-arg]
    with pytest.raises(TypeError):
        encode(1, "send", 0.0, {}, -1, ["state"])


def test_decoded_events_are_immutable_and_whole() -> None:
    from inspector.events.model import Event, encode_record

    event = decode_record(9, encode_record(3, "send", 1.5, {"type": "x"}, 70_000))
    assert event == Event(9, 3, 1.5, "send", {"type": "x"}, 70_000) and event.type == "x"
    with pytest.raises(AttributeError):
        event.seq = 1  # type: ignore[misc]
    assert event._replace(seq=1).seq == 1 and event.seq == 9
    clean = decode_record(2, encode_record(3, "exit", 2.0, None))
    assert clean.message == {"type": "inspector.exit", "exception": None}
    assert clean.truncated is None
