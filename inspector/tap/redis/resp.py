"""The publisher's one command, `XADD key MAXLEN ~ N * field value ...`, in RESP; no I/O.

The records field is a batch of up to 64 KiB. redis-py hands every argument to hiredis's
`pack_command`, which copies it into a growing buffer: at about 1 GB/s that was the
largest part of publishing's cost on the app's core. Here a large value is passed on as
it is, between the bytes that frame it, for the connection to write with `writelines`;
and what stays the same from entry to entry (the stream, the bound, who sends) is packed
once.
"""

from __future__ import annotations

from collections.abc import Mapping

Value = str | int | bytes


def _bulk(value: Value) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class XaddPacker:
    """Packs `XADD stream MAXLEN ~ maxlen * <fixed fields> <fields>` for one stream."""

    def __init__(self, stream: str, maxlen: int, fixed: Mapping[str, Value]) -> None:
        self._args = 6 + 2 * len(fixed)
        self._head = b"".join(map(_bulk, ("XADD", stream, "MAXLEN", "~", maxlen, "*",
                                          *(x for pair in fixed.items() for x in pair))))

    def pack(self, fields: Mapping[str, Value]) -> list[bytes]:
        """RESP chunks of the command with `fields` after the fixed ones: a value over
        4 KiB is a chunk of its own, uncopied; joined, the chunks are exactly what
        redis-py would send for the same arguments."""
        chunks: list[bytes] = []
        parts = [b"*%d\r\n" % (self._args + 2 * len(fields)), self._head]
        for key, value in fields.items():
            parts.append(_bulk(key))
            if isinstance(value, bytes) and len(value) > 4096:
                parts.append(b"$%d\r\n" % len(value))
                chunks += (b"".join(parts), value)
                parts = [b"\r\n"]
            else:
                parts.append(_bulk(value))
        chunks.append(b"".join(parts))
        return chunks
