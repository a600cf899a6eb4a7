"""Authorization from `@authenticated` and `@requiresScopes` in the gateway schema: what the caller may not
read is taken out before planning (never fetched), is null with an UNAUTHORIZED error at each exact path, and
the rest of the answer is intact. The matrix: anonymous, wrong scope, right scope; field, type, root level."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from examples.services.cluster import Cluster
from gateway.schema.annotations import load_schema
from registry.config import AuthConfig, JWTConfig
from tests.engine.conftest import EXAMPLE_SCHEMA, rows
from tests.server.conftest import Server, StartServer

from .conftest import SECRET, token

SDL = (
    EXAMPLE_SCHEMA.read_text()
    .replace("type Account {", "type Account @authenticated {")
    .replace(
        'product: Product @batch(service: "catalog", key: "productId", field: "productsByIds")',
        'product: Product @batch(service: "catalog", key: "productId", field: "productsByIds")'
        ' @requiresScopes(scopes: [["catalog:read"], ["admin"]])',
    )
    .replace(
        'updatePrice(productId: ID!, price: Float!): Product! @remote(service: "catalog")',
        'updatePrice(productId: ID!, price: Float!): Product! @remote(service: "catalog")'
        ' @requiresScopes(scopes: [["catalog:write"]])',
    )
)
AUTH = AuthConfig(jwt=JWTConfig(secret=SECRET, algorithms=("HS256",)))
SERVICES = ("accounts", "catalog", "orders", "reviews")
ORDERS = "{ orders(first: 2) { id product { name } buyer { name } } }"


@pytest.fixture
async def guarded(start_server: StartServer) -> Server:
    assert SDL.count("@requiresScopes") == 2 and "@authenticated {" in SDL
    return await start_server(sdl=SDL, auth=AUTH)


async def ask(
    http: aiohttp.ClientSession, server: Server, query: str, scopes: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token('ada', scopes)}"} if scopes is not None else {}
    async with http.post(server.graphql, json={"query": query}, headers=headers) as response:
        return response.status, await response.json()


async def calls(cluster: Cluster) -> dict[str, int]:
    return {name: (await cluster.stats(name))["requests"] for name in SERVICES}


def unauthorized(coordinate: str, reason: str, path: list[Any], line: int, column: int) -> dict[str, Any]:
    return {
        "message": f"Not authorized to read {coordinate}: {reason}.",
        "locations": [{"line": line, "column": column}],
        "path": path,
        "extensions": {"code": "UNAUTHORIZED"},
    }


async def test_anonymous(guarded: Server, http: aiohttp.ClientSession, cluster: Cluster) -> None:
    status, body = await ask(http, guarded, ORDERS)
    assert status == 200
    assert body == {
        "data": {
            "orders": [
                {"id": "1", "product": None, "buyer": None},
                {"id": "2", "product": None, "buyer": None},
            ]
        },
        "errors": [
            unauthorized("Order.product", "authentication required", ["orders", 0, "product"], 1, 25),
            unauthorized("Order.product", "authentication required", ["orders", 1, "product"], 1, 25),
            unauthorized("Order.buyer", "authentication required", ["orders", 0, "buyer"], 1, 42),
            unauthorized("Order.buyer", "authentication required", ["orders", 1, "buyer"], 1, 42),
        ],
    }
    assert await calls(cluster) == {"accounts": 0, "catalog": 0, "orders": 1, "reviews": 0}


async def test_a_wrong_scope(guarded: Server, http: aiohttp.ClientSession, cluster: Cluster) -> None:
    status, body = await ask(http, guarded, ORDERS, scopes="orders:read")
    assert status == 200
    reason = "needs scope catalog:read or admin"
    assert [o["product"] for o in body["data"]["orders"]] == [None, None]
    assert all(o["buyer"]["name"] for o in body["data"]["orders"])  # Account needs only authentication
    assert body["errors"] == [
        unauthorized("Order.product", reason, ["orders", 0, "product"], 1, 25),
        unauthorized("Order.product", reason, ["orders", 1, "product"], 1, 25),
    ]
    assert await calls(cluster) == {"accounts": 1, "catalog": 0, "orders": 1, "reviews": 0}


@pytest.mark.parametrize("scopes", ["catalog:read", "admin orders:read"])
async def test_the_right_scope(
    guarded: Server, http: aiohttp.ClientSession, cluster: Cluster, scopes: str
) -> None:
    status, body = await ask(http, guarded, ORDERS, scopes=scopes)
    assert status == 200 and "errors" not in body
    assert all(o["product"]["name"] and o["buyer"]["name"] for o in body["data"]["orders"])
    assert await calls(cluster) == {"accounts": 1, "catalog": 1, "orders": 1, "reviews": 0}


async def test_a_root_field_of_a_protected_type(
    guarded: Server, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    query = "{ account(id: 1) { name } orders(first: 1) { id } }"
    assert await ask(http, guarded, query) == (
        200,
        {
            "data": {"account": None, "orders": [{"id": "1"}]},
            "errors": [unauthorized("Query.account", "authentication required", ["account"], 1, 3)],
        },
    )
    assert (await calls(cluster))["accounts"] == 0
    status, body = await ask(http, guarded, query, scopes="")
    assert status == 200 and body["data"]["account"]["name"] and "errors" not in body


async def test_an_anonymous_mutation_is_refused_before_it_is_sent(
    guarded: Server, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    mutation = 'mutation { updatePrice(productId: "3", price: 1.5) { id price } }'
    before = rows(cluster, "catalog", "SELECT price FROM products WHERE id = 3")[0][0]
    for scopes, reason in ((None, "authentication required"), ("catalog:read", "needs scope catalog:write")):
        # updatePrice is Product!: its null reaches the root
        assert await ask(http, guarded, mutation, scopes) == (
            200,
            {"data": None, "errors": [unauthorized("Mutation.updatePrice", reason, ["updatePrice"], 1, 12)]},
        )
    assert (await calls(cluster))["catalog"] == 0
    assert rows(cluster, "catalog", "SELECT price FROM products WHERE id = 3")[0][0] == before
    assert await ask(http, guarded, mutation, "catalog:write") == (
        200,
        {"data": {"updatePrice": {"id": "3", "price": 1.5}}},
    )


async def test_one_callers_plan_never_serves_another(guarded: Server, http: aiohttp.ClientSession) -> None:
    allowed = await ask(http, guarded, ORDERS, scopes="catalog:read")
    anonymous = await ask(http, guarded, ORDERS)
    again = await ask(http, guarded, ORDERS, scopes="catalog:read")
    assert "errors" not in allowed[1] and allowed == again
    assert [o["product"] for o in anonymous[1]["data"]["orders"]] == [None, None]


async def test_fragments_and_aliases_keep_their_paths(guarded: Server, http: aiohttp.ClientSession) -> None:
    query = "{ first: orders(first: 1) { ...O } } fragment O on Order { id p: product { id } }"
    assert await ask(http, guarded, query) == (
        200,
        {
            "data": {"first": [{"id": "1", "p": None}]},
            "errors": [unauthorized("Order.product", "authentication required", ["first", 0, "p"], 1, 63)],
        },
    )


async def test_the_rules_of_a_swapped_in_schema_apply_to_the_next_request(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    open_server = await start_server(sdl=EXAMPLE_SCHEMA.read_text(), auth=AUTH)
    query = "{ account(id: 1) { name } }"
    status, body = await ask(http, open_server, query)
    assert status == 200 and body["data"]["account"]["name"] and "errors" not in body
    gateway = open_server.gateway
    gateway.swap(gateway.build_version(*load_schema(SDL, "guarded.graphql", gateway.services)))
    assert await ask(http, open_server, query) == (
        200,
        {
            "data": {"account": None},
            "errors": [unauthorized("Query.account", "authentication required", ["account"], 1, 3)],
        },
    )
