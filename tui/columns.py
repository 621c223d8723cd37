"""The flow list's columns: titles, widths, priorities, and each cell's text. No Textual.

How the list gives way on a narrow screen is data: each column has a preferred width, a
narrowest width (a shorter format: the time without milliseconds) and a priority, and
`fit` picks the columns for a width. The path is what a user reads first, so it is the
last to give way.

Every cell that comes from a capture goes through `visible()`; cells are plain strings that
the list widget puts into `Segment`s, so no markup is ever parsed from them.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass

from inspector.flows.model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    INCOMPLETE,
    OPEN,
    REFUSED,
    Flow,
)
from inspector.text import human_duration, human_size, visible
from tui.flow_store import kind_of
from tui.stats import worst_finding

MARKERS = {"error": "!", "warning": "?", "info": "·"}
"""The finding column's cell: the most severe finding of the flow."""


def marker_text(flow: Flow) -> str:
    """`!`, `?` or `·` for a flow's worst finding; blank without findings."""
    return MARKERS.get(worst_finding(flow) or "", "")


@dataclass(frozen=True, slots=True)
class Clock:
    """How the time column shows an instant of the shared axis.

    "relative": seconds since the first source started (deterministic: for tests and for
    comparing captures). "wall": local wall-clock time, from `base_wall`.
    """

    mode: str = "wall"
    base_wall: float = 0.0

    def show(self, t: float, width: int | None = None) -> str:
        """`t` in `width` cells: the full format, or the short one when narrower."""
        short = width is not None and width < self.width
        if self.mode == "relative":
            return f"{t:8.1f}" if short else f"{t:10.3f}"
        wall = self.base_wall + t
        text = _time.strftime("%H:%M:%S", _time.localtime(wall))
        return text if short else text + f".{int(wall % 1 * 1000):03d}"

    @property
    def width(self) -> int:
        """Cells of the full format (10.000 s, 12:34:56.789)."""
        return 10 if self.mode == "relative" else 12

    @property
    def short_width(self) -> int:
        """Cells of the short format (10.0 s, 12:34:56)."""
        return 8


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the list.

    `key` is also its sort key. `width` is the cells it wants; 0 marks the column that
    takes what is left (the path). `min_width` is the narrowest it may become: for a
    fixed column a shorter format (equal to `width`: it never narrows), for the path the
    room it is given before other columns give way. `priority` is its rank when the
    screen is narrow: 1 is kept longest; the highest number is dropped first.
    """

    key: str
    title: str
    width: int
    align: str = "left"          # "left" or "right"
    priority: int = 1
    min_width: int = 0

    @property
    def narrowest(self) -> int:
        return self.min_width or self.width


CellFn = Callable[[Flow, float], str]


def status_text(flow: Flow) -> str:
    """A status code; for a WebSocket, "open" or its close code."""
    if flow.type == "websocket":
        if flow.state == REFUSED:
            return str(flow.status or 403)
        if flow.state == OPEN:
            return "open" if flow.accepted else "…"
        if flow.close_code is not None:
            return str(flow.close_code)
        return "ERR" if flow.exception is not None else "-"
    if flow.status is not None:
        return str(flow.status)
    if flow.state == OPEN:
        return "…"
    return "ERR" if flow.state in (APP_EXCEPTION, INCOMPLETE) else "-"


def _duration(value: float | None, flow: Flow) -> str:
    if value is None:
        return "…" if flow.state == OPEN else "-"
    return human_duration(value)


def target_text(flow: Flow) -> str:
    """The path and query, safe to show."""
    text = flow.full_path
    if flow.query:
        text += "?" + flow.query.decode("latin-1")
    return visible(text)


CELLS: dict[str, Callable[[Flow], str]] = {
    "finding": marker_text,
    "kind": kind_of,
    "method": lambda f: visible(f.method) if f.method else "",
    "path": target_text,
    "status": status_text,
    "duration": lambda f: _duration(f.duration, f),
    "ttfb": lambda f: _duration(f.ttfb, f) if f.type != "websocket" or f.accepted else "-",
    "request": lambda f: human_size(f.request_size),
    "response": lambda f: human_size(f.response_size),
    "source": lambda f: visible(f.source),
}


def columns(clock: Clock, with_source: bool) -> list[Column]:
    """The list's columns, left to right. Priorities, kept longest first: path, finding
    marker, status, method, duration, time, source, kind, TTFB, request size, response
    size. The marker is one cell, so it costs a narrow screen little and stays."""
    cols = [
        Column("finding", "!", 1, priority=2),
        Column("time", "Time", clock.width, "right", priority=6, min_width=clock.short_width),
        Column("kind", "Kind", 4, priority=8),
        Column("method", "Method", 7, priority=4),
        Column("path", "Path", 0, priority=1, min_width=PATH_ROOM),
        Column("status", "Status", 6, "right", priority=3),
        Column("duration", "Duration", 8, "right", priority=5),
        Column("ttfb", "TTFB", 8, "right", priority=9),
        Column("request", "Req", 7, "right", priority=10),
        Column("response", "Resp", 7, "right", priority=11),
    ]
    if with_source:
        cols.append(Column("source", "Source", 12, priority=7))
    return cols


PATH_ROOM = 28
"""Cells the path gets before any column gives way: most paths fit in it."""


def fit(cols: list[Column], width: int) -> list[tuple[Column, int]]:
    """The columns to show in `width` cells (one space between two), with their widths.

    While the flexible column (width 0, the path) has less than its `min_width`, the
    others give way in two passes, lowest priority first: each narrows to its
    `min_width` (a shorter format), then whole columns drop out. The flexible column
    never drops; it takes what is left, at least one cell. Pure: the flow list calls it
    on every resize, tests call it with any width.
    """
    flexible = next((c for c in cols if c.width == 0), None)
    want = flexible.min_width if flexible is not None else 0
    widths = {c.key: c.width for c in cols if c is not flexible}
    shown = list(cols)

    def rest() -> int:
        return width - sum(widths[c.key] for c in shown if c is not flexible) - \
            (len(shown) - 1)

    giving_way = sorted((c for c in cols if c is not flexible), key=lambda c: -c.priority)
    for column in giving_way:
        if rest() >= want:
            break
        widths[column.key] = column.narrowest
    for column in giving_way:
        if rest() >= want or flexible is None:
            break
        shown.remove(column)
    return [(c, max(1, rest()) if c is flexible else widths[c.key]) for c in shown]


def row_class(flow: Flow) -> str:
    """The style class of a row: by status class, errors first."""
    if flow.exception is not None or flow.state in (APP_EXCEPTION, INCOMPLETE):
        return "error"
    status = flow.status
    if flow.type == "websocket":
        if flow.state == REFUSED:
            return "client-error"
        if flow.state == OPEN:
            return "open"
        return "ws"
    if status is None:
        return "open" if flow.state == OPEN else "error"
    if status >= 500:
        return "error"
    if flow.state == CLIENT_DISCONNECTED:
        return "disconnected"
    if status >= 400:
        return "client-error"
    if status >= 300:
        return "redirect"
    if flow.state == OPEN:
        return "open"
    return "ok"


ROW_CLASSES = ("ok", "redirect", "client-error", "error", "open", "ws", "disconnected")
