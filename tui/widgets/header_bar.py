"""The header: what is being watched, and how it is going.

Requests per second as a sparkline, errors, p50/p95 duration, buffer use and events lost.
All numbers come from `tui.stats` on capture time, so nothing here reads a clock.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from inspector.text import human_duration, human_size, visible
from tui.model import Model


def status_text(model: Model, *, shown: int, follow: bool, paused: bool, waiting: int,
                filter_text: str) -> Text:
    """The right part of the first line: counts and modes."""
    text = Text()
    total = model.store.total
    text.append(f"{shown:,}" if shown == total else f"{shown:,}/{total:,}", style="bold")
    text.append(" flows")
    if filter_text:
        text.append("  filter: ", style="dim")
        text.append(visible(filter_text), style="italic")
    if paused:
        text.append("  PAUSED", style="bold reverse yellow")
        if waiting:
            text.append(f" {waiting:,} events waiting", style="yellow")
    elif follow:
        text.append("  FOLLOW", style="bold green")
    if model.sources and model.loaded and len(model.sources) == 1 and \
            next(iter(model.sources.values())).status is not None and \
            next(iter(model.sources.values())).status.loaded:  # type: ignore[union-attr]
        text.append("  loaded", style="dim")
    return text


def stats_text(model: Model) -> Text:
    """The second line: rate, errors, percentiles, sources, buffer, losses (most useful
    first: a narrow terminal cuts the end)."""
    stats = model.stats
    text = Text()
    text.append(f"{stats.rate():.0f}/s", style="bold")
    text.append("  errors ")
    text.append(str(stats.errors), style="bold red" if stats.errors else "bold")
    text.append("  p50 ")
    text.append(human_duration(stats.p(0.5)), style="bold")
    text.append(" p95 ")
    text.append(human_duration(stats.p(0.95)), style="bold")
    live = [s for s in model.sources.values() if s.name and not s.gone]
    gone = [s for s in model.sources.values() if s.name and s.gone]
    if live or gone:
        text.append(f"  sources {len(live)}")
        if gone:
            text.append(f" ({len(gone)} gone)", style="yellow")
    buffer = model.buffer()
    if buffer.known:
        used = buffer.events / buffer.capacity * 100 if buffer.capacity else 0.0
        text.append("  buffer ")
        text.append(f"{used:.0f}%", style="bold")
        text.append(f" {human_size(buffer.bytes)}/{human_size(buffer.max_bytes)}",
                    style="dim")
        text.append("  dropped ")
        text.append(f"{buffer.dropped:,}", style="bold yellow" if buffer.dropped else "bold")
    if buffer.missed:
        text.append("  missed ")
        text.append(f"{buffer.missed:,}", style="bold yellow")
    unpublished = sum(s.status.unpublished for s in model.sources.values() if s.status)
    if unpublished:         # events a publisher could not send to Redis
        text.append("  unpublished ")
        text.append(f"{unpublished:,}", style="bold yellow")
    if model.errors:
        text.append("  ")
        text.append(visible(model.errors[-1])[:120], style="red")
    return text


class HeaderBar(Vertical):
    """Two lines: title and counts; sparkline and numbers."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title

    def compose(self) -> ComposeResult:
        yield Label(Text(visible(self._title), style="bold"), id="header-title")
        with Horizontal(id="header-line2"):
            yield Sparkline([], id="header-spark")
            yield Label("", id="header-stats")

    def set_title(self, title: str) -> None:
        self._title = title
        self.query_one("#header-title", Label).update(Text(visible(title), style="bold"),
                                                      layout=False)

    def show(self, model: Model, *, shown: int, follow: bool, paused: bool, waiting: int,
             filter_text: str) -> None:
        """Redraw from the model (attributes down)."""
        title = Text(visible(self._title), style="bold")
        title.append("  ")
        title.append_text(status_text(model, shown=shown, follow=follow, paused=paused,
                                      waiting=waiting, filter_text=filter_text))
        # Fixed-size labels: repaint only, no layout pass (this runs ten times a second).
        self.query_one("#header-title", Label).update(title, layout=False)
        spark = model.stats.spark()
        # No traffic: a flat line (a single value would draw as a full-height bar).
        self.query_one("#header-spark", Sparkline).data = spark if any(spark) else []
        self.query_one("#header-stats", Label).update(stats_text(model), layout=False)
