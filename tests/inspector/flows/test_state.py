"""The fold's readers of untrusted values: their fast paths give what the slow paths give."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.flows import state as flow_state
from inspector.flows.model import Flow
from inspector.flows.state import as_addr, as_headers

junk_atoms = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
                       st.binary(max_size=6), st.binary(max_size=6).map(bytearray))
pair_like = st.one_of(
    st.tuples(st.binary(max_size=8), st.binary(max_size=8)),
    st.lists(junk_atoms, max_size=3), st.lists(junk_atoms, max_size=3).map(tuple), junk_atoms)
header_values = st.one_of(st.lists(pair_like, max_size=5), st.lists(pair_like, max_size=5).map(tuple),
                          junk_atoms, st.dictionaries(st.binary(max_size=3), st.binary(max_size=3)))


class TupleSubclass(tuple):  # type: ignore[type-arg]
    pass


@settings(max_examples=500, deadline=None)
@given(value=header_values)
def test_header_pairs_fast_path_agrees_with_the_slow_one(value: Any) -> None:
    fast = as_headers(value)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flow_state, "_header_pairs", flow_state._no_header_pairs)
        slow = as_headers(value)
    assert fast == slow and [type(p) for p in fast] == [type(p) for p in slow]
    assert all(type(n) is bytes and type(v) is bytes for n, v in fast)
    assert fast is not value            # always a new list: the fold may extend it


@pytest.mark.skipif(flow_state._header_pairs is flow_state._no_header_pairs,
                    reason="C extension not built")
def test_header_pairs_takes_exact_pairs_only() -> None:
    pairs = [(b"a", b"1"), (b"b", b"2")]
    assert flow_state._header_pairs(pairs) == pairs
    assert flow_state._header_pairs(tuple(pairs)) == pairs
    for odd in ([(b"a", bytearray(b"1"))], [[b"a", b"1"]], [TupleSubclass((b"a", b"1"))],
                [(b"a", b"1", b"2")], [(b"a", "1")], TupleSubclass(pairs), "ab", None):
        assert flow_state._header_pairs(odd) is None


@settings(max_examples=300, deadline=None)
@given(host=junk_atoms, port=junk_atoms)
def test_an_address_tuple_reads_as_the_same_address_as_a_list(host: Any, port: Any) -> None:
    """An exact (str, int) tuple is returned as it is; a list takes the slow path."""
    assert as_addr((host, port)) == as_addr([host, port])
    assert as_addr(("h", 80)) == ("h", 80) and as_addr(("h", True)) == ("h", 0)


@settings(max_examples=300, deadline=None)
@given(headers=st.lists(st.tuples(
    st.sampled_from([b"content-type", b"Content-Type", b"content-length", b"x", b"CONTENT-TYPE"]),
    st.sampled_from([b"text/event-stream", b"Text/Event-Stream; charset=utf-8", b"text/event",
                     b"text/plain", b"", b"TEXT/EVENT-STREAMX"])), max_size=3))
def test_is_sse_as_before(headers: list[tuple[bytes, bytes]]) -> None:
    flow = Flow(1, "http", response_headers=headers)
    assert flow.is_sse == any(n.lower() == b"content-type"
                              and v.lower().startswith(b"text/event-stream") for n, v in headers)
