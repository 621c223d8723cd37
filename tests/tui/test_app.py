"""Every key and view of the dashboard, through Pilot, against real captures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.command import CommandPalette
from textual.widgets import Input, TabbedContent

from inspector.events.model import encode_record
from inspector.events.ring import RingBuffer
from inspector.flows.fold import fold_events
from inspector.io.capture_file import read_capture
from inspector.tap.feeds import LocalFeed
from tests.tui.conftest import SIZE, screen_text, settle, shop_app, until
from tui.app import InspectorApp
from tui.screens import HelpScreen, SaveScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.flow_detail import FlowDetail
from tui.widgets.lines_view import LinesView


async def typed(pilot: Any, field: Input, text: str) -> None:
    """Type `text` into `field`: all but the last key set at once (each key press costs a
    pilot idle wait), the last one pressed for real."""
    await pilot.pause()                  # focus first: focusing selects the whole value
    field.value = text[:-1]
    field.cursor_position = len(field.value)
    await pilot.press(text[-1])
    assert field.value == text


def paths(app: InspectorApp) -> list[str]:
    store = app.model.store
    return [store.row(i).path for i in range(len(store))]


def selected_path(app: InspectorApp) -> str | None:
    flow = app.rows.selected
    return None if flow is None else flow.path


def detail_lines(app: InspectorApp, tab: str) -> list[str]:
    view = app.query_one(f"#{tab}-lines", LinesView)
    lines = view._lines
    styler = view._styler
    return [line.plain if hasattr(line, "plain") else styler(line).plain  # type: ignore[union-attr]
            for line in (lines[i] for i in range(len(lines)))]


# -- opening a capture ------------------------------------------------------------------


async def test_open_a_recorded_capture(recorded: Path) -> None:
    app = shop_app(recorded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert paths(app) == [f.path for f in fold_events(read_capture(recorded).events)
                              if f.type != "lifespan"]
        assert app.model.loaded
        # A file opens at its first flow (follow is for live feeds), overview shown.
        assert selected_path(app) == "/hello" and not app.table.follow
        text = screen_text(app)
        assert "14 flows" in text and "FOLLOW" not in text and "loaded" in text
        assert "/raw/endless" in text and "Status      200 OK" in text
        assert "errors 1" in text


async def test_j_k_g_and_G_move_and_moving_up_stops_following() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.table
        assert not table.follow and table.cursor == 0
        await pilot.press("G")
        assert table.follow and table.cursor == 13
        await pilot.press("k", "k")
        assert table.cursor == 11 and not table.follow
        assert selected_path(app) == "/ws"
        assert "FOLLOW" not in screen_text(app)
        await pilot.press("j")
        assert table.cursor == 12
        await pilot.press("g")
        assert table.cursor == 0 and selected_path(app) == "/hello"
        await pilot.press("down", "down", "up")
        assert table.cursor == 1
        await pilot.press("G")
        assert table.cursor == 13 and table.follow
        await pilot.press("f")
        assert not table.follow
        await pilot.press("f")
        assert table.follow


# -- live ------------------------------------------------------------------------------


class Traffic:
    """Appends whole or half flows to a ring, as the middleware would."""

    def __init__(self) -> None:
        self.ring = RingBuffer()
        self.t = 0.0

    def request(self, conn: int, path: str, *, status: int | None = 200,
                finish: bool = True) -> None:
        self.t += 0.01
        add = self.ring.append
        add(encode_record(conn, "scope", self.t, {"type": "http", "method": "GET",
                                                  "path": path, "headers": []}))
        add(encode_record(conn, "receive", self.t + 0.001,
                          {"type": "http.request", "body": b"", "more_body": False}))
        if status is not None:
            add(encode_record(conn, "send", self.t + 0.002,
                              {"type": "http.response.start", "status": status,
                               "headers": [(b"content-type", b"text/plain")]}))
        if finish:
            self.finish(conn)

    def finish(self, conn: int, body: bytes = b"ok") -> None:
        self.t += 0.005
        self.ring.append(encode_record(conn, "send", self.t, {
            "type": "http.response.body", "body": body, "more_body": False}))
        self.ring.append(encode_record(conn, "exit", self.t, None))


def live_app(traffic: Traffic, **options: Any) -> InspectorApp:
    options.setdefault("clock", "relative")
    return InspectorApp(LocalFeed(traffic.ring, 1_700_000_000.0, interval=0.01), **options)


async def test_rows_arriving_never_move_the_selection() -> None:
    traffic = Traffic()
    for conn in range(1, 61):
        traffic.request(conn, f"/r{conn}")
    app = live_app(traffic)
    async with app.run_test(size=SIZE) as pilot:
        table = app.table
        await until(pilot, lambda: app.model.store.total == 60)
        await pilot.pause(0.15)
        assert selected_path(app) == "/r60"
        await pilot.press("pageup")               # the user moves up: follow stops
        selected, row_on_screen = app.rows.selected, table.cursor - table.first_visible
        for conn in range(61, 91):
            traffic.request(conn, f"/r{conn}")
        await until(pilot, lambda: app.model.store.total == 90)
        await pilot.pause(0.15)
        assert app.rows.selected is selected
        assert table.cursor - table.first_visible == row_on_screen
        # In a view sorted largest status first, rows arrive above the selection: the
        # list scrolls with them, so the selected row stays where the user sees it.
        app.set_sort(app.model.store.sort.__class__("status", True))
        await pilot.pause()
        await pilot.press("j", "j")
        selected, row_on_screen = app.rows.selected, table.cursor - table.first_visible
        top = table.first_visible
        for conn in range(91, 96):
            traffic.request(conn, f"/e{conn}", status=503)
        await until(pilot, lambda: app.model.store.total == 95)
        await pilot.pause(0.15)
        assert app.rows.selected is selected
        assert table.cursor - table.first_visible == row_on_screen
        assert table.first_visible == top + 5
        # f: back to the newest.
        await pilot.press("f")
        assert selected_path(app) == "/e95"


async def test_in_flight_rows_and_detail_update_live() -> None:
    traffic = Traffic()
    traffic.request(1, "/slow", status=None, finish=False)
    app = live_app(traffic)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.store.total == 1)
        await pilot.pause(0.15)
        line = next(row for row in screen_text(app).split("\n") if "/slow" in row)
        assert "…" in line                         # no status, no duration yet
        assert "still open" in screen_text(app)
        traffic.ring.append(encode_record(1, "send", 0.5, {
            "type": "http.response.start", "status": 201, "headers": []}))
        traffic.finish(1)
        await until(pilot, lambda: app.model.store.flows[0].state == "complete")
        await pilot.pause(0.15)
        line = next(row for row in screen_text(app).split("\n") if "/slow" in row)
        assert " 201 " in line and "…" not in line
        assert "201 Created" in screen_text(app)


async def test_pause_holds_updates_and_resume_applies_them() -> None:
    traffic = Traffic()
    traffic.request(1, "/before")
    app = live_app(traffic)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.store.total == 1)
        await pilot.press("p")
        assert app.paused
        traffic.request(2, "/during")
        await pilot.pause(0.3)
        assert app.model.store.total == 1
        assert "PAUSED" in screen_text(app)
        await pilot.press("p")
        await until(pilot, lambda: app.model.store.total == 2)
        await pilot.pause(0.15)
        assert "PAUSED" not in screen_text(app) and "/during" in screen_text(app)


async def test_clear_forgets_finished_flows_and_keeps_open_ones() -> None:
    traffic = Traffic()
    traffic.request(1, "/done")
    traffic.request(2, "/open", finish=False)
    app = live_app(traffic)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.store.total == 2)
        await pilot.press("c")
        assert paths(app) == ["/open"]
        traffic.finish(2)
        traffic.request(3, "/after")
        await until(pilot, lambda: app.model.store.total == 2)
        assert paths(app) == ["/open", "/after"]
        assert app.model.store.flows[0].state == "complete"


async def test_messages_append_live_to_an_open_websocket() -> None:
    traffic = Traffic()
    add = traffic.ring.append
    add(encode_record(1, "scope", 0.0, {"type": "websocket", "path": "/chat", "headers": []}))
    add(encode_record(1, "receive", 0.001, {"type": "websocket.connect"}))
    add(encode_record(1, "send", 0.002, {"type": "websocket.accept"}))
    add(encode_record(1, "receive", 0.003, {"type": "websocket.receive", "text": "one"}))
    app = live_app(traffic)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.store.total == 1)
        await pilot.press("5")
        await pilot.pause(0.15)
        assert any("one" in line for line in detail_lines(app, "messages"))
        add(encode_record(1, "send", 0.004, {"type": "websocket.send", "text": "two"}))
        await until(pilot, lambda: len(app.model.store.flows[0].messages) == 2)
        await pilot.pause(0.15)
        lines = detail_lines(app, "messages")
        assert len(lines) == 2 and "← out" in lines[1] and "two" in lines[1]
        assert "two" in screen_text(app)


# -- filter -------------------------------------------------------------------------------


async def test_filter_bar_applies_points_at_errors_and_remembers() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.query_one(FilterBar)
        await pilot.press("slash")
        assert bar.has_class("open") and isinstance(app.focused, Input)
        await pilot.press(*"status:5xx", "enter")
        assert paths(app) == ["/boom"]
        assert not bar.has_class("open")
        assert "1/14 flows" in screen_text(app) and "filter: status:5xx" in screen_text(app)
        # A syntax error: shown with a caret under its column, nothing applied.
        await pilot.press("slash")
        await typed(pilot, bar.input, "status:>=4x0")
        text = screen_text(app)
        assert "column 8" in text
        error_lines = text.split("\n")
        caret = next(i for i, line in enumerate(error_lines) if line.strip() == "^")
        assert error_lines[caret].index("^") == error_lines[caret - 1].index(">=4x0")
        await pilot.press("enter")
        assert bar.has_class("open") and paths(app) == ["/boom"]
        # History: up brings back the last applied filter.
        await typed(pilot, bar.input, "type:ws")
        await pilot.press("enter")
        assert paths(app) == ["/ws", "/ws-hostile"]
        await pilot.press("slash", "up")
        assert bar.input.value == "type:ws"
        await pilot.press("up")
        assert bar.input.value == "status:5xx"
        await pilot.press("down", "down")
        assert bar.input.value == ""
        await pilot.press("enter")
        assert len(paths(app)) == 14
        await pilot.press("slash", "escape")
        assert not bar.has_class("open") and app.focused is app.table


# -- detail ------------------------------------------------------------------------------


async def select(pilot: Any, app: InspectorApp, path: str) -> None:
    row = paths(app).index(path)
    app.table.move_to(row)
    await pilot.pause()


async def test_enter_and_tab_focus_the_detail_escape_comes_back() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        assert app.focused is not None and app.focused.id == "overview-lines"
        await pilot.press("escape")
        assert app.focused is app.table
        await pilot.press("3", "tab")
        assert app.focused is not None and app.focused.id == "response-lines"
        await pilot.press("escape")
        assert app.focused is app.table


async def test_detail_tabs_show_each_part_of_a_flow() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.query_one("#detail-tabs", TabbedContent)
        await select(pilot, app, "/api/items")
        await pilot.press("3")
        assert tabs.active == "response"
        lines = detail_lines(app, "response")
        assert "x-request-id" in lines[0] + lines[1] + lines[2]
        assert any(line.startswith("JSON, 89B") for line in lines)
        assert '      "name": "mug",' in lines

        await select(pilot, app, "/login")
        await pilot.press("2")
        lines = detail_lines(app, "request")
        assert any(line.startswith("form, 24B") for line in lines)
        assert "user     = ada" in lines and "password = s3cret" in lines

        await select(pilot, app, "/blob")
        await pilot.press("3")
        lines = detail_lines(app, "response")
        assert any(line.startswith("00000000  00 01 02") for line in lines)

        await select(pilot, app, "/logo.png")
        assert "image/png image, 75B, 2×3 pixels" in detail_lines(app, "response")

        await select(pilot, app, "/slow")
        await pilot.press("4")
        lines = detail_lines(app, "events")
        bodies = [line for line in lines if "http.response.body" in line]
        assert len(bodies) == 5 and sum("more_body" in line for line in bodies) == 4
        assert "scope" in lines[0] and "exit" in lines[-1]

        await select(pilot, app, "/boom")
        await pilot.press("1")
        lines = detail_lines(app, "overview")
        assert any("RuntimeError: kaboom" in line for line in lines)
        assert any("Traceback" in line for line in lines)
        assert any(line.startswith("Status      500") for line in lines)

        await select(pilot, app, "/raw/endless")
        assert any("client disconnected" in line for line in detail_lines(app, "overview"))


async def test_messages_tab_lists_and_searches() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "/ws")
        await pilot.press("5")
        lines = detail_lines(app, "messages")
        assert len(lines) == 6 and "→ in" in lines[0] and "hello" in lines[0]
        search = app.query_one("#messages-search", Input)
        search.focus()
        await typed(pilot, search, "world")
        assert [line.split()[-1] for line in detail_lines(app, "messages")] == [
            "world", "echo:world"]
        await select(pilot, app, "/events")
        lines = detail_lines(app, "messages")
        assert len(lines) == 0                      # the search still says "world"
        app.query_one("#messages-search", Input).value = ""
        await pilot.pause()
        lines = detail_lines(app, "messages")
        assert len(lines) == 3 and all("event" in line for line in lines)
        await select(pilot, app, "/hello")
        assert "no messages" in detail_lines(app, "messages")[0]


# -- sorting and the timeline ------------------------------------------------------------


async def test_sort_keys_and_header_clicks() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o")
        assert app.model.store.sort.column == "time"
        for _ in range(4):
            await pilot.press("o")
        assert app.model.store.sort.column == "duration" and app.model.store.sort.reverse
        durations = [app.model.store.row(i).duration for i in range(len(app.model.store))]
        assert durations == sorted(durations, reverse=True)
        assert "Durati ▼" in screen_text(app)
        await pilot.press("O")
        assert not app.model.store.sort.reverse
        # Click the Status title: sorted by status, largest first; again: smallest first.
        title = screen_text(app).split("\n")[2]
        x = title.index("Status")
        await pilot.click(app.table, offset=(x, 0))
        assert app.model.store.sort.column == "status" and app.model.store.sort.reverse
        await pilot.click(app.table, offset=(x, 0))
        assert not app.model.store.sort.reverse


async def test_timeline_zoom_pan_fit_and_back() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, app, "/slow")
        await pilot.press("t")
        timeline = app.timeline
        assert timeline.display and not app.table.display and app.focused is timeline
        assert selected_path(app) == "/slow"
        span = timeline.span
        assert "┆" in screen_text(app) and "━" in screen_text(app)   # axis, WS bars
        await pilot.press("plus")
        assert timeline.span == span / 2 and not timeline.auto
        await pilot.press("minus", "minus")
        assert timeline.span == span * 2
        start = timeline.start
        await pilot.press("l")
        assert timeline.start == start + timeline.span / 4
        await pilot.press("h", "h")
        assert timeline.start == start - timeline.span / 4
        await pilot.press("0")
        assert timeline.auto and timeline.span == span
        await pilot.press("j")
        assert selected_path(app) == "/events"
        await pilot.press("t")
        assert app.table.display and selected_path(app) == "/events"


# -- save, help, palette, quit -------------------------------------------------------------


async def test_save_writes_what_the_dashboard_holds(tmp_path: Path) -> None:
    (tmp_path / "capture-1.jsonl").write_text("taken")
    app = shop_app(save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        assert isinstance(app.screen, SaveScreen)
        field = app.screen.query_one(Input)
        assert field.value == str(tmp_path / "capture-2.jsonl")
        await pilot.press("enter")
        await until(pilot, lambda: app.last_save is not None)
    saved = read_capture(tmp_path / "capture-2.jsonl")
    original = read_capture(Path(__file__).parent / "data" / "shop.jsonl")
    assert [(e.seq, e.conn, e.kind, e.message) for e in saved.events] == \
        [(e.seq, e.conn, e.kind, e.message) for e in original.events]
    assert saved.header["started"] == original.header["started"]
    assert saved.header["name"] == "shop"


async def test_save_can_be_cancelled(tmp_path: Path) -> None:
    app = shop_app(save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s", "escape")
        assert not isinstance(app.screen, SaveScreen)
    assert list(tmp_path.iterdir()) == []


async def test_help_screen_opens_and_closes() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "pause live updates" in screen_text(app)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_offers_the_dashboard_commands() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Filter flows", "Toggle follow", "Save capture", "Sort by duration"} <= set(titles)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await typed(pilot, app.screen.query_one(Input), "sort by ttfb")
        await until(pilot, lambda: "Sort by ttfb" in screen_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: app.model.store.sort.column == "ttfb")


async def test_q_quits() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        started = time.perf_counter()
        await pilot.press("q")
        await pilot.pause()
        assert app._exit
    assert time.perf_counter() - started < 2


async def test_keys_are_shown_in_the_footer() -> None:
    app = shop_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        footer = screen_text(app).split("\n")[-1]
        for key, label in [("⏎", "Detail"), ("/", "Filter"), ("f", "Follow"), ("p", "Pause"), ("c", "Clear"),
                           ("s", "Save"), ("?", "Help"), ("q", "Quit")]:
            assert f"{key} {label}" in footer
        assert "palette" in footer
        assert isinstance(app.query_one(FlowDetail), FlowDetail)


async def test_an_80_column_terminal_gives_the_path_room_and_no_stray_footer_cell() -> None:
    app = shop_app(clock="wall")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_text(app).splitlines()
        titles = next(line for line in lines if " Path " in line)
        # The finding marker (one cell) stays at 80 columns.
        assert titles.split() == ["!", "Time", "Kind", "Method", "Path", "Status",
                                  "Duration", "TTFB"]
        assert titles.index("Status") - titles.index("Path") >= 28
        row = next(line for line in lines if "/api/items?page=2" in line)
        clock = row[2:].split()[0]
        assert clock.count(":") == 2 and "." not in clock   # HH:MM:SS
        # The palette key covers the last cell: no letter of a key scrolled under it.
        assert lines[-1].endswith("^p palette"), lines[-1]
        await pilot.resize_terminal(140, 24)
        await pilot.pause()
        titles = next(line for line in screen_text(app).splitlines() if " Path " in line)
        assert titles.split()[-3:] == ["TTFB", "Req", "Resp"]
