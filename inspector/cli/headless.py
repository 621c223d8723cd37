"""One line per finished flow, for scripts, CI and pipes (`--headless`).

Pure formatting: `FlowLines` is fed the flows the fold touched and returns the lines to
print, one when an HTTP exchange ends, one when a WebSocket session opens and one when it
closes. Every captured string goes through `visible()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from inspector.flows.model import OPEN, Flow
from inspector.text import human_duration, human_size, visible


def target(flow: Flow) -> str:
    """Path and query as the client asked, safe to print."""
    text = flow.full_path
    if flow.query:
        text += "?" + flow.query.decode("latin-1")
    return visible(text)


_second: list[tuple[int, str]] = [(-1, "")]   # the last whole second formatted
# ".000" to ".999", and ".1000": float % 1 is 1.0 for a tiny negative instant (junk in a
# capture). Indexing costs less than formatting the milliseconds did, on every line.
_MILLIS = tuple(f".{ms:03d}" for ms in range(1001))


def clock(started_wall: float, t: float) -> str:
    """Wall-clock time of a capture-relative instant, HH:MM:SS.mmm local time."""
    wall = started_wall + t
    second = int(wall)
    last, text = _second[0]
    if second != last:    # localtime + strftime once a second; lines come thousands a second
        text = time.strftime("%H:%M:%S", time.localtime(second))
        _second[0] = (second, text)
    return text + _MILLIS[int(wall % 1 * 1000)]


def http_line(flow: Flow, started_wall: float) -> str:
    status = str(flow.status) if flow.status is not None else "---"
    line = (f"{clock(started_wall, flow.start)} #{flow.conn} {visible(flow.method)} "
            f"{target(flow)} {status} {human_duration(flow.duration)} "
            f"req={human_size(flow.request_body_size)} "
            f"resp={human_size(flow.response_body_size)}")
    if flow.is_sse:
        line += " sse"
    if flow.state not in ("complete", OPEN):
        line += f" [{flow.state}]"
    if flow.exception is not None:
        line += f" {visible(flow.exception.type)}: {visible(flow.exception.message[:200])}"
    for note in flow.notes:
        line += f" ({visible(note[:200])})"
    return _tagged(flow, line)


def ws_open_line(flow: Flow, started_wall: float) -> str:
    line = f"{clock(started_wall, flow.start)} #{flow.conn} WS {target(flow)} open"
    if flow.subprotocol:
        line += f" subprotocol={visible(flow.subprotocol)}"
    return _tagged(flow, line)


def ws_close_line(flow: Flow, started_wall: float) -> str:
    sent, got = flow.messages_out, flow.messages_in
    code = flow.close_code if flow.close_code is not None else "-"
    t = flow.end if flow.end is not None else flow.start
    line = (f"{clock(started_wall, t)} #{flow.conn} WS {target(flow)} "
            f"{'refused' if flow.state == 'refused' else 'closed'} code={code}")
    if flow.closed_by:
        line += f" by={flow.closed_by}"
    line += f" in={got} out={sent} {human_duration(flow.duration)}"
    if flow.state not in ("complete", "refused", "client_disconnected"):
        line += f" [{flow.state}]"
    if flow.exception is not None:
        line += f" {visible(flow.exception.type)}: {visible(flow.exception.message[:200])}"
    return _tagged(flow, line)


def _tagged(flow: Flow, line: str) -> str:
    analysis = flow.analysis      # attached by the printer when it kept the flow's events
    if analysis is not None and analysis.findings:
        line += f" findings={len(analysis.findings)}"
    return f"[{visible(flow.source)}] {line}" if flow.source else line


class FlowLines:
    """Decides which lines the flows call for, each once: an HTTP exchange when the app's
    call has returned (so an exception raised after the response is on its line), a
    WebSocket session when it is accepted and when the app's call returns."""

    def __init__(self, started_wall: float) -> None:
        self.started_wall = started_wall
        self._opened: set[tuple[str, int]] = set()
        self.finished: list[tuple[str, int]] = []   # keys done since the caller last looked

    def lines(self, flows: Iterable[Flow]) -> list[str]:
        """The lines the given (just updated) flows call for, in order."""
        out: list[str] = []
        for flow in flows:
            if flow.type == "lifespan":
                continue
            key = (flow.source, flow.conn)
            if flow.type == "websocket" and key not in self._opened and flow.accepted:
                self._opened.add(key)
                out.append(ws_open_line(flow, self.started_wall))
            if flow.app_exited:
                self._opened.discard(key)
                self.finished.append(key)
                out.append(ws_close_line(flow, self.started_wall) if flow.type == "websocket"
                           else http_line(flow, self.started_wall))
        return out

    def still_open(self, flows: Iterable[Flow]) -> list[str]:
        """Lines for flows whose app call never returned (at shutdown), marked as such."""
        out = []
        for flow in flows:
            if flow.type == "lifespan" or flow.app_exited:
                continue
            line = (ws_close_line(flow, self.started_wall) if flow.type == "websocket"
                    else http_line(flow, self.started_wall))
            out.append(line + " [still open at exit]")
        return out
