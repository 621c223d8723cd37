"""Redis URLs: parsed, checked, masked (pure: no server)."""

from __future__ import annotations

import pytest

from inspector.tap.redis.url import (
    DEFAULT_MAXLEN,
    DEFAULT_STREAM,
    RedisURLError,
    is_redis_url,
    mask,
    parse_redis_url,
)


def test_defaults_and_our_parameters() -> None:
    t = parse_redis_url("redis://cache.internal:6380/2")
    assert (t.stream, t.maxlen) == (DEFAULT_STREAM, DEFAULT_MAXLEN)
    assert t.client_url == "redis://cache.internal:6380/2"
    t = parse_redis_url("rediss://h/0?stream=shop-prod&maxlen=500&ssl_cert_reqs=none")
    assert (t.stream, t.maxlen) == ("shop-prod", 500)
    # Ours are taken out; the client's own pass through.
    assert t.client_url == "rediss://h/0?ssl_cert_reqs=none"
    assert t.masked == "rediss://h/0?stream=shop-prod&ssl_cert_reqs=none"


def test_password_never_shown() -> None:
    t = parse_redis_url("redis://default:s3cr%40t@h:6379/0?stream=x")
    assert "s3cr" not in t.masked and "s3cr" not in str(t) and "s3cr" not in repr(t)
    assert t.masked == "redis://default:***@h:6379/0?stream=x"
    assert "s3cr%40t" in t.client_url           # the client still gets it
    assert mask("redis://:pw@h/0") == "redis://:***@h/0"
    assert mask("redis://h/0") == "redis://h/0"


@pytest.mark.parametrize(("url", "says"), [
    ("http://h:6379/0", "starts with redis:// or rediss://"),
    ("redis://", "no host"),
    ("redis://h:notaport/0", "not a valid Redis URL"),
    ("redis://h:99999/0", "not a valid Redis URL"),
    ("redis://h/db1", "the database is a number"),
    ("redis://h/0?maxlen=0", "maxlen= must be a positive number"),
    ("redis://h/0?maxlen=lots", "maxlen= must be a positive number"),
    ("redis://h/0?stream=", "stream= needs a name"),
])
def test_bad_urls_say_why_in_one_line(url: str, says: str) -> None:
    with pytest.raises(RedisURLError) as info:
        parse_redis_url(url)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_bad_url_message_masks_the_password() -> None:
    with pytest.raises(RedisURLError) as info:
        parse_redis_url("redis://user:hunter2@h/notadb")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_is_redis_url() -> None:
    assert is_redis_url("redis://h") and is_redis_url("REDISS://h") and is_redis_url("redis:/x")
    assert not is_redis_url("capture.jsonl") and not is_redis_url("./redis/x.jsonl")
