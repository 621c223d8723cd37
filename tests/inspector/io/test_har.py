"""HAR 1.2: exports validate against the HAR schema (npm `har-schema`, vendored) and the
spec's prose; real HAR files from eight writers import; capture -> HAR -> events keeps
what a flow shows; secrets are masked unless asked for."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft6Validator
from referencing import Registry
from referencing.jsonschema import DRAFT6
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from inspector import InspectorMiddleware
from inspector.events.model import Event
from inspector.flows.fold import fold_events
from inspector.flows.model import Flow
from inspector.io.capture_file import CaptureWriter, read_capture
from inspector.io.har import HarError, flows_to_har, request_url
from inspector.io.har_import import har_to_events, is_har, load_har
from inspector.io.secrets import DEFAULT_SECRET_HEADERS, MASK, mask_headers, mask_value
from tests import ROOT
from tests.apps import boom, echo, hello, ws_echo
from tests.conftest import ServerThread, wait_for

# shared/ stands beside the repository (here and in CI).
FIXTURES = ROOT.parent / "shared" / "har-fixtures"
SCHEMA_DIR = Path(__file__).parent / "har_schema"
STARTED = 1_700_000_000.25      # a fixed wall clock for hand-made flows


# -- the schema ---------------------------------------------------------------------------

def _validator() -> Draft6Validator:
    resources = []
    for path in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"].rstrip("#"), DRAFT6.create_resource(schema)))
    root = json.loads((SCHEMA_DIR / "har.json").read_text())
    return Draft6Validator(root, registry=Registry().with_resources(resources),
                           format_checker=Draft6Validator.FORMAT_CHECKER)


VALIDATOR = _validator()
# RFC 3986 URI characters; the schema says "format": "uri" but jsonschema checks it only
# with an optional package, so the test checks it.
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9\-._~%!$&'()*+,;=:@\[\]/?#]*\Z")


def assert_valid_har(har: Any) -> None:
    """The schema, then what the schema leaves to the spec's prose (HAR 1.2)."""
    text = json.dumps(har, allow_nan=False)          # JSON, no NaN/inf
    har = json.loads(text)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in VALIDATOR.iter_errors(har)]
    assert not errors, errors[:5]
    assert har["log"]["version"] == "1.2"
    for entry in har["log"]["entries"]:
        assert URI.match(entry["request"]["url"]), entry["request"]["url"]
        timings = entry["timings"]
        for key in ("send", "wait", "receive"):          # required, never -1
            assert timings[key] >= 0, (key, timings)
        for key in ("blocked", "dns", "connect", "ssl"):
            assert timings.get(key, -1) >= -1
        total = sum(v for k, v in timings.items() if k != "comment" and v >= 0)
        assert entry["time"] == pytest.approx(total, abs=0.002)
        assert datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
        for side in ("request", "response"):
            for header in entry[side]["headers"]:
                assert "\n" not in header["value"] and not header["name"].startswith(":")
        for cookie in entry["response"]["cookies"]:
            if "expires" in cookie:
                assert datetime.fromisoformat(cookie["expires"].replace("Z", "+00:00"))


# -- a real capture: uvicorn + InspectorMiddleware, driven by httpx and websockets ----------

async def gz(request: Request) -> Response:
    return Response(gzip.compress(b"compressible " * 200, mtime=0), media_type="text/plain",
                    headers={"content-encoding": "gzip"})


async def login(request: Request) -> Response:
    response = Response("ok")
    response.set_cookie("sid", "s3cr3t", max_age=60, httponly=True, path="/")
    response.set_cookie("theme", "dark")
    return response


def capture_app() -> Starlette:
    return Starlette(routes=[Route("/hello", hello),
                             Route("/echo", echo, methods=["POST", "PUT", "PATCH"]),
                             Route("/boom", boom), Route("/gz", gz), Route("/login", login),
                             WebSocketRoute("/ws", ws_echo)])


BINARY = bytes(range(256)) * 2
BIG = b"0123456789" * 500


class Captured:
    def __init__(self, started: float, events: list[Event]) -> None:
        self.started = started
        self.events = events
        self.flows = [f for f in fold_events(events) if f.type != "lifespan"]

    def flow(self, path: str, method: str = "GET") -> Flow:
        return next(f for f in self.flows if f.path == path and
                    (f.type == "websocket" or f.method == method))


