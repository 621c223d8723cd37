"""The dashboard's actions that are not layout: keys and commands, and saving a capture.

`AppActions` is the base class of `tui.app.InspectorApp`: it declares, typed, the state
and views the app sets up (model, desk, the list, the detail pane...) and acts on them, so
the app module keeps layout, ingest and redraws. No import of the app itself: the
dependency runs one way.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App

from tui.event_log import Snapshot, save_steps
from tui.flow_store import ARRIVAL, Sort
from tui.screens import HelpScreen, SaveScreen, default_capture_path
from tui.widgets.filter_bar import FilterBar

if TYPE_CHECKING:
    from inspector.tap.feeds import Feed
    from tui.model import Changes, Model
    from tui.replay_actions import ReplayDesk
    from tui.widgets.flow_detail import FlowDetail
    from tui.widgets.flow_rows import FlowRows
    from tui.widgets.flow_table import FlowTable
    from tui.widgets.timeline import Timeline

SORT_CYCLE = [ARRIVAL, "time", "method", "path", "status", "duration", "ttfb", "request",
              "response", "kind", "source", "finding"]
LARGEST_FIRST = {"status", "duration", "ttfb", "request", "response", "finding"}


class AppActions(App[None]):
    """Key and command actions, over the state `InspectorApp` sets up."""

    feed: Feed
    model: Model
    desk: ReplayDesk
    save_dir: Path
    last_save: Path | None
    paused: bool
    filter_text: str
    gc_freeze: bool
    waiting_for_process: bool

    if TYPE_CHECKING:      # the app's views and redraws, which it defines
        @property
        def rows(self) -> FlowRows: ...
        @property
        def table(self) -> FlowTable: ...
        @property
        def timeline(self) -> Timeline: ...
        @property
        def detail(self) -> FlowDetail: ...
        def set_sort(self, sort: Sort) -> None: ...
        def _refresh_header(self) -> None: ...
        def _show_changes(self, changes: Changes) -> None: ...

    # -- actions ----------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one(FilterBar).open(self.filter_text)

    def action_toggle_follow(self) -> None:
        rows = self.rows
        rows.follow = not rows.follow

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._refresh_header()

    def action_clear(self) -> None:
        changes = self.model.clear()
        if self.gc_freeze:
            gc.unfreeze()       # what was cleared, and any cycles frozen with it, can go
            gc.collect()
            self._frozen_at = 0
        self.table.reset()
        self.timeline.reset()
        self.detail.show_flow(self.rows.selected)
        self._show_changes(changes)

    def action_toggle_timeline(self) -> None:
        if self.waiting_for_process:
            return                     # nothing to draw yet; the panel keeps the space
        table, timeline = self.table, self.timeline
        shown, hidden = (timeline, table) if timeline.display else (table, timeline)
        hidden.follow = shown.follow
        shown.display = False
        hidden.display = True
        hidden.reset()
        hidden.select_flow(shown.selected)
        if hidden is timeline:
            timeline.set_extent(self.model.stats.earliest or 0.0, self.model.stats.latest)
        hidden.focus()

    def action_sort_next(self) -> None:
        sort = self.model.store.sort
        column = SORT_CYCLE[(SORT_CYCLE.index(sort.column) + 1) % len(SORT_CYCLE)] \
            if sort.column in SORT_CYCLE else ARRIVAL
        self.set_sort(Sort(column, column in LARGEST_FIRST))

    def action_sort_reverse(self) -> None:
        sort = self.model.store.sort
        self.set_sort(Sort(sort.column, not sort.reverse))

    def action_tab(self, tab: str) -> None:
        self.detail.show_tab(tab)

    def action_focus_list(self) -> None:
        self.rows.focus()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen())

    def action_replay(self) -> None:
        self.desk.replay_selected(self.rows.selected)

    def action_replay_filtered(self) -> None:
        self.desk.replay_filtered(self.filter_text)

    def action_edit(self) -> None:
        self.desk.edit_selected(self.rows.selected)

    def action_diff(self) -> None:
        self.desk.show_diff(self.rows.selected)

    def action_export(self) -> None:
        self.desk.export(self.rows.selected, self.filter_text)

    def action_save(self) -> None:
        default = default_capture_path(self.save_dir)
        self.push_screen(SaveScreen(str(default), self.model.log.events), self._save_to)

    def _save_to(self, path: str | None) -> None:
        if not path:
            return
        model = self.model
        target = Path(path).expanduser()
        if not target.is_absolute():
            target = self.save_dir / target
        header: dict[str, Any] = {"started": model.base_wall or 0.0,
                                  "saved_from": self.feed.description,
                                  "sources": [name for name in model.sources]}
        if len(model.sources) == 1:
            info = next(iter(model.sources.values())).info
            header.update({k: v for k, v in info.items()
                           if k not in ("format", "version", "started", "path")
                           and isinstance(v, (str, int, float, list))})
        missed = model.buffer().missed
        self._save(model.log.snapshot(model.offsets), target, header, missed)

    @work(group="save", exit_on_error=False)
    async def _save(self, snapshot: Snapshot, target: Path, header: dict[str, Any],
                    missed: int) -> None:
        # In slices on this loop, not in a thread: encoding holds the GIL either way, and
        # slices let key presses through between them.
        n = 0
        try:
            for n in save_steps(snapshot, str(target), header, missed):
                await asyncio.sleep(0)
        except (OSError, ValueError) as exc:
            self.notify(f"Could not save {target}: {exc}", severity="error", timeout=6)
            return
        self.last_save = target
        self.notify(f"Saved {n:,} events to {target}", timeout=4)

