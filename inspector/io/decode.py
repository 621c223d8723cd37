"""Capture JSON back to events: the inverse of `inspector.io.codec`, by the rules in its
docstring.

Pure functions over parsed JSON (`json.loads` of one line). Data this codec could not
have written raises `ValueError` saying what is wrong, never anything else, so a reader
can report the line and go on.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Callable
from typing import Any

from inspector.events.model import KINDS, Event
from inspector.io.codec import ADDRESS_FIELDS, BYTES_FIELDS, FORMAT, PAIR_FIELDS, TAGS, VERSION

_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _dec(v: Any) -> Any:
    """JSON data outside the byte fields back to a plain value."""
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    if t is list:
        return [_dec(x) for x in v]
    if t is dict:
        if len(v) == 1:
            ((k, x),) = v.items()
            tag = _TAG_DEC.get(k)
            if tag is not None:
                return tag(x)
        return {k: _dec(x) for k, x in v.items()}
    raise ValueError(f"unexpected {t.__name__} in JSON data")


def _need(kind: type, tag: str, x: Any) -> Any:
    if type(x) is not kind:
        raise ValueError(f'"{tag}" tag holds {type(x).__name__}, expected {kind.__name__}')
    return x


def _dec_base64(x: Any) -> bytes:
    try:
        return b64decode(_need(str, "base64", x), validate=True)
    except ValueError as exc:
        raise ValueError(f'"base64" tag: {exc}') from None


def _dec_float(x: Any) -> float:
    try:
        return _NONFINITE[_need(str, "float", x)]
    except KeyError:
        raise ValueError(f'"float" tag holds {x!r}, expected "nan", "inf" or "-inf"') from None


def _dec_dict_pairs(x: Any) -> dict[Any, Any]:
    return _dec_pairs_to_dict(_need(list, "dict", x), False)


def _dec_pairs_to_dict(pairs: list[Any], top: bool) -> dict[Any, Any]:
    out = {}
    for item in pairs:
        if type(item) is not list or len(item) != 2:
            raise ValueError('"dict" tag holds an item that is not a [key, value] pair')
        k = _dec(item[0])
        f = _FIELD_DEC.get(k) if top and type(k) is str else None
        try:
            out[k] = _dec(item[1]) if f is None else f(item[1])
        except TypeError:
            raise ValueError(f'"dict" tag holds an unhashable key {k!r}') from None
    return out


_TAG_DEC: dict[str, Callable[[Any], Any]] = {
    "base64": _dec_base64,
    "utf8": lambda x: _need(str, "utf8", x).encode(),
    "str": lambda x: _need(str, "str", x),
    "tuple": lambda x: tuple(_dec(i) for i in _need(list, "tuple", x)),
    "float": _dec_float,
    "dict": _dec_dict_pairs,
}


def _dec_bytes_field(x: Any) -> Any:
    return x.encode() if type(x) is str else _dec(x)


def _dec_pair(p: Any) -> Any:
    if type(p) is list and len(p) == 2:
        a, b = p
        return (a.encode() if type(a) is str else _dec(a),
                b.encode() if type(b) is str else _dec(b))
    return _dec(p)


def _dec_pairs(x: Any) -> Any:
    if type(x) is list:
        return [_dec_pair(p) for p in x]
    if type(x) is dict and len(x) == 1 and type(x.get("tuple")) is list:
        return tuple(_dec_pair(p) for p in x["tuple"])
    return _dec(x)


def _dec_address(x: Any) -> Any:
    if type(x) is list and len(x) == 2:
        return (_dec(x[0]), _dec(x[1]))
    return _dec(x)


_FIELD_DEC: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(BYTES_FIELDS, _dec_bytes_field),
    **dict.fromkeys(PAIR_FIELDS, _dec_pairs),
    **dict.fromkeys(ADDRESS_FIELDS, _dec_address),
}


def decode_message(data: Any) -> Any:
    """The inverse of `encode_message`; raises ValueError on data it could not have made."""
    if type(data) is not dict:
        return _dec(data)
    if len(data) == 1 and next(iter(data)) in TAGS:
        if type(data.get("dict")) is not list:
            return _dec(data)
        return _dec_pairs_to_dict(data["dict"], True)
    fields = _FIELD_DEC
    out = {}
    for k, x in data.items():
        f = fields.get(k)
        out[k] = _dec(x) if f is None else f(x)
    return out


def _int(obj: dict[str, Any], key: str) -> int:
    v = obj.get(key)
    if type(v) is not int:
        raise ValueError(f'"{key}" is {"missing" if v is None else repr(v)}, expected an int')
    return v


def decode_event(obj: Any) -> Event:
    """The event of one parsed event line (`json.loads` of it); ValueError says what is wrong."""
    if type(obj) is not dict:
        raise ValueError(f"event line is {type(obj).__name__}, not an object")
    seq, conn = _int(obj, "seq"), _int(obj, "conn")
    time = obj.get("time")
    if type(time) is not float and type(time) is not int:
        raise ValueError(f'"time" is {"missing" if time is None else repr(time)}, '
                         "expected a number")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise ValueError(f'"kind" is {kind!r}, expected one of {", ".join(KINDS)}')
    truncated = obj.get("truncated")
    if truncated is not None and (type(truncated) is not int or truncated < 0):
        raise ValueError(f'"truncated" is {truncated!r}, expected a non-negative int')
    if "message" not in obj:
        raise ValueError('"message" is missing')
    return Event(seq, conn, time, kind, decode_message(obj["message"]), truncated)


def decode_gap(obj: Any) -> int | None:
    """How many events a gap line records as lost, or None if `obj` is not a gap line."""
    if type(obj) is not dict or "gap" not in obj:
        return None
    n = obj["gap"]
    if type(n) is not int or n < 0:
        raise ValueError(f'"gap" is {n!r}, expected a non-negative int')
    return n


def decode_header(obj: Any) -> dict[str, Any]:
    """The header of a parsed first line; ValueError if it is not a capture this reads."""
    if type(obj) is not dict or "format" not in obj:
        raise ValueError(f"not an asgi-inspector capture (the first line has no "
                         f'"format": "{FORMAT}" header)')
    if obj["format"] != FORMAT:
        raise ValueError(f"not an asgi-inspector capture (format {obj['format']!r})")
    version = obj.get("version")
    if type(version) is not int or version < 1:
        raise ValueError(f"bad capture header: version {version!r}")
    if version > VERSION:
        raise ValueError(f"capture format version {version} is newer than this reader "
                         f"(version {VERSION}); upgrade asgi-inspector")
    return obj
