"""Misuse of the capture objects raises, as Python's own objects do; it never crashes.

Each case runs in a child process, where a crash (a segfault, a division by zero) fails
the test instead of killing pytest. The re-entry cases hold on both paths: the C
awaitables and the Python coroutines beside them answer the same ValueError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from inspector._native import PURE_PYTHON_ENV
from tests import ROOT
from tests.conftest import needs_c

PATHS = [pytest.param("c", marks=needs_c), "python"]


def isolated(code: str, path: str = "c") -> list[str]:
    """Run `code` in a child Python on the given capture path; its stdout's lines."""
    env = dict(os.environ)
    env.pop(PURE_PYTHON_ENV, None)
    if path == "python":
        env[PURE_PYTHON_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"child died ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout.split()


REENTER_CALL = """
import asyncio
from inspector import InspectorMiddleware

async def app(scope, receive, send):
    me = asyncio.current_task().get_coro()   # what the server awaits: the captured call
    for step in (lambda: me.send(None), lambda: me.throw(OSError("x")), me.close):
        try:
            step()
        except ValueError as exc:
            print("refused:", str(exc).replace(" ", "_"))
    await asyncio.sleep(0)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})

async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

sent = []
async def send(message):
    sent.append(message["type"])

mw = InspectorMiddleware(app, tap=False)
scope = {"type": "http", "path": "/", "headers": []}
for _ in range(2):          # the first call starts the publisher; the second is the fast path
    asyncio.run(mw(dict(scope), receive, send))
print("sent", len(sent), "exits", [e.message["exception"] for e in mw.events()
                                    if e.kind == "exit"].count(None))
"""


@pytest.mark.parametrize("path", PATHS)
def test_the_captured_call_refuses_reentry_and_the_app_goes_on(path: str) -> None:
    out = isolated(REENTER_CALL, path)
    assert out == ["refused:", "coroutine_already_executing"] * 6 + ["sent", "4", "exits", "2"]


REENTER_RECEIVE = """
import asyncio
from inspector.capture.recorder import Recorder

pending = []
async def server_receive():
    for step in (lambda: pending[0].send(None), lambda: pending[0].throw(OSError("x")),
                 pending[0].close):
        try:
            step()
        except ValueError as exc:
            print("refused:", str(exc).replace(" ", "_"))
    await asyncio.sleep(0)
    return {"type": "http.request", "body": b"ok", "more_body": False}

async def main():
    recorder = Recorder()
    receive, _ = recorder.hooks(1, server_receive, None)
    pending.append(receive())
    message = await pending[0]
    print(message["body"].decode(), [e.kind for e in recorder.events()])

asyncio.run(main())
"""


@pytest.mark.parametrize("path", PATHS)
def test_receive_refuses_reentry_and_still_records(path: str) -> None:
    out = isolated(REENTER_RECEIVE, path)
    assert out == ["refused:", "coroutine_already_executing"] * 3 + ["ok", "['receive']"]


@needs_c
def test_objects_made_without_init_raise() -> None:
    out = isolated("""
    from inspector.events._encoder import Ring, decode
    from inspector.capture._hooks import Capture
    from inspector.events.model import Event, clean_exit_message, decode_record

    ring = Ring.__new__(Ring)
    for attempt in (lambda: ring.append(b"abc"),
                    lambda: ring.record(1, "send", 0.0, {"type": "x"}, -1, None)):
        try:
            attempt()
        except ValueError as exc:
            print(type(exc).__name__)
    print(len(ring), ring.since(0) if hasattr(ring, "since") else ring._since(0))

    capture = Capture.__new__(Capture)
    async def server_send(message):
        pass
    for attempt in (lambda: capture.hooks(1, None, server_send),
                    lambda: capture.call(None, {}, None, server_send)):
        try:
            attempt()
        except ValueError as exc:
            print(type(exc).__name__)
    """)
    assert out == ["ValueError"] * 2 + ["0", "(0,", "[],", "0)"] + ["ValueError"] * 2


@needs_c
def test_decode_holds_its_records_while_callbacks_change_the_list() -> None:
    out = isolated("""
    import marshal
    from inspector.events._encoder import decode
    from inspector.events.model import Event, clean_exit_message, decode_record

    good = marshal.dumps((1, "send", 0.5, {"type": "x"}), 2)
    records = [b"not a record"] + [bytes(bytearray(good)) for _ in range(50)]

    def slow(seq, record):            # the Python path, which empties the caller's list
        records.clear()
        return Event(seq, 0, 0.0, "broken", {"type": "broken"}, None)

    events = decode(0, records, Event, slow, clean_exit_message)
    print(len(events), events[0].kind, events[-1].seq, events[-1].message["type"])
    """)
    assert out == ["51", "broken", "50", "x"]

