"""Redis URLs as the inspector takes them: parsed, checked and masked; no I/O.

`redis://[:password@]host[:port][/db][?stream=NAME&maxlen=N]`, or `rediss://` for TLS.
`stream` names the Redis stream (default `asgi-inspector`); `maxlen` bounds it
(`XADD ... MAXLEN ~ N`, counted in stream entries, each a batch of records). Every
other query parameter is passed to the redis client as it is (`ssl_cert_reqs=none`,
`socket_timeout=2`). `masked` is the URL with its password replaced: the only form
that is ever printed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SCHEMES = ("redis", "rediss")
DEFAULT_STREAM = "asgi-inspector"
# Entries, each a batch of records of about 64 KiB at most (inspector/tap/redis/publish.py):
# at most about 130 MiB of Redis memory; under load about 100,000 small flows, at a
# request a second the last 2,000 (docs/multi-host.md).
DEFAULT_MAXLEN = 2_000
ENV = "ASGI_INSPECTOR_PUBLISH"
EXTRA_HINT = "Redis support needs the redis client: pip install 'asgi-inspector[redis]'"


class RedisURLError(ValueError):
    """A URL that is not a usable Redis stream address; the message is one line."""


class RedisMissing(RuntimeError):
    """A Redis URL was given but the `redis` package is not installed."""


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where a stream lives: `client_url` for redis-py, `stream`, `maxlen`, `masked`."""

    client_url: str
    stream: str
    maxlen: int
    masked: str

    def __str__(self) -> str:        # never the password
        return self.masked

    def __repr__(self) -> str:
        return f"RedisTarget({self.masked!r})"


def is_redis_url(text: object) -> bool:
    """Whether `text` names a Redis stream rather than a file (by its scheme)."""
    return isinstance(text, str) and text.lstrip().lower().startswith(("redis:", "rediss:"))


def mask(url: str) -> str:
    """`url` with any password replaced by `***` (a best effort on unparsable input)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def parse_redis_url(url: str) -> RedisTarget:
    """Check `url` and split off our own parameters; RedisURLError says what is wrong."""
    shown = mask(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise RedisURLError(f"{shown}: not a valid Redis URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RedisURLError(f"{shown}: a Redis URL starts with redis:// or rediss://")
    if not parts.hostname:
        raise RedisURLError(f"{shown}: no host (expected redis://host:6379/0)")
    if port == 0:
        raise RedisURLError(f"{shown}: port must be a number from 1 to 65535")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise RedisURLError(f"{shown}: the database is a number (redis://host:6379/0), "
                            f"not {path!r}")
    stream, maxlen = DEFAULT_STREAM, DEFAULT_MAXLEN
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "stream":
            if not value:
                raise RedisURLError(f"{shown}: stream= needs a name")
            stream = value
        elif key == "maxlen":
            if not value.isdigit() or int(value) < 1:
                raise RedisURLError(f"{shown}: maxlen= must be a positive number of entries")
            maxlen = int(value)
        else:
            rest.append((key, value))
    client_url = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), ""))
    masked_query = urlencode([("stream", stream), *rest]) if stream != DEFAULT_STREAM \
        else urlencode(rest)
    masked = mask(urlunsplit((scheme, parts.netloc, parts.path, masked_query, "")))
    return RedisTarget(client_url, stream, maxlen, masked)


def require_redis() -> None:
    """Raise RedisMissing (one line naming the extra) unless `redis` is importable.

    Looks the package up without importing it: wrapping an app stays light."""
    try:
        found = importlib.util.find_spec("redis") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise RedisMissing(EXTRA_HINT)

