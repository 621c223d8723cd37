"""websockets' sans-I/O protocols for both of the proxy's WebSocket hops, with fast paths.

`UpstreamProtocol` is the client towards the upstream, `ClientFacingProtocol` the server
towards the client (see `client_websocket`). websockets decides everything about a
session: the handshake, control frames, pings, fragmented messages, the closing
handshake, every error. Three things are done here, because the proxy relays one small
message after another and each is a share of every message's cost
(docs/performance.md):

* Masking keys. A client masks each frame it sends with a fresh key from a strong source
  of randomness (RFC 6455 5.3). websockets draws each 4-byte key with its own `getrandom`
  call, a system call per message. `MaskKeys` draws 4 KiB from the
  same source at once and hands it out 4 bytes at a time: as unpredictable, with 1,024
  times fewer system calls.
* Sending a whole text or binary message while the session is open is written here in
  one step (websockets builds and checks a Frame object first); anything else is sent by
  websockets.
* Receiving. Bytes from the peer are cut into whole frames here, by their headers. A
  final text or binary frame, masked as the peer's side must mask, while no fragmented
  message is under way and no extension was negotiated (nearly every frame) becomes its
  event here; every other frame goes to websockets whole and in order, as do all bytes
  once the session is no longer open (or at once, where its first two bytes are what
  websockets fails a frame on). websockets' parser then always starts at a frame
  boundary, and its events come out in wire order. The handshake head is given to
  websockets up to its blank line only, so that the frames after it are cut here too.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import CONNECTING, OPEN, SERVER
from websockets.server import ServerProtocol
from websockets.speedups import apply_mask

if TYPE_CHECKING:  # what FastFrames is mixed into: the type checker sees its attributes
    from websockets.protocol import Protocol as _Mixin
else:
    _Mixin = object

__all__ = ["ClientFacingProtocol", "FastFrames", "MASKS", "MaskKeys", "UpstreamProtocol",
           "masked_frame", "frame_end"]

_POOL = 4096
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
# Bytes of a handshake response head past which websockets is given them anyway (it
# refuses heads this long with its own error).
_MAX_HEAD = 64 * 1024
# First header byte of a final, extension-free text or binary frame.
_SIMPLE = {0x81: Opcode.TEXT, 0x82: Opcode.BINARY}
_OPCODES = frozenset(int(op) for op in Opcode)


class MaskKeys:
    """Masking keys from os.urandom, fetched 1,024 at a time."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = _POOL

    def take(self) -> bytes:
        at = self._at
        if at >= _POOL:
            self._pool, at = os.urandom(_POOL), 0
        self._at = at + 4
        return self._pool[at:at + 4]


MASKS = MaskKeys()   # one pool for the process: the keys are independent either way


def _masked(head1: int, data: Any, key: bytes) -> bytes:
    length = len(data)
    if length < 126:
        head = _SHORT.pack(head1, 0x80 | length)
    elif length < 65536:
        head = _MEDIUM.pack(head1, 0x80 | 126, length)
    else:
        head = _LONG.pack(head1, 0x80 | 127, length)
    return head + key + apply_mask(data, key)


def masked_frame(frame: Frame, key: bytes) -> bytes:
    """`frame` as a client writes it, masked with `key` (websockets' Frame.serialize with a
    given key; no extensions). ProtocolError if the frame is invalid."""
    frame.check()
    head1 = ((0x80 if frame.fin else 0) | (0x40 if frame.rsv1 else 0)
             | (0x20 if frame.rsv2 else 0) | (0x10 if frame.rsv3 else 0) | frame.opcode)
    return _masked(head1, frame.data, key)


def frame_end(data: bytes | bytearray, at: int) -> tuple[int, int] | None:
    """(payload start, frame end) of the frame whose header begins at `at`, or None if
    `data` does not hold all of it yet."""
    n = len(data)
    if n - at < 2:
        return None
    length = data[at + 1] & 0x7F
    start = at + 2
    if length == 126:
        if n - start < 2:
            return None
        length = int.from_bytes(data[start:start + 2], "big")
        start += 2
    elif length == 127:
        if n - start < 8:
            return None
        length = int.from_bytes(data[start:start + 8], "big")
        start += 8
    if data[at + 1] & 0x80:
        start += 4
    end = start + length
    return (start, end) if end <= n else None


