"""The tap wire protocol, sans I/O: frames to bytes, bytes to frames.

Why a protocol of our own: a dashboard started after the app must attach to it and get what
the app's ring buffer still holds, then everything live, without the app re-encoding a
single event. Records cross the socket exactly as the ring stores them (marshal tuples, see
`inspector.events.model`), length-prefixed and concatenated: publishing never re-encodes.

The frames themselves, the limits and the errors are `inspector.tap.frames`. Like h11,
nothing here owns a socket, a clock or a loop: `FrameDecoder.feed` takes bytes
and returns frames, the `encode_*` functions return bytes, and every error says whether we
(`LocalProtocolError`) or the peer (`RemoteProtocolError`) broke the protocol.

A frame is a 5-byte header, `>IB` (payload length, frame type), then the payload. The
header layout and the HELLO/START frames are frozen across versions, so a reader can
always tell which version its peer speaks. Records are marshal data, and marshal is not
hardened against crafted input: only read peers you trust (tap sockets live in a directory
only their user can enter). The batch around them is our own framing, not marshal, so that
no count a peer announces is ever allocated before its bytes have arrived.
"""

from __future__ import annotations

import json
import marshal
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from inspector.events.model import EXIT, KINDS, Event, clean_exit_message
from inspector.tap.frames import (
    MAX_FRAME_SIZE,
    MAX_START_FRAME_SIZE,
    Bye,
    Events,
    Frame,
    FrameType,
    Hello,
    LocalProtocolError,
    Missed,
    RemoteProtocolError,
    Start,
    StartFrom,
    Stats,
    TapProtocolError,
)

__all__ = [
    "PROTOCOL", "VERSION", "HEADER", "MAX_FRAME_SIZE", "MAX_START_FRAME_SIZE", "Role",
    "StartFrom", "FrameType", "TapProtocolError", "LocalProtocolError", "RemoteProtocolError",
    "Hello", "Events", "Missed", "Stats", "Bye", "Start", "Frame", "encode_hello",
    "encode_events", "encode_missed", "encode_stats", "encode_bye", "encode_start",
    "decode_record", "FrameDecoder",
]

PROTOCOL = "asgi-inspector-tap"
VERSION = 1

HEADER = struct.Struct(">IB")
_COUNT = struct.Struct(">Q")
_BATCH = struct.Struct(">QI")     # EVENTS: first_seq, record count
_LENGTH = struct.Struct(">I")     # EVENTS: before each record

Role = Literal["client", "server"]


# -- encoding ----------------------------------------------------------------------------


def _frame(kind: FrameType, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_SIZE:
        raise LocalProtocolError(
            f"{kind.name} payload of {len(payload)} bytes exceeds {MAX_FRAME_SIZE}")
    return HEADER.pack(len(payload), kind) + payload


def _json(kind: FrameType, obj: Mapping[str, Any]) -> bytes:
    try:
        payload = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"{kind.name} payload is not plain JSON: {exc}") from None
    return _frame(kind, payload)


def encode_hello(info: Mapping[str, Any]) -> bytes:
    """HELLO with `info`; protocol name and version are set here so no caller forgets."""
    for key in ("first_seq", "next_seq"):
        if not _is_seq(info.get(key)):
            raise LocalProtocolError(f"HELLO needs a non-negative int {key!r}")
    return _json(FrameType.HELLO, {**info, "protocol": PROTOCOL, "version": VERSION})


EVENTS_HEAD = HEADER.size + _BATCH.size
"""The bytes before an EVENTS frame's records: what `Ring.framed` leaves room for."""


def fill_events_head(frame: bytearray, first_seq: int, count: int) -> bytearray:
    """An EVENTS frame from `Ring.framed(..., head=EVENTS_HEAD)`: its `count` records
    (from `first_seq`) each already after its size; the header written in place."""
    if not count:
        raise LocalProtocolError("an EVENTS frame carries at least one record")
    if not _is_seq(first_seq):
        raise LocalProtocolError(f"first_seq must be a non-negative int, not {first_seq!r}")
    if first_seq >= 1 << 64 or count >= 1 << 32:
        raise LocalProtocolError("EVENTS first_seq or record count out of range")
    size = len(frame) - HEADER.size
    if size > MAX_FRAME_SIZE:
        raise LocalProtocolError(f"EVENTS payload of {size} bytes exceeds {MAX_FRAME_SIZE}")
    HEADER.pack_into(frame, 0, size, FrameType.EVENTS)
    _BATCH.pack_into(frame, HEADER.size, first_seq, count)
    return frame


def encode_events(first_seq: int, records: Sequence[bytes]) -> bytes:
    """EVENTS for records `first_seq`, `first_seq + 1`, ...: the ring's bytes, not
    re-encoded; the same frame `Ring.framed` and `fill_events_head` write."""
    frame = bytearray(EVENTS_HEAD)
    pack = _LENGTH.pack
    for record in records:
        frame += pack(len(record))
        frame += record
    return bytes(fill_events_head(frame, first_seq, len(records)))


