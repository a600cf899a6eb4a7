"""Shared by the resilience tests: a fake clock that sleeping advances, calls, and downstream failures."""

from __future__ import annotations

from dataclasses import dataclass, field

from instrumentation.call import GraphQLCall
from instrumentation.errors import DownstreamHTTPError, DownstreamUnavailable


@dataclass
class FakeClock:
    """`clock()` reads `now`; `sleep(s)` records the wait and moves `now` on, without waiting."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def query(service: str = "catalog", deadline: float | None = None) -> GraphQLCall:
    return GraphQLCall(service, "{ x }", {}, deadline=deadline)


def mutation(service: str = "catalog", deadline: float | None = None) -> GraphQLCall:
    return GraphQLCall(service, "mutation { x }", {}, "mutation", deadline=deadline)


def unavailable(service: str = "catalog") -> DownstreamUnavailable:
    return DownstreamUnavailable(f"{service}: cannot connect", service=service)


def http_error(
    status: int, service: str = "catalog", retry_after: float | None = None
) -> DownstreamHTTPError:
    return DownstreamHTTPError(
        f"{service}: HTTP {status}", service=service, status=status, retry_after=retry_after
    )
