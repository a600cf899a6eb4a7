"""A failing service costs only its own fields: null with one error per affected path, the rest intact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from graphql import GraphQLError, build_schema, graphql

from examples.services.cluster import Cluster
from examples.services.topology import free_port

from .conftest import MakeGateway, calls, rows, service_configs

QUERY = "{ orders(first: 6) { id product { id name } buyer { name } } }"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeCatalog:
    """A stand-in catalog: its GraphQL URL, and the requests it was sent (as a service's /stats counts them)."""

    url: str
    requests: int = 0


ServeCatalog = Callable[[Handler], Awaitable[FakeCatalog]]


@pytest.fixture
async def fake_catalog() -> AsyncIterator[ServeCatalog]:
    """Serve `handler` as a stand-in catalog on a free loopback port."""
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> FakeCatalog:
        fake = FakeCatalog("")

        async def counted(request: web.Request) -> web.StreamResponse:
            fake.requests += 1
            return await handler(request)

        app = web.Application()
        app.router.add_post("/graphql", counted)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}/graphql"
        return fake

    yield serve
    for runner in runners:
        await runner.cleanup()


def first_orders(cluster: Cluster, n: int = 6) -> list[Any]:
    return rows(cluster, "orders", "SELECT id, product_id, buyer_id FROM orders ORDER BY id LIMIT ?", n)


def buyer_names(cluster: Cluster) -> dict[int, str]:
    return {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}


def product_error(message: str, i: int, code: str, path_tail: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "message": message,
        "locations": [{"line": 1, "column": 1 + QUERY.index("name" if path_tail else "product")}],
        "path": ["orders", i, "product", *path_tail],
        "extensions": {"code": code, "service": "catalog"},
    }


async def run_with_catalog(
    cluster: Cluster, make_gateway: MakeGateway, catalog: FakeCatalog | str
) -> dict[str, Any]:
    """QUERY through a gateway whose catalog is `catalog` (a stand-in, or the URL of no service at all)."""
    url = catalog if isinstance(catalog, str) else catalog.url
    gateway = await make_gateway(services=service_configs(cluster, catalog={"url": url}))
    await cluster.reset_stats()
    result = await gateway.execute(QUERY)
    # the other services are unaffected: one call each, full data
    assert await calls(cluster) == {"orders": 1, "catalog": 0, "accounts": 1, "reviews": 0}
    if isinstance(catalog, FakeCatalog):
        assert catalog.requests == 1  # the six products in one batched call, whatever it answered
    return result


def expected_with_null_products(cluster: Cluster) -> list[dict[str, Any]]:
    names = buyer_names(cluster)
    return [
        {"id": str(o["id"]), "product": None, "buyer": {"name": names[o["buyer_id"]]}}
        for o in first_orders(cluster)
    ]


async def test_service_down(cluster: Cluster, make_gateway: MakeGateway) -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"
    result = await run_with_catalog(cluster, make_gateway, url)
    assert result["data"]["orders"] == expected_with_null_products(cluster)
    message = f"catalog: cannot connect to {url}"
    assert result["errors"] == [product_error(message, i, "SERVICE_UNAVAILABLE") for i in range(6)]


async def test_service_answers_http_500(
    cluster: Cluster, make_gateway: MakeGateway, fake_catalog: ServeCatalog
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, text="Traceback (most recent call last): secret internals")

    result = await run_with_catalog(cluster, make_gateway, await fake_catalog(handler))
    assert result["data"]["orders"] == expected_with_null_products(cluster)
    message = "catalog: HTTP 500 Internal Server Error"
    assert result["errors"] == [product_error(message, i, "DOWNSTREAM_HTTP_ERROR") for i in range(6)]
    assert "Traceback" not in json.dumps(result)


async def test_service_answers_invalid_json(
    cluster: Cluster, make_gateway: MakeGateway, fake_catalog: ServeCatalog
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text='{"data": {"b1": [', content_type="application/json")

    result = await run_with_catalog(cluster, make_gateway, await fake_catalog(handler))
    assert result["data"]["orders"] == expected_with_null_products(cluster)
    message = "catalog: invalid JSON in response"
    assert result["errors"] == [product_error(message, i, "DOWNSTREAM_BAD_RESPONSE") for i in range(6)]


