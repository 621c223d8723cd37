"""One reader of a tap: where it is in the ring and how fast it may be sent to.

A `Subscription` is the publisher's side of one connected reader. It sends nothing before
the reader says START (or `start_timeout` passes: then the backlog), writes only while
the reader's write buffer is under the server's `high_water`, and reports the seqs the
reader missed (evicted from the ring meanwhile, or a record too big for any frame) in a
MISSED frame before the events that follow them. One reader's trouble ends only its own
subscription.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inspector.tap.protocol import (
    EVENTS_HEAD,
    MAX_FRAME_SIZE,
    FrameDecoder,
    RemoteProtocolError,
    Start,
    StartFrom,
    encode_bye,
    encode_hello,
    encode_missed,
    fill_events_head,
)

if TYPE_CHECKING:
    from inspector.tap.server import TapServer

log = logging.getLogger("asgi_inspector")

# What one reader may be sent in one go before the others get their turn.
PUMP_BUDGET = 8 * 1024 * 1024
_MAX_RECORD = MAX_FRAME_SIZE - 64


@dataclass(frozen=True, slots=True)
class ReaderState:
    """A snapshot of one reader: next seq to send, whether it is stalled, what it missed."""

    cursor: int | None
    paused: bool
    missed: int
    max_buffered: int


class Subscription(asyncio.Protocol):
    """One connected reader: its cursor in the ring and its write-buffer state."""

    def __init__(self, server: TapServer) -> None:
        self.server = server
        self.transport: asyncio.WriteTransport | None = None
        self.decoder = FrameDecoder("server")
        self.cursor: int | None = None      # next seq to send; None until it starts
        self.start_deadline = 0.0
        self.paused = False                 # write buffer above high water: send nothing
        self.gone = False                   # no longer served (closed, lost, or cut off)
        self.lost = False                   # the transport is really gone
        self.missed = 0                     # seqs reported missed so far
        self.max_buffered = 0               # high-water mark actually reached, for tests

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.server.high_water)
        self.server.joined(self)
        self.start_deadline = asyncio.get_running_loop().time() + self.server.start_timeout
        try:
            hello = encode_hello(self.server.hello_frame_info())
        except Exception:   # a bad `hello` from our caller: refuse readers, loudly
            log.exception("asgi-inspector: cannot say HELLO to a tap reader")
            self.gone = True
            self.server.left(self)
            transport.abort()
            return
        self.write(hello)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except RemoteProtocolError as exc:
            self.bye(str(exc))
            return
        for frame in frames:
            if isinstance(frame, Start):
                self.start(frame.start_from)

    def eof_received(self) -> bool:
        return False  # closing its side ends the subscription

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = self.lost = True
        self.server.left(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        asyncio.get_running_loop().call_soon(self.pump)

    # publishing

    def write(self, data: bytes | bytearray) -> None:
        transport = self.transport
        if self.gone or transport is None or transport.is_closing():
            return
        transport.write(data)
        self.max_buffered = max(self.max_buffered, transport.get_write_buffer_size())

    def start(self, start_from: StartFrom) -> None:
        if self.cursor is not None:
            return
        ring = self.server.ring
        if start_from == "backlog":
            self.cursor = ring.first_seq
        elif start_from == "live" or not isinstance(start_from, int):
            self.cursor = ring.next_seq
        else:  # resume at a seq; one from the future (another process?) means live
            self.cursor = min(start_from, ring.next_seq)
        asyncio.get_running_loop().call_soon(self.pump)

    def pump(self) -> bool:
        """Send what this reader has not seen, until its buffer fills; True if it stopped
        at its budget with more waiting (go again soon).

        Having caught up counts as done even when records arrived meanwhile: under load
        they always have, and going again at once sends a stream of tiny frames, each a
        wakeup of the publisher thread and a GIL switch away from the app."""
        if self.gone or self.paused or self.cursor is None:
            return False
        server, ring = self.server, self.server.ring
        sent = 0
        pending_missed = 0
        max_bytes = min(server.max_batch_bytes, _MAX_RECORD)
        while not self.paused and not self.gone and sent < PUMP_BUDGET:
            # The frame is written once, in C where built, straight from the ring.
            got = ring.framed(self.cursor, server.max_batch_records, max_bytes, EVENTS_HEAD)
            pending_missed += got.missed
            if got.count == 1 and len(got.blob) - EVENTS_HEAD - 4 > _MAX_RECORD:
                pending_missed += 1          # fits in no frame: reported as missed
                self.cursor = got.next_seq
                continue
            if pending_missed:
                self.write(encode_missed(pending_missed))
                self.missed += pending_missed
                pending_missed = 0
            if not got.count:
                self.cursor = got.first_seq
                return False
            frame = fill_events_head(got.blob, got.first_seq, got.count)
            self.write(frame)
            self.cursor = got.next_seq
            sent += len(frame)
        return (sent >= PUMP_BUDGET and not self.paused and not self.gone
                and self.cursor < ring.next_seq)

    def bye(self, reason: str) -> None:
        """Say why we close (if the reader can still take it) and close."""
        if self.transport is None or self.gone:
            return
        if not self.paused:
            self.write(encode_bye(reason))
            self.transport.close()
        else:
            self.transport.abort()   # it is not reading: it would never get the BYE
        self.gone = True
        self.server.left(self)
