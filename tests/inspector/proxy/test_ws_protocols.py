"""Frames the upstream hop writes: masked as RFC 6455 says, read back by websockets itself."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import CLIENT, OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from inspector.proxy import ws_protocols
from inspector.proxy.ws_protocols import (
    ClientFacingProtocol,
    MaskKeys,
    UpstreamProtocol,
    masked_frame,
)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("opcode, fin", [(Opcode.TEXT, True), (Opcode.BINARY, False)])
def test_a_server_reads_back_what_was_masked(size: int, opcode: Opcode, fin: bool) -> None:
    frame = Frame(opcode, bytes(range(256)) * (size // 256) + b"x" * (size % 256), fin=fin)
    data = masked_frame(frame, b"\x01\x02\x03\x04")
    assert data[1] & 0x80                          # the mask bit
    assert len(data) == size + 4 + (2 if size < 126 else 4 if size < 65536 else 10)
    server = ServerProtocol(state=OPEN, max_size=None)
    server.receive_data(data)
    assert server.events_received() == [frame]


def test_invalid_frames_are_refused_as_websockets_refuses_them() -> None:
    with pytest.raises(ProtocolError):
        masked_frame(Frame(Opcode.PING, b"x" * 126), b"abcd")   # control frames <= 125


def test_mask_keys_come_from_urandom_a_thousand_at_a_time(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    calls: list[int] = []
    real = ws_protocols.os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)
    monkeypatch.setattr(ws_protocols.os, "urandom", counting)
    keys = MaskKeys()
    taken = [keys.take() for _ in range(1025)]
    assert calls == [4096, 4096]
    assert all(len(k) == 4 for k in taken)
    assert len(set(taken)) > 1000                  # fresh bytes each time, not one key


def test_the_upstream_protocol_masks_every_frame_it_sends() -> None:
    protocol = UpstreamProtocol(parse_uri("ws://upstream/"), state=OPEN)
    protocol.send_text(b"hi")
    protocol.send_ping(b"p")
    protocol.send_close(1001, "bye")
    server = ServerProtocol(state=OPEN)
    for data in protocol.data_to_send():
        server.receive_data(data)
    frames = server.events_received()
    assert [(f.opcode, f.data) for f in frames] == [
        (Opcode.TEXT, b"hi"), (Opcode.PING, b"p"), (Opcode.CLOSE, b"\x03\xe9bye")]


# -- receiving: the fast path against websockets' own client, on the same bytes ----------

def _head(key: str, status: int = 101) -> bytes:
    if status != 101:
        return (f"HTTP/1.1 {status} Nope\r\nContent-Length: 4\r\n\r\nno!!").encode()
    from websockets.utils import accept_key
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode()


def _frame(first: int, payload: bytes, masked: bool = False) -> bytes:
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 65536:
        head = bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = b"\x1f\x2e\x3d\x4c"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


# What servers send, well and badly: (first header byte, payload, masked).
server_frames = st.one_of(
    st.tuples(st.sampled_from([0x81, 0x82]), st.binary(max_size=300), st.just(False)),
    st.tuples(st.just(0x81), st.text(max_size=50).map(str.encode), st.just(False)),
    st.tuples(st.sampled_from([0x01, 0x02, 0x00, 0x80]), st.binary(max_size=40),
              st.just(False)),                                     # fragments
    st.tuples(st.sampled_from([0x89, 0x8A]), st.binary(max_size=20), st.just(False)),
    st.tuples(st.just(0x88), st.sampled_from([b"", b"\x03\xe8", b"\x03\xe9bye", b"\x03\xed",
                                              b"\x0f\xa0\xff"]), st.just(False)),
    st.tuples(st.sampled_from([0x81, 0xC1, 0x83]), st.binary(max_size=10),
              st.sampled_from([False, True])),                     # masked / RSV / opcode
    st.tuples(st.just(0x82), st.just(b"z" * 70_000), st.just(False)),
)


def _sent(protocol: Any) -> list[Any]:
    """What a protocol wrote, as frames (masks differ from run to run) and EOFs."""
    out: list[Any] = []
    reader: Any = ServerProtocol(state=OPEN, max_size=None) if protocol.side is CLIENT \
        else ClientProtocol(parse_uri("ws://peer/"), state=OPEN, max_size=None)
    for data in protocol.data_to_send():
        if not data:
            out.append("EOF")
            continue
        reader.receive_data(data)
        out.extend((f.opcode, bytes(f.data), f.fin) for f in reader.events_received())
    return out


def _seen(protocol: Any) -> list[Any]:
    return [(e.status_code, e.body) if isinstance(e, Response) else
            (e.opcode, bytes(e.data), e.fin) for e in protocol.events_received()]


def _state(protocol: Any) -> tuple[Any, ...]:
    return (protocol.state, protocol.close_rcvd, protocol.close_sent, protocol.current_size,
            type(protocol.handshake_exc), type(protocol.parser_exc))


def _feed_both(ours: Any, theirs: Any, wire: bytes, cuts: list[int], eof: bool) -> None:
    """Both protocols get `wire` in the same pieces (then maybe EOF); after each, what they
    saw, what they wrote and their state must agree."""
    steps = []
    at = 0
    for n in cuts + [len(wire)]:
        if wire[at:at + n]:
            steps.append(wire[at:at + n])
        at += n
    for step in steps + ([None] if eof else []):
        for protocol in (theirs, ours):
            if step is None:
                protocol.receive_eof()
            else:
                protocol.receive_data(step)
        assert _seen(ours) == _seen(theirs)
        assert _sent(ours) == _sent(theirs)
        assert _state(ours) == _state(theirs)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([101, 101, 101, 403]), st.lists(server_frames, max_size=12),
       st.lists(st.integers(1, 200), max_size=30), st.booleans())
def test_the_fast_path_sees_what_websockets_sees(status: int, frames: list[Any],
                                                  cuts: list[int], eof: bool) -> None:
    theirs = ClientProtocol(parse_uri("ws://upstream/"), max_size=None)
    ours = UpstreamProtocol(parse_uri("ws://upstream/"), max_size=None)
    ours.key = theirs.key
    wire = _head(theirs.key, status) + b"".join(_frame(*f) for f in frames)
    _feed_both(ours, theirs, wire, cuts, eof)


@settings(max_examples=300, deadline=None)
@given(st.lists(server_frames.map(lambda f: (f[0], f[1], not f[2])), max_size=12),
       st.lists(st.integers(1, 200), max_size=30), st.booleans())
def test_the_server_side_fast_path_sees_what_websockets_sees(frames: list[Any], cuts: list[int],
                                                             eof: bool) -> None:
    """The client's hop: frames from a client must be masked (flipped from the above)."""
    theirs = ServerProtocol(state=OPEN, max_size=None)
    ours = ClientFacingProtocol(state=OPEN, max_size=None)
    _feed_both(ours, theirs, b"".join(_frame(*f) for f in frames), cuts, eof)


