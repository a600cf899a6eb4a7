"""What the executor asks of a service: a downstream call as plain data, and the protocol that sends it.

The executor builds calls; the gateway's transports send them. `Fetch` is the one seam between the two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Call", "Fetch", "GraphQLCall", "RestCall", "time_left"]


@dataclass(frozen=True, slots=True)
class GraphQLCall:
    """POST {url} with `{"query", "variables"}`; the answer is the GraphQL response `{"data", "errors"}`."""

    service: str
    query: str
    variables: Mapping[str, Any]
    operation: Literal["query", "mutation"] = "query"
    keys: int = 0  # keys (ids or representations) this call asks for
    level: int = 0
    chunk: int = 0
    deadline: float | None = None  # time.monotonic() by which the answer is needed: the request's deadline


@dataclass(frozen=True, slots=True)
class RestCall:
    """GET {url}{path}?{params}; the answer is the parsed JSON body."""

    service: str
    path: str
    params: Mapping[str, str]
    keys: int = 0
    level: int = 0
    chunk: int = 0
    deadline: float | None = None


Call = GraphQLCall | RestCall


def time_left(call: Call, now: float) -> float | None:
    """Seconds until the call's deadline (zero or less once it has passed); None when it has no deadline."""
    return None if call.deadline is None else call.deadline - now


# Sends one call and returns the parsed answer, or raises a DownstreamError. For a GraphQLCall the answer is a
# dict with "data" and/or "errors"; for a RestCall, any JSON value.
Fetch = Callable[[Call], Awaitable[Any]]
