"""The entity cache in Redis, with Redis gone or hanging: answers are what the services say, each lookup costs
at most one `redis.timeout_ms` (then Redis is skipped for a second), and it is counted in /metrics."""

from __future__ import annotations

import time

import aiohttp

from examples.services.cluster import Cluster
from tests.redis_server import RedisServer

from .conftest import config_for
from .test_invalidation import ORDERS, catalog_keys, serving, shared

METRICS = "observability:\n  metrics: true\n"


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "/metrics") as response:
        return await response.text()


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def test_redis_down_or_hanging_costs_misses_only(
    cluster: Cluster, redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    async with (
        serving(config_for(cluster)) as (url, _, _app),
        http.post(url + "/graphql", json=ORDERS) as response,
    ):
        expected = await response.json()
    config = shared(cluster, redis, METRICS)
    async with serving(config) as (url, gateway, _app):
        async with http.post(url + "/graphql", json=ORDERS) as response:
            assert await response.json() == expected
        await gateway.entity_cache.drain()
        text = await scrape(http, url)
        assert sample(text, 'funnel_redis_errors_total{feature="cache"}') == 0
        assert sample(text, "funnel_entity_cache_writes_total") > 0

    for outage in ("down", "hanging"):
        if outage == "down":
            await redis.stop()
        else:
            await redis.start()
            redis.pause()
        try:
            async with serving(config) as (url, gateway, _app):  # a fresh replica: its memory tier is empty
                keys = await catalog_keys(cluster)
                start = time.monotonic()
                async with http.post(url + "/graphql", json=ORDERS) as response:
                    assert await response.json() == expected, outage
                assert time.monotonic() - start < 2, outage  # one 200 ms timeout, not one per key or call
                assert await catalog_keys(cluster) > keys  # asked the service instead
                text = await scrape(http, url)
                assert sample(text, 'funnel_redis_errors_total{feature="cache"}') >= 1, outage
                assert sample(text, 'funnel_entity_cache_lookups_total{result="miss"}') > 0, outage
                await gateway.entity_cache.drain()
        finally:
            if outage == "hanging":
                redis.resume()
