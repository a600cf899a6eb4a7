"""Fewer downstream calls: cache tiers (memory, Redis, both), single flight, in-flight de-duplication."""

from .backend import CacheBackend, CacheKey, Hit
from .inflight import InflightTransport, unshared
from .memory import MemoryCache
from .redis_cache import RedisCache, RedisStats
from .single_flight import SingleFlight
from .tiered import TieredCache

__all__ = [
    "CacheBackend",
    "CacheKey",
    "Hit",
    "InflightTransport",
    "MemoryCache",
    "RedisCache",
    "RedisStats",
    "SingleFlight",
    "TieredCache",
    "unshared",
]
