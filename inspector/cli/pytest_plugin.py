"""The pytest plugin: capture the ASGI traffic of a test run, and show it when a test fails.

Registered through the `pytest11` entry point and idle unless asked:

    pytest --asgi-capture     apps driven through Starlette's (or FastAPI's) TestClient or
                              httpx.ASGITransport are wrapped in InspectorMiddleware
                              (tap=False) for the session, at the transport, with no code
                              change; a failing test shows its flows, one headless line
                              each with its findings, and its capture is saved under
                              .asgi-inspector/<test id>.jsonl (`asgi-inspector open` it)
    pytest --asgi-strict      also: a test whose traffic has error findings fails, with
                              them listed (implies --asgi-capture)

The `asgi_capture` fixture gives a test its own flows, events and findings to assert on
(and turns capture on for that test's clients even without the option).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

_KEY = pytest.StashKey[dict]()   # per test: {id(middleware): first seq of the test}


class Session:
    """The middlewares of the session, one per app seen, and the patches that make them."""

    def __init__(self) -> None:
        self.middlewares: dict[int, Any] = {}    # id(app) -> InspectorMiddleware
        self.undo: list[tuple[Any, str, Any]] = []

    def wrap(self, app: Any) -> Any:
        from inspector.capture.middleware import InspectorMiddleware

        if isinstance(app, InspectorMiddleware):
            self.middlewares.setdefault(id(app.given_app), app)
            return app
        mw = self.middlewares.get(id(app))
        if mw is None or mw.given_app is not app:
            mw = self.middlewares[id(app)] = InspectorMiddleware(app, tap=False)
        return mw

    def install(self) -> None:
        if self.undo:
            return
        targets: list[type] = []
        try:
            import httpx
            targets.append(httpx.ASGITransport)
        except ImportError:
            pass
        try:
            from starlette import testclient
            targets.append(testclient._TestClientTransport)
        except ImportError:
            pass
        for cls in targets:
            original = getattr(cls, "__init__")

            def patched(self_: Any, app: Any, *args: Any, __original: Any = original,
                        **kwargs: Any) -> None:
                __original(self_, self.wrap(app), *args, **kwargs)
            setattr(cls, "__init__", patched)
            self.undo.append((cls, "__init__", original))

    def uninstall(self) -> None:
        for cls, name, original in reversed(self.undo):
            setattr(cls, name, original)
        self.undo.clear()
        for mw in self.middlewares.values():
            mw.close()

    def marks(self) -> dict[int, int]:
        return {id(mw): mw.ring.next_seq for mw in self.middlewares.values()}

    def since(self, marks: dict[int, int]) -> list[tuple[Any, list[Any]]]:
        """(middleware, its events since `marks`) for every middleware with any."""
        out = []
        for mw in list(self.middlewares.values()):
            events = mw.events(marks.get(id(mw), 0))
            if events:
                out.append((mw, events))
        return out


class Traffic:
    """One test's traffic: what the `asgi_capture` fixture gives."""

    def __init__(self, session: Session, marks: dict[int, int]) -> None:
        self._session = session
        self._marks = marks

    def events(self) -> list[Any]:
        """Every event captured during this test (several apps: one after the other)."""
        return [e for _, events in self._session.since(self._marks) for e in events]

    def analysed(self) -> list[tuple[Any, Any]]:
        from inspector.findings import analyse_events

        out = []
        for _, events in self._session.since(self._marks):
            out.extend(analyse_events(events))
        return out

    def flows(self) -> list[Any]:
        return [flow for flow, _ in self.analysed()]

    def findings(self, min_severity: str = "info") -> list[Any]:
        from inspector.findings import RANK

        return [f for _, a in self.analysed() for f in a.findings
                if RANK[f.severity] >= RANK[min_severity]]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asgi-inspector")
    group.addoption("--asgi-capture", action="store_true",
                    help="Capture ASGI traffic of TestClient/httpx.ASGITransport apps; show "
                         "it for failing tests and save it under --asgi-capture-dir.")
    group.addoption("--asgi-strict", action="store_true",
                    help="Fail tests whose ASGI traffic has error findings "
                         "(implies --asgi-capture).")
    group.addoption("--asgi-capture-dir", default=".asgi-inspector",
                    help="Where failing tests' captures go (default: .asgi-inspector).")


_SESSION: list[Session] = []


def _session(config: pytest.Config) -> Session:
    if not _SESSION:
        _SESSION.append(Session())
        config.add_cleanup(_cleanup)
    return _SESSION[0]


def _cleanup() -> None:
    if _SESSION:
        _SESSION.pop().uninstall()


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("asgi_capture", False) or
                config.getoption("asgi_strict", False))


def pytest_configure(config: pytest.Config) -> None:
    if _active(config):
        _session(config).install()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _SESSION:
        item.stash[_KEY] = _SESSION[0].marks()


@pytest.fixture
def asgi_capture(request: pytest.FixtureRequest) -> Iterator[Traffic]:
    """This test's ASGI traffic: `.flows()`, `.events()`, `.findings(min_severity)`."""
    session = _session(request.config)
    session.install()
    marks = request.node.stash.get(_KEY, None)
    if marks is None:
        marks = request.node.stash[_KEY] = session.marks()
    yield Traffic(session, marks)


def safe_name(nodeid: str) -> str:
    """A test id as a file name: path separators and odd characters become '_'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("._")
    return (name or "test")[:150]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]
                               ) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not _SESSION or not _active(item.config):
        return
    marks = item.stash.get(_KEY, None)
    if marks is None:
        return
    captured = _SESSION[0].since(marks)
    if not captured:
        return
    from inspector.cli.headless import http_line, ws_close_line
    from inspector.findings import analyse_events
    from inspector.text import visible

    lines: list[str] = []
    errors: list[str] = []
    for mw, events in captured:
        for flow, analysis in analyse_events(events):
            if flow.type == "lifespan":
                continue
            started = mw.recorder.started_wall
            lines.append(ws_close_line(flow, started) if flow.type == "websocket"
                         else http_line(flow, started))
            for f in analysis.findings:
                lines.append(f"    {f.rule} {f.severity}: {visible(f.message)}")
                if f.severity == "error":
                    errors.append(f"{f.rule} {visible(f.message)} (flow #{flow.conn} "
                                  f"{visible(flow.method or 'WS')} {visible(flow.path)})")
    if item.config.getoption("asgi_strict") and errors and report.passed:
        report.outcome = "failed"
        report.longrepr = "asgi-inspector --asgi-strict: error findings in this test's " \
                          "traffic:\n" + "\n".join("  " + e for e in errors)
    if report.failed:
        path = _save(item, captured)
        report.sections.append(("asgi-inspector flows",
                                "\n".join(lines) + f"\ncapture saved: {path}"))


def _save(item: pytest.Item, captured: list[tuple[Any, list[Any]]]) -> Path:
    from inspector.io.capture_file import CaptureWriter

    folder = Path(item.config.rootpath) / item.config.getoption("asgi_capture_dir")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe_name(item.nodeid)}.jsonl"
    first = captured[0][0]
    with CaptureWriter(path, {"started": first.recorder.started_wall,
                              "test": item.nodeid}) as writer:
        for k, (mw, events) in enumerate(captured):
            # Each app numbers its connections from 1: keep them apart in one file.
            writer.write(events if k == 0 else
                         [e._replace(conn=e.conn + 1_000_000 * k) for e in events])
    return path
