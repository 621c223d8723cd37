"""The tap's reading side: connect to one publisher's socket, yield what it sends.

The dashboard's tap feed runs one `TapClient` per publisher found by
`inspector.tap.server.discover_taps`; the wire format is `inspector.tap.protocol`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from inspector.tap.protocol import (
    Bye,
    Events,
    FrameDecoder,
    Hello,
    Missed,
    RemoteProtocolError,
    Start,
    StartFrom,
    Stats,
    encode_start,
)

__all__ = ["Closed", "TapClient", "TapItem", "read_tap", "Hello", "Events", "Missed", "Stats"]

@dataclass(frozen=True, slots=True)
class Closed:
    """The stream ended: `clean` if the publisher said BYE, else the connection dropped."""

    reason: str
    clean: bool = False


TapItem = Hello | Events | Missed | Stats | Closed


class TapClient:
    """Reads one publisher: an async iterator of `TapItem` that ends after `Closed`.

    Raises `RemoteProtocolError` if the publisher breaks the protocol, `OSError` if it
    cannot connect. Decoding happens in the iterator; under heavy traffic run it in a
    thread worker so the UI loop is not the one decoding.
    """

    def __init__(self, path: Path | str, start: StartFrom = "backlog", *,
                 read_size: int = 1024 * 1024) -> None:
        self.path = Path(path)
        self.start_from = start
        self.read_size = read_size
        self.hello: Hello | None = None
        self._decoder = FrameDecoder("client")
        self._pending: collections.deque[TapItem] = collections.deque()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._done = False

    async def connect(self) -> None:
        """Connect and ask for `start`, without waiting for HELLO (it is pipelined)."""
        start = encode_start(self.start_from)  # a bad `start` fails before connecting
        self._reader, self._writer = await asyncio.open_unix_connection(
            str(self.path), limit=self.read_size)
        self._writer.write(start)

    async def close(self) -> None:
        """Hang up (the publisher just drops us)."""
        self._done = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> TapClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __aiter__(self) -> TapClient:
        return self

    async def __anext__(self) -> TapItem:
        while not self._pending:
            if self._done:
                raise StopAsyncIteration
            await self._read()
        return self._pending.popleft()

    async def _read(self) -> None:
        if self._reader is None:
            await self.connect()
        assert self._reader is not None
        try:
            data = await self._reader.read(self.read_size)
        except (ConnectionResetError, BrokenPipeError) as exc:
            return await self._end(Closed(f"connection lost{self._where()}: {exc.strerror}"))
        if not data:
            return await self._end(Closed(f"publisher closed the connection{self._where()}"))
        try:
            frames = self._decoder.feed(data)
        except RemoteProtocolError:
            await self.close()
            raise
        for frame in frames:
            if isinstance(frame, Bye):
                return await self._end(Closed(frame.reason, clean=True))
            if isinstance(frame, Hello):
                self.hello = frame
            assert not isinstance(frame, Start)  # the decoder lets no START through
            self._pending.append(frame)

    def _where(self) -> str:
        return " mid-frame" if self._decoder.pending_bytes else ""

    async def _end(self, item: Closed) -> None:
        self._pending.append(item)
        await self.close()


async def read_tap(path: Path | str, start: StartFrom = "backlog") -> AsyncIterator[TapItem]:
    """Every item of one publisher's tap, ending with `Closed`."""
    async with TapClient(path, start) as client:
        async for item in client:
            yield item
