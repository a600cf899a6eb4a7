"""Two `funnel serve` processes over one real redis-server: what registers through one is served by the other,
what leaves stops being called; Redis stopped and started again under load fails no request, and a registration
retried meanwhile arrives once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from examples.services.cluster import Cluster

from ..processes import Child, start_child
from ..redis_server import RedisServer
from .conftest import AUTH, TOKEN, Extra

FUNNEL = str(Path(sys.executable).with_name("funnel"))
REVIEWED = "{ product(id: 2) { name reviews { rating } } }"
UNKNOWN_REVIEWS = "Cannot query field 'reviews' on type 'Product'."
INSTANCES = "/registry/services/reviews/instances"
PROPAGATION_S = 1.0  # the promise: a change reaches every replica within a second


@pytest.fixture
async def replicas(tmp_path: Path, cluster: Cluster, redis: RedisServer) -> AsyncIterator[list[str]]:
    """Two gateways over the cluster's catalog sharing the registry in Redis: their base URLs."""
    config = tmp_path / "funnel.yaml"
    config.write_text(
        "compose: true\n"
        f"services:\n  catalog:\n    url: {cluster.graphql_url('catalog')}\n    timeout_ms: 5000\n"
        f"redis:\n  url: {redis.url}\n  timeout_ms: 200\n"
        f"registry:\n  backend: redis\n  token: {TOKEN}\n  allowed_urls: ['http://127.0.0.1:*']\n  ttl_s: 30\n"
        "server:\n  port: 0\n  debug_access: everyone\n"
    )
    async with contextlib.AsyncExitStack() as stack:
        bases = []
        for _ in range(2):
            child: Child = await stack.enter_async_context(
                start_child(FUNNEL, "serve", "--config", str(config))
            )
            line = await child.read_until("Funnel listening on ")
            bases.append(line.split()[3].removesuffix("/graphql"))
        yield bases


