"""The fold from events to flows: endings, bodies, WebSocket sessions, lifespan, robustness."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.events.model import Event
from inspector.flows.fold import FlowFolder, fold_events
from inspector.flows.model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    COMPLETE,
    INCOMPLETE,
    OPEN,
    REFUSED,
    Flow,
    WsMessage,
)

HOST = [(b"host", b"example.test")]
BOOM = {"type": "builtins.RuntimeError", "message": "boom", "traceback": "Traceback ..."}


class Script:
    """Builds events with increasing seq; event n happens at time n (exact floats)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, conn: int, kind: str, message: Any, truncated: int | None = None) -> Event:
        event = Event(len(self.events), conn, float(len(self.events)), kind, message, truncated)
        self.events.append(event)
        return event

    def scope(self, conn: int, type: str = "http", **scope: Any) -> Event:
        if type == "http":
            scope = {"method": "GET", "path": "/", "headers": HOST, **scope}
        elif type == "websocket":
            scope = {"path": "/ws", "headers": HOST, **scope}
        return self.add(conn, "scope", {"type": type, **scope})

    def recv(self, conn: int, type: str, truncated: int | None = None, **msg: Any) -> Event:
        return self.add(conn, "receive", {"type": type, **msg}, truncated)

    def send(self, conn: int, type: str, truncated: int | None = None, **msg: Any) -> Event:
        return self.add(conn, "send", {"type": type, **msg}, truncated)

    def exit(self, conn: int, exception: dict[str, str] | None = None) -> Event:
        # A clean return is recorded as message None (see Recorder.exit).
        message = None if exception is None else {"type": "inspector.exit",
                                                  "exception": exception}
        return self.add(conn, "exit", message)

    def fold(self, body_cap: int = 1 << 20) -> list[Flow]:
        return fold_events(self.events, body_cap=body_cap)

    def one(self, body_cap: int = 1 << 20) -> Flow:
        (flow,) = self.fold(body_cap)
        return flow


def respond(s: Script, conn: int, status: int, *chunks: bytes, **start: Any) -> None:
    s.send(conn, "http.response.start", status=status, headers=[(b"x", b"y")], **start)
    for i, chunk in enumerate(chunks):
        s.send(conn, "http.response.body", body=chunk, more_body=i < len(chunks) - 1)


# -- HTTP -----------------------------------------------------------------------------------

def test_get_with_streamed_response() -> None:
    s = Script()
    s.scope(7, method="GET", path="/a b", raw_path=b"/a%20b", query_string=b"q=1",
            headers=[[b"host", b"example.test"], [b"accept", b"*/*"]], client=["10.0.0.1", 5000],
            server=("127.0.0.1", 8000), scheme="https", http_version="2", root_path="/api")
    s.recv(7, "http.request", body=b"", more_body=False)                           # t=1
    s.send(7, "http.response.start", status=200,
           headers=[(b"content-type", b"text/event-stream")])                      # t=2
    s.send(7, "http.response.body", body=b"data: 1\n\n", more_body=True)
    s.send(7, "http.response.body", body=b"data: 2\n\n", more_body=True)
    s.send(7, "http.response.body", body=b"", more_body=False)                     # t=5
    s.exit(7)                                                                      # t=6
    f = s.one()
    assert (f.conn, f.type, f.method, f.path, f.raw_path, f.query, f.root_path) == \
        (7, "http", "GET", "/a b", b"/a%20b", b"q=1", "/api")
    assert (f.scheme, f.http_version, f.client, f.server) == \
        ("https", "2", ("10.0.0.1", 5000), ("127.0.0.1", 8000))
    assert f.request_headers == [(b"host", b"example.test"), (b"accept", b"*/*")]
    assert f.url == "https://example.test/api/a b?q=1"
    assert f.status == 200 and f.is_sse
    assert f.response_body == b"data: 1\n\ndata: 2\n\n" and f.response_body_size == 18
    assert not f.response_body_truncated and f.request_body == b""
    assert (f.start, f.request_done, f.response_start, f.end) == (0.0, 1.0, 2.0, 5.0)
    assert f.ttfb == 2.0 and f.duration == 5.0
    assert f.state == COMPLETE and f.app_exited and f.exception is None
    assert f.event_seqs == list(range(7))


