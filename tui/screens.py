"""Modal screens: the key help, and the path to save the capture to."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.widgets.safe_input import SafeInput

KEYS = [
    ("Flow list", [
        ("j / k, ↓ / ↑", "move down / up (moving up stops following)"),
        ("PgDn / PgUp, g / G", "page; first / last row"),
        ("enter, tab", "focus the detail of the selected flow"),
        ("escape", "back to the list"),
        ("f", "follow: keep the newest flow selected and in view"),
        ("o / O", "sort by the next column / reverse the order (or click a title)"),
        ("t", "switch between the list and the timeline"),
    ]),
    ("Timeline", [
        ("+ / -", "zoom in / out around the selected flow"),
        ("h / l, ← / →", "pan"),
        ("0", "fit everything"),
    ]),
    ("Capture", [
        ("/", "filter (↑/↓ history, Enter applies, Esc closes)"),
        ("p", "pause live updates (events keep being collected)"),
        ("c", "clear finished flows"),
        ("s", "save the events held to a capture file"),
    ]),
    ("Detail", [
        ("1 … 5", "Overview, Request, Response, Events, Messages"),
        ("j / k, g / G", "scroll the tab's content"),
        ("↑ / ↓, enter", "Overview: pick a finding, show its event in the Events tab"),
    ]),
    ("Replay and export", [
        ("r", "replay the selected flow (to --replay-to URL)"),
        ("R", "replay every flow matching the filter"),
        ("e", "edit the selected request, then send it"),
        ("d", "diff of the last replay against its original"),
        ("x", "export the selected flow or the filter's flows (HAR, curl, JSONL)"),
    ]),
    ("App", [
        ("?", "this help"),
        ("ctrl+p", "command palette"),
        ("q", "quit"),
    ]),
]


def keys_table() -> Table:
    """The help's key table (fixed text: no captured data)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for section, rows in KEYS:
        table.add_row(Text(section, style="bold underline"), "")
        for key, what in rows:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    """Every key the dashboard knows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Label("asgi-inspector keys", id="help-title")
            with VerticalScroll():
                yield Static(keys_table(), id="help-keys")
            yield Label("Press Esc or ? to close", id="help-footer")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


def default_capture_path(directory: Path) -> Path:
    """capture-<n>.jsonl with the smallest n not yet taken in `directory`."""
    n = 1
    while (directory / f"capture-{n}.jsonl").exists():
        n += 1
    return directory / f"capture-{n}.jsonl"


class SaveScreen(ModalScreen["str | None"]):
    """Asks where to save; Enter saves, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: str, events: int) -> None:
        super().__init__()
        self.default = default
        self.events = events

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box"):
            yield Label(f"Save {self.events:,} events as a capture file:", id="save-title")
            yield SafeInput(self.default, id="save-path")
            yield Label("Enter saves, Esc cancels", id="save-footer")

    def on_mount(self) -> None:
        field = self.query_one("#save-path", Input)
        field.focus()
        field.cursor_position = len(self.default)

    @on(Input.Submitted, "#save-path")
    def _submit(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
