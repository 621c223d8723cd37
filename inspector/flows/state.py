"""The fold's working state per connection, and readers for untrusted message values.

Captured messages are data, not trusted: every value is read defensively here, so the
handlers in `inspector.flows.handlers` never raise on a malformed message.
"""

from __future__ import annotations

from typing import Callable

from inspector._native import native
from inspector.events.model import Event
from inspector.flows.model import OPEN, Flow
from inspector.types import Message

DEFAULT_BODY_CAP = 1 << 20

Key = tuple[str, int]


class Body:
    """A body joined from chunks up to `cap` bytes; always a prefix of the true body.

    Chunks grow a bytearray and `bytes` is made only when someone will look (`take`), so
    a stream of small chunks costs O(total) in a batch, not O(total²) of `bytes +=`.
    """

    __slots__ = ("cap", "first", "buf", "size", "cut", "dirty")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.first = b""                  # the body while it is one chunk (no copy)
        self.buf: bytearray | None = None  # the body once it is several
        self.size = 0                     # true size, counting bytes cut anywhere
        self.cut = False
        self.dirty = False

    def add(self, chunk: bytes, original: int | None) -> None:
        n = len(chunk)
        if original is not None and original > n:   # the capture cut this chunk
            self.size += original
            cut = True
        else:
            self.size += n
            cut = False
        if self.cut:
            return   # once a byte is missing, later bytes would not follow on
        held = len(self.first) if self.buf is None else len(self.buf)
        if n > self.cap - held:
            chunk = chunk[:max(0, self.cap - held)]
            cut = True
        if chunk:
            if self.buf is not None:
                self.buf += chunk
            elif self.first:
                self.buf = bytearray(self.first)
                self.buf += chunk
            else:
                self.first = chunk
            self.dirty = True
        self.cut = cut

    def take(self) -> bytes:
        """The joined body as bytes; clears `dirty`."""
        self.dirty = False
        return self.first if self.buf is None else bytes(self.buf)

    def close(self) -> bytes:
        """The final body; the bytearray is released (no second copy kept per flow)."""
        value = self.take()
        self.first, self.buf = value, None
        return value


class Conn:
    """Fold state of one connection beyond what `Flow` shows."""

    __slots__ = ("flow", "tables", "cap", "details", "req", "resp", "started", "body_done",
                 "trailers", "trailers_done")

    def __init__(self, flow: Flow, tables: dict[str, dict[str, Handler]], cap: int,
                 details: bool = True) -> None:
        self.flow = flow
        self.tables = tables        # kind -> message type -> handler, for this protocol
        self.cap = cap
        self.details = details      # keep each WebSocket message (else only count them)
        self.req: Body | None = None
        self.resp: Body | None = None
        self.started = False        # http.response.start / websocket.http.response.start
        self.body_done = False      # the response body's final chunk was sent
        self.trailers = False       # trailers announced in http.response.start
        self.trailers_done = False

    def sync(self) -> None:
        """Materialise body bytes that grew since the last look."""
        if self.req is not None and self.req.dirty:
            self.flow.request_body = self.req.take()
        if self.resp is not None and self.resp.dirty:
            self.flow.response_body = self.resp.take()


Handler = Callable[[Conn, Event, Message], None]



# -- reading untrusted message values -----------------------------------------------------

def as_str(value: object, default: str = "") -> str:
    return value if type(value) is str else default


def as_int(value: object, default: int | None = None) -> int | None:
    return value if type(value) is int else default


def as_bytes(value: object) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):   # a capture written by hand, or by a sloppy app
        return value.encode("utf-8", "surrogatepass")
    return b""


def _no_header_pairs(value: object) -> None:
    return None


_encoder = native("_encoder")   # None (no C build, or forced off): the slow way
_header_pairs = _no_header_pairs if _encoder is None else _encoder.header_pairs


def as_headers(value: object) -> list[tuple[bytes, bytes]]:
    """Header pairs as (bytes, bytes) tuples; lists from JSON become tuples, junk is dropped."""
    pairs = _header_pairs(value)   # already all (bytes, bytes) tuples: a copy, in one C call
    if pairs is not None:
        return pairs
    if not isinstance(value, (list, tuple)):
        return []
    out = []
    for pair in value:
        if type(pair) is tuple and len(pair) == 2 and type(pair[0]) is bytes \
                and type(pair[1]) is bytes:
            out.append(pair)
        elif isinstance(pair, (list, tuple)) and len(pair) == 2:
            name, val = pair
            if isinstance(name, (bytes, bytearray, str)) and \
                    isinstance(val, (bytes, bytearray, str)):
                out.append((as_bytes(name), as_bytes(val)))
    return out


def as_addr(value: object) -> tuple[str, int] | None:
    """client/server as (host, port); a unix socket's `[path, None]` gets port 0."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is str \
            and type(value[1]) is int:
        return value   # already (host, port), as servers give it: no new tuple
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    host, port = value
    if type(host) is not str:
        return None
    return (host, port if type(port) is int else 0)


def settle(flow: Flow, state: str, time: float) -> None:
    """Decide how the flow ended, unless an earlier fact already did."""
    if flow.state == OPEN:
        flow.state = state
        flow.end = time


# A scope key replay adds (servers and apps ignore unknown keys): "<source>#<conn>" of the
# flow this connection replays.
REPLAY_KEY = "asgi_inspector.replay_of"
# The same, as a request header, for replays sent over the network.
REPLAY_HEADER = b"x-asgi-inspector-replay-of"
