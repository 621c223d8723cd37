"""The timeline: a waterfall of the shown flows on one time axis, with zoom and pan.

Each HTTP exchange is drawn in its phases (request body, waiting for the app, response
streaming, then, once findings are attached, the app's background work after the last
byte and its work after the client left); a WebSocket session is a long bar with a tick per message. Rows are the flow
list's rows in the same order, and the cursor is shared in spirit: switching views keeps
the selected flow.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.strip import Strip

from inspector.flows.model import OPEN, Flow
from inspector.text import visible
from tui.columns import row_class, target_text
from tui.flow_store import FlowStore
from tui.widgets.flow_rows import FlowRows, cells_strip

_STEPS = [m * 10.0 ** e for e in range(-6, 5) for m in (1, 2, 5)]


def tick_step(span: float, cells: int, every: int = 12) -> float:
    """A round step (1, 2 or 5 times a power of ten seconds) about `every` cells apart."""
    want = span / max(1, cells / every)
    for step in _STEPS:
        if step >= want:
            return step
    return _STEPS[-1]


def axis_label(t: float, step: float) -> str:
    """An axis label: ms or µs near the start, else seconds with the step's decimals."""
    if abs(t) < 1 and step < 0.1:
        return f"{t * 1000:g}ms" if step >= 1e-3 else f"{t * 1e6:g}µs"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{t:.{decimals}f}s"


