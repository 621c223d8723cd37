"""The encoders write exactly what marshal writes, or hand the message back to Python.

The C encoder (`inspector/events/_encoder.c`) writes marshal format 2 by hand; its Python twin
(`events.encode_event`) calls marshal. Both are checked against marshal itself, on
whichever Python runs the suite.
"""

from __future__ import annotations

import marshal
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector._native import native
from inspector.events.model import MARSHAL_VERSION, decode_record, encode_event
from tests.conftest import needs_c

_encoder = native("_encoder")
encode = _encoder.encode if _encoder is not None else None
# The C encoder where built, and the Python twin always: same contract, same bytes.
ENCODERS = [pytest.param("c", marks=needs_c), "python"]


def encoder(which: str) -> Any:
    return encode if which == "c" else encode_event

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


@pytest.mark.parametrize("which", ENCODERS)
@settings(max_examples=400, deadline=None)
@given(conn=st.integers(0, 2**31 - 1), kind=st.sampled_from(["scope", "send", "receive"]),
       message=messages)
def test_same_bytes_as_marshal(which: str, conn: int, kind: str,
                               message: dict[str, Any]) -> None:
    record = encoder(which)(conn, kind, 0.0, message, -1, None)
    assert record is not None
    _, _, t, decoded = marshal.loads(record)
    assert record == marshal.dumps((conn, kind, t, message), MARSHAL_VERSION)
    assert decoded == message and [type(v) for v in decoded.values()] == [
        type(v) for v in message.values()]


@needs_c
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


@pytest.mark.parametrize("which", ENCODERS)
def test_text_and_bytes_stay_distinct(which: str) -> None:
    encode = encoder(which)
    text = decode_record(0, encode(1, "send", 0.0, {"type": "websocket.send", "text": "abc"},
                                   -1, None))
    data = decode_record(0, encode(1, "send", 0.0, {"type": "websocket.send", "bytes": b"abc"},
                                   -1, None))
    assert text.message["text"] == "abc" and data.message["bytes"] == b"abc"


@pytest.mark.parametrize("which", ENCODERS)
def test_time_is_the_perf_counter_clock_less_t0(which: str) -> None:
    encode = encoder(which)
    t0 = time.perf_counter()
    before = time.perf_counter() - t0
    record = encode(1, "send", t0, None, -1, None)
    after = time.perf_counter() - t0
    assert before <= marshal.loads(record)[2] <= after


@pytest.mark.parametrize("which", ENCODERS)
def test_skip_leaves_out_top_level_keys_only(which: str) -> None:
    encode = encoder(which)
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
@needs_c
def test_hands_back_what_it_does_not_write(message: dict[str, Any]) -> None:
    assert encode(1, "send", 0.0, message, 10, None) is None


@needs_c
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