async def query(http: aiohttp.ClientSession, base: str, text: str) -> Any:
    async with http.post(base + "/graphql", json={"query": text}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def reviews_of(http: aiohttp.ClientSession, cluster: Cluster, product: str) -> Any:
    """What the reviews service itself says of a product's reviews' ratings."""
    entities = '{ _entities(representations: [{__typename: "Product", id: "%s"}]) { ... on Product { reviews { rating } } } }'
    async with http.post(cluster.graphql_url("reviews"), json={"query": entities % product}) as response:
        return (await response.json())["data"]["_entities"][0]["reviews"]


async def until_served(http: aiohttp.ClientSession, base: str, served: bool, within_s: float) -> float:
    """Poll (bounded) until `base` serves Product.reviews (or, `served` false, refuses it); the time it took."""
    start = time.perf_counter()
    async with asyncio.timeout(within_s):
        while True:
            answer = await query(http, base, REVIEWED)
            if ("errors" not in answer) == served:
                return time.perf_counter() - start
            if served:
                assert answer["errors"][0]["message"] == UNKNOWN_REVIEWS, answer
            await asyncio.sleep(0.02)


async def test_what_registers_through_one_replica_is_served_by_the_other(
    replicas: list[str], cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    one, other = replicas
    assert (await query(http, other, REVIEWED))["errors"][0]["message"] == UNKNOWN_REVIEWS
    async with http.post(
        one + INSTANCES, json={"url": cluster.graphql_url("reviews")}, headers=AUTH
    ) as response:
        assert response.status == 201, await response.text()
        registered = await response.json()
    took = await until_served(http, other, True, PROPAGATION_S)
    print(f"registered through one replica, served by the other after {took * 1000:.0f} ms")
    expected = await reviews_of(http, cluster, "2")
    await cluster.reset_stats()
    answer = await query(http, other, REVIEWED)
    assert answer["data"]["product"]["reviews"] == expected
    assert (await cluster.stats("reviews"))["requests"] == 1

    async with http.delete(f"{other}{INSTANCES}/{registered['id']}", headers=AUTH) as response:
        assert response.status == 204
    await until_served(http, one, False, PROPAGATION_S)
    await cluster.reset_stats()
    for base in replicas:
        assert (await query(http, base, REVIEWED))["errors"][0]["message"] == UNKNOWN_REVIEWS
    assert (await cluster.stats("reviews"))["requests"] == 0

    # One that stops renewing expires on both (a lease of a second, never renewed).
    expiring = {"url": cluster.graphql_url("reviews"), "ttl_s": 1}
    async with http.post(other + INSTANCES, json=expiring, headers=AUTH) as response:
        assert response.status == 201, await response.text()
    await until_served(http, one, True, PROPAGATION_S)
    for base in replicas:
        await until_served(http, base, False, 10)


async def test_redis_stopped_and_started_again_under_load(
    replicas: list[str],
    cluster: Cluster,
    redis: RedisServer,
    http: aiohttp.ClientSession,
    extra_reviews: Extra,
) -> None:
    one, other = replicas
    reviews = cluster.graphql_url("reviews")
    async with http.post(one + INSTANCES, json={"url": reviews}, headers=AUTH) as response:
        assert response.status == 201, await response.text()
    await until_served(http, other, True, PROPAGATION_S)

    answers: list[Any] = []
    stop = asyncio.Event()

    async def load(base: str) -> None:
        for _ in range(2000):  # bounded: also stopped once the outage is over
            if stop.is_set():
                return
            answers.append(await query(http, base, REVIEWED))
            await asyncio.sleep(0.005)

    loads = [asyncio.create_task(load(base)) for base in replicas]
    try:
        await asyncio.sleep(0.2)
        await redis.stop()
        # A registration while Redis is away: refused with Retry-After, nothing changes.
        joining = {"url": extra_reviews.url}
        async with http.post(other + INSTANCES, json=joining, headers=AUTH) as response:
            assert response.status == 503, await response.text()
            assert response.headers["Retry-After"] == "1"
            assert await response.json() == {
                "errors": [
                    {
                        "message": "The registry's store (Redis) cannot be reached: nothing was changed. "
                        "Try again."
                    }
                ]
            }
        for base in replicas:
            async with http.get(base + "/ready") as response:
                assert (await response.json())["registry"]["available"] is False
        await asyncio.sleep(0.5)
        await redis.start()
        # The registering service tries again, as told: it arrives, at both replicas.
        async with asyncio.timeout(10):
            while True:
                async with http.post(other + INSTANCES, json=joining, headers=AUTH) as response:
                    if response.status == 201:
                        break
                    assert response.status == 503, await response.text()
                await asyncio.sleep(0.1)
        async with asyncio.timeout(10):
            for base in replicas:
                while True:
                    async with http.get(base + "/registry") as response:
                        listed = await response.json()
                    if (
                        listed["available"]
                        and len(listed["services"].get("reviews", {}).get("instances", [])) == 2
                    ):
                        break
                    await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*loads)
    assert len(answers) > 20
    failed = [a for a in answers if "errors" in a]
    assert failed == []
    # Both instances are called now, through either replica.
    await cluster.reset_stats()
    extra_reviews.reset()
    for base in replicas:
        for _ in range(20):
            assert "errors" not in await query(http, base, REVIEWED)
    first, second = (await cluster.stats("reviews"))["requests"], extra_reviews.requests()
    assert first + second == 40 and first > 0 and second > 0, (first, second)


async def test_workers_need_the_registry_in_redis(tmp_path: Path, cluster: Cluster) -> None:
    config = tmp_path / "funnel.yaml"
    config.write_text(
        f"compose: true\nservices:\n  catalog:\n    url: {cluster.graphql_url('catalog')}\n"
        f"registry:\n  token: {TOKEN}\nserver:\n  port: 0\n"
    )
    async with start_child(FUNNEL, "serve", "--config", str(config), "--workers", "2") as child:
        assert await child.exit_code() == 1
        assert child.errors() == (
            "error: registry.backend memory keeps registrations in one process, and 2 workers would each keep "
            "their own: with --workers, use registry.backend: redis\n"
        )