def test_a_server_sends_whole_messages_as_websockets_would() -> None:
    ours = ClientFacingProtocol(state=OPEN)
    theirs = ServerProtocol(state=OPEN)
    for protocol in (ours, theirs):
        protocol.send_text(b"hello")
        protocol.send_binary(b"\x00" * 300)
        protocol.send_binary(b"x" * 70_000)
    ours_bytes, theirs_bytes = ours.data_to_send(), theirs.data_to_send()
    assert ours_bytes == theirs_bytes          # unmasked: byte for byte


async def test_uvicorns_protocol_gets_the_fast_paths() -> None:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from inspector.proxy.client_websocket import ClientFacingWebSocket
    config = Config(app=lambda *a: None, ws=ClientFacingWebSocket)
    config.load()
    protocol = ClientFacingWebSocket(config=config, server_state=ServerState(), app_state={})
    assert type(protocol.conn) is ClientFacingProtocol


def test_frames_that_came_with_the_handshake_are_cut_here_too() -> None:
    ours = UpstreamProtocol(parse_uri("ws://upstream/"), max_size=None)
    ours.receive_data(_head(ours.key) + _frame(0x81, b"hi") + _frame(0x82, b"\x00")[:2])
    response, text = ours.events_received()
    assert isinstance(response, Response) and ours.state is OPEN
    assert (text.opcode, text.data) == (Opcode.TEXT, b"hi")
    ours.receive_data(b"\x00")
    assert [(f.opcode, f.data) for f in ours.events_received()] == [(Opcode.BINARY, b"\x00")]


def test_a_big_frame_in_many_pieces_grows_in_place_and_arrives_whole() -> None:
    ours = UpstreamProtocol(parse_uri("ws://upstream/"), state=OPEN, max_size=None)
    payload = bytes(range(256)) * 4096                    # 1 MiB
    wire = _frame(0x82, payload) + _frame(0x81, b"next")
    for at in range(0, len(wire), 1000):
        ours.receive_data(wire[at:at + 1000])
    assert [(f.opcode, bytes(f.data)) for f in ours.events_received()] == [
        (Opcode.BINARY, payload), (Opcode.TEXT, b"next")]


def test_sending_a_whole_message_writes_what_websockets_would() -> None:
    ours = UpstreamProtocol(parse_uri("ws://upstream/"), state=OPEN)
    theirs = ClientProtocol(parse_uri("ws://upstream/"), state=OPEN)
    for protocol in (ours, theirs):
        protocol.send_text(b"hello")
        protocol.send_binary(b"\x00" * 300)
        protocol.send_text(b"frag", fin=False)      # websockets' own path from here
        protocol.send_continuation(b"ment", fin=True)
        protocol.send_binary(b"x" * 70_000)
    assert _sent(ours) == _sent(theirs)
