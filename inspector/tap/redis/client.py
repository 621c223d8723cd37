"""Opening a redis-py asyncio client on a `RedisTarget`: the one place `redis` is imported.

The client makes no retries of its own: the publisher and the feed each have their own
back-off, and a command that waits on a dead server is exactly what they must not do.
"""

from __future__ import annotations

from typing import Any

from inspector.tap.redis.url import EXTRA_HINT, RedisMissing, RedisTarget


def import_redis() -> Any:
    """The `redis.asyncio` module, or RedisMissing naming the extra."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise RedisMissing(EXTRA_HINT) from None
    return aioredis


def connection_errors() -> tuple[type[BaseException], ...]:
    """What a lost, refused or slow server raises (redis's errors and OSError)."""
    import redis.exceptions as e

    return (e.ConnectionError, e.TimeoutError, e.BusyLoadingError, OSError)


def redis_errors() -> tuple[type[BaseException], ...]:
    """Everything redis raises for a command (refused, wrong type, auth) and OSError."""
    import redis.exceptions as e

    return (e.RedisError, OSError)


def describe_error(exc: BaseException) -> str:
    """One line for a Redis failure, with a hint where redis's own words are cryptic."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "NOAUTH" in text or "HELLO must be called with the client already authenticated" in text:
        return "the server requires a password (redis://:PASSWORD@host:6379/0)"
    if text.startswith("WRONGTYPE"):
        return "that key holds something other than a stream (choose another ?stream=)"
    return text


def open_client(target: RedisTarget, *, timeout: float = 2.0,
                block_ms: int = 0) -> Any:
    """A client for `target`: connects on first use, each command bounded by `timeout`
    seconds (plus `block_ms` for a blocking read)."""
    aioredis = import_redis()
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aioredis.from_url(target.client_url, socket_timeout=timeout + block_ms / 1000,
                             socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
                             retry_on_timeout=False, health_check_interval=0)
