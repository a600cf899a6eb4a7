"""Invalidation of the entity cache: POST /cache/invalidate (its own token), events on the Redis channel that
every replica applies, and a Redis that is down or hangs costing nothing but misses. Call counts come from the
example services; every answer read through the cache is compared with the uncached one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services.cluster import Cluster, run_cluster
from gateway.cache.invalidation import Invalidation, InvalidEvent
from gateway.gateway import Gateway
from gateway.redis_connection import connect
from gateway.server import create_app
from gateway.server.app import INVALIDATION
from gateway.server.serving import listening
from registry.config import GatewayConfig, RedisConfig
from tests.redis_server import RedisServer

from .conftest import config_for

TOKEN = "invalidation-token-3f9a"
CACHED = "cache:\n  fields:\n    Order.product: {max_age: 60}\n"
WITH_TOKEN = CACHED + f"  invalidation: {{token: {TOKEN}}}\n"
ORDERS = {"query": "{ orders(first: 3) { id product { id name price } } }"}


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with run_cluster() as running:
        yield running


@contextlib.asynccontextmanager
async def serving(config: GatewayConfig) -> AsyncIterator[tuple[str, Gateway, web.Application]]:
    gateway = Gateway.from_config(config)
    app = create_app(gateway, config.server)
    async with listening(app, "127.0.0.1", 0, shutdown_timeout_s=5) as url:
        yield url, gateway, app


async def catalog_keys(cluster: Cluster) -> int:
    return (await cluster.stats("catalog"))["keys"]


async def read(http: aiohttp.ClientSession, url: str, gateway: Gateway) -> dict[str, Any]:
    async with http.post(url + "/graphql", json=ORDERS) as response:
        body = await response.json()
    await gateway.entity_cache.drain()  # the write-back, before the next read counts on it
    return body


async def invalidate(
    http: aiohttp.ClientSession, url: str, body: Any, token: str | None = TOKEN
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.post(url + "/cache/invalidate", json=body, headers=headers) as response:
        return response.status, await response.json()


async def set_price(http: aiohttp.ClientSession, url: str, product: str, price: float) -> None:
    mutation = f'mutation {{ updatePrice(productId: "{product}", price: {price}) {{ id }} }}'
    async with http.post(url + "/graphql", json={"query": mutation}) as response:
        assert (await response.json()) == {"data": {"updatePrice": {"id": product}}}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], 'an invalidation is a JSON object: {"type": "Product", "keys": ["7"]} or {"all": true}'),
        ({"type": "Product", "ids": []}, "unknown field 'ids' (allowed: all, keys, type)"),
        ({"all": True, "type": "Product"}, '"all": true takes no type or keys'),
        ({"type": "../x"}, '"type" must name a type, like "Product" (or give "all": true)'),
        ({"type": "Product", "keys": []}, '"keys" must be a non-empty list of keys'),
        ({"type": "Product", "keys": [{"id": 1}]}, '"keys"[0] must be a string or an integer'),
        ({"type": "Product", "keys": ["1"] * 1001}, '"keys" has 1001 keys; at most 1000 at once'),
        ({"type": "Product", "keys": ["x" * 513]}, '"keys"[0] is longer than 512 characters'),
    ],
)
def test_an_event_that_is_not_an_invalidation_says_why(event: Any, message: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        Invalidation.parse(event)
    assert str(raised.value) == message


def test_keys_are_compared_as_text() -> None:
    assert Invalidation.parse({"type": "Product", "keys": [7, "7", "8"]}) == Invalidation(
        "Product", ("7", "8")
    )


async def test_a_changed_price_is_seen_once_its_product_is_invalidated(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    async with serving(config_for(cluster, WITH_TOKEN)) as (url, gateway, _app):
        first = await read(http, url, gateway)
        product = first["data"]["orders"][0]["product"]["id"]
        await set_price(http, url, product, 123.5)
        keys = await catalog_keys(cluster)
        assert await read(http, url, gateway) == first  # still cached: the old price
        assert await catalog_keys(cluster) == keys

        assert await invalidate(http, url, {"type": "Product", "keys": [product]}, token=None) == (
            401,
            {
                "errors": [
                    {
                        "message": "POST /cache/invalidate needs the token of cache.invalidation (Authorization: Bearer ...)."
                    }
                ]
            },
        )
        assert (await invalidate(http, url, {"type": "Product", "keys": [product]}, token="wrong"))[0] == 401
        assert await invalidate(http, url, {"type": "Nope"}) == (
            400,
            {"errors": [{"message": "'Nope' is not an object type of the schema."}]},
        )
        assert await invalidate(http, url, {"type": "Product", "keys": [product]}) == (
            200,
            {"invalidated": {"type": "Product", "keys": [product]}},
        )
        fresh = await read(http, url, gateway)
        assert await catalog_keys(cluster) == keys + 1  # only the invalidated product was asked again
        prices = [o["product"]["price"] for o in fresh["data"]["orders"] if o["product"]["id"] == product]
        assert prices and set(prices) == {123.5}
        assert await invalidate(http, url, {"all": True}) == (200, {"invalidated": {"all": True}})
        await read(http, url, gateway)
        distinct = len({o["product"]["id"] for o in fresh["data"]["orders"]})
        assert await catalog_keys(cluster) == keys + 1 + distinct
    async with serving(config_for(cluster)) as (url, gateway, _app):
        assert fresh == await read(http, url, gateway)  # what the cache answers is what the services say


async def test_the_endpoint_is_off_without_a_token(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    async with serving(config_for(cluster, CACHED)) as (url, _gateway, _app):
        status, _ = await invalidate(http, url, {"all": True})
    assert status == 404


def shared(cluster: Cluster, redis: RedisServer, extra: str = "") -> GatewayConfig:
    text = WITH_TOKEN + "  redis: true\n" + f"redis: {{url: '{redis.url}', timeout_ms: 200}}\n" + extra
    return config_for(cluster, text)


async def test_an_event_on_the_channel_evicts_every_replica(
    cluster: Cluster, redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    config = shared(cluster, redis)
    async with serving(config) as (one, first, app_one), serving(config) as (two, second, app_two):
        channels = [app[INVALIDATION] for app in (app_one, app_two)]
        async with asyncio.timeout(10):
            for channel in channels:
                await channel.subscribed.wait()
        await read(http, one, first)
        baseline = await read(http, two, second)  # from Redis, filled by the first replica
        product = baseline["data"]["orders"][0]["product"]["id"]
        keys = await catalog_keys(cluster)
        await set_price(http, one, product, 77.25)

        publisher = connect(RedisConfig(redis.url))
        try:
            await publisher.publish("funnel:cache-invalidate", b"not json")  # counted, changes nothing
            await publisher.publish(
                "funnel:cache-invalidate", b'{"type": "Product", "keys": ["%s"]}' % product.encode()
            )
            async with asyncio.timeout(10):
                while not all(c.received == 1 for c in channels):
                    await asyncio.sleep(0.02)
        finally:
            await publisher.aclose()
        assert [c.refused for c in channels] == [1, 1]
        for url, gateway in ((one, first), (two, second)):
            answer = await read(http, url, gateway)
            prices = {
                o["product"]["price"] for o in answer["data"]["orders"] if o["product"]["id"] == product
            }
            assert prices == {77.25}
        # asked once again in all: the first replica refilled Redis, the second read it there
        assert await catalog_keys(cluster) == keys + 1