@pytest.fixture(scope="module")
def captured() -> Iterator[Captured]:
    mw = InspectorMiddleware(capture_app(), tap=False, body_limit=4096)
    server = ServerThread(mw, lifespan="off", log_level="critical").start()
    try:
        with httpx.Client(base_url=server.url) as client:
            client.get("/hello", params={"x": "1", "y": "a b"},
                       headers={"Authorization": "Bearer tok-123", "Cookie": "a=1; b=2",
                                "X-Api-Key": "k-456", "X-Trace": "t1"})
            client.post("/echo", json={"name": "ünïcode"})
            client.put("/echo", content=BINARY,
                       headers={"content-type": "application/octet-stream"})
            client.patch("/echo", content=BIG, headers={"content-type": "text/plain"})
            client.get("/gz")
            client.get("/login")
            client.get("/boom")
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        with ws_connect(ws_url) as ws:
            ws.send("hi")
            assert ws.recv() == "echo:hi"
            ws.send(b"\x00\xff")
            assert ws.recv() == b"echo:\x00\xff"
            ws.send("close-me")
            with pytest.raises(ConnectionClosed):
                ws.recv()

        def finished() -> list[Event] | None:
            events = mw.events()
            exits = sum(1 for e in events if e.kind == "exit")
            return events if exits == 8 else None
        events = wait_for(finished)
        yield Captured(mw.recorder.started_wall, events)
    finally:
        server.stop()


def entry_for(har: dict[str, Any], path: str, method: str = "GET") -> dict[str, Any]:
    return next(e for e in har["log"]["entries"]
                if urlsplit(e["request"]["url"]).path == path and e["request"]["method"] == method)


@pytest.fixture(scope="module")
def har(captured: Captured) -> dict[str, Any]:
    return flows_to_har(captured.flows, captured.started)


# -- export ---------------------------------------------------------------------------------

def test_export_is_strictly_valid_har(har: dict[str, Any]) -> None:
    assert_valid_har(har)
    assert len(har["log"]["entries"]) == 8
    assert har["log"]["creator"]["name"] == "asgi-inspector"


def test_schema_catches_what_real_writers_break() -> None:
    """The validator is not a rubber stamp: Charles' `redirectURL: null` fails it."""
    charles = json.loads((FIXTURES / "charles.har").read_text())
    assert list(VALIDATOR.iter_errors(charles))
    with pytest.raises(AssertionError):
        assert_valid_har(charles)


def test_entry_fields_as_chrome_writes_them(captured: Captured, har: dict[str, Any]) -> None:
    entry = entry_for(har, "/hello")
    flow = captured.flow("/hello")
    request, response = entry["request"], entry["response"]
    assert request["url"] == request_url(flow)
    assert request["url"].endswith("/hello?x=1&y=a+b")
    assert request["httpVersion"] == "HTTP/1.1" and request["headersSize"] == -1
    assert request["queryString"] == [{"name": "x", "value": "1"}, {"name": "y", "value": "a b"}]
    assert request["bodySize"] == 0 and "postData" not in request
    assert response["status"] == 200 and response["statusText"] == "OK"
    assert response["content"] == {"size": 12, "mimeType": "text/plain; charset=utf-8",
                                   "text": "hello, world"}
    assert response["redirectURL"] == "" and response["bodySize"] == 12
    assert entry["serverIPAddress"] == "127.0.0.1" and entry["cache"] == {}
    started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
    assert abs(started.timestamp() - (captured.started + flow.start)) < 0.001
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["startedDateTime"])


def test_timings_follow_the_captured_events(captured: Captured, har: dict[str, Any]) -> None:
    for flow, entry in zip(captured.flows, har["log"]["entries"]):
        timings = entry["timings"]
        assert {timings[k] for k in ("blocked", "dns", "connect", "ssl")} == {-1}
        if flow.type == "http":
            assert entry["time"] == pytest.approx(flow.duration * 1000, abs=0.003)
            assert timings["wait"] + timings["send"] == pytest.approx(
                (flow.response_start - flow.start) * 1000, abs=0.003)
        else:       # a WebSocket entry times the handshake, as Chrome's do
            assert entry["time"] == pytest.approx(flow.ttfb * 1000, abs=0.003)
    post = entry_for(har, "/echo", "POST")["timings"]
    flow = captured.flow("/echo", "POST")
    assert post["send"] == pytest.approx((flow.request_done - flow.start) * 1000, abs=0.002)


def test_request_body_text_and_form_params() -> None:
    flow = http_flow(method="POST", body=b"a=1&b=x+y&c=", req_headers=[
        (b"content-type", b"application/x-www-form-urlencoded")])
    post = flows_to_har([flow], STARTED)["log"]["entries"][0]["request"]["postData"]
    assert post["mimeType"] == "application/x-www-form-urlencoded"
    assert post["text"] == "a=1&b=x+y&c="
    assert post["params"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "x y"},
                              {"name": "c", "value": ""}]


