"""Integration fixtures: the four example services in-process on loopback, and gateways over them."""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from examples.services.cluster import Cluster
from gateway.gateway import Gateway
from registry.config import ServiceConfig

EXAMPLE_SCHEMA = Path(__file__).parents[2] / "examples" / "gateway.graphql"

MakeGateway = Callable[..., Awaitable[Gateway]]


TEST_TIMEOUT_MS = 30_000


def service_configs(cluster: Cluster, **overrides: dict[str, Any]) -> dict[str, ServiceConfig]:
    """The example services as the gateway's registry sees them; `overrides` replace fields per service."""
    # Generous timeouts: these tests count calls and check data, and a busy machine must not turn the N+1
    # baseline's hundreds of concurrent calls into timeouts (tests of timeouts set their own). The connect
    # timeout too: a hundred connections opened at once to a service whose loop is busy wait in its accept
    # queue, and a connect that timed out is retried and counted by the breaker, whose opening then keeps
    # calls from ever reaching the service.
    patient = functools.partial(ServiceConfig, timeout_ms=TEST_TIMEOUT_MS, connect_timeout_ms=TEST_TIMEOUT_MS)
    services = {
        "accounts": patient("accounts", cluster.urls["accounts"], protocol="rest"),
        "catalog": patient("catalog", cluster.graphql_url("catalog")),
        "orders": patient("orders", cluster.graphql_url("orders")),
        "reviews": patient("reviews", cluster.graphql_url("reviews")),
    }
    for name, changes in overrides.items():
        services[name] = dataclasses.replace(services[name], **changes)
    return services


@pytest.fixture
async def make_gateway(cluster: Cluster) -> AsyncIterator[MakeGateway]:
    """Build gateways over the cluster (example schema unless `sdl` is given); all closed at the end."""
    made: list[Gateway] = []

    async def make(
        *,
        batching: bool = True,
        merge_levels: bool = True,
        sdl: str | None = None,
        services: dict[str, ServiceConfig] | None = None,
    ) -> Gateway:
        gateway = Gateway.from_sdl(
            sdl if sdl is not None else EXAMPLE_SCHEMA.read_text(),
            services if services is not None else service_configs(cluster),
            path="gateway.graphql",
            batching=batching,
            merge_levels=merge_levels,
        )
        gateway.freeze()
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.close()


async def calls(cluster: Cluster) -> dict[str, int]:
    """Requests each service has served since the last reset (counted by the services themselves)."""
    return {
        name: (await cluster.stats(name))["requests"] for name in ("accounts", "catalog", "orders", "reviews")
    }


def rows(cluster: Cluster, service: str, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Read a service's own SQLite file, read-only: the truth the gateway's answer is checked against."""
    connection = sqlite3.connect(f"file:{cluster.db_paths[service]}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()
