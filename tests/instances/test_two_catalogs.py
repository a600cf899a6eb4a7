"""Two real catalog instances behind one gateway: calls spread over both; one stops under load and every request
still gets its exact answer, from the other; its health checks take it out of rotation and bring it back."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services import catalog
from examples.services.common import STATS_KEY, start_app
from examples.services.topology import GRAPHQL_PATH
from gateway.gateway import Gateway
from gateway.resilience import ResilientTransport
from gateway.schema.annotations import load_schema
from gateway.server import create_app
from gateway.server.serving import listening
from gateway.transport import HTTPTransport, ServiceClients
from gateway.transport.probe import PROBE_QUERY
from instrumentation.call import Call, GraphQLCall
from registry.config import RegistryHealthConfig, ServerConfig, ServiceConfig

SDL = """
type Product { id: ID! name: String! price: Float! }
type Query { product(id: ID!): Product @remote(service: "catalog") }
"""
QUERY = "query($id: ID!) { product(id: $id) { id name price } }"
REQUESTS, CONCURRENCY, STOP_AFTER = 200, 16, 60
PRODUCTS = {
    str(row[0]): {"id": str(row[0]), "name": row[1], "price": row[2]} for row in catalog.seed_products()
}


class Answered:
    """The base transport of each instance: counts the calls each instance answered (probes apart) and which
    instance answered each product's query."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()  # (instance URL, "probe" or "query")
        self.served: dict[str, str] = {}  # product id -> the instance URL that answered its query
        self.in_flight: Counter[str] = Counter()

    def __call__(self, service: ServiceConfig) -> Any:
        answered, inner, url = self, HTTPTransport(service), service.url

        class Counted:
            async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
                answered.in_flight[url] += 1
                try:
                    answer = await inner.send(call, headers)
                finally:
                    answered.in_flight[url] -= 1
                assert isinstance(call, GraphQLCall)
                probe = call.query == PROBE_QUERY
                answered.counts[(url, "probe" if probe else "query")] += 1
                if not probe:
                    answered.served[str(call.variables["id"])] = url
                return answer

            async def close(self) -> None:
                await inner.close()

        return Counted()

    def at(self, url: str) -> int:
        return self.counts[(url, "probe")] + self.counts[(url, "query")]

    async def settled(self, url: str) -> None:
        """Once no call to `url` is in flight: what it counted and what it answered then agree (read them
        before the next await)."""
        async with asyncio.timeout(5):
            while self.in_flight[url]:
                await asyncio.sleep(0.005)


@dataclass
class Catalog:
    app: web.Application
    runner: web.AppRunner | None
    url: str  # its GraphQL endpoint

    @property
    def requests(self) -> int:
        return int(self.app[STATS_KEY].requests)  # counted by the service itself

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()


@dataclass
class Setup:
    catalogs: list[Catalog]
    answered: Answered
    gateway: Gateway
    url: str  # the gateway's /graphql


@pytest.fixture
async def two_catalogs() -> AsyncIterator[Setup]:
    async with contextlib.AsyncExitStack() as stack:
        catalogs = []
        for _ in range(2):
            app = catalog.create_app()  # in memory, seeded the same: the two answer alike
            runner, base = await start_app(app)
            made = Catalog(app, runner, base + GRAPHQL_PATH)
            stack.push_async_callback(made.stop)
            catalogs.append(made)
        health = RegistryHealthConfig(
            interval_ms=100, timeout_ms=500, unhealthy_threshold=2, healthy_threshold=2
        )
        first, second = catalogs
        # The second is named with credentials: nothing shown of it may carry them.
        second_url = second.url.replace("http://", "http://probe:s3cret@")
        second.url = second_url
        service = ServiceConfig("catalog", first.url, other_instances=(second_url,), health=health)
        answered = Answered()
        services = {"catalog": service}
        clients = ServiceClients(services, transport_factory=lambda s: ResilientTransport(s, base=answered))
        schema, bindings = load_schema(SDL, "gateway.graphql", services)
        gateway = Gateway(schema, services, bindings, clients=clients)
        app = create_app(gateway, ServerConfig(debug_access="everyone"))
        url = await stack.enter_async_context(listening(app, "127.0.0.1", 0, shutdown_timeout_s=5))
        yield Setup(catalogs, answered, gateway, url + "/graphql")


async def ask(http: aiohttp.ClientSession, url: str, product: str) -> Any:
    async with http.post(url, json={"query": QUERY, "variables": {"id": product}}) as response:
        assert response.status == 200
        return await response.json()


