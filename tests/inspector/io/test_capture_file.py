"""Capture files: lossless round trips, readable lines, and errors that name the line."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events.model import KINDS, Event
from inspector.io.capture_file import (
    Capture,
    CaptureError,
    CaptureWriter,
    iter_capture,
    read_capture,
)
from inspector.io.codec import (
    ADDRESS_FIELDS,
    BYTES_FIELDS,
    FORMAT,
    PAIR_FIELDS,
    TAGS,
    encode_event,
    encode_gap,
    encode_header,
    encode_message,
)
from inspector.io.decode import decode_event, decode_gap, decode_header, decode_message

# --- helpers -------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (== says 1 == 1.0 == True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def same_event(a: Event, b: Event) -> bool:
    return (a == b and same(a.message, b.message) and same(a.time, b.time)
            and same(a.truncated, b.truncated))


def strict_loads(line: str) -> Any:
    """json.loads that refuses NaN/Infinity, which jq and most JSON parsers reject."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(line, parse_constant=refuse)


def write(path: Path, events: list[Event], **header: Any) -> None:
    with CaptureWriter(path, header) as writer:
        writer.write(events)


SCOPE = {
    "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/api/café",
    "raw_path": b"/api/caf%C3%A9", "query_string": b"q=1&x=%FF", "root_path": "",
    "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                (b"x-latin1", "é".encode("latin-1"))],
    "client": ("127.0.0.1", 51234), "server": ("127.0.0.1", 8000),
    "state": {}, "extensions": {"http.response.trailers": {}},
}
WS_SCOPE = {"type": "websocket", "path": "/ws", "raw_path": None, "query_string": b"",
            "headers": [], "client": None, "server": ("/tmp/app.sock", None),
            "subprotocols": ["chat", "superchat"]}
EXCEPTION = {"type": "inspector.exit",
             "exception": {"type": "ValueError", "message": "boom",
                           "traceback": "Traceback (most recent call last):\n  ...\n"}}

REALISTIC = [
    Event(0, 1, 0.0, "scope", SCOPE),
    Event(1, 1, 0.0001, "receive", {"type": "http.request", "body": b'{"a": ', "more_body": True}),
    Event(2, 1, 0.0002, "receive", {"type": "http.request", "body": b"\x00\xff\xfe",
                                    "more_body": True}),
    Event(3, 1, 0.0003, "receive", {"type": "http.request", "body": b"", "more_body": False}),
    Event(4, 1, 0.0010, "send", {"type": "http.response.start", "status": 200,
                                 "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                             (b"content-length", b"100000")],
                                 "trailers": False}),
    Event(5, 1, 0.0011, "send", {"type": "http.response.body", "body": b"x" * 1024,
                                 "more_body": False}, truncated=100_000),
    Event(6, 1, 0.0012, "exit", {"type": "inspector.exit", "exception": None}),
    Event(7, 2, 0.5, "scope", WS_SCOPE),
    Event(8, 2, 0.5, "receive", {"type": "websocket.connect"}),
    Event(9, 2, 0.501, "send", {"type": "websocket.accept", "subprotocol": "chat",
                                "headers": [(b"x-ws", b"1")]}),
    Event(10, 2, 0.6, "receive", {"type": "websocket.receive", "text": "abc", "bytes": None}),
    Event(11, 2, 0.7, "receive", {"type": "websocket.receive", "bytes": b"abc", "text": None}),
    Event(12, 2, 0.8, "send", {"type": "websocket.send", "text": "héllo ✓"}),
    Event(13, 2, 0.9, "send", {"type": "websocket.close", "code": 1000, "reason": ""}),
    Event(14, 2, 1.25, "exit", EXCEPTION),
]

# --- round trips ---------------------------------------------------------------------


