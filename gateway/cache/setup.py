"""The entity cache of one gateway, built from the `cache:` section: memory, or memory in front of Redis."""

from __future__ import annotations

from collections.abc import Mapping

from registry.config import CacheConfig, RedisConfig, ServiceConfig

from ..redis_connection import connect
from .backend import CacheBackend
from .entities import EntityCache
from .invalidation import InvalidationChannel
from .memory import MemoryCache
from .redis_cache import RedisCache
from .tiered import TieredCache

__all__ = ["build_entity_cache", "invalidation_channel"]


def build_entity_cache(
    config: CacheConfig, redis: RedisConfig | None, services: Mapping[str, ServiceConfig]
) -> EntityCache:
    """The tiers the config asks for (Redis only with `cache.redis: true` and a `redis:` section). Nothing is
    connected yet: Redis is reached at the first lookup."""
    memory = MemoryCache(config.max_entries, config.max_bytes)
    tier: CacheBackend = memory
    if config.redis and redis is not None:
        tier = TieredCache(memory, RedisCache(connect(redis), redis, namespace="cache"))
    return EntityCache(tier, services, max_value_bytes=config.max_value_bytes)


def invalidation_channel(
    config: CacheConfig, redis: RedisConfig | None, cache: EntityCache
) -> InvalidationChannel | None:
    """The channel of invalidation events, when the cache keeps entries in Redis (replicas share them)."""
    if not (config.redis and redis is not None):
        return None
    return InvalidationChannel(connect(redis), redis, config.invalidation.channel, cache)
