"""Replay, diff, edit and export for the dashboard: what the r / R / e / d / x keys do.

`ReplayDesk` holds the replay target and the comparisons made so far; the app's actions
call it. Replays run in an async worker on the app's loop (network I/O only: the UI keeps
answering); the replayed connection is recorded by the target's own recorder, and its
events are fed to the dashboard as the source "replay", so each replay appears in the list
as a new flow whose `replay_of` names its original. Exports are written in a thread worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.edit import edited_exchange, headers_text, is_json, request_target
from inspector.events import Event
from inspector.exports import export_text
from inspector.feeds import Batch, SourceInfo
from inspector.flow_model import Flow
from inspector.replay import Comparison, Exchange, compare, exchanges
from inspector.replay_run import NetworkTarget
from inspector.safe_text import visible, visible_bytes
from tui.screens_replay import (
    DiffScreen,
    EditRequest,
    EditScreen,
    ExportRequest,
    ExportScreen,
)

if TYPE_CHECKING:
    from tui.app import InspectorApp

REPLAY_SOURCE = "replay"
NO_TARGET = "No replay target: open the dashboard with --replay-to URL (run, proxy and " \
            "demo replay to their own server)"
EXTENSIONS = {"har": "har", "curl": "sh", "jsonl": "jsonl"}


def flow_label(flow: Flow) -> str:
    """The label replays use for a flow ("#12", "pid 7#3"): Exchange.label's rule."""
    return f"{flow.source}#{flow.conn}" if flow.source else f"#{flow.conn}"


def exchange_of(app: InspectorApp, flow: Flow) -> Exchange | None:
    """The recorded exchange of `flow`, from the events the dashboard holds."""
    if flow.type not in ("http", "websocket"):
        return None
    events = app.model.log.events_of(flow.source, flow.event_seqs)
    return next((e for e in exchanges(events, flow.source) if e.conn == flow.conn), None)


