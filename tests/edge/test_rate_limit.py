"""Rate limiting per client: a token bucket in memory, or in Redis shared by replicas; 429 with Retry-After."""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.ratelimit import MemoryBuckets
from registry.config import APIKeyConfig, AuthConfig, RateLimitConfig, RedisConfig
from tests.redis_server import RedisServer
from tests.server.conftest import StartServer

QUERY = {"query": "{ __typename }"}
LIMITED = {
    "errors": [
        {
            "message": "Too many requests: at most 0.5 per second (burst 2) per client (rate_limit); retry after 2 s.",
            "extensions": {"code": "RATE_LIMITED"},
        }
    ]
}


async def post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any, str | None]:
    async with http.post(url, json=QUERY, headers=headers or {}) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


OK = (200, {"data": {"__typename": "Query"}}, None)


async def test_a_client_beyond_its_burst_gets_429_with_retry_after(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(rate_limit=RateLimitConfig(requests_per_second=0.5, burst=2))
    assert [await post(http, server.graphql) for _ in range(3)] == [OK, OK, (429, LIMITED, "2")]
    async with http.get(server.url + "/health") as response:  # only /graphql is limited
        assert response.status == 200


async def test_clients_are_told_apart_by_subject_and_exempt_ones_never_counted(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    keys = (APIKeyConfig("key-a", "a"), APIKeyConfig("key-b", "b"), APIKeyConfig("key-ops", "ops"))
    server = await start_server(
        auth=AuthConfig(api_keys=keys),
        rate_limit=RateLimitConfig(requests_per_second=0.5, burst=2, exempt_subjects=("ops",)),
    )
    a, b, ops = ({"x-api-key": k.key} for k in keys)
    assert [await post(http, server.graphql, a) for _ in range(3)] == [OK, OK, (429, LIMITED, "2")]
    assert [await post(http, server.graphql, b) for _ in range(2)] == [OK, OK]
    assert [await post(http, server.graphql, ops) for _ in range(5)] == [OK] * 5


async def test_replicas_share_the_bucket_in_redis(
    start_server: StartServer, http: aiohttp.ClientSession, redis: RedisServer
) -> None:
    limit = RateLimitConfig(requests_per_second=0.5, burst=2, backend="redis")
    redis_config = RedisConfig(url=redis.url)
    first = await start_server(rate_limit=limit, redis=redis_config)
    second = await start_server(rate_limit=limit, redis=redis_config)
    answers = [
        await post(http, first.graphql),
        await post(http, second.graphql),
        await post(http, first.graphql),
    ]
    assert answers == [OK, OK, (429, LIMITED, "2")]
    assert (await post(http, second.graphql))[0] == 429


def test_the_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = MemoryBuckets(2.0, 2, clock=lambda: now[0])
    assert [buckets.take_now("c").allowed for _ in range(3)] == [True, True, False]
    assert buckets.take_now("c").retry_after_s == 0.5
    now[0] = 0.5
    assert [buckets.take_now("c").allowed for _ in range(2)] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert [buckets.take_now("c").allowed for _ in range(3)] == [True, True, False]