def encode_missed(count: int) -> bytes:
    """MISSED: the reader skips `count` seqs before the next EVENTS."""
    if not _is_seq(count) or count >= 1 << 64:
        raise LocalProtocolError(f"MISSED count must be a non-negative int, not {count!r}")
    return _frame(FrameType.MISSED, _COUNT.pack(count))


def encode_stats(info: Mapping[str, Any]) -> bytes:
    """STATS with `info` (a JSON object)."""
    return _json(FrameType.STATS, info)


def encode_bye(reason: str) -> bytes:
    """BYE: the publisher closes the stream on purpose, for `reason`."""
    return _json(FrameType.BYE, {"reason": str(reason)})


def encode_start(start_from: StartFrom = "backlog") -> bytes:
    """START: the reader asks for the backlog, only live events, or to resume at a seq."""
    if not _valid_start(start_from):
        raise LocalProtocolError(
            f"START from must be 'backlog', 'live' or a non-negative int, not {start_from!r}")
    return _json(FrameType.START, {"protocol": PROTOCOL, "version": VERSION,
                                   "from": start_from})


# -- decoding ----------------------------------------------------------------------------


def _is_seq(value: object) -> bool:
    return type(value) is int and value >= 0  # bool is not a seq


def _valid_start(value: object) -> bool:
    return value in ("backlog", "live") or _is_seq(value)


