"""The seam between the gateway and its services: a transport sends one call and returns its answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from instrumentation.call import Call

__all__ = ["Transport"]


class Transport(Protocol):
    """Sends calls to one service.

    `send` returns the parsed answer (for a GraphQLCall a dict with "data" and/or "errors", for a RestCall
    any JSON value) or raises a DownstreamError; `headers` are extra request headers, already filtered for
    the service.
    Wrappers (resilience, accounting) implement the same protocol, so they stack.
    """

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any: ...

    async def close(self) -> None: ...
