"""The policies composed around each service's transport, in one place and one order:

    in-flight de-duplication → deadline → retry → breaker → bulkhead → HTTP

- **De-duplication outermost**: identical queries in flight share one call, and so everything below it (see
  gateway/cache/inflight.py); it is the only layer that sees several requests' calls as one.

- **Deadline outermost**: it bounds everything below it — every try, every backoff sleep, every wait in the
  bulkhead's line — and refuses a call whose time is already up before anything else is spent on it.
- **Retry outside the breaker**: the breaker sees every try, so it learns a service's real failure rate (a call
  that fails twice and then succeeds is two failures and a success, not one success), a dead service opens it
  after fewer calls, and once it is open a retry loop stops at once (`CircuitOpen` is not retryable: no sleep,
  no budget spent). A breaker is per instance; with several instances, the instance picker goes between
  the two, so that a retry can go to another instance whose circuit is closed.
- **Breaker outside the bulkhead**: an open circuit fails without taking a slot or waiting in line, and the
  bulkhead's refusals (local overload, not the service's health) reach the breaker as "not sent", which it
  does not count.
- **Bulkhead innermost**, right above HTTP: it caps what is actually on the wire, retries included, so
  retries cannot exceed the service's concurrency cap.

Gateway.freeze uses `ResilientTransport` as the ServiceClients' transport factory.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Callable, Mapping
from typing import Any

from instrumentation.call import Call
from registry.config import ServiceConfig
from registry.redaction import redact_url

from ..cache.inflight import InflightTransport
from ..transport import HTTPTransport, ServiceClients, TransportFactory
from .breaker import BreakerSnapshot, CircuitBreaker
from .bulkhead import Bulkhead
from .deadline import DeadlineTransport
from .retry import RetryTransport, Sleep
from .window import Clock

__all__ = ["ResilientTransport", "circuit_states"]


class ResilientTransport:
    """One service's transport (`base(service)`, HTTP by default) wrapped in the service's policies.

    The layers stay reachable for metrics and tests: `.inflight`, `.deadline`, `.retry`, `.breaker`,
    `.bulkhead`, `.base`. `inflight=True` shares identical queries in flight (the gateway's default, see
    `cache.inflight`); without it every call is sent, as the policies' own tests need.
    `clock`, `sleep` and `random` are injectable for unit tests; `clock` must be the clock of `Call.deadline`.
    """

    def __init__(
        self,
        service: ServiceConfig,
        *,
        base: TransportFactory = HTTPTransport,
        inflight: bool = False,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        policy = service.resilience
        self.base = base(service)
        self.bulkhead = Bulkhead(self.base, policy.bulkhead, clock=clock)
        self.breaker = CircuitBreaker(
            self.bulkhead, policy.breaker, url=redact_url(service.url), clock=clock, random=random
        )
        # One instance per service so far: a try that timed out has nowhere else to go, and is not retried.
        self.retry = RetryTransport(
            self.breaker,
            policy.retry,
            try_timeout_s=service.timeout_ms / 1000,
            instances=1,
            clock=clock,
            sleep=sleep,
            random=random,
        )
        self.deadline = DeadlineTransport(self.retry, clock=clock)
        self.inflight = InflightTransport(self.deadline, enabled=inflight)

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        return await self.inflight.send(call, headers)

    async def close(self) -> None:
        await self.inflight.close()  # each layer closes the one below it


def circuit_states(clients: ServiceClients) -> dict[str, BreakerSnapshot]:
    """Each service's circuit breaker, for `/ready` and metrics (services without the policies are left out)."""
    return {
        name: transport.breaker.snapshot()
        for name, transport in clients.transports.items()
        if isinstance(transport, ResilientTransport)
    }
