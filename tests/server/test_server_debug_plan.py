"""`funnel-debug: plan` (or server.debug_plan): the plan and every downstream call in extensions.funnel."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from examples.services.cluster import Cluster
from instrumentation.plan import print_plan
from tests.engine.conftest import rows

from .conftest import Server, StartServer

QUERY = "{ orders(first: 5) { id product { name } buyer { name } } }"


async def post(
    http: aiohttp.ClientSession, server: Server, query: str, headers: dict[str, str] | None = None
) -> Any:
    async with http.post(server.graphql, json={"query": query}, headers=headers or {}) as response:
        assert response.status == 200
        return await response.json()


def distinct(cluster: Cluster, column: str, n: int) -> int:
    sql = f"SELECT COUNT(DISTINCT {column}) FROM (SELECT {column} FROM orders ORDER BY id LIMIT ?)"
    return int(rows(cluster, "orders", sql, n)[0][0])


def without_ms(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for call in calls:
        assert isinstance(call["ms"], float | int) and call["ms"] >= 0
    return sorted(
        ({k: v for k, v in c.items() if k != "ms"} for c in calls), key=lambda c: (c["level"], c["service"])
    )


@pytest.mark.parametrize("header", [{"funnel-debug": "plan"}, {"Funnel-Debug": " PLAN "}])
async def test_the_header_adds_the_plan_and_the_calls(
    server: Server, http: aiohttp.ClientSession, cluster: Cluster, header: dict[str, str]
) -> None:
    body = await post(http, server, QUERY, header)

    assert body["data"] == (await server.gateway.execute(QUERY))["data"]
    funnel = body["extensions"]["funnel"]
    assert funnel["plan"] == print_plan(server.gateway.plan(QUERY))
    assert funnel["plan"] == (
        "Plan (query)\n"
        "  level 0\n"
        "    #0 orders query\n"
        "      { orders__1: orders(first: 5) { id productId buyerId } }\n"
        "  level 1\n"
        "    #1 catalog Order.product ← productsByIds(ids:) after #0\n"
        "      keys orders__1 → productId\n"
        "      b1: productsByIds(ids: $k1) { id name }\n"
        "    #2 accounts Order.buyer ← GET /accounts?ids= after #0\n"
        "      keys orders__1 → buyerId\n"
        "      { id name }"
    )
    assert without_ms(funnel["calls"]) == [
        {"service": "orders", "level": 0, "fetches": [0], "keys": 0, "chunk": 0, "outcome": "ok"},
        {
            "service": "accounts",
            "level": 1,
            "fetches": [2],
            "keys": distinct(cluster, "buyer_id", 5),
            "chunk": 0,
            "outcome": "ok",
        },
        {
            "service": "catalog",
            "level": 1,
            "fetches": [1],
            "keys": distinct(cluster, "product_id", 5),
            "chunk": 0,
            "outcome": "ok",
        },
    ]


async def test_one_call_instead_of_a_hundred(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    query = "{ orders(first: 100) { product { name } } }"
    batched = await start_server()
    unbatched = await start_server(batching=False)

    on = (await post(http, batched, query, {"funnel-debug": "plan"}))["extensions"]["funnel"]["calls"]
    off = (await post(http, unbatched, query, {"funnel-debug": "plan"}))["extensions"]["funnel"]["calls"]

    assert [c["service"] for c in on].count("catalog") == 1
    assert [c["service"] for c in off].count("catalog") == 100
    assert {c["keys"] for c in off if c["service"] == "catalog"} == {1}


@pytest.mark.parametrize("header", [{}, {"funnel-debug": "calls"}, {"funnel-debug": ""}])
async def test_no_extensions_without_the_header(
    server: Server, http: aiohttp.ClientSession, header: dict[str, str]
) -> None:
    body = await post(http, server, QUERY, header)
    assert body == {"data": (await server.gateway.execute(QUERY))["data"]}


async def test_the_config_switch_adds_it_to_every_response(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(debug_plan=True)
    body = await post(http, server, "{ product(id: 1) { id } }")
    assert body["extensions"]["funnel"]["plan"] == print_plan(
        server.gateway.plan("{ product(id: 1) { id } }")
    )
    assert [c["service"] for c in body["extensions"]["funnel"]["calls"]] == ["catalog"]


async def test_no_plan_for_a_request_that_cannot_run(server: Server, http: aiohttp.ClientSession) -> None:
    body = await post(http, server, "{ nope }", {"funnel-debug": "plan"})
    assert body == {
        "errors": [
            {"message": "Cannot query field 'nope' on type 'Query'.", "locations": [{"line": 1, "column": 3}]}
        ]
    }
