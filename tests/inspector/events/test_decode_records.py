"""The batch decoder (C `decode`) gives exactly the events `decode_record` gives, or raises
exactly what it raises; the pure-Python fallback is the same list."""

from __future__ import annotations

import marshal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events import model as events
from inspector.events.model import (
    MARSHAL_VERSION,
    Event,
    clean_exit_message,
    decode_record,
    decode_records,
    encode_record,
)

pytestmark = pytest.mark.skipif(events._c_decode is None, reason="C extension not built")

atoms = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(),
                  st.text(max_size=50), st.binary(max_size=50),
                  st.sampled_from(["type", "http.response.start", "\u00e9t\u00e9", "\ud800"]))
values = st.recursive(atoms, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)
messages = st.one_of(st.none(), st.dictionaries(st.text(max_size=12), values, max_size=6),
                     values)
records = st.builds(
    encode_record, conn=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["scope", "receive", "send", "exit"]),
    time=st.floats(allow_nan=False), message=messages,
    truncated=st.one_of(st.none(), st.integers(0, 2**40)))


def one_by_one(first_seq: int, batch: list[Any]) -> list[Event] | tuple[type, str]:
    try:
        return [decode_record(first_seq + i, r) for i, r in enumerate(batch)]
    except Exception as exc:
        return type(exc), str(exc)


def batched(first_seq: int, batch: list[Any]) -> list[Event] | tuple[type, str]:
    try:
        return decode_records(first_seq, batch)
    except Exception as exc:
        return type(exc), str(exc)


def same(fast: object, slow: object) -> None:
    """Equal values of equal types, down to each item (repr tells 1 from 1.0 and True)."""
    assert repr(fast) == repr(slow)
    if isinstance(slow, list):
        assert isinstance(fast, list) and all(type(e) is Event for e in fast)


@settings(max_examples=500, deadline=None)
@given(first_seq=st.integers(0, 2**62), batch=st.lists(records, max_size=8))
def test_same_events_as_decode_record(first_seq: int, batch: list[bytes]) -> None:
    same(batched(first_seq, batch), one_by_one(first_seq, batch))


def test_a_clean_exit_gets_its_own_message_each_time() -> None:
    exits = decode_records(0, [encode_record(1, "exit", 1.0, None)] * 2)
    assert [e.message for e in exits] == [clean_exit_message()] * 2
    assert exits[0].message is not exits[1].message and exits[0].truncated is None


def test_truncated_is_kept() -> None:
    event, = decode_records(7, [encode_record(1, "send", 1.0, {"type": "x"}, 70_000)])
    assert event == Event(7, 1, 1.0, "send", {"type": "x"}, 70_000)


def test_shared_short_values_are_the_same_values() -> None:
    record = encode_record(1, "send", 1.0, {"type": "x", "headers": [(b"a", b"b")], "t": "a"})
    first, second = decode_records(0, [record, record])
    assert first.message == second.message
    first.message["headers"].append((b"c", b"d"))     # containers are never shared
    assert second.message["headers"] == [(b"a", b"b")]


JUNK = [
    b"", b"(", b"N", b"\xff\xff", marshal.dumps([1, "send", 1.0, None], MARSHAL_VERSION),
    marshal.dumps((1, "send", 1.0), MARSHAL_VERSION),
    marshal.dumps("abcd", MARSHAL_VERSION),                      # unpacks into 4 fields
    marshal.dumps((1, "send", 1.0, {"s": {1, 2}}), MARSHAL_VERSION),
    marshal.dumps((1, "send", 1.0, {"t": (1, "x"), 1.5: 2j}), MARSHAL_VERSION),
    marshal.dumps((1, "send", 1.0, {"type": "x"}, None, 6), MARSHAL_VERSION),
    marshal.dumps((1, "send", 1.0, {"type": "x"}), 4),            # format 4: references
    b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\x04\x00\x00\x00sendg" + bytes(8) + b"{i\x01\x00\x00\x00N0"
    + b"trailing",
    b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\x04\x00\x00\x00sendg" + bytes(8) + b"{u\x01\x00\x00\x00k0",
    b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\x04\x00\x00\x00sendg" + bytes(8) + b"{[\x00\x00\x00\x00N0",
    b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\x04\x00\x00\x00sendg" + bytes(8) + b"(\x01\x00\x00\x000",
    b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\xff\xff\xff\xffsend",
    b"(\x04\x00\x00\x00i\x01\x00\x00\x00u\x02\x00\x00\x00\xc3(N",     # invalid UTF-8
    bytearray(encode_record(1, "send", 1.0, {"type": "x"})),
    "not bytes", None,
]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_gives_what_decode_record_gives(junk: Any) -> None:
    whole = encode_record(1, "send", 1.0, {"type": "x"})
    same(batched(3, [whole, junk]), one_by_one(3, [whole, junk]))


@settings(max_examples=300, deadline=None)
@given(record=records, cut=st.integers(0, 400), flip=st.integers(0, 400),
       byte=st.integers(0, 255))
def test_cut_and_damaged_records(record: bytes, cut: int, flip: int, byte: int) -> None:
    damaged = bytearray(record[:cut])
    if flip < len(damaged):
        damaged[flip] = byte
    batch = [bytes(damaged)]
    same(batched(0, batch), one_by_one(0, batch))


def test_deep_nesting_goes_to_marshal() -> None:
    deep: Any = None
    for _ in range(200):
        deep = [deep]
    batch = [encode_record(1, "send", 1.0, {"type": "x", "deep": deep})]
    same(batched(0, batch), one_by_one(0, batch))


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        events._c_decode(0, [], dict, decode_record, clean_exit_message)
    with pytest.raises(TypeError):
        events._c_decode(0, 5, Event, decode_record, clean_exit_message)
    with pytest.raises(TypeError):
        events._c_decode(0, [])


def test_the_python_fallback_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [encode_record(1, "scope", 0.5, {"type": "http", "path": "/"}),
             encode_record(1, "exit", 1.0, None),
             encode_record(1, "send", 1.0, {"type": "x"}, 99)]
    fast = decode_records(4, batch)
    monkeypatch.setattr(events, "_c_decode", None)
    same(decode_records(4, batch), fast)
