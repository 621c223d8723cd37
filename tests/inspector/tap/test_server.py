"""The tap over real Unix sockets: a publisher thread with its own loop, as in production."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import stat
import struct
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.tap.protocol import Bye, Frame, FrameDecoder, encode_hello, encode_start
from inspector.tap.protocol import Events as EventsFrame
from inspector.tap.protocol import Hello as HelloFrame
from inspector.tap.protocol import Missed as MissedFrame
from inspector.tap.server import (
    RUNTIME_DIR_ENV,
    Closed,
    Events,
    Hello,
    Missed,
    RemoteProtocolError,
    RuntimeDirError,
    Stats,
    TapClient,
    TapItem,
    TapServer,
    discover_taps,
    ensure_private_dir,
    parse_tap_name,
    read_tap,
    runtime_dir,
    serve_tap,
)

DEADLINE = 3.0


def record(i: int, size: int = 100) -> bytes:
    """A ~150-byte record, like a small response body event."""
    return encode_record(i % 7, "send", i / 1000,
                         {"type": "http.response.body", "body": b"x" * size, "n": i})


def fill(ring: RingBuffer, count: int) -> None:
    for _ in range(count):
        ring.append(record(ring.next_seq))


async def until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll `predicate` until true; fail (not hang) past the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Publisher:
    """A TapServer on its own loop in a daemon thread: how the middleware will run it."""

    def __init__(self, ring: RingBuffer, directory: Path, **options: Any) -> None:
        self.ring = ring
        self.server = TapServer(ring, None, lambda: {"name": "tests:app", "started": 1.5e9},
                                directory=directory, **{"poll_interval": 0.005, **options})
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.ready.set()
        await self.server.serve(self.stop)

    def start(self) -> Publisher:
        self.thread.start()
        assert self.ready.wait(DEADLINE)
        if self.error is not None:
            raise self.error
        return self

    @property
    def path(self) -> Path:
        return self.server.path

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop.set)
            self.thread.join(DEADLINE)
            assert not self.thread.is_alive()


@pytest.fixture
def tap_dir() -> Iterator[Path]:
    # Short, private, and not the real runtime dir: sun_path holds only ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="ait-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def publish(tap_dir: Path) -> Iterator[Callable[..., Publisher]]:
    started: list[Publisher] = []

    def start(ring: RingBuffer, **options: Any) -> Publisher:
        started.append(Publisher(ring, tap_dir, **options).start())
        return started[-1]

    yield start
    for publisher in started:
        publisher.close()


async def take_until(items: AsyncIterator[TapItem], next_seq: int) -> list[TapItem]:
    """Items up to the Events that reaches `next_seq` (or Closed)."""
    taken: list[TapItem] = []

    async def run() -> None:
        async for item in items:
            taken.append(item)
            if isinstance(item, Closed) or isinstance(item, Events) and item.next_seq >= next_seq:
                return

    await asyncio.wait_for(run(), DEADLINE)
    return taken


def seqs(items: list[TapItem]) -> list[int]:
    return [event.seq for item in items if isinstance(item, Events) for event in item.events]


class RawReader:
    """A bare socket reader that reads only when told to: a stalled or scripted client."""

    def __init__(self, path: Path, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(str(path))
        self.sock.setblocking(False)
        self.decoder = FrameDecoder("client")

    async def frames(self) -> list[Frame] | None:
        """The next frames that arrive (None at EOF)."""
        loop = asyncio.get_running_loop()
        while True:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), DEADLINE)
            if not data:
                return None
            frames = self.decoder.feed(data)
            if frames:
                return frames

    def vanish(self) -> None:
        """Close with a reset, like a killed process."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# -- streaming ---------------------------------------------------------------------------


async def test_backlog_then_live(publish: Callable[..., Publisher]) -> None:
    ring = RingBuffer(1000)
    fill(ring, 100)
    publisher = publish(ring)
    async with TapClient(publisher.path) as client:
        items = await take_until(client, 100)
        hello = items[0]
        assert isinstance(hello, Hello)
        assert hello.info["protocol"] == "asgi-inspector-tap" and hello.info["version"] == 1
        assert (hello.first_seq, hello.next_seq) == (0, 100)
        assert hello.info["name"] == "tests:app" and hello.info["started"] == 1.5e9
        assert (hello.info["capacity"], hello.info["max_bytes"]) == (1000, ring.max_bytes)
        assert client.hello == hello
        assert seqs(items) == list(range(100))
        first = items[1]
        assert isinstance(first, Events)
        assert first.events[5].message == {"type": "http.response.body", "body": b"x" * 100,
                                           "n": 5}
        fill(ring, 50)
        assert seqs(await take_until(client, 150)) == list(range(100, 150))