def export_events(app: InspectorApp, flows: list[Flow]) -> list[Event]:
    """The events of `flows`; from several sources, renumbered so conns and seqs stay
    distinct (an export is one capture)."""
    log = app.model.log
    per_flow = [log.events_of(f.source, f.event_seqs) for f in flows]
    if len({f.source for f in flows}) <= 1:
        return sorted((e for events in per_flow for e in events), key=lambda e: e.seq)
    merged = [(e.time + app.model.offsets.get(f.source, 0.0), n, e)
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
    """The dashboard's replay target, and the comparisons of the replays made."""

    def __init__(self, app: InspectorApp, replay_to: str | None,
                 captured: bool = False) -> None:
        self.app = app
        self.replay_to = replay_to
        # True when the feed itself captures the target (run/proxy/demo replaying to their
        # own server): the replays arrive through the feed, linked by their marker header.
        self.captured = captured
        self.target = NetworkTarget(replay_to) if replay_to else None
        self.comparisons: dict[str, Comparison] = {}   # original label -> latest comparison
        self._next_seq = 0
        self._announced = False

    # -- r / R / e -------------------------------------------------------------------------

    def visible_flows(self) -> list[Flow]:
        store = self.app.model.store
        return [f for f in store.rows(0, len(store)) if f.type in ("http", "websocket")]

    def replay_selected(self) -> None:
        flow = self.app.rows.selected
        if flow is None:
            self.app.notify("No flow selected", severity="warning")
            return
        self.replay([flow])

    def replay_filtered(self) -> None:
        if not self.app.filter_text.strip():
            self.app.notify("R replays the flows matching a filter: set one with /",
                            severity="warning")
            return
        self.replay(self.visible_flows())

    def replay(self, flows: list[Flow], edited: Exchange | None = None) -> None:
        """Replay `flows` one after the other in a worker (or `edited` for flows[0])."""
        if self.target is None:
            self.app.notify(NO_TARGET, severity="warning", timeout=8)
            return
        pairs: list[tuple[Flow, Exchange]] = []
        for flow in flows:
            exchange = edited if edited is not None else exchange_of(self.app, flow)
            if exchange is None:
                self.app.notify(f"{flow_label(flow)} cannot be replayed (events gone?)",
                                severity="warning", markup=False)
            elif exchange.not_replayable:
                self.app.notify(visible(f"{flow_label(flow)} not replayed: "
                                        f"{exchange.not_replayable}"),
                                severity="warning", markup=False, timeout=8)
            else:
                pairs.append((flow, exchange))
        if pairs:
            self.app.notify(f"Replaying {len(pairs)} flow{'s' if len(pairs) > 1 else ''}…",
                            timeout=2)
            self.app.run_worker(self._run(pairs), group="replay", exit_on_error=False)

    async def _run(self, pairs: list[tuple[Flow, Exchange]]) -> None:
        assert self.target is not None
        for original, exchange in pairs:
            label = exchange.label
            try:
                replayed = await self.target.replay(exchange)
            except Exception as exc:  # noqa: BLE001 - a failed replay is told, not a crash
                self.app.notify(visible(f"replay of {label} failed: {exc}"),
                                severity="error", markup=False)
                continue
            finally:
                if not self.captured:
                    self._feed_replays()
            comparison = compare(original, replayed, seen_by=self.target.seen_by)
            self.comparisons[label] = comparison
            self.app.notify(visible(f"replay of {label}: {comparison.summary()}")[:300],
                            severity="information" if comparison.same else "warning",
                            markup=False, timeout=6)

    def _feed_replays(self) -> None:
        """Hand the target's newly recorded events to the dashboard, as source "replay"."""
        assert self.target is not None
        recorder = self.target.recorder
        events = recorder.events(self._next_seq)
        if not events:
            return
        self._next_seq = events[-1].seq + 1
        if not self._announced:
            self._announced = True
            self.app.inbox.put(SourceInfo(REPLAY_SOURCE, recorder.started_wall,
                                          {"replay_to": self.replay_to}))
        self.app.inbox.put(Batch(REPLAY_SOURCE, events))

    def edit_selected(self) -> None:
        flow = self.app.rows.selected
        if flow is None or flow.type != "http":
            self.app.notify("Select an HTTP flow to edit", severity="warning")
            return
        exchange = exchange_of(self.app, flow)
        if exchange is None:
            self.app.notify("The flow's events are gone", severity="warning")
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
                self.app.notify(f"Not sent: {exc}", severity="error", markup=False)
                return
            self.replay([flow], edited=edited)
        self.app.push_screen(screen, send)

    # -- d ---------------------------------------------------------------------------------

    def show_diff(self) -> None:
        flow = self.app.rows.selected
        if flow is None:
            self.app.notify("No flow selected", severity="warning")
            return
        label = flow.replay_of or flow_label(flow)
        comparison = self.comparisons.get(label)
        if comparison is None:
            self.app.notify("No replay of this flow yet: press r to replay it",
                            severity="warning")
            return
        self.app.push_screen(DiffScreen(label, comparison))

    # -- x ---------------------------------------------------------------------------------

    def export(self) -> None:
        app = self.app
        selected = app.rows.selected
        filtered = self.visible_flows() if app.filter_text.strip() else []
        screen = ExportScreen(has_selected=selected is not None, filtered=len(filtered),
                              default_path=lambda fmt: str(default_export_path(app.save_dir,
                                                                               fmt)))

        def chosen(request: ExportRequest | None) -> None:
            if request is None:
                return
            flows = filtered if request.scope == "filter" else \
                [selected] if selected is not None else []
            if not flows:
                app.notify("Nothing to export", severity="warning")
                return
            path = Path(request.path).expanduser()
            if not path.is_absolute():
                path = app.save_dir / path
            header = {"started": app.model.base_wall or 0.0,
                      "saved_from": app.feed.description}
            events = export_events(app, flows)
            app.run_worker(lambda: self._write(request, flows, events, header, path),
                           thread=True, group="export", exit_on_error=False)
        app.push_screen(screen, chosen)

    def _write(self, request: ExportRequest, flows: list[Flow], events: list[Event],
               header: dict[str, Any], path: Path) -> None:
        count = len(flows)
        try:
            text = export_text(request.fmt, header, events,
                               include_secrets=request.include_secrets)
            path.write_text(text, encoding="utf-8")
        except (OSError, ValueError) as exc:
            self.app.call_from_thread(self.app.notify, visible(f"Could not export: {exc}"),
                                      severity="error", markup=False)
            return
        secrets = "secrets included" if request.include_secrets else "secrets masked"
        self.app.call_from_thread(
            self.app.notify, visible(f"Exported {count} flow{'s' if count != 1 else ''} "
                                     f"({request.fmt}, {secrets}) to {path}"),
            markup=False, timeout=6)
