"""The response parser, driven with bytes: httptools (llhttp) and the h11 fallback alike."""

from __future__ import annotations

from typing import Any

import pytest

from inspector.proxy.parse import (
    MAX_HEAD,
    Continue,
    Data,
    EndOfResponse,
    IncompleteResponse,
    MalformedResponse,
    ResponseHead,
    response_parser,
)

pytestmark = pytest.mark.parametrize("prefer_h11", [pytest.param(False, id="httptools"),
                                                    pytest.param(True, id="h11")])


def parse(wire: bytes | list[bytes], prefer_h11: bool, *, head: bool = False,
          eof: bool = False) -> list[Any]:
    """The events for `wire` fed in pieces (a list) or whole; then EOF if asked."""
    parser = response_parser(head, prefer_h11=prefer_h11)
    events: list[Any] = []
    for piece in [wire] if isinstance(wire, bytes) else wire:
        events += parser.feed(piece)
    if eof:
        events += parser.feed_eof()
    return events


def body(events: list[Any]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Data))


def test_content_length_body(prefer_h11: bool) -> None:
    events = parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pad:  a b \t\r\n"
                   b"Content-Length: 5\r\n\r\nhello", prefer_h11)
    assert events[0] == ResponseHead(200, [(b"content-type", b"text/plain"),
                                           (b"x-pad", b"a b"), (b"content-length", b"5")],
                                     b"1.1", b"OK")
    assert body(events) == b"hello"
    assert events[-1] == EndOfResponse(keep_alive=True)


def test_byte_by_byte_gives_the_same_response(prefer_h11: bool) -> None:
    wire = (b"HTTP/1.1 201 Created Here\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    events = parse([wire[i:i + 1] for i in range(len(wire))], prefer_h11)
    assert events[0] == ResponseHead(201, [(b"transfer-encoding", b"chunked"), (b"x-a", b"1")],
                                     b"1.1", b"Created Here")
    assert body(events) == b"abcde"
    assert events[-1] == EndOfResponse(keep_alive=True)


def test_chunked_body_keeps_chunk_boundaries_and_drops_trailers(prefer_h11: bool) -> None:
    events = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"6\r\nfirst;\r\n7\r\nsecond;\r\n0\r\nX-Trailer: t\r\n\r\n", prefer_h11)
    assert events[1:] == [Data(b"first;"), Data(b"second;"), EndOfResponse(True)]
    assert (b"x-trailer", b"t") not in events[0].headers


def test_close_delimited_body_ends_at_eof(prefer_h11: bool) -> None:
    parser = response_parser(prefer_h11=prefer_h11)
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ")
    events += parser.feed(b"more")
    assert EndOfResponse not in map(type, events)
    events += parser.feed_eof()
    assert body(events) == b"some more"
    assert events[-1] == EndOfResponse(keep_alive=False)


def test_interim_responses_are_skipped(prefer_h11: bool) -> None:
    events = parse([b"HTTP/1.1 100 Continue\r\n\r\n",
                    (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n"
                     b"Content-Length: 2\r\n\r\nok")], prefer_h11)
    assert events == [ResponseHead(200, [(b"content-length", b"2")], b"1.1", b"OK"),
                      Data(b"ok"), EndOfResponse(True)]


def test_switching_protocols_is_malformed(prefer_h11: bool) -> None:
    with pytest.raises(MalformedResponse):
        parse(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
              prefer_h11)


@pytest.mark.parametrize("wire", [b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n",
                                  b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                  b"HTTP/1.1 200 OK\r\n\r\n"])
def test_response_to_head_has_no_body(prefer_h11: bool, wire: bytes) -> None:
    events = parse(wire, prefer_h11, head=True)
    assert events[1:] == [EndOfResponse(keep_alive=True)]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(prefer_h11: bool, status: int) -> None:
    events = parse(b"HTTP/1.1 %d X\r\nContent-Length: 99\r\n\r\n" % status, prefer_h11)
    assert events[1:] == [EndOfResponse(keep_alive=True)]


@pytest.mark.parametrize("wire, keep", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.1 200 OK\r\nConnection: x-hop, Close\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok garbage", False),
])
def test_keep_alive_decision(prefer_h11: bool, wire: bytes, keep: bool) -> None:
    """RFC 9112 9.3; and bytes after the response mean the connection is out of step."""
    assert parse(wire, prefer_h11)[-1] == EndOfResponse(keep_alive=keep)


