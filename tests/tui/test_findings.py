"""Findings in the dashboard: attached as flows end, shown as a marker, an Overview
section that jumps to the event, the header's error count, background work, the filters.

The flows come from a real app under uvicorn (tests/tui/findings_app.py): a capture it
writes now, and one test that watches the same app live through its middleware's ring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Input

from inspector import InspectorMiddleware
from inspector.events.model import Event
from inspector.tap.feeds import Batch, FileFeed, LocalFeed
from tests.tui.conftest import screen_text, settle, until
from tests.tui.findings_app import findings_app, record, serve
from tui.app import InspectorApp
from tui.model import Inbox, Model, step
from tui.overview_text import overview
from tui.widgets.findings_list import FindingsList
from tui.widgets.lines_view import LinesView


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("findings") / "findings.jsonl"
    record(path)
    return path


def app_over(path: Path) -> InspectorApp:
    return InspectorApp(FileFeed(path), clock="relative")


def row_line(app: InspectorApp, path: str) -> str:
    return next(line for line in screen_text(app).splitlines() if f" {path} " in line)


async def select(pilot: Any, path: str) -> None:
    app = pilot.app
    store = app.model.store
    app.table.move_to(next(i for i in range(len(store)) if store.row(i).path == path))
    await pilot.pause()


async def apply_filter(pilot: Any, text: str) -> list[str]:
    app = pilot.app
    await pilot.press("slash")
    field = app.query_one("#filter-input", Input)
    await pilot.pause()
    field.value = text
    await pilot.press("enter")
    await pilot.pause()
    store = app.model.store
    return sorted(store.row(i).path for i in range(len(store)))


async def test_marker_overview_jump_and_header_count(capture: Path) -> None:
    app = app_over(capture)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        # The marker column: the worst finding of each flow, at the row's left edge.
        assert row_line(app, "/len").lstrip("▏ ").startswith("!")
        assert row_line(app, "/early").lstrip().startswith("!")
        assert row_line(app, "/dup").lstrip().startswith("?")
        assert row_line(app, "/orders").lstrip().startswith("·")
        assert row_line(app, "/ok").lstrip()[0] not in "!?·"
        # The header counts /len (a 200 with an error finding) with /early (incomplete).
        assert app.model.stats.errors == 2
        assert "errors 2" in screen_text(app)

        await select(pilot, "/len")
        findings = app.query_one(FindingsList)
        assert findings.display and [f.rule for f in findings.findings] == ["SEM001"]
        text = screen_text(app)
        assert "Findings (1)" in text
        assert "! error   SEM001" in text
        assert "Content-Length" in text                          # the message
        assert "https://www.rfc-editor.org/rfc/rfc9110" in text   # the spec link, as text
        # Enter on the list focuses the findings; enter on a finding shows its event.
        await pilot.press("enter")
        assert app.focused is findings
        await pilot.press("enter")
        await pilot.pause()
        flow = app.detail.flow
        assert app.detail.active_tab == "events"
        events = app.query_one("#events-lines", LinesView)
        seq = findings.findings[0].seq
        assert events.highlighted == flow.event_seqs.index(seq)
        assert app.focused is events
        highlighted_line = events._lines[events.highlighted].plain
        assert "http.response.body" in highlighted_line
        assert highlighted_line.strip()[:12] in screen_text(app)

        # A clean flow: no section.
        await pilot.press("escape")
        await select(pilot, "/ok")
        await pilot.press("1")
        await pilot.pause()
        assert not findings.display


async def test_background_work_in_overview_and_timeline(capture: Path) -> None:
    app = app_over(capture)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot)
        await select(pilot, "/orders")
        text = screen_text(app)
        assert "TL001" in text and "background work" in text
        background = app.detail.flow.analysis.metrics.background
        assert background >= 0.29
        assert f"{background * 1000:.3f}ms" in text
        await select(pilot, "/leave")
        assert "after client left" in screen_text(app)
        # The timeline draws the background phase after the last byte.
        await select(pilot, "/orders")
        await pilot.press("t")
        await pilot.pause()
        assert "░" in row_line(app, "/orders")
        assert "╌" in row_line(app, "/leave")


async def test_finding_filters(capture: Path) -> None:
    app = app_over(capture)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert await apply_filter(pilot, "finding:error") == ["/early", "/len"]
        assert await apply_filter(pilot, "rule:SEM005") == ["/dup"]
        assert await apply_filter(pilot, "background:>100ms") == ["/orders"]
        assert await apply_filter(pilot, "wasted:>1s") == ["/leave"]
        assert await apply_filter(pilot, "finding:warning") == ["/dup", "/early", "/len"]
        assert "filter: finding:warning" in screen_text(app)


async def test_live_flow_gets_findings_when_the_app_returns(serve_findings: Any) -> None:
    """The /orders response ends 300 ms before the app returns: the flow is analysed when
    it ends and again when the exit arrives, which is when background work shows."""
    mw, url = serve_findings
    app = InspectorApp(LocalFeed(mw, interval=0.01), clock="relative")
    async with app.run_test(size=(120, 36)) as pilot:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.post("/orders")).json() == {"status": "queued"}
        flow = await until(pilot, lambda: next(
            (f for f in app.model.store.flows if f.path == "/orders" and f.analysis is not None
             and f.analysis.findings), None))
        assert [f.rule for f in flow.analysis.findings] == ["TL001"]
        await until(pilot, lambda: "·" in row_line(app, "/orders"))
        assert await apply_filter(pilot, "background:>100ms") == ["/orders"]


@pytest.fixture
def serve_findings() -> Any:
    mw = InspectorMiddleware(findings_app(), tap=False)
    server = serve(mw)
    try:
        yield mw, server.url
    finally:
        server.stop()
        mw.close()


# -- the model, without a terminal ---------------------------------------------------------

def _events(conn: int, t: float, *, exit_after: float) -> list[tuple[str, float, Any]]:
    return [("scope", t, {"type": "http", "asgi": {"version": "3.0"}, "method": "GET",
                          "path": "/x", "query_string": b"", "headers": [],
                          "http_version": "1.1", "scheme": "http"}),
            ("receive", t, {"type": "http.request", "body": b"", "more_body": False}),
            ("send", t, {"type": "http.response.start", "status": 200, "headers": []}),
            ("send", t, {"type": "http.response.body", "body": b"", "more_body": False}),
            ("exit", t + exit_after, {"type": "inspector.exit", "exception": None})]


def _batch(rows: list[tuple[int, int, str, float, Any]]) -> Batch:
    return Batch("", [Event(seq, conn, t, kind, msg) for seq, conn, kind, t, msg in rows])


def test_model_analyses_ended_flows_and_again_when_events_arrive() -> None:
    model = Model()
    rows = _events(1, 1.0, exit_after=0.5)
    numbered = [(i, 1, kind, t, msg) for i, (kind, t, msg) in enumerate(rows)]
    model.ingest([_batch(numbered[:2])])
    (flow,) = model.store.flows
    assert flow.analysis is None                  # still open: not analysed
    inbox = Inbox()
    inbox.put(_batch(numbered[2:4]))
    step(model, inbox, budget=1.0)
    assert flow.analysis is None                  # complete: waits a step for the return
    step(model, inbox, budget=1.0)
    assert flow.analysis is not None and flow.analysis.events == 4
    assert flow.analysis.metrics.background is None
    changes = model.ingest([_batch(numbered[4:])])
    assert flow.analysis.events == 5 and id(flow) in changes.touched
    assert [f.rule for f in flow.analysis.findings] == ["TL001"]
    runs = model.analysed
    model.ingest([])                              # nothing new: nothing analysed again
    assert model.analysed == runs


def test_a_spent_budget_still_analyses_a_few_flows_per_step() -> None:
    model = Model()
    inbox = Inbox()
    rows = []
    for conn in range(100):
        for kind, t, msg in _events(conn, float(conn), exit_after=0.0):
            rows.append((len(rows), conn, kind, t, msg))
    inbox.put(_batch(rows))
    step(model, inbox, budget=0.0)                # the deadline is already past
    analysed = sum(f.analysis is not None for f in model.store.flows)
    assert 32 <= analysed < 100
    while model.analysis_pending:
        step(model, inbox, budget=0.0)
    assert all(f.analysis is not None for f in model.store.flows)


def test_overview_text_shows_background_phase(capture: Path) -> None:
    from inspector.findings import analyse_events
    from inspector.io.capture_file import read_capture

    events = read_capture(capture).events
    flow = next(f for f, _ in analyse_events(events) if f.path == "/orders")
    plain = overview(flow).plain
    assert "background work" in plain and "response streaming" in plain


def test_a_finding_message_is_shown_not_interpreted() -> None:
    from inspector.findings import Finding
    from tui.overview_text import finding_text

    hostile = Finding("G002", "error", "unknown type '[bold red]x[/] \x1b]2;pwned\x07'", 7,
                      "hint [link=https://evil.example]here[/link]", "https://x.example",
                      "general")
    text = finding_text(hostile)
    assert "[bold red]x[/]" in text.plain and "\\e]2;pwned\\x07" in text.plain
    assert "\x1b" not in text.plain and "\x07" not in text.plain
    assert "[link=https://evil.example]here[/link]" in text.plain
    assert not any("link" in str(span.style) for span in text.spans)