def test_realistic_events_round_trip_exactly(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC, started=1764047820.25, pid=4242, source="app:main")
    capture = read_capture(path)
    assert capture.header == {"format": FORMAT, "version": 1, "started": 1764047820.25,
                              "pid": 4242, "source": "app:main"}
    assert capture.events == REALISTIC and len(capture) == len(REALISTIC)
    assert all(same_event(a, b) for a, b in zip(capture, REALISTIC))
    assert capture.missed == 0


def test_websocket_text_and_bytes_stay_distinct() -> None:
    text = decode_event(json.loads(encode_event(REALISTIC[10])))
    data = decode_event(json.loads(encode_event(REALISTIC[11])))
    assert text.message["text"] == "abc" and data.message["bytes"] == b"abc"
    assert type(text.message["text"]) is str and type(data.message["bytes"]) is bytes
    # A str in a byte field and bytes in a str field are tagged, never confused.
    odd = {"type": "websocket.send", "bytes": "abc", "text": b"abc"}
    line = encode_event(Event(0, 0, 0.0, "send", odd))
    assert '"bytes":{"str":"abc"}' in line and '"text":{"utf8":"abc"}' in line
    assert same(decode_event(json.loads(line)).message, odd)


def test_header_pairs_and_addresses_given_as_lists_come_back_as_tuples() -> None:
    """The one documented normalisation: the ASGI spec's two-item iterables are tuples."""
    message = {"type": "http.response.start", "status": 204,
               "headers": [[b"a", b"1"], (b"b", b"2"), [b"odd"]], "client": ["h", 1]}
    back = decode_message(strict_loads(json.dumps(encode_message(message))))
    assert same(back, {"type": "http.response.start", "status": 204,
                       "headers": [(b"a", b"1"), (b"b", b"2"), [b"odd"]], "client": ("h", 1)})


def test_dicts_that_look_like_tags_and_odd_keys_round_trip() -> None:
    message = {"state": {"base64": "not bytes"}, "ext": {b"k": 1, 2: (3,), None: [4.5]},
               "weird": {"dict": []}, "nums": [float("inf"), -0.0, 10**30, True]}
    back = decode_message(strict_loads(json.dumps(encode_message(message))))
    assert same(back, message)
    for top in ({"base64": "x"}, {1: "int key at the top"}, {"body": b"x", b"k": b"y"}):
        assert same(decode_message(strict_loads(json.dumps(encode_message(top)))), top)


def test_nan_and_lone_surrogates_survive_a_file(tmp_path: Path) -> None:
    event = Event(0, 0, 0.0, "send", {"type": "x", "f": float("nan"), "text": "a\ud800b"})
    path = tmp_path / "odd.jsonl"
    write(path, [event])
    path.read_bytes().decode("utf-8")          # still valid UTF-8: the surrogate is escaped
    (back,) = read_capture(path).events
    assert same(back.message, event.message)
    assert "\\ud800" in encode_event(event)


def test_non_plain_data_is_summarised_not_fatal(tmp_path: Path) -> None:
    """marshal lets sets and the like into the ring; the writer must not stop on them."""
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path) as writer:
        writer.write([Event(1, 0, 0.0, "send", {"app": object(), "tags": {1}})])
    (back,) = read_capture(path).events
    assert back.message == {"app": "<builtins.object>", "tags": [1]}


def test_a_batch_that_cannot_be_encoded_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path) as writer:
        with pytest.raises(ValueError):
            writer.write([REALISTIC[0], Event(1, 0, float("nan"), "send", {})])
        assert writer.events_written == 0
    assert read_capture(path).events == []


def test_messages_that_are_not_dicts_round_trip() -> None:
    """The recorder's clean-exit events carry message None."""
    for message in (None, [1, b"x"], (b"a", "b"), "text"):
        event = Event(3, 1, 0.5, "exit", message)  # type: ignore[arg-type]
        assert same_event(decode_event(strict_loads(encode_event(event))), event)


