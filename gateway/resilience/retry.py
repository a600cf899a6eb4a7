"""Retries: another try for a query that failed in a way worth retrying, within a per-service retry budget.

Only queries are retried (a mutation may have taken effect before its answer was lost), and only failures a
second try can fix: the service could not be reached or dropped the connection, did not answer in time, or
answered 502/503/504/429. The n-th retry waits a random time in [0, min(max, base * 2^(n-1))] ("full jitter":
clients that failed together do not come back together), at least what a `Retry-After` asked for, and never
past the request's deadline: a retry that could not finish in time is not made.

The budget is what keeps an outage from becoming a retry storm: retries may be at most `budget_ratio` of the
calls of the last `budget_window_ms`, plus a floor of `min_retries_per_second` so that a rarely called service
can still retry. Whatever the load, attempts <= (1 + budget_ratio) * calls + floor in every window.

A try that timed out is different: the service is hung or overloaded, and the same instance asked again would
most likely spend another whole timeout. It is retried only when another instance could take it and the deadline
leaves room for another full try (hedging belongs with the registry's instances); with one instance a hung
service costs a request its timeout, once.

While a call is being tried, `tried_instances()` is the set of the instances its earlier tries went to: the
instance picker below (pool.py) adds each one it sends a try to, and sends the next try elsewhere.
"""

from __future__ import annotations

import asyncio
import contextvars
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from instrumentation.call import Call, time_left
from instrumentation.errors import (
    CircuitOpen,
    DeadlinePassed,
    DownstreamError,
    DownstreamHTTPError,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from registry.resilience import RetryPolicy

from ..transport.base import Transport
from .window import Clock, RollingWindow

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryBudget",
    "RetryTransport",
    "Sleep",
    "is_idempotent",
    "is_retryable",
    "tried_instances",
]

Sleep = Callable[[float], Awaitable[None]]

RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})


# A context variable, not an argument: the layers between (breaker, pool) keep the Transport protocol, and the
# tries of one call run one after the other in its task, which the variable follows.
_TRIED: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "funnel_tried_instances", default=None
)


def tried_instances() -> set[str] | None:
    """The instances (their URLs) the current call's earlier tries went to; None outside a RetryTransport."""
    return _TRIED.get()


def is_retryable(error: DownstreamError) -> bool:
    """Would another try of the same call stand a chance?"""
    if isinstance(error, CircuitOpen | DeadlinePassed):  # not sent; another try would not be sent either
        return False
    if isinstance(error, DownstreamUnavailable | DownstreamTimeout):
        return True
    return isinstance(error, DownstreamHTTPError) and error.status in RETRYABLE_STATUSES


def is_idempotent(call: Call) -> bool:
    """Safe to send twice: every call but a mutation's (GraphQL or REST, whatever its HTTP method)."""
    return call.operation != "mutation"


class RetryBudget:
    """Allows a retry while retries stay within `ratio` of the window's calls plus the floor."""

    _CALLS, _RETRIES = 0, 1

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        window_s = policy.budget_window_ms / 1000
        self.ratio = policy.budget_ratio
        self.floor = policy.min_retries_per_second * window_s
        self._window = RollingWindow(window_s, 2, clock)

    def record_call(self) -> None:
        self._window.add(self._CALLS)

    def try_spend(self) -> bool:
        calls, retries = self._window.totals()
        if retries + 1 > self.ratio * calls + self.floor:
            return False
        self._window.add(self._RETRIES)
        return True


class RetryTransport:
    """Retries what is worth retrying; the last failure is raised when the tries, the time or the budget run out."""

    def __init__(
        self,
        inner: Transport,
        policy: RetryPolicy,
        *,
        try_timeout_s: float | None = None,
        instances: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.budget = RetryBudget(policy, clock)
        self.try_timeout_s = try_timeout_s  # one try's timeout: what another try after a timeout needs
        self.instances = instances  # of the service: a timed-out try is retried only on another one
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self.retries = 0  # retries made since start
        self.refused = 0  # retries the budget did not allow since start

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        self.budget.record_call()
        tries = 1
        token = _TRIED.set(set())
        try:
            while True:
                try:
                    return await self.inner.send(call, headers)
                except DownstreamError as error:
                    delay = self._delay(call, error, tries)
                    if delay is None:
                        raise
                tries += 1
                self.retries += 1
                await self._sleep(delay)
        finally:
            _TRIED.reset(token)

    def _delay(self, call: Call, error: DownstreamError, tries: int) -> float | None:
        """How long to wait before the next try, or None to give up."""
        if tries >= self.policy.attempts or not is_idempotent(call) or not is_retryable(error):
            return None
        cap_ms = min(self.policy.backoff_max_ms, self.policy.backoff_base_ms * 2 ** (tries - 1))
        delay = self._random() * cap_ms / 1000
        if isinstance(error, DownstreamHTTPError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        left = time_left(call, self._clock())
        if left is not None and delay >= left:
            return None
        if isinstance(error, DownstreamTimeout) and not self._room_after_timeout(delay, left):
            return None
        # Spent last, once the retry is certain to be made: a refused retry costs no budget.
        if not self.budget.try_spend():
            self.refused += 1
            return None
        return delay

    def _room_after_timeout(self, delay: float, left: float | None) -> bool:
        if self.instances < 2:
            return False
        return left is None or self.try_timeout_s is None or delay + self.try_timeout_s <= left

    async def close(self) -> None:
        await self.inner.close()
