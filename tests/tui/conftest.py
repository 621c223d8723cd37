"""Dashboard test helpers: real captures, a settled app, the screen as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import textual.constants
from textual.pilot import Pilot
from textual.widgets import Input

from inspector.tap.feeds import FileFeed
from tui.app import InspectorApp

DATA = Path(__file__).parent / "data"
SHOP = DATA / "shop.jsonl"     # a real capture of tests/tui/shop.py, committed (snapshots)
SIZE = (120, 36)


@pytest.fixture(autouse=True)
def steady_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would make snapshots depend on when they are taken; animations
    (the tab underline) make every Pilot key press wait for them."""
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture recorded now, by the middleware, from real traffic (tests/tui/shop.py)."""
    from tests.tui.shop import record

    path = tmp_path_factory.mktemp("recorded") / "shop.jsonl"
    record(path)
    return path


def shop_app(path: Path = SHOP, **options: Any) -> InspectorApp:
    """The dashboard over a capture file, with the relative clock (no wall time shown)."""
    options.setdefault("clock", "relative")
    return InspectorApp(FileFeed(path), **options)


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait until the feed has ended and everything it sent is on screen."""
    app = pilot.app
    assert isinstance(app, InspectorApp)
    waited = 0.0
    while not app.idle or app._unshown:
        await pilot.pause(0.02)
        waited += 0.02
        assert waited < timeout, "the dashboard did not settle"
    await pilot.pause()


async def until(pilot: Pilot[Any], predicate: Any, timeout: float = 10.0) -> Any:
    """Poll `predicate()` between app steps until truthy (returned) or fail."""
    waited = 0.0
    while True:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.02)
        waited += 0.02
        assert waited < timeout, f"condition not met within {timeout}s: {predicate}"


def screen_text(app: InspectorApp) -> str:
    """What the terminal would show, as text (styles dropped)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def screen_strips(app: InspectorApp) -> Iterator[str]:
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            yield segment.text
