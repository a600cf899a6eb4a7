"""`funnel-debug: explain` (the plan, nothing run) and `funnel-batching: on|off` (honoured only with
`server.batching_header`): what the page's panel asks of the server."""

from __future__ import annotations

from typing import Any

import aiohttp

from examples.services.cluster import Cluster
from instrumentation.plan import print_plan

from .conftest import Server, StartServer

QUERY = "{ orders(first: 10) { id product { name } } }"


async def post(http: aiohttp.ClientSession, server: Server, **headers: str) -> tuple[int, dict[str, Any]]:
    async with http.post(server.graphql, json={"query": QUERY}, headers=headers) as response:
        return response.status, await response.json()


async def test_explain_answers_the_plan_without_calling_anything(
    server: Server, cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    await cluster.reset_stats()
    assert await post(http, server, **{"funnel-debug": "explain"}) == (
        200,
        {"extensions": {"funnel": {"plan": print_plan(server.gateway.plan(QUERY))}}},
    )
    for name in ("orders", "catalog"):
        assert (await cluster.stats(name))["requests"] == 0, name


async def test_explain_reports_a_query_that_cannot_be_planned(
    server: Server, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        server.graphql, json={"query": "{ nope }"}, headers={"funnel-debug": "explain"}
    ) as response:
        assert (response.status, await response.json()) == (
            200,
            {
                "errors": [
                    {
                        "message": "Cannot query field 'nope' on type 'Query'.",
                        "locations": [{"line": 1, "column": 3}],
                    }
                ]
            },
        )


async def catalog_calls(http: aiohttp.ClientSession, server: Server, cluster: Cluster, value: str) -> int:
    await cluster.reset_stats()
    status, body = await post(http, server, **{"funnel-batching": value})
    assert status == 200 and len(body["data"]["orders"]) == 10
    return (await cluster.stats("catalog"))["requests"]


async def test_the_batching_header_is_honoured_only_when_the_server_allows_it(
    start_server: StartServer, cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    closed = await start_server()
    assert await catalog_calls(http, closed, cluster, "off") == 1  # ignored: batching stays on
    assert await catalog_calls(http, closed, cluster, "nonsense") == 1

    allowing = await start_server(batching_header=True)
    assert await catalog_calls(http, allowing, cluster, "off") == 10
    assert await catalog_calls(http, allowing, cluster, "on") == 1
    assert await post(http, allowing, **{"funnel-batching": "maybe"}) == (
        400,
        {"errors": [{"message": "funnel-batching must be on or off, got 'maybe'."}]},
    )
    unbatched = await start_server(batching=False, batching_header=True)
    assert await catalog_calls(http, unbatched, cluster, "on") == 1
