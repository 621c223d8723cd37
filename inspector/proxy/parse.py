"""Upstream responses, bytes in and events out. Pure: no sockets, no loop.

Reading the upstream's response is a large part of the proxy's own work per request, and
llhttp (C, through httptools, which uvicorn[standard] installs) does it about nine times
cheaper than h11 (docs/performance.md). `response_parser()`
uses httptools when it can be imported and h11 otherwise. Both give the same events and
make the same decisions:

* framing (RFC 9112 6.3): no body after HEAD or for 1xx, 204 and 304; else chunked,
  Content-Length, or everything until the upstream closes;
* 1xx interim responses are skipped (RFC 9110 15.2: the upstream's business), but for the
  first 100 (Continue) when the request asked for one: that is a `Continue` event, the
  signal to send the body; a 101 is an error, since the proxy never asks to switch
  protocols on the HTTP hop;
* whether the connection may carry another request (RFC 9112 9.3): an HTTP/1.1 response
  without Connection: close, framed by its length or chunks, with nothing after it.
  HTTP/1.0 keep-alive is not honoured (RFC 9112 9.3 lets a recipient decline it; h11 does).

Where they differ, llhttp is the stricter or the closer to RFC 9112: it reads a response
whose Transfer-Encoding does not end in chunked until the connection closes (6.3; h11
refuses it), and refuses obs-fold line folding (5.2 lets a proxy answer 502; h11 unfolds).

The response head (status line, fields, and any 1xx heads before it) may take at most
`MAX_HEAD` bytes, counted on the bytes themselves, so the same head passes or fails
however TCP cuts it into reads: each parser is given the bytes up to the limit first,
and a head that has not ended within them is refused (the shell answers 502). 64 KiB,
because what peers accept ranges from 4-8 KiB (nginx's proxy_buffer_size, one page) and
16 KiB (Node's --max-http-header-size, HAProxy's tune.bufsize, h11's default) to 60 KiB
(Envoy), 100 KiB per field (curl) and 256 KiB (Chrome): servers that set many or large
cookies send heads past 16 KiB, and a debugging proxy must not be the hop that refuses
what the client would take. It still bounds what one response may make the proxy buffer.

One parser reads one response; the shell makes a new one for each request.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import h11

__all__ = ["ResponseHead", "Data", "EndOfResponse", "Continue", "Event", "ResponseError",
           "MalformedResponse", "IncompleteResponse", "ResponseParser", "LlhttpParser",
           "H11Parser", "response_parser", "HAVE_HTTPTOOLS", "MAX_HEAD"]

try:
    import httptools
except ImportError:  # pragma: no cover - the h11 tests run the fallback anyway
    httptools = None  # type: ignore[assignment]

HAVE_HTTPTOOLS = httptools is not None
# httptools 0.6.2 and later expose llhttp's leniency switches.
_LENIENCIES = hasattr(getattr(httptools, "HttpResponseParser", None), "set_dangerous_leniencies")

# The most a response head may take, 1xx heads before it included (see above).
MAX_HEAD = 64 * 1024


class ResponseHead(NamedTuple):
    """The final response's status line and fields (names lowercased, in order)."""

    status_code: int
    headers: list[tuple[bytes, bytes]]
    http_version: bytes = b"1.1"
    reason: bytes = b""


class Data(NamedTuple):
    """A piece of the response body, as it came (one per chunk of a chunked body)."""

    data: bytes


class EndOfResponse(NamedTuple):
    """The response is complete; keep_alive: the connection may carry another request."""

    keep_alive: bool


class Continue(NamedTuple):
    """The upstream said 100 (Continue) to a request that expected it: send the body."""


Event = ResponseHead | Data | EndOfResponse | Continue


class ResponseError(Exception):
    """The upstream did not send a valid, complete response."""


class MalformedResponse(ResponseError):
    """What the upstream sent is not an HTTP/1.1 response; str() is the parser's reason."""


class IncompleteResponse(ResponseError):
    """The upstream closed the connection before the response was complete."""