def test_binary_bodies_are_base64(captured: Captured, har: dict[str, Any]) -> None:
    entry = entry_for(har, "/echo", "PUT")
    post = entry["request"]["postData"]
    assert post["_encoding"] == "base64" and base64.b64decode(post["text"]) == BINARY
    content = entry["response"]["content"]
    assert content["encoding"] == "base64" and base64.b64decode(content["text"]) == BINARY
    assert content["size"] == entry["response"]["bodySize"] == len(BINARY)
    text = entry_for(har, "/echo", "POST")
    assert json.loads(text["request"]["postData"]["text"]) == {"name": "ünïcode"}
    assert "encoding" not in text["response"]["content"]


def test_gzip_content_is_decoded_with_compression(har: dict[str, Any]) -> None:
    response = entry_for(har, "/gz")["response"]
    content = response["content"]
    assert content["text"] == "compressible " * 200
    assert content["size"] == len("compressible " * 200)
    assert response["bodySize"] < content["size"]
    assert content["compression"] == content["size"] - response["bodySize"]


def test_truncated_bodies_say_so_and_keep_the_size(har: dict[str, Any]) -> None:
    entry = entry_for(har, "/echo", "PATCH")     # 5000 bytes, captured with a 4096 limit
    post, content = entry["request"]["postData"], entry["response"]["content"]
    assert entry["request"]["bodySize"] == len(BIG) and len(post["text"]) == 4096
    assert post["comment"] == "truncated by asgi-inspector: 4096 of 5000 bytes captured"
    assert content["size"] == len(BIG) and len(content["text"]) == 4096
    assert "4096 of 5000 bytes" in content["comment"]


def test_set_cookie_becomes_har_cookies(har: dict[str, Any]) -> None:
    entry = entry_for(har, "/login")
    cookies = {c["name"]: c for c in entry["response"]["cookies"]}
    assert set(cookies) == {"sid", "theme"}
    assert cookies["sid"]["value"] == MASK and cookies["sid"]["httpOnly"] is True
    assert cookies["sid"]["path"] == "/"
    started = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(cookies["sid"]["expires"].replace("Z", "+00:00"))
    assert 59 <= (expires - started).total_seconds() <= 61
    headers = [h["value"] for h in entry["response"]["headers"] if h["name"] == "set-cookie"]
    assert headers[0].startswith(f"sid={MASK}; ") and "HttpOnly" in headers[0]


def test_app_exception_is_recorded(har: dict[str, Any]) -> None:
    entry = entry_for(har, "/boom")
    assert entry["response"]["status"] == 500
    assert entry["_exception"] == {"type": "builtins.RuntimeError", "message": "kaboom"}


def test_websocket_messages_as_chrome_writes_them(captured: Captured,
                                                  har: dict[str, Any]) -> None:
    entry = next(e for e in har["log"]["entries"] if e.get("_resourceType") == "websocket")
    assert entry["request"]["url"].startswith("ws://127.0.0.1:")
    assert entry["request"]["method"] == "GET"
    assert entry["response"]["status"] == 101
    assert entry["response"]["statusText"] == "Switching Protocols"
    messages = entry["_webSocketMessages"]
    assert [(m["type"], m["opcode"], m["data"]) for m in messages] == [
        ("send", 1, "hi"), ("receive", 1, "echo:hi"),
        ("send", 2, base64.b64encode(b"\x00\xff").decode()),
        ("receive", 2, base64.b64encode(b"echo:\x00\xff").decode()),
        ("send", 1, "close-me")]
    times = [m["time"] for m in messages]
    flow = captured.flow("/ws")
    assert times == sorted(times)
    assert times[0] == pytest.approx(captured.started + flow.messages[0].time)
    assert entry["_webSocketClose"]["code"] == 4001
    assert entry["_webSocketClose"]["reason"] == "asked to"
    assert entry["_webSocketClose"]["by"] == "app"


# -- secrets --------------------------------------------------------------------------------

def test_secrets_masked_by_default(har: dict[str, Any]) -> None:
    request = entry_for(har, "/hello")["request"]
    headers = {h["name"]: h["value"] for h in request["headers"]}
    assert headers["authorization"] == f"Bearer {MASK}"
    assert headers["cookie"] == f"a={MASK}; b={MASK}"
    assert headers["x-api-key"] == MASK and headers["x-trace"] == "t1"
    assert request["cookies"] == [{"name": "a", "value": MASK}, {"name": "b", "value": MASK}]
    text = json.dumps(har)
    assert "tok-123" not in text and "k-456" not in text and "s3cr3t" not in text


