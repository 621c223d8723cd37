"""Moves captured events out of the process: to a capture file, to tap readers, to Redis.

All of it runs in one daemon thread with its own asyncio loop, reading the ring buffer
from behind. The app's event loop never waits on a file or a socket; the only cost it
sees is the GIL the thread takes while it encodes a batch.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.events.model import decode_records

if TYPE_CHECKING:
    from inspector.capture.recorder import Recorder
    from inspector.io.capture_file import CaptureWriter
    from inspector.tap.redis.publish import RedisSink
    from inspector.tap.redis.url import RedisTarget

log = logging.getLogger("asgi_inspector")

_instances = iter(range(1, 1 << 30))


class Publisher:
    """Streams a recorder's ring buffer to a capture file, a tap socket, a Redis stream."""

    def __init__(self, recorder: Recorder, *, save: str | os.PathLike[str] | None = None,
                 tap: bool = True, name: str = "", flush_interval: float = 0.1,
                 publish: RedisTarget | None = None) -> None:
        self.recorder = recorder
        self.publish = publish
        self.redis: RedisSink | None = None     # while publishing: its counters
        self.save_path = Path(save) if save is not None else None
        self.tap = tap
        self.name = name
        self.flush_interval = flush_interval
        self.tap_path: Path | None = None
        self._writer: CaptureWriter | None = None
        self._saved_seq = 0
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the capture file and start the thread (idempotent per process)."""
        if self.running or (self.save_path is None and not self.tap and self.publish is None):
            return
        if self.save_path is not None:
            from inspector.io.capture_file import CaptureWriter

            # "{pid}" in the name: one file per worker process (uvicorn --workers).
            path = Path(str(self.save_path).replace("{pid}", str(os.getpid())))
            self._writer = CaptureWriter(path, self.hello_info())
            self._saved_seq = self.recorder.ring.first_seq
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="asgi-inspector-publisher",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(5)
        atexit.register(self.close)

    def hello_info(self) -> dict[str, Any]:
        """What readers learn about this capture: who, where, since when."""
        from inspector.tap.redis.url import is_redis_url, mask

        ring = self.recorder.ring
        argv = [mask(arg) if is_redis_url(arg) else arg for arg in sys.argv[:8]]
        return {"pid": os.getpid(), "name": self.name, "argv": argv,
                "started": self.recorder.started_wall, "capacity": ring.capacity,
                "max_bytes": ring.max_bytes}

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the thread must never take the app down
            self.recorder.failed(exc)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks = []
        if self.tap:
            from inspector.tap.server import TapServer, runtime_dir

            try:
                self.tap_path = runtime_dir() / f"{os.getpid()}-{next(_instances)}.sock"
                server = TapServer(self.recorder.ring, self.tap_path, self.hello_info)
                await server.start()
                tasks.append(asyncio.create_task(self._close_on_stop(server)))
            except Exception as exc:
                log.warning("asgi-inspector: no live tap (%s)", exc)
                self.tap_path = None
        if self._writer is not None:
            tasks.append(asyncio.create_task(self._write_loop()))
        if self.publish is not None:
            from inspector.tap.redis.publish import RedisSink

            self.redis = RedisSink(self.recorder.ring, self.publish, app=self.name,
                                   started=self.recorder.started_wall)
            tasks.append(asyncio.create_task(self.redis.run()))
        self._ready.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _close_on_stop(self, server: Any) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            self.flush()

    def flush(self) -> int:
        """Write what the ring holds beyond what is saved; return the events written."""
        writer = self._writer
        if writer is None:
            return 0
        with self._write_lock:
            written = 0
            while True:
                batch = self.recorder.ring.since(self._saved_seq, limit=4096)
                if batch.missed:
                    writer.write_gap(batch.missed)
                if not batch.records:
                    break
                writer.write(decode_records(batch.first_seq, batch.records))
                self._saved_seq = batch.next_seq
                written += len(batch.records)
            writer.flush()
            return written

    def close(self) -> None:
        """Stop the thread, write the last events, close the file and the socket."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self.running:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(5)
        if self._writer is not None:
            try:
                self.flush()
                self._writer.close()
            except Exception as exc:
                self.recorder.failed(exc)
            self._writer = None
        try:
            atexit.unregister(self.close)
        except Exception:
            pass
