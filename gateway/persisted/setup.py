"""The persisted queries of one server, built from the config when the app starts (a manifest at a URL is
fetched then) and closed with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

from aiohttp import web

from registry.config import GatewayConfig, PersistedQueriesConfig

from ..cache import CacheBackend, MemoryCache, RedisCache, TieredCache
from ..redis_connection import connect
from .manifest import load_manifest
from .queries import PersistedQueries

__all__ = ["PERSISTED_QUERIES", "build_persisted_queries", "persisted_queries_context"]

PERSISTED_QUERIES: Final = web.AppKey("funnel.persisted_queries", PersistedQueries)


async def build_persisted_queries(config: GatewayConfig | None) -> PersistedQueries:
    settings = config.persisted_queries if config is not None else PersistedQueriesConfig()
    store: CacheBackend | None = None
    if settings.apq:
        memory = MemoryCache(settings.max_entries, settings.max_bytes)
        store = memory
        if settings.redis and config is not None and config.redis is not None:
            store = TieredCache(memory, RedisCache(connect(config.redis), config.redis, namespace="apq"))
    manifest = None
    if settings.manifest is not None:
        manifest = await load_manifest(settings.manifest, settings.location)
    return PersistedQueries(
        store, ttl_s=settings.ttl_s, manifest=manifest, only_trusted=settings.only_trusted
    )


def persisted_queries_context(
    config: GatewayConfig | None, watch: Callable[[PersistedQueries], None] | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """For `app.cleanup_ctx`: app[PERSISTED_QUERIES] for the life of the app, given to `watch` (metrics)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        persisted = await build_persisted_queries(config)
        app[PERSISTED_QUERIES] = persisted
        if watch is not None:
            watch(persisted)
        yield
        await persisted.close()

    return context