def test_bytes_after_the_end_are_ignored(prefer_h11: bool) -> None:
    parser = response_parser(prefer_h11=prefer_h11)
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")[-1] == EndOfResponse(True)
    assert parser.feed(b"HTTP/1.1 200 OK\r\n\r\n") == []
    assert parser.feed_eof() == []


def test_bare_lf_line_ends_are_read(prefer_h11: bool) -> None:
    events = parse(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", prefer_h11)
    assert events[0].status_code == 200 and body(events) == b"ok"


@pytest.mark.parametrize("wire", [
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX Y: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_malformed_response(prefer_h11: bool, wire: bytes) -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse(wire, prefer_h11)
    assert str(caught.value)


def test_head_too_long_is_malformed(prefer_h11: bool) -> None:
    parser = response_parser(prefer_h11=prefer_h11)
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(MalformedResponse):
        for _ in range(MAX_HEAD // 1000 + 2):
            parser.feed(b"x-big: " + b"b" * 990 + b"\r\n")


def sized_head(size: int, interim: bytes = b"") -> bytes:
    """A 200 response head of exactly `size` bytes (after `interim` 1xx heads), then "ok"."""
    start = interim + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
    pad = size - len(start) - len(b"x-pad: \r\n\r\n")
    head = start + b"x-pad: " + b"p" * pad + b"\r\n\r\n"
    assert len(head) == size
    return head + b"ok"


def cuts(wire: bytes, how: str) -> list[bytes]:
    """`wire` as it may arrive: whole, byte by byte, or around the limit."""
    if how == "whole":
        return [wire]
    if how == "bytes":
        return [wire[i:i + 1] for i in range(len(wire))]
    if how == "halves":
        return [wire[:len(wire) // 2], wire[len(wire) // 2:]]
    return [wire[:MAX_HEAD - 1], wire[MAX_HEAD - 1:]]   # "at-limit"


@pytest.mark.parametrize("how", ["whole", "bytes", "halves", "at-limit"])
@pytest.mark.parametrize("interim", [b"", b"HTTP/1.1 100 Continue\r\n\r\n"],
                         ids=["final", "after-1xx"])
def test_head_limit_is_the_same_however_the_head_arrives(prefer_h11: bool, how: str,
                                                         interim: bytes) -> None:
    assert MAX_HEAD == 64 * 1024
    for size in (MAX_HEAD - 1, MAX_HEAD):
        events = parse(cuts(sized_head(size, interim), how), prefer_h11)
        assert events[0].status_code == 200 and body(events) == b"ok"
        assert events[-1] == EndOfResponse(True)
    for size in (MAX_HEAD + 1, MAX_HEAD + 40_000):
        with pytest.raises(MalformedResponse, match=f"longer than {MAX_HEAD} bytes"):
            parse(cuts(sized_head(size, interim), how), prefer_h11)


def test_head_under_the_limit_ending_in_a_read_that_passes_it(prefer_h11: bool) -> None:
    wire = sized_head(MAX_HEAD - 10).replace(b"Content-Length: 2", b"Content-Length: 9")
    wire = wire[:-2] + b"x" * 9    # the body (the same length as the head made room for)
    events = parse([wire[:100], wire[100:]], prefer_h11)
    assert body(events) == b"x" * 9 and events[-1] == EndOfResponse(True)


@pytest.mark.parametrize("wire", [
    b"",
    b"HTTP/1.1 200 OK\r\nContent-Le",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
])
def test_eof_before_the_end_is_incomplete(prefer_h11: bool, wire: bytes) -> None:
    parser = response_parser(prefer_h11=prefer_h11)
    parser.feed(wire)
    with pytest.raises(IncompleteResponse):
        parser.feed_eof()


def test_a_100_is_reported_once_only_when_expected(prefer_h11: bool) -> None:
    wire = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    expecting = response_parser(expect_continue=True, prefer_h11=prefer_h11)
    events = expecting.feed(wire[:25]) + expecting.feed(wire[25:])
    assert events[0] == Continue() and events[1].status_code == 200
    assert [type(e) for e in events].count(Continue) == 1
    assert Continue() not in parse(wire, prefer_h11)