async def test_live_and_resume_at_a_seq(publish: Callable[..., Publisher]) -> None:
    ring = RingBuffer(1000)
    fill(ring, 100)
    publisher = publish(ring)
    async with TapClient(publisher.path, "live") as live, \
            TapClient(publisher.path, 90) as resumed, \
            TapClient(publisher.path, 10**9) as future:
        await until(lambda: publisher.server.readers == 3, "three readers")
        await until(lambda: all(r.cursor is not None for r in publisher.server.reader_states()),
                    "three STARTs")
        fill(ring, 5)
        assert seqs(await take_until(live, 105)) == list(range(100, 105))
        assert seqs(await take_until(resumed, 105)) == list(range(90, 105))
        assert seqs(await take_until(future, 105)) == list(range(100, 105))


async def test_two_readers_get_everything(publish: Callable[..., Publisher]) -> None:
    ring = RingBuffer(10_000)
    publisher = publish(ring)
    async with TapClient(publisher.path) as one, TapClient(publisher.path) as two:
        for _ in range(10):
            fill(ring, 100)
            await asyncio.sleep(0)
        got_one, got_two = await asyncio.gather(take_until(one, 1000), take_until(two, 1000))
    assert seqs(got_one) == seqs(got_two) == list(range(1000))
    assert not any(isinstance(item, Missed) for item in got_one + got_two)


async def test_read_tap_ends_with_a_clean_close(publish: Callable[..., Publisher]) -> None:
    ring = RingBuffer(100)
    fill(ring, 3)
    publisher = publish(ring, stats_interval=0.01)
    items: list[TapItem] = []
    async for item in read_tap(publisher.path):
        items.append(item)
        if isinstance(item, Stats):
            assert item.info["total"] == 3 and item.info["size"] == 3
            assert item.info["readers"] == 1 and item.info["lag"] == 0
            await asyncio.get_running_loop().run_in_executor(None, publisher.close)
    assert seqs(items) == [0, 1, 2]
    assert items[-1] == Closed("publisher stopped", clean=True)
    assert not publisher.path.exists()


async def test_start_and_close_without_serve(tap_dir: Path) -> None:
    # How the publisher thread drives it: start(), then close() when the app stops.
    ring = RingBuffer(100)
    fill(ring, 2)
    server = TapServer(ring, tap_dir / "1-1.sock", {"name": "x"}, poll_interval=0.002)
    assert await server.start() == tap_dir / "1-1.sock"
    async with TapClient(server.path) as client:
        assert seqs(await take_until(client, 2)) == [0, 1]
        fill(ring, 1)
        assert seqs(await take_until(client, 3)) == [2]
        await server.close()
        assert [item async for item in client] == [Closed("publisher stopped", clean=True)]
    assert not server.path.exists()
    with pytest.raises(RuntimeError):
        await server.start()


async def test_serve_tap(tap_dir: Path) -> None:
    ring = RingBuffer(100)
    fill(ring, 1)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_tap(ring, tap_dir / "s.sock", None, stop, 0.002))
    await until(lambda: (tap_dir / "s.sock").exists(), "the socket")
    items = await take_until(read_tap(tap_dir / "s.sock"), 1)
    assert isinstance(items[0], Hello) and items[0].info["pid"] == os.getpid()
    assert seqs(items) == [0]
    stop.set()
    await asyncio.wait_for(task, DEADLINE)
    assert not (tap_dir / "s.sock").exists()


async def test_slow_reader_is_skipped_ahead_and_never_blocks_the_writer(
        publish: Callable[..., Publisher]) -> None:
    high_water, batch_bytes = 32 * 1024, 16 * 1024
    ring = RingBuffer(2000)
    publisher = publish(ring, high_water=high_water, max_batch_bytes=batch_bytes)
    reader = RawReader(publisher.path, rcvbuf=4096)
    reader.sock.send(encode_start(0))   # everything from seq 0: so all 40_000 add up
    fill(ring, 20_000)      # far more than the socket, the write buffer and the ring hold
    await until(lambda: any(r.paused for r in publisher.server.reader_states()),
                "the stalled reader's write buffer to pass high water")

    # The writer (this thread, as the app's loop would) goes on at full speed meanwhile.
    started = time.perf_counter()
    fill(ring, 20_000)
    per_append = (time.perf_counter() - started) / 20_000
    assert per_append < 50e-6, f"{per_append * 1e6:.1f} us per append while a reader stalls"
    (state,) = publisher.server.reader_states()
    assert state.paused and state.cursor is not None and state.cursor < ring.first_seq
    assert state.max_buffered <= high_water + batch_bytes + 1024   # never queued beyond

    # Once it reads again, it is told what it missed, and seqs add up exactly.
    expected, delivered, missed = 0, 0, 0
    while expected < ring.next_seq:
        frames = await reader.frames()
        assert frames is not None
        for frame in frames:
            if isinstance(frame, EventsFrame):
                assert frame.first_seq == expected
                expected = frame.next_seq
                delivered += len(frame.events)
            elif isinstance(frame, MissedFrame):
                expected += frame.count
                missed += frame.count
    assert expected == ring.next_seq == 40_000
    assert missed > 0 and delivered >= ring.capacity and delivered + missed == 40_000
    assert publisher.server.reader_states()[0].missed == missed
    reader.sock.close()