def test_subclasses_are_written_as_their_plain_base() -> None:
    from collections import OrderedDict, namedtuple
    from enum import IntEnum

    class Status(IntEnum):
        OK = 200

    Pair = namedtuple("Pair", "a b")
    message = {"status": Status.OK, "body": bytearray(b"hi"), "x": Pair(1, 2),
               "d": OrderedDict(a=1)}
    back = decode_message(json.loads(json.dumps(encode_message(message))))
    assert same(back, {"status": 200, "body": b"hi", "x": (1, 2), "d": {"a": 1}})


# --- property: every plain-data message round-trips ----------------------------------

FIELD_KEYS = sorted(BYTES_FIELDS | PAIR_FIELDS | ADDRESS_FIELDS | TAGS) + ["type", "text"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(st.characters(exclude_categories=()), max_size=8) | st.binary(max_size=8))
hashables = scalars | st.tuples(scalars, scalars)
keys = st.sampled_from(FIELD_KEYS) | st.text(max_size=4) | hashables
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
                   | st.dictionaries(keys, inner, max_size=4)),
    max_leaves=8)
byte_or_text = st.binary(max_size=6) | st.text(max_size=6)
pairs = st.lists(st.tuples(byte_or_text, byte_or_text)
                 | st.lists(byte_or_text, min_size=2, max_size=2) | values, max_size=3)
messages = st.dictionaries(keys, values | pairs | pairs.map(tuple), max_size=6)


def normalised(message: Any) -> Any:
    """What the format promises to give back: two-item pairs and addresses as tuples."""
    def two(v: Any) -> bool:
        return type(v) in (list, tuple) and len(v) == 2

    if type(message) is not dict:
        return message
    out = {}
    for k, v in message.items():
        if type(k) is str and k in PAIR_FIELDS and type(v) in (list, tuple):
            v = type(v)(tuple(p) if two(p) else p for p in v)
        elif type(k) is str and k in ADDRESS_FIELDS and two(v):
            v = tuple(v)
        out[k] = v
    return out


@settings(max_examples=100, deadline=None)
@given(messages)
def test_any_plain_message_round_trips(message: dict[Any, Any]) -> None:
    line = json.dumps(encode_message(message), ensure_ascii=False, allow_nan=False)
    assert same(decode_message(strict_loads(line)), normalised(message))


@settings(max_examples=50, deadline=None)
@given(st.builds(Event, st.integers(0, 2**63), st.integers(0, 2**31),
                 st.floats(0, 1e6), st.sampled_from(KINDS), messages | values,
                 st.none() | st.integers(0, 2**40)))
def test_any_event_round_trips_through_one_strict_utf8_line(event: Event) -> None:
    line = encode_event(event)
    assert "\n" not in line and "\r" not in line
    line.encode("utf-8")
    back = decode_event(strict_loads(line))
    assert same_event(back, Event(event.seq, event.conn, event.time, event.kind,
                                  normalised(event.message), event.truncated))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: (st.lists(inner, max_size=3)
                   | st.dictionaries(st.sampled_from(FIELD_KEYS) | st.text(max_size=3), inner,
                                     max_size=3)),
    max_leaves=8)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({"seq": st.just(1), "conn": st.just(1), "time": st.just(0.5),
                              "kind": st.just("send"), "message": json_values}))
def test_any_json_decodes_or_raises_value_error(obj: dict[str, Any]) -> None:
    """A hand-edited or corrupt line must come out as a CaptureError, never a crash."""
    try:
        decode_event(obj)
    except ValueError:
        pass


# --- grep / jq readability -----------------------------------------------------------