def test_notes_on_the_response_start_become_flow_notes() -> None:
    s = Script()
    s.scope(1)
    respond(s, 1, 200, b"ok", **{"asgi_inspector.notes": ["sent twice", 3, b"x"]})
    s.scope(2)
    respond(s, 2, 200, b"ok", **{"asgi_inspector.notes": "not a list"})
    first, second = s.fold()
    assert first.notes == ("sent twice",) and second.notes == ()


def test_scope_defaults() -> None:
    s = Script()
    s.add(1, "scope", {"type": "http"})
    s.add(2, "scope", {"type": "websocket"})
    http, ws = s.fold()
    assert (http.scheme, http.http_version, http.method, http.client) == ("http", "1.1", "", None)
    assert (ws.scheme, ws.subprotocols, ws.state) == ("ws", [], OPEN)
    # A unix socket server is [path, None] (ASGI www spec).
    s.scope(3, server=["/tmp/app.sock", None])
    assert s.fold()[2].server == ("/tmp/app.sock", 0)


def test_post_with_chunked_request_body() -> None:
    s = Script()
    s.scope(1, method="POST")
    s.recv(1, "http.request", body=b"abc", more_body=True)
    s.recv(1, "http.request", body=b"", more_body=True)
    s.recv(1, "http.request", body=b"def")                      # more_body defaults to False
    respond(s, 1, 201, b"ok")
    f = s.one()
    assert f.method == "POST" and f.request_body == b"abcdef" and f.request_body_size == 6
    assert f.request_done == 3.0 and not f.request_body_truncated
    assert f.state == COMPLETE and f.end == 5.0 and f.status == 201


def test_head_and_204_have_empty_bodies() -> None:
    s = Script()
    s.scope(1, method="HEAD")
    s.send(1, "http.response.start", status=200, headers=[(b"content-length", b"42")])
    s.send(1, "http.response.body")
    s.scope(2, method="DELETE")
    respond(s, 2, 204, b"")
    head, deleted = s.fold()
    for f in head, deleted:
        assert f.state == COMPLETE and f.response_body == b"" and f.response_body_size == 0
    assert head.status == 200 and head.end == 2.0 and deleted.status == 204


def test_500_sent_then_raised_is_complete_with_exception() -> None:
    # Starlette's ServerErrorMiddleware sends the 500 in full, then re-raises.
    s = Script()
    s.scope(1)
    respond(s, 1, 500, b"Internal Server Error")
    s.exit(1, BOOM)
    f = s.one()
    assert f.state == COMPLETE and f.status == 500 and f.end == 2.0
    assert f.exception is not None and f.exception.type == "builtins.RuntimeError"
    assert (f.exception.message, f.exception.traceback) == ("boom", "Traceback ...")


def test_exception_before_or_during_response_is_app_exception() -> None:
    s = Script()
    s.scope(1)
    s.exit(1, BOOM)
    s.scope(2)
    s.send(2, "http.response.start", status=200)
    s.send(2, "http.response.body", body=b"part", more_body=True)
    s.exit(2, {"type": "ValueError", "message": "mid-stream"})
    before, during = s.fold()
    assert before.state == APP_EXCEPTION and before.status is None and before.end == 1.0
    assert during.state == APP_EXCEPTION and during.status == 200 and during.end == 5.0
    assert during.response_body == b"part" and during.exception is not None
    assert during.exception.message == "mid-stream" and during.exception.traceback == ""


def test_clean_exit_without_finishing_is_incomplete() -> None:
    s = Script()
    s.scope(1)
    s.send(1, "http.response.start", status=200)
    s.send(1, "http.response.body", body=b"x", more_body=True)
    s.add(1, "exit", {"type": "inspector.exit", "exception": None})
    f = s.one()
    assert f.state == INCOMPLETE and f.end == 3.0 and f.app_exited and f.exception is None


def test_open_until_an_ending() -> None:
    s = Script()
    s.scope(1)
    s.send(1, "http.response.start", status=200)
    f = s.one()
    assert f.state == OPEN and f.end is None and f.duration is None and not f.app_exited