async def test_reader_that_vanishes_is_dropped_silently(
        publish: Callable[..., Publisher], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    ring = RingBuffer(2000)
    publisher = publish(ring, high_water=16 * 1024)
    stalled = RawReader(publisher.path, rcvbuf=4096)
    stalled.sock.send(encode_start())
    async with TapClient(publisher.path) as client:
        fill(ring, 5000)
        await until(lambda: any(r.paused for r in publisher.server.reader_states()),
                    "the stalled reader to pause")
        stalled.vanish()
        await until(lambda: publisher.server.readers == 1, "the vanished reader to be dropped")
        items = await take_until(client, 5000)
        assert seqs(items)[-1] == 4999
        fill(ring, 10)
        assert seqs(await take_until(client, 5010)) == list(range(5000, 5010))
    await until(lambda: publisher.server.readers == 0, "the client to be dropped")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_close_does_not_wait_for_a_stalled_reader(
        publish: Callable[..., Publisher]) -> None:
    ring = RingBuffer(5000)
    publisher = publish(ring, high_water=16 * 1024)
    stalled = RawReader(publisher.path, rcvbuf=4096)
    stalled.sock.send(encode_start())
    fill(ring, 5000)
    await until(lambda: any(r.paused for r in publisher.server.reader_states()),
                "the reader to stall")
    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, publisher.close)
    assert time.monotonic() - started < publisher.server.close_timeout
    assert not publisher.path.exists()
    frames: list[Frame] = []
    while (more := await stalled.frames()) is not None:   # what the kernel held, then EOF
        frames += more
    assert not any(isinstance(frame, Bye) for frame in frames)  # it was not reading anyway
    stalled.sock.close()


async def test_reader_that_never_says_start_gets_the_backlog(
        publish: Callable[..., Publisher]) -> None:
    ring = RingBuffer(100)
    fill(ring, 3)
    publisher = publish(ring, start_timeout=0.02)
    reader = RawReader(publisher.path)
    frames: list[Frame] = []
    while len(frames) < 2:
        more = await reader.frames()
        assert more is not None
        frames += more
    assert isinstance(frames[0], HelloFrame)
    assert isinstance(frames[1], EventsFrame) and frames[1].first_seq == 0
    reader.sock.close()


async def test_reader_breaking_the_protocol_gets_bye(publish: Callable[..., Publisher]) -> None:
    publisher = publish(RingBuffer(10))
    reader = RawReader(publisher.path)
    reader.sock.send(b"GET / HTTP/1.1\r\n\r\n")
    frames: list[Frame] = []
    while (more := await reader.frames()) is not None:
        frames += more
    assert isinstance(frames[0], HelloFrame)
    assert isinstance(frames[-1], Bye) and "the peer broke the tap protocol" in frames[-1].reason
    reader.sock.close()


