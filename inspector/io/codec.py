"""How events are written as JSON, for capture files (JSON Lines) and exports.

Why JSON Lines: a capture is written while the app runs, so it must stream; a crash must
cost at most the line being written; and people read captures with grep and jq as much as
with this tool. Why not plain `json.dumps` of the messages: ASGI mixes `bytes` and `str`
(a WebSocket text frame "abc" is not the binary frame b"abc") and tuples with lists, and
JSON has none of these distinctions. So values are written by rules that keep every plain
data message (see `inspector.events.model.plain_data`) exact, while the fields people grep
(paths, headers, UTF-8 bodies) stay plain readable strings:

1. In the fields ASGI defines as byte strings, found by key at the top level of a message
   or scope (`BYTES_FIELDS`; the items of each pair in `PAIR_FIELDS`), a JSON string means
   the UTF-8 bytes of that string. Anywhere else a JSON string is a `str`.
2. A JSON object with exactly one key, and that key one of `TAGS`, is a tag:
   `{"base64": "..."}` bytes; `{"utf8": "..."}` bytes that are valid UTF-8 (outside byte
   fields); `{"str": "..."}` a str where a byte string was expected; `{"tuple": [...]}`;
   `{"float": "nan" | "inf" | "-inf"}`; `{"dict": [[key, value], ...]}` a dict whose keys are
   not all str, or which would itself look like a tag. Any other object is a dict.
3. A JSON array is a list, except the pairs of `PAIR_FIELDS` and the `client`/`server`
   addresses: a two-item array there is a tuple, as in the ASGI spec. This is the one lossy
   rule: a pair or address given as a two-item list is read back as a tuple.

Values that are not plain data (a set, an object: marshal lets some into the ring buffer)
are written as `inspector.events.model.plain_data` summarises them, so the writer never stops.

The rules are pure functions (`encode_event`, `encode_header`, ...) so the exporters share
them; `inspector.io.decode` reads what they write back, and `inspector.io.capture_file`
adds the file.
"""

from __future__ import annotations

import json
import os
from base64 import b64encode
from collections.abc import Mapping
from typing import Any, Callable, Union

from inspector.events.model import Event, plain_data

FORMAT = "asgi-inspector-capture"
VERSION = 1

# Byte strings in the ASGI HTTP and WebSocket specs: request/response bodies, WebSocket
# binary frames, and the scope's raw_path and query_string.
BYTES_FIELDS = frozenset({"body", "bytes", "raw_path", "query_string"})
# Iterable[[byte string, byte string]]: the scope's headers, http.response.start,
# http.response.trailers, websocket.accept, websocket.http.response.start.
PAIR_FIELDS = frozenset({"headers", "trailers"})
# The scope's client and server: [host, port] (server may be [path, None]).
ADDRESS_FIELDS = frozenset({"client", "server"})
TAGS = frozenset({"base64", "utf8", "str", "tuple", "float", "dict"})

PathArg = Union[str, "os.PathLike[str]"]

_BOM = b"\xef\xbb\xbf"
_dumps_ascii = json.JSONEncoder(separators=(",", ":"), allow_nan=False,
                                check_circular=False).encode


def _make_dumps() -> Callable[[Any], str]:
    """Compact UTF-8 JSON, built once: `json.dumps` re-checks its options and rebuilds its
    C encoder on every call, about 0.6 µs of a 3 µs small event. Falls back to the public
    API where the C accelerator is missing or its signature differs."""
    slow = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                            check_circular=False).encode
    try:
        c_make_encoder = getattr(json.encoder, "c_make_encoder")  # None without the C part

        def default(o: Any) -> Any:
            raise TypeError(f"{type(o).__qualname__} is not JSON serializable")

        encoder = c_make_encoder(None, default, json.encoder.encode_basestring, None,
                                 ":", ",", False, False, False)
        probe = {"a": [1, 2.5, None, True, "\u00e9\n"], "b": {}}
        if "".join(encoder(probe, 0)) != slow(probe):
            return slow
    except Exception:  # noqa: BLE001 - any surprise means: use the public API
        return slow
    join = "".join
    return lambda obj: join(encoder(obj, 0))


_dumps = _make_dumps()


# --- encoding ------------------------------------------------------------------------

def _b64(data: bytes) -> dict[str, str]:
    return {"base64": b64encode(data).decode("ascii")}


