"""All four example services in this process, on free loopback ports: the fixture for integration tests.

    async with run_cluster() as cluster:
        cluster.urls["accounts"]          # "http://127.0.0.1:PORT" (REST)
        cluster.graphql_url("catalog")    # "http://127.0.0.1:PORT/graphql"
        await cluster.stats("catalog")    # {"requests": .., "keys": .., "peak_in_flight": ..}
        await cluster.reset_stats()

orders is wired to this cluster's catalog and accounts. Everything is stopped (and temporary databases
removed) when the block exits.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import accounts, catalog, orders, reviews
from .common import STATS_KEY, start_app
from .topology import DEFAULT_HOST, GRAPHQL_PATH, SERVICE_NAMES, upstream_urls

__all__ = ["Cluster", "run_cluster"]

_FACTORIES: dict[str, Callable[..., web.Application]] = {
    "accounts": accounts.create_app,
    "catalog": catalog.create_app,
    "orders": orders.create_app,
    "reviews": reviews.create_app,
}
_REST_SERVICES = frozenset({"accounts"})


@dataclass(frozen=True)
class Cluster:
    urls: dict[str, str]
    """Service name -> base URL, e.g. ``http://127.0.0.1:40123``."""
    db_paths: dict[str, str]
    """Service name -> its SQLite file (open it read-only to check what a service stored)."""
    apps: dict[str, web.Application]

    def graphql_url(self, name: str) -> str:
        if name in _REST_SERVICES:
            raise ValueError(f"{name} is a REST service: use cluster.urls[{name!r}]")
        return self.urls[name] + GRAPHQL_PATH

    async def stats(self, name: str) -> dict[str, int]:
        """What ``GET /stats`` of that service answers, read without making (or counting) a request."""
        return self.apps[name][STATS_KEY].snapshot()

    async def reset_stats(self) -> None:
        for app in self.apps.values():
            app[STATS_KEY].reset()


async def _serve(stack: contextlib.AsyncExitStack, app: web.Application) -> str:
    runner, url = await start_app(app, DEFAULT_HOST, 0)
    stack.push_async_callback(runner.cleanup)
    return url


@contextlib.asynccontextmanager
async def run_cluster(
    latency_ms: float = 0, max_concurrency: int | None = None, db_dir: str | None = None
) -> AsyncIterator[Cluster]:
    """Start accounts, catalog, orders and reviews on 127.0.0.1, port 0 each.

    ``latency_ms`` and ``max_concurrency`` apply to every service. ``db_dir`` keeps the databases as
    ``<db_dir>/<name>.sqlite3`` (reused if already there); by default they live in a temporary directory
    removed on exit, so each cluster starts from the same seeded data.
    """
    async with contextlib.AsyncExitStack() as stack:
        if db_dir is None:
            db_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="funnel-cluster-"))
        db_paths = {name: os.path.join(db_dir, f"{name}.sqlite3") for name in SERVICE_NAMES}
        urls: dict[str, str] = {}
        apps: dict[str, web.Application] = {}
        # orders last: it needs the other services' URLs, known only once they listen.
        for name in sorted(SERVICE_NAMES, key=lambda service: service == "orders"):
            options: dict[str, Any] = {
                "db_path": db_paths[name],
                "latency_ms": latency_ms,
                "max_concurrency": max_concurrency,
            }
            if name == "orders":
                options.update(upstream_urls(urls))
            apps[name] = _FACTORIES[name](**options)
            urls[name] = await _serve(stack, apps[name])
        yield Cluster(urls=dict(sorted(urls.items())), db_paths=db_paths, apps=apps)
