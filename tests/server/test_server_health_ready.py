"""/health, /ready (a cheap probe per service) and a graceful shutdown that finishes requests in flight."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services.cluster import Cluster, run_cluster
from examples.services.common import STATS_KEY, start_app
from examples.services.topology import free_port
from gateway.gateway import Gateway
from gateway.server import STATE, create_app
from gateway.server.serving import listening
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs

from .conftest import Server, StartServer


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, Any]:
    async with http.get(url) as response:
        return response.status, response.content_type, await response.json()


async def test_health(server: Server, http: aiohttp.ClientSession) -> None:
    assert await get(http, server.url + "/health") == (200, "application/json", {"status": "ok"})


def circuit(url: str, state: str = "closed", calls: int = 1, failures: int = 0) -> dict[str, Any]:
    return {"url": url, "state": state, "calls": calls, "failures": failures, "opened": 0, "rejected": 0}


async def test_ready_when_every_service_answers(
    server: Server, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    services = service_configs(cluster)
    assert await get(http, server.url + "/ready") == (
        200,
        "application/json",
        {
            "status": "ready",
            "services": {"accounts": "ok", "catalog": "ok", "orders": "ok", "reviews": "ok"},
            # each probe went through its service's circuit breaker: one call, no failure
            "circuits": {
                name: circuit(services[name].url) for name in ("accounts", "catalog", "orders", "reviews")
            },
            "schema": schema_of(server),
        },
    )


def schema_of(server: Server) -> dict[str, str]:
    version = server.gateway.current
    loaded_at = datetime.fromtimestamp(version.loaded_at, UTC).isoformat(timespec="seconds")
    return {"version": version.id, "loaded_at": loaded_at}


@contextlib.asynccontextmanager
async def failing_service() -> AsyncIterator[str]:
    """A GraphQL endpoint that answers every request with HTTP 500."""

    async def fail(_request: web.Request) -> web.Response:
        return web.json_response({"errors": [{"message": "database on fire"}]}, status=500)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", fail)
    runner, url = await start_app(app)
    try:
        yield url
    finally:
        await runner.cleanup()


async def test_not_ready_names_each_unreachable_service(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with failing_service() as failing:
        services = service_configs(cluster, accounts={"url": dead}, reviews={"url": failing + "/graphql"})
        server = await start_server(services=services)
        assert await get(http, server.url + "/ready") == (
            503,
            "application/json",
            {
                "status": "unavailable",
                "services": {
                    "accounts": f"accounts: cannot connect to {dead}/health",
                    "catalog": "ok",
                    "orders": "ok",
                    "reviews": "reviews: HTTP 500: database on fire",
                },
                "circuits": {
                    "accounts": circuit(dead, calls=3, failures=3),  # refused: retried, 3 attempts
                    "catalog": circuit(services["catalog"].url),
                    "orders": circuit(services["orders"].url),
                    "reviews": circuit(failing + "/graphql", failures=1),
                },
                "schema": schema_of(server),
            },
        )
    # /health only says the gateway itself is alive
    assert await get(http, server.url + "/health") == (200, "application/json", {"status": "ok"})


async def test_ready_proves_each_service_speaks_its_protocol(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    """A wrong GraphQL path answers 404; a page that is not GraphQL answers 200 without a GraphQL result; a REST
    service without the health path answers 404: none of them is ready, and each says where to look."""
    async with not_graphql() as page:
        services = service_configs(
            cluster,
            catalog={"url": cluster.urls["catalog"] + "/graphq"},
            orders={"url": page + "/graphql"},
            accounts={"health_path": "/healthz"},
        )
        server = await start_server(services=services)
        status, _, body = await get(http, server.url + "/ready")
    assert (status, body["status"]) == (503, "unavailable")
    assert body["services"] == {
        "accounts": "accounts: HTTP 404 Not Found (GET /healthz: set services.accounts.health_path)",
        "catalog": "catalog: HTTP 404 Not Found (is services.catalog.url its GraphQL endpoint?)",
        "orders": "orders: invalid JSON in response (is services.orders.url its GraphQL endpoint?)",
        "reviews": "ok",
    }


async def test_a_rest_health_path_that_answers_text_is_ready(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    async with not_graphql() as page:
        services = service_configs(cluster, accounts={"url": page, "health_path": "/status"})
        server = await start_server(services=services)
        status, _, body = await get(http, server.url + "/ready")
    assert (status, body["services"]["accounts"]) == (200, "ok")


@contextlib.asynccontextmanager
async def not_graphql() -> AsyncIterator[str]:
    """A web server answering 200 with plain text on every path."""

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", page)
    runner, url = await start_app(app)
    try:
        yield url
    finally:
        await runner.cleanup()


async def test_shutdown_finishes_requests_in_flight_then_closes_the_sessions(
    http: aiohttp.ClientSession,
) -> None:
    query = {"query": "{ orders(first: 3) { id product { name } } }"}
    async with run_cluster(latency_ms=300) as slow:
        gateway = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), service_configs(slow), path="gateway.graphql")
        app = create_app(gateway)
        listening_at: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def serve_until_stopped() -> None:
            async with listening(app, "127.0.0.1", 0, shutdown_timeout_s=10) as url:
                listening_at.set_result(url)
                await stop.wait()

        serving = asyncio.ensure_future(serve_until_stopped())
        try:
            url = await asyncio.wait_for(listening_at, 5)
            in_flight = asyncio.ensure_future(http.post(url + "/graphql", json=query))
            orders = slow.apps["orders"][STATS_KEY]
            async with asyncio.timeout(5):
                while orders.in_flight == 0:  # the gateway waits for orders: the request is in flight
                    await asyncio.sleep(0.01)

            stop.set()
            async with asyncio.timeout(5):
                while not app[STATE].shutting_down:
                    await asyncio.sleep(0.01)
            assert not in_flight.done() and not serving.done()
            async with aiohttp.ClientSession() as fresh:  # no new connections from now on
                with pytest.raises(aiohttp.ClientConnectorError):
                    await fresh.get(url + "/health")

            async with asyncio.timeout(10):
                async with await in_flight as response:
                    assert response.status == 200
                    body = await response.json()
                await serving
        finally:
            stop.set()
            await serving
        assert [order["id"] for order in body["data"]["orders"]] == ["1", "2", "3"]
        assert all(order["product"]["name"] for order in body["data"]["orders"])
        # the app's cleanup closed the gateway's client sessions
        after = await gateway.execute("{ product(id: 1) { id } }")
        assert after["errors"][0]["message"] == "catalog: transport is closed"
