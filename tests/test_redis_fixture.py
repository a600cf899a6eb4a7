"""The redis-server the tests share: real, empty on every start, and restartable on the same port."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.redis_server import RedisServer, wait_closed


async def test_redis_server_starts_empty_and_restarts_on_its_port(redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis.url)
    assert await client.set("a", "1")
    assert await client.get("a") == b"1"
    await client.aclose()
    await redis.stop()
    await wait_closed(redis.port)
    assert not redis.running
    await redis.start()
    client = aioredis.Redis.from_url(redis.url)
    assert await client.get("a") is None  # nothing persisted across the outage
    await client.aclose()
