"""The Overview tab's text, as Rich `Text`: the flow, its findings, how it ended, timings.

No Textual. Every captured string goes through `visible()` into `Text`, never markup:
finding messages quote captured values (header names, message types), so they are shown
the same way. The findings come from the analysis the model attaches
(`inspector.findings.analyse`); the timings then include the app's background work after
the last response byte and its work after the client left.
"""

from __future__ import annotations

from http import HTTPStatus

from rich.text import Text

from inspector.findings import Finding
from inspector.flows.model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    COMPLETE,
    INCOMPLETE,
    OPEN,
    REFUSED,
    Flow,
)
from inspector.text import human_duration, human_size, visible
from tui.flow_store import kind_of

ENDINGS = {
    OPEN: "still open",
    COMPLETE: "complete",
    CLIENT_DISCONNECTED: "client disconnected",
    APP_EXCEPTION: "app raised",
    INCOMPLETE: "app returned without finishing the response",
    REFUSED: "refused (handshake denied)",
}

def ms(seconds: float) -> str:
    """0.0123 -> "12.300ms": fixed precision, for lanes where digits line up."""
    return f"{seconds * 1000:.3f}ms"


def _label(text: Text, name: str, value: str | Text, style: str = "") -> None:
    text.append(f"{name:<12}", style="bold")
    if isinstance(value, Text):
        text.append_text(value)
    else:
        text.append(value, style=style)
    text.append("\n")


def _phase_bar(parts: list[tuple[str, float, str]], width: int = 40) -> Text:
    total = sum(d for _, d, _ in parts) or 1.0
    bar = Text()
    for _, duration, style in parts:
        cells = round(duration / total * width)
        if duration > 0 and cells == 0:
            cells = 1
        bar.append("█" * cells, style=style)
    return bar


def overview(flow: Flow, exception_lines: int = 60) -> Text:
    """The Overview tab: URL, status, how it ended, timings broken down, sizes.

    How it ended (and the exception, when the app raised) comes right after the status:
    it is what one opens a failed flow for; the traceback closes the tab.
    """
    text = Text()
    first = Text()
    first.append(f"{kind_of(flow)} ", style="bold")
    if flow.method:
        first.append(visible(flow.method) + " ", style="bold")
    first.append(visible(flow.url))
    text.append_text(first)
    text.append("\n\n")
    if flow.type == "websocket":
        _ws_status(flow, text)
    else:
        _http_status(flow, text)
    ending = ENDINGS.get(flow.state, flow.state)
    style = "red" if flow.state in (APP_EXCEPTION, INCOMPLETE) else \
        "yellow" if flow.state in (CLIENT_DISCONNECTED, REFUSED, OPEN) else "green"
    _label(text, "Ended", ending, style)
    exc = flow.exception
    if exc is not None:
        _label(text, "Raised", visible(f"{exc.type}: {exc.message}"), "bold red")
    if flow.source:
        _label(text, "Source", visible(flow.source))
    if flow.client:
        _label(text, "Client", visible(f"{flow.client[0]}:{flow.client[1]}"))
    text.append("\n")
    if flow.type == "websocket":
        _ws_overview(flow, text)
    else:
        _http_overview(flow, text)
    if exc is not None and exc.traceback:
        text.append("\n")
        lines = exc.traceback.rstrip("\n").split("\n")
        if len(lines) > exception_lines:
            text.append(f"  … {len(lines) - exception_lines} lines above\n", style="dim")
            lines = lines[-exception_lines:]
        for line in lines:
            text.append(visible(line) + "\n", style="dim")
    return text


SHOWN_BACKGROUND = 0.001
"""Background work (or work after the client left) shorter than this is not drawn as a
phase: every flow has a few microseconds of it between its last byte and the return."""

SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow", "info": "dim"}
MARKS = {"error": "!", "warning": "?", "info": "·"}


def finding_text(finding: Finding) -> Text:
    """One finding for the Overview's list: mark, severity, rule id and message on the
    first line; the hint and the spec link (as text, never a live link) under it."""
    style = SEVERITY_STYLES.get(finding.severity, "")
    text = Text(no_wrap=False)
    text.append(f"{MARKS.get(finding.severity, ' ')} {finding.severity:<8}", style=style)
    text.append(f"{finding.rule:<6} ", style="bold")
    text.append(visible(finding.message))
    if finding.seq is not None:
        text.append(f"  (event {finding.seq})", style="dim")
    text.append("\n           ")
    text.append(visible(finding.hint), style="italic")
    text.append("\n           ")
    text.append(visible(finding.link), style="dim underline")
    return text