class Timeline(FlowRows):
    """Flows as bars on a shared axis; `+`/`-` zoom, `h`/`l` (or arrows) pan, `0` fits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in"),
        Binding("minus", "zoom(2)", "Zoom out"),
        Binding("left,h", "pan(-0.25)", "Pan left", show=False),
        Binding("right,l", "pan(0.25)", "Pan right", show=False),
        Binding("0", "fit", "Fit", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--header",
        "timeline--label",
        "timeline--cursor",
        "timeline--request",
        "timeline--waiting",
        "timeline--response",
        "timeline--open",
        "timeline--background",
        "timeline--wasted",
        "timeline--ws",
        "timeline--tick-in",
        "timeline--tick-out",
        "timeline--error",
    }

    LABEL = 28

    def __init__(self, store: FlowStore, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(store, id=id, classes=classes)
        self.start = 0.0          # left edge, seconds on the shared axis
        self.span = 1.0           # seconds across the bar area
        self.auto = True          # fit to everything until the user zooms or pans
        self.latest = 1.0         # newest instant known (open bars are drawn up to it)
        self.earliest = 0.0

    # -- window -------------------------------------------------------------------------------

    def set_extent(self, earliest: float, latest: float) -> None:
        """What the data covers; in auto mode the window follows it."""
        self.earliest, self.latest = earliest, latest
        if self.auto:
            self._fit()

    def _fit(self) -> None:
        self.start = self.earliest
        self.span = max(1e-3, (self.latest - self.earliest) * 1.02)

    def action_fit(self) -> None:
        self.auto = True
        self._fit()
        self.refresh()

    def action_zoom(self, factor: float) -> None:
        self.auto = False
        center = self.start + self.span / 2
        if self.selected is not None:
            center = self.store.abs_start(self.selected)
        self.span = min(1e6, max(1e-5, self.span * factor))
        self.start = center - self.span / 2
        self.refresh()

    def action_pan(self, fraction: float) -> None:
        self.auto = False
        self.start += self.span * fraction
        self.refresh()

    # -- painting -----------------------------------------------------------------------------

    def _bar_area(self, width: int) -> tuple[int, int]:
        label = min(self.LABEL, max(8, width // 4))
        return label, max(1, width - label - 1)

    def _x(self, t: float, cells: int) -> float:
        return (t - self.start) / self.span * cells

    def render_header(self, width: int) -> Strip:
        style = self.style("timeline--header")
        label, cells = self._bar_area(width)
        step = tick_step(self.span, cells)
        line = [" "] * cells
        first = math.ceil(self.start / step)
        k = first
        while True:
            t = k * step
            x = int(self._x(t, cells))
            if x >= cells:
                break
            text = "┆" + axis_label(t, step)
            if 0 <= x and x + len(text) <= cells:
                line[x:x + len(text)] = list(text)
            k += 1
            if k - first > 1000:
                break
        title = set_cell_size(f" span {_span_text(self.span)}", label)
        return cells_strip([(title, style), (" ", style), ("".join(line), style)], width, style)

    def render_row(self, flow: Flow, width: int, cursor: bool) -> Strip:
        base = self.rich_style
        label_w, cells = self._bar_area(width)
        label_style = base + self.style("timeline--label")
        if row_class(flow) == "error":
            label_style += self.style("timeline--error")
        if cursor:
            label_style += self.style("timeline--cursor")
        text = f"{visible(flow.method) or 'WS'} {target_text(flow)}"
        if cell_len(text) > label_w:
            text = set_cell_size(text, label_w - 1) + "…"
        label = set_cell_size(text, label_w)
        bar = self._bar(flow, cells, base)
        return cells_strip([(label, label_style), (" ", base), *bar], width, base)

    def _bar(self, flow: Flow, cells: int, base: Style) -> list[tuple[str, Style]]:
        offset = self.store.offsets.get(flow.source, 0.0)
        latest = self.latest
        start = flow.start + offset
        end = (flow.end + offset) if flow.end is not None else latest
        chars = [" "] * cells
        styles = [base] * cells

        def paint(t0: float, t1: float, style: Style, char: str = "█",
                  after: bool = False) -> None:
            # `after`: a phase that follows a drawn one starts in the next cell, and is
            # not drawn at all unless it reaches past the cell it starts in.
            x0 = self._x(t0, cells)
            x1 = self._x(t1, cells)
            if after:
                if int(x1) <= int(x0):
                    return
                x0 = int(x0) + 1
            if x1 < 0 or x0 >= cells:
                return
            a = max(0, int(x0))
            b = min(cells, max(a + 1, math.ceil(x1)))
            for x in range(a, b):
                chars[x] = char
                styles[x] = base + style

        if flow.type == "websocket":
            paint(start, end, self.style("timeline--ws" if flow.state != OPEN
                                         else "timeline--open"), "━")
            for m in flow.messages:
                x = int(self._x(m.time + offset, cells))
                if 0 <= x < cells:
                    chars[x] = "┃"
                    styles[x] = base + self.style("timeline--tick-in" if m.direction == "in"
                                                  else "timeline--tick-out")
        else:
            request_done = flow.request_done + offset if flow.request_done is not None \
                else None
            response_start = flow.response_start + offset if flow.response_start is not None \
                else None
            first_end = request_done if request_done is not None else \
                (response_start if response_start is not None else end)
            paint(start, first_end, self.style("timeline--request"))
            if response_start is not None:
                paint(first_end, response_start, self.style("timeline--waiting"))
                paint(response_start, end, self.style("timeline--response")
                      if flow.state != OPEN else self.style("timeline--open"))
            else:
                paint(first_end, end, self.style("timeline--waiting")
                      if flow.state != OPEN else self.style("timeline--open"))
            metrics = after_response(flow)
            if metrics is not None:
                background, left, wasted = metrics
                if background and flow.end is not None:
                    paint(end, end + background, self.style("timeline--background"), "░",
                          after=True)
                if wasted and left is not None:
                    paint(left + offset, left + offset + wasted,
                          self.style("timeline--wasted"), "╌", after=True)
        # Runs of equal style become one segment each.
        out: list[tuple[str, Style]] = []
        run_start = 0
        for x in range(1, cells + 1):
            if x == cells or styles[x] != styles[run_start]:
                out.append(("".join(chars[run_start:x]), styles[run_start]))
                run_start = x
        return out


def after_response(flow: Flow) -> tuple[float | None, float | None, float | None] | None:
    """(background, client left at, wasted) from the attached analysis, or None."""
    analysis = flow.analysis
    if analysis is None:
        return None
    m = analysis.metrics
    return m.background, m.disconnect, m.wasted


def _span_text(span: float) -> str:
    if span >= 1:
        return f"{span:.3g}s"
    if span >= 1e-3:
        return f"{span * 1000:.3g}ms"
    return f"{span * 1e6:.3g}µs"