def test_secrets_kept_when_asked_and_extra_names_masked(captured: Captured) -> None:
    har = flows_to_har(captured.flows, captured.started, include_secrets=True)
    headers = {h["name"]: h["value"] for h in entry_for(har, "/hello")["request"]["headers"]}
    assert headers["authorization"] == "Bearer tok-123" and headers["cookie"] == "a=1; b=2"
    har = flows_to_har(captured.flows, captured.started, secret_headers=["X-Trace"])
    headers = {h["name"]: h["value"] for h in entry_for(har, "/hello")["request"]["headers"]}
    assert headers["x-trace"] == MASK and headers["authorization"] == f"Bearer {MASK}"


def test_mask_headers_keeps_type_order_and_shape() -> None:
    raw = [(b"Authorization", b"Basic dXNlcjpwYXNz"), (b"accept", b"*/*"),
           (b"cookie", b"x=1;y=2"), (b"set-cookie", b"sid=abc; Path=/; Secure"),
           (b"proxy-authorization", b"tokenonly"), "junk", (b"x-auth-token", b"\xff\xfe")]
    assert mask_headers(raw) == [
        (b"Authorization", b"Basic <masked>"), (b"accept", b"*/*"),
        (b"cookie", b"x=<masked>; y=<masked>"), (b"set-cookie", b"sid=<masked>; Path=/; Secure"),
        (b"proxy-authorization", b"<masked>"), "junk", (b"x-auth-token", b"<masked>")]
    assert mask_headers([("X-Custom", "v")], extra=["x-custom"]) == [("X-Custom", MASK)]
    assert mask_headers(raw, include_secrets=True) == raw
    assert mask_value("authorization", 'Digest username="u", response="r"') == \
        f"Digest {MASK}"
    assert {"authorization", "cookie", "set-cookie", "x-api-key"} <= DEFAULT_SECRET_HEADERS
    assert "x-csrf-token" not in DEFAULT_SECRET_HEADERS     # documented choice


# -- round trip -----------------------------------------------------------------------------

def shown(flow: Flow) -> tuple[Any, ...]:
    """What the dashboard shows of a flow, which a round trip must keep."""
    return (flow.type, flow.method, request_url(flow), flow.status, flow.request_headers,
            flow.response_headers, flow.request_body, flow.request_body_size,
            flow.request_body_truncated, flow.response_body_truncated,
            flow.response_body_size if not flow.response_body_truncated else None,
            [(m.direction, m.text, m.data, m.size) for m in flow.messages],
            flow.close_code, flow.close_reason, flow.closed_by, flow.state,
            flow.exception.type if flow.exception else None, flow.http_version)


def test_round_trip_keeps_what_flows_show(captured: Captured) -> None:
    har = flows_to_har(captured.flows, captured.started, include_secrets=True)
    header, events = har_to_events(json.dumps(har))
    again = fold_events(events)
    assert [shown(f) for f in again] == [shown(f) for f in captured.flows]
    for before, after in zip(captured.flows, again):
        if before.response_body_truncated or before.path == "/gz":
            continue
        assert after.response_body == before.response_body
    gz_before = captured.flow("/gz")
    gz_after = next(f for f in again if f.path == "/gz")
    # gzip is undone in HAR and redone on import: same content, same headers.
    assert gzip.decompress(gz_after.response_body) == gzip.decompress(gz_before.response_body)
    assert header["started"] == pytest.approx(captured.started + captured.flows[0].start,
                                              abs=0.001)
    starts = [f.start - captured.flows[0].start for f in captured.flows]
    assert [f.start for f in again] == pytest.approx(starts, abs=0.0011)


def test_round_trip_through_files(captured: Captured, tmp_path: Path) -> None:
    """capture file -> read -> HAR file -> load_har: the CLI's path through `export`."""
    path = tmp_path / "c.jsonl"
    with CaptureWriter(path, {"started": captured.started}) as writer:
        writer.write(captured.events)
    capture = read_capture(path)
    flows = [f for f in fold_events(capture.events) if f.type != "lifespan"]
    har_path = tmp_path / "c.har"
    har_path.write_text(json.dumps(flows_to_har(flows, capture.header["started"],
                                                include_secrets=True)))
    assert is_har(har_path) and not is_har(path)
    _, events = load_har(har_path)
    assert [shown(f) for f in fold_events(events)] == [shown(f) for f in captured.flows]


