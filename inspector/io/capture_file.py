"""Capture files: JSON Lines, one header line then one line per event.

Why JSON Lines: a capture is written while the app runs, so it must stream; a crash must
cost at most the line being written; and people read captures with grep and jq as much as
with this tool. How each value is written (bytes vs str, tuples, tags) is
`inspector.io.codec`; this module adds the file: the writer, gap lines, and readers
that name the line that is wrong and keep what came before it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from inspector.events.model import Event
from inspector.io.codec import (
    _BOM,
    FORMAT,
    VERSION,
    PathArg,
    _event_obj,
    _line,
    encode_event,
    encode_gap,
    encode_header,
)
from inspector.io.decode import decode_event, decode_gap, decode_header

__all__ = ["FORMAT", "VERSION", "Capture", "CaptureError", "CaptureWriter", "decode_event",
           "encode_event", "iter_capture", "read_capture"]

@dataclass
class Capture:
    """A capture file read whole: its header, its events in order, and how many were lost."""

    header: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    missed: int = 0  # events lost to the ring buffer before the writer read them (gaps)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


class CaptureError(ValueError):
    """A file that is not a capture, or a bad line; `.capture` holds what was read before it."""

    def __init__(self, path: str, line: int, reason: str, capture: Capture):
        super().__init__(f"{path}: line {line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason
        self.capture = capture

    def __reduce__(self) -> Any:
        return (type(self), (self.path, self.line, self.reason, self.capture))


class CaptureWriter:
    """Writes a capture file as events arrive. Not thread-safe: one writer thread owns it.

    Each `write` call is encoded in full, then written at once: an event that cannot be
    encoded (a NaN `time`) raises without leaving half a batch in the file.
    """

    def __init__(self, path: PathArg, header_extra: Mapping[str, Any] | None = None):
        header = encode_header(header_extra)   # fail before truncating anything
        self.path = os.fspath(path)
        self.events_written = 0
        self.missed = 0
        self._file = open(self.path, "wb")
        self._file.write(header.encode() + b"\n")

    def write(self, events: Iterable[Event]) -> int:
        """Append events, one line each; returns how many."""
        lines = [_line(_event_obj(e)) for e in events]
        if lines:
            self._file.write(b"".join(lines))
            self.events_written += len(lines)
        return len(lines)

    def write_gap(self, missed: int) -> None:
        """Record that `missed` events were lost (the ring buffer wrapped); 0 writes nothing."""
        line = encode_gap(missed)
        if missed:
            self._file.write(line.encode() + b"\n")
            self.missed += missed

    def flush(self) -> None:
        """Hand buffered lines to the OS, so readers (and a crash) see them."""
        self._file.flush()

    def close(self) -> None:
        """Flush and close; idempotent."""
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start + 1})"
    return f"not valid JSON ({exc})"


def _scan(path: PathArg, capture: Capture) -> Iterator[Event]:
    """Events of a capture file; fills in `capture.header` and `capture.missed` as it goes."""
    name = os.fspath(path)
    header_seen = False
    with open(name, "rb") as f:
        # Binary lines split on b"\n" only: U+2028 inside a JSON string is not a line end.
        for lineno, raw in enumerate(f, 1):
            text = raw[3:] if lineno == 1 and raw.startswith(_BOM) else raw
            text = text.strip()                 # CRLF, blank lines
            if not text:
                continue
            try:
                obj = json.loads(text.decode())
            except ValueError as exc:
                reason = ("truncated last line: the writer stopped mid-line"
                          if not raw.endswith(b"\n") else _json_error(exc))
                if not header_seen:
                    reason = f"not an asgi-inspector capture ({reason})"
                raise CaptureError(name, lineno, reason, capture) from exc
            try:
                if not header_seen:
                    capture.header = decode_header(obj)
                    header_seen = True
                    continue
                n = decode_gap(obj)
                if n is None:
                    yield decode_event(obj)
                else:
                    capture.missed += n
            except ValueError as exc:
                raise CaptureError(name, lineno, str(exc), capture) from exc
    if not header_seen:
        raise CaptureError(name, 1, "empty file, not an asgi-inspector capture", capture)


def iter_capture(path: PathArg, capture: Capture | None = None) -> Iterator[Event]:
    """Yield a capture's events one at a time without holding them: for big files.

    Pass a `Capture` to have its `header` and `missed` filled in while iterating (its
    `events` are left alone). A `CaptureError` carries that Capture, without events.
    """
    return _scan(path, Capture() if capture is None else capture)


def read_capture(path: PathArg) -> Capture:
    """Read a whole capture file; CaptureError names the first bad line."""
    capture = Capture()
    append = capture.events.append
    for event in _scan(path, capture):
        append(event)
    return capture
