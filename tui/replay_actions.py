"""Replay, diff, edit and export for the dashboard: what the r / R / e / d / x keys do.

`ReplayDesk` holds the replay target and the comparisons made so far; the app's actions
call it with what they concern (the selected flow, the filter text), and it reads the flows'
events from the `Model` it was given. It never touches the app: it posts the messages of
`tui.messages` up through a `DeskHost` (the app), which shows notices, opens screens and
feeds the inbox. Replays run in an async worker on the app's loop (network I/O only: the UI
keeps answering); the replayed connection is recorded by the target's own recorder, and its
events are posted up as the source "replay", so each replay appears in the list as a new
flow whose `replay_of` names its original. Exports are written in a thread worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from inspector.events.model import Event
from inspector.flows.model import Flow
from inspector.io.exports import export_text
from inspector.replay.edit import edited_exchange, headers_text, is_json, request_target
from inspector.replay.plan import Comparison, Exchange, compare, exchanges
from inspector.replay.send import NetworkTarget
from inspector.tap.feeds import Batch, SourceInfo
from inspector.text import visible, visible_bytes
from tui.messages import FeedItems, Notice, OpenScreen, Severity
from tui.model import Model
from tui.screens_replay import (
    DiffScreen,
    EditRequest,
    EditScreen,
    ExportRequest,
    ExportScreen,
)

REPLAY_SOURCE = "replay"
NO_TARGET = "No replay target: open the dashboard with --replay-to URL (run, proxy and " \
            "demo replay to their own server)"
EXTENSIONS = {"har": "har", "curl": "sh", "jsonl": "jsonl"}


def flow_label(flow: Flow) -> str:
    """The label replays use for a flow ("#12", "pid 7#3"): Exchange.label's rule."""
    return f"{flow.source}#{flow.conn}" if flow.source else f"#{flow.conn}"


class DeskHost(Protocol):
    """What the desk needs of its owner (the app): a queue for its messages, and workers."""

    def post_message(self, message: Any) -> bool: ...

    def run_worker(self, work: Any, *, group: str = ..., exit_on_error: bool = ...,
                   thread: bool = ...) -> Any: ...


def exchange_of(model: Model, flow: Flow) -> Exchange | None:
    """The recorded exchange of `flow`, from the events the dashboard holds."""
    if flow.type not in ("http", "websocket"):
        return None
    events = model.log.events_of(flow.source, flow.event_seqs)
    return next((e for e in exchanges(events, flow.source) if e.conn == flow.conn), None)


def export_events(model: Model, flows: list[Flow]) -> list[Event]:
    """The events of `flows`; from several sources, renumbered so conns and seqs stay
    distinct (an export is one capture)."""
    log = model.log
    per_flow = [log.events_of(f.source, f.event_seqs) for f in flows]
    if len({f.source for f in flows}) <= 1:
        return sorted((e for events in per_flow for e in events), key=lambda e: e.seq)
    merged = [(e.time + model.offsets.get(f.source, 0.0), n, e)
              for n, (f, events) in enumerate(zip(flows, per_flow), 1) for e in events]
    merged.sort(key=lambda item: item[0])
    return [e._replace(seq=i, conn=n, time=t) for i, (t, n, e) in enumerate(merged, 1)]


def default_export_path(directory: Path, fmt: str) -> Path:
    """export-<n>.<ext> with the smallest n not yet taken in `directory`."""
    ext = EXTENSIONS[fmt]
    n = 1
    while (directory / f"export-{n}.{ext}").exists():
        n += 1
    return directory / f"export-{n}.{ext}"