def test_imported_events_look_like_a_capture(captured: Captured) -> None:
    _, events = har_to_events(flows_to_har(captured.flows, captured.started))
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.time for e in events] == sorted(e.time for e in events)
    for conn in {e.conn for e in events}:
        mine = [e for e in events if e.conn == conn]
        assert mine[0].kind == "scope" and mine[-1].kind == "exit"


# -- hand-made flows: the cases a live capture rarely shows ---------------------------------

def http_flow(**kw: Any) -> Flow:
    body = kw.pop("body", b"")
    flow = Flow(1, "http", scheme="http", http_version="1.1", method=kw.pop("method", "GET"),
                path=kw.pop("path", "/"), raw_path=kw.pop("raw_path", b""),
                query=kw.pop("query", b""), server=("127.0.0.1", 8000),
                request_headers=[(b"host", b"example.test")] + kw.pop("req_headers", []),
                request_body=body, request_body_size=len(body), start=1.0, request_done=1.001,
                status=200, response_start=1.01, end=1.02, state="complete")
    for key, value in kw.items():
        setattr(flow, key, value)
    return flow


def test_a_flow_without_response_is_valid_and_reimports_as_disconnect() -> None:
    flow = http_flow(status=None, response_start=None, state="client_disconnected", end=1.5)
    har = flows_to_har([flow], STARTED)
    assert_valid_har(har)
    response = har["log"]["entries"][0]["response"]
    assert response["status"] == 0 and "disconnected" in response["_error"]
    assert har["log"]["entries"][0]["time"] == pytest.approx(500)
    (again,) = fold_events(har_to_events(har)[1])
    assert again.status is None and again.state == "client_disconnected"


def test_odd_timings_stay_non_negative_and_consistent() -> None:
    """The app answered before reading the body; an open flow has no end yet."""
    early = http_flow(request_done=1.05, response_start=1.01, end=1.02)
    still_open = http_flow(end=None, state="open", request_done=None, response_start=1.2)
    har = flows_to_har([early, still_open], STARTED)
    assert_valid_har(har)
    first, second = (e["timings"] for e in har["log"]["entries"])
    assert first["send"] == pytest.approx(20) and first["wait"] == 0 == first["receive"]
    assert second["send"] == 0 and second["wait"] == pytest.approx(200)
    assert har["log"]["entries"][1]["response"]["_error"] == "still open when exported"


def test_hostile_urls_become_valid_uris() -> None:
    flow = http_flow(path="/a b/ü", raw_path=b"/a b/\xc3\xbc\"<>", query=b"q=\xff x&`y`")
    har = flows_to_har([flow], STARTED)
    assert_valid_har(har)
    url = har["log"]["entries"][0]["request"]["url"]
    assert url == "http://example.test/a%20b/%C3%BC%22%3C%3E?q=%FF%20x&%60y%60"


def test_refused_and_denied_websockets_round_trip() -> None:
    refused = Flow(1, "websocket", scheme="ws", http_version="1.1", path="/ws",
                   request_headers=[(b"host", b"h")], status=403, response_start=0.1,
                   end=0.1, state="refused", close_code=1000, closed_by="app")
    denied = Flow(2, "websocket", scheme="wss", http_version="1.1", path="/ws",
                  request_headers=[(b"host", b"h")], status=401,
                  response_headers=[(b"content-type", b"text/plain")],
                  response_body=b"no", response_body_size=2, response_start=0.2, end=0.3,
                  state="refused")
    har = flows_to_har([refused, denied], STARTED)
    assert_valid_har(har)
    again = fold_events(har_to_events(har)[1])
    assert [(f.status, f.state, f.accepted, f.response_body, f.scheme) for f in again] == [
        (403, "refused", False, b"", "ws"), (401, "refused", False, b"no", "wss")]


def test_truncated_websocket_message_keeps_its_size() -> None:
    from inspector.flows.model import WsMessage
    flow = Flow(1, "websocket", scheme="ws", http_version="1.1", path="/ws",
                request_headers=[(b"host", b"h")], status=101, accepted=True,
                response_start=0.1, end=0.5, state="client_disconnected",
                close_code=1001, closed_by="client",
                messages=[WsMessage("out", 0.2, "x" * 10, None, 100, True)])
    har = flows_to_har([flow], STARTED)
    assert_valid_har(har)
    assert har["log"]["entries"][0]["_webSocketMessages"][0]["_originalSize"] == 100
    (again,) = fold_events(har_to_events(har)[1])
    assert (again.messages[0].size, again.messages[0].truncated) == (100, True)
    assert (again.close_code, again.closed_by, again.state) == (1001, "client",
                                                                 "client_disconnected")
    assert again.end == pytest.approx(0.5, abs=0.0011)