def test_client_disconnect_mid_stream() -> None:
    s = Script()
    s.scope(1)
    s.recv(1, "http.request")
    s.send(1, "http.response.start", status=200)
    s.send(1, "http.response.body", body=b"tick", more_body=True)
    s.recv(1, "http.disconnect")                                                  # t=4
    s.send(1, "http.response.body", body=b"tock", more_body=False)  # server drops it
    s.exit(1, {"type": "OSError", "message": "client gone"})
    f = s.one()
    assert f.state == CLIENT_DISCONNECTED and f.end == 4.0
    # Facts after the ending are still recorded.
    assert f.response_body == b"ticktock" and f.exception is not None and f.app_exited


def test_disconnect_after_complete_response_stays_complete() -> None:
    s = Script()
    s.scope(1)
    respond(s, 1, 200, b"hello")
    s.recv(1, "http.disconnect")       # uvicorn answers a late receive() with this
    s.exit(1)
    f = s.one()
    assert f.state == COMPLETE and f.end == 2.0 and f.event_seqs == [0, 1, 2, 3, 4]


def test_trailers_end_the_response() -> None:
    s = Script()
    s.scope(1)
    s.send(1, "http.response.start", status=200, trailers=True)
    s.send(1, "http.response.body", body=b"data")
    assert s.one().state == OPEN          # trailers announced, not yet sent
    s.send(1, "http.response.trailers", headers=[(b"grpc-status", b"0")], more_trailers=True)
    s.send(1, "http.response.trailers", headers=[[b"x-checksum", b"abc"]])
    f = s.one()
    assert f.state == COMPLETE and f.end == 4.0
    assert f.response_trailers == [(b"grpc-status", b"0"), (b"x-checksum", b"abc")]


def test_second_response_start_is_ignored() -> None:
    s = Script()
    s.scope(1)
    s.send(1, "http.response.start", status=200)
    s.send(1, "http.response.start", status=500)
    assert s.one().status == 200 and s.one().response_start == 1.0


# -- bodies: truncation and cap -------------------------------------------------------------

def test_truncated_chunks_count_their_original_length() -> None:
    s = Script()
    s.scope(1, method="PUT")
    s.recv(1, "http.request", body=b"abcd", more_body=True, truncated=1000)
    s.recv(1, "http.request", body=b"efg", more_body=False)
    respond(s, 1, 200, b"whole")
    f = s.one()
    assert f.request_body_size == 1003 and f.request_body_truncated
    # The body stays a prefix of the true body: nothing after the cut is appended.
    assert f.request_body == b"abcd"
    assert f.response_body_size == 5 and not f.response_body_truncated


def test_body_cap() -> None:
    s = Script()
    s.scope(1)
    respond(s, 1, 200, b"abc", b"def", b"gh")
    f = s.one(body_cap=5)
    assert f.response_body == b"abcde" and f.response_body_size == 8
    assert f.response_body_truncated
    exact = s.one(body_cap=8)
    assert exact.response_body == b"abcdefgh" and not exact.response_body_truncated
    nothing = s.one(body_cap=0)
    assert nothing.response_body == b"" and nothing.response_body_size == 8


def test_live_flows_show_the_body_so_far() -> None:
    s = Script()
    s.scope(1)
    s.send(1, "http.response.start", status=200)
    folder = FlowFolder()
    for event in s.events:
        folder.add(event)
    seen = []
    for i in range(4):
        flow = folder.add(s.send(1, "http.response.body", body=b"%d" % i, more_body=True))
        assert flow is not None
        seen.append(flow.response_body)
    assert seen == [b"0", b"01", b"012", b"0123"]
    (batch_flow,) = folder.extend([s.send(1, "http.response.body", body=b"4", more_body=True),
                                   s.send(1, "http.response.body", body=b"5", more_body=True)])
    assert batch_flow.response_body == b"012345" and batch_flow.state == OPEN


# -- WebSocket ------------------------------------------------------------------------------

