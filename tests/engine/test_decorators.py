"""Python decorators compile to the same bindings as the SDL annotations and run in the same plan."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from examples.services.cluster import Cluster
from gateway.gateway import Gateway
from registry.errors import ConfigError

from .conftest import EXAMPLE_SCHEMA, calls, rows, service_configs

SDL = """
type Query { orders(first: Int!): [Order!]! @remote(service: "orders") }
type Order {
  id: ID!
  productId: ID!
  quantity: Int!
  unitPrice: Float!
  total: Float!
  product: Product
  label: String
}
type Product { id: ID! name: String! sellerId: ID! seller: Account inStock: Boolean! }
type Account { id: ID! name: String! }
"""


async def test_batch_resolver_and_loader_decorators(cluster: Cluster) -> None:
    gateway = Gateway.from_sdl(SDL, service_configs(cluster), path="decorated.graphql")
    gateway.batch("Order.product", service="catalog", key="productId", field="productsByIds")

    @gateway.batch("Product.seller", service="accounts", path="/accounts", requires=("sellerId",))
    def seller_key(product: Mapping[str, Any]) -> Any:
        return int(product["sellerId"])  # a derived key: REST ids are integers

    @gateway.resolver("Order.total", requires=("quantity", "unitPrice"))
    def total(order: Mapping[str, Any]) -> float:
        return round(order["quantity"] * order["unitPrice"], 2)

    loaded: list[int] = []

    @gateway.loader("Product.inStock", requires=("id",))
    async def in_stock(products: Sequence[Mapping[str, Any]]) -> list[bool]:
        loaded.append(len(products))
        return [int(p["id"]) % 2 == 0 for p in products]

    async with gateway:
        await cluster.reset_stats()
        result = await gateway.execute(
            "{ orders(first: 30) { id total product { name inStock seller { name } } } }"
        )
    accounts = {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    products = {r["id"]: r for r in rows(cluster, "catalog", "SELECT id, name, seller_id FROM products")}
    orders = rows(
        cluster, "orders", "SELECT id, product_id, quantity, unit_price FROM orders ORDER BY id LIMIT 30"
    )
    assert result == {
        "data": {
            "orders": [
                {
                    "id": str(o["id"]),
                    "total": round(o["quantity"] * o["unit_price"], 2),
                    "product": {
                        "name": products[o["product_id"]]["name"],
                        "inStock": o["product_id"] % 2 == 0,
                        "seller": {"name": accounts[products[o["product_id"]]["seller_id"]]},
                    },
                }
                for o in orders
            ]
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 0}
    assert loaded == [len({o["product_id"] for o in orders})]  # one call, each distinct product once


async def test_decorator_problems_are_reported_with_file_and_line(cluster: Cluster) -> None:
    gateway = Gateway.from_sdl(SDL, service_configs(cluster), path="decorated.graphql")
    line = test_decorator_problems_are_reported_with_file_and_line.__code__.co_firstlineno + 3
    gateway.batch("Order.product", service="catalogue", key="productId", field="productsByIds")
    gateway.batch("Order.nothing", service="catalog", key="productId", field="productsByIds")
    with pytest.raises(ConfigError) as raised:
        gateway.freeze()
    assert [str(p) for p in raised.value.problems] == [
        f"{__file__}:{line}: Order.product: unknown service 'catalogue' (known: accounts, catalog, orders, reviews)",
        f"{__file__}:{line + 1}: Order.nothing: unknown field 'nothing' on Order",
    ]


async def test_a_failing_resolver_nulls_only_its_field(cluster: Cluster) -> None:
    gateway = Gateway.from_sdl(SDL, service_configs(cluster), path="decorated.graphql")

    @gateway.resolver("Order.label", requires=("id",))
    def label(order: Mapping[str, Any]) -> str:
        if order["id"] == "2":
            raise ValueError("no label for order 2")
        return f"order #{order['id']}"

    async with gateway:
        await cluster.reset_stats()
        query = "{ orders(first: 3) { id label } }"
        result = await gateway.execute(query)
    assert result == {
        "data": {
            "orders": [
                {"id": "1", "label": "order #1"},
                {"id": "2", "label": None},
                {"id": "3", "label": "order #3"},
            ]
        },
        "errors": [
            {
                "message": "no label for order 2",
                "locations": [{"line": 1, "column": 1 + query.index("label")}],
                "path": ["orders", 1, "label"],
            }
        ],
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 0, "accounts": 0, "reviews": 0}


async def test_mutation_then_batch(cluster: Cluster) -> None:
    gateway = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), service_configs(cluster))
    async with gateway:
        await cluster.reset_stats()
        result = await gateway.execute(
            "mutation($b: ID!) { placeOrder(buyerId: $b, productId: 5, quantity: 2) { quantity unitPrice product { name } buyer { id } } }",
            {"b": "9"},
        )
    product = rows(cluster, "catalog", "SELECT name, price FROM products WHERE id = 5")[0]
    assert result == {
        "data": {
            "placeOrder": {
                "quantity": 2,
                "unitPrice": product["price"],
                "product": {"name": product["name"]},
                "buyer": {"id": "9"},
            }
        }
    }
    stored = rows(
        cluster,
        "orders",
        "SELECT buyer_id, product_id, quantity, unit_price FROM orders ORDER BY id DESC LIMIT 1",
    )
    assert tuple(stored[0]) == (9, 5, 2, product["price"])
    # orders once (it asks catalog for the price and accounts for the buyer itself), then one batch each
    assert await calls(cluster) == {"orders": 1, "catalog": 2, "accounts": 2, "reviews": 0}


async def test_a_loader_ends_by_the_request_deadline(cluster: Cluster) -> None:
    gateway = Gateway.from_sdl(SDL, service_configs(cluster), path="decorated.graphql")
    gateway.batch("Order.product", service="catalog", key="productId", field="productsByIds")
    never = asyncio.Event()

    @gateway.loader("Product.inStock", requires=("id",))
    async def in_stock(products: Sequence[Mapping[str, Any]]) -> list[bool]:
        await never.wait()  # a loader that would hang forever
        return []

    async with gateway:
        await cluster.reset_stats()
        query = "{ orders(first: 2) { id product { name inStock } } }"
        result = await asyncio.wait_for(gateway.execute(query, timeout_ms=200), timeout=30)
    assert result == {
        "data": {
            "orders": [{"id": "1", "product": None}, {"id": "2", "product": None}]
        },  # inStock is non-null
        "errors": [
            {
                "message": "Product.inStock: no answer by the request's deadline",
                "locations": [{"line": 1, "column": 1 + query.index("inStock")}],
                "path": ["orders", i, "product", "inStock"],
                "extensions": {"code": "DOWNSTREAM_TIMEOUT"},
            }
            for i in range(2)
        ],
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 0, "reviews": 0}
