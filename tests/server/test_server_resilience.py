"""The server's side of resilience: the client's deadline header, and load shedding before any work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from examples.services.cluster import Cluster
from examples.services.common import start_app
from registry.resilience import GatewayResilience
from tests.engine.conftest import service_configs

from .conftest import Server, StartServer

QUERY = "{ orders(first: 3) { id product { name } } }"


@contextlib.asynccontextmanager
async def hanging_catalog(
    release: asyncio.Event, arrived: asyncio.Queue[None] | None = None
) -> AsyncIterator[str]:
    """A catalog that holds every request until `release` is set; each arrival is put on `arrived`."""

    async def hang(_request: web.Request) -> web.Response:
        if arrived is not None:
            arrived.put_nowait(None)
        await release.wait()
        return web.json_response({"data": None})

    app = web.Application()
    app.router.add_post("/graphql", hang)
    runner, url = await start_app(app)
    try:
        yield url + "/graphql"
    finally:
        release.set()
        await runner.cleanup()


async def post(
    http: aiohttp.ClientSession, server: Server, headers: dict[str, str] | None = None, query: str = QUERY
) -> tuple[int, Mapping[str, str], Any]:
    async with http.post(server.graphql, json={"query": query}, headers=headers or {}) as response:
        return response.status, response.headers.copy(), await response.json()  # case-insensitive


async def test_a_bad_timeout_header_is_a_clear_400(server: Server, http: aiohttp.ClientSession) -> None:
    status, _, body = await post(http, server, {"funnel-timeout-ms": "soon"})
    assert (status, body) == (
        400,
        {"errors": [{"message": "funnel-timeout-ms must be a positive number of milliseconds, got 'soon'."}]},
    )


async def test_the_client_deadline_bounds_a_hanging_service(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    release = asyncio.Event()
    async with hanging_catalog(release) as url:
        server = await start_server(
            services=service_configs(cluster, catalog={"url": url, "timeout_ms": 60_000})
        )
        status, _, body = await asyncio.wait_for(post(http, server, {"funnel-timeout-ms": "200"}), timeout=30)
    assert status == 200
    assert [o["id"] for o in body["data"]["orders"]] == ["1", "2", "3"]
    assert all(o["product"] is None for o in body["data"]["orders"])
    assert {e["extensions"]["code"] for e in body["errors"]} == {"DOWNSTREAM_TIMEOUT"}
    assert [e["path"] for e in body["errors"]] == [["orders", i, "product"] for i in range(3)]


async def test_requests_beyond_the_in_flight_limit_are_shed_at_once(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    release = asyncio.Event()
    arrived: asyncio.Queue[None] = asyncio.Queue()
    async with hanging_catalog(release, arrived) as url:
        server = await start_server(
            services=service_configs(cluster, catalog={"url": url, "timeout_ms": 60_000}),
            resilience=GatewayResilience(max_in_flight_requests=2, deadline_ms=60_000),
        )
        # Two different queries: identical ones would share one catalog call in flight.
        held = [
            asyncio.ensure_future(
                post(http, server, query=f"{{ orders(first: {n}) {{ id product {{ name }} }} }}")
            )
            for n in (3, 4)
        ]
        for _ in held:  # both requests are in flight, held at the catalog
            await asyncio.wait_for(arrived.get(), timeout=30)
        shed = await asyncio.gather(*(post(http, server, {"x-request-id": f"shed-{i}"}) for i in range(3)))
        # a shed request still carries its id back, so the client can report it
        assert [headers["x-request-id"] for _, headers, _ in shed] == ["shed-0", "shed-1", "shed-2"]
        assert [(status, headers["Retry-After"], body) for status, headers, body in shed] == [
            (
                503,
                "1",
                {
                    "errors": [
                        {
                            "message": "the gateway is overloaded (2 requests in flight): retry later",
                            "extensions": {"code": "OVERLOADED"},
                        }
                    ]
                },
            )
        ] * 3
        release.set()
        answered = await asyncio.wait_for(asyncio.gather(*held), timeout=30)
    assert [s for s, _, _ in answered] == [200, 200]
