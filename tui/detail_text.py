"""What the Request, Response, Events and Messages tabs say about a flow, as Rich `Text`.
No Textual (the Overview's text is `tui.overview_text`).

Every captured string goes through `visible()` and into `Text` (never markup), so an OSC
sequence in a header is shown as `\\e]2;...` and `[bold]` in a path is shown as typed.
The Events and Messages tabs can hold thousands of lines: they are sequences that decode
and format a line when the viewer asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from rich.text import Text

from inspector.events.model import Event
from inspector.flows.model import Flow
from inspector.text import human_size, visible, visible_bytes
from tui.event_log import EventLog
from tui.overview_text import ms

PREVIEW = 160


def header_lines(headers: list[tuple[bytes, bytes]]) -> list[Text]:
    """`name: value` lines, names aligned, both shown safely."""
    if not headers:
        return [Text("(no headers)", style="dim")]
    names = [visible_bytes(n) for n, _ in headers]
    width = min(32, max(len(n) for n in names))
    out = []
    for name, (_, value) in zip(names, headers):
        line = Text()
        line.append(f"{name:<{width}}", style="bold cyan")
        line.append("  ")
        line.append(visible_bytes(value))
        out.append(line)
    return out


# -- the Events tab -----------------------------------------------------------------------


def _payload(message: dict) -> tuple[int | None, list[str]]:
    """(payload size, flags) of an ASGI message, for the event lane."""
    flags = []
    size = None
    t = message.get("type")
    for key in ("body", "bytes", "text"):
        value = message.get(key)
        if isinstance(value, (bytes, str)):
            size = len(value) if isinstance(value, bytes) else len(value.encode("utf-8",
                                                                                 "replace"))
            if key == "text":
                flags.append("text")
            elif key == "bytes":
                flags.append("binary")
            break
    if message.get("more_body"):
        flags.append("more_body")
    if t in ("http.response.start", "websocket.http.response.start"):
        flags.append(f"status {message.get('status')}")
        headers = message.get("headers")
        if isinstance(headers, (list, tuple)):
            flags.append(f"{len(headers)} headers")
        if message.get("trailers"):
            flags.append("trailers")
    elif t in ("websocket.close", "websocket.disconnect"):
        flags.append(f"code {message.get('code', 1000)}")
    elif t == "inspector.exit":
        exc = message.get("exception")
        if isinstance(exc, dict):
            flags.append(f"raised {exc.get('type', '')}")
        else:
            flags.append("returned")
    elif t in ("http", "websocket", "lifespan"):
        if message.get("method"):
            flags.append(str(message.get("method")))
        if message.get("path") is not None:
            flags.append(str(message.get("path")))
    return size, flags


def lane_line(event: Event, start: float, previous: float | None) -> Text:
    """One line of the event lane: offset, gap since the previous event, what, size, flags."""
    message = event.message if isinstance(event.message, dict) else {}
    size, flags = _payload(message)
    kind_style = {"scope": "magenta", "receive": "blue", "send": "green",
                  "exit": "red" if "raised" in " ".join(flags) else "dim"}.get(event.kind, "")
    line = Text()
    line.append(f"{'+' + ms(event.time - start):>13}", style="bold")
    gap = "" if previous is None else "+" + ms(event.time - previous)
    line.append(f" {gap:>13}", style="dim")
    line.append(f"  {event.kind:<8}", style=kind_style)
    line.append(f"{visible(str(message.get('type', ''))):<30}")
    line.append(f"{human_size(size) if size is not None else '':>8}")
    if event.truncated is not None:
        flags.append(f"cut from {human_size(event.truncated)}")
    if flags:
        line.append("  " + visible(" ".join(flags)), style="italic")
    return line


class LazyLines(Sequence[Text]):
    """Lines formatted only when shown (a view asks for the visible ones): subclasses give
    `__len__` and `line(i)`."""

    def __len__(self) -> int:
        raise NotImplementedError

    def line(self, i: int) -> Text:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> Text: ...
    @overload
    def __getitem__(self, i: slice) -> list[Text]: ...

    def __getitem__(self, i: int | slice) -> Text | list[Text]:
        if isinstance(i, slice):
            return [self.line(j) for j in range(*i.indices(len(self)))]
        return self.line(i)


class EventLane(LazyLines):
    """The Events tab of one flow: a line per event, decoded when shown. Grows live."""

    def __init__(self, flow: Flow, log: EventLog) -> None:
        self.flow = flow
        self.log = log

    def __len__(self) -> int:
        return len(self.flow.event_seqs)

    def line(self, i: int) -> Text:
        seqs = self.flow.event_seqs
        seq = seqs[i]
        event = self.log.get(self.flow.source, seq)
        if event is None:
            return Text(f"  (event {seq} is no longer held)", style="dim")
        previous = None
        if i > 0:
            before = self.log.get(self.flow.source, seqs[i - 1])
            previous = before.time if before is not None else None
        return lane_line(event, self.flow.start, previous)


# -- the Messages tab -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageItem:
    """One WebSocket message or server-sent event, ready to show and to search."""

    direction: str       # "in" (to the app) or "out" (to the client)
    time: float          # since the flow started
    kind: str            # "text", "binary", "event"
    size: int
    preview: str         # safe to show (visible), short
    search: str          # lower-cased text to search in
    truncated: bool = False


def _preview_bytes(data: bytes) -> str:
    head = data[:PREVIEW // 3]
    return " ".join(f"{b:02x}" for b in head) + (" …" if len(data) > len(head) else "")


def _sse_events(chunk: bytes) -> list[str]:
    text = chunk.decode("utf-8", "replace").replace("\r\n", "\n")
    return [part for part in text.split("\n\n") if part.strip()]


class MessageList:
    """A flow's messages (WebSocket) or events (SSE), picked up incrementally."""

    def __init__(self, flow: Flow, log: EventLog) -> None:
        self.flow = flow
        self.log = log
        self.items: list[MessageItem] = []
        self._done = 0            # WS: messages taken; SSE: event seqs scanned
        self.kind = "ws" if flow.type == "websocket" else "sse" if flow.is_sse else ""

    def update(self) -> bool:
        """Take what arrived since the last call; True if there is anything new."""
        flow = self.flow
        if not self.kind and flow.is_sse:
            self.kind = "sse"
        before = len(self.items)
        if self.kind == "ws":
            for m in flow.messages[self._done:]:
                if m.text is not None:
                    preview = visible(m.text[:PREVIEW])
                    search = m.text.lower()
                else:
                    data = m.data or b""
                    preview = _preview_bytes(data)
                    search = data.decode("latin-1").lower()
                self.items.append(MessageItem(m.direction, m.time - flow.start,
                                              "text" if m.is_text else "binary", m.size,
                                              preview, search, m.truncated))
            self._done = len(flow.messages)
        elif self.kind == "sse":
            seqs = flow.event_seqs
            for seq in seqs[self._done:]:
                event = self.log.get(flow.source, seq)
                if event is None or event.kind != "send":
                    continue
                message = event.message if isinstance(event.message, dict) else {}
                if message.get("type") != "http.response.body":
                    continue
                body = message.get("body")
                if not isinstance(body, bytes) or not body:
                    continue
                for part in _sse_events(body):
                    self.items.append(MessageItem(
                        "out", event.time - flow.start, "event",
                        len(part.encode("utf-8", "replace")),
                        visible(part[:PREVIEW]), part.lower(),
                        event.truncated is not None))
            self._done = len(seqs)
        return len(self.items) != before

    def matching(self, query: str) -> list[int]:
        """Indexes of the items whose text contains `query` (case-insensitive)."""
        if not query:
            return list(range(len(self.items)))
        q = query.lower()
        return [i for i, item in enumerate(self.items) if q in item.search]


def message_line(item: MessageItem) -> Text:
    line = Text()
    line.append(f"{'+' + ms(item.time):>13}  ", style="bold")
    if item.direction == "in":
        line.append("→ in  ", style="blue")
    else:
        line.append("← out ", style="green")
    line.append(f"{item.kind:<7}", style="italic")
    line.append(f"{human_size(item.size):>8}  ")
    line.append(item.preview)
    if item.truncated:
        line.append("  (cut at capture)", style="dim")
    return line
