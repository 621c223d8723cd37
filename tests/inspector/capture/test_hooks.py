"""The receive()/send() hooks (in C where built, else Python): what the app is given behaves
as the server's own."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import anyio
import pytest

from inspector import InspectorMiddleware
from inspector.capture.recorder import Recorder
from inspector.events.ring import RingBuffer
from tests.conftest import needs_c


@needs_c
def test_the_c_hooks_are_built() -> None:
    """A developer or CI install compiles inspector/capture/_hooks.c; the figures depend on it."""
    from inspector.capture._hooks import Capture

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


class BrokenRing(RingBuffer):
    """A ring whose every write fails, as a full disk or a bug would."""

    def record(self, *args: Any) -> int | None:
        raise OSError("disk on fire")

    def append(self, record: bytes) -> int:
        raise OSError("disk on fire")


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
            mw.recorder.hooks = mw.recorder.call = None
        server = Server([{"type": "http.request", "body": b"hi", "more_body": False}])
        await mw({"type": "http", "path": "/", "headers": []}, server.receive, server.send)
        sequences.append([(e.kind, e.message) for e in mw.events()])
    assert sequences[0] == sequences[1] and len(sequences[0]) == 5


# The middleware's whole call in C: recorder.call(app, scope, receive, send).

HTTP_SCOPE = {"type": "http", "path": "/", "headers": []}


def middlewares(app: Any) -> dict[str, InspectorMiddleware]:
    c, python = InspectorMiddleware(app, tap=False), InspectorMiddleware(app, tap=False)
    python.recorder.hooks = python.recorder.call = None
    return {"c": c, "python": python}


def exits(mw: InspectorMiddleware) -> list[Any]:
    return [e.message for e in mw.events() if e.kind == "exit"]


async def test_an_app_exception_is_recorded_and_reraised_as_the_same_object() -> None:
    boom = ValueError("boom")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise boom

    for path, mw in middlewares(app).items():
        with pytest.raises(ValueError) as caught:
            await mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
        assert caught.value is boom, path
        # the app's own frame is still in the traceback the server sees
        assert any(f.name == "app" for f in caught.traceback), path
        (exit_message,) = exits(mw)
        assert exit_message["exception"]["type"] == "builtins.ValueError", path
        assert "raise boom" in exit_message["exception"]["traceback"], path


async def test_an_app_that_raises_before_returning_an_awaitable_is_recorded() -> None:
    def app(scope: Any, receive: Any, send: Any) -> Any:
        raise KeyError("sync")

    def not_awaitable(scope: Any, receive: Any, send: Any) -> Any:
        return 42

    for path, mw in middlewares(app).items():
        with pytest.raises(KeyError):
            await mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
        assert exits(mw)[0]["exception"]["type"] == "builtins.KeyError", path
    for path, mw in middlewares(not_awaitable).items():
        with pytest.raises(TypeError):
            await mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
        assert exits(mw)[0]["exception"]["type"] == "builtins.TypeError", path


async def test_a_cancelled_app_records_the_cancellation_and_stays_cancelled() -> None:
    started = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.sleep(60)

    for path, mw in middlewares(app).items():
        started.clear()
        task = asyncio.create_task(mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert exits(mw)[0]["exception"]["type"] == "asyncio.exceptions.CancelledError", path


async def test_close_throw_and_a_caught_throw_behave_as_a_coroutine() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> str:
        try:
            await asyncio.sleep(60)
        except LookupError:
            return "caught"
        return "slept"

    for path, mw in middlewares(app).items():
        # close() while suspended: the app is closed, the exit says GeneratorExit
        call = mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
        call.send(None)
        call.close()
        assert exits(mw)[-1]["exception"]["type"] == "builtins.GeneratorExit", path
        # throw() that the app catches: it returns, and the exit is a normal one
        call = mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
        call.send(None)
        with pytest.raises(StopIteration):
            call.throw(LookupError("x"))
        assert exits(mw)[-1]["exception"] is None, path
        # throw() that it does not catch: raised out, recorded
        call = mw(dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
        call.send(None)
        with pytest.raises(OSError):
            call.throw(OSError("gone"))
        assert exits(mw)[-1]["exception"]["type"] == "builtins.OSError", path


@needs_c
async def test_the_c_call_cannot_be_awaited_twice_and_refuses_a_first_value() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    recorder = Recorder()
    calling = recorder.call(app, dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
    with pytest.raises(TypeError):
        calling.send(1)
    calling = recorder.call(app, dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
    await calling
    with pytest.raises(RuntimeError):
        await calling
    never = recorder.call(app, dict(HTTP_SCOPE), Server([]).receive, Server([]).send)
    never.close()                                  # closed before it ran: nothing recorded
    assert [e.kind for e in recorder.events()] == ["scope", "exit"]


async def test_the_c_call_records_a_scope_it_cannot_encode_through_the_slow_path() -> None:
    seen = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    scope = {**HTTP_SCOPE, "router": object(), "custom": {1, 2}}
    mw = InspectorMiddleware(app, tap=False)
    await mw(scope, Server([]).receive, Server([]).send)
    assert seen == [scope] and seen[0] is scope     # the app's scope, untouched
    (opened,) = [e.message for e in mw.events() if e.kind == "scope"]
    assert "router" not in opened and opened["path"] == "/" and "custom" in opened


async def test_failures_in_the_c_call_never_reach_the_app() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})

    server = Server([])
    mw = InspectorMiddleware(app, tap=False)
    mw.recorder.ring = BrokenRing()
    await mw(dict(HTTP_SCOPE), server.receive, server.send)
    assert len(server.sent) == 1 and mw.recorder.errors == 3   # scope, send, exit
