"""Filter cost over 100,000 mixed flows: `python -m tests.bench.bench_filters`."""
from __future__ import annotations

import random
import time

from inspector.filters.compile import compile_filter
from inspector.flows.model import COMPLETE, Flow, WsMessage

N = 100_000


def build(n: int) -> list[Flow]:
    rng = random.Random(1)
    paths = ["/", "/api/items", "/api/items/42", "/health", "/static/app.js", "/login"]
    flows = []
    for conn in range(n):
        headers = [(b"host", b"localhost:8000"), (b"user-agent", b"curl/8.4"),
                   (b"accept", b"*/*"), (b"x-request-id", b"%d" % conn)]
        kind = conn % 10
        start = conn * 0.01
        if kind < 8:
            status = rng.choice([200, 200, 200, 201, 204, 304, 404, 500])
            body = b'{"id": %d, "name": "widget", "ok": true}' % conn
            flows.append(Flow(conn, "http", method=rng.choice(["GET", "GET", "POST", "PUT"]),
                              path=rng.choice(paths), query=b"page=2", scheme="http",
                              request_headers=headers,
                              response_headers=[(b"content-type", b"application/json"),
                                                (b"content-length", b"%d" % len(body))],
                              status=status, response_body=body, response_body_size=len(body),
                              start=start, response_start=start + rng.random() * 0.05,
                              end=start + rng.random() * 0.2, state=COMPLETE))
        elif kind == 8:
            flows.append(Flow(conn, "http", method="GET", path="/events", scheme="http",
                              request_headers=headers, status=200,
                              response_headers=[(b"content-type", b"text/event-stream")],
                              response_body=b"data: tick\n\n" * 50, response_body_size=600,
                              start=start, response_start=start + 0.001, end=start + 5,
                              state=COMPLETE))
        else:
            msgs = [WsMessage("in" if i % 2 else "out", start, "ping %d" % i, None, 6)
                    for i in range(20)]
            flows.append(Flow(conn, "websocket", path="/ws", scheme="ws",
                              request_headers=headers, accepted=True, messages=msgs,
                              messages_in=10, messages_out=10, message_bytes_in=60,
                              message_bytes_out=60,
                              start=start, response_start=start + 0.002, end=start + 3,
                              state=COMPLETE))
    return flows


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


FILTERS = [
    "method:POST status:5xx path:/api",
    "status:>=400 -path:/health duration:>100ms",
    "type:http host:localhost items",
    "header:x-request-id=42 method:GET status:2xx",
    "(status:5xx or duration:>1s) -type:ws",
    "body:widget state:error type:http",
    "type:ws body:pong",
]

flows = build(N)
print(f"{N:,} flows; best of 5")
for text in FILTERS:
    flt = compile_filter(text)
    loop = best_of(lambda: [f for f in flows if flt(f)])
    select = best_of(lambda: flt.select(flows))
    hits = len(flt.select(flows))
    print(f"{text!r:48} {hits:6} hits  select {select * 1e3:6.1f} ms  "
          f"call loop {loop * 1e3:6.1f} ms")
compile_time = best_of(lambda: [compile_filter(t) for t in FILTERS * 100], 3) / (len(FILTERS) * 100)
print(f"compile: {compile_time * 1e6:.0f} us per filter")

# Big bodies: 1,000 flows with a 64 KiB body each.
big = b"lorem ipsum dolor sit amet, " * 2341
big_flows = [Flow(i, "http", response_body=big, response_body_size=len(big)) for i in range(1000)]
for text in ["body:needle", "body:404", 'body:"NÉEDLE"', "body:~ne+dle"]:
    flt = compile_filter(text)
    print(f"{text!r:20} 1,000 x 64 KiB bodies: {best_of(lambda: flt.select(big_flows)) * 1e3:.1f} ms")
