"""The tap wire protocol without I/O: bytes in, frames out, errors that name the culprit."""

from __future__ import annotations

import json
import marshal
import struct
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events.model import Event, encode_record
from inspector.events.ring import PyRingBuffer, RingBuffer
from inspector.tap.protocol import (
    EVENTS_HEAD,
    HEADER,
    MAX_FRAME_SIZE,
    PROTOCOL,
    VERSION,
    Bye,
    Events,
    FrameDecoder,
    FrameType,
    Hello,
    LocalProtocolError,
    Missed,
    RemoteProtocolError,
    Start,
    StartFrom,
    Stats,
    TapProtocolError,
    decode_record,
    encode_bye,
    encode_events,
    encode_hello,
    encode_missed,
    encode_start,
    encode_stats,
    fill_events_head,
)

HELLO_INFO = {"pid": 42, "argv": ["app"], "app": "main:app", "capture_started": 1.5e9,
              "capacity": 100, "max_bytes": 1 << 20, "first_seq": 3, "next_seq": 5}
RECORDS = [encode_record(1, "scope", 0.0, {"type": "http", "path": "/"}),
           encode_record(1, "send", 0.25, {"type": "http.response.body", "body": b"x" * 9},
                         truncated=100)]


def raw_frame(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), kind) + payload


def server_stream() -> bytes:
    return b"".join([encode_hello(HELLO_INFO), encode_events(3, RECORDS), encode_missed(7),
                     encode_events(12, RECORDS[:1]), encode_stats({"size": 2}),
                     encode_bye("publisher stopped")])


EXPECTED = [
    Hello({**HELLO_INFO, "protocol": PROTOCOL, "version": VERSION}),
    Events([Event(3, 1, 0.0, "scope", {"type": "http", "path": "/"}),
            Event(4, 1, 0.25, "send", {"type": "http.response.body", "body": b"x" * 9}, 100)]),
    Missed(7),
    Events([Event(12, 1, 0.0, "scope", {"type": "http", "path": "/"})]),
    Stats({"size": 2}),
    Bye("publisher stopped"),
]


def test_round_trip_of_every_server_frame() -> None:
    decoder = FrameDecoder("client")
    assert decoder.feed(server_stream()) == EXPECTED
    assert decoder.state == "closed"
    assert decoder.pending_bytes == 0
    hello, events = EXPECTED[0], EXPECTED[1]
    assert isinstance(hello, Hello) and (hello.first_seq, hello.next_seq) == (3, 5)
    assert isinstance(events, Events) and (events.first_seq, events.next_seq) == (3, 5)


@pytest.mark.parametrize("start", ["backlog", "live", 0, 12345])
def test_round_trip_of_start(start: StartFrom) -> None:
    assert FrameDecoder("server").feed(encode_start(start)) == [Start(start)]


def test_start_without_from_means_backlog() -> None:
    payload = json.dumps({"protocol": PROTOCOL, "version": VERSION}).encode()
    assert FrameDecoder("server").feed(raw_frame(FrameType.START, payload)) == [Start("backlog")]


def test_events_payload_is_the_ring_records_untouched() -> None:
    assert encode_events(3, RECORDS) == events_frame(3, RECORDS)


@pytest.mark.parametrize("Ring", [RingBuffer, PyRingBuffer])
def test_a_frame_written_by_the_ring_is_the_same_frame(Ring: Any) -> None:
    ring = Ring(capacity=10)
    for r in RECORDS * 3:
        ring.append(r)
    got = ring.framed(1, 4, 1 << 20, EVENTS_HEAD)
    frame = fill_events_head(got.blob, got.first_seq, got.count)
    assert got.count == 4 and bytes(frame) == encode_events(1, (RECORDS * 3)[1:5])
    with pytest.raises(LocalProtocolError):
        fill_events_head(bytearray(EVENTS_HEAD), 0, 0)


def test_byte_by_byte() -> None:
    decoder = FrameDecoder("client")
    frames = [frame for byte in server_stream() for frame in decoder.feed(bytes([byte]))]
    assert frames == EXPECTED


@settings(database=None)
@given(st.lists(st.integers(min_value=0, max_value=len(server_stream())), max_size=20))
def test_arbitrary_splits(cuts: list[int]) -> None:
    data = server_stream()
    bounds = [0, *sorted(cuts), len(data)]
    decoder = FrameDecoder("client")
    frames = [f for a, b in pairwise(bounds) for f in decoder.feed(data[a:b])]
    assert frames == EXPECTED


