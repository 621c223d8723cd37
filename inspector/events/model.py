"""The event model: one `Event` per ASGI occurrence on one connection.

Events are facts: frozen, never mutated. Everything else (flows, the dashboard, capture
files, HAR) is derived from them. The ring buffer does not hold `Event` objects but compact
records (`encode_record`) that the garbage collector never has to walk; `decode_record`
turns one back into an `Event` when a reader asks for it.
"""

from __future__ import annotations

import marshal
import time
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from inspector._native import native

Kind = Literal["scope", "receive", "send", "exit"]

SCOPE: Kind = "scope"
RECEIVE: Kind = "receive"
SEND: Kind = "send"
# Not an ASGI message but a fact about the call: the app returned, or raised.
# message = {"type": "inspector.exit", "exception": None | {"type", "message", "traceback"}}
EXIT: Kind = "exit"
KINDS: tuple[str, ...] = (SCOPE, RECEIVE, SEND, EXIT)

# A key an app may add to its http.response.start (servers ignore keys they do not know,
# so the client never sees it): a list of one-line notes about the exchange, recorded with
# the message and folded into `Flow.notes`. The proxy notes there what it did that the
# messages alone do not show, such as sending a request upstream a second time.
NOTES_KEY = "asgi_inspector.notes"

# Marshal format 2 has no back-references: about 30% faster to write than format 4 for
# small dicts, and its output is stable across every Python 3 we support.
MARSHAL_VERSION = 2

_clock = time.perf_counter


class Event(NamedTuple):
    """One ASGI occurrence: the scope of a connection, a message received, a message sent.

    `time` is seconds since the capture started (monotonic clock). `truncated` is the
    original length of a body, bytes or text payload that was cut to the body limit, or
    None when the message is whole. Immutable; a named tuple because every reader (the
    headless printer, the dashboard, capture files) builds one per event, and a named tuple
    is several times cheaper to build than a frozen dataclass. `event._replace(message=...)`
    makes a changed copy.
    """

    seq: int
    conn: int
    time: float
    kind: str
    message: dict[str, Any]
    truncated: int | None = None

    @property
    def type(self) -> str:
        """The ASGI message type ("http.request", "websocket.send", ...)."""
        return str(self.message.get("type", ""))


_new_event = tuple.__new__
_loads = marshal.loads


def encode_record(conn: int, kind: str, time: float, message: dict[str, Any] | None,
                  truncated: int | None = None) -> bytes:
    """Pack an event (all but its seq) into bytes: a record the GC never traverses.

    Raises ValueError when the message holds something that is not plain data.
    """
    if truncated is None:
        return marshal.dumps((conn, kind, time, message), MARSHAL_VERSION)
    return marshal.dumps((conn, kind, time, message, truncated), MARSHAL_VERSION)


def encode_event(conn: int, kind: str, t0: float, message: Any, limit: int,
                 skip: tuple[str, ...] | None) -> bytes | None:
    """The Python twin of the C encoder (`inspector/events/_encoder.c`), used where it is not built.

    Stamps the event with the monotonic clock minus `t0` and writes the record, leaving
    out the top-level keys in `skip`. Answers None where the caller must do more: a
    top-level str or bytes value longer than `limit` (>= 0) is to be cut, and a message
    that is not plain data is to be summarised.
    """
    t = _clock() - t0
    if type(message) is dict:
        if skip:
            message = {k: v for k, v in message.items() if k not in skip}
        if limit >= 0:
            for value in message.values():
                if type(value) in (bytes, str) and len(value) > limit:
                    return None
    try:
        return marshal.dumps((conn, kind, t, message), MARSHAL_VERSION)
    except ValueError:
        return None


def clean_exit_message() -> dict[str, Any]:
    """The message of an exit event when the app returned normally."""
    return {"type": "inspector.exit", "exception": None}


def decode_record(seq: int, record: bytes) -> Event:
    """Unpack a record made by `encode_record` into the `Event` with that seq."""
    fields = _loads(record)
    if len(fields) == 4:
        conn, kind, time, message = fields
        if message is None:           # a clean exit is recorded as None: it is most exits
            message = clean_exit_message()
        return _new_event(Event, (seq, conn, time, kind, message, None))
    conn, kind, time, message, truncated = fields
    return _new_event(Event, (seq, conn, time, kind, message, truncated))


_encoder = native("_encoder")   # None: built without a C compiler, or forced off
_c_decode = None if _encoder is None else _encoder.decode


def decode_records(first_seq: int, records: Sequence[bytes]) -> list[Event]:
    """The events of consecutive records from `first_seq` on: what every reader of the ring
    does with a batch. Equal to `decode_record` on each; where the C extension is built,
    one call decodes the batch about three times faster (`decode` in `_encoder.c`), and
    any record it does not cover goes to `decode_record`."""
    if _c_decode is not None:
        return _c_decode(first_seq, records, Event, decode_record, clean_exit_message)
    return [decode_record(first_seq + i, r) for i, r in enumerate(records)]


_PLAIN: tuple[type, ...] = (str, bytes, int, float, bool, type(None))


def plain_data(value: Any, depth: int = 0) -> Any:
    """A copy of `value` holding only plain data; anything else is summarised as a string.

    Used on the slow path when a scope or message holds objects (an app, a state object,
    a callable in `extensions`): those are described, never kept alive, never a crash.
    """
    if isinstance(value, _PLAIN):
        # Subclasses (IntEnum, str subclasses) become their plain base value.
        if type(value) in _PLAIN:
            return value
        for base in _PLAIN:
            if isinstance(value, base) and base is not type(None):
                return base(value)
    if depth > 16:
        return "<too deep>"
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (str, bytes, int)) else k: plain_data(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain_data(v, depth + 1) for v in value)
    if isinstance(value, (list, set, frozenset)):
        return [plain_data(v, depth + 1) for v in value]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"
