"""The messages that parts of the dashboard post up to the app, declared in one place.

Parts that are not widgets (the replay desk) hold no reference to the app: they post
these, and the app's handlers act on them (notify, push a screen, feed the inbox). A
message posted from a thread worker is queued safely on the app's loop
(`MessagePump.post_message` is thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from textual.message import Message
from textual.screen import Screen

from inspector.tap.feeds import FeedItem

Severity = Literal["information", "warning", "error"]


class Notice(Message):
    """Tell the user something in a toast. `text` is shown as plain text, never markup."""

    def __init__(self, text: str, severity: Severity = "information",
                 timeout: float | None = None) -> None:
        super().__init__()
        self.text = text
        self.severity: Severity = severity
        self.timeout = timeout


class OpenScreen(Message):
    """Push `screen`; `callback` gets what it is dismissed with."""

    def __init__(self, screen: Screen[Any],
                 callback: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self.screen = screen
        self.callback = callback


class FeedItems(Message):
    """Items made inside the dashboard (the replays' recorded events) for the inbox, to
    be applied like anything the feed sends."""

    def __init__(self, items: Sequence[FeedItem]) -> None:
        super().__init__()
        self.items = list(items)
