"""Response header semantics (RFC 9110/9112): one pass over an http.response.start's
header pairs, for the HTTP checker.

Names are tokens, values hold no CR, LF or NUL (SEM009); the app leaves Transfer-Encoding
to the server (SEM004); names are lowercase (SEM006); one Content-Type (SEM005); one
decimal Content-Length (SEM008), whose value the checker compares with the body's size.

Most responses carry only names from a short list (`KNOWN`): such a name is one lookup,
since it is a lowercase token already; any other name is lowered and checked byte by byte.
"""

from __future__ import annotations

from typing import Any

from inspector.findings.finding import Collector, short

# The bytes of an RFC 9110 token (`tchar`): a name holding only these is a token.
TCHAR = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CR, LF, NUL = 13, 10, 0

# What a name means here: nothing special, or one of the three names with a rule of its own.
PLAIN, CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING = 0, 1, 2, 3

# Lowercase names common in responses, each a valid token; what each means.
KNOWN: dict[bytes, int] = {
    b"content-type": CONTENT_TYPE,
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    **dict.fromkeys((
        b"date", b"server", b"cache-control", b"set-cookie", b"location", b"etag",
        b"last-modified", b"expires", b"vary", b"content-encoding", b"content-language",
        b"content-disposition", b"content-range", b"accept-ranges", b"age", b"allow",
        b"connection", b"keep-alive", b"link", b"pragma", b"retry-after", b"x-request-id",
        b"www-authenticate", b"strict-transport-security", b"content-security-policy",
        b"x-content-type-options", b"x-frame-options", b"referrer-policy",
        b"access-control-allow-origin", b"access-control-allow-credentials",
        b"access-control-allow-methods", b"access-control-allow-headers",
        b"access-control-expose-headers", b"access-control-max-age",
    ), PLAIN),
}


def response_headers(c: Collector, i: int, headers: list[Any]) -> int | None:
    """The findings of the well-formed [bytes, bytes] `headers` of the start at index i;
    the Content-Length when it is one valid number, else None."""
    upper: list[bytes] = []
    types = 0
    lengths: list[bytes] = []
    known = KNOWN.get
    for name, value in headers:
        what = known(name)
        if what is None:                     # not a known lowercase token: check it all
            low = name.lower()
            if low != name:
                upper.append(name)
            what = known(low, PLAIN)
            bad = not name or name.translate(None, TCHAR)
        else:
            bad = False
        if bad or CR in value or LF in value or NUL in value:
            c.add("SEM009", f"header {short(name)}: {short(value)}", i)
        if what:
            if what == TRANSFER_ENCODING:
                c.add("SEM004", f"the app set transfer-encoding: {short(value)}", i)
            elif what == CONTENT_TYPE:
                types += 1
            else:
                lengths.append(value.strip())
    if upper:
        c.add("SEM006", f"response header names not lowercase: {short(upper)}", i)
    if types > 1:
        c.add("SEM005", f"{types} content-type headers", i)
    if lengths:
        value = lengths[0]
        if (len(lengths) > 1 and len(set(lengths)) > 1) or not value.isdigit():
            c.add("SEM008", f"content-length {short(lengths)}", i)
        else:
            return int(value)
    return None
