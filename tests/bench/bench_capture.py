"""Capture file encode/decode cost per event: rerun with `python -m tests.bench.bench_capture`."""

from __future__ import annotations

import json
import os
import tempfile
import time

from inspector.events.model import Event
from inspector.io.capture_file import CaptureWriter, read_capture
from inspector.io.codec import encode_event
from inspector.io.decode import decode_event

START = Event(7, 3, 0.012345, "send", {
    "type": "http.response.start", "status": 200, "trailers": False,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"65536"),
                (b"date", b"Tue, 25 Nov 2025 05:17:00 GMT"), (b"server", b"uvicorn"),
                (b"x-request-id", b"3f2a9c1e-7b44-4c1d-9f0a-2d5e8b6c4a10")]})
TEXT_BODY = Event(8, 3, 0.0124, "send", {"type": "http.response.body",
                                         "body": b'{"k":"v"}' * 7282 + b"xx",
                                         "more_body": False})
BIN_BODY = Event(9, 3, 0.0125, "send", {"type": "http.response.body",
                                        "body": os.urandom(65536), "more_body": False})
SCOPE = Event(1, 3, 0.01, "scope", {
    "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
    "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 51234), "scheme": "http",
    "method": "GET", "root_path": "", "path": "/items/42", "raw_path": b"/items/42",
    "query_string": b"q=1&sort=desc", "state": {},
    "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"curl/8.5.0"),
                (b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate")]})


def per_call(fn, arg, n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main() -> None:
    for name, ev, n in [("scope (GET, 4 headers)", SCOPE, 20000),
                        ("http.response.start (5 headers)", START, 20000),
                        ("64 KiB UTF-8 body", TEXT_BODY, 2000),
                        ("64 KiB binary body", BIN_BODY, 500)]:
        line = encode_event(ev)
        enc = per_call(encode_event, ev, n)
        dec = per_call(lambda line: decode_event(json.loads(line)), line, n)
        print(f"{name:34s} encode {enc:8.2f} µs   parse+decode {dec:8.2f} µs   "
              f"{len(line.encode()):6d} bytes/line")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.jsonl")
        batch = [SCOPE, START] * 25_000
        t0 = time.perf_counter()
        with CaptureWriter(path, {"source": "bench"}) as w:
            for i in range(0, len(batch), 500):
                w.write(batch[i:i + 500])
        t1 = time.perf_counter()
        cap = read_capture(path)
        t2 = time.perf_counter()
        assert len(cap) == len(batch)
        print(f"file: wrote {len(batch)} small events at {(t1 - t0) / len(batch) * 1e6:.2f} "
              f"µs/event, read at {(t2 - t1) / len(batch) * 1e6:.2f} µs/event "
              f"({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
