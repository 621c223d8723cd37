"""The C receive()/send() hooks: what the app is given behaves as the server's own."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import anyio
import pytest

from inspector import InspectorMiddleware
from inspector.recorder import Recorder
from inspector.ring import RingBuffer


def test_the_c_hooks_are_built() -> None:
    """A developer or CI install compiles inspector/_hooks.c; the figures depend on it."""
    from inspector._hooks import Capture

    assert Recorder().hooks is not None and Capture is not None


class Server:
    """A server's receive/send as coroutine functions, suspending like a real one."""

    def __init__(self, incoming: list[dict[str, Any]]) -> None:
        self.incoming = list(incoming)
        self.sent: list[Any] = []
        self.ready = asyncio.Event()
        self.ready.set()

    async def receive(self) -> dict[str, Any]:
        await asyncio.sleep(0)                 # a real suspension, as on a socket
        await self.ready.wait()
        return self.incoming.pop(0)

    async def send(self, message: Any) -> None:
        await asyncio.sleep(0)
        self.sent.append(message)


def hooks_for(server: Server, recorder: Recorder | None = None) -> tuple[Recorder, Any, Any]:
    recorder = recorder or Recorder()
    receive, send = recorder.hooks(7, server.receive, server.send)
    return recorder, receive, send


def recorded(recorder: Recorder) -> list[tuple[str, Any]]:
    return [(e.kind, e.message) for e in recorder.events()]


async def test_await_receive_and_send_record_the_same_objects() -> None:
    message = {"type": "http.request", "body": b"abc", "more_body": False}
    server = Server([message])
    recorder, receive, send = hooks_for(server)
    got = await receive()
    assert got is message                      # the server's own object, unchanged
    reply = {"type": "http.response.start", "status": 200, "headers": []}
    await send(reply)
    assert server.sent[0] is reply
    assert recorded(recorder) == [("receive", message), ("send", reply)]
    assert recorder.events()[0].conn == 7


async def test_receive_is_taken_as_a_coroutine_by_asyncio_and_anyio() -> None:
    server = Server([{"type": "http.request", "body": b"1"}, {"type": "http.request", "body": b"2"},
                     {"type": "http.disconnect"}])
    recorder, receive, _ = hooks_for(server)
    pending = receive()
    assert asyncio.iscoroutine(pending) and inspect.isawaitable(pending)
    assert (await asyncio.create_task(pending))["body"] == b"1"
    assert (await asyncio.ensure_future(receive()))["body"] == b"2"
    got: list[Any] = []

    async def listen() -> None:
        got.append(await receive())

    async with anyio.create_task_group() as tg:
        tg.start_soon(listen)
    assert got == [{"type": "http.disconnect"}]
    assert [m["type"] for _, m in recorded(recorder)] == ["http.request"] * 2 + ["http.disconnect"]


async def test_a_cancelled_receive_records_nothing_and_propagates() -> None:
    server = Server([{"type": "http.disconnect"}])
    server.ready.clear()                       # the client has not said anything yet
    recorder, receive, _ = hooks_for(server)
    task = asyncio.create_task(receive())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorded(recorder) == []


async def test_a_receive_that_catches_the_throw_still_records_its_message() -> None:
    async def stubborn_receive() -> dict[str, Any]:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return {"type": "http.disconnect"}
        raise AssertionError("not reached")

    recorder = Recorder()
    receive, _ = recorder.hooks(1, stubborn_receive, None)
    pending = receive()
    pending.send(None)                         # now suspended inside asyncio.sleep
    with pytest.raises(StopIteration) as stop:
        pending.throw(asyncio.CancelledError())
    assert stop.value.value == {"type": "http.disconnect"}
    assert recorded(recorder) == [("receive", {"type": "http.disconnect"})]
    with pytest.raises(RuntimeError):
        pending.send(None)                     # finished: as a coroutine, no second result


async def test_close_and_an_unawaited_receive() -> None:
    server = Server([])
    recorder, receive, _ = hooks_for(server)
    pending = receive()
    pending.close()
    pending.close()                            # twice is fine, as for a coroutine
    assert recorded(recorder) == []


async def test_send_passes_the_servers_awaitable_and_its_errors() -> None:
    class Gone(Exception):
        pass

    async def broken_send(message: Any) -> None:
        raise Gone("client went away")

    recorder = Recorder()
    _, send = recorder.hooks(1, None, broken_send)
    with pytest.raises(Gone):
        await send({"type": "http.response.start", "status": 200})
    # What the app tried to send is still on record.
    assert recorded(recorder) == [("send", {"type": "http.response.start", "status": 200})]
    with pytest.raises(TypeError):
        send()                                 # as the server's send() would


async def test_failures_in_recording_never_reach_the_app() -> None:
    class BrokenRing(RingBuffer):
        def record(self, *args: Any) -> int | None:
            raise OSError("disk on fire")

        def append(self, record: bytes) -> int:
            raise OSError("disk on fire")

    server = Server([{"type": "http.request", "body": b""}])
    recorder, receive, send = hooks_for(server, Recorder(BrokenRing()))
    assert (await receive())["type"] == "http.request"
    await send({"type": "http.response.start", "status": 204, "headers": []})
    assert len(server.sent) == 1 and recorder.errors == 2


async def test_over_the_body_limit_takes_the_cutting_path() -> None:
    server = Server([{"type": "http.request", "body": b"x" * 100, "more_body": False}])
    recorder, receive, _ = hooks_for(server, Recorder(body_limit=10))
    assert len((await receive())["body"]) == 100          # the app gets it whole
    event = recorder.events()[0]
    assert event.message["body"] == b"x" * 10 and event.truncated == 100


async def test_a_body_limit_changed_later_reaches_the_hooks() -> None:
    server = Server([{"type": "http.request", "body": b"x" * 100, "more_body": False}])
    recorder = Recorder()
    recorder.body_limit = 10
    recorder, receive, _ = hooks_for(server, recorder)
    await receive()
    assert recorder.events()[0].truncated == 100


async def test_the_python_closures_record_the_same_when_c_is_absent() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sequences = []
    for hooks in ("c", "python"):
        mw = InspectorMiddleware(app, tap=False)
        if hooks == "python":
            mw.recorder.hooks = None
        server = Server([{"type": "http.request", "body": b"hi", "more_body": False}])
        await mw({"type": "http", "path": "/", "headers": []}, server.receive, server.send)
        sequences.append([(e.kind, e.message) for e in mw.events()])
    assert sequences[0] == sequences[1] and len(sequences[0]) == 5
