"""A captured HTTP request as a curl command that sends the same request again.

The command is for a POSIX shell (dash as much as bash) and must survive anything a
client can put in a request: quotes, `$(...)`, backticks, newlines, NUL and bytes that
are not UTF-8. Plain text goes in single quotes (`shlex.quote`), where the shell expands
nothing. What single quotes cannot carry (NUL, invalid UTF-8) or should not (terminal
control characters, a body too long for one argv string) is written as octal escapes and
rebuilt by the shell's builtin `printf '%b'`: a body is piped into `--data-binary @-`, a
header is `-H "$(printf '%b' '...')"`.

"Same request" means the captured method, URL, headers and body, so where curl would add
something of its own it is told not to: `-H 'Content-Type:'` when the request had none
(curl labels posted data as a form), `-H 'User-Agent:'` / `-H 'Accept:'` when it had
none, `-H 'Expect:'` for a large body (curl asks for 100-continue). Content-Length is
left to curl, and so is Host when it matches the URL. `--compressed` is added when the
request's Accept-Encoding names a coding: curl still sends the captured header but
decodes the answer for the reader. Secrets are masked unless asked for, so a masked
command sends "<masked>" where the credential was. Pure: flow in, text out.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from urllib.parse import urlsplit

from inspector.flows.model import Flow
from inspector.io.har import request_url
from inspector.io.secrets import mask_headers

__all__ = ["flow_to_curl"]

# C0 controls but tab and newline, DEL, C1 controls, and the line separators and bidi
# overrides that make text look other than it is on a terminal (see inspector.text).
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MAX_ARG = 32 * 1024           # Linux refuses one argv string over 128 KiB (MAX_ARG_STRLEN)
_EXPECT_OVER = 1024            # curl 7.x sends Expect: 100-continue above this many bytes
_CODINGS = ("gzip", "deflate", "br", "zstd", "compress")
_VERSIONS = {"1.0": "--http1.0", "1.1": "--http1.1", "2": "--http2", "3": "--http3"}


def flow_to_curl(flow: Flow, *, include_secrets: bool = False,
                 secret_headers: Iterable[str] = (), base_url: str | None = None) -> str:
    """One runnable curl command (several lines, joined with `\\`) for an HTTP flow.

    `base_url` sends the request to another server ("http://127.0.0.1:8000"); the
    captured Host header is then kept, as a replay to another server needs it.
    A cut request body is sent as far as it was captured, under a warning comment.
    Raises ValueError for a WebSocket or lifespan flow: curl has no way to replay it.
    """
    if flow.type != "http":
        raise ValueError(f"curl can replay HTTP requests, not a {flow.type} flow")
    url = request_url(flow, base_url)
    method = flow.method or "GET"
    body = flow.request_body
    has_body = flow.request_body_size > 0
    first = ["curl", _VERSIONS.get(flow.http_version, "--http1.1")]
    if method == "HEAD" and not has_body:
        first.append("--head")                 # -X HEAD would wait for a body
    elif method != ("POST" if has_body else "GET"):
        first += ["-X", shlex.quote(method)]
    path = urlsplit(url).path
    if re.search(r"(^|/)\.\.?(/|$)", path):
        first.append("--path-as-is")            # curl would resolve /../ itself
    if re.search(r"[\[\]{}]", url):
        first.append("--globoff")               # curl would read [] and {} as ranges
    first.append(shlex.quote(url))

    lines = _header_options(flow, url, base_url, include_secrets, secret_headers, has_body)
    pipe = ""
    if has_body:
        text = _plain(body, newlines=True)
        if text is not None and len(body) <= _MAX_ARG:
            lines.append("--data-raw " + shlex.quote(text))
        else:
            pipe = f"printf '%b' {_octal(body)} | "
            lines.append("--data-binary @-")
    command = " \\\n  ".join([pipe + " ".join(first), *lines])
    if flow.request_body_truncated:
        command = (f"# asgi-inspector: only {len(body)} of {flow.request_body_size} body bytes "
                   "were captured; this sends those\n" + command)
    return command


def _header_options(flow: Flow, url: str, base_url: str | None, include_secrets: bool,
                    secret_headers: Iterable[str], has_body: bool) -> list[str]:
    """`-H` options for the captured headers, plus those that stop curl adding its own."""
    headers = mask_headers(flow.request_headers, tuple(secret_headers), include_secrets)
    netloc = urlsplit(url).netloc.lower()
    names = {name.lower() for name, _ in headers}
    options = []
    compressed = False
    for name, value in headers:
        key = name.lower()
        if key == b"content-length" or key.startswith(b":"):
            continue     # curl counts the body itself; pseudo-headers are not headers
        if key == b"host" and value.decode("latin-1").lower() == netloc:
            continue
        if key == b"accept-encoding":
            compressed = compressed or any(c in value.decode("latin-1").lower()
                                           for c in _CODINGS)
        # "Name:" would make curl drop the header; "Name;" sends it empty (curl -H docs).
        line = name + b";" if not value.strip() else name + b": " + value
        options.append("-H " + _arg(line))
    for name, needed in ((b"content-type", has_body), (b"user-agent", True),
                         (b"accept", True),
                         (b"expect", has_body and flow.request_body_size > _EXPECT_OVER)):
        if needed and name not in names:
            options.append("-H " + shlex.quote(name.decode().title() + ":"))
    if compressed:
        options.append("--compressed")
    return options


def _plain(data: bytes, newlines: bool = False) -> str | None:
    """`data` as text fit for single quotes and a terminal, or None."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    if _HIDDEN.search(text) or (not newlines and ("\n" in text or "\t" in text)):
        return None
    return text


def _arg(data: bytes) -> str:
    """One shell word that expands to exactly `data` (which holds no NUL, no final \\n)."""
    text = _plain(data)
    if text is not None:
        return shlex.quote(text)
    return f"\"$(printf '%b' {_octal(data)})\""


def _octal(data: bytes) -> str:
    """A single-quoted `printf %b` argument for `data`: printable ASCII as is (but ' and
    \\), every other byte as \\0ooo, the escape POSIX printf %b defines."""
    out = []
    for byte in data:
        if 0x20 <= byte < 0x7F and byte not in (0x27, 0x5C):
            out.append(chr(byte))
        else:
            out.append(f"\\0{byte:03o}")
    return "'" + "".join(out) + "'"
