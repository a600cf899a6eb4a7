"""Load shedding at the gateway: beyond K requests in flight, answer 503 with `Retry-After` at once.

Queueing without bound only turns overload into latency for everyone and memory for the gateway; a fast 503
lets a load balancer or the client go elsewhere or come back later. Health and readiness probes are never
shed: an overloaded gateway is alive, and its orchestrator must be able to see it.

    app = web.Application(middlewares=[LoadShedder(config.resilience.max_in_flight_requests)])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Final

import orjson
from aiohttp import web

from instrumentation.errors import ErrorCode

__all__ = ["OVERLOADED", "UNSHED_PATHS", "LoadShedder"]

OVERLOADED: Final = ErrorCode.OVERLOADED  # extensions.code of the 503
UNSHED_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoadShedder:
    """An aiohttp middleware counting the requests in flight; `shed` counts the 503s it answered."""

    __middleware_version__ = 1  # a new-style middleware, as `@web.middleware` marks functions

    def __init__(
        self, max_in_flight: int, *, retry_after_s: int = 1, unshed_paths: Collection[str] = UNSHED_PATHS
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.unshed_paths = frozenset(unshed_paths)
        self.in_flight = 0
        self.shed = 0

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.unshed_paths:
            return await handler(request)
        if self.in_flight >= self.max_in_flight:
            self.shed += 1
            return self._overloaded()
        self.in_flight += 1
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    def _overloaded(self) -> web.Response:
        message = f"the gateway is overloaded ({self.in_flight} requests in flight): retry later"
        body = {"errors": [{"message": message, "extensions": {"code": OVERLOADED}}]}
        return web.Response(
            status=503,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={"Retry-After": str(self.retry_after_s)},
        )
