"""Rate limiting per client: token buckets in memory or in Redis, shared by replicas."""

from .bucket import Decision, RateLimitBackend
from .memory import MemoryBuckets
from .middleware import RateLimiter, rate_limit_middleware
from .redis_buckets import RedisBuckets

__all__ = [
    "Decision",
    "MemoryBuckets",
    "RateLimitBackend",
    "RateLimiter",
    "RedisBuckets",
    "rate_limit_middleware",
]
