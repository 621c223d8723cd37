"""Frames the upstream hop writes: masked as RFC 6455 says, read back by websockets itself."""

from __future__ import annotations

import pytest
from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from inspector.proxy import ws_masking
from inspector.proxy.ws_masking import MaskKeys, UpstreamProtocol, masked_frame


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
    real = ws_masking.os.urandom

    def counting(n: int) -> bytes:
        calls.append(n)
        return real(n)
    monkeypatch.setattr(ws_masking.os, "urandom", counting)
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