def test_a_websocket_message_soon_after_the_handshake_keeps_its_time() -> None:
    # The session starts 0.6 ms into a millisecond and its first message comes 0.15 ms
    # after the handshake. Read back, the message must still come after the handshake
    # at its own time, so a second export equals the first.
    from inspector.flows.model import WsMessage
    flow = Flow(1, "websocket", scheme="ws", http_version="1.1", path="/ws",
                request_headers=[(b"host", b"h")], status=101, accepted=True, start=0.0006,
                response_start=0.00065, end=0.002, state="complete", close_code=1000,
                closed_by="app", messages=[WsMessage("out", 0.0008, "hi", None, 2)])
    har = flows_to_har([flow], STARTED)
    header, events = har_to_events(har)
    again = flows_to_har(fold_events(events), header["started"])
    assert again["log"]["entries"] == har["log"]["entries"]


def test_brotli_and_cut_encoded_bodies_stay_encoded() -> None:
    flow = http_flow(response_headers=[(b"content-encoding", b"br")],
                     response_body=b"\x8b\x02\x80hi\x03", response_body_size=6)
    content = flows_to_har([flow], STARTED)["log"]["entries"][0]["response"]["content"]
    assert content["_contentEncoding"] == "br" and content["encoding"] == "base64"
    (again,) = fold_events(har_to_events(flows_to_har([flow], STARTED))[1])
    assert again.response_body == flow.response_body
    assert again.response_headers == flow.response_headers


# -- import: real HAR files -----------------------------------------------------------------

WHEEL = ("https://files.pythonhosted.org/packages/00/e5/f12a80907d0884e6dff9c16d0c0114d81b8cd07dc3a"
         "e54c5e962cc83037e/tqdm-4.66.1-py3-none-any.whl")
