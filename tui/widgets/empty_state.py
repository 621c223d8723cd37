"""The list area's panel while the dashboard waits for a capturing process to appear.

`asgi-inspector tui` finds processes by their tap sockets, again every second. With none
running, an empty list and a flat sparkline say nothing: this panel says what was looked
for, where, and the ways to start a capturing process. It goes as soon as one is found.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from inspector.text import visible

WAYS = [
    ("wrap your ASGI app", "app = InspectorMiddleware(app)",
     "from inspector import InspectorMiddleware"),
    ("serve an app as is", "asgi-inspector run main:app", ""),
    ("put a proxy in front", "asgi-inspector proxy http://127.0.0.1:8000", ""),
    ("try it on a demo shop", "asgi-inspector demo", ""),
]


def waiting_text(where: str | None) -> Text:
    """What the panel says; `where` is the directory searched for tap sockets."""
    text = Text()
    text.append("No capturing process found\n\n", style="bold")
    text.append("This dashboard attaches to every process of yours that captures with "
                "asgi-inspector, and picks new ones up as they start. Start one, in "
                "another terminal:\n\n")
    label = max(len(name) for name, _, _ in WAYS) + 2
    for name, command, note in WAYS:
        text.append(f"  {name:<{label}}", style="dim")
        text.append(command + "\n", style="bold")
        if note:
            text.append(f"  {'':<{label}}{note}\n", style="dim")
    text.append("\nWatching ", style="dim")
    text.append(visible(where) if where else "the tap directory", style="dim italic")
    text.append(" for taps…  (q quits)", style="dim")
    return text


class EmptyState(Static):
    """Shown in place of the list and the detail until a first source appears."""

    def __init__(self, where: str | None, *, id: str | None = None) -> None:
        super().__init__(waiting_text(where), id=id)
