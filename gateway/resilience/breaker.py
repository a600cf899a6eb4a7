"""A circuit breaker per service instance: stop calling a service that keeps failing, and find out when it is back.

Closed, it counts calls and failures over a rolling window; when at least `min_calls` calls saw a failure rate of
`failure_rate` or more, it opens. Open, it fails every call at once with `CircuitOpen` (SERVICE_UNAVAILABLE,
"catalog: circuit open (12 of 20 recent calls failed)") instead of letting it wait for a dead service. After a
wait it is half-open: up to `half_open_probes` calls go through as probes; one failing opens it again, that
many succeeding close it. The wait backs off exponentially: `probe_base_ms` after the circuit opens, doubled by
every failed probe up to `open_ms`, each shortened at random by up to `probe_jitter` of itself. A fixed long wait
would keep failing fast for seconds after the service is back; short waits that never grow would probe a dead
service many times a second; jitter keeps the replicas of a gateway from probing in step.

A failure is what says the service is unwell: unreachable, too slow, or an HTTP 5xx. An answer the caller
caused (4xx, GraphQL errors) is a success; a call that was never sent (bulkhead full, deadline passed) says
nothing either way.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from instrumentation.call import Call
from instrumentation.errors import (
    BulkheadFull,
    CircuitOpen,
    DeadlinePassed,
    DownstreamError,
    DownstreamHTTPError,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from registry.resilience import BreakerPolicy

from ..transport.base import Transport
from .window import Clock, RollingWindow

__all__ = ["BreakerSnapshot", "BreakerState", "CircuitBreaker", "failed"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """One breaker as `/ready` and metrics show it."""

    url: str
    state: BreakerState
    calls: int  # in the rolling window (while closed)
    failures: int
    opened: int  # times the circuit has opened since start
    rejected: int  # calls failed fast since start

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed(error: DownstreamError) -> bool | None:
    """Did the service fail? None when the call was not sent, so it says nothing about the service."""
    if isinstance(error, CircuitOpen | BulkheadFull | DeadlinePassed):
        return None
    if isinstance(error, DownstreamUnavailable | DownstreamTimeout):
        return True
    if isinstance(error, DownstreamHTTPError):
        return error.status is not None and error.status >= 500
    return False


class CircuitBreaker:
    """The breaker of one service instance (`url`), wrapped around the transport that reaches it."""

    _CALLS, _FAILURES = 0, 1

    def __init__(
        self,
        inner: Transport,
        policy: BreakerPolicy,
        *,
        url: str,
        clock: Clock = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.url = url
        self.state: BreakerState = "closed"
        self.opened = 0
        self.rejected = 0
        self._clock = clock
        self._window = RollingWindow(policy.window_ms / 1000, 2, clock)
        self._random = random
        self._opened_at = 0.0
        self._wait_s = 0.0  # how long this open spell fails fast
        self._failed_probes = 0  # in a row, since the circuit last closed: the back-off's exponent
        self._reason = ""
        self._probes = 0  # probe calls in flight
        self._successes = 0  # probes that succeeded in this half-open spell

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        probe = self._admit(call)
        try:
            answer = await self.inner.send(call, headers)
        except DownstreamError as error:
            self._record(probe, failed(error))
            raise
        except BaseException:  # cancelled, or a transport's bug: nothing learnt about the service
            self._record(probe, None)
            raise
        self._record(probe, False)
        return answer

    def snapshot(self) -> BreakerSnapshot:
        calls, failures = self._window.totals()
        return BreakerSnapshot(self.url, self.state, calls, failures, self.opened, self.rejected)

    def admits(self) -> bool:
        """Would a call be let through now? (What `_admit` decides, without changing anything.)"""
        if self.state == "open":
            return self._clock() - self._opened_at >= self._wait_s
        if self.state == "half_open":
            return self._probes + self._successes < self.policy.half_open_probes
        return True

    def _admit(self, call: Call) -> bool:
        """Let the call through (True when it is a probe) or raise CircuitOpen."""
        if self.state == "open":
            if self._clock() - self._opened_at < self._wait_s:
                raise self._rejection(call)
            self.state = "half_open"
            self._successes = 0
        if self.state == "half_open":
            if self._probes + self._successes >= self.policy.half_open_probes:
                raise self._rejection(call)
            self._probes += 1
            return True
        return False

    def _record(self, probe: bool, failure: bool | None) -> None:
        if probe:
            self._probes -= 1
            if self.state != "half_open" or failure is None:  # a probe that was not sent frees its place
                return
            if failure:
                self._failed_probes += 1
                self._open("a probe call failed")
            else:
                self._successes += 1
                if self._successes >= self.policy.half_open_probes:
                    self.state = "closed"
                    self._failed_probes = 0
                    self._window.clear()
            return
        # Calls let through before the circuit opened may end after: only a closed circuit counts them.
        if self.state != "closed" or failure is None:
            return
        self._window.add(self._CALLS)
        if failure:
            self._window.add(self._FAILURES)
            calls, failures = self._window.totals()
            if calls >= self.policy.min_calls and failures >= self.policy.failure_rate * calls:
                self._open(f"{failures} of {calls} recent calls failed")

    def _open(self, reason: str) -> None:
        self.state = "open"
        self.opened += 1
        self._opened_at = self._clock()
        self._wait_s = self.probe_wait(self._failed_probes)
        self._reason = reason
        self._window.clear()

    def probe_wait(self, failed_probes: int) -> float:
        """Seconds to fail fast before the next probe, after `failed_probes` failed probes in a row."""
        policy = self.policy
        full_ms = min(policy.open_ms, policy.probe_base_ms * 2.0 ** min(failed_probes, 30))
        return full_ms * (1 - policy.probe_jitter * self._random()) / 1000

    def _rejection(self, call: Call) -> CircuitOpen:
        self.rejected += 1
        return CircuitOpen(f"{call.service}: circuit open ({self._reason})", service=call.service, call=call)

    async def close(self) -> None:
        await self.inner.close()