FAKE_CATALOG_SDL = """
type Query { productsByIds(ids: [ID!]!): [Product]! }
type Product { id: ID! name: String }
"""


def graphql_catalog(failing: set[str], missing: set[str]) -> Handler:
    """A real GraphQL service (graphql-core) whose `name` fails for some ids and which leaves some ids out."""
    schema = build_schema(FAKE_CATALOG_SDL)

    def products(_: Any, info: Any, ids: list[str]) -> list[dict[str, str]]:
        return [{"id": i} for i in reversed(ids) if i not in missing]

    def name(product: dict[str, str], info: Any) -> str:
        if product["id"] in failing:
            raise GraphQLError(f"no name for product {product['id']}")
        return f"Product {product['id']}"

    schema.query_type.fields["productsByIds"].resolve = products  # type: ignore[union-attr]
    schema.type_map["Product"].fields["name"].resolve = name  # type: ignore[attr-defined]

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        result = await graphql(schema, body["query"], variable_values=body.get("variables"))
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        return web.json_response(payload)

    return handler


async def test_graphql_errors_for_some_keys(
    cluster: Cluster, make_gateway: MakeGateway, fake_catalog: ServeCatalog
) -> None:
    orders = first_orders(cluster)
    failing = str(orders[1]["product_id"])
    catalog = await fake_catalog(graphql_catalog(failing={failing}, missing=set()))
    result = await run_with_catalog(cluster, make_gateway, catalog)
    names = buyer_names(cluster)
    # Product.name is non-null at the gateway: the error nulls the product (only for orders of that product).
    assert result["data"]["orders"] == [
        {
            "id": str(o["id"]),
            "product": None
            if str(o["product_id"]) == failing
            else {"id": str(o["product_id"]), "name": f"Product {o['product_id']}"},
            "buyer": {"name": names[o["buyer_id"]]},
        }
        for o in orders
    ]
    assert result["errors"] == [
        product_error(f"no name for product {failing}", i, "DOWNSTREAM_ERROR", ("name",))
        for i, o in enumerate(orders)
        if str(o["product_id"]) == failing
    ]


async def test_missing_entity_is_null_without_error(
    cluster: Cluster, make_gateway: MakeGateway, fake_catalog: ServeCatalog
) -> None:
    orders = first_orders(cluster)
    missing = str(orders[2]["product_id"])
    catalog = await fake_catalog(graphql_catalog(failing=set(), missing={missing}))
    result = await run_with_catalog(cluster, make_gateway, catalog)
    names = buyer_names(cluster)
    assert result == {
        "data": {
            "orders": [
                {
                    "id": str(o["id"]),
                    "product": None
                    if str(o["product_id"]) == missing
                    else {"id": str(o["product_id"]), "name": f"Product {o['product_id']}"},
                    "buyer": {"name": names[o["buyer_id"]]},
                }
                for o in orders
            ]
        }
    }


async def test_failed_non_null_batch_field_propagates_to_its_nullable_parent(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"
    gateway = await make_gateway(services=service_configs(cluster, reviews={"url": url}))

    def error(query: str, path: list[Any]) -> dict[str, Any]:
        return {
            "message": f"reviews: cannot connect to {url}",
            "locations": [{"line": 1, "column": 1 + query.index("reviews")}],
            "path": path,
            "extensions": {"code": "SERVICE_UNAVAILABLE", "service": "reviews"},
        }

    # Product.reviews is [Review!]!: its error nulls the nullable Query.product, with one error at its path.
    query = '{ product(id: "1") { id reviews { rating } } }'
    await cluster.reset_stats()
    assert await gateway.execute(query) == {
        "data": {"product": None},
        "errors": [error(query, ["product", "reviews"])],
    }
    assert await calls(cluster) == {"orders": 0, "catalog": 1, "accounts": 0, "reviews": 0}
    # Through a non-null list of non-null products the null reaches the root: data is null, and only the first
    # failing path is reported (graphql-core stops completing a list at its first failed item).
    query = "{ products(first: 2) { id reviews { rating } } }"
    await cluster.reset_stats()
    assert await gateway.execute(query) == {
        "data": None,
        "errors": [error(query, ["products", 0, "reviews"])],
    }
    assert await calls(cluster) == {"orders": 0, "catalog": 1, "accounts": 0, "reviews": 0}