# file: (entries, first method, first URL, first status, first http_version)
EXPECTED = {
    "charles.har": (1, "GET", "https://mitmproxy.org/?=", 200, "1.1"),
    "chrome.har": (3, "GET", "https://mitmproxy.org/", 304, "2"),
    "firefox.har": (14, "GET", "https://mitmproxy.org/", 304, "3"),
    "head-content-length.har": (1, "HEAD", WHEEL, 200, "2"),
    "insomnia.har": (1, "GET", "http://mitm.it/", 200, "1.1"),
    "postdata.har": (1, "POST", "https://signal-metrics-collector-beta.s-onetag.com/metrics",
                     200, "2"),
    "safari.har": (19, "GET", "https://mitmproxy.org/", 200, "2"),
    "with-bom.har": (1, "POST", "https://signal-metrics-collector-beta.s-onetag.com/metrics",
                     200, "2"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_har_files_load(name: str) -> None:
    path = FIXTURES / name
    assert is_har(path)
    header, events = load_har(path)
    flows = fold_events(events)
    count, method, url, status, version = EXPECTED[name]
    assert len(flows) == count and header["har"]["skipped"] == 0
    first = flows[0]
    assert (first.method, request_url(first), first.status, first.http_version) == (
        method, url, status, version)
    assert all(f.state in ("complete", "client_disconnected") for f in flows)
    assert all(f.start >= 0 and f.end is not None and f.end >= f.start for f in flows)
    for flow in flows:
        assert not any(n.startswith(b":") or n != n.lower() for n, _ in flow.request_headers)
        assert any(n == b"host" for n, _ in flow.request_headers)
    # and what we read, we write back as strictly valid HAR
    assert_valid_har(flows_to_har(flows, header["started"], include_secrets=True))


def test_real_har_details() -> None:
    chrome = fold_events(load_har(FIXTURES / "chrome.har")[1])
    assert chrome[0].request_headers[0] == (b"host", b"mitmproxy.org")     # from :authority
    assert chrome[1].status is None and chrome[1].state == "client_disconnected"  # net::ERR
    png = chrome[2].response_body                                          # base64 content
    assert png.startswith(b"\x89PNG") and chrome[2].http_version == "3"    # "h3"
    post = fold_events(load_har(FIXTURES / "postdata.har")[1])[0]
    assert post.request_body_size == 1310 and post.request_body.startswith(b"{")
    bom = fold_events(load_har(FIXTURES / "with-bom.har")[1])[0]
    assert bom.request_body == post.request_body
    head = fold_events(load_har(FIXTURES / "head-content-length.har")[1])[0]
    assert head.response_body == b"" and not head.response_body_truncated
    length = dict(head.response_headers)[b"content-length"]
    assert int(length) > 0                                                 # kept for HEAD
    safari = fold_events(load_har(FIXTURES / "safari.har")[1])[0]
    assert dict(safari.response_headers)[b"content-encoding"] == b"gzip"   # redone gzip
    assert gzip.decompress(safari.response_body).startswith(b"<!DOCTYPE html>")
    charles = fold_events(load_har(FIXTURES / "charles.har")[1])[0]
    assert charles.query == b"=" and len(charles.response_body) == 23866
    firefox = fold_events(load_har(FIXTURES / "firefox.har")[1])
    assert firefox[1].response_body == b"" and firefox[1].duration == 0     # timings: {}


def test_relative_times_follow_started_date_time() -> None:
    header, events = load_har(FIXTURES / "safari.har")
    raw = json.loads((FIXTURES / "safari.har").read_text())["log"]["entries"]
    flows = sorted(fold_events(events), key=lambda f: f.conn)   # conn n is entry n
    started = [datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00")).timestamp()
               for e in raw]
    assert header["started"] == pytest.approx(min(started))
    for flow, entry, at in zip(flows, raw, started):
        assert flow.start >= at - header["started"] - 1e-6   # + blocked, dns, connect
        end = flow.end - (at - header["started"])
        assert end * 1000 == pytest.approx(entry["time"], abs=0.01)


def test_entries_started_in_the_same_millisecond_keep_their_order() -> None:
    # 0.4 - 0.1 - 0.1 - 0.2 ms leaves 2.7e-20 s in floating point: the first entry's
    # request must not move behind the second's for it (an export of two requests less
    # than a millisecond apart has exactly these).
    def entry(path: str, **extra: Any) -> dict[str, Any]:
        return {"startedDateTime": "2024-01-01T00:00:00.000Z",
                "request": {"method": "GET", "url": f"http://h.test{path}", "headers": []},
                "response": {"status": 200, "headers": []}, **extra}
    first = entry("/a", time=0.4, timings={"send": 0.1, "wait": 0.1, "receive": 0.2})
    _, events = har_to_events({"log": {"entries": [first, entry("/b")]}})
    assert [f.path for f in fold_events(events)] == ["/a", "/b"]


def test_http_versions_and_pseudo_headers() -> None:
    def entry(version: str) -> dict[str, Any]:
        return {"startedDateTime": "2024-01-01T00:00:00+01:00",
                "request": {"method": "GET", "url": "https://h.test:8443/p%20q?x=1",
                            "httpVersion": version,
                            "headers": [{"name": ":authority", "value": "h.test:8443"},
                                        {"name": ":method", "value": "GET"},
                                        {"name": "Accept", "value": "*/*"}]},
                "response": {"status": 204, "headers": [["X-Slack-Style", "1"]]}}
    versions = ["h2", "http/2.0", "HTTP/2", "h3", "HTTP/3", "HTTP/1.0", "", "spdy/3"]
    header, events = har_to_events({"log": {"entries": [entry(v) for v in versions]}})
    flows = fold_events(events)
    assert [f.http_version for f in flows] == ["2", "2", "2", "3", "3", "1.0", "1.1", "1.1"]
    assert header["started"] == 1704063600.0
    flow = flows[0]
    assert flow.request_headers == [(b"host", b"h.test:8443"), (b"accept", b"*/*")]
    assert flow.server == ("h.test", 8443) and flow.scheme == "https"
    assert (flow.path, flow.raw_path, flow.query) == ("/p q", b"/p%20q", b"x=1")
    assert flow.response_headers == [(b"x-slack-style", b"1")]


def test_chrome_websocket_entry_imports() -> None:
    har = {"log": {"entries": [{
        "startedDateTime": "2024-01-01T00:00:00.000Z", "time": 5, "_resourceType": "websocket",
        "request": {"method": "GET", "url": "wss://h.test/socket", "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Host", "value": "h.test"},
                                {"name": "Sec-WebSocket-Protocol", "value": "chat, v2"}]},
        "response": {"status": 101, "headers": [{"name": "Upgrade", "value": "websocket"},
                                                {"name": "Sec-WebSocket-Protocol",
                                                 "value": "chat"}]},
        "timings": {"send": 0, "wait": 5, "receive": 0},
        "_webSocketMessages": [
            {"type": "send", "time": 1704067200.5, "opcode": 1, "data": "hello"},
            {"type": "receive", "time": 1704067200.75, "opcode": 2, "data": "AAE="},
            {"type": "receive", "time": 1704067201.0, "opcode": 9, "data": ""}]}]}}
    (flow,) = fold_events(har_to_events(har)[1])
    assert (flow.type, flow.scheme, flow.subprotocols, flow.subprotocol) == (
        "websocket", "wss", ["chat", "v2"], "chat")
    assert flow.response_headers == []
    assert [(m.direction, m.text, m.data) for m in flow.messages] == [
        ("in", "hello", None), ("out", None, b"\x00\x01")]
    assert [m.time for m in flow.messages] == pytest.approx([0.5, 0.75])
    assert flow.state == "complete" and flow.close_code == 1000


