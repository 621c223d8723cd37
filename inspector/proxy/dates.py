"""The Date field on what the proxy sends without an upstream's Date (RFC 9110 6.6.1).

The proxy is served with uvicorn's Date header off, so that the upstream's own Date passes
through alone. That leaves three kinds of response with none, which 6.6.1 requires of a
sender with a clock: the proxy's own 502 and 504 answers, the 400 its server sends for a
request it cannot parse, and an upstream response that came without one (a recipient
that forwards it must add the time it received it). `http_date()` is that field's value,
formatted once per second at most.
"""

from __future__ import annotations

import time
from email.utils import formatdate

__all__ = ["http_date"]

_last = [-1, b""]   # the second formatted last, and its text


def http_date() -> bytes:
    """The current time as an HTTP-date (IMF-fixdate), e.g. b"Mon, 07 Dec 2026 01:50:00 GMT"."""
    now = int(time.time())
    if now != _last[0]:
        _last[1] = formatdate(now, usegmt=True).encode("ascii")
        _last[0] = now
    return _last[1]  # type: ignore[return-value]