class FastFrames(_Mixin):
    """The fast paths, mixed into one of websockets' sans-I/O protocols (either side)."""

    # Class-level defaults: ClientFacingProtocol takes over a protocol uvicorn made, whose
    # __init__ was websockets' own.
    _held: bytes | bytearray = b""   # not yet cut into frames (or a head not yet whole)
    _head_done = False   # websockets has the whole handshake head
    _fast = True         # websockets' parser is at a frame boundary: frames may be cut here

    # -- sending

    def send_frame(self, frame: Frame) -> None:
        if self.side is SERVER or self.extensions:
            super().send_frame(frame)
            return
        if self.debug:
            self.logger.debug("> %s", frame)
        self.writes.append(masked_frame(frame, MASKS.take()))

    def _message(self, head1: int, data: Any) -> bytes:
        if self.side is SERVER:
            length = len(data)
            if length < 126:
                return _SHORT.pack(head1, length) + data
            if length < 65536:
                return _MEDIUM.pack(head1, 126, length) + data
            return _LONG.pack(head1, 127, length) + data
        return _masked(head1, data, MASKS.take())

    def _whole(self, fin: bool) -> bool:
        """A whole message in one frame, sent while open, with nothing to negotiate."""
        return fin and self._state is OPEN and not self.expect_continuation_frame \
            and not self.extensions

    def send_text(self, data: Any, fin: bool = True) -> None:
        if self._whole(fin):
            self.writes.append(self._message(0x81, data))
        else:
            super().send_text(data, fin)

    def send_binary(self, data: Any, fin: bool = True) -> None:
        if self._whole(fin):
            self.writes.append(self._message(0x82, data))
        else:
            super().send_binary(data, fin)

    # -- receiving

    def receive_data(self, data: bytes | bytearray) -> None:
        held: bytes | bytearray
        if self._held:
            held = self._held
            held += data     # a bytearray: a big frame arriving in pieces grows in place
        else:
            held = data
        self._held = b""
        if self._state is CONNECTING and not self._head_done:
            held = self._receive_head(held)
            if not self._head_done:
                self._keep(held)            # the head is not all here yet
                return
        if self._state is OPEN and self._fast:
            at = self._receive_frames(held)
            held = held[at:] if at else held
            if self._state is OPEN and self._fast:
                self._keep(held)            # a frame not all here yet
                return
        if held:
            # A refusal's body, early bytes, closing: websockets' rules, and from here on
            # its parser may be inside a frame.
            self._fast = False
            super().receive_data(held)

    def _keep(self, held: bytes | bytearray) -> None:
        if held:
            self._held = held if type(held) is bytearray else bytearray(held)

    def receive_eof(self) -> None:
        held, self._held = self._held, b""
        if held:
            super().receive_data(held)  # so websockets sees it cut off
        super().receive_eof()

    def _receive_head(self, data: bytes | bytearray) -> bytes | bytearray:
        """Give websockets the handshake head up to its blank line; the rest back."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) <= _MAX_HEAD:
                return data                 # wait for the rest of the head
            self._head_done = True          # websockets refuses it with its own error
            super().receive_data(data)
            return b""
        self._head_done = True
        super().receive_data(data[:end + 4])
        return data[end + 4:]

    def _receive_frames(self, data: bytes | bytearray) -> int:
        """Cut `data` into frames while the session is open; how much of it was used."""
        at = 0
        events = self.events
        masked = 0x80 if self.side is SERVER else 0   # what the peer's frames must be
        plain = not self.extensions
        while True:
            if len(data) - at >= 2 and ((data[at + 1] & 0x80) != masked
                                        or data[at] & 0x0F not in _OPCODES):
                # websockets fails these on their first two bytes: let it, now.
                self._fast = False
                super().receive_data(data[at:])
                return len(data)
            bounds = frame_end(data, at)
            if bounds is None:
                return at
            start, end = bounds
            opcode = _SIMPLE.get(data[at])
            if opcode is not None and plain and self.current_size is None:
                payload = data[start:end]
                if masked:
                    payload = apply_mask(payload, data[start - 4:start])
                events.append(Frame(opcode, payload))
            else:
                super().receive_data(data[at:end])
                if self._state is not OPEN:
                    return end              # a close or a failure: websockets' from here
            at = end


class UpstreamProtocol(FastFrames, ClientProtocol):
    """The proxy's side of the upstream hop: websockets' client with the fast paths."""


class ClientFacingProtocol(FastFrames, ServerProtocol):
    """The server side of the client's hop, with the fast paths. uvicorn makes its own
    `ServerProtocol`; `ClientFacingWebSocket` turns that one into this class."""