class ReplayDesk:
    """The dashboard's replay target, and the comparisons of the replays made.

    Attributes down: the app hands it the `Model` (the events and flows it holds), where
    exports go and what the feed is called; each action gets the selected flow or the
    filter text. Messages up: everything it has to say or show goes to `host`.
    """

    def __init__(self, host: DeskHost, model: Model, replay_to: str | None,
                 captured: bool = False, *, save_dir: Path, feed_description: str) -> None:
        self.host = host
        self.model = model
        self.replay_to = replay_to
        # True when the feed itself captures the target (run/proxy/demo replaying to their
        # own server): the replays arrive through the feed, linked by their marker header.
        self.captured = captured
        self.save_dir = save_dir
        self.feed_description = feed_description
        self.target = NetworkTarget(replay_to) if replay_to else None
        self.comparisons: dict[str, Comparison] = {}   # original label -> latest comparison
        self._next_seq = 0
        self._announced = False

    def notice(self, text: str, severity: Severity = "information",
               timeout: float | None = None) -> None:
        self.host.post_message(Notice(text, severity, timeout))

    def open(self, screen: Any, callback: Callable[[Any], None] | None = None) -> None:
        self.host.post_message(OpenScreen(screen, callback))

    # -- r / R / e -------------------------------------------------------------------------

    def visible_flows(self) -> list[Flow]:
        store = self.model.store
        return [f for f in store.rows(0, len(store)) if f.type in ("http", "websocket")]

    def replay_selected(self, flow: Flow | None) -> None:
        if flow is None:
            self.notice("No flow selected", "warning")
            return
        self.replay([flow])

    def replay_filtered(self, filter_text: str) -> None:
        if not filter_text.strip():
            self.notice("R replays the flows matching a filter: set one with /", "warning")
            return
        self.replay(self.visible_flows())

    def replay(self, flows: list[Flow], edited: Exchange | None = None) -> None:
        """Replay `flows` one after the other in a worker (or `edited` for flows[0])."""
        if self.target is None:
            self.notice(NO_TARGET, "warning", timeout=8)
            return
        pairs: list[tuple[Flow, Exchange]] = []
        for flow in flows:
            exchange = edited if edited is not None else exchange_of(self.model, flow)
            if exchange is None:
                self.notice(f"{flow_label(flow)} cannot be replayed (events gone?)", "warning")
            elif exchange.not_replayable:
                self.notice(visible(f"{flow_label(flow)} not replayed: "
                                    f"{exchange.not_replayable}"), "warning", timeout=8)
            else:
                pairs.append((flow, exchange))
        if pairs:
            self.notice(f"Replaying {len(pairs)} flow{'s' if len(pairs) > 1 else ''}…",
                        timeout=2)
            self.host.run_worker(self._run(pairs), group="replay", exit_on_error=False)

    async def _run(self, pairs: list[tuple[Flow, Exchange]]) -> None:
        assert self.target is not None
        for original, exchange in pairs:
            label = exchange.label
            try:
                replayed = await self.target.replay(exchange)
            except Exception as exc:  # noqa: BLE001 - a failed replay is told, not a crash
                self.notice(visible(f"replay of {label} failed: {exc}"), "error")
                continue
            finally:
                if not self.captured:
                    self._feed_replays()
            comparison = compare(original, replayed, seen_by=self.target.seen_by)
            self.comparisons[label] = comparison
            self.notice(visible(f"replay of {label}: {comparison.summary()}")[:300],
                        "information" if comparison.same else "warning", timeout=6)

    def _feed_replays(self) -> None:
        """Post the target's newly recorded events up to the dashboard, as source "replay"."""
        assert self.target is not None
        recorder = self.target.recorder
        events = recorder.events(self._next_seq)
        if not events:
            return
        self._next_seq = events[-1].seq + 1
        items: list[SourceInfo | Batch] = []
        if not self._announced:
            self._announced = True
            items.append(SourceInfo(REPLAY_SOURCE, recorder.started_wall,
                                    {"replay_to": self.replay_to}))
        items.append(Batch(REPLAY_SOURCE, events))
        self.host.post_message(FeedItems(items))

    def edit_selected(self, flow: Flow | None) -> None:
        if flow is None or flow.type != "http":
            self.notice("Select an HTTP flow to edit", "warning")
            return
        exchange = exchange_of(self.model, flow)
        if exchange is None:
            self.notice("The flow's events are gone", "warning")
            return
        body = b"".join(m.get("body", b"") for _, m in exchange.client_messages
                        if m.get("type") == "http.request")
        scope = exchange.scope
        screen = EditScreen(
            label=exchange.label, method=visible(str(scope.get("method", "GET"))),
            target=visible(request_target(scope)),
            headers=visible(headers_text(scope), keep_newlines=True),
            body=visible_bytes(body, keep_newlines=True),
            json_body=is_json(list(scope.get("headers", []))))

        def send(request: EditRequest | None) -> None:
            if request is None:
                return
            try:
                edited = edited_exchange(exchange, request.method, request.target,
                                         request.headers, request.body)
            except ValueError as exc:
                self.notice(f"Not sent: {exc}", "error")
                return
            self.replay([flow], edited=edited)
        self.open(screen, send)

    # -- d ---------------------------------------------------------------------------------

    def show_diff(self, flow: Flow | None) -> None:
        if flow is None:
            self.notice("No flow selected", "warning")
            return
        label = flow.replay_of or flow_label(flow)
        comparison = self.comparisons.get(label)
        if comparison is None:
            self.notice("No replay of this flow yet: press r to replay it", "warning")
            return
        self.open(DiffScreen(label, comparison))

    # -- x ---------------------------------------------------------------------------------

    def export(self, selected: Flow | None, filter_text: str) -> None:
        filtered = self.visible_flows() if filter_text.strip() else []
        save_dir = self.save_dir
        screen = ExportScreen(has_selected=selected is not None, filtered=len(filtered),
                              default_path=lambda fmt: str(default_export_path(save_dir, fmt)))

        def chosen(request: ExportRequest | None) -> None:
            if request is None:
                return
            flows = filtered if request.scope == "filter" else \
                [selected] if selected is not None else []
            if not flows:
                self.notice("Nothing to export", "warning")
                return
            path = Path(request.path).expanduser()
            if not path.is_absolute():
                path = save_dir / path
            header = {"started": self.model.base_wall or 0.0,
                      "saved_from": self.feed_description}
            events = export_events(self.model, flows)
            self.host.run_worker(lambda: self._write(request, flows, events, header, path),
                                 thread=True, group="export", exit_on_error=False)
        self.open(screen, chosen)

    def _write(self, request: ExportRequest, flows: list[Flow], events: list[Event],
               header: dict[str, Any], path: Path) -> None:
        """In a thread worker: posting a message is safe from any thread."""
        count = len(flows)
        try:
            text = export_text(request.fmt, header, events,
                               include_secrets=request.include_secrets)
            path.write_text(text, encoding="utf-8")
        except (OSError, ValueError) as exc:
            self.notice(visible(f"Could not export: {exc}"), "error")
            return
        secrets = "secrets included" if request.include_secrets else "secrets masked"
        self.notice(visible(f"Exported {count} flow{'s' if count != 1 else ''} "
                            f"({request.fmt}, {secrets}) to {path}"), timeout=6)
