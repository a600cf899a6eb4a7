"""Limits with clear errors: body size, query depth, aliases, and keys per service per level."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from examples.services.cluster import Cluster
from tests.engine.conftest import rows, service_configs

from .conftest import GRAPHQL_RESPONSE, StartServer

JSON = "application/json"


async def post(http: aiohttp.ClientSession, url: str, body: Any, accept: str = JSON) -> tuple[int, Any]:
    async with http.post(url, json=body, headers={"Accept": accept}) as response:
        return response.status, await response.json()


def limit_error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


async def test_a_body_over_max_body_bytes_is_413(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(max_body_bytes=100)
    small = {"query": "{ __typename }"}
    assert await post(http, server.graphql, small) == (200, {"data": {"__typename": "Query"}})
    large = {"query": "{ __typename }" + " " * 100}
    for accept in (JSON, GRAPHQL_RESPONSE):
        assert await post(http, server.graphql, large, accept) == (
            413,
            {"errors": [{"message": "The body is larger than 100 bytes (server.max_body_bytes)."}]},
        )


DEEP = "{ orders(first: 1) { product { seller { orders { id } } } } }"  # 5 fields deep


@pytest.mark.parametrize(("accept", "status"), [(JSON, 200), (GRAPHQL_RESPONSE, 400)])
async def test_max_depth(
    start_server: StartServer, http: aiohttp.ClientSession, accept: str, status: int
) -> None:
    server = await start_server(max_depth=4)
    assert await post(http, server.graphql, {"query": DEEP}, accept) == (
        status,
        {
            "errors": [
                limit_error(
                    "The query is 5 fields deep; the limit is 4 (server.max_depth).", "QUERY_TOO_DEEP"
                )
            ]
        },
    )
    within = "{ orders(first: 1) { product { seller { name } } } }"  # 4 deep
    expected = await server.gateway.execute(within)
    assert expected["data"]["orders"][0]["product"]["seller"]["name"]
    assert await post(http, server.graphql, {"query": within}) == (200, expected)


async def test_fragments_count_where_they_are_spread(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(max_depth=4, max_aliases=3)
    query = """
        query { orders(first: 1) { ...O } a: product(id: 1) { ...P } b: product(id: 2) { ...P } }
        fragment O on Order { product { ...P } }
        fragment P on Product { x: seller { ... on Account { orders { id } } } }
    """
    status, body = await post(http, server.graphql, {"query": query})
    assert (status, body) == (
        200,
        {
            "errors": [
                limit_error(
                    "The query is 5 fields deep; the limit is 4 (server.max_depth).", "QUERY_TOO_DEEP"
                ),
                limit_error(
                    "The query uses 5 aliases; the limit is 3 (server.max_aliases).", "TOO_MANY_ALIASES"
                ),
            ]
        },
    )


async def test_max_aliases(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    server = await start_server(max_aliases=2)
    three = '{ a: product(id: "1") { id } b: product(id: "2") { id } c: product(id: "3") { n: name } }'
    assert await post(http, server.graphql, {"query": three}, GRAPHQL_RESPONSE) == (
        400,
        {
            "errors": [
                limit_error(
                    "The query uses 4 aliases; the limit is 2 (server.max_aliases).", "TOO_MANY_ALIASES"
                )
            ]
        },
    )
    two = '{ a: product(id: "1") { id } b: product(id: "2") { id } }'
    assert await post(http, server.graphql, {"query": two}) == (
        200,
        {"data": {"a": {"id": "1"}, "b": {"id": "2"}}},
    )


async def test_limits_apply_to_get_too(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    server = await start_server(max_depth=4)
    async with http.get(server.graphql, params={"query": DEEP}) as response:
        assert (response.status, await response.json()) == (
            200,
            {
                "errors": [
                    limit_error(
                        "The query is 5 fields deep; the limit is 4 (server.max_depth).", "QUERY_TOO_DEEP"
                    )
                ]
            },
        )


async def test_max_keys_fails_the_fields_and_spares_the_service(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(services=service_configs(cluster, catalog={"max_keys": 3}))
    await cluster.reset_stats()

    status, body = await post(
        http, server.graphql, {"query": "{ orders(first: 10) { id product { name } } }"}
    )

    assert status == 200
    distinct = rows(
        cluster,
        "orders",
        "SELECT COUNT(DISTINCT product_id) FROM (SELECT product_id FROM orders ORDER BY id LIMIT 10)",
    )
    message = f"catalog: {distinct[0][0]} keys at one level exceed max_keys (3); nothing was sent"
    assert body["data"] == {"orders": [{"id": str(i), "product": None} for i in range(1, 11)]}
    assert body["errors"] == [
        {
            "message": message,
            "locations": [{"line": 1, "column": 26}],
            "path": ["orders", i, "product"],
            "extensions": {"code": "TOO_MANY_KEYS", "service": "catalog"},
        }
        for i in range(10)
    ]
    assert (await cluster.stats("catalog"))["requests"] == 0
    assert (await cluster.stats("orders"))["requests"] == 1
