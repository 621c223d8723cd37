"""Snapshots of the main screens: fixed size, relative clock, a committed real capture.

Nothing on screen depends on when the test runs: times are capture-relative, the header's
numbers come from the capture, the cursor does not blink (conftest). Update after reading
the diff: `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from inspector.tap.feeds import TapFeed
from tests.tui.conftest import SIZE, settle, shop_app
from tests.tui.test_hostile import hostile_app
from tui.app import InspectorApp


def goto(path: str, *keys: str) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app = pilot.app
        store = app.model.store  # type: ignore[attr-defined]
        row = next(i for i in range(len(store)) if store.row(i).path == path)
        app.table.move_to(row)  # type: ignore[attr-defined]
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
    return run_before


def test_list_and_overview(snap_compare: Any) -> None:
    """The newest flow (a client that left an endless stream) selected, following."""
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=settle)


def test_exception_overview(snap_compare: Any) -> None:
    """A 500 whose handler raised: the exception and traceback in the Overview."""
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=goto("/boom"))


def test_response_json(snap_compare: Any) -> None:
    """Response headers, then the JSON body pretty-printed and highlighted."""
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=goto("/api/items", "3"))


def test_request_form(snap_compare: Any) -> None:
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=goto("/login", "2"))


def test_event_lane(snap_compare: Any) -> None:
    """Every ASGI message of a streamed response, with offsets and gaps."""
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=goto("/slow", "4"))


def test_websocket_messages(snap_compare: Any) -> None:
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=goto("/ws", "5"))


def test_timeline(snap_compare: Any) -> None:
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=goto("/slow", "t"))


def test_filter_error(snap_compare: Any) -> None:
    """A filter with a syntax error: the caret under the column, nothing applied."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("slash", *"status:>=4x0")
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
    assert snap_compare(shop_app(), terminal_size=SIZE, run_before=run_before)


def test_hostile_response_on_a_narrow_terminal(snap_compare: Any) -> None:
    """Escape sequences shown as \\e..., markup as typed, invalid UTF-8 as \\xNN."""
    assert snap_compare(hostile_app(), terminal_size=(80, 24),
                        run_before=goto("/\x1b]2;pwned\x07[bold red]x[/]", "3"))


# -- an 80x24 terminal -------------------------------------------------------------------

def test_list_and_overview_at_80x24(snap_compare: Any) -> None:
    """The path keeps 33 cells: the time drops its milliseconds, Resp and Req give way;
    the footer's last cell is the palette key's, not a stray letter."""
    assert snap_compare(shop_app(), terminal_size=(80, 24), run_before=settle)


def test_nothing_running_at_80x24(snap_compare: Any) -> None:
    """`asgi-inspector tui` with no capturing process: what to start, where it looks."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.3)
    # A directory that does not exist: nothing is found, and its name is the same each run.
    feed = TapFeed(directory=Path("/nonexistent/asgi-inspector-snapshot"), rediscover=0.2)
    app = InspectorApp(feed, title="attached to live taps", clock="relative")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_overview_with_findings(snap_compare: Any) -> None:
    """A flow with three findings (warnings and an info), worst first, at 100x30."""
    from inspector.tap.feeds import FileFeed
    from tests.tui.conftest import DATA

    app = InspectorApp(FileFeed(DATA / "findings.jsonl"), clock="relative")
    assert snap_compare(app, terminal_size=(100, 30), run_before=goto("/dup"))