def findings_title(flow: Flow) -> str:
    """The Findings section's title: how many, or that the flow is not analysed yet."""
    analysis = flow.analysis
    if analysis is None:
        return "Findings: not analysed yet" if flow.state == OPEN else "Findings"
    n = len(analysis.findings)
    return f"Findings ({n}): enter jumps to the event" if n else "Findings: none"


def _http_status(flow: Flow, text: Text) -> None:
    if flow.status is not None:
        try:
            phrase = HTTPStatus(flow.status).phrase
        except ValueError:
            phrase = ""
        style = "red" if flow.status >= 500 else "yellow" if flow.status >= 400 else \
            "cyan" if flow.status >= 300 else "green"
        _label(text, "Status", f"{flow.status} {phrase}".rstrip(), style)
    else:
        _label(text, "Status", "no response started", "yellow")


def _ws_status(flow: Flow, text: Text) -> None:
    if flow.state == REFUSED:
        _label(text, "Handshake", f"refused ({flow.status or 403})", "yellow")
    elif flow.accepted:
        sub = f", subprotocol {visible(flow.subprotocol)}" if flow.subprotocol else ""
        _label(text, "Handshake", "accepted" + sub, "green")
    else:
        _label(text, "Handshake", "not answered yet", "yellow")


def _http_overview(flow: Flow, text: Text) -> None:
    _label(text, "Protocol", visible(f"HTTP/{flow.http_version} ({flow.scheme})"))
    start = flow.start
    request_done = flow.request_done
    response_start = flow.response_start
    end = flow.end
    total = None if end is None else end - start
    _label(text, "Duration", human_duration(total) if total is not None else "still open")
    phases: list[tuple[str, float, str]] = []
    if request_done is not None:
        phases.append(("request body", request_done - start, "blue"))
    if response_start is not None:
        waited_from = request_done if request_done is not None and \
            request_done <= response_start else start
        phases.append(("waiting (app)", response_start - waited_from, "yellow"))
        if end is not None:
            phases.append(("response streaming", end - response_start, "green"))
    analysis = flow.analysis
    if analysis is not None:
        m = analysis.metrics
        if m.background is not None and m.background >= SHOWN_BACKGROUND:
            phases.append(("background work", max(0.0, m.background), "magenta"))
        if m.wasted is not None and m.wasted >= SHOWN_BACKGROUND:
            phases.append(("after client left", max(0.0, m.wasted), "red"))
    if phases:
        text.append("Timings     ", style="bold")
        text.append_text(_phase_bar(phases))
        text.append("\n")
        for name, duration, style in phases:
            text.append("  ")
            text.append("█ ", style=style)
            text.append(f"{name:<20}{ms(duration):>14}\n")
        if flow.ttfb is not None:
            text.append(f"  {'time to first byte':<22}{ms(flow.ttfb):>14}\n")
    text.append("\n")
    _label(text, "Request", f"{human_size(flow.request_body_size)} body, "
                            f"{len(flow.request_headers)} headers"
                            + (" (body cut at capture)" if flow.request_body_truncated else ""))
    _label(text, "Response", f"{human_size(flow.response_body_size)} body, "
                             f"{len(flow.response_headers)} headers"
                             + (" (body cut at capture)" if flow.response_body_truncated
                                else "")
                             + (", server-sent events" if flow.is_sse else ""))


def _ws_overview(flow: Flow, text: Text) -> None:
    _label(text, "Messages", f"{flow.messages_in} in ({human_size(flow.request_size)}), "
                             f"{flow.messages_out} out ({human_size(flow.response_size)})")
    if flow.ttfb is not None:
        _label(text, "Accepted in", ms(flow.ttfb))
    _label(text, "Duration", human_duration(flow.duration) if flow.end is not None
           else "still open")
    analysis = flow.analysis
    if analysis is not None and analysis.metrics.wasted is not None:
        _label(text, "Client left", f"the app ran {ms(analysis.metrics.wasted)} after it",
               "red")
    if flow.close_code is not None:
        by = f" by the {flow.closed_by}" if flow.closed_by else ""
        reason = f": {visible(flow.close_reason)}" if flow.close_reason else ""
        _label(text, "Closed", f"code {flow.close_code}{by}{reason}")


