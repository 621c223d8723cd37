"""The filter language: every term, precedence, quoting, errors with columns, robustness."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inspector.filters.compile
from inspector.events.model import Event
from inspector.filters.compile import KEYS, FilterError, caret_line, compile_filter
from inspector.flows.fold import fold_events
from inspector.flows.model import (
    APP_EXCEPTION,
    CLIENT_DISCONNECTED,
    COMPLETE,
    ENDINGS,
    INCOMPLETE,
    OPEN,
    REFUSED,
    ExceptionInfo,
    Flow,
    WsMessage,
)

HOST = (b"host", b"example.test")
BOOM = ExceptionInfo("builtins.RuntimeError", "boom")


def http(**fields: Any) -> Flow:
    """A finished GET / -> 200 unless told otherwise: ttfb 7.8125 ms, duration 62.5 ms
    (times a float holds exactly)."""
    fields = {"conn": 1, "type": "http", "method": "GET", "path": "/", "scheme": "http",
              "request_headers": [HOST], "status": 200, "start": 10.0,
              "response_start": 10.0078125, "end": 10.0625, "state": COMPLETE, **fields}
    return Flow(**fields)


def ws(*messages: tuple[Literal["in", "out"], str | bytes], **fields: Any) -> Flow:
    """A closed WebSocket session with ("in"|"out", text-or-bytes) messages."""
    msgs = [WsMessage(d, 0.0, m if isinstance(m, str) else None,
                      m if isinstance(m, bytes) else None,
                      len(m.encode() if isinstance(m, str) else m)) for d, m in messages]
    fields = {"conn": 2, "type": "websocket", "path": "/ws", "scheme": "ws",
              "request_headers": [HOST], "accepted": True, "messages": msgs,
              "start": 0.0, "response_start": 0.002, "end": 3.0, "state": COMPLETE, **fields}
    for m in msgs:   # what the fold counts as it keeps them
        fields[f"messages_{m.direction}"] = fields.get(f"messages_{m.direction}", 0) + 1
        fields[f"message_bytes_{m.direction}"] = \
            fields.get(f"message_bytes_{m.direction}", 0) + m.size
    return Flow(**fields)


def analysed(*sends: dict[str, Any], background: float = 0.0, left: bool = False) -> Flow:
    """An HTTP flow with its findings attached, from real events: a GET whose app sends
    `sends`, the client leaving first when `left`, and returns `background` s after."""
    from inspector.findings import analyse

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [HOST],
             "query_string": b"", "asgi": {"version": "3.0"}}
    events = [Event(0, 1, 10.0, "scope", scope),
              Event(1, 1, 10.0, "receive", {"type": "http.request", "body": b""})]
    if left:
        events.append(Event(2, 1, 10.0, "receive", {"type": "http.disconnect"}))
    for message in sends:
        events.append(Event(len(events), 1, 10.0625, "send", message))
    events.append(Event(len(events), 1, 10.0625 + background, "exit",
                        {"type": "inspector.exit", "exception": None}))
    flow = fold_events(events)[0]
    analyse(flow, events)
    return flow


_START = {"type": "http.response.start", "status": 200, "headers": []}
_BODY = {"type": "http.response.body", "body": b"ok"}
CLEAN = analysed(_START, _BODY)
TWICE = analysed(_START, _START, _BODY)                   # HM001, an error
TE = analysed({**_START, "headers": [(b"transfer-encoding", b"chunked")]}, _BODY)  # warning
SLOW = analysed(_START, _BODY, background=0.25)           # TL001, an info
LEFT = analysed(_START, left=True, background=2.0)        # TL002 + TL003
SSE = http(path="/events", response_headers=[(b"content-type", b"text/event-stream")])
LIFESPAN = Flow(conn=0, type="lifespan", state=COMPLETE)


def matches(text: str, flow: Flow) -> bool:
    return compile_filter(text)(flow)


# -- terms: each kind, positive and negative ------------------------------------------------

TERMS: list[tuple[str, Flow, bool]] = [
    # method: exact, either case
    ("method:POST", http(method="POST"), True),
    ("method:post", http(method="POST"), True),
    ("method:POST", http(method="GET"), False),
    ("method:POS", http(method="POST"), False),
    # status: code, class, comparison, range; no status never matches
    ("status:404", http(status=404), True),
    ("status:404", http(status=405), False),
    ("status:=404", http(status=404), True),
    ("status:5xx", http(status=503), True),
    ("status:5XX", http(status=599), True),
    ("status:5xx", http(status=499), False),
    ("status:40x", http(status=409), True),
    ("status:40x", http(status=410), False),
    ("status:>=400", http(status=400), True),
    ("status:>400", http(status=400), False),
    ("status:<300", http(status=299), True),
    ("status:<=300", http(status=301), False),
    ("status:200-299", http(status=204), True),
    ("status:200-299", http(status=300), False),
    ("status:>=100", http(status=None), False),
    ("-status:5xx", http(status=None), True),
    # path: substring, any case; ~ for a regex
    ("path:/api", http(path="/v1/API/items"), True),
    ("path:/api", http(path="/v1/items", query=b"x=/api"), False),
    ("path:~^/api/v[12]/", http(path="/api/v2/x"), True),
    ("path:~^/api/v[12]/", http(path="/api/v3/x"), False),
    ("path:~^/(v1|v2)/", http(path="/v2/x"), True),   # no quotes needed around ( | )
    ("path:~^/(v1|v2)/", http(path="/v3/x"), False),
    ("path:/a(b)", http(path="/a(b)/c"), True),
    ('path:"~x"', http(path="/~x"), True),   # a quoted ~ is text
    ('path:"~x"', http(path="/x"), False),
    # host: the Host header, else the server address
    ("host:example", http(), True),
    ("host:EXAMPLE.test", http(), True),
    ("host:other", http(), False),
    ("host:127.0.0.1:8000", http(request_headers=[], server=("127.0.0.1", 8000)), True),
    ("host:127.0.0.1", http(request_headers=[(b"Host", b"api.test")], server=("127.0.0.1", 80)),
     False),
    ("host:~^api\\.", http(request_headers=[(b"Host", b"api.test")]), True),
    # header: name in request, response or trailers; =value substring; =~regex
    ("header:x-request-id", http(request_headers=[HOST, (b"x-request-id", b"abc")]), True),
    ("header:X-Request-ID", http(response_headers=[(b"X-Request-Id", b"1")]), True),
    ("header:grpc-status", http(response_trailers=[(b"grpc-status", b"0")]), True),
    ("header:x-request-id", http(request_headers=[(b"x-request-idx", b"")]), False),
    ("header:x-request-id=abc", http(request_headers=[(b"x-request-id", b"xxABCxx")]), True),
    ("header:x-request-id=abc", http(request_headers=[(b"x-request-id", b"abd"),
                                                      (b"x-other", b"abc")]), False),
    ('header:"content-type=text/html; charset"',
     http(response_headers=[(b"content-type", b"text/html; charset=utf-8")]), True),
    ("header:content-type=~^text/", http(response_headers=[(b"content-type", b"text/x")]),
     True),
    ("header:content-type=~^text/", http(response_headers=[(b"content-type", b"x/text/")]),
     False),
    # body: request, response, WebSocket text and bytes; any case; bytes that are not UTF-8
    ("body:error", http(request_body=b'{"ERROR": 1}'), True),
    ("body:error", http(response_body=b"an Error occurred"), True),
    ("body:error", http(request_body=b"fine", response_body=b"fine"), False),
    ('body:"two words"', http(response_body=b"say Two Words"), True),
    ('body:"two words"', http(response_body=b"two  words"), False),
    ("body:404", http(response_body=b"\xff\xfe 404 \x80"), True),
    ("body:café", http(response_body="CAFÉ au lait".encode()), True),
    ("body:café", http(response_body=b"caf\xe9"), False),     # Latin-1 bytes are not UTF-8
    ("body:~err(or)?\\b", http(response_body=b"\xffERR!"), True),
    ("body:~err(or)?\\b", http(response_body=b"erro"), False),
    ("body:ping", ws(("in", "PING 1"), ("out", b"pong")), True),
    ("body:pong", ws(("in", "PING 1"), ("out", b"PONG")), True),
    ("body:pang", ws(("in", "PING 1"), ("out", b"PONG")), False),
    # type
    ("type:http", http(), True),
    ("type:http", SSE, True),
    ("type:http", ws(), False),
    ("type:ws", ws(), True),
    ("type:websocket", ws(), True),
    ("type:WS", http(), False),
    ("type:sse", SSE, True),
    ("type:sse", http(), False),
    ("type:lifespan", LIFESPAN, True),
    ("type:lifespan", http(), False),
    # duration: units us/ms/s/m, a bare number is ms; an open flow has no duration
    ("duration:>62ms", http(), True),
    ("duration:>62.5ms", http(), False),
    ("duration:>=62.5ms", http(), True),
    ("duration:=62.5ms", http(), True),
    ("duration:=62ms", http(), False),
    ("duration:>=62500us", http(), True),
    ("duration:>62500µs", http(), False),
    ("duration:<.0625001s", http(), True),
    ("duration:<0.001m", http(), False),
    ("duration:>2.5s", ws(), True),
    ("duration:>62", http(), True),
    ("duration:>63", http(), False),
    ("duration:40-62.5ms", http(), True),
    ("duration:1s-2s", http(), False),
    ("duration:>=0", http(end=None, state=OPEN), False),
    ("-duration:>=0", http(end=None, state=OPEN), True),
    # ttfb
    ("ttfb:<=7.8125ms", http(), True),
    ("ttfb:<7.8125ms", http(), False),
    ("ttfb:>=0", http(response_start=None), False),
    ("ttfb:>1ms", ws(), True),
    # size / reqsize: body bytes (the true size, not the captured prefix); units 1000/1024
    ("size:>1mb", http(response_body_size=1_000_001), True),
    ("size:>1mb", http(response_body_size=1_000_000), False),
    ("size:>=1MiB", http(response_body_size=1 << 20), True),
    ("size:>1000kib", http(response_body_size=1_000_000), False),
    ("size:0", http(), True),
    ("size:<=1.5kb", http(response_body_size=1500), True),
    ("size:1kb-2gb", http(response_body_size=10), False),
    ("reqsize:>=10b", http(request_body_size=10), True),
    ("reqsize:>=10b", http(response_body_size=10), False),
    ("size:10", ws(("in", "abcd"), ("out", b"12345"), ("out", "67890")), True),
    ("reqsize:4", ws(("in", "abcd"), ("out", b"12345")), True),
    # state: each ending by name or alias; error = raised, 5xx, or app failed to finish
    ("state:complete", http(), True),
    ("state:open", http(state=OPEN), True),
    ("state:open", http(), False),
    ("state:disconnected", http(state=CLIENT_DISCONNECTED), True),
    ("state:client_disconnected", http(state=CLIENT_DISCONNECTED), True),
    ("state:exception", http(state=APP_EXCEPTION), True),
    ("state:incomplete", http(state=INCOMPLETE), True),
    ("state:refused", ws(state=REFUSED), True),
    ("state:refused", ws(), False),
    ("state:raised", http(status=500, exception=BOOM), True),
    ("state:raised", http(status=500), False),
    ("state:error", http(status=500), True),
    ("state:error", http(exception=BOOM), True),
    ("state:error", http(state=INCOMPLETE, status=None), True),
    ("state:error", http(state=APP_EXCEPTION, status=None), True),
    ("state:error", http(status=404), False),
    ("state:error", http(state=CLIENT_DISCONNECTED), False),
    # source
    ("source:worker", http(source="Worker-2"), True),
    ("source:worker", http(), False),
    # bare words: the URL (scheme, host, path, query), any case; quoted text is literal
    ("example.test/API", http(path="/api"), True),
    ("http://example.test/a", http(path="/a"), True),
    ("https://example.test/a", http(path="/a"), False),
    ("q=1", http(query=b"q=1"), True),
    ("q=2", http(query=b"q=1"), False),
    ("ws://example.test/ws", ws(), True),
    ("~/items/[0-9]+$", http(path="/items/42"), True),
    ("~/items/[0-9]+$", http(path="/items/42/x"), False),
    ('"method:GET"', http(path="/method:GET"), True),
    ('"method:GET"', http(), False),
    ('"or"', http(path="/for"), True),
    # findings and timeline metrics: read from the attached analysis
    ("finding:error", TWICE, True),
    ("finding:error", TE, False),
    ("finding:warning", TE, True),
    ("finding:warning", TWICE, True),
    ("finding:warning", SLOW, False),
    ("finding:any", SLOW, True),
    ("finding:any", CLEAN, False),
    ("finding:any", http(), False),           # nothing attached: no finding known
    ("rule:HM001", TWICE, True),
    ("rule:hm", TWICE, True),
    ("rule:HM001", TE, False),
    ("rule:SEM004", TE, True),
    ("background:>100ms", SLOW, True),
    ("background:>100ms", CLEAN, False),
    ("background:200ms-300ms", SLOW, True),
    ("wasted:>1s", LEFT, True),
    ("wasted:>1s", SLOW, False),
    ("rule:TL002", LEFT, True),
    ("\"-x\"", http(path="/a-x"), True),
]


@pytest.mark.parametrize(("text", "flow", "expected"), TERMS, ids=[t for t, _, _ in TERMS])
def test_term(text: str, flow: Flow, expected: bool) -> None:
    flt = compile_filter(text)
    assert flt(flow) is expected
    assert compile_filter(f"-{text}")(flow) is (not expected)


def test_every_key_is_tested() -> None:
    tested = {text.lstrip("-").split(":")[0] for text, _, _ in TERMS}
    assert set(KEYS) <= tested


def test_keys_ignore_case() -> None:
    assert matches("METHOD:post Status:2XX", http(method="POST"))


def test_blank_filter_matches_everything() -> None:
    for text in ("", "   ", "\t\n"):
        flt = compile_filter(text)
        assert flt.matches_all and flt.canonical == ""
        assert flt(http()) and flt(LIFESPAN)
    assert not compile_filter("a").matches_all


def test_select_keeps_order_and_agrees_with_call() -> None:
    flows = [http(conn=i, status=200 + i) for i in range(0, 400, 50)]
    flt = compile_filter("status:>=300 -status:404")
    assert flt.select(iter(flows)) == [f for f in flows if flt(f)]
    assert [f.status for f in flt.select(flows)] == [300, 350, 400, 450, 500, 550]
    assert compile_filter(" ").select(iter(flows)) == flows


def test_filter_keeps_its_text() -> None:
    flt = compile_filter("a  b")
    assert flt.text == "a  b" and repr(flt) == "Filter('a  b')"


def test_folded_flows() -> None:
    """Flows made by the real fold, not by hand."""
    events: list[Event] = []

    def add(conn: int, kind: str, message: Any) -> None:
        events.append(Event(len(events), conn, float(len(events)), kind, message, None))

    add(1, "scope", {"type": "http", "method": "POST", "path": "/api/orders",
                     "query_string": b"dry=1", "headers": [HOST, (b"x-request-id", b"r-17")]})
    add(1, "receive", {"type": "http.request", "body": b'{"sku": 3}', "more_body": False})
    add(1, "send", {"type": "http.response.start", "status": 500, "headers": []})
    add(1, "send", {"type": "http.response.body", "body": b"Internal Error"})
    add(1, "exit", None)
    add(2, "scope", {"type": "websocket", "path": "/ws", "headers": [HOST]})
    add(2, "receive", {"type": "websocket.connect"})
    add(2, "send", {"type": "websocket.accept"})
    add(2, "receive", {"type": "websocket.receive", "text": "hello"})
    post, session = fold_events(events)
    flt = compile_filter('method:post status:5xx header:x-request-id=r-1 body:"internal error" '
                         "dry=1 duration:>=3s ttfb:2s-2s reqsize:10 state:error")
    assert flt(post) and not flt(session)
    live = compile_filter("type:ws state:open body:hello -duration:>0")
    assert live(session) and not live(post)


# -- structure: precedence, grouping, negation, keywords ------------------------------------

@pytest.mark.parametrize(("text", "canonical"), [
    ("a b or c", "(a and b) or c"),
    ("a and b or c", "(a and b) or c"),
    ("a or b c", "a or (b and c)"),
    ("a | b c | d", "a or (b and c) or d"),
    ("a (b or c)", "a and (b or c)"),
    ("(a b) c", "a and b and c"),
    ("((a))", "a"),
    ("-a b", "-a and b"),
    ("not a or b", "-a or b"),
    ("NOT a OR b AND c", "-a or (b and c)"),
    ("-(a b)", "-(a and b)"),
    ("not (a | b)", "-(a or b)"),
    ("--a", "a"),
    ("not -a", "a"),
    ("-not not a", "-a"),
    ("(a)-(b)", "a and -b"),
    ("a-b", "a-b"),
    ('"a b"  "c"', '"a b" and "c"'),
    ("a|b", "a or b"),
    ("not(a)", "-a"),
    ("(a)OR(b c)", "a or (b and c)"),
    ("a and(b)", "a and b"),
    ("x(a)|b", "x(a) or b"),                # a "(" inside a word is text...
    ("path:~^/(v1|v2)/ c", "path:~^/(v1|v2)/ and c"),   # ...and so is "|" inside it
    ('"not"(a)', '"not"(a)'),
])
def test_structure(text: str, canonical: str) -> None:
    flt = compile_filter(text)
    assert flt.canonical == canonical
    assert compile_filter(canonical).canonical == canonical


def test_precedence_semantics() -> None:
    # A flow where "(a b) or c" and "a (b or c)" disagree: a false, c true.
    flow = http(method="GET", status=500, path="/x")
    assert matches("method:POST status:5xx or path:/x", flow)
    assert not matches("method:POST (status:5xx or path:/x)", flow)
    assert matches("-method:POST path:/y or status:5xx", flow)
    assert not matches("-(method:GET path:/y or status:5xx)", flow)


def test_cheap_terms_run_first_without_changing_results() -> None:
    flow = http(method="GET", response_body=b"x" * 10_000)
    assert not matches("body:needle method:POST", flow)
    assert matches("body:xxx or method:GET", flow)


# -- quoting --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "body", "expected"), [
    ('body:"two words"', b"two words", True),
    ('body:"say \\"hi\\""', b'say "hi"', True),
    ('body:"back\\\\slash"', b"back\\slash", True),
    ('body:"a\\nb"', b"a\nb", True),
    ('body:"a\\tb\\r"', b"a\tb\r", True),
    ('body:"\\d"', b"\\d", True),            # an unknown escape keeps its backslash
    ('body:~"\\d{3}"', b"code 404", True),
    ('body:~"\\d{3}"', b"code 40", False),
    ('body:"(x|y)"', b"(x|y)", True),         # ( | ) inside quotes are text
    ('body:a" b "c', b"a b c", True),         # quoted and unquoted runs glue together
    ('body:""', b"", True),                   # an explicit empty value matches everything
    ('body:"or"', b"or", True),
])
def test_quoting(text: str, body: bytes, expected: bool) -> None:
    assert matches(text, http(response_body=body)) is expected


def test_quoted_key_is_text() -> None:
    assert matches('"status":200', http(path="/status:200"))
    assert not matches('"status":200', http(status=200))


# -- errors ---------------------------------------------------------------------------------

ERRORS: list[tuple[str, int, str]] = [
    ("method:GET foo:bar", 11, "unknown key 'foo:'; use background, body, duration, finding"),
    ("localhost:8000", 0, "unknown key 'localhost:'"),
    ("status:>=4x0", 7, "expected a status like 404, 4xx or >=400"),
    ("status:4x4", 7, "expected a status like 404, 4xx or >=400"),
    ("status:299-200", 7, "empty range: 299 is above 200"),
    ('status:""', 7, "expected a status"),
    ("finding:fatal", 8, "unknown severity 'fatal'; use error, warning, info, any"),
    ("background:100ms", 11, "expected a comparison like >100ms"),
    ("duration:>100xs", 13, "unknown duration unit 'xs'; use us, µs, ms, s, m"),
    ("duration:>", 10, "expected a duration like >100ms, <=2s or 100ms-1s"),
    ("duration:100ms", 9, "expected a comparison like >100ms"),
    ("duration:2s-1s", 9, "empty range: 2s is above 1s"),
    ("ttfb:>fast", 6, "expected a duration"),
    ("size:>1tb", 7, "unknown size unit 'tb'; use b, kb, mb, gb, kib, mib, gib"),
    ("reqsize:>=-1", 10, "expected a size"),
    ("size:" + "9" * 5000, 5, "size too large"),
    ("duration:<" + "9" * 400 + "s", 10, "duration too large"),
    ("type:grpc", 5, "unknown type 'grpc'; use http, ws, websocket, sse, lifespan"),
    ("state:bad", 6, "unknown state 'bad'; use open, complete"),
    ("header:=abc", 7, "expected a header name"),
    ('path:~"(a"', 7, "bad regular expression: missing ), unterminated subpattern"),
    ('x path:~"a{2,1}"', 11, "bad regular expression: min repeat greater than max repeat"),
    ("x path:~a**", 10, "bad regular expression: multiple repeat"),
    ("path:~a{99999999999}", 6, "bad regular expression"),
    ("path:", 0, "'path:' needs a value, like path:/api"),
    ("a body: b", 2, "'body:' needs a value"),
    ('body:"abc', 5, "unclosed quote"),
    ('a "b\\"', 2, "unclosed quote"),
    ("(a or b", 0, "unclosed '('"),
    ("x (a (b)", 2, "unclosed '('"),
    ("path:/a(b", 7, "unclosed '(' inside a word; quote the value if it is text"),
    ("(path:~(a)(b c)", 10, "unclosed '(' inside a word"),
    ("a b)", 3, "')' without a matching '('"),
    (")", 0, "')' without a matching '('"),
    ("(a))", 3, "')' without a matching '('"),
    ("()", 0, "empty parentheses"),
    ("a or", 2, "'or' needs a term after it"),
    ("a or )", 2, "'or' needs a term after it"),
    ("or a", 0, "'or' needs a term before it"),
    ("a | | b", 2, "'|' needs a term after it"),
    ("a (| b)", 3, "'|' needs a term before it"),
    ("a |", 2, "'|' needs a term after it"),
    ("a and or b", 2, "'and' needs a term after it"),
    ("and", 0, "'and' needs a term before it"),
    ("-", 0, "'-' needs a term right after it, like -status:2xx"),
    ("a - b", 2, "'-' needs a term right after it"),
    ("(a -)", 3, "'-' needs a term right after it"),
    ("-or b", 0, "'-' needs a term after it"),
    ("not", 0, "'not' needs a term after it"),
    ("a not", 2, "'not' needs a term after it"),
    ("(" * 65 + "a" + ")" * 65, 64, "more than 64 nested parentheses"),
]


@pytest.mark.parametrize(("text", "column", "reason"), ERRORS, ids=[t[:30] for t, _, _ in ERRORS])
def test_error_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(text)
    error = info.value
    assert (error.column, error.text) == (column, text)
    assert error.reason.startswith(reason), error.reason
    assert str(error) == f"column {column + 1}: {error.reason}"


def test_error_message_counts_columns_from_one() -> None:
    with pytest.raises(ValueError, match=r"^column 8: expected a status like 404, 4xx or >=400$"):
        compile_filter("status:>=4x0")


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert matches("(" * 64 + "status:200" + ")" * 64, http())
    assert matches("-" * 1001 + "status:200", http(status=404))   # no recursion per '-'


def test_caret_line() -> None:
    assert caret_line("status:>=4x0", 7) == "status:>=4x0\n       ^"
    assert caret_line("a or", 4) == "a or\n    ^"                     # just past the end
    assert caret_line("日本 x:y", 3) == "日本 x:y\n     ^"             # wide characters
    assert caret_line("a\tb\x1b[2J c(", 9) == "a\\tb\\e[2J c(\n           ^"


# -- properties -----------------------------------------------------------------------------

ATOMS = [
    "method:GET", "method:post", "status:2xx", "status:>=400", "status:404", "status:200-299",
    "path:/api", "path:~^/a", "host:example", "header:x-request-id", "header:x-id=~^a",
    "header:content-type=json", "body:error", 'body:"two words"', "body:\\xff", "type:ws",
    "type:http", "type:sse", "type:lifespan", "duration:>100ms", "duration:<1s",
    "ttfb:>=50ms", "size:>1kb", "size:0", "reqsize:<=10kib", "state:error", "state:open",
    "state:complete", "state:raised", "source:w", "api", "~example\\.test", '"q=1"',
]

_bytes = st.one_of(st.sampled_from([b"", b"error", b"two words", b"\xff\xfe\x80", b"a\x00b",
                                    "Ünïcödé ERROR".encode()]), st.binary(max_size=30))
_header = st.tuples(st.sampled_from([b"host", b"Host", b"x-request-id", b"x-id",
                                     b"content-type", b"", b"\xff"]), _bytes)
_message = st.builds(WsMessage, direction=st.sampled_from(["in", "out"]), time=st.just(0.0),
                     text=st.none() | st.text(max_size=20), data=st.none() | _bytes,
                     size=st.integers(0, 1 << 40))
_time = st.none() | st.floats(0, 1e6, allow_nan=False)
FLOWS = st.builds(
    Flow, conn=st.integers(0, 9), type=st.sampled_from(["http", "websocket", "lifespan"]),
    source=st.sampled_from(["", "w1"]) | st.text(max_size=8),
    method=st.sampled_from(["", "GET", "post"]) | st.text(max_size=8),
    path=st.sampled_from(["", "/", "/api/x", "/a"]) | st.text(max_size=20),
    root_path=st.sampled_from(["", "/api"]), query=_bytes,
    scheme=st.sampled_from(["", "http", "https", "ws"]),
    server=st.none() | st.tuples(st.text(max_size=10), st.integers(0, 65535)),
    request_headers=st.lists(_header, max_size=4), response_headers=st.lists(_header, max_size=4),
    response_trailers=st.lists(_header, max_size=2),
    request_body=_bytes, response_body=_bytes,
    request_body_size=st.integers(0, 1 << 40), response_body_size=st.integers(0, 1 << 40),
    status=st.none() | st.sampled_from([101, 200, 204, 404, 500]) | st.integers(-1000, 1000),
    messages=st.lists(_message, max_size=4), start=st.floats(0, 1e6, allow_nan=False),
    response_start=_time, end=_time, state=st.sampled_from(ENDINGS),
    exception=st.none() | st.just(BOOM),
)

# An expression tree: an atom, ("not", tree), ("and", [trees]) or ("or", [trees]).
Tree = str | tuple[str, Any]
TREES = st.recursive(
    st.sampled_from(ATOMS),
    lambda kids: st.tuples(st.just("not"), kids)
    | st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3)),
    max_leaves=8,
)


def render(draw: st.DrawFn, tree: Tree) -> str:
    """Filter text for `tree`, spelling each operator one of its ways, with only the
    parentheses precedence needs (and sometimes a redundant pair)."""
    if isinstance(tree, str):
        return tree
    op, arg = tree
    if op == "not":
        inner = render(draw, arg)
        if not isinstance(arg, str) and arg[0] != "not":
            inner = f"({inner})"
        return draw(st.sampled_from(["-", "not ", "NOT "])) + inner
    parts = []
    for child in arg:
        text = render(draw, child)
        needs = op == "and" and not isinstance(child, str) and child[0] == "or"
        if needs or draw(st.integers(0, 5)) == 0:
            text = f"({text})"
        parts.append(text)
    seps = [" ", " and ", "  AND "] if op == "and" else [" or ", " | ", " OR "]
    out = parts[0]
    for part in parts[1:]:
        out += draw(st.sampled_from(seps)) + part
    return out


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, Tree]:
    tree = draw(TREES)
    return render(draw, tree), tree


ATOM_FILTERS = {atom: compile_filter(atom) for atom in ATOMS}


def evaluate(tree: Tree, flow: Flow) -> bool:
    if isinstance(tree, str):
        return ATOM_FILTERS[tree](flow)
    op, arg = tree
    if op == "not":
        return not evaluate(arg, flow)
    results = [evaluate(child, flow) for child in arg]
    return all(results) if op == "and" else any(results)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.lists(FLOWS, min_size=1, max_size=4))
def test_generated_expressions_mean_what_they_say(expr: tuple[str, Tree],
                                                  flows: list[Flow]) -> None:
    text, tree = expr
    flt = compile_filter(text)
    canonical = compile_filter(flt.canonical)
    negated = [compile_filter(f"not ({text})"), compile_filter(f"-({text})")]
    for flow in flows:
        result = flt(flow)
        assert result is evaluate(tree, flow)
        assert canonical(flow) is result
        assert all(neg(flow) is (not result) for neg in negated)
    assert canonical.canonical == flt.canonical


@settings(max_examples=100, deadline=None)
@given(FLOWS)
def test_no_term_raises_on_odd_flows(flow: Flow) -> None:
    for flt in ATOM_FILTERS.values():
        assert flt(flow) in (True, False)


SOUP = st.lists(st.sampled_from(
    ATOMS + ["(", ")", "-", "not", "or", "and", "|", '"', "\\", ":", "~", "=", ">", "<=",
             "status:", "duration:>", "size:1", "header:", "x:", "-(", "4xx", "100ms", "µs",
             " ", "  ", "\t"]),
    max_size=12).map("".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(SOUP, st.text(max_size=40),
                 st.text(alphabet='()|-"\\:~<>=.x5 ', max_size=30)))
def test_any_text_compiles_or_raises_filter_error(text: str) -> None:
    try:
        flt = compile_filter(text)
    except FilterError as error:
        assert 0 <= error.column <= len(text)
        caret_line(text, error.column)
        return
    assert isinstance(flt(Flow(conn=0, type="http")), bool)
    assert compile_filter(flt.canonical).canonical == flt.canonical


# -- purity ---------------------------------------------------------------------------------

def test_module_is_pure() -> None:
    """No I/O, no UI: only the flow model, the text escaper and the standard library's pure
    parts."""
    allowed = {"__future__", "re", "unicodedata", "collections.abc", "dataclasses",
               "fractions", "inspector.flows.model", "inspector.text",
               "inspector.filters.words", "inspector.filters.terms"}
    for module in ("compile", "words", "terms"):
        path = Path(inspector.filters.compile.__file__).with_name(f"{module}.py")
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
        assert imported <= allowed, (module, imported - allowed)