def test_websocket_session_closed_by_app() -> None:
    s = Script()
    s.scope(1, "websocket", subprotocols=["chat", "superchat"])
    s.recv(1, "websocket.connect")
    s.send(1, "websocket.accept", subprotocol="chat", headers=[(b"x-ws", b"1")])      # t=2
    s.recv(1, "websocket.receive", text="héllo")                                       # t=3
    s.recv(1, "websocket.receive", bytes=b"\x00\x01", text=None)
    s.send(1, "websocket.send", text="hi")
    s.send(1, "websocket.send", bytes=b"\xff")
    s.send(1, "websocket.close", code=4000, reason="bye")                              # t=7
    s.recv(1, "websocket.disconnect", code=4000)        # what follows the app's close
    s.exit(1)
    f = s.one()
    assert f.type == "websocket" and f.subprotocols == ["chat", "superchat"]
    assert f.accepted and f.subprotocol == "chat" and f.status == 101
    assert f.response_headers == [(b"x-ws", b"1")] and f.response_start == 2.0
    assert f.messages == [
        WsMessage("in", 3.0, "héllo", None, 6),          # size is the UTF-8 length
        WsMessage("in", 4.0, None, b"\x00\x01", 2),
        WsMessage("out", 5.0, "hi", None, 2),
        WsMessage("out", 6.0, None, b"\xff", 1),
    ]
    assert f.messages[0].is_text and not f.messages[1].is_text
    assert (f.close_code, f.close_reason, f.closed_by) == (4000, "bye", "app")
    assert f.state == COMPLETE and f.end == 7.0 and f.url == "ws://example.test/ws"


def test_websocket_closed_by_client() -> None:
    s = Script()
    s.scope(1, "websocket", http_version="2")
    s.send(1, "websocket.accept")
    s.recv(1, "websocket.disconnect", code=1001, reason="going away")
    s.send(1, "websocket.close")          # too late: the client closed first
    s.exit(1)
    f = s.one()
    assert f.status == 200                # RFC 8441: WebSockets over HTTP/2 answer 200
    assert (f.close_code, f.close_reason, f.closed_by) == (1001, "going away", "client")
    assert f.state == CLIENT_DISCONNECTED and f.end == 2.0


def test_websocket_close_code_defaults() -> None:
    s = Script()
    s.scope(1, "websocket")
    s.send(1, "websocket.accept")
    s.send(1, "websocket.close")                 # ASGI: code defaults to 1000
    s.scope(2, "websocket")
    s.send(2, "websocket.accept")
    s.recv(2, "websocket.disconnect")            # ASGI: no code received -> 1005
    by_app, by_client = s.fold()
    assert (by_app.close_code, by_app.close_reason, by_app.state) == (1000, "", COMPLETE)
    assert (by_client.close_code, by_client.state) == (1005, CLIENT_DISCONNECTED)


def test_websocket_close_before_accept_is_refused() -> None:
    s = Script()
    s.scope(1, "websocket")
    s.recv(1, "websocket.connect")
    s.send(1, "websocket.close", code=1008)
    s.send(1, "websocket.accept")                # the server refuses this; so do we
    s.exit(1)
    f = s.one()
    assert f.state == REFUSED and not f.accepted and f.status == 403
    assert f.closed_by == "app" and f.close_code == 1008 and f.end == 2.0


def test_websocket_denial_response_is_refused() -> None:
    s = Script()
    s.scope(1, "websocket")
    s.recv(1, "websocket.connect")
    s.send(1, "websocket.http.response.start", status=401,
           headers=[(b"www-authenticate", b"Bearer")])
    s.send(1, "websocket.http.response.body", body=b"no ", more_body=True)
    assert s.one().state == OPEN
    s.send(1, "websocket.http.response.body", body=b"entry")
    s.exit(1)
    f = s.one()
    assert f.state == REFUSED and f.status == 401 and not f.accepted and f.end == 4.0
    assert f.response_headers == [(b"www-authenticate", b"Bearer")]
    assert f.response_body == b"no entry" and f.response_start == 2.0


def test_websocket_exit_without_close() -> None:
    s = Script()
    s.scope(1, "websocket")
    s.send(1, "websocket.accept")
    s.exit(1)
    s.scope(2, "websocket")
    s.send(2, "websocket.accept")
    s.exit(2, BOOM)
    clean, raised = s.fold()
    assert clean.state == INCOMPLETE and clean.end == 2.0 and clean.close_code is None
    assert raised.state == APP_EXCEPTION and raised.exception is not None


