"""The tap protocol's vocabulary: its frame types, the frames as small frozen facts, its
size limits and its errors (which say which side broke the protocol).

Pure data, no bytes: `inspector.tap.protocol` turns these to bytes and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Literal

from inspector.events.model import Event

# Largest payload a reader accepts from a publisher. Publishers cut batches far below it
# (see inspector.tap.subscription); only a single huge record comes near, and one that does not fit is
# reported as missed instead.
MAX_FRAME_SIZE = 16 * 1024 * 1024
# Largest payload a publisher accepts from a reader: readers only ever send one START.
MAX_START_FRAME_SIZE = 64 * 1024

StartFrom = Literal["backlog", "live"] | int



class FrameType(IntEnum):
    """The byte after the length. Server to client below 0x10, client to server above."""

    HELLO = 0x01    # JSON object: who is publishing, ring bounds, first_seq/next_seq
    EVENTS = 0x02   # >QI first_seq, count; then count x (>I length, record as the ring holds it)
    MISSED = 0x03   # >Q count of seqs the reader skipped (fell behind, or the ring wrapped)
    STATS = 0x04    # JSON object: ring size, bytes, dropped, events total; about once a second
    BYE = 0x05      # JSON {"reason": str}: the publisher is closing this stream on purpose
    START = 0x10    # JSON {"protocol", "version", "from": "backlog" | "live" | seq}


class TapProtocolError(Exception):
    """The tap stream broke the protocol; `blame` says which side did."""

    blame: ClassVar[str] = "someone"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{self.blame} broke the tap protocol: {detail}")


class LocalProtocolError(TapProtocolError):
    """We were about to send something the protocol does not allow (a bug on our side)."""

    blame = "we"


class RemoteProtocolError(TapProtocolError):
    """The peer sent something the protocol does not allow (garbage, or not a tap at all)."""

    blame = "the peer"


# -- frames: small frozen facts, one class per frame type --------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame from a publisher: pid, argv, app, capture start, ring bounds and seqs."""

    info: dict[str, Any]

    @property
    def first_seq(self) -> int:
        return int(self.info["first_seq"])

    @property
    def next_seq(self) -> int:
        return int(self.info["next_seq"])


@dataclass(frozen=True, slots=True)
class Events:
    """A batch of consecutive events, already decoded and validated."""

    events: list[Event]

    @property
    def first_seq(self) -> int:
        return self.events[0].seq

    @property
    def next_seq(self) -> int:
        return self.events[-1].seq + 1


@dataclass(frozen=True, slots=True)
class Missed:
    """`count` seqs the reader will never see: the next EVENTS starts that much later."""

    count: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Ring occupancy and counters, so a reader can show them without asking."""

    info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Bye:
    """The publisher ends the stream on purpose (shutting down, or our protocol error)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Start:
    """A reader's only frame: where to begin ("backlog", "live", or a seq to resume at)."""

    start_from: StartFrom


Frame = Hello | Events | Missed | Stats | Bye | Start
