"""A real Funnel server on 127.0.0.1, port 0, over the example services running in-process."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from examples.services.cluster import Cluster
from gateway.gateway import Gateway
from gateway.server import create_app
from gateway.server.serving import listening
from registry.config import AuthConfig, CorsConfig, RateLimitConfig, RedisConfig, ServerConfig, ServiceConfig
from registry.resilience import GatewayResilience
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs

GRAPHQL_RESPONSE = "application/graphql-response+json"


@dataclass
class Server:
    url: str  # the base URL: http://127.0.0.1:PORT
    gateway: Gateway
    app: web.Application

    @property
    def graphql(self) -> str:
        return self.url + "/graphql"


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(cluster: Cluster) -> AsyncIterator[StartServer]:
    """Start servers over the cluster (the example schema unless `sdl` is given); all stopped at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *,
            services: dict[str, ServiceConfig] | None = None,
            sdl: str | None = None,
            batching: bool = True,
            resilience: GatewayResilience | None = None,
            auth: AuthConfig | None = None,
            rate_limit: RateLimitConfig | None = None,
            cors: CorsConfig | None = None,
            redis: RedisConfig | None = None,
            **settings: Any,
        ) -> Server:
            # Most tests here look at plans and /ready's details as anyone: the strict default (authenticated
            # callers only) has tests of its own in tests/edge.
            settings.setdefault("debug_access", "everyone")
            gateway = Gateway.from_sdl(
                sdl if sdl is not None else EXAMPLE_SCHEMA.read_text(),
                services if services is not None else service_configs(cluster),
                path="gateway.graphql",
                batching=batching,
                resilience=resilience,
            )
            app = create_app(
                gateway,
                dataclasses.replace(ServerConfig(), **settings),
                auth=auth,
                rate_limit=rate_limit,
                cors=cors,
                redis=redis,
            )
            url = await stack.enter_async_context(listening(app, "127.0.0.1", 0, shutdown_timeout_s=5))
            return Server(url, gateway, app)

        yield start


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    return await start_server()


def cluster_config(cluster: Cluster, server: str = "  port: 0\n", more: str = "") -> str:
    """A `funnel serve` config over the cluster's services: the example schema, `server:` lines, more sections."""
    return (
        f"schema: {EXAMPLE_SCHEMA}\n"
        "services:\n"
        f"  accounts: {{url: '{cluster.urls['accounts']}', protocol: rest}}\n"
        f"  catalog: {{url: '{cluster.graphql_url('catalog')}'}}\n"
        f"  orders: {{url: '{cluster.graphql_url('orders')}'}}\n"
        f"  reviews: {{url: '{cluster.graphql_url('reviews')}'}}\n"
        f"server:\n{server}{more}"
    )