def _enc(v: Any) -> Any:
    """A plain value as JSON data, outside the byte fields."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is float:
        if v - v == 0.0:                       # finite: NaN and +-inf give NaN here
            return v
        return {"float": "nan" if v != v else ("inf" if v > 0 else "-inf")}
    if t is bytes:
        try:
            return {"utf8": v.decode()}
        except UnicodeDecodeError:
            return _b64(v)
    if t is list:
        return [_enc(x) for x in v]
    if t is tuple:
        return {"tuple": [_enc(x) for x in v]}
    if t is dict:
        return _enc_dict(v, False)
    return _enc(_plain_base(v))


def _plain_base(v: Any) -> Any:
    """Subclasses (IntEnum, namedtuple, bytearray) as their plain base type."""
    if isinstance(v, int):                      # IntEnum, IntFlag (bool cannot be subclassed)
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, tuple):                    # namedtuple
        return tuple(v)
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):                     # OrderedDict, defaultdict
        return dict(v)
    # marshal (the ring buffer's format) also takes sets, complex numbers, Ellipsis: a stray
    # one is summarised as the capture path summarises objects, rather than stop the writer.
    return plain_data(v)


def _enc_bytes_field(v: Any) -> Any:
    if type(v) is bytes:
        try:
            return v.decode()
        except UnicodeDecodeError:
            return _b64(v)
    if isinstance(v, str):
        return {"str": str(v)}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _enc_bytes_field(bytes(v))
    return _enc(v)


def _enc_pair(p: Any) -> Any:
    if (type(p) is tuple or type(p) is list) and len(p) == 2:
        a, b = p
        if type(a) is bytes and type(b) is bytes:  # the common case, inlined
            try:
                return [a.decode(), b.decode()]
            except UnicodeDecodeError:
                pass
        return [_enc_bytes_field(a), _enc_bytes_field(b)]
    return _enc(p)


def _enc_pairs(v: Any) -> Any:
    if type(v) is list:
        return [_enc_pair(p) for p in v]
    if type(v) is tuple:
        return {"tuple": [_enc_pair(p) for p in v]}
    return _enc(v)


def _enc_address(v: Any) -> Any:
    if (type(v) is tuple or type(v) is list) and len(v) == 2:
        return [_enc(v[0]), _enc(v[1])]
    return _enc(v)


_NO_FIELDS: dict[str, Callable[[Any], Any]] = {}
_FIELD_ENC: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(BYTES_FIELDS, _enc_bytes_field),
    **dict.fromkeys(PAIR_FIELDS, _enc_pairs),
    **dict.fromkeys(ADDRESS_FIELDS, _enc_address),
}


def _enc_dict(d: dict[Any, Any], top: bool) -> Any:
    """A dict as a JSON object, or as a "dict" tag when an object would be ambiguous."""
    out = {}
    fields = _FIELD_ENC if top else _NO_FIELDS
    for k, v in d.items():
        if type(k) is not str:
            break
        f = fields.get(k)
        if f is not None:
            out[k] = f(v)
        else:  # scalars inline: most values of most messages are
            t = type(v)
            out[k] = v if t is str or t is int or t is bool or v is None else _enc(v)
    else:
        if len(out) != 1 or next(iter(out)) not in TAGS:
            return out
    return {"dict": [[_enc(k), fields[k](v) if type(k) is str and k in fields else _enc(v)]
                     for k, v in d.items()]}


def encode_message(message: Any) -> Any:
    """An ASGI message or scope as JSON data, by the rules in this module's docstring.

    Not a dict (the recorder's exit events carry None): written as any other value.
    """
    return _enc_dict(message, True) if type(message) is dict else _enc(message)


def _event_obj(event: Event) -> dict[str, Any]:
    obj: dict[str, Any] = {"seq": event.seq, "conn": event.conn, "time": event.time,
                           "kind": event.kind}
    if event.truncated is not None:
        obj["truncated"] = event.truncated
    message = event.message
    obj["message"] = _enc_dict(message, True) if type(message) is dict else _enc(message)
    return obj


def _line(obj: Any) -> bytes:
    """One UTF-8 line. A str holding a lone surrogate cannot be UTF-8: escape it instead."""
    try:
        return (_dumps(obj) + "\n").encode()
    except UnicodeEncodeError:
        return (_dumps_ascii(obj) + "\n").encode()


def encode_event(event: Event) -> str:
    """An event as one JSON line (no newline); always encodable as UTF-8."""
    text: str = _dumps(obj := _event_obj(event))
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = _dumps_ascii(obj)
    return text


def encode_header(extra: Mapping[str, Any] | None = None) -> str:
    """The header line (no newline): format, version, then the writer's metadata."""
    extra = dict(extra or {})
    clash = {"format", "version"} & extra.keys()
    if clash:
        raise ValueError(f"header_extra may not set {sorted(clash)}")
    return _line({"format": FORMAT, "version": VERSION, **extra}).decode()[:-1]


def encode_gap(missed: int) -> str:
    """The line (no newline) that records `missed` events lost before the writer read them."""
    if type(missed) is not int or missed < 0:
        raise ValueError(f"gap must be a non-negative int, not {missed!r}")
    return _dumps({"gap": missed})
