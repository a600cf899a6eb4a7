"""gateway.redis_connection: the `redis:` section becomes a client whose every command is bounded in time."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.redis_connection import connect, key
from registry.config import RedisConfig, parse_config
from registry.errors import ConfigError
from tests.redis_server import RedisServer


async def test_connect_talks_to_the_configured_server_and_fails_fast_without_it(redis: RedisServer) -> None:
    config = RedisConfig(redis.url, timeout_ms=200, prefix="t:")
    client = connect(config)
    try:
        assert await client.set(key(config, "apq", "abc"), "1")
        assert await client.keys("*") == [b"t:apq:abc"]
        await redis.stop()
        start = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await client.get(key(config, "apq", "abc"))
        assert time.monotonic() - start < 5  # refused at once, not hung: loopback with nothing listening
    finally:
        await client.aclose()


def test_the_redis_section_is_checked_with_its_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "services:\n  a:\n    url: http://127.0.0.1:1/\nredis:\n  url: http://127.0.0.1:6379\n  timeout_ms: 0\n",
            "f.yaml",
        )
    assert [str(p) for p in caught.value.problems] == [
        "f.yaml:5: redis.url: url must be a Redis URL like redis://host:6379/0, got 'http://127.0.0.1:6379'",
        "f.yaml:6: redis.timeout_ms: timeout_ms must be a positive integer, got 0",
    ]
    config = parse_config(
        "services:\n  a:\n    url: http://127.0.0.1:1/\nredis:\n  url: redis://127.0.0.1:1/2\n", "f.yaml"
    )
    assert config.redis is not None
    assert (config.redis.url, config.redis.timeout_ms, config.redis.prefix) == (
        "redis://127.0.0.1:1/2",
        100,
        "funnel:",
    )
