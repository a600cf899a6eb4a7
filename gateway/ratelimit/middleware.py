"""Rate limiting at /graphql: a token bucket per client, 429 with Retry-After when it is empty.

The client is the authenticated subject (a JWT's `sub`, an API key's subject), else the peer address. Exempt
subjects and addresses are never counted.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import orjson
from aiohttp import web

from instrumentation.errors import ErrorCode
from registry.config import RateLimitConfig, RedisConfig
from registry.errors import ConfigError, Problem

from ..auth.middleware import IDENTITY
from .bucket import RateLimitBackend
from .memory import MemoryBuckets
from .redis_buckets import RedisBuckets

__all__ = ["RateLimiter", "rate_limit_middleware"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_UNKNOWN_PEER: Final = "unknown"


class RateLimiter:
    def __init__(self, config: RateLimitConfig, redis: RedisConfig | None) -> None:
        self.config = config
        self.exempt_subjects = frozenset(config.exempt_subjects)
        self.exempt_addresses = frozenset(config.exempt_addresses)
        if config.backend == "redis":
            if redis is None:
                where = config.location
                message = "rate_limit.backend: redis needs the redis: section"
                raise ConfigError(
                    [Problem(message, where.file if where else None, where.line if where else None)]
                )
            self.backend: RateLimitBackend = RedisBuckets(redis, config.requests_per_second, config.burst)
        else:
            self.backend = MemoryBuckets(config.requests_per_second, config.burst)

    def client_of(self, request: web.Request) -> str | None:
        """The bucket's name for this request's client, or None when it is exempt."""
        identity = request.get(IDENTITY)
        if identity is not None and identity.subject is not None:
            return None if identity.subject in self.exempt_subjects else f"subject:{identity.subject}"
        address = request.remote or _UNKNOWN_PEER
        return None if address in self.exempt_addresses else f"address:{address}"

    async def context(self, _app: web.Application) -> AsyncIterator[None]:
        yield
        await self.backend.close()


def rate_limit_middleware(limiter: RateLimiter, path: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def limit(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path != path or request.method == "OPTIONS":
            return await handler(request)
        client = limiter.client_of(request)
        if client is None:
            return await handler(request)
        decision = await limiter.backend.take(client)
        if decision.allowed:
            return await handler(request)
        retry_after = max(1, math.ceil(decision.retry_after_s))
        config = limiter.config
        message = (
            f"Too many requests: at most {config.requests_per_second:g} per second (burst {config.burst}) per client"
            f" (rate_limit); retry after {retry_after} s."
        )
        body = {"errors": [{"message": message, "extensions": {"code": ErrorCode.RATE_LIMITED}}]}
        return web.Response(
            body=orjson.dumps(body),
            status=429,
            content_type="application/json",
            charset="utf-8",
            headers={"Retry-After": str(retry_after)},
        )

    return limit