async def test_client_refuses_a_publisher_that_is_not_a_tap(tap_dir: Path) -> None:
    async def talk_http(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        await writer.drain()
        writer.close()      # else `async with server` waits for it (Python 3.12.1 on)

    server = await asyncio.start_unix_server(talk_http, str(tap_dir / "http.sock"))
    async with server:
        with pytest.raises(RemoteProtocolError, match="is the peer an asgi-inspector tap"):
            await take_until(read_tap(tap_dir / "http.sock"), 1)


async def test_client_reports_a_publisher_that_dies_mid_frame(tap_dir: Path) -> None:
    async def die(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(encode_start()))
        writer.write(encode_hello({"first_seq": 0, "next_seq": 0}) + b"\x00\x00\x01\x00\x02")
        writer.close()

    server = await asyncio.start_unix_server(die, str(tap_dir / "dying.sock"))
    async with server:
        items = await take_until(read_tap(tap_dir / "dying.sock"), 1)
    assert isinstance(items[0], Hello)
    assert items[-1] == Closed("publisher closed the connection mid-frame", clean=False)


# -- sockets on disk ---------------------------------------------------------------------


async def test_sockets_are_named_by_pid_private_and_removed(
        publish: Callable[..., Publisher], tap_dir: Path) -> None:
    one, two = publish(RingBuffer(10)), publish(RingBuffer(10))
    assert {one.path.name, two.path.name} == {f"{os.getpid()}-0.sock", f"{os.getpid()}-1.sock"}
    assert parse_tap_name(one.path) in {(os.getpid(), 0), (os.getpid(), 1)}
    for path in (one.path, two.path):
        mode = os.lstat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert discover_taps(tap_dir) == sorted([one.path, two.path])
    one.close()
    assert not one.path.exists()
    assert discover_taps(tap_dir) == [two.path]


def dead_socket(path: Path, listen: bool, age: float = 60.0) -> None:
    """Leave a socket file nobody listens on, as a killed process does (`age` s ago)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        if listen:
            sock.listen()
    then = time.time() - age
    os.utime(path, (then, then))


async def test_discovery_leaves_a_socket_bound_moments_ago(tap_dir: Path) -> None:
    """A publisher binds, then listens: a reader looking in between must not remove it."""
    starting = tap_dir / "999999998-0.sock"
    dead_socket(starting, listen=False, age=0.0)
    assert discover_taps(tap_dir) == []
    assert starting.exists()


async def test_discovery_removes_stale_sockets(
        publish: Callable[..., Publisher], tap_dir: Path) -> None:
    dead_socket(tap_dir / "999999999-0.sock", listen=False)
    dead_socket(tap_dir / f"{os.getpid()}-7.sock", listen=True)   # live pid, dead socket
    (tap_dir / "123-0.sock").mkdir()                              # not a socket: not ours
    (tap_dir / "notes.sock").write_text("")                       # not a tap name
    live = publish(RingBuffer(10))
    assert discover_taps(tap_dir) == [live.path]
    assert sorted(p.name for p in tap_dir.iterdir()) == sorted(
        ["123-0.sock", "notes.sock", live.path.name])
    await until(lambda: live.server.readers == 0, "the discovery probe to be dropped")


async def test_stale_socket_is_replaced_and_a_live_one_refused(
        tap_dir: Path, publish: Callable[..., Publisher]) -> None:
    path = tap_dir / f"{os.getpid()}-0.sock"
    dead_socket(path, listen=False)
    publisher = publish(RingBuffer(10))
    assert publisher.path == path
    with pytest.raises(FileExistsError):
        await TapServer(RingBuffer(10), path).start()
    regular = tap_dir / "file.sock"
    regular.write_text("")
    with pytest.raises(FileExistsError):
        await TapServer(RingBuffer(10), regular).start()


# -- the private directory ---------------------------------------------------------------


def test_runtime_dir_override_is_created_private(tmp_path: Path) -> None:
    path = runtime_dir({RUNTIME_DIR_ENV: str(tmp_path / "taps")})
    assert path == tmp_path / "taps"
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700
    assert runtime_dir({RUNTIME_DIR_ENV: str(path)}) == path   # and reused


def test_runtime_dir_uses_xdg_when_it_is_ours(tmp_path: Path) -> None:
    path = runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)}, tmp=tmp_path / "no")
    assert path == tmp_path / "asgi-inspector"
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700


def test_runtime_dir_falls_back_to_tmp(tmp_path: Path) -> None:
    not_ours = Path("/") if os.getuid() != 0 else tmp_path / "xdg"
    if os.getuid() == 0:
        not_ours.mkdir()
        os.chown(not_ours, 65534, 65534)
    for xdg in ("", str(tmp_path / "missing"), str(not_ours)):
        path = runtime_dir({"XDG_RUNTIME_DIR": xdg}, tmp=tmp_path)
        assert path == tmp_path / f"asgi-inspector-{os.getuid()}"


def test_refuses_a_group_writable_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    shared.chmod(0o770)
    with pytest.raises(RuntimeDirError, match="mode 0770.*chmod 700"):
        runtime_dir({RUNTIME_DIR_ENV: str(shared)})


def test_refuses_a_symlink_a_file_and_someone_elses_dir(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("")
    with pytest.raises(RuntimeDirError, match="symlink"):
        ensure_private_dir(tmp_path / "link")
    with pytest.raises(RuntimeDirError, match="not a directory"):
        ensure_private_dir(tmp_path / "file")
    with pytest.raises(RuntimeDirError, match=f"belongs to uid {os.getuid()}, not"):
        ensure_private_dir(tmp_path / "real", uid=os.getuid() + 1)
    with pytest.raises(RuntimeDirError, match="cannot create"):
        ensure_private_dir(tmp_path / "missing" / "deeper")
