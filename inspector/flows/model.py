"""What a connection amounts to: an HTTP exchange, a WebSocket session, or a lifespan.

`Flow` is the one model every consumer reads (dashboard, HAR, curl, replay, headless
lines). It is derived state: `inspector.flows.fold.FlowFolder` builds and updates flows from
events; nothing else writes to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FlowType = Literal["http", "websocket", "lifespan"]

# How a flow ended. "open" while the connection is still going.
OPEN = "open"
COMPLETE = "complete"                      # response sent in full / WS closed / lifespan done
CLIENT_DISCONNECTED = "client_disconnected"  # http.disconnect / websocket.disconnect first
APP_EXCEPTION = "app_exception"            # the app raised (exception recorded on the flow)
INCOMPLETE = "incomplete"                  # the app returned without finishing the response
# A WebSocket handshake the app refused (websocket.close before accept, or a
# websocket.http.response.* denial).
REFUSED = "refused"
ENDINGS = (OPEN, COMPLETE, CLIENT_DISCONNECTED, APP_EXCEPTION, INCOMPLETE, REFUSED)


@dataclass(slots=True)
class WsMessage:
    """One WebSocket message. direction: "in" (client to app) or "out" (app to client)."""

    direction: Literal["in", "out"]
    time: float
    text: str | None
    data: bytes | None
    size: int                 # original size in bytes (text: UTF-8 length), even if cut
    truncated: bool = False

    @property
    def is_text(self) -> bool:
        return self.text is not None


@dataclass(slots=True)
class ExceptionInfo:
    """An exception the app raised: enough to show, nothing kept alive."""

    type: str
    message: str
    traceback: str = ""


@dataclass(slots=True)
class Flow:
    """One connection folded from its events. Times are capture-relative seconds."""

    conn: int
    type: FlowType
    source: str = ""              # which process/tap it came from ("" for local)
    # -- request (from the scope) --
    scheme: str = ""
    http_version: str = ""
    method: str = ""              # "GET"; "" for websocket/lifespan
    path: str = ""
    raw_path: bytes = b""
    query: bytes = b""            # raw query string
    root_path: str = ""
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    request_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)
    request_body: bytes = b""     # joined, capped at the fold's body cap
    request_body_size: int = 0    # true size, counting cut bytes
    request_body_truncated: bool = False
    # -- response --
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    response_trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    response_body: bytes = b""
    response_body_size: int = 0
    response_body_truncated: bool = False
    # -- websocket --
    accepted: bool = False
    subprotocol: str | None = None
    messages: list[WsMessage] = field(default_factory=list)   # unless folded as a summary
    messages_in: int = 0          # counted even where `messages` is not kept
    messages_out: int = 0
    message_bytes_in: int = 0     # sizes as WsMessage.size counts them
    message_bytes_out: int = 0
    close_code: int | None = None
    close_reason: str = ""
    closed_by: Literal["client", "app", ""] = ""
    # -- lifespan --
    lifespan_messages: list[str] = field(default_factory=list)   # message types in order
    # -- timings --
    start: float = 0.0
    request_done: float | None = None     # last request body chunk received
    response_start: float | None = None   # http.response.start / websocket.accept (TTFB)
    end: float | None = None              # response finished / closed / app exited
    # -- how it ended --
    state: str = OPEN
    exception: ExceptionInfo | None = None
    app_exited: bool = False
    event_seqs: list[int] = field(default_factory=list)
    replay_of: str | None = None          # "<source>#<conn>" of the original, for a replay
    # Findings and timeline metrics (`inspector.findings.Analysis`), attached by a reader
    # that holds the flow's events (`inspector.findings.analyse`); None until then. The
    # fold never sets it, so it costs the fold nothing.
    analysis: Any = field(default=None, compare=False, repr=False)
    # What the app noted about the exchange (events.NOTES_KEY), e.g. a proxy's retry.
    notes: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """scheme://host/path?query as the client asked for it (host from the Host header)."""
        host = ""
        for name, value in self.request_headers:
            if name.lower() == b"host":
                host = value.decode("latin-1")
                break
        if not host and self.server:
            host = f"{self.server[0]}:{self.server[1]}"
        scheme = self.scheme or ("ws" if self.type == "websocket" else "http")
        url = f"{scheme}://{host}{self.full_path}"
        if self.query:
            url += "?" + self.query.decode("latin-1")
        return url

    @property
    def full_path(self) -> str:
        """The path the client asked for. ASGI's `path` includes `root_path` (uvicorn sets
        both so); a server that leaves it out gets it put in front."""
        root = self.root_path
        if root and self.path != root and not self.path.startswith(root.rstrip("/") + "/"):
            return root + self.path
        return self.path

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def ttfb(self) -> float | None:
        return None if self.response_start is None else self.response_start - self.start

    @property
    def request_size(self) -> int:
        """Bytes the client sent: the request body, or a WebSocket's incoming messages."""
        if self.type == "websocket":
            return self.message_bytes_in
        return self.request_body_size

    @property
    def response_size(self) -> int:
        """Bytes the app sent: the response body, or a WebSocket's outgoing messages."""
        if self.type == "websocket":
            return self.message_bytes_out
        return self.response_body_size

    @property
    def is_sse(self) -> bool:
        """A server-sent event stream: some Content-Type says text/event-stream."""
        # A loop, not any(), and lengths before lower(): every headless line asks.
        for name, value in self.response_headers:
            if len(name) == 12 and name.lower() == b"content-type" \
                    and value[:17].lower() == b"text/event-stream":
                return True
        return False