def test_truncated_websocket_messages_keep_original_size() -> None:
    s = Script()
    s.scope(1, "websocket")
    s.send(1, "websocket.accept")
    s.recv(1, "websocket.receive", bytes=b"abcd", truncated=4096)
    s.send(1, "websocket.send", text="ab", truncated=5000)
    a, b = s.one().messages
    assert (a.size, a.truncated, a.data) == (4096, True, b"abcd")
    assert (b.size, b.truncated, b.text) == (5000, True, "ab")


# -- lifespan -------------------------------------------------------------------------------

def test_lifespan_startup_and_shutdown() -> None:
    s = Script()
    s.scope(0, "lifespan")
    s.recv(0, "lifespan.startup")
    s.send(0, "lifespan.startup.complete")
    s.recv(0, "lifespan.shutdown")
    s.send(0, "lifespan.shutdown.complete")
    s.exit(0)
    f = s.one()
    assert f.type == "lifespan" and f.state == COMPLETE and f.end == 4.0
    assert f.lifespan_messages == ["lifespan.startup", "lifespan.startup.complete",
                                   "lifespan.shutdown", "lifespan.shutdown.complete"]
    assert f.response_start == 2.0 and f.app_exited


def test_lifespan_failures() -> None:
    s = Script()
    s.scope(0, "lifespan")
    s.recv(0, "lifespan.startup")
    s.send(0, "lifespan.startup.failed", message="no database")
    s.scope(1, "lifespan")
    s.recv(1, "lifespan.startup")
    s.send(1, "lifespan.startup.complete")
    s.recv(1, "lifespan.shutdown")
    s.send(1, "lifespan.shutdown.failed", message="flush failed")
    s.exit(1, BOOM)             # the raised exception (with traceback) replaces the message
    s.scope(2, "lifespan")
    s.exit(2, {"type": "AssertionError", "message": ""})   # an app without lifespan support
    startup, shutdown, unsupported = s.fold()
    assert startup.state == APP_EXCEPTION and startup.end == 2.0 and not startup.app_exited
    assert startup.exception is not None
    assert (startup.exception.type, startup.exception.message) == \
        ("lifespan.startup.failed", "no database")
    assert shutdown.state == APP_EXCEPTION and shutdown.end == 7.0
    assert shutdown.exception is not None and shutdown.exception.message == "boom"
    assert unsupported.state == APP_EXCEPTION and unsupported.lifespan_messages == []


# -- the folder -----------------------------------------------------------------------------

def test_orphans_are_counted_not_folded() -> None:
    s = Script()
    s.recv(1, "http.request")                # its scope was dropped by the ring buffer
    s.scope(2)
    s.send(1, "http.response.start", status=200)
    folder = FlowFolder()
    assert folder.add(s.events[0]) is None
    assert [f.conn for f in folder.extend(s.events[1:])] == [2]
    assert folder.orphans == 2 and list(folder.flows) == [("", 2)]


def test_interleaved_connections_and_sources() -> None:
    s = Script()
    s.scope(1)
    s.scope(2, path="/two")
    respond(s, 2, 200, b"two")
    respond(s, 1, 404, b"one")
    folder = FlowFolder()
    touched = folder.extend(s.events[:3])
    assert [f.conn for f in touched] == [1, 2]
    assert [f.conn for f in folder.extend(s.events[3:])] == [2, 1]
    one, two = folder.get("", 1), folder.get("", 2)
    assert one is not None and two is not None
    assert (one.status, one.response_body, one.event_seqs) == (404, b"one", [0, 4, 5])
    assert (two.status, two.response_body, two.event_seqs) == (200, b"two", [1, 2, 3])
    # The same conn id from another process is another flow.
    folder.extend(s.events[:1], source="worker-2")
    other = folder.get("worker-2", 1)
    assert other is not None and other.source == "worker-2" and other is not one
    assert list(folder.flows) == [("", 1), ("", 2), ("worker-2", 1)]
    assert folder.get("worker-2", 2) is None


