"""A read-only viewer for many lines, drawn one visible line at a time (Line API).

Bodies (up to the fold's 1 MiB cap), event lanes and message lists can be tens of thousands
of lines; a `Static` would lay all of them out. `LinesView` takes any sequence (a list, or a
lazy sequence that formats a line when indexed) and renders only the rows on screen.
Plain `str` lines go through a styler that makes them safe (`visible`) and highlights them;
`Text` lines are shown as they are (their makers already made them safe).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from inspector.text import visible

Styler = Callable[[str], Text]


def plain_styler(line: str) -> Text:
    """A captured line made safe: controls escaped, tabs expanded, no markup."""
    return Text(visible(line, keep_newlines=True), no_wrap=True)


_WIDTH_SAMPLE = 2000


class LinesView(ScrollView, can_focus=True):
    """Shows `lines` (str or Text); follows the end when scrolled to it and lines grow."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"lines-view--highlight"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: Sequence[str | Text] = ()
        self._styler: Styler = plain_styler
        self._width = 0
        self.highlighted: int | None = None     # a line marked (a finding's event)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def set_lines(self, lines: Sequence[str | Text], styler: Styler | None = None,
                  *, keep_scroll: bool = False) -> None:
        """Show new content, from the top unless `keep_scroll`."""
        self._lines = lines
        self.highlighted = None
        self._styler = styler or plain_styler
        self._width = self._measure(0)
        self._update_size()
        if not keep_scroll:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def lines_changed(self) -> None:
        """The sequence grew (or changed): resize, keep following the end if at it."""
        at_end = self.scroll_y >= self.max_scroll_y
        old = self.virtual_size.height
        self._width = max(self._width, self._measure(max(0, old - 1)))
        self._update_size()
        if at_end and len(self._lines) > old:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def highlight(self, index: int) -> None:
        """Mark line `index` and scroll it into view (a third of the way down)."""
        self.highlighted = index
        top = max(0, index - max(1, self.size.height) // 3)
        self.scroll_to(y=top, animate=False, immediate=True)
        self.refresh()

    def _measure(self, start: int) -> int:
        width = self._width
        lines = self._lines
        stop = min(len(lines), start + _WIDTH_SAMPLE)
        for i in range(start, stop):
            line = lines[i]
            n = line.cell_len if isinstance(line, Text) else cell_len(line)
            width = max(width, n)
        return width

    def _update_size(self) -> None:
        self.virtual_size = Size(self._width + 1, len(self._lines))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        line = self._lines[index]
        text = line if isinstance(line, Text) else self._styler(line)
        segments = list(text.render(self.app.console))
        if index == self.highlighted:
            style = style + self.get_component_rich_style("lines-view--highlight",
                                                          partial=True)
        strip = Strip(segments).apply_style(style)
        if strip.cell_length > self._width:
            self._width = strip.cell_length
            self.call_after_refresh(self._update_size)
        return strip.crop_extend(scroll_x, scroll_x + width, style)


def join_lines(*parts: Sequence[str | Text]) -> Sequence[str | Text]:
    """Several sequences shown as one, without copying lazy ones."""
    return _Chain(parts)


class _Chain(Sequence["str | Text"]):
    def __init__(self, parts: tuple[Sequence[str | Text], ...]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        for part in self.parts:
            if i < len(part):
                return part[i]
            i -= len(part)
        raise IndexError(i)


__all__ = ["LinesView", "join_lines", "plain_styler"]
