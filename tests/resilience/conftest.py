"""Shared by the resilience tests.

Unit tests: a fake clock that sleeping advances, calls, downstream failures. Fault tests: the example services on
loopback (`cluster`), stand-in services that count what they are sent (`fake_service`), and the example gateway
with every service behind the full resilience stack and a counter of the attempts that reach the wire
(`example_gateway`; `over_fake_catalog` for both at once, catalog being the stand-in).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from examples.services.cluster import Cluster
from gateway.gateway import Gateway
from gateway.resilience import ResilientTransport
from gateway.schema.annotations import load_schema
from gateway.transport import HTTPTransport, ServiceClients, Transport
from instrumentation.call import Call, GraphQLCall
from instrumentation.errors import DownstreamHTTPError, DownstreamUnavailable
from registry.config import ServiceConfig
from registry.resilience import GatewayResilience
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs


@dataclass
class FakeClock:
    """`clock()` reads `now`; `sleep(s)` records the wait and moves `now` on, without waiting."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def query(service: str = "catalog", deadline: float | None = None) -> GraphQLCall:
    return GraphQLCall(service, "{ x }", {}, deadline=deadline)


def mutation(service: str = "catalog", deadline: float | None = None) -> GraphQLCall:
    return GraphQLCall(service, "mutation { x }", {}, "mutation", deadline=deadline)


def unavailable(service: str = "catalog") -> DownstreamUnavailable:
    return DownstreamUnavailable(f"{service}: cannot connect", service=service)


def http_error(
    status: int, service: str = "catalog", retry_after: float | None = None
) -> DownstreamHTTPError:
    return DownstreamHTTPError(
        f"{service}: HTTP {status}", service=service, status=status, retry_after=retry_after
    )


# --- against real services on loopback ------------------------------------------------------------------------

ORDERS_QUERY = "{ orders(first: 5) { id product { id name } buyer { name } } }"
N_ORDERS = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Counting:
    """A base transport that counts the attempts that reach the wire (a dead service cannot count them)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent = 0

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        self.sent += 1
        return await self.inner.send(call, headers)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Faulty:
    """A gateway over the example services, with each service's transports reachable."""

    gateway: Gateway
    attempts: dict[str, Counting]  # what reached each service's HTTP transport

    def stack(self, service: str) -> ResilientTransport:
        transport = self.gateway.clients.transports[service]
        assert isinstance(transport, ResilientTransport)
        return transport


def example_gateway(
    cluster: Cluster,
    resilience: GatewayResilience | None = None,
    **overrides: dict[str, Any],
) -> Faulty:
    """The example schema over the cluster; `overrides` replace fields of a service's config (`url`,
    `resilience`, `timeout_ms`...). Every service goes through the full resilience stack."""
    services = service_configs(cluster, **overrides)
    attempts: dict[str, Counting] = {}

    def base(service: ServiceConfig) -> Counting:
        attempts[service.name] = Counting(HTTPTransport(service))
        return attempts[service.name]

    clients = ServiceClients(services, transport_factory=functools.partial(ResilientTransport, base=base))
    schema, bindings = load_schema(EXAMPLE_SCHEMA.read_text(), "gateway.graphql", services)
    gateway = Gateway(schema, services, bindings, clients=clients, resilience=resilience)
    gateway.freeze()
    return Faulty(gateway, attempts)


@pytest.fixture
async def faulty_gateways() -> AsyncIterator[list[Faulty]]:
    """Put what `example_gateway` makes here to have it closed at the end."""
    made: list[Faulty] = []
    yield made
    for faulty in made:
        await faulty.gateway.close()


def expected_orders(cluster: Cluster, n: int = N_ORDERS) -> list[dict[str, Any]]:
    """ORDERS_QUERY's answer, read from the services' own databases."""
    orders = _rows(cluster, "orders", "SELECT id, product_id, buyer_id FROM orders ORDER BY id LIMIT ?", n)
    products = {r["id"]: r["name"] for r in _rows(cluster, "catalog", "SELECT id, name FROM products")}
    accounts = {r["id"]: r["name"] for r in _rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    return [
        {
            "id": str(o["id"]),
            "product": {"id": str(o["product_id"]), "name": products[o["product_id"]]},
            "buyer": {"name": accounts[o["buyer_id"]]},
        }
        for o in orders
    ]


def _rows(cluster: Cluster, service: str, sql: str, *args: Any) -> list[sqlite3.Row]:
    connection = sqlite3.connect(f"file:{cluster.db_paths[service]}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def check_products_failed(result: dict[str, Any], expected: list[dict[str, Any]], code: str) -> int:
    """Everything but the products is complete; each product is complete or null with one error of `code`
    from catalog at its path. Returns how many failed."""
    orders = result["data"]["orders"]
    assert [{k: v for k, v in o.items() if k != "product"} for o in orders] == [
        {k: v for k, v in o.items() if k != "product"} for o in expected
    ]
    failed = [i for i, o in enumerate(orders) if o["product"] is None]
    assert all(orders[i]["product"] == expected[i]["product"] for i in range(len(orders)) if i not in failed)
    errors = result.get("errors", [])
    assert [e["path"] for e in errors] == [["orders", i, "product"] for i in failed]
    assert {(e["extensions"]["code"], e["extensions"]["service"]) for e in errors} <= {(code, "catalog")}
    return len(failed)


@dataclass
class FakeService:
    """A stand-in service on loopback that counts the requests it is sent, as a service's /stats does."""

    url: str
    requests: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)  # set at teardown: hanging handlers end


MakeFake = Callable[[Handler], Awaitable[FakeService]]


@pytest.fixture
async def fake_service() -> AsyncIterator[MakeFake]:
    """Serve `handler` at POST /graphql (and GET /accounts) on a free loopback port."""
    runners: list[tuple[web.AppRunner, FakeService]] = []

    async def serve(handler: Handler) -> FakeService:
        fake = FakeService("")

        async def counted(request: web.Request) -> web.StreamResponse:
            fake.requests += 1
            return await handler(request)

        app = web.Application()
        app.router.add_post("/graphql", counted)
        app.router.add_get("/accounts", counted)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        runners.append((runner, fake))
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return fake

    yield serve
    for runner, fake in runners:
        fake.release.set()
        await runner.cleanup()


OverFakeCatalog = Callable[..., Awaitable[tuple[FakeService, Faulty]]]


@pytest.fixture
def over_fake_catalog(
    cluster: Cluster, fake_service: MakeFake, faulty_gateways: list[Faulty]
) -> OverFakeCatalog:
    """`await over_fake_catalog(handler, gateway_resilience, **catalog)`: a stand-in catalog serving `handler`, and
    the example gateway with catalog pointed at it (`catalog` replaces more fields of catalog's config, its own
    `resilience=` policy included); the gateway is closed at the end."""

    async def make(
        handler: Handler, resilience: GatewayResilience | None = None, /, **catalog: Any
    ) -> tuple[FakeService, Faulty]:
        fake = await fake_service(handler)
        faulty = example_gateway(cluster, resilience, catalog={"url": fake.url + "/graphql", **catalog})
        faulty_gateways.append(faulty)
        return fake, faulty

    return make


def batched(variables: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The alias and the keys of a single-field batched GraphQL call (`b<id>: field(ids: $k<id>)`)."""
    ((name, keys),) = [(n, v) for n, v in variables.items() if n.startswith("k")]
    return "b" + name[1:], keys