class ResponseParser(Protocol):
    """Fed the bytes of one response as they arrive; hands back its events."""

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data`; the events it completes (MalformedResponse if invalid)."""

    def feed_eof(self) -> list[Event]:
        """The upstream closed: EndOfResponse for a body that ends so, else IncompleteResponse."""


def response_parser(head_request: bool = False, expect_continue: bool = False, *,
                    prefer_h11: bool = False) -> ResponseParser:
    """A parser for the response to one request (`head_request`: it was a HEAD;
    `expect_continue`: it carried Expect: 100-continue, so a 100 is a `Continue`)."""
    if httptools is not None and not prefer_h11:
        return LlhttpParser(head_request, expect_continue)
    return H11Parser(head_request, expect_continue)


def _has_close(connection: bytes) -> bool:
    """Whether Connection field values name the `close` option (RFC 9112 9.6)."""
    return any(token.strip().lower() == b"close" for token in connection.split(b","))


# Where a LlhttpParser is in its response.
_HEAD, _BODY, _DONE = 0, 1, 2
_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}


class LlhttpParser:
    """ResponseParser on llhttp (httptools). Its callbacks collect the events of one feed.

    llhttp never learns the request method, so after the head of a response to HEAD this
    class ends the response itself and ignores what llhttp then takes for a body.
    """

    __slots__ = ("_parser", "_head_request", "_events", "_state", "_headers", "_reason",
                 "_interim", "_head_size", "_connection", "_codings", "_length",
                 "_close_delimited", "_keep_alive", "_after", "_error", "_continue")

    def __init__(self, head_request: bool = False, expect_continue: bool = False) -> None:
        assert httptools is not None, "httptools is not installed"
        self._parser = httptools.HttpResponseParser(self)
        if _LENIENCIES:
            # RFC 9112 2.2: a recipient MAY take a bare LF as a line end; h11 does. The
            # head is re-serialised by the server in front, so this cannot smuggle.
            self._parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
        self._head_request = head_request
        self._events: list[Event] = []
        self._state = _HEAD
        self._head_size = 0
        self._interim = False          # the head being read is a 1xx
        self._close_delimited = False
        self._keep_alive = False
        self._after = False            # bytes arrived after the response ended
        self._error: str | None = None
        self._continue = expect_continue   # a 100 is still to be reported
        self._start_head()

    def _start_head(self) -> None:
        self._headers: list[tuple[bytes, bytes]] = []
        self._reason = b""
        # The fields that decide framing and persistence, as they go by.
        self._connection: bytes | None = None
        self._codings: bytes | None = None
        self._length = False

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data`; the events it completes (MalformedResponse if invalid)."""
        if self._state == _DONE:
            self._after = self._after or bool(data)
            return []
        if self._state == _HEAD:
            room = MAX_HEAD - self._head_size
            if len(data) > room:
                # The head must end within the limit: parse up to it, then the rest.
                self._head_size = MAX_HEAD
                self._parse(data[:room])
                if self._state == _HEAD:
                    raise MalformedResponse(f"response head longer than {MAX_HEAD} bytes")
                data = data[room:]
                if self._state == _DONE:
                    self._after = self._after or bool(data)
                    data = b""
            else:
                self._head_size += len(data)
        if data:
            self._parse(data)
        events = self._events
        if events:
            self._events = []
            if self._after and type(events[-1]) is EndOfResponse:
                events[-1] = EndOfResponse(False)
        return events

    def _parse(self, data: bytes) -> None:
        """Give llhttp `data`; its callbacks collect the events (MalformedResponse if invalid)."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._error = self._error or "unexpected 101 Switching Protocols"
        except httptools.HttpParserError as exc:
            if self._state != _DONE or self._error:
                raise MalformedResponse(self._error or str(exc) or type(exc).__name__) from None
            self._after = True         # e.g. "Data after `Connection: close`"
        if self._error and self._state != _DONE:
            raise MalformedResponse(self._error)

    def feed_eof(self) -> list[Event]:
        """The upstream closed: EndOfResponse for a body that ends so, else IncompleteResponse."""
        if self._state == _BODY and self._close_delimited:
            self._state = _DONE
            return [EndOfResponse(False)]
        if self._state != _DONE:
            raise IncompleteResponse("the connection closed before the response was complete")
        return []

    # llhttp callbacks (httptools looks them up by name; each call costs, so only these)

    def on_message_begin(self) -> None:
        if self._state == _DONE:       # the first byte of something after the response
            self._after = True
            raise _Stop

    def on_status(self, status: bytes) -> None:
        self._reason += status         # may come in pieces, as the bytes arrive

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._state != _HEAD:
            return                     # chunked trailers: not forwarded
        name = name.lower()
        if value and value[-1] in (32, 9):
            value = value.rstrip(b" \t")   # llhttp drops leading whitespace, h11 both
        self._headers.append((name, value))
        if name == b"content-length":
            self._length = True
        elif name == b"transfer-encoding":
            self._codings = value      # the last field's last coding decides
        elif name == b"connection":
            self._connection = value if self._connection is None \
                else self._connection + b"," + value

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if status < 200:
            if status == 101:
                self._error = "unexpected 101 Switching Protocols"
                raise _Stop
            self._interim = True       # skipped; its end is not the response's
            if status == 100 and self._continue:
                self._continue = False
                self._events.append(Continue())
            return
        self._state = _BODY
        version = parser.get_http_version()
        if self._head_request or status == 204 or status == 304:
            close_delimited = False
        elif self._codings is not None:
            close_delimited = self._codings.rsplit(b",", 1)[-1].strip().lower() != b"chunked"
        else:
            close_delimited = not self._length
        self._close_delimited = close_delimited
        self._keep_alive = (version == "1.1" and not close_delimited
                            and (self._connection is None or not _has_close(self._connection)))
        self._events.append(ResponseHead(status, self._headers,
                                         _VERSIONS.get(version) or version.encode("ascii"),
                                         self._reason))
        if self._head_request:
            self._end()

    def on_body(self, body: bytes) -> None:
        if self._state == _BODY:
            self._events.append(Data(body))
        elif self._state == _DONE:
            self._after = True         # what llhttp takes for the body of a HEAD response

    def on_message_complete(self) -> None:
        if self._state == _BODY:
            self._end()
        elif self._interim:
            self._interim = False
            self._start_head()

    def _end(self) -> None:
        self._state = _DONE
        self._events.append(EndOfResponse(self._keep_alive))