def test_reused_conn_id_starts_a_new_flow() -> None:
    s = Script()
    s.scope(1, path="/old")
    s.scope(2)
    s.scope(1, path="/new")
    folder = FlowFolder()
    folder.extend(s.events)
    assert [(k, f.path) for k, f in folder.flows.items()] == [(("", 2), "/"), (("", 1), "/new")]


def test_unknown_and_malformed_messages_are_only_recorded() -> None:
    s = Script()
    s.scope(1)
    s.send(1, "http.response.zstd")                     # unknown type
    s.add(1, "send", {"status": 200})                   # no type
    s.add(1, "send", {"type": ["http.response.start"]})  # unhashable type
    s.send(1, "http.response.start", status="200", headers=[(b"a",), b"junk", (1, 2)])
    s.send(1, "http.response.body", body="text, not bytes", more_body=None)
    s.add(1, "weird-kind", {"type": "http.response.body"})
    s.add(1, "receive", "not a dict")
    s.add(7, "scope", {"type": "webtransport"})         # a scope type we do not fold
    s.recv(7, "webtransport.datagram")
    f = s.one()
    assert f.event_seqs == [0, 1, 2, 3, 4, 5, 6, 7]
    assert f.status is None and f.response_headers == [] and f.state == COMPLETE
    assert f.response_body == b"text, not bytes"
    folder = FlowFolder()
    folder.extend(s.events)
    assert folder.ignored == 2 and folder.orphans == 0


# -- properties -----------------------------------------------------------------------------

chunk_st = st.tuples(st.binary(max_size=12), st.none() | st.integers(1, 40))
ws_payload = st.one_of(st.binary(max_size=8).map(lambda b: {"bytes": b}),
                       st.text(max_size=8).map(lambda t: {"text": t}))


@st.composite
def connection(draw: st.DrawFn) -> list[tuple[str, Any, int | None]]:
    """One valid connection's (kind, message, truncated) in order, with a random ending."""
    kind = draw(st.sampled_from(["http", "http", "websocket", "lifespan"]))
    exc = draw(st.none() | st.just(BOOM))
    out: list[tuple[str, Any, int | None]] = []
    if kind == "http":
        out.append(("scope", {"type": "http", "method": "POST", "path": "/p",
                              "headers": HOST}, None))
        chunks = draw(st.lists(chunk_st, min_size=1, max_size=4))
        for i, (body, cut) in enumerate(chunks):
            out.append(("receive", {"type": "http.request", "body": body,
                                    "more_body": i < len(chunks) - 1},
                        None if cut is None else len(body) + cut))
        if draw(st.booleans()):
            out.append(("send", {"type": "http.response.start", "status": 200,
                                 "headers": []}, None))
            chunks = draw(st.lists(chunk_st, max_size=4))
            for i, (body, cut) in enumerate(chunks):
                out.append(("send", {"type": "http.response.body", "body": body,
                                     "more_body": i < len(chunks) - 1 or draw(st.booleans())},
                            None if cut is None else len(body) + cut))
        if draw(st.booleans()):
            out.append(("receive", {"type": "http.disconnect"}, None))
    elif kind == "websocket":
        out.append(("scope", {"type": "websocket", "path": "/ws"}, None))
        out.append(("receive", {"type": "websocket.connect"}, None))
        if draw(st.booleans()):
            out.append(("send", {"type": "websocket.accept"}, None))
            for direction, payload in draw(st.lists(st.tuples(st.booleans(), ws_payload),
                                                    max_size=4)):
                out.append(("receive" if direction else "send",
                            {"type": "websocket.receive" if direction else "websocket.send",
                             **payload}, None))
        ending = draw(st.sampled_from(["close", "disconnect", None]))
        if ending == "close":
            out.append(("send", {"type": "websocket.close", "code": 1000}, None))
        elif ending == "disconnect":
            out.append(("receive", {"type": "websocket.disconnect", "code": 1001}, None))
    else:
        out.append(("scope", {"type": "lifespan"}, None))
        steps = ["lifespan.startup", "lifespan.startup.complete", "lifespan.shutdown",
                 draw(st.sampled_from(["lifespan.shutdown.complete",
                                       "lifespan.shutdown.failed"]))]
        for t in steps[:draw(st.integers(0, 4))]:
            out.append(("receive" if t.count(".") == 1 else "send", {"type": t}, None))
    if draw(st.booleans()):
        out.append(("exit", None if exc is None else {"type": "inspector.exit",
                                                      "exception": exc}, None))
    return out


