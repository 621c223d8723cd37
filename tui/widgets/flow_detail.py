"""The selected flow in tabs: Overview, Request, Response, Events, Messages.

Only the tab on screen is built; the others are marked stale and built when shown, so
moving the cursor down a list of big bodies never renders bodies nobody looks at. Bodies
above `THREAD_BODY` bytes are rendered in a thread worker. The Events and Messages tabs
are Line-API viewers over lazy sequences, and grow live while the flow is open.
"""

from __future__ import annotations

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, TabbedContent, TabPane

from inspector.flows.model import Flow
from inspector.text import visible
from tui.body import BodyView, render_body
from tui.detail_text import EventLane, LazyLines, MessageList, header_lines, message_line
from tui.model import Model
from tui.overview_text import overview
from tui.widgets.findings_list import FindingsList
from tui.widgets.lines_view import LinesView, join_lines, plain_styler
from tui.widgets.safe_input import SafeInput

TABS = ("overview", "request", "response", "events", "messages")
THREAD_BODY = 256 * 1024

_json = JSONHighlighter()


def json_styler(line: str) -> Text:
    return _json(Text(visible(line, keep_newlines=True), no_wrap=True))


def hex_styler(line: str) -> Text:
    text = Text(line, no_wrap=True)
    text.stylize("dim", 0, 8)
    return text


STYLERS = {"json": json_styler, "hex": hex_styler}


class _Matches(LazyLines):
    """The message lines matching the search, formatted when shown."""

    def __init__(self, messages: MessageList, indexes: list[int]) -> None:
        self.messages = messages
        self.indexes = indexes

    def __len__(self) -> int:
        return len(self.indexes)

    def line(self, i: int) -> Text:
        return message_line(self.messages.items[self.indexes[i]])


