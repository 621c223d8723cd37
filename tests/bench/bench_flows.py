"""Flow fold cost per event over 1,000,000 mixed events: `python -m tests.bench.bench_flows`."""
import time

from inspector.events.model import Event
from inspector.flows.fold import FlowFolder, fold_events


def build(n_target):
    ev = []
    conn = 0
    hdrs = [(b"host", b"localhost:8000"), (b"user-agent", b"curl/8"), (b"accept", b"*/*")]
    while len(ev) < n_target:
        conn += 1
        k = conn % 10
        def e(kind, msg, tr=None):
            ev.append(Event(len(ev), conn, len(ev) * 1e-4, kind, msg, tr))
        if k < 7:   # plain GET
            e("scope", {"type": "http", "method": "GET", "path": "/x", "raw_path": b"/x",
                        "query_string": b"a=1", "headers": hdrs, "client": ("127.0.0.1", 5555),
                        "server": ("127.0.0.1", 8000), "scheme": "http", "http_version": "1.1",
                        "root_path": "", "asgi": {"version": "3.0"}})
            e("receive", {"type": "http.request", "body": b"", "more_body": False})
            e("send", {"type": "http.response.start", "status": 200,
                       "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
            e("send", {"type": "http.response.body", "body": b"hello", "more_body": False})
            e("exit", {"type": "inspector.exit", "exception": None})
        elif k < 9:  # SSE stream, 50 chunks
            e("scope", {"type": "http", "method": "GET", "path": "/sse", "headers": hdrs})
            e("receive", {"type": "http.request", "body": b"", "more_body": False})
            e("send", {"type": "http.response.start", "status": 200,
                       "headers": [(b"content-type", b"text/event-stream")]})
            for i in range(50):
                e("send", {"type": "http.response.body", "body": b"data: tick %d\n\n" % i, "more_body": True})
            e("send", {"type": "http.response.body", "body": b"", "more_body": False})
            e("exit", {"type": "inspector.exit", "exception": None})
        else:  # websocket, 50 messages
            e("scope", {"type": "websocket", "path": "/ws", "headers": hdrs, "subprotocols": []})
            e("receive", {"type": "websocket.connect"})
            e("send", {"type": "websocket.accept", "subprotocol": None})
            for i in range(25):
                e("receive", {"type": "websocket.receive", "text": "ping %d" % i})
                e("send", {"type": "websocket.send", "bytes": b"pong"})
            e("receive", {"type": "websocket.disconnect", "code": 1000})
            e("exit", {"type": "inspector.exit", "exception": None})
    return ev

N = 1_000_000
events = build(N)
n = len(events)
for label, fn in [
    ("fold_events (batch)", lambda: fold_events(events)),
    ("FlowFolder.add one by one", lambda: [f := FlowFolder(), [f.add(e) for e in events]]),
    ("extend in batches of 500", lambda: [f := FlowFolder(), [f.extend(events[i:i+500]) for i in range(0, n, 500)]]),
]:
    best = None
    for _ in range(3):
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    print(f"{label}: {n} events, {best:.3f} s, {best / n * 1e9:.0f} ns/event")

# pathological: one stream of 20k tiny chunks
ev2 = [Event(0, 1, 0.0, "scope", {"type": "http", "method": "GET", "path": "/"}),
       Event(1, 1, 0.0, "send", {"type": "http.response.start", "status": 200, "headers": []})]
for i in range(20000):
    ev2.append(Event(i + 2, 1, 0.0, "send", {"type": "http.response.body", "body": b"x" * 100, "more_body": True}))
t = time.perf_counter()
fold_events(ev2)
print("20k x 100B chunks batch:", f"{time.perf_counter()-t:.3f}s")
t = time.perf_counter()
f = FlowFolder()
for e in ev2:
    f.add(e)
print("20k x 100B chunks one by one:", f"{time.perf_counter()-t:.3f}s")
