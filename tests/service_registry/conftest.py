"""A gateway serving the example catalog from its config, with the registry's API on, over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services import catalog, reviews
from examples.services.cluster import Cluster
from examples.services.common import STATS_KEY, start_app
from gateway.gateway import Gateway
from gateway.server import create_app
from gateway.server.serving import listening

TOKEN = "registry-secret-token"
CATALOG_TOKEN = "catalog-own-token"
READ_TOKEN = "reader-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclasses.dataclass
class Served:
    base: str
    app: web.Application
    gateway: Gateway
    http: aiohttp.ClientSession

    async def query(self, text: str) -> Any:
        async with self.http.post(self.base + "/graphql", json={"query": text}) as response:
            return await response.json()

    async def registry(self) -> Any:
        async with self.http.get(
            self.base + "/registry", headers={"Authorization": f"Bearer {READ_TOKEN}"}
        ) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def call(self, method: str, path: str, body: Any = None, headers: Any = None) -> tuple[int, Any]:
        headers = AUTH if headers is None else headers
        async with self.http.request(method, self.base + path, json=body, headers=headers) as response:
            text = await response.text()
            return response.status, (await response.json() if text else None)


def gateway_config(cluster: Cluster, registry: str, *, compose: bool = True) -> str:
    head = "compose: true\n" if compose else "schema: gateway.graphql\n"
    return (
        f"{head}services:\n  catalog:\n    url: {cluster.graphql_url('catalog')}\n    timeout_ms: 5000\n"
        f"registry:\n{registry}"
    )


REGISTRY = f"""  token: {TOKEN}
  tokens: {{catalog: {CATALOG_TOKEN}}}
  read_token: {READ_TOKEN}
  allowed_urls: ["http://127.0.0.1:*"]
  max_services: 3
  max_instances: 2
  ttl_s: 10
"""

Serve = Callable[..., Awaitable[Served]]


@dataclasses.dataclass
class Extra:
    url: str  # its GraphQL endpoint
    app: web.Application

    def requests(self) -> int:
        return int(self.app[STATS_KEY].snapshot()["requests"])

    def reset(self) -> None:
        self.app[STATS_KEY].reset()


@contextlib.asynccontextmanager
async def extra(create: Callable[..., web.Application], db_path: Path) -> AsyncIterator[Extra]:
    app = create(db_path=str(db_path))
    runner, url = await start_app(app)
    try:
        yield Extra(url + "/graphql", app)
    finally:
        await runner.cleanup()


@pytest.fixture
async def extra_reviews(tmp_path: Path) -> AsyncIterator[Extra]:
    """A second reviews instance (its own database, seeded alike), stopped after the test."""
    async with extra(reviews.create_app, tmp_path / "reviews-2.sqlite3") as started:
        yield started


@pytest.fixture
async def extra_catalog(tmp_path: Path) -> AsyncIterator[Extra]:
    """A second catalog instance (its own database, seeded alike), stopped after the test."""
    async with extra(catalog.create_app, tmp_path / "catalog-2.sqlite3") as started:
        yield started


@pytest.fixture
async def serve(tmp_path: Path, cluster: Cluster, http: aiohttp.ClientSession) -> AsyncIterator[Serve]:
    """`served = await serve(registry_yaml)`: a gateway over the cluster's catalog, stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(registry: str = REGISTRY, **files: str) -> Served:
            for name, text in files.items():
                (tmp_path / name).write_text(text)
            compose = "gateway.graphql" not in files
            (tmp_path / "funnel.yaml").write_text(gateway_config(cluster, registry, compose=compose))
            gateway = await asyncio.to_thread(Gateway.from_config, tmp_path / "funnel.yaml")
            assert gateway.config is not None
            settings = dataclasses.replace(gateway.config.server, port=0, watch_ms=0, debug_access="everyone")
            app = create_app(gateway, settings)
            base = await stack.enter_async_context(listening(app, "127.0.0.1", 0))
            return Served(base, app, gateway, http)

        yield start