def test_lenient_about_missing_and_broken_fields() -> None:
    har = {"log": {"entries": [
        {"request": {"url": "http://h.test/"}},                       # nearly nothing
        {"request": {"url": "/relative"}, "response": {}},            # no host: skipped
        "not an entry",
        {"startedDateTime": "yesterday", "request": {"url": "http://h.test/x", "method": "PUT",
                                                     "postData": {"params": [
                                                         {"name": "a", "value": "1 2"}]}},
         "response": {"status": "200", "content": {"text": "!!", "encoding": "base64"}},
         "timings": {"send": None, "wait": -1, "receive": "x"}, "time": None}]}}
    header, events = har_to_events(har)
    flows = fold_events(events)
    assert header["har"] == {"creator": "", "entries": 4, "skipped": 2}
    assert [(f.method, f.status) for f in flows] == [("GET", None), ("PUT", None)]
    assert flows[1].request_body == b"a=1+2"


@pytest.mark.parametrize("data, reason", [
    (b"", "not valid JSON"),
    (b"{\"log\": ", "not valid JSON"),
    (b"\xff\xfe\x00", "not"),
    (b"[1, 2]", 'no "log" object'),
    (b'{"log": {"entries": {}}}', "log.entries is not a list"),
])
def test_not_har_is_one_clear_line(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(data)
    with pytest.raises(HarError) as info:
        load_har(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_is_har_sniffs_content(tmp_path: Path) -> None:
    har = tmp_path / "export.json"
    har.write_bytes(b'\xef\xbb\xbf\n  {\n "log": {"entries": []}}')
    capture = tmp_path / "capture.har"          # a capture, whatever its name
    with CaptureWriter(capture):
        pass
    other = tmp_path / "other.json"
    other.write_text('{"format": "something"}')
    assert is_har(har) and not is_har(capture) and not is_har(other)
    assert not is_har(tmp_path / "missing.har")
    assert load_har(har)[1] == []


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF,
                                    blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=60, deadline=None)
@given(req_body=st.binary(max_size=300), resp_body=st.binary(max_size=300),
       value=header_text.map(str.strip),
       messages=st.lists(st.tuples(st.booleans(), st.one_of(
           st.text(max_size=20).filter(lambda t: t.encode("utf-8", "ignore") == t.encode(
               "utf-8", "surrogatepass")), st.binary(max_size=20))), max_size=5))
def test_round_trip_property(req_body: bytes, resp_body: bytes, value: str,
                             messages: list[tuple[bool, str | bytes]]) -> None:
    """Any bodies, UTF-8 header values and WebSocket messages survive HAR and back."""
    from inspector.flows.model import WsMessage
    h = http_flow(method="POST", body=req_body, req_headers=[(b"x-v", value.encode())],
                  response_headers=[(b"x-v", value.encode())], response_body=resp_body,
                  response_body_size=len(resp_body))
    ws = Flow(2, "websocket", scheme="ws", http_version="1.1", path="/ws",
              request_headers=[(b"host", b"h")], status=101, accepted=True,
              response_start=1.0, end=3.0, state="complete", close_code=1000,
              closed_by="app", start=0.5,
              messages=[WsMessage("in" if inbound else "out", 1.5,
                                  m if isinstance(m, str) else None,
                                  m if isinstance(m, bytes) else None,
                                  len(m.encode() if isinstance(m, str) else m))
                        for inbound, m in messages])
    har = json.loads(json.dumps(flows_to_har([h, ws], STARTED)))
    assert not list(VALIDATOR.iter_errors(har))
    again = sorted(fold_events(har_to_events(har)[1]), key=lambda f: f.conn)
    assert [shown(f) for f in again] == [shown(f) for f in (h, ws)]
    assert again[0].response_body == resp_body


def test_a_decompression_bomb_stays_encoded() -> None:
    bomb = gzip.compress(b"\0" * (33 << 20), compresslevel=1)
    flow = http_flow(response_headers=[(b"content-encoding", b"gzip")], response_body=bomb,
                     response_body_size=len(bomb))
    content = flows_to_har([flow], STARTED)["log"]["entries"][0]["response"]["content"]
    assert content["_contentEncoding"] == "gzip" and content["size"] == len(bomb)
