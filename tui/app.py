"""The dashboard app: layout, keys, and the ingest loop. Look in app.tcss, logic in tui/*,
the actions behind the keys in tui/app_actions.py.

Ingest: an async worker iterates the feed (each batch is a few milliseconds of decoding)
and puts items in the `Inbox`; a timer applies them (`tui.model.step`) for at most
`budget` seconds at a time, every `interval` seconds (sooner while a backlog waits), then
redraws what changed. So under load the screen updates about ten times a second, a key
press waits at most about one budget, and the feed is pushed back (the worker waits) when
the UI cannot keep up or is paused. Not a thread: decoding holds the GIL, and a feed in a
thread worker stalls the UI loop, which queues for the GIL at every await, for up to a
second between two steps.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Literal

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from inspector.filters.compile import Filter
from inspector.tap.feeds import Feed, SourceStatus
from tui.app_actions import LARGEST_FIRST, AppActions
from tui.columns import Clock
from tui.flow_store import ARRIVAL, SORT_KEYS, Sort
from tui.messages import FeedItems, Notice, OpenScreen
from tui.model import Changes, Inbox, Model, step
from tui.replay_actions import ReplayDesk
from tui.widgets.empty_state import EmptyState
from tui.widgets.filter_bar import FilterBar
from tui.widgets.flow_detail import TABS, FlowDetail
from tui.widgets.flow_rows import FlowRows
from tui.widgets.flow_table import FlowTable
from tui.widgets.header_bar import HeaderBar
from tui.widgets.timeline import Timeline

ClockMode = Literal["wall", "relative"]

FREEZE_EVERY = 2000      # flows ingested between two gc.freeze() calls


class InspectorApp(AppActions):
    """The asgi-inspector dashboard over one feed (this process, taps, or a file)."""

    CSS_PATH = "app.tcss"
    TITLE = "asgi-inspector"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("c", "clear", "Clear"),
        Binding("t", "toggle_timeline", "Timeline"),
        Binding("o", "sort_next", "Sort", show=False),   # footer room for r e d x; in help
        Binding("O", "sort_reverse", "Reverse", show=False),
        Binding("s", "save", "Save"),
        Binding("r", "replay", "Replay"),
        Binding("R", "replay_filtered", "Replay all", show=False),
        Binding("e", "edit", "Edit"),
        Binding("d", "diff", "Diff"),
        Binding("x", "export", "Export"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "focus_list", "List", show=False),
        *(Binding(str(n), f"tab('{tab}')", tab.title(), show=False)
          for n, tab in enumerate(TABS, 1)),
    ]

    def __init__(self, feed: Feed, *, title: str | None = None, clock: ClockMode = "wall",
                 interval: float = 0.1, budget: float = 0.008,
                 save_dir: str | os.PathLike[str] | None = None,
                 max_pending_events: int = 200_000, gc_freeze: bool = True,
                 follow: bool | None = None, replay_to: str | None = None,
                 replay_captured: bool = False) -> None:
        super().__init__()
        self.feed = feed
        self.title = title or f"asgi-inspector: {feed.description}"
        self.clock_mode: ClockMode = clock
        self.interval = interval
        self.budget = budget
        self.save_dir = Path(save_dir) if save_dir is not None else Path.cwd()
        self.model = Model()
        self.inbox = Inbox(max_pending_events)
        self.paused = False
        self.filter_text = ""
        self.last_save: Path | None = None
        self._feed_done = False
        self._unshown = Changes()
        self._shown_at = 0.0
        # Live feeds follow the newest flow; a file opens at its first flow and stays there.
        self.follow_at_start = getattr(feed, "live", True) if follow is None else follow
        self.gc_freeze = gc_freeze
        self._frozen_at = 0
        # A feed that discovers processes may start with none: say so until one appears.
        self.waiting_for_process = bool(getattr(feed, "discovers", False))
        self.desk = ReplayDesk(self, self.model, replay_to, replay_captured,  # r R e d x
                               save_dir=self.save_dir, feed_description=feed.description)

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(self.title, id="header")
        with Vertical(id="main"):
            if self.waiting_for_process:
                yield EmptyState(getattr(self.feed, "watched_dir", lambda: None)(), id="empty")
            yield FlowTable(self.model.store, Clock(self.clock_mode), id="flows")
            yield Timeline(self.model.store, id="timeline")
            yield FlowDetail(self.model, id="detail")
        yield FilterBar(id="filter-bar")
        yield Footer(compact=True)

    @property
    def table(self) -> FlowTable:
        return self.query_one("#flows", FlowTable)

    @property
    def timeline(self) -> Timeline:
        return self.query_one("#timeline", Timeline)

    @property
    def detail(self) -> FlowDetail:
        return self.query_one("#detail", FlowDetail)

    @property
    def rows(self) -> FlowRows:
        """The row view on screen: the list or the timeline."""
        timeline = self.timeline
        return timeline if timeline.display else self.table

    def on_mount(self) -> None:
        self.query_one("#main").set_class(self.waiting_for_process, "waiting")
        self.table.follow = self.timeline.follow = self.follow_at_start
        self.timeline.display = False
        self.table.focus()
        self._ingest()
        self.set_timer(self.interval, self._tick)
        self._refresh_header()

    # -- ingest -----------------------------------------------------------------------------

    @work(exclusive=True, group="feed", exit_on_error=False)
    async def _ingest(self) -> None:
        inbox = self.inbox
        try:
            async for item in self.feed.stream():
                while inbox.full:
                    await asyncio.sleep(0.02)
                inbox.put(item)
        except Exception as exc:  # noqa: BLE001 - a broken feed is shown, not a crash
            inbox.put(SourceStatus("", error=f"feed failed: {type(exc).__name__}: {exc}"))
        finally:
            self._feed_done = True

    @property
    def idle(self) -> bool:
        """The feed has ended, everything it sent is applied and every flow that ended is
        analysed (for tests and tools)."""
        return self._feed_done and len(self.inbox) == 0 and not self.model.analysis_pending

    def _tick(self) -> None:
        # Small slices of ingest (`budget`), redraws at most every `interval`: a key press
        # queues behind one slice, not behind a whole redraw's worth of work.
        if not self.is_running:
            return
        now = time.perf_counter()
        if not self.paused:
            changes = step(self.model, self.inbox, self.budget)
            if changes:
                self._unshown.merge(changes)
                self._freeze_heap()
        # Flows waiting for their findings are a backlog too (a big file just opened).
        backlog = bool(len(self.inbox) or self.model.analysis_pending) and not self.paused
        if self._unshown and (not backlog or now - self._shown_at >= self.interval):
            unshown, self._unshown = self._unshown, Changes()
            self._shown_at = now
            self._show_changes(unshown)
        elif self.paused and now - self._shown_at >= self.interval:
            self._shown_at = now
            self._refresh_header()
        self.set_timer(0.002 if backlog else self.interval, self._tick)

    def _freeze_heap(self) -> None:
        """Keep the collector off the flows held (FACTS.md: full passes over a big heap
        took hundreds of milliseconds, a frozen dashboard). Flows form no reference cycles,
        so frozen ones are still freed by reference counting when dropped."""
        if not self.gc_freeze:
            return
        total = self.model.store.total
        if total - self._frozen_at >= FREEZE_EVERY:
            self._frozen_at = total
            gc.freeze()

    def _show_changes(self, changes: Changes) -> None:
        model = self.model
        if changes.sources_changed and self.waiting_for_process and model.sources:
            self.waiting_for_process = False
            self.query_one("#main").remove_class("waiting")
            self.rows.focus()
        if changes.sources_changed:
            # A Source column only tells sources apart: with one, it is the same each row.
            self.table.configure(clock=Clock(self.clock_mode, model.base_wall or 0.0),
                                 with_source=len(model.sources) > 1)
        rows = self.rows
        rows.data_changed(changes.touched, changes.rows_changed)
        if rows is self.timeline:
            self.timeline.set_extent(model.stats.earliest or 0.0, model.stats.latest)
            self.timeline.refresh()
        detail = self.detail
        if detail.flow is not None and id(detail.flow) in changes.touched:
            detail.flow_updated()
        self._refresh_header()

    def _refresh_header(self) -> None:
        self.query_one(HeaderBar).show(
            self.model, shown=len(self.model.store), follow=self.rows.follow,
            paused=self.paused, waiting=self.inbox.pending_events,
            filter_text=self.filter_text)

    # -- rows and detail ----------------------------------------------------------------------

    @on(FlowRows.Highlighted)
    def _highlighted(self, event: FlowRows.Highlighted) -> None:
        if event.rows is self.rows:
            self.detail.show_flow(event.flow)

    @on(FlowRows.Selected)
    def _selected(self, event: FlowRows.Selected) -> None:
        self.detail.focus_content()

    @on(FlowRows.FollowChanged)
    def _follow_changed(self, event: FlowRows.FollowChanged) -> None:
        if event.rows is self.rows:
            self._refresh_header()

    @on(FlowTable.SortRequested)
    def _sort_requested(self, event: FlowTable.SortRequested) -> None:
        sort = self.model.store.sort
        if sort.column == event.column:
            self.set_sort(Sort(event.column, not sort.reverse))
        else:
            self.set_sort(Sort(event.column, event.column in LARGEST_FIRST))

    def set_sort(self, sort: Sort) -> None:
        """Order the rows by `sort` (keeps the selected flow selected)."""
        self.model.store.set_sort(sort)
        self.rows.reset()

    def apply_filter(self, text: str, predicate: Filter | None) -> None:
        """Show only the flows `predicate` accepts (None or a blank filter: all)."""
        self.filter_text = text
        matches_all = predicate is None or predicate.matches_all
        self.model.store.set_filter(None if matches_all else predicate)
        self.rows.reset()
        self._refresh_header()

    # -- filter bar ------------------------------------------------------------------------

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self.apply_filter(event.text, event.predicate)
        self.rows.focus()

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        self.rows.focus()

    # -- messages from the replay desk (tui.messages) ---------------------------------------

    @on(Notice)
    def _notice(self, message: Notice) -> None:
        self.notify(message.text, severity=message.severity, timeout=message.timeout,
                    markup=False)

    @on(OpenScreen)
    def _open_screen(self, message: OpenScreen) -> None:
        self.push_screen(message.screen, message.callback)

    @on(FeedItems)
    def _feed_items(self, message: FeedItems) -> None:
        for item in message.items:
            self.inbox.put(item)

    # -- command palette -----------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Filter flows", "Open the filter bar (/)", self.action_filter)
        yield SystemCommand("Toggle follow", "Keep the newest flow in view (f)",
                            self.action_toggle_follow)
        yield SystemCommand("Pause / resume live updates", "(p)", self.action_toggle_pause)
        yield SystemCommand("Clear finished flows", "(c)", self.action_clear)
        yield SystemCommand("Save capture", "Write the events held to a file (s)",
                            self.action_save)
        yield SystemCommand("Timeline / list", "Switch the top view (t)",
                            self.action_toggle_timeline)
        for column in SORT_KEYS:
            name = "arrival order" if column == ARRIVAL else column
            yield SystemCommand(f"Sort by {name}", "Order the flow list",
                                lambda c=column: self.set_sort(Sort(c, c in LARGEST_FIRST)),
                                discover=False)


def run_dashboard(feed: Feed, *, title: str | None = None, clock: ClockMode = "wall",
                  replay_to: str | None = None, replay_captured: bool = False) -> None:
    """Run the dashboard over `feed` in this (main) thread until the user quits; `r`
    replays to `replay_to` (a base URL such as http://127.0.0.1:8000); `replay_captured`
    when the feed captures that server itself."""
    InspectorApp(feed, title=title, clock=clock, replay_to=replay_to,
                 replay_captured=replay_captured).run()
