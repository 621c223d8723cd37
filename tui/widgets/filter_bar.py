"""The filter bar: `/` opens it, Enter applies, Escape closes; up/down walk the history.

The language is `inspector.filters.compile`; a syntax error is shown under the text with a caret
at its column, while typing, before anything is applied.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from inspector.filters.compile import Filter, FilterError, caret_line, compile_filter
from inspector.text import visible
from tui.widgets.safe_input import SafeInput


class FilterBar(Vertical):
    """An input and a line for errors; hidden until opened."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", show=False),
        Binding("up", "history(-1)", "Older", show=False),
        Binding("down", "history(1)", "Newer", show=False),
    ]

    class Applied(Message):
        """The user applied a filter (a blank text: no filter)."""

        def __init__(self, text: str, predicate: Filter) -> None:
            super().__init__()
            self.text = text
            self.predicate = predicate

    class Closed(Message):
        """The bar closed without applying anything."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[str] = []
        self._position = 0

    def compose(self) -> ComposeResult:
        yield SafeInput(placeholder="filter: method:POST status:5xx -path:/health "
                                "duration:>100ms (Enter applies, Esc closes)",
                    id="filter-input")
        yield Static("", id="filter-error")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, current: str) -> None:
        """Show the bar with the current filter, cursor at the end."""
        self.add_class("open")
        self._position = len(self.history)
        self.input.value = current
        self.input.cursor_position = len(current)
        self._check(current)
        self.input.focus()

    def action_close(self) -> None:
        self.remove_class("open")
        self.post_message(self.Closed())

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._position = max(0, min(len(self.history), self._position + step))
        value = self.history[self._position] if self._position < len(self.history) else ""
        self.input.value = value
        self.input.cursor_position = len(value)

    def _check(self, text: str) -> Filter | None:
        error = self.query_one("#filter-error", Static)
        try:
            predicate = compile_filter(text)
        except FilterError as exc:
            shown = Text(caret_line(text, exc.column), style="red")
            shown.append(f"\n{visible(str(exc))}", style="bold red")
            error.update(shown)
            self.add_class("error")
            return None
        error.update("")
        self.remove_class("error")
        return predicate

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check(event.value)

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        predicate = self._check(text)
        if predicate is None:
            self.app.bell()
            return
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self.remove_class("open")
        self.post_message(self.Applied(text, predicate))
