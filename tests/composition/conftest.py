"""Fixtures for composition: small GraphQL services of the tests' own over loopback, and configs naming them."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from ariadne import make_executable_schema

from examples.services.cluster import Cluster
from examples.services.common import start_app
from examples.services.graphql_http import add_graphql_routes
from registry.config import GatewayConfig, load_config

ROOT = Path(__file__).parents[2]
COMPOSED = ROOT / "examples" / "composed"
TIMEOUT_MS = 30_000

StartService = Callable[[str], Awaitable[str]]


@pytest.fixture
async def graphql_service() -> AsyncIterator[StartService]:
    """Start GraphQL services answering (introspection, at least) the SDL given: `url = await start(sdl)`."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(sdl: str) -> str:
            app = web.Application()
            add_graphql_routes(app, make_executable_schema(sdl))
            runner, url = await start_app(app)
            stack.push_async_callback(runner.cleanup)
            return url + "/graphql"

        yield start


def write_config(folder: Path, text: str, **files: str) -> GatewayConfig:
    """funnel.yaml with `text` in `folder`, beside the other `files` (name -> content); the config loaded."""
    for name, content in files.items():
        (folder / name).write_text(content)
    (folder / "funnel.yaml").write_text(text)
    return load_config(folder / "funnel.yaml")


def on_cluster(config: GatewayConfig, cluster: Cluster) -> GatewayConfig:
    """The config with its services' URLs moved to the cluster's ports (as `funnel demo` does), and a
    generous timeout: a busy machine must not turn the N+1 baseline into timeouts."""
    services = {
        name: dataclasses.replace(
            service,
            url=cluster.urls[name] if service.protocol == "rest" else cluster.graphql_url(name),
            timeout_ms=TIMEOUT_MS,
        )
        for name, service in config.services.items()
    }
    return dataclasses.replace(config, services=services)