class FlowDetail(Vertical):
    """Tabs about one flow; `show_flow` to change it, `flow_updated` when it changed."""

    def __init__(self, model: Model, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.flow: Flow | None = None
        self._stale: set[str] = set(TABS)
        self._body_seen: dict[str, tuple[int, int, int]] = {}
        self._messages: MessageList | None = None
        self._matches: _Matches | None = None
        self._query = ""

    def compose(self) -> ComposeResult:
        with TabbedContent(id="detail-tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                yield FindingsList(id="overview-findings")
                yield LinesView(id="overview-lines")
            with TabPane("Request", id="request"):
                yield LinesView(id="request-lines")
            with TabPane("Response", id="response"):
                yield LinesView(id="response-lines")
            with TabPane("Events", id="events"):
                yield LinesView(id="events-lines")
            with TabPane("Messages", id="messages"):
                yield SafeInput(placeholder="search messages", id="messages-search")
                yield LinesView(id="messages-lines")

    # -- what the app calls ---------------------------------------------------------------

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active or "overview"

    def show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def show_flow(self, flow: Flow | None) -> None:
        """Show another flow (None: nothing selected)."""
        if flow is self.flow:
            return
        self.flow = flow
        self._stale = set(TABS)
        self._body_seen = {}
        self._messages = None
        self._matches = None
        self._build(self.active_tab)

    def flow_updated(self) -> None:
        """The shown flow changed in place (events arrived): refresh what is on screen."""
        self._stale = set(TABS)
        self._build(self.active_tab, update=True)

    def focus_content(self) -> None:
        """Give the keyboard to the active tab's content."""
        tab = self.active_tab
        if tab == "overview" and self.query_one(FindingsList).display:
            self.query_one(FindingsList).focus()
            return
        target = {"overview": "#overview-lines", "request": "#request-lines",
                  "response": "#response-lines", "events": "#events-lines",
                  "messages": "#messages-lines"}[tab]
        self.query_one(target).focus()

    # -- building tabs --------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id or ""
        if tab in self._stale:
            self._build(tab)

    def _build(self, tab: str, update: bool = False) -> None:
        self._stale.discard(tab)
        flow = self.flow
        if tab == "overview":
            # Lines, not a Static: updating it ten times a second costs a repaint, not a
            # layout of the whole screen.
            self.query_one(FindingsList).show(flow)
            text = overview(flow) if flow is not None else Text("No flow selected",
                                                                style="dim")
            self.query_one("#overview-lines", LinesView).set_lines(
                list(text.split("\n", allow_blank=True)), keep_scroll=update)
        elif tab in ("request", "response"):
            self._build_body(tab, update)
        elif tab == "events":
            view = self.query_one("#events-lines", LinesView)
            if flow is None:
                view.set_lines([Text("No flow selected", style="dim")])
            elif update:
                view.lines_changed()
            else:
                view.set_lines(EventLane(flow, self.model.log))
        elif tab == "messages":
            self._build_messages(update)

    @on(FindingsList.Jump)
    def _jump(self, message: FindingsList.Jump) -> None:
        """Show the Events tab with the finding's event marked and in view."""
        flow = message.flow
        if flow is not self.flow:
            return
        try:
            index = flow.event_seqs.index(message.seq)
        except ValueError:
            return
        self.show_tab("events")
        if "events" in self._stale:
            self._build("events")
        view = self.query_one("#events-lines", LinesView)
        view.highlight(index)
        view.focus()

    def _build_body(self, tab: str, update: bool) -> None:
        flow = self.flow
        view = self.query_one(f"#{tab}-lines", LinesView)
        if flow is None:
            view.set_lines([Text("No flow selected", style="dim")])
            return
        if tab == "request":
            headers, data = flow.request_headers, flow.request_body
            size, cut = flow.request_body_size, flow.request_body_truncated
        else:
            headers, data = flow.response_headers, flow.response_body
            size, cut = flow.response_body_size, flow.response_body_truncated
        seen = (len(headers), len(data), size)
        if update and self._body_seen.get(tab) == seen:
            return
        self._body_seen[tab] = seen
        head: list[Text] = [*header_lines(headers), Text("")]
        if tab == "response" and flow.response_trailers:
            head += [Text("Trailers", style="bold"), *header_lines(flow.response_trailers),
                     Text("")]
        if tab == "response" and flow.type == "websocket":
            note = Text("WebSocket session: see the Messages tab", style="dim")
            view.set_lines([*head, note], keep_scroll=update)
            return
        if len(data) > THREAD_BODY:
            view.set_lines([*head, Text("rendering body…", style="dim italic")],
                           keep_scroll=update)
            self._render_body_thread(tab, flow, head, data, headers, size, cut, update)
            return
        body = render_body(data, headers, size=size, truncated=cut)
        self._show_body(tab, flow, head, body, update)

    @work(thread=True, exclusive=True, group="detail-body")
    def _render_body_thread(self, tab: str, flow: Flow, head: list[Text], data: bytes,
                            headers: list[tuple[bytes, bytes]], size: int, cut: bool,
                            update: bool) -> None:
        body = render_body(data, headers, size=size, truncated=cut)
        self.app.call_from_thread(self._show_body, tab, flow, head, body, update)

    def _show_body(self, tab: str, flow: Flow, head: list[Text], body: BodyView,
                   update: bool) -> None:
        if flow is not self.flow:
            return
        view = self.query_one(f"#{tab}-lines", LinesView)
        summary = Text(body.summary, style="bold")
        view.set_lines(join_lines(head, [summary], body.lines),
                       STYLERS.get(body.syntax, plain_styler), keep_scroll=update)

    def _build_messages(self, update: bool) -> None:
        flow = self.flow
        view = self.query_one("#messages-lines", LinesView)
        if flow is None:
            view.set_lines([Text("No flow selected", style="dim")])
            return
        if self._messages is None or self._messages.flow is not flow:
            self._messages = MessageList(flow, self.model.log)
            self._messages.update()
            self._set_matches()
            return
        before = len(self._messages.items)
        if self._messages.update() and self._matches is None:
            self._set_matches()
        elif self._matches is not None and len(self._messages.items) > before:
            query = self._query.lower()
            for i in range(before, len(self._messages.items)):
                if not query or query in self._messages.items[i].search:
                    self._matches.indexes.append(i)
            view.lines_changed()

    def _set_matches(self) -> None:
        view = self.query_one("#messages-lines", LinesView)
        messages = self._messages
        if messages is None:
            return
        if not messages.kind:
            view.set_lines([Text("Not a WebSocket session or an event stream: no messages.",
                                 style="dim")])
            self._matches = None
            return
        self._matches = _Matches(messages, messages.matching(self._query))
        view.set_lines(self._matches)

    @on(Input.Changed, "#messages-search")
    def _search(self, event: Input.Changed) -> None:
        self._query = event.value
        self._set_matches()

    @on(Input.Submitted, "#messages-search")
    def _search_done(self, event: Input.Submitted) -> None:
        self.query_one("#messages-lines", LinesView).focus()
