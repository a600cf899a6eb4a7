"""The one way Funnel connects to Redis (the `redis:` section), for every feature whose state replicas share.

    client = connect(config.redis)          # redis.asyncio.Redis; close it with `await client.aclose()`
    await client.get(key(config.redis, "apq", digest))

Every command is bounded by `timeout_ms`: a feature that keeps state in Redis must treat a timeout or a lost
connection as "Redis is unavailable right now" and carry on without it (and count it), never fail the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry.config import RedisConfig
from registry.errors import ConfigError, Problem

from .extras import install_hint

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["connect", "key"]


def connect(config: RedisConfig) -> Redis:
    """A client for `config.url` (connections are opened on first use, so this never blocks or fails on an
    unreachable server); raises ConfigError naming the `redis:` section when the `redis` package is missing."""
    try:
        from redis.asyncio import Redis
    except ImportError:
        where = config.location
        message = f"redis: needs the redis package ({install_hint('redis', 'redis')})"
        raise ConfigError(
            [Problem(message, where.file if where else None, where.line if where else None)]
        ) from None
    seconds = config.timeout_ms / 1000
    return Redis.from_url(
        config.url,
        socket_timeout=seconds,
        socket_connect_timeout=seconds,
        # A connection the server dropped (a restart) is noticed and replaced before the next command uses it.
        health_check_interval=1,
        retry_on_timeout=False,
    )


def key(config: RedisConfig, *parts: str) -> str:
    """A key or channel name: the configured prefix, then the parts joined with ':'."""
    return config.prefix + ":".join(parts)
