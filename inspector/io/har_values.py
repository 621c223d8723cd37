"""HAR values read defensively: whatever a HAR writer put in a field (or left out), these
return a plain value of the expected type or a neutral one, and never raise.

HAR files come from browsers, proxies and hand edits; a broken field costs that field,
never the import (`inspector.io.har_import` builds the events from these).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from inspector.io.har import Headers, Json, header_value


def as_object(value: Any) -> Json:
    """A JSON object, or {} for anything else: a missing or broken part of a HAR."""
    return value if isinstance(value, dict) else {}


def as_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


_ISO = re.compile(r"(\d{4})-?(\d\d)-?(\d\d)[T ](\d\d):?(\d\d)(?::?(\d\d)(?:[.,](\d+))?)?"
                  r"\s*(Z|[+-]\d\d(?::?\d\d)?)?$", re.IGNORECASE)


def as_epoch(value: Any) -> float | None:
    """An ISO 8601 date-time (any fraction digits, Z or offset, none = UTC) -> epoch."""
    match = _ISO.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = 0
    if zone and zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:4] or 0)) * (-1 if zone[0] == "-" else 1)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), tzinfo=timezone(timedelta(minutes=offset)))
    except ValueError:
        return None
    return moment.timestamp() + (float("0." + fraction) if fraction else 0.0)


def asgi_version(text: Any) -> str:
    """"HTTP/1.1", "http/2.0", "h2", "HTTP/3", "" -> the ASGI http_version."""
    version = str(text or "").strip().lower().removeprefix("http/")
    if version in ("2", "2.0", "h2", "h2c"):
        return "2"
    if version in ("3", "3.0") or version.startswith("h3"):
        return "3"
    return "1.0" if version == "1.0" else "1.1"


def asgi_headers(value: Any) -> Headers:
    """HAR headers ({name, value} objects, or [name, value] lists as Slack writes) as ASGI
    headers: names lowercased, HTTP/2 pseudo-headers dropped except `:authority`, which
    becomes the first header, `host` (ASGI HTTP scope, "headers")."""
    out: Headers = []
    authority = None
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            name, val = item.get("name"), item.get("value")
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            name, val = item
        else:
            continue
        if not isinstance(name, str) or not name:
            continue
        val = "" if val is None else str(val)
        if name.startswith(":"):
            if name.lower() == ":authority":
                authority = val
            continue
        out.append((name.lower().encode("utf-8", "surrogateescape"),
                    val.encode("utf-8", "surrogateescape")))
    if authority is not None and header_value(out, b"host") is None:
        out.insert(0, (b"host", authority.encode("utf-8", "surrogateescape")))
    return out


def decoded_payload(text: Any, encoding: Any) -> bytes:
    if not isinstance(text, str):
        return b""
    if str(encoding or "").lower() == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            pass
    return text.encode("utf-8", "surrogateescape")
