"""Rows of the flow store with a cursor: what the flow list and the timeline share.

A Line-API `ScrollView`: screen line 0 is a header, every other line is drawn by
`render_line` from the row the scroll position puts there, so 100,000 flows cost what the
visible forty cost. The cursor belongs to a *flow*, not a row number: when rows arrive
above it (a sorted view), the cursor and the scroll position move with it, so what is
under the user's eyes does not jump. Follow mode keeps the newest flow selected and in view;
moving up turns it off.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from inspector.flows.model import Flow
from tui.flow_store import ARRIVAL, FlowStore, Sort


class FlowRows(ScrollView, can_focus=True):
    """A header line, then one line per shown flow, with a cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("pagedown,ctrl+d", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter,tab", "select", "Detail"),
    ]

    follow: reactive[bool] = reactive(True)

    class Highlighted(Message):
        """The cursor is on another flow (None: the list is empty)."""

        def __init__(self, rows: FlowRows, flow: Flow | None) -> None:
            super().__init__()
            self.rows = rows
            self.flow = flow

        @property
        def control(self) -> FlowRows:
            return self.rows

    class Selected(Message):
        """Enter on a flow: the user wants its detail."""

        def __init__(self, rows: FlowRows, flow: Flow) -> None:
            super().__init__()
            self.rows = rows
            self.flow = flow

    class FollowChanged(Message):
        """Follow mode was turned on or off (by a key, or by moving up)."""

        def __init__(self, rows: FlowRows, follow: bool) -> None:
            super().__init__()
            self.rows = rows
            self.follow = follow

    def __init__(self, store: FlowStore, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.store = store
        self.cursor = 0
        self.selected: Flow | None = None
        self._shown: tuple[int, ...] = ()   # id() of the flows on screen at the last check
        self._styles: dict[str, Style] = {}

    # -- for subclasses ---------------------------------------------------------------------

    def render_header(self, width: int) -> Strip:
        raise NotImplementedError

    def render_row(self, flow: Flow, width: int, cursor: bool) -> Strip:
        raise NotImplementedError

    def style(self, name: str) -> Style:
        """A component class's Rich style, looked up once per paint."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    # -- geometry -----------------------------------------------------------------------------

    @property
    def page(self) -> int:
        """Rows visible under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    @property
    def first_visible(self) -> int:
        return round(self.scroll_y)

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.store) + 1)

    def on_resize(self, event: events.Resize) -> None:
        self._resize_virtual()
        self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        top = self.first_visible
        page = self.page
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + page:
            self.scroll_to(y=self.cursor - page + 1, animate=False)

    # -- cursor -------------------------------------------------------------------------------

    def _place(self, row: int) -> None:
        """Put the cursor on `row` (clamped) and select its flow."""
        n = len(self.store)
        if n == 0:
            self.cursor = 0
            if self.selected is not None:
                self.selected = None
                self.post_message(self.Highlighted(self, None))
            return
        row = max(0, min(n - 1, row))
        self.cursor = row
        flow = self.store.row(row)
        if flow is not self.selected:
            self.selected = flow
            self.post_message(self.Highlighted(self, flow))

    def move_to(self, row: int, *, user: bool = True) -> None:
        """Move the cursor to `row`; a user moving off the newest flow stops following."""
        self._place(row)
        if user and self.follow and self.selected is not self.store.newest():
            self.follow = False
        self.scroll_to_cursor()
        self.refresh()

    def select_flow(self, flow: Flow | None) -> None:
        """Put the cursor on `flow` if it is shown (used when the other view takes over)."""
        if flow is None:
            return
        row = self.store.index_of(flow)
        if row is not None:
            self.move_to(row, user=False)

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self._jump_to_newest()
        self.post_message(self.FollowChanged(self, follow))

    def _jump_to_newest(self) -> None:
        newest = self.store.newest()
        if newest is not None:
            row = self.store.index_of(newest)
            if row is not None:
                self._place(row)
                self.scroll_to_cursor()
                self.refresh()

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        self.move_to(self.cursor - self.page)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + self.page)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.store) - 1)
        if self.store.sort == Sort(ARRIVAL, False):
            self.follow = True

    def action_select(self) -> None:
        if self.selected is not None:
            self.post_message(self.Selected(self, self.selected))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.follow:
            self.follow = False

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            self.header_clicked(offset.x)
            return
        row = self.first_visible + offset.y - 1
        if row < len(self.store):
            self.move_to(row)
            if event.chain >= 2:
                self.action_select()

    def header_clicked(self, x: int) -> None:
        """A click on the header line at cell `x` (the list sorts by that column)."""

    # -- data ---------------------------------------------------------------------------------

    def data_changed(self, touched: set[int] | dict[int, Flow], rows_changed: bool) -> None:
        """The store changed: keep the cursor on its flow, redraw only if needed."""
        store = self.store
        self._resize_virtual()
        if self.follow:
            newest = store.newest()
            row = None if newest is None else store.index_of(newest)
            if row is not None:
                self._place(row)
                self.scroll_to_cursor()
        elif self.selected is not None:
            row = store.index_of(self.selected)
            if row is None:                    # filtered out: stay where we were
                self._place(self.cursor)
            elif row != self.cursor:
                delta = row - self.cursor
                self.cursor = row
                self.scroll_to(y=self.scroll_y + delta, animate=False)
        else:
            self._place(self.cursor)
        if len(store) == 0 and self.selected is not None:
            self._place(0)
        top = self.first_visible
        shown = tuple(id(f) for f in store.rows(top, top + self.page))
        if shown != self._shown or any(key in touched for key in shown):
            self._shown = shown
            self.refresh()

    def reset(self) -> None:
        """The store was rebuilt (filter, sort, clear): find the cursor's flow again."""
        self._shown = ()
        self._resize_virtual()
        if self.follow:
            self._jump_to_newest()
        else:
            row = None if self.selected is None else self.store.index_of(self.selected)
            self._place(self.cursor if row is None else row)
            self.scroll_to_cursor()
        self.refresh()

    # -- painting -----------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        self._styles = {}
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self.render_header(width)
        row = self.first_visible + y - 1
        if row >= len(self.store):
            return Strip.blank(width, self.rich_style)
        return self.render_row(self.store.row(row), width, row == self.cursor)


def cells_strip(cells: list[tuple[str, Style]], width: int, base: Style) -> Strip:
    """A line from (text, style) cells, cut or padded to `width`."""
    strip = Strip([Segment(text, style) for text, style in cells])
    return strip.crop_extend(0, width, base)
