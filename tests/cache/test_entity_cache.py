"""The entity cache over the example services: repeated keys are not asked again, counted by the services, and
every cached answer is the uncached one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from examples.services.cluster import Cluster, run_cluster
from gateway.gateway import Gateway
from registry.errors import ConfigError

from .conftest import EXAMPLE_SCHEMA, config_for, gateway_for

PRODUCTS = "cache:\n  fields:\n    Order.product: {max_age: 60}\n"


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    async with run_cluster() as running:
        yield running


async def counts(cluster: Cluster, *names: str) -> dict[str, tuple[int, int]]:
    """(requests, keys) each service received since the last reset."""
    found = {}
    for name in names:
        stats = await cluster.stats(name)
        found[name] = (stats["requests"], stats["keys"])
    return found


async def uncached(cluster: Cluster, query: str, **options: Any) -> dict[str, Any]:
    async with gateway_for(cluster) as gateway:
        return await gateway.execute(query, **options)


async def test_a_repeated_level_is_answered_from_the_cache(cluster: Cluster) -> None:
    query = "{ orders(first: 5) { id product { id name price } } }"
    expected = await uncached(cluster, query)
    async with gateway_for(cluster, PRODUCTS) as gateway:
        await cluster.reset_stats()
        first = await gateway.execute(query)
        distinct = len({o["product"]["id"] for o in first["data"]["orders"]})
        assert await counts(cluster, "orders", "catalog") == {"orders": (1, 0), "catalog": (1, distinct)}
        await gateway.entity_cache.drain()
        await cluster.reset_stats()
        second = await gateway.execute(query)
        assert await counts(cluster, "orders", "catalog") == {"orders": (1, 0), "catalog": (0, 0)}
        stats = gateway.entity_cache.stats
        assert (stats.hits, stats.misses) == (distinct, distinct)
    assert first == second == expected


async def test_only_the_keys_not_cached_go_downstream_in_one_call(cluster: Cluster) -> None:
    small, large = (f"{{ orders(first: {n}) {{ id product {{ id name }} }} }}" for n in (3, 12))
    expected = await uncached(cluster, large)
    async with gateway_for(cluster, PRODUCTS) as gateway:
        seen = {o["product"]["id"] for o in (await gateway.execute(small))["data"]["orders"]}
        await gateway.entity_cache.drain()
        await cluster.reset_stats()
        answer = await gateway.execute(large)
        wanted = {o["product"]["id"] for o in answer["data"]["orders"]}
        assert await counts(cluster, "catalog") == {"catalog": (1, len(wanted - seen))}
    assert answer == expected


async def test_another_selection_is_another_entry(cluster: Cluster) -> None:
    names, prices = (f"{{ orders(first: 4) {{ id product {{ {f} }} }} }}" for f in ("name", "price"))
    expected = await uncached(cluster, prices)
    async with gateway_for(cluster, PRODUCTS) as gateway:
        await gateway.execute(names)
        await gateway.entity_cache.drain()
        await cluster.reset_stats()
        assert await gateway.execute(prices) == expected
        assert (await counts(cluster, "catalog"))["catalog"][0] == 1


async def test_off_unless_a_rule_sets_a_max_age(cluster: Cluster) -> None:
    query = "{ orders(first: 3) { id product { name } } }"
    async with gateway_for(cluster) as gateway:
        assert gateway.current.cache_rules == {}
        await gateway.execute(query)
        await cluster.reset_stats()
        await gateway.execute(query)
        assert (await counts(cluster, "catalog"))["catalog"][0] == 1


async def test_cache_control_in_the_schema_sets_the_rule(cluster: Cluster, tmp_path: Path) -> None:
    schema = tmp_path / "gateway.graphql"
    schema.write_text(
        EXAMPLE_SCHEMA.read_text()
        + "\nextend type Account @cacheControl(maxAge: 30)\n"
        + "extend type Product @cacheControl(maxAge: 0)\n"
    )
    async with Gateway.from_config(config_for(cluster, schema=schema)) as gateway:
        rules = {str(c): (r.max_age, r.private, r.type_name) for c, r in gateway.current.cache_rules.items()}
        # Account.orders: its service is forwarded the caller's authorization, so it is kept per caller
        assert rules == {
            "Order.buyer": (30, False, "Account"),
            "Product.seller": (30, False, "Account"),
            "Review.author": (30, False, "Account"),
        }
        query = "{ orders(first: 4) { id buyer { id name } } }"
        expected = await uncached(cluster, query)
        assert await gateway.execute(query) == expected
        await gateway.entity_cache.drain()
        await cluster.reset_stats()
        assert await gateway.execute(query) == expected
        assert await counts(cluster, "accounts") == {"accounts": (0, 0)}


async def test_a_config_rule_naming_no_batched_field_is_refused_with_its_line(cluster: Cluster) -> None:
    extra = "cache:\n  fields:\n    Order.quantity: {max_age: 5}\n  types:\n    Prodct: {max_age: 5}\n"
    with pytest.raises(ConfigError) as raised:
        gateway_for(cluster, extra).freeze()
    assert [str(p) for p in raised.value.problems] == [
        f"{Path.cwd() / 'gateway.yaml'}:13: cache.fields: Order.quantity is no field bound with @batch",
        f"{Path.cwd() / 'gateway.yaml'}:15: cache.types: the schema has no type Prodct",
    ]


async def test_concurrent_misses_of_one_key_cause_one_fetch() -> None:
    query = "{ orders(first: 6) { id product { id name } } }"
    async with run_cluster(latency_ms=200) as slow:
        expected = await uncached(slow, query)
        # In-flight sharing off: what is shared here is shared by the entity cache's single flight.
        async with gateway_for(slow, PRODUCTS + "  inflight: false\n") as gateway:
            await slow.reset_stats()
            answers = await asyncio.gather(*(gateway.execute(query) for _ in range(3)))
            assert answers == [expected] * 3
            distinct = len({o["product"]["id"] for o in expected["data"]["orders"]})
            assert await counts(slow, "orders", "catalog") == {"orders": (3, 0), "catalog": (1, distinct)}
            assert gateway.entity_cache.stats.shared == 2 * distinct
