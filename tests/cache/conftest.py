"""Gateways over the example services configured from YAML text (the cache: and persisted_queries: sections),
and servers listening on loopback for them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from examples.services.cluster import Cluster
from gateway.gateway import Gateway
from gateway.server import create_app
from gateway.server.serving import listening
from registry.config import GatewayConfig, parse_config

EXAMPLE_SCHEMA = Path(__file__).parents[2] / "examples" / "gateway.graphql"


def config_for(cluster: Cluster, extra: str = "", *, schema: Path = EXAMPLE_SCHEMA) -> GatewayConfig:
    """The example gateway over `cluster`; orders is told the caller's authorization. `extra` is more YAML."""
    text = f"""
schema: {schema}
services:
  accounts: {{url: "{cluster.urls["accounts"]}", protocol: rest, timeout_ms: 30000}}
  catalog: {{url: "{cluster.graphql_url("catalog")}", timeout_ms: 30000}}
  orders:
    url: "{cluster.graphql_url("orders")}"
    timeout_ms: 30000
    headers: {{forward: [authorization]}}
  reviews: {{url: "{cluster.graphql_url("reviews")}", timeout_ms: 30000}}
{extra}
"""
    return parse_config(text, str(Path.cwd() / "gateway.yaml"))


def gateway_for(cluster: Cluster, extra: str = "") -> Gateway:
    return Gateway.from_config(config_for(cluster, extra))


Serve = Callable[[GatewayConfig], AbstractAsyncContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """`async with serve(config) as url:` a server for the config on 127.0.0.1, its GraphQL URL."""

    @contextlib.asynccontextmanager
    async def start(config: GatewayConfig) -> AsyncIterator[str]:
        app = create_app(Gateway.from_config(config), config.server)
        async with listening(app, "127.0.0.1", 0, shutdown_timeout_s=5) as url:
            yield url + "/graphql"

    return start