@settings(max_examples=200, database=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_a_remote_protocol_error(data: bytes) -> None:
    for role in ("client", "server"):
        try:
            FrameDecoder(role).feed(data)
        except RemoteProtocolError:
            pass


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_random_events_payloads_only_ever_raise_a_remote_protocol_error(data: bytes) -> None:
    decoder = FrameDecoder("client")
    decoder.feed(encode_hello(HELLO_INFO))
    try:
        decoder.feed(raw_frame(FrameType.EVENTS, data))
    except RemoteProtocolError:
        pass


# -- garbage and oversized frames --------------------------------------------------------


def test_http_request_is_refused_from_its_header() -> None:
    with pytest.raises(RemoteProtocolError, match="is the peer an asgi-inspector tap"):
        FrameDecoder("client").feed(b"GET / HTTP/1.1\r\n")


def test_oversized_frame_is_refused_before_its_payload_arrives() -> None:
    decoder = FrameDecoder("client", max_frame_size=1000)
    with pytest.raises(RemoteProtocolError, match="1001 bytes exceeds the 1000-byte limit"):
        decoder.feed(HEADER.pack(1001, FrameType.HELLO))


def test_server_side_limit_is_small() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        FrameDecoder("server").feed(HEADER.pack(MAX_FRAME_SIZE, FrameType.START))


def test_first_frame_must_be_hello() -> None:
    with pytest.raises(RemoteProtocolError, match="EVENTS not allowed in state 'handshake'"):
        FrameDecoder("client").feed(encode_events(0, RECORDS))


def test_unknown_frame_type() -> None:
    decoder = FrameDecoder("client")
    decoder.feed(encode_hello(HELLO_INFO))
    with pytest.raises(RemoteProtocolError, match="unknown frame type 0x7f"):
        decoder.feed(raw_frame(0x7F, b""))


def test_nothing_after_bye() -> None:
    decoder = FrameDecoder("client")
    decoder.feed(encode_hello(HELLO_INFO) + encode_bye("done"))
    with pytest.raises(RemoteProtocolError, match="not allowed in state 'closed'"):
        decoder.feed(encode_stats({}))


def test_server_accepts_one_start_and_no_server_frames() -> None:
    with pytest.raises(RemoteProtocolError, match="HELLO not allowed"):
        FrameDecoder("server").feed(encode_hello(HELLO_INFO))
    decoder = FrameDecoder("server")
    decoder.feed(encode_start())
    with pytest.raises(RemoteProtocolError, match="START not allowed in state 'started'"):
        decoder.feed(encode_start())


def test_decoder_stays_broken() -> None:
    decoder = FrameDecoder("client")
    with pytest.raises(RemoteProtocolError) as first:
        decoder.feed(b"garbage!")
    with pytest.raises(RemoteProtocolError) as second:
        decoder.feed(encode_hello(HELLO_INFO))
    assert second.value is first.value


@pytest.mark.parametrize("payload, match", [
    (b"\xff{", "not JSON"),
    (b"[1]", "not a JSON object"),
    (b"[" * 100_000, "not JSON"),
    (json.dumps({"protocol": "http", "version": 1}).encode(), "protocol 'http'"),
    (json.dumps({"protocol": PROTOCOL, "version": 2, "first_seq": 0, "next_seq": 0}).encode(),
     "version 2, we speak 1"),
    (json.dumps({"protocol": PROTOCOL, "version": 1, "first_seq": -1, "next_seq": 0}).encode(),
     "first_seq"),
    (json.dumps({"protocol": PROTOCOL, "version": 1, "first_seq": 0}).encode(), "next_seq"),
])
def test_bad_hello(payload: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        FrameDecoder("client").feed(raw_frame(FrameType.HELLO, payload))


@pytest.mark.parametrize("payload, match", [
    (json.dumps({"protocol": PROTOCOL, "version": 1, "from": "yesterday"}).encode(), "from"),
    (json.dumps({"protocol": PROTOCOL, "version": 1, "from": True}).encode(), "from"),
    (json.dumps({"protocol": PROTOCOL, "version": 1, "from": -3}).encode(), "from"),
    (json.dumps({"from": "live"}).encode(), "protocol None"),
])
def test_bad_start(payload: bytes, match: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        FrameDecoder("server").feed(raw_frame(FrameType.START, payload))


@pytest.mark.parametrize("kind, payload, match", [
    (FrameType.MISSED, b"\x00" * 4, "MISSED payload is 4 bytes"),
    (FrameType.STATS, b"null", "not a JSON object"),
    (FrameType.BYE, b"{}", "reason"),
])
def test_bad_small_frames(kind: FrameType, payload: bytes, match: str) -> None:
    decoder = FrameDecoder("client")
    decoder.feed(encode_hello(HELLO_INFO))
    with pytest.raises(RemoteProtocolError, match=match):
        decoder.feed(raw_frame(kind, payload))


# -- malformed records -------------------------------------------------------------------


def events_frame(first_seq: int, records: list[bytes]) -> bytes:
    body = b"".join(struct.pack(">I", len(r)) + r for r in records)
    return raw_frame(FrameType.EVENTS, struct.pack(">QI", first_seq, len(records)) + body)


def record(*fields: Any) -> bytes:
    return marshal.dumps(fields, 2)


GOOD = RECORDS[0]


@pytest.mark.parametrize("frame, match", [
    (raw_frame(FrameType.EVENTS, b"\x00" * 11), "no batch header"),
    (raw_frame(FrameType.EVENTS, b""), "no batch header"),
    (events_frame(0, []), "announces 0 records"),
    (raw_frame(FrameType.EVENTS, struct.pack(">QI", 0, 0xFFFFFFFF)), "announces 4294967295"),
    (raw_frame(FrameType.EVENTS, struct.pack(">QII", 0, 2, len(GOOD)) + GOOD + b"\x00" * 3),
     "ends before record 1"),
    (raw_frame(FrameType.EVENTS, struct.pack(">QII", 7, 1, 999) + b"(\x04"),
     "record 7 of 999 bytes overruns"),
    (raw_frame(FrameType.EVENTS, events_frame(0, [GOOD])[HEADER.size:] + b"xx"), "2 stray bytes"),
    (events_frame(5, [b"\x00nope"]), "record 5 is not a marshal 4- or 5-tuple"),
    (events_frame(0, [b""]), "not a marshal 4- or 5-tuple"),
    (events_frame(0, [marshal.dumps([1, "send", 0.0, {}], 2)]), "not a marshal 4- or 5-tuple"),
    (events_frame(0, [record(1, "send", 0.0)]), "not a marshal 4- or 5-tuple"),
    # A tuple header announcing 2**31 items: refused before marshal allocates them.
    (events_frame(0, [b"(\xff\xff\xff\x7f"]), "not a marshal 4- or 5-tuple"),
    (events_frame(0, [b"(\x04\x00\x00\x00i"]), "not a marshal record"),
    (events_frame(0, [GOOD, record("1", "send", 0.0, {})]), "record 1: conn is str"),
    (events_frame(0, [record(1, "sent", 0.0, {})]), "kind 'sent'"),
    (events_frame(0, [record(1, "send", "0", {})]), "time is str"),
    (events_frame(0, [record(1, "send", 0.0, [])]), "message is list"),
    (events_frame(0, [record(1, "send", 0.0, {}, -1)]), "truncated -1"),
    (events_frame(0, [record(1, "send", 0.0, {}, 1.5)]), "truncated 1.5"),
])
def test_malformed_events(frame: bytes, match: str) -> None:
    decoder = FrameDecoder("client")
    decoder.feed(encode_hello(HELLO_INFO))
    with pytest.raises(RemoteProtocolError, match=match) as info:
        decoder.feed(frame)
    assert "the peer broke the tap protocol" in str(info.value)


def test_decode_record_accepts_int_time_and_marshal_format_4() -> None:
    event = decode_record(9, marshal.dumps((2, "exit", 3, {"type": "inspector.exit"}), 4))
    assert event == Event(9, 2, 3.0, "exit", {"type": "inspector.exit"})


def test_decode_record_expands_a_clean_exit() -> None:
    assert decode_record(1, encode_record(3, "exit", 0.5, None)) == Event(
        1, 3, 0.5, "exit", {"type": "inspector.exit", "exception": None})
    with pytest.raises(RemoteProtocolError, match="message is NoneType"):
        decode_record(1, encode_record(3, "send", 0.5, None))


def test_decode_record_refuses_non_bytes() -> None:
    with pytest.raises(RemoteProtocolError, match="record 3 is str, not bytes"):
        decode_record(3, "text")


# -- our own mistakes are ours -----------------------------------------------------------


@pytest.mark.parametrize("encode", [
    lambda: encode_events(0, []),
    lambda: encode_events(-1, RECORDS),
    lambda: encode_missed(-1),
    lambda: encode_start("yesterday"),  # type: ignore[arg-type]
    lambda: encode_start(True),
    lambda: encode_stats({"x": object()}),
    lambda: encode_stats({"x": float("nan")}),
    lambda: encode_hello({"first_seq": 0}),
    lambda: encode_events(0, [b"x" * (MAX_FRAME_SIZE + 1)]),
])
def test_local_errors(encode: object) -> None:
    with pytest.raises(LocalProtocolError, match="^we broke the tap protocol"):
        encode()  # type: ignore[operator]


def test_errors_share_a_base_and_keep_the_detail() -> None:
    error = RemoteProtocolError("bad thing")
    assert isinstance(error, TapProtocolError)
    assert error.detail == "bad thing" and error.blame == "the peer"


def test_header_layout_is_frozen() -> None:
    # Version 1 readers and every later version agree on this much.
    assert encode_missed(1) == struct.pack(">IBQ", 8, 3, 1)
