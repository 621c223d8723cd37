"""The publisher's XADD, packed by hand, is byte for byte what redis-py would send."""

from __future__ import annotations

import pytest

from inspector.tap.redis.resp import XaddPacker

redis_connection = pytest.importorskip("redis.connection")
encoders = pytest.importorskip("redis._parsers.encoders")


def redis_py_packed(*args: object) -> bytes:
    encode = encoders.Encoder("utf-8", "strict", False).encode
    return b"".join(redis_connection.PythonRespSerializer(6000, encode).pack(*args))


@pytest.mark.parametrize("blob", [b"", b"\r\n$3\r\n", bytes(range(256)) * 300])
def test_packed_xadd_equals_redis_py(blob: bytes) -> None:
    fixed = {"h": "web-1", "p": 4242, "a": "shop:app ünïcode", "t": "1700000000.25"}
    packer = XaddPacker("asgi-inspector", 10_000, fixed)
    for fields in ({"s": 7, "r": blob, "d": 0}, {"r": blob}, {}):
        expected = redis_py_packed("XADD", "asgi-inspector", "MAXLEN", "~", 10_000, "*",
                                   *(x for kv in {**fixed, **fields}.items() for x in kv))
        assert b"".join(packer.pack(fields)) == expected


def test_a_large_value_is_passed_on_uncopied() -> None:
    blob = b"r" * 65536
    chunks = XaddPacker("s", 5, {"a": "x"}).pack({"r": blob, "d": 1})
    assert any(chunk is blob for chunk in chunks)
