"""The command line's Redis parts: URLs as arguments, a stream read as a capture.

Every mistake (a malformed URL, no `redis` client installed, a server that cannot be
reached or refuses) is a `click.ClickException`: one line on stderr, never a traceback,
and never the password (every URL shown is masked).
"""

from __future__ import annotations

from typing import Any

import click


def redis_target(url: str, need_client: bool = False) -> Any:
    """A Redis URL -> RedisTarget, or one line saying what is wrong (or what to install)."""
    from inspector.tap.redis.url import RedisMissing, RedisURLError, parse_redis_url, require_redis

    try:
        target = parse_redis_url(url)
        if need_client:
            require_redis()
        return target
    except (RedisURLError, RedisMissing) as exc:
        raise click.ClickException(str(exc)) from None


class CaptureSource(click.Path):
    """A capture file (or HAR) that exists, or a Redis stream URL (redis://...)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        from inspector.tap.redis.url import is_redis_url

        if is_redis_url(value):
            redis_target(value)
            return value
        return super().convert(value, param, ctx)


def load_stream(url: str) -> tuple[dict[str, Any], list[Any]]:
    """What a Redis stream holds now, as one capture (every publisher's flows)."""
    target = redis_target(url, need_client=True)
    from inspector.tap.redis.client import describe_error, import_redis, redis_errors
    from inspector.tap.redis.feed import read_stream

    import_redis()
    try:
        header, events, missed = read_stream(target)
    except redis_errors() as exc:
        raise click.ClickException(f"{target}: {describe_error(exc)}") from None
    if not events:
        raise click.ClickException(f"{target}: stream {target.stream!r} holds no events")
    if missed:
        click.echo(f"asgi-inspector: {missed:,} events were trimmed from the stream "
                   "while it was read", err=True)
    return header, events


def redis_feed(url: str, *, live: bool) -> Any:
    """The dashboard's feed on a stream: live (`tui`), or its contents now (`open`)."""
    target = redis_target(url, need_client=True)
    from inspector.tap.redis.feed import RedisFeed

    return RedisFeed(target, live=live)


def publish_summary(middleware: Any) -> None:
    """At exit of `run`/`proxy`/`demo`: what reached Redis and what did not."""
    sink = middleware.publisher.redis
    if sink is not None:
        click.echo(f"asgi-inspector: {sink.published:,} events published to {sink.target}, "
                   f"{sink.unpublished:,} not (Redis unreachable or slow)", err=True)
