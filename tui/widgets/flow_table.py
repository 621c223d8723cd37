"""The flow list: one row per HTTP exchange or WebSocket session, coloured by outcome.

Cells are plain strings made safe by `tui.columns` and put into `Segment`s directly: no
markup is ever parsed from captured text. Styles come from component classes, so the
stylesheet (app.tcss) decides the colours.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from textual.message import Message
from textual.strip import Strip

from inspector.findings.rules import SEVERITIES
from inspector.flows.model import Flow
from tui.columns import CELLS, ROW_CLASSES, Clock, Column, columns, fit, row_class
from tui.flow_store import ARRIVAL, FlowStore
from tui.stats import worst_finding
from tui.widgets.flow_rows import FlowRows, cells_strip


def _cell(text: str, width: int, align: str) -> str:
    n = cell_len(text)
    if n > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    return " " * (width - n) + text if align == "right" else text + " " * (width - n)


class FlowTable(FlowRows):
    """The list of flows (see FlowRows for cursor and follow)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "flow-table--header",
        "flow-table--sorted",
        "flow-table--cursor",
        "flow-table--cursor-blurred",
        *(f"flow-table--{name}" for name in ROW_CLASSES),
        *(f"flow-table--finding-{severity}" for severity in SEVERITIES),
    }

    class SortRequested(Message):
        """The user clicked a column title."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, store: FlowStore, clock: Clock, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(store, id=id, classes=classes)
        self._clock = clock
        self._with_source = False
        self._layout: list[tuple[Column, int]] = []
        self._layout_width = -1

    def configure(self, *, clock: Clock | None = None, with_source: bool | None = None) -> None:
        """Change the time column's clock or show the source column."""
        if clock is not None and clock != self._clock:
            self._clock = clock
            self._layout_width = -1
        if with_source is not None and with_source != self._with_source:
            self._with_source = with_source
            self._layout_width = -1
        self.refresh()

    @property
    def layout_columns(self) -> list[tuple[Column, int]]:
        width = self.scrollable_content_region.width
        if width != self._layout_width:
            self._layout = fit(columns(self._clock, self._with_source), width)
            self._layout_width = width
        return self._layout

    def header_clicked(self, x: int) -> None:
        at = 0
        for column, width in self.layout_columns:
            if at <= x < at + width + 1:
                self.post_message(self.SortRequested(column.key))
                return
            at += width + 1

    def render_header(self, width: int) -> Strip:
        header = self.style("flow-table--header")
        sorted_style = header + self.style("flow-table--sorted")
        sort = self.store.sort
        cells = []
        for column, w in self.layout_columns:
            title = column.title
            style = header
            if sort.column == column.key and sort.column != ARRIVAL:
                # The marker always shows; a long title gives way to it.
                title = title[:max(1, w - 2)] + (" ▼" if sort.reverse else " ▲")
                style = sorted_style
            cells.append((_cell(title, w, column.align), style))
            cells.append((" ", header))
        return cells_strip(cells, width, header)

    def render_row(self, flow: Flow, width: int, cursor: bool) -> Strip:
        base = self.rich_style
        style = base + self.style(f"flow-table--{row_class(flow)}")
        if cursor:
            style += self.style("flow-table--cursor" if self.has_focus
                                else "flow-table--cursor-blurred")
        clock = self._clock
        cells: list[tuple[str, Style]] = []
        for column, w in self.layout_columns:
            cell_style = style
            if column.key == "time":
                text = clock.show(self.store.abs_start(flow), w)
            elif column.key == "finding":
                severity = worst_finding(flow)
                text = CELLS["finding"](flow)
                if severity is not None:
                    cell_style = style + self.style(f"flow-table--finding-{severity}")
            else:
                text = CELLS[column.key](flow)
            cells.append((_cell(text, w, column.align), cell_style))
            cells.append((" ", style))
        return cells_strip(cells, width, style)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