def _parse_json(kind: FrameType, payload: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RemoteProtocolError(f"{kind.name} payload is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"{kind.name} payload is not a JSON object")
    return obj


def _check_version(kind: FrameType, info: Mapping[str, Any]) -> None:
    if info.get("protocol") != PROTOCOL:
        raise RemoteProtocolError(
            f"{kind.name} names protocol {info.get('protocol')!r}, not {PROTOCOL!r}")
    if info.get("version") != VERSION:
        raise RemoteProtocolError(
            f"peer speaks tap protocol version {info.get('version')!r}, we speak {VERSION}: "
            "run the same asgi-inspector version on both sides")


def _parse_hello(payload: bytes) -> Hello:
    info = _parse_json(FrameType.HELLO, payload)
    _check_version(FrameType.HELLO, info)
    for key in ("first_seq", "next_seq"):
        if not _is_seq(info.get(key)):
            raise RemoteProtocolError(f"HELLO lacks a non-negative int {key!r}")
    return Hello(info)


def _tuple_size(record: bytes) -> int | None:
    """Items in the marshal tuple `record` starts with (None if it starts with no tuple)."""
    code = record[0] & 0x7F if record else 0           # 0x80 is marshal's FLAG_REF
    if code == 0x28 and len(record) >= 5:               # TYPE_TUPLE, 4-byte little-endian n
        return int.from_bytes(record[1:5], "little")
    if code == 0x29 and len(record) >= 2:               # TYPE_SMALL_TUPLE (format 4), 1-byte n
        return record[1]
    return None


def decode_record(seq: int, record: object) -> Event:
    """One record from a peer as an `Event`, its shape checked (`events.decode_record` trusts)."""
    if type(record) is not bytes:
        raise RemoteProtocolError(f"record {seq} is {type(record).__name__}, not bytes")
    # Check the tuple header first: marshal allocates whatever size a header announces.
    if _tuple_size(record) not in (4, 5):
        raise RemoteProtocolError(f"record {seq} is not a marshal 4- or 5-tuple")
    try:
        fields = marshal.loads(record)
    except (ValueError, EOFError, TypeError) as exc:
        raise RemoteProtocolError(f"record {seq} is not a marshal record: {exc}") from None
    conn, kind, time, message = fields[:4]
    truncated = fields[4] if len(fields) == 5 else None
    if type(conn) is not int:
        raise RemoteProtocolError(f"record {seq}: conn is {type(conn).__name__}, not int")
    if type(kind) is not str or kind not in KINDS:
        raise RemoteProtocolError(f"record {seq}: kind {kind!r} is not one of {KINDS}")
    if type(time) not in (float, int):
        raise RemoteProtocolError(f"record {seq}: time is {type(time).__name__}, not float")
    if message is None and kind == EXIT and len(fields) == 4:
        message = clean_exit_message()      # how events.encode_record stores a clean exit
    elif type(message) is not dict:
        raise RemoteProtocolError(f"record {seq}: message is {type(message).__name__}, not dict")
    if truncated is not None and not _is_seq(truncated):
        raise RemoteProtocolError(f"record {seq}: truncated {truncated!r} is not a length")
    return Event(seq, conn, float(time), kind, message, truncated)


def _parse_events(payload: bytes) -> Events:
    if len(payload) < _BATCH.size:
        raise RemoteProtocolError(f"EVENTS payload of {len(payload)} bytes has no batch header")
    first_seq, count = _BATCH.unpack_from(payload)
    if count == 0 or count * _LENGTH.size > len(payload) - _BATCH.size:
        raise RemoteProtocolError(f"EVENTS announces {count} records in {len(payload)} bytes")
    events = []
    offset, end = _BATCH.size, len(payload)
    for seq in range(first_seq, first_seq + count):
        if end - offset < _LENGTH.size:
            raise RemoteProtocolError(f"EVENTS payload ends before record {seq}")
        (length,) = _LENGTH.unpack_from(payload, offset)
        offset += _LENGTH.size
        if length > end - offset:
            raise RemoteProtocolError(f"record {seq} of {length} bytes overruns the frame")
        events.append(decode_record(seq, payload[offset:offset + length]))
        offset += length
    if offset != end:
        raise RemoteProtocolError(f"{end - offset} stray bytes after the last EVENTS record")
    return Events(events)


def _parse_missed(payload: bytes) -> Missed:
    if len(payload) != _COUNT.size:
        raise RemoteProtocolError(f"MISSED payload is {len(payload)} bytes, not {_COUNT.size}")
    return Missed(_COUNT.unpack(payload)[0])


def _parse_stats(payload: bytes) -> Stats:
    return Stats(_parse_json(FrameType.STATS, payload))


def _parse_bye(payload: bytes) -> Bye:
    reason = _parse_json(FrameType.BYE, payload).get("reason")
    if not isinstance(reason, str):
        raise RemoteProtocolError("BYE lacks a string 'reason'")
    return Bye(reason)


def _parse_start(payload: bytes) -> Start:
    info = _parse_json(FrameType.START, payload)
    _check_version(FrameType.START, info)
    start_from = info.get("from", "backlog")
    if not _valid_start(start_from):
        raise RemoteProtocolError(f"START from {start_from!r} is not 'backlog', 'live' or a seq")
    return Start(start_from)


_PARSERS: dict[FrameType, Callable[[bytes], Frame]] = {
    FrameType.HELLO: _parse_hello,
    FrameType.EVENTS: _parse_events,
    FrameType.MISSED: _parse_missed,
    FrameType.STATS: _parse_stats,
    FrameType.BYE: _parse_bye,
    FrameType.START: _parse_start,
}

# (our role, state) -> {frame type the peer may send: state after it}. A client reads a
# publisher: HELLO first, then anything until BYE. A server reads one START, then nothing.
_TRANSITIONS: dict[tuple[Role, str], dict[int, str]] = {
    ("client", "handshake"): {FrameType.HELLO: "streaming"},
    ("client", "streaming"): {FrameType.EVENTS: "streaming", FrameType.MISSED: "streaming",
                              FrameType.STATS: "streaming", FrameType.BYE: "closed"},
    ("client", "closed"): {},
    ("server", "handshake"): {FrameType.START: "started"},
    ("server", "started"): {},
}


def _frame_name(code: int) -> str:
    try:
        return FrameType(code).name
    except ValueError:
        return f"unknown frame type 0x{code:02x}"


class FrameDecoder:
    """Turns the bytes a peer sends, split anyhow, into frames; raises on any violation.

    `role` is our side: a "client" decoder reads a publisher, a "server" decoder a reader.
    After an error the decoder stays broken: every later `feed` raises the same error.
    """

    def __init__(self, role: Role = "client", max_frame_size: int | None = None) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.role: Role = role
        self.max_frame_size = max_frame_size if max_frame_size is not None else (
            MAX_FRAME_SIZE if role == "client" else MAX_START_FRAME_SIZE)
        self.state = "handshake"
        self._buffer = bytearray()
        self._error: RemoteProtocolError | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished frame: nonzero at EOF means the peer stopped mid-frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Add `data`; return every frame it completes, in order."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        offset = 0
        try:
            while len(buffer) - offset >= HEADER.size:
                length, code = HEADER.unpack_from(buffer, offset)
                # Judge the header before waiting for its payload: garbage fails at once.
                allowed = _TRANSITIONS[(self.role, self.state)]
                if code not in allowed:
                    raise RemoteProtocolError(
                        f"{_frame_name(code)} not allowed in state {self.state!r} "
                        f"of a {self.role} (is the peer an asgi-inspector tap?)")
                if length > self.max_frame_size:
                    raise RemoteProtocolError(
                        f"{_frame_name(code)} frame of {length} bytes exceeds the "
                        f"{self.max_frame_size}-byte limit")
                end = offset + HEADER.size + length
                if len(buffer) < end:
                    break
                frames.append(_PARSERS[FrameType(code)](bytes(buffer[offset + HEADER.size:end])))
                self.state = allowed[code]
                offset = end
        except RemoteProtocolError as exc:
            self._error = exc
            raise
        finally:
            del buffer[:offset]
        return frames
