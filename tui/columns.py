"""The flow list's columns: titles, widths, and each cell's text. No Textual.

Every cell that comes from a capture goes through `visible()`; cells are plain strings that
the list widget puts into `Segment`s, so no markup is ever parsed from them.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass

from inspector.flow_model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    INCOMPLETE,
    OPEN,
    REFUSED,
    Flow,
)
from inspector.headless import human_duration, human_size
from inspector.safe_text import visible
from tui.flow_store import kind_of


@dataclass(frozen=True, slots=True)
class Clock:
    """How the time column shows an instant of the shared axis.

    "relative": seconds since the first source started (deterministic: for tests and for
    comparing captures). "wall": local wall-clock time, from `base_wall`.
    """

    mode: str = "wall"
    base_wall: float = 0.0

    def show(self, t: float) -> str:
        if self.mode == "relative":
            return f"{t:10.3f}"
        wall = self.base_wall + t
        return _time.strftime("%H:%M:%S", _time.localtime(wall)) + \
            f".{int(wall % 1 * 1000):03d}"

    @property
    def width(self) -> int:
        return 10 if self.mode == "relative" else 12


@dataclass(frozen=True, slots=True)
class Column:
    """One column: key (also its sort key), title, width (0: takes what is left), align."""

    key: str
    title: str
    width: int
    align: str = "left"          # "left" or "right"
    drop: int = 0                # dropped first on narrow screens: higher drops sooner


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
    """The list's columns, left to right."""
    cols = [
        Column("time", "Time", clock.width, "right"),
        Column("kind", "Kind", 4, drop=3),
        Column("method", "Method", 7),
        Column("path", "Path", 0),
        Column("status", "Status", 6, "right"),
        Column("duration", "Duration", 8, "right"),
        Column("ttfb", "TTFB", 8, "right", drop=2),
        Column("request", "Req", 7, "right", drop=1),
        Column("response", "Resp", 7, "right", drop=1),
    ]
    if with_source:
        cols.append(Column("source", "Source", 12, drop=4))
    return cols


MIN_PATH = 12


def fit(cols: list[Column], width: int) -> list[tuple[Column, int]]:
    """Columns that fit in `width` cells (one space between), with their widths.

    Columns with the highest `drop` go first; the path column takes what is left.
    """
    chosen = list(cols)
    while True:
        fixed = sum(c.width for c in chosen if c.width) + len(chosen) - 1
        if width - fixed >= MIN_PATH or not any(c.drop for c in chosen):
            break
        worst = max(chosen, key=lambda c: c.drop)
        chosen.remove(worst)
    rest = max(MIN_PATH, width - fixed)
    return [(c, c.width or rest) for c in chosen]


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
