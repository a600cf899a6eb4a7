"""The seam between the gateway and its services: a transport sends one call and returns its answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from instrumentation.call import Call

__all__ = ["InstanceSet", "Transport"]


class Transport(Protocol):
    """Sends calls to one service.

    `send` returns the parsed answer (for a GraphQLCall a dict with "data" and/or "errors", for a RestCall
    any JSON value) or raises a DownstreamError; `headers` are extra request headers, already filtered for
    the service.
    Wrappers (resilience, accounting) implement the same protocol, so they stack.
    """

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any: ...

    async def close(self) -> None: ...


@runtime_checkable
class InstanceSet(Protocol):
    """A transport that spreads its calls over a service's instances, and whose instances can change."""

    def set_instances(self, urls: Sequence[str]) -> None: ...
