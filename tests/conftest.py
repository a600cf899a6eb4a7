"""Fixtures every integration test folder shares: the example services in-process, an HTTP client, and recording
proxies in front of the services."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from examples.services.cluster import Cluster, run_cluster
from examples.services.common import start_app

from .redis_server import RedisServer, redis_server

SEEN = web.AppKey("seen", list[CIMultiDictProxy[str]])  # a recording proxy's requests' headers, in order
_SESSION = web.AppKey("session", aiohttp.ClientSession)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """The four example services on loopback (port 0 each, fresh seeded databases), stopped after the test."""
    async with run_cluster() as running:
        yield running


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A real redis-server on a free port, empty, stopped after the test (`redis.url`, `stop()`, `start()`)."""
    async with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def recording_proxy(upstream: str) -> web.Application:
    """Passes every request on to `upstream` unchanged and records its headers in app[SEEN] (the example
    services do not report the headers they receive)."""
    app = web.Application()
    app[SEEN] = []

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[_SESSION] = session
            yield

    async def forward(request: web.Request) -> web.Response:
        request.app[SEEN].append(CIMultiDictProxy(CIMultiDict(request.headers)))
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        async with request.app[_SESSION].request(
            request.method, upstream + request.path_qs, data=await request.read(), headers=headers
        ) as answer:
            return web.Response(
                body=await answer.read(), status=answer.status, content_type=answer.content_type
            )

    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{path:.*}", forward)
    return app


@pytest.fixture
async def proxies(cluster: Cluster) -> AsyncIterator[dict[str, tuple[str, web.Application]]]:
    """Service name -> (recording proxy base URL, proxy app), one proxy in front of each example service."""
    async with contextlib.AsyncExitStack() as stack:
        started: dict[str, tuple[str, web.Application]] = {}
        for name, url in cluster.urls.items():
            app = recording_proxy(url)
            runner, proxy_url = await start_app(app)
            stack.push_async_callback(runner.cleanup)
            started[name] = (proxy_url, app)
        yield started
