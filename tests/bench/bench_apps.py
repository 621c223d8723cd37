"""Apps the benchmarks serve under uvicorn: the same Starlette app bare and wrapped.

`naive` wraps it in the recorder everyone writes first (a deque of the message dicts),
to show what the garbage collector does with what the buffer holds. `otel` and `sentry`
wrap it in the two middlewares people already run for request insight, each recording
every request (OpenTelemetry's ASGI middleware with the SDK's batch span processor;
Sentry's with tracing at sample rate 1.0), their output thrown away so that only their
own work is measured; they need the `bench` extra and are made when first imported.
`pycall` and `pure_inprocess` are the simpler designs the C pieces are measured against (see
`PythonCallMiddleware`, `PurePythonMiddleware`); the real pure-Python path is `wrapped`
served with ASGI_INSPECTOR_PURE_PYTHON=1.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inspector import InspectorMiddleware
from inspector.events.ring import PyRingBuffer


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, world!")


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


def make_app() -> Starlette:
    return Starlette(routes=[Route("/", hello), Route("/echo", echo, methods=["POST"]),
                             WebSocketRoute("/ws", ws_echo)])


class NaiveRecorder:
    """Appends every scope and message to a deque, as a first attempt would."""

    def __init__(self, app: Any, maxlen: int = 200_000) -> None:
        self.app = app
        self.events: deque[Any] = deque(maxlen=maxlen)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        events = self.events
        events.append(("scope", dict(scope)))

        async def rcv() -> Any:
            message = await receive()
            events.append(("receive", message))
            return message

        async def snd(message: Any) -> None:
            events.append(("send", message))
            await send(message)

        await self.app(scope, rcv, snd)


class PythonCallMiddleware(InspectorMiddleware):
    """The design without the C `__call__` and `Capture.call`: an `async def __call__` in
    Python that records the scope and exit itself and hands the app the C hooks
    (`recorder.hooks`), so each message is still recorded in C."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path")
        if (scope["type"] not in ("http", "websocket") or self._publisher_pid != self._pid_cell[0]
                or (isinstance(path, str) and path in self.exclude_paths)):
            await self._dispatch(scope, receive, send)
            return
        recorder = self.recorder
        conn = recorder.open(scope)
        hooked_receive, hooked_send = recorder.hooks(conn, receive, send)
        try:
            await self.app(scope, hooked_receive, hooked_send)
        except BaseException as exc:
            recorder.exit(conn, exc)
            raise
        recorder.exit(conn, None)


class PurePythonMiddleware(InspectorMiddleware):
    """What ASGI_INSPECTOR_PURE_PYTHON=1 runs, in a process where the C is loaded (for an
    in-process comparison): the Python base's `__call__`, the Python ring and encoder,
    the Python closures."""

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        recorder = self.recorder
        recorder.ring = PyRingBuffer(recorder.ring.capacity, recorder.ring.max_bytes)
        recorder.hooks, recorder.call = recorder.python_hooks, None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._dispatch(scope, receive, send)


bare = make_app()
wrapped = InspectorMiddleware(make_app())
naive = NaiveRecorder(make_app())
wrapped_no_tap = InspectorMiddleware(make_app(), tap=False)
watched = InspectorMiddleware(make_app(), watch_disconnects=True)
pycall = PythonCallMiddleware(make_app())


def _otel() -> Any:
    from opentelemetry import trace
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
    return OpenTelemetryMiddleware(make_app())


def _sentry() -> Any:
    import sentry_sdk
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
    from sentry_sdk.transport import Transport

    class Discard(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            pass

    sentry_sdk.init(dsn="http://key@127.0.0.1:9/1", traces_sample_rate=1.0,
                    transport=Discard, default_integrations=False)
    return SentryAsgiMiddleware(make_app())


def __getattr__(name: str) -> Any:
    """`otel` and `sentry`, made on first use (uvicorn imports them by name)."""
    makers = {"otel": _otel, "sentry": _sentry}
    if name not in makers:
        raise AttributeError(name)
    app = makers[name]()
    globals()[name] = app
    return app