async def test_one_instance_stops_under_load_and_every_request_is_answered_by_the_other(
    two_catalogs: Setup, http: aiohttp.ClientSession
) -> None:
    setup = two_catalogs
    first, second = setup.catalogs
    products = [str(1 + i) for i in range(REQUESTS)]  # each asked once: no two calls are shared
    queue: asyncio.Queue[str] = asyncio.Queue()
    for product in products:
        queue.put_nowait(product)
    results: dict[str, Any] = {}
    after_stop: list[str] = []  # the products asked once the stop was over
    stopping = asyncio.Event()
    stopped = asyncio.Event()
    second_before_stop = 0

    async def stop_second() -> None:
        nonlocal second_before_stop
        second_before_stop = second.requests
        await second.stop()
        stopped.set()

    async def worker() -> None:
        while not queue.empty():
            if stopping.is_set():  # the calls in flight go on; new ones wait for the stop to be over
                await stopped.wait()
            if queue.empty():
                return
            product = queue.get_nowait()
            if stopped.is_set():
                after_stop.append(product)
            results[product] = await ask(http, setup.url, product)
            if len(results) == STOP_AFTER and not stopping.is_set():
                stopping.set()
                await stop_second()

    async with asyncio.timeout(20):
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    assert results == {p: {"data": {"product": PRODUCTS[p]}} for p in products}
    # Each request's one call was answered once, by one of the two: none lost, none twice.
    served = setup.answered.served
    assert sorted(served, key=int) == products
    counts = setup.answered.counts
    assert counts[(first.url, "query")] + counts[(second.url, "query")] == REQUESTS
    # Both served before the stop (each counting it itself), only the survivor after it.
    assert second_before_stop > 0 and counts[(second.url, "query")] > 0
    assert len(after_stop) >= REQUESTS - STOP_AFTER - (CONCURRENCY - 1)
    assert {served[p] for p in after_stop} == {first.url}
    # All the survivor counted, it answered to the gateway: its calls and its checks.
    await setup.answered.settled(first.url)
    assert first.requests == setup.answered.at(first.url)
    assert first.requests >= counts[(first.url, "query")] >= len(after_stop)


async def test_the_health_checks_take_a_stopped_instance_out_and_bring_it_back(
    two_catalogs: Setup, http: aiohttp.ClientSession
) -> None:
    setup = two_catalogs
    first, second = setup.catalogs
    transport = setup.gateway.clients.transports["catalog"]
    assert isinstance(transport, ResilientTransport)
    await ask(http, setup.url, "1")  # the first call starts the checks
    shown_second = second.url.replace("probe:s3cret@", "***@")

    async def ready() -> dict[str, Any]:
        async with http.get(setup.url.replace("/graphql", "/ready")) as response:
            body: dict[str, Any] = await response.json()
            return body

    async def until_second_is(healthy: bool) -> None:
        async with asyncio.timeout(10):  # checks every 100 ms, two in a row decide
            while transport.pool.instances[1].healthy is not healthy:
                await asyncio.sleep(0.05)

    port = int(second.url.rsplit(":", 1)[1].split("/")[0])
    await second.stop()
    await setup.answered.settled(second.url)
    at_stop = setup.answered.at(second.url)  # what the stopped one answered: nothing more from now on
    await until_second_is(False)
    body = await ready()
    assert body["status"] == "ready"  # the service answers: through the other instance
    assert "circuits" in body and "catalog" not in body["circuits"]
    assert [(i["url"], i["healthy"]) for i in body["instances"]["catalog"]] == [
        (first.url, True),
        (shown_second, False),
    ]
    assert "s3cret" not in str(body)
    # Out of rotation: every call goes to the first, exactly (its own count: the calls plus the checks).
    await setup.answered.settled(first.url)
    before, probes = first.requests, setup.answered.counts[(first.url, "probe")]
    for product in ("2", "3", "4", "5", "6"):
        assert await ask(http, setup.url, product) == {"data": {"product": PRODUCTS[product]}}
    await setup.answered.settled(first.url)
    assert first.requests - before == 5 + setup.answered.counts[(first.url, "probe")] - probes
    assert {setup.answered.served[p] for p in ("2", "3", "4", "5", "6")} == {first.url}

    # A new instance on the same port: two passed checks bring it back, and it is called again.
    second.app = catalog.create_app()
    second.runner, _ = await start_app(second.app, port=port)
    await until_second_is(True)
    queries_before = setup.answered.counts[(second.url, "query")]
    async with asyncio.timeout(10):
        for product in (str(i) for i in range(1, 101)):
            assert await ask(http, setup.url, product) == {"data": {"product": PRODUCTS[product]}}
            if setup.answered.served[product] == second.url:
                break
    assert setup.answered.counts[(second.url, "query")] == queries_before + 1
    await setup.answered.settled(second.url)
    assert second.requests == setup.answered.at(second.url) - at_stop  # the new one's own count
