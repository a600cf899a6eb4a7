"""SchemaVersion and Gateway.swap: a request keeps the version it started with; the next one sees the new one."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from examples.services.cluster import Cluster
from gateway import Gateway
from gateway.schema.annotations import load_schema
from registry.errors import ConfigError

from .conftest import calls, rows, service_configs

SDL = """
type Query { orders(first: Int!): [Order!]! @remote(service: "orders") }
type Order {
  id: ID!
  productId: ID!
  slow: Boolean
  product: Product @batch(service: "catalog", key: "productId", field: "productsByIds")
}
type Product { id: ID! name: String! }
"""

# The new version: `Order.product` gone, `Order.quantity` new.
NEW_SDL = """
type Query { orders(first: Int!): [Order!]! @remote(service: "orders") }
type Order { id: ID! quantity: Int! slow: Boolean }
"""


async def test_a_request_keeps_its_version_and_the_next_one_sees_the_new(cluster: Cluster) -> None:
    services = service_configs(cluster)
    gateway = Gateway.from_sdl(SDL, services, path="old.graphql")
    entered, release = asyncio.Event(), asyncio.Event()

    @gateway.loader("Order.slow", requires=("id",))
    async def slow(orders: Sequence[Mapping[str, Any]]) -> list[bool]:
        entered.set()
        await release.wait()  # the swap happens while the request is here, at level 1
        return [True] * len(orders)

    async with gateway:
        old = gateway.current
        await cluster.reset_stats()
        in_flight = asyncio.ensure_future(
            gateway.execute("{ orders(first: 2) { id slow product { name } } }")
        )
        await asyncio.wait_for(entered.wait(), 30)
        schema, bindings = load_schema(NEW_SDL, "new.graphql", services)
        new = gateway.build_version(schema, bindings)
        assert gateway.swap(new) is old and gateway.current is new
        release.set()
        answer = await asyncio.wait_for(in_flight, 30)
        after = await gateway.execute("{ orders(first: 2) { id quantity slow } }")
        gone = await gateway.execute("{ orders(first: 2) { product { name } } }")

    orders = rows(cluster, "orders", "SELECT id, product_id, quantity FROM orders ORDER BY id LIMIT 2")
    names = {r["id"]: r["name"] for r in rows(cluster, "catalog", "SELECT id, name FROM products")}
    assert answer == {
        "data": {
            "orders": [
                {"id": str(o["id"]), "slow": True, "product": {"name": names[o["product_id"]]}}
                for o in orders
            ]
        }
    }
    assert after == {
        "data": {"orders": [{"id": str(o["id"]), "quantity": o["quantity"], "slow": True} for o in orders]}
    }
    assert gone == {
        "errors": [
            {
                "message": "Cannot query field 'product' on type 'Order'.",
                "locations": [{"line": 1, "column": 22}],
            }
        ]
    }
    # the old request's catalog call went out after the swap: its plan was the old version's
    assert await calls(cluster) == {"accounts": 0, "catalog": 1, "orders": 2, "reviews": 0}
    assert old.id != new.id and new.loaded_at >= old.loaded_at


async def test_a_document_prepared_for_the_old_version_is_validated_again(cluster: Cluster) -> None:
    services = service_configs(cluster)
    gateway = Gateway.from_sdl(SDL, services, path="old.graphql")
    gateway.loader("Order.slow", requires=("id",))(_never)
    async with gateway:
        prepared = gateway.prepare("{ orders(first: 1) { product { name } } }")
        assert prepared.document is not None and prepared.version == gateway.current.id
        gateway.swap(gateway.build_version(*load_schema(NEW_SDL, "new.graphql", services)))
        result = await gateway.run(prepared)
    assert result.response() == {
        "errors": [
            {
                "message": "Cannot query field 'product' on type 'Order'.",
                "locations": [{"line": 1, "column": 22}],
            }
        ]
    }


async def test_a_bad_version_is_refused_and_the_current_one_kept(cluster: Cluster) -> None:
    services = service_configs(cluster)
    gateway = Gateway.from_sdl(SDL, services, path="old.graphql")
    line = sys._getframe().f_lineno + 1
    gateway.loader("Order.slow", requires=("id",))(_never)
    async with gateway:
        current = gateway.current
        schema, bindings = load_schema(SDL, "again.graphql", services)
        same = gateway.build_version(schema, bindings)
        # the decorated loader is for a field the new schema does not have
        bad_schema, bad_bindings = load_schema(NEW_SDL.replace("slow: Boolean", ""), "bad.graphql", services)
        with pytest.raises(ConfigError) as refused:
            gateway.build_version(bad_schema, bad_bindings)
        assert gateway.current is current
    assert same.id == current.id  # the same schema and bindings: the same id
    assert [str(p) for p in refused.value.problems] == [
        f"{__file__}:{line}: Order.slow: unknown field 'slow' on Order"
    ]


async def _never(orders: Sequence[Mapping[str, Any]]) -> list[bool]:
    return [False] * len(orders)