@st.composite
def interleaved(draw: st.DrawFn) -> tuple[list[Event], dict[int, list[Event]]]:
    scripts = draw(st.lists(connection(), min_size=1, max_size=5))
    order = draw(st.permutations([c for c, script in enumerate(scripts) for _ in script]))
    positions = [0] * len(scripts)
    events: list[Event] = []
    per_conn: dict[int, list[Event]] = {c: [] for c in range(len(scripts))}
    for c in order:
        kind, message, truncated = scripts[c][positions[c]]
        positions[c] += 1
        event = Event(len(events), c, len(events) * 0.25, kind, message, truncated)
        events.append(event)
        per_conn[c].append(event)
    return events, per_conn


@settings(max_examples=150, deadline=None)
@given(interleaved(), st.integers(0, 24), st.lists(st.integers(1, 6), max_size=20))
def test_fold_is_the_same_live_batched_and_per_connection(
        case: tuple[list[Event], dict[int, list[Event]]], cap: int, cuts: list[int]) -> None:
    events, per_conn = case
    at_once = fold_events(events, body_cap=cap)

    one_by_one = FlowFolder(cap)
    for event in events:
        assert one_by_one.add(event) is not None
    assert list(one_by_one.flows.values()) == at_once

    batched, i = FlowFolder(cap), 0
    for n in cuts + [len(events)]:
        batched.extend(events[i:i + n])
        i += n
    assert list(batched.flows.values()) == at_once

    alone = {c: fold_events(conn_events, body_cap=cap) for c, conn_events in per_conn.items()}
    assert {c: flows[0] for c, flows in alone.items()} == {f.conn: f for f in at_once}


@settings(max_examples=150, deadline=None)
@given(interleaved())
def test_a_summary_fold_is_the_full_fold_without_the_history(
        case: tuple[list[Event], dict[int, list[Event]]]) -> None:
    events, _ = case
    full = fold_events(events, body_cap=0)
    summary = FlowFolder(0, details=False)
    summary.extend(events)
    for f in full:   # the counters agree with the messages the full fold keeps
        for direction in ("in", "out"):
            kept = [m for m in f.messages if m.direction == direction]
            assert getattr(f, f"messages_{direction}") == len(kept)
            assert getattr(f, f"message_bytes_{direction}") == sum(m.size for m in kept)
    assert list(summary.flows.values()) == [
        dataclasses.replace(f, messages=[], event_seqs=f.event_seqs[:1]) for f in full]


def test_a_long_websocket_session_folded_as_a_summary_keeps_nothing_per_message() -> None:
    s = Script()
    s.scope(1, "websocket")
    s.send(1, "websocket.accept")
    for i in range(10_000):
        s.recv(1, "websocket.receive", text="x" * 100)
        s.send(1, "websocket.send", bytes=b"y" * 50)
    folder = FlowFolder(0, details=False)
    folder.extend(s.events)
    (flow,) = folder.flows.values()
    assert flow.messages == [] and flow.event_seqs == [0]
    assert (flow.messages_in, flow.messages_out) == (10_000, 10_000)
    assert (flow.request_size, flow.response_size) == (1_000_000, 500_000)


@settings(max_examples=150, deadline=None)
@given(st.lists(chunk_st, max_size=8), st.lists(chunk_st, max_size=8), st.integers(0, 40))
def test_body_sizes_are_the_sum_of_chunk_sizes(
        request: list[tuple[bytes, int | None]], response: list[tuple[bytes, int | None]],
        cap: int) -> None:
    s = Script()
    s.scope(1, method="POST")
    for body, cut in request:
        s.recv(1, "http.request", body=body, more_body=True,
               truncated=None if cut is None else len(body) + cut)
    s.send(1, "http.response.start", status=200)
    for body, cut in response:
        s.send(1, "http.response.body", body=body, more_body=True,
               truncated=None if cut is None else len(body) + cut)
    f = s.one(body_cap=cap)
    for chunks, body, size, truncated in (
            (request, f.request_body, f.request_body_size, f.request_body_truncated),
            (response, f.response_body, f.response_body_size, f.response_body_truncated)):
        assert size == sum(len(b) + (cut or 0) for b, cut in chunks)
        # The body is the chunks up to the first one the capture cut, capped.
        kept = b""
        for b, cut in chunks:
            kept += b
            if cut is not None:
                break
        assert body == kept[:cap]
        assert truncated == (size > len(body))