class _Stop(Exception):
    """Raised in a callback to stop llhttp; the parser's own state says why."""


class H11Parser:
    """ResponseParser on h11, for when httptools is not installed."""

    __slots__ = ("_conn", "_done", "_headed", "_head_size", "_continue")

    def __init__(self, head_request: bool = False, expect_continue: bool = False) -> None:
        # h11's own limit counts one head at a time, and only while it is incomplete;
        # this class counts every head byte up to the final head's end (MAX_HEAD).
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        # h11 learns the method (HEAD: no body) from the request it sent: show it one.
        self._conn.send(h11.Request(method=b"HEAD" if head_request else b"GET", target=b"/",
                                    headers=[(b"host", b"upstream")]))
        self._conn.send(h11.EndOfMessage())
        self._done = False
        self._headed = False           # the final response head was read
        self._head_size = 0
        self._continue = expect_continue   # a 100 is still to be reported

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data`; the events it completes (MalformedResponse if invalid)."""
        if self._done or not data:
            return []                  # (h11 would take b"" for the end of the connection)
        if not self._headed:
            room = MAX_HEAD - self._head_size
            if len(data) > room:
                # The head must end within the limit: parse up to it, then the rest.
                self._head_size = MAX_HEAD
                if room:               # (b"" would be the end of the connection to h11)
                    self._conn.receive_data(data[:room])
                events = self._events(eof=False)
                if not self._headed:
                    raise MalformedResponse(f"response head longer than {MAX_HEAD} bytes")
                rest = data[room:]
                if rest:
                    if self._done:     # bytes after the response: not reusable
                        events[-1] = EndOfResponse(False)
                    else:
                        self._conn.receive_data(rest)
                        events += self._events(eof=False)
                return events
            self._head_size += len(data)
        self._conn.receive_data(data)
        return self._events(eof=False)

    def feed_eof(self) -> list[Event]:
        """The upstream closed: EndOfResponse for a body that ends so, else IncompleteResponse."""
        if self._done:
            return []
        self._conn.receive_data(b"")
        return self._events(eof=True)

    def _events(self, eof: bool) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                if eof:
                    raise IncompleteResponse(str(exc)) from None
                raise MalformedResponse(str(exc)) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return events
            if isinstance(event, h11.Data):
                events.append(Data(bytes(event.data)))
            elif isinstance(event, h11.Response):
                self._headed = True
                events.append(ResponseHead(event.status_code, list(event.headers),
                                           event.http_version, event.reason))
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                conn = self._conn
                keep = (not eof and conn.their_state is h11.DONE
                        and not conn.trailing_data[0])
                events.append(EndOfResponse(keep))
                return events
            elif isinstance(event, h11.ConnectionClosed):
                raise IncompleteResponse("the connection closed before the response")
            elif (self._continue and isinstance(event, h11.InformationalResponse)
                  and event.status_code == 100):
                self._continue = False
                events.append(Continue())
            # Any other InformationalResponse: skipped.
