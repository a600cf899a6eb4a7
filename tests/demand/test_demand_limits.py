"""Demand control at the server: every limit refuses before the work it bounds is paid for, with its code, the
figure that exceeded it and the setting to change; nothing is sent to any service."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from examples.services.cluster import Cluster
from tests.engine.conftest import service_configs
from tests.server.conftest import GRAPHQL_RESPONSE, StartServer

JSON = "application/json"
SERVICES = ("accounts", "catalog", "orders", "reviews")


async def post(http: aiohttp.ClientSession, url: str, body: Any, accept: str = JSON) -> tuple[int, Any]:
    async with http.post(url, json=body, headers={"Accept": accept}) as response:
        return response.status, await response.json()


def refused(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


async def calls(cluster: Cluster) -> dict[str, int]:
    return {name: (await cluster.stats(name))["requests"] for name in SERVICES}


NO_CALLS = dict.fromkeys(SERVICES, 0)


async def test_tokens_are_counted_while_parsing(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(max_tokens=100, max_root_fields=1000)
    query = "{ " + " ".join("__typename" for _ in range(120)) + " }"
    for accept, status in ((JSON, 200), (GRAPHQL_RESPONSE, 400)):
        assert await post(http, server.graphql, {"query": query}, accept) == (
            status,
            refused("The query has more than 100 tokens (server.max_tokens).", "TOO_MANY_TOKENS"),
        )
    small = "{ " + " ".join("__typename" for _ in range(90)) + " }"
    assert await post(http, server.graphql, {"query": small}) == (200, {"data": {"__typename": "Query"}})


async def test_aliases_are_counted_before_validation(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    # Invalid as well as over the limit: the limit answers, validation (the expensive step) never ran.
    server = await start_server(max_tokens=20_000)
    query = "{ " + " ".join(f"a{i}: nowhere" for i in range(2000)) + " }"
    assert await post(http, server.graphql, {"query": query}) == (
        200,
        {
            "errors": [
                {
                    "message": "The query uses 2000 aliases; the limit is 50 (server.max_aliases).",
                    "extensions": {"code": "TOO_MANY_ALIASES"},
                },
                {
                    "message": "The query asks for 2000 root fields; the limit is 30 (server.max_root_fields).",
                    "extensions": {"code": "TOO_MANY_ROOT_FIELDS"},
                },
            ]
        },
    )
    assert await calls(cluster) == NO_CALLS


async def test_root_fields(start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster) -> None:
    server = await start_server(max_root_fields=3)
    query = "{ product(id: 1) { id } ...F } fragment F on Query { product(id: 1) { name } p: product(id: 2) { id } }"
    status, body = await post(http, server.graphql, {"query": query})  # 3 root fields: within
    assert status == 200 and body["data"]["p"] == {"id": "2"} and "errors" not in body
    wide = "{ a: product(id: 1) { id } b: product(id: 2) { id } c: product(id: 3) { id } d: product(id: 4) { id } }"
    before = await calls(cluster)
    assert await post(http, server.graphql, {"query": wide}) == (
        200,
        refused(
            "The query asks for 4 root fields; the limit is 3 (server.max_root_fields).",
            "TOO_MANY_ROOT_FIELDS",
        ),
    )
    assert await calls(cluster) == before


async def test_aliased_first_is_refused_by_its_cost(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(max_root_fields=50)
    # The case: 50 aliases of a million orders each, within every other limit.
    query = (
        "{ " + " ".join(f"a{i}: orders(first: 1000000) {{ id product {{ name }} }}" for i in range(50)) + " }"
    )
    for accept, status in ((JSON, 200), (GRAPHQL_RESPONSE, 400)):
        assert await post(http, server.graphql, {"query": query}, accept) == (
            status,
            refused(
                "The query costs 100000000; the limit is 10000 (server.max_cost).",
                "COST_LIMIT_EXCEEDED",
                cost=100000000,
                maxCost=10000,
            ),
        )
    assert await calls(cluster) == NO_CALLS


async def test_a_deep_chain_of_unsliced_lists_costs_the_default_list_size_at_each_level(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(default_list_size=30)
    # account 1 + orders 30 x (1 + buyer 1 + orders 30 x (1 + buyer 1 + orders 30 x 1)) = 28861
    query = "{ account(id: 1) { orders { buyer { orders { buyer { orders { id } } } } } } }"
    assert await post(http, server.graphql, {"query": query}) == (
        200,
        refused(
            "The query costs 28861; the limit is 10000 (server.max_cost).",
            "COST_LIMIT_EXCEEDED",
            cost=28861,
            maxCost=10000,
        ),
    )
    assert await calls(cluster) == NO_CALLS


async def test_the_cost_reads_slicing_arguments_from_variables(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(max_cost=100)
    query = "query ($n: Int!) { orders(first: $n) { id product { name } } }"
    assert await post(http, server.graphql, {"query": query, "variables": {"n": 51}}) == (
        200,
        refused(
            "The query costs 102; the limit is 100 (server.max_cost).",
            "COST_LIMIT_EXCEEDED",
            cost=102,
            maxCost=100,
        ),
    )
    assert await calls(cluster) == NO_CALLS
    status, body = await post(http, server.graphql, {"query": query, "variables": {"n": 50}})
    assert status == 200 and len(body["data"]["orders"]) == 50 and "errors" not in body


async def test_a_mutation_costs_ten_more_per_root_field(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(max_cost=10)
    mutation = 'mutation { updatePrice(productId: "1", price: 2.5) { id } }'
    assert await post(http, server.graphql, {"query": mutation}) == (
        200,
        refused(
            "The query costs 11; the limit is 10 (server.max_cost).",
            "COST_LIMIT_EXCEEDED",
            cost=11,
            maxCost=10,
        ),
    )
    assert await calls(cluster) == NO_CALLS


async def test_the_answer_is_bounded_by_max_response_bytes(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(max_response_bytes=2000)
    status, body = await post(http, server.graphql, {"query": "{ orders(first: 5) { id } }"})
    assert status == 200 and len(body["data"]["orders"]) == 5
    assert await post(http, server.graphql, {"query": "{ orders(first: 100) { id createdAt } }"}) == (
        200,
        {
            "data": None,
            **refused(
                "The answer is larger than 2000 bytes (server.max_response_bytes).", "RESPONSE_TOO_LARGE"
            ),
        },
    )


async def test_a_service_answer_is_bounded_by_its_max_response_bytes(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    services = service_configs(cluster, orders={"max_response_bytes": 300, "expose_errors": True})
    server = await start_server(services=services)
    query = "{ orders(first: 50) { id } product(id: 1) { id } }"
    status, body = await post(http, server.graphql, {"query": query})
    assert status == 200
    assert body["data"] is None  # orders is [Order!]!: its null reaches the root
    assert body["errors"] == [
        {
            "message": "orders: response larger than 300 bytes (services.orders.max_response_bytes)",
            "locations": [{"line": 1, "column": 3}],
            "path": ["orders"],
            "extensions": {"code": "DOWNSTREAM_BAD_RESPONSE", "service": "orders"},
        }
    ]


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ __type(name: "Order") { name } }',
        "{ ...F } fragment F on Query { __schema { types { name } } }",
    ],
)
async def test_introspection_is_off_unless_turned_on(
    start_server: StartServer, http: aiohttp.ClientSession, query: str
) -> None:
    server = await start_server(introspection=False)
    assert await post(http, server.graphql, {"query": query}) == (
        200,
        refused(
            "Introspection is disabled on this gateway (server.introspection).", "INTROSPECTION_DISABLED"
        ),
    )
    assert await post(http, server.graphql, {"query": "{ __typename }"}) == (
        200,
        {"data": {"__typename": "Query"}},
    )
    opened = await start_server(introspection=True)
    status, body = await post(http, opened.graphql, {"query": query})
    assert status == 200 and "errors" not in body


async def test_the_actual_cost_is_counted_on_the_answer(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    # Estimated: three orders at 2 (the order and its product) and one account; actual: the account is null.
    server = await start_server(max_cost=7)
    query = '{ orders(first: 3) { id product { name } } account(id: "99999") { name } }'
    async with http.post(server.graphql, json={"query": query}, headers={"funnel-debug": "plan"}) as response:
        body = await response.json()
    assert response.status == 200 and body["data"]["account"] is None and len(body["data"]["orders"]) == 3
    assert body["extensions"]["funnel"]["cost"] == {"estimated": 7, "actual": 6}
