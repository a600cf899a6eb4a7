"""What the executor asks of a service: a downstream call as plain data, the function that sends it, and the
record of how it went.

The sources build calls; the gateway's transports send them. `Send` is the one seam between the two (the plan's
fetches, instrumentation.plan, are a different thing: what to ask, not a request). `CallRecord` lives here, not
in the executor, so that the hooks can name it without importing the executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Call", "CallRecord", "GraphQLCall", "RestCall", "Send", "time_left"]


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
    """{method} {url}{path}?{params}, with `body` as JSON when there is one; the answer is the parsed JSON body
    (None for 204 No Content). `path` is already percent-encoded; `params` are encoded by the transport."""

    service: str
    path: str
    params: Mapping[str, str]
    keys: int = 0
    level: int = 0
    chunk: int = 0
    deadline: float | None = None
    method: str = "GET"
    body: Mapping[str, Any] | None = None
    operation: Literal["query", "mutation"] = "query"  # a mutation's call is never retried nor shared


Call = GraphQLCall | RestCall


def time_left(call: Call, now: float) -> float | None:
    """Seconds until the call's deadline (zero or less once it has passed); None when it has no deadline."""
    return None if call.deadline is None else call.deadline - now


# Sends one call and returns the parsed answer, or raises a DownstreamError. For a GraphQLCall the answer is a
# dict with "data" and/or "errors"; for a RestCall, any JSON value.
Send = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One downstream call as it happened: for `funnel-debug: plan`, metrics and tests."""

    service: str
    level: int
    fetches: tuple[int, ...]
    keys: int
    chunk: int
    ms: float
    outcome: str  # "ok" or the error code

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "level": self.level,
            "fetches": list(self.fetches),
            "keys": self.keys,
            "chunk": self.chunk,
            "ms": round(self.ms, 3),
            "outcome": self.outcome,
        }