atom = (st.none() | st.booleans() | st.integers(-2, 70000) | st.floats() | st.text(max_size=6)
        | st.binary(max_size=6))
plain = atom | st.lists(atom, max_size=3) | st.tuples(atom, atom) | st.lists(
    st.tuples(atom, atom) | st.lists(atom, max_size=3), max_size=3) | st.dictionaries(
    st.text(max_size=4), atom, max_size=3)
SPECS = [("receive", "http.request"), ("receive", "http.disconnect"),
         ("send", "http.response.start"), ("send", "http.response.body"),
         ("send", "http.response.trailers"), ("receive", "websocket.connect"),
         ("send", "websocket.accept"), ("receive", "websocket.receive"),
         ("send", "websocket.send"), ("send", "websocket.close"),
         ("receive", "websocket.disconnect"), ("send", "websocket.http.response.start"),
         ("send", "websocket.http.response.body"), ("receive", "lifespan.startup"),
         ("send", "lifespan.startup.complete"), ("send", "lifespan.startup.failed"),
         ("receive", "lifespan.shutdown"), ("send", "lifespan.shutdown.complete"),
         ("send", "lifespan.shutdown.failed"), ("exit", "inspector.exit")]
PROTOCOLS = ["http", "websocket", "lifespan"]   # the scope types of conns 0, 1, 2
KEYS = ["body", "more_body", "status", "headers", "trailers", "more_trailers", "bytes",
        "text", "code", "reason", "subprotocol", "message", "exception", "method", "path",
        "raw_path", "query_string", "client", "server", "scheme", "http_version",
        "root_path", "subprotocols"]
fuzz_keys = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), plain, max_size=5)
fuzz_truncated = st.none() | st.integers(-5, 100)
# Mostly a known message type on a connection of its protocol, with fuzzed keys...
fuzz_known = st.builds(
    lambda spec, conn, rest, truncated: (
        PROTOCOLS.index(spec[1].split(".")[0]) if spec[0] != "exit" else conn,
        spec[0], {**rest, "type": spec[1]}, truncated),
    st.sampled_from(SPECS), st.integers(0, 3), fuzz_keys, fuzz_truncated)
# ...and sometimes anything at all.
fuzz_any = st.tuples(st.integers(0, 3), st.sampled_from(["receive", "send", "exit", "other"]),
                     plain | fuzz_keys | st.builds(lambda t, rest: {**rest, "type": t},
                                                   plain, fuzz_keys), fuzz_truncated)
fuzz_scope = st.builds(lambda rest: rest, st.dictionaries(st.sampled_from(KEYS), plain,
                                                          max_size=6))


@settings(max_examples=120, deadline=None)
@given(st.lists(fuzz_scope, min_size=3, max_size=3), fuzz_any,
       st.lists(fuzz_known | fuzz_known | fuzz_known | fuzz_any, max_size=20))
def test_fold_never_raises_on_fuzzed_messages(
        scopes: list[dict[str, Any]], odd_scope: tuple[int, str, Any, int | None],
        raw: list[tuple[int, str, Any, int | None]]) -> None:
    head: list[tuple[int, str, Any, int | None]] = [
        (conn, "scope", {**scope, "type": PROTOCOLS[conn]}, None)
        for conn, scope in enumerate(scopes)]
    head.append((3, "scope", odd_scope[2], odd_scope[3]))
    events = [Event(i, conn, float(i), kind, message, truncated)
              for i, (conn, kind, message, truncated) in enumerate(head + raw)]
    at_once = fold_events(events, body_cap=16)
    one_by_one = FlowFolder(16)
    for event in events:
        one_by_one.add(event)
    assert list(one_by_one.flows.values()) == at_once
