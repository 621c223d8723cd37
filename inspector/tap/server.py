"""The tap: each capturing process publishes its ring buffer on a private Unix socket.

Why: the dashboard is often started after the app, in another terminal, and must see what
the app already captured and then everything live. Each publisher listens on
`<pid>-<n>.sock` in a directory only its user can enter (`runtime_dir`), so a reader finds
every publisher of this user with `discover_taps` and nobody else can read the traffic.

The app's event loop never waits on a reader: the app only appends to the ring; a
`TapServer` runs on another loop (the publisher thread), polls the ring and writes to each
reader only while that reader's write buffer is under `high_water`. A reader that stops
reading is left behind, and when it drains it is told how many events it missed (each
reader's pacing: `inspector.tap.subscription`). The wire format is `inspector.tap.protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from inspector.events.ring import Ring
from inspector.tap.client import Closed, TapClient, TapItem, read_tap
from inspector.tap.protocol import (
    Events,
    Hello,
    LocalProtocolError,
    Missed,
    RemoteProtocolError,
    Stats,
    TapProtocolError,
    encode_stats,
)
from inspector.tap.runtime_dir import (
    RUNTIME_DIR_ENV,
    RuntimeDirError,
    discover_taps,
    ensure_private_dir,
    listening,
    parse_tap_name,
    runtime_dir,
)
from inspector.tap.subscription import ReaderState, Subscription

__all__ = [
    "RUNTIME_DIR_ENV", "RuntimeDirError", "runtime_dir", "ensure_private_dir", "hello_info",
    "discover_taps", "parse_tap_name", "TapServer", "ReaderState", "serve_tap", "TapClient",
    "read_tap", "Hello", "Events", "Missed", "Stats", "Closed", "TapItem", "TapProtocolError",
    "RemoteProtocolError", "LocalProtocolError",
]

log = logging.getLogger("asgi_inspector")

DEFAULT_HIGH_WATER = 4 * 1024 * 1024
DEFAULT_BATCH_RECORDS = 4096
DEFAULT_BATCH_BYTES = 1024 * 1024
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path is 108 bytes on Linux, 104 on BSD/macOS


def hello_info(name: str = "", started: float | None = None) -> dict[str, Any]:
    """The process facts a HELLO carries, so a reader can tell publishers apart.

    `name` describes the app; `started` is when capture started (wall-clock epoch).
    """
    return {"pid": os.getpid(), "name": name, "argv": sys.argv[:8],
            "started": time.time() if started is None else started}


# -- the publisher -----------------------------------------------------------------------


def _clear_stale(path: Path) -> None:
    """Remove a dead socket file at `path`; refuse a live one or any other kind of file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(errno.EEXIST, "exists and is not a socket", str(path))
    if listening(path):
        raise FileExistsError(errno.EADDRINUSE, "a publisher is listening there", str(path))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _listen(path: Path) -> socket.socket:
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise ValueError(f"socket path too long for a Unix socket: {path}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)   # before listen(): nobody can connect while it is wider
        sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


HelloSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


class TapServer:
    """Publishes one ring buffer to any number of readers on one Unix socket.

    Runs on the publisher's own loop; only reads the ring (`since`, counters), which the app
    thread may append to meanwhile. `path=None` picks `<pid>-<n>.sock` in `directory`
    (default `runtime_dir()`); `path` is known after `start()`. `hello` is the process
    facts for HELLO (default `hello_info()`), or a function called at each connection.
    `start()` binds and starts polling; `close()` says BYE and removes the socket.
    """

    def __init__(self, ring: Ring, path: Path | None = None, hello: HelloSource = None,
                 *, directory: Path | None = None,
                 poll_interval: float = 0.02, stats_interval: float = 1.0,
                 high_water: int = DEFAULT_HIGH_WATER, start_timeout: float = 0.25,
                 max_batch_records: int = DEFAULT_BATCH_RECORDS,
                 max_batch_bytes: int = DEFAULT_BATCH_BYTES,
                 close_timeout: float = 0.5) -> None:
        self.ring = ring
        self.hello: Mapping[str, Any] | Callable[[], Mapping[str, Any]] = (
            hello_info() if hello is None else hello)
        self._path = path
        self._directory = directory
        self.poll_interval = poll_interval
        self.stats_interval = stats_interval
        self.high_water = high_water
        self.start_timeout = start_timeout
        self.max_batch_records = max_batch_records
        self.max_batch_bytes = max_batch_bytes
        self.close_timeout = close_timeout
        self._readers: set[Subscription] = set()
        # With nobody attached the pump sleeps on this instead of polling: a process
        # nobody watches pays nothing for its tap.
        self._reader_arrived = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._inode: tuple[int, int] | None = None
        self._closed = False

    @property
    def path(self) -> Path:
        """The socket's path (with `path=None`, known once `start()` has picked it)."""
        if self._path is None:
            raise RuntimeError("the socket path is chosen by start()")
        return self._path

    def joined(self, reader: Subscription) -> None:
        """A reader connected: serve it (and wake the pump if it slept)."""
        self._readers.add(reader)
        self._reader_arrived.set()

    def left(self, reader: Subscription) -> None:
        """A reader is gone or cut off: serve it no more."""
        self._readers.discard(reader)

    @property
    def readers(self) -> int:
        """Readers connected right now."""
        return len(self._readers)

    def reader_states(self) -> list[ReaderState]:
        """Where each reader is, for stats and tests (safe to call from another thread)."""
        return [ReaderState(r.cursor, r.paused, r.missed, r.max_buffered)
                for r in list(self._readers)]

    def hello_frame_info(self) -> dict[str, Any]:
        """HELLO's content: the process facts, then the ring's bounds and seqs right now."""
        ring = self.ring
        hello = self.hello() if callable(self.hello) else self.hello
        return {**hello, "capacity": ring.capacity, "max_bytes": ring.max_bytes,
                "first_seq": ring.first_seq, "next_seq": ring.next_seq}

    def stats_info(self) -> dict[str, Any]:
        """STATS' content shared by all readers (each also gets its own lag and missed)."""
        ring = self.ring
        first, next_ = ring.first_seq, ring.next_seq
        return {"time": time.time(), "size": next_ - first, "bytes": ring.size_bytes,
                "dropped": ring.dropped, "total": next_, "first_seq": first,
                "next_seq": next_, "capacity": ring.capacity, "max_bytes": ring.max_bytes,
                "readers": len(self._readers)}

    async def start(self) -> Path:
        """Bind (removing a stale socket file first), accept readers, poll; return the path."""
        if self._server is not None or self._closed:
            raise RuntimeError("a TapServer starts once")
        sock = self._bind()
        st = os.lstat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_unix_server(lambda: Subscription(self), sock=sock)
        except BaseException:
            sock.close()
            self._unlink()
            raise
        self._pump_task = loop.create_task(self._pump_forever())
        return self.path

    def _bind(self) -> socket.socket:
        if self._path is not None:
            _clear_stale(self._path)
            return _listen(self._path)
        directory = runtime_dir() if self._directory is None else self._directory
        for n in itertools.count():
            path = directory / f"{os.getpid()}-{n}.sock"
            try:
                _clear_stale(path)
                sock = _listen(path)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:  # another server of ours won the race
                    continue
                raise
            self._path = path
            return sock
        raise AssertionError("unreachable")

    async def serve(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set (from this loop's thread), then say BYE and close."""
        try:
            if self._server is None:
                await self.start()
            await stop.wait()
        finally:
            await self.close()

    async def _pump_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_stats = loop.time() + self.stats_interval
        while True:
            if not self._readers:
                self._reader_arrived.clear()
                await self._reader_arrived.wait()
                next_stats = loop.time() + self.stats_interval
            now = loop.time()
            busy = False
            for reader in list(self._readers):
                try:
                    if reader.cursor is None and now >= reader.start_deadline:
                        reader.start("backlog")   # a reader that never says START
                    busy = reader.pump() or busy
                except Exception:   # a bug must cost one reader, not the tap
                    log.exception("asgi-inspector: tap reader failed")
                    reader.bye("publisher error")
            if now >= next_stats:
                next_stats = now + self.stats_interval
                self._send_stats()
            # Busy: someone is behind, so only let the transports and other tasks run.
            await asyncio.sleep(0 if busy else self.poll_interval)

    def _send_stats(self) -> None:
        info = self.stats_info()
        for reader in list(self._readers):
            if reader.cursor is not None and not reader.paused:
                lag = max(0, self.ring.next_seq - reader.cursor)
                reader.write(encode_stats({**info, "lag": lag, "missed": reader.missed}))

    async def close(self, reason: str = "publisher stopped") -> None:
        """Say BYE to every reader, stop listening and remove the socket file."""
        if self._closed:
            return
        self._closed = True
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
        if self._server is not None:
            self._server.close()
        readers = list(self._readers)
        for reader in readers:
            reader.bye(reason)
        self._unlink()
        # Give the BYEs a moment to flush; a reader that takes longer is cut off.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.close_timeout
        while not all(r.lost for r in readers) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for reader in readers:
            if not reader.lost and reader.transport is not None:
                reader.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def _unlink(self) -> None:
        if self._path is None or self._inode is None:
            return
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(self._path)
            if (st.st_dev, st.st_ino) == self._inode:   # not a successor's socket
                self._path.unlink()


async def serve_tap(ring: Ring, path: Path | None, hello: HelloSource,
                    stop: asyncio.Event, poll_interval: float = 0.02, *,
                    high_water: int = DEFAULT_HIGH_WATER,
                    stats_interval: float = 1.0) -> None:
    """Publish `ring` on `path` (None: `<pid>-<n>.sock` in `runtime_dir()`) until `stop`."""
    server = TapServer(ring, path, hello, poll_interval=poll_interval,
                       high_water=high_water, stats_interval=stats_interval)
    await server.serve(stop)