def test_lines_are_readable_where_people_grep(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC)
    lines = path.read_text("utf-8").splitlines()
    scope_line, start_line = lines[1], lines[5]
    assert '["content-type","application/json"]' in scope_line
    assert '"path":"/api/café"' in scope_line and '"raw_path":"/api/caf%C3%A9"' in scope_line
    assert '"method":"POST"' in scope_line and '"client":["127.0.0.1",51234]' in scope_line
    assert '"query_string":"q=1&x=%FF"' in scope_line   # percent-escapes are plain ASCII
    assert '["x-latin1",{"base64":"6Q=="}]' in scope_line  # not UTF-8: base64, tagged
    assert '"content-type","text/plain; charset=utf-8"' in start_line
    assert '"body":"{\\"a\\": "' in lines[2]
    assert '"body":{"base64":"AP/+"}' in lines[3]
    assert '"truncated":100000' in lines[6] and '"truncated"' not in lines[5]
    assert '"text":"héllo ✓"' in lines[13]
    # jq's view: the message is an object, headers an array of [name, value] strings.
    obj = strict_loads(scope_line)
    assert obj["message"]["headers"][1] == ["content-type", "application/json"]
    assert obj["kind"] == "scope" and obj["seq"] == 0


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_jq_reads_every_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC)
    query = ('select(.kind == "send") | .message.headers[]? '
             '| select(.[0] == "content-type") | .[1]')
    out = subprocess.run(["jq", "-r", query, str(path)], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    assert out == "text/plain; charset=utf-8\n"


def test_header_line_and_helpers() -> None:
    line = encode_header({"started": 1.5, "source": "tëst"})
    assert line.startswith('{"format":"asgi-inspector-capture","version":1,')
    assert decode_header(json.loads(line))["source"] == "tëst"
    with pytest.raises(ValueError, match="format"):
        encode_header({"format": "mine"})
    assert encode_gap(3) == '{"gap":3}' and decode_gap({"gap": 3}) == 3
    assert decode_gap({"seq": 1}) is None
    with pytest.raises(ValueError):
        encode_gap(-1)


# --- files: header, gaps, BOM, errors ------------------------------------------------


def test_gaps_are_counted_not_returned(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CaptureWriter(str(path), {"pid": 1}) as writer:
        writer.write(REALISTIC[:2])
        writer.write_gap(5)
        writer.write_gap(0)                    # nothing lost, nothing written
        writer.write(REALISTIC[2:4])
        writer.write_gap(2)
        assert writer.missed == 7 and writer.events_written == 4
    assert path.read_text().count('{"gap":') == 2
    capture = read_capture(path)
    assert capture.missed == 7 and capture.events == REALISTIC[:4]
    lazy = Capture()
    assert list(iter_capture(path, lazy)) == REALISTIC[:4]
    assert lazy.missed == 7 and lazy.header["pid"] == 1 and lazy.events == []


def test_bom_crlf_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "edited.jsonl"
    write(path, REALISTIC[:3])
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n\r\n".join(lines) + b"\r\n  \r\n")
    capture = read_capture(path)
    assert capture.events == REALISTIC[:3] and capture.header["version"] == 1


def test_iter_capture_is_lazy(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC)
    it = iter_capture(path)
    assert next(it) == REALISTIC[0]
    path.unlink()                               # the file stays open while iterating
    assert list(it) == REALISTIC[1:]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"\n\n", "empty file"),
    (b"hello world\n", "not an asgi-inspector capture (not valid JSON"),
    (b'{"log": {"version": "1.2"}}\n', "not an asgi-inspector capture"),
    (b'{"format": "har", "version": 1}\n', "format 'har'"),
    (b'{"format": "asgi-inspector-capture", "version": 2}\n', "version 2 is newer"),
    (b'{"format": "asgi-inspector-capture", "version": "1"}\n', "bad capture header"),
    (b'{"seq": 0, "conn": 1, "time": 0.0, "kind": "scope", "message": {}}\n',
     "not an asgi-inspector capture"),
])
def test_files_that_are_not_captures_are_refused(tmp_path: Path, content: bytes,
                                                 reason: str) -> None:
    path = tmp_path / "other.jsonl"
    path.write_bytes(content)
    with pytest.raises(CaptureError) as info:
        read_capture(path)
    assert reason in str(info.value) and str(path) in str(info.value)
    assert info.value.capture.events == [] and isinstance(info.value, ValueError)


def test_truncated_last_line_keeps_the_events_before_it(tmp_path: Path) -> None:
    path = tmp_path / "crash.jsonl"
    write(path, REALISTIC[:5])
    full = encode_event(REALISTIC[5]).encode()
    with path.open("ab") as f:
        f.write(full[: len(full) // 2])        # the writer died mid-line
    with pytest.raises(CaptureError) as info:
        read_capture(path)
    err = info.value
    assert err.line == 7 and err.path == str(path)
    assert str(err) == f"{path}: line 7: truncated last line: the writer stopped mid-line"
    assert err.capture.events == REALISTIC[:5] and err.capture.header["version"] == 1


def test_truncated_mid_utf8_character_is_still_a_truncated_line(tmp_path: Path) -> None:
    path = tmp_path / "crash.jsonl"
    write(path, [])
    full = encode_event(REALISTIC[12]).encode()
    cut = full.index("✓".encode()) + 1
    path.write_bytes(path.read_bytes() + full[:cut])
    with pytest.raises(CaptureError, match="line 2: truncated last line"):
        read_capture(path)


@pytest.mark.parametrize("bad, reason", [
    (b'{"seq": 1, "conn": 1, "time": 0.1, "kind": "send", "message": {', "not valid JSON"),
    (b"\xff\xfe garbage", "not UTF-8"),
    (b'{"seq": "1", "conn": 1, "time": 0.1, "kind": "send", "message": {}}', '"seq" is'),
    (b'{"conn": 1, "time": 0.1, "kind": "send", "message": {}}', '"seq" is missing'),
    (b'{"seq": 1, "conn": 1, "time": 0.1, "kind": "sent", "message": {}}', '"kind" is'),
    (b'{"seq": 1, "conn": 1, "time": "now", "kind": "send", "message": {}}', '"time" is'),
    (b'{"seq": 1, "conn": 1, "time": 0.1, "kind": "send"}', '"message" is missing'),
    (b'[1, 2]', "event line is list"),
    (b'{"seq": 1, "conn": 1, "time": 0, "kind": "send", "truncated": -1, "message": {}}',
     '"truncated" is -1'),
    (b'{"seq": 1, "conn": 1, "time": 0, "kind": "send", "message": {"x": {"base64": "!"}}}',
     '"base64" tag'),
    (b'{"seq": 1, "conn": 1, "time": 0, "kind": "send", "message": {"x": {"float": "x"}}}',
     '"float" tag'),
    (b'{"seq": 1, "conn": 1, "time": 0, "kind": "send", '
     b'"message": {"x": {"dict": [[[1], 2]]}}}', "unhashable"),
    (b'{"gap": -3}', '"gap" is -3'),
])
def test_a_corrupt_middle_line_is_named(tmp_path: Path, bad: bytes, reason: str) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC[:4])
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(3, bad + b"\n")                # after two events: line 4
    path.write_bytes(b"".join(lines))
    with pytest.raises(CaptureError) as info:
        read_capture(path)
    message = str(info.value)
    assert reason in message and "\n" not in message
    assert message.startswith(f"{path}: line 4: ")
    assert info.value.line == 4 and info.value.capture.events == REALISTIC[:2]


def test_capture_error_pickles(tmp_path: Path) -> None:
    err = CaptureError("f.jsonl", 3, "bad", Capture({"version": 1}, REALISTIC[:1], 2))
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.line == 3 and back.capture == err.capture


def test_writer_truncates_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC)
    write(path, REALISTIC[:1])
    assert read_capture(path).events == REALISTIC[:1]


def test_bad_header_extra_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write(path, REALISTIC[:2])
    with pytest.raises(ValueError):
        CaptureWriter(path, {"version": 2})
    with pytest.raises(TypeError):
        CaptureWriter(path, {"when": object()})
    assert read_capture(path).events == REALISTIC[:2]
