"""The policies composed around each service's transport, in one place and one order:

    in-flight de-duplication → deadline → retry → breaker → bulkhead → HTTP

- **De-duplication outermost**: identical queries in flight share one call, and so everything below it (see
  gateway/cache/inflight.py); it is the only layer that sees several requests' calls as one.

- **Deadline outermost**: it bounds everything below it — every try, every backoff sleep, every wait in the
  bulkhead's line — and refuses a call whose time is already up before anything else is spent on it.
- **Retry outside the breaker**: the breaker sees every try, so it learns a service's real failure rate (a call
  that fails twice and then succeeds is two failures and a success, not one success), a dead service opens it
  after fewer calls, and once it is open a retry loop stops at once (`CircuitOpen` is not retryable: no sleep,
  no budget spent). A breaker is per instance; with several instances, the instance picker (pool.py) goes
  between the two, so that a retry can go to another instance whose circuit is closed.
- **Breaker outside the bulkhead**: an open circuit fails without taking a slot or waiting in line, and the
  bulkhead's refusals (local overload, not the service's health) reach the breaker as "not sent", which it
  does not count.
- **Bulkhead innermost**, right above HTTP: it caps what is actually on the wire, retries included, so
  retries cannot exceed the service's concurrency cap.

With several instances (`services.NAME.instances`, or `set_instances` at run time):

    in-flight → deadline → retry → instance pool → { breaker → bulkhead → HTTP } per instance

and with one, the pool steps aside: the retry layer calls that instance's breaker itself, as it always has.

Gateway.freeze uses `ResilientTransport` as the ServiceClients' transport factory.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from instrumentation.call import Call
from registry.config import ServiceConfig

from ..cache.inflight import InflightTransport
from ..transport import HTTPTransport, ServiceClients, Transport, TransportFactory
from .breaker import BreakerSnapshot, CircuitBreaker
from .bulkhead import Bulkhead
from .deadline import DeadlineTransport
from .pool import InstancePool, InstanceSnapshot
from .retry import RetryTransport, Sleep
from .window import Clock

__all__ = ["ResilientTransport", "circuit_states", "instance_states"]


class ResilientTransport:
    """One service's transport (`base(service)` per instance, HTTP by default) wrapped in the service's policies.

    The layers stay reachable for metrics and tests: `.inflight`, `.deadline`, `.retry`, `.pool`, and the first
    instance's `.breaker`, `.bulkhead`, `.base` (the only one's, with one instance; `.pool.instances` has them
    all). `inflight=True` shares identical queries in flight (the gateway's default, see `cache.inflight`);
    without it every call is sent, as the policies' own tests need. `clock`, `sleep` and `random` are
    injectable for unit tests; `clock` must be the clock of `Call.deadline`.
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
        # Not given `sleep`: that is the retries' (a test's fake one would run the health checks in a loop).
        self.pool = InstancePool(service, base=base, clock=clock, random=random)
        # A try that timed out is retried only when another instance could take it.
        self.retry = RetryTransport(
            self.pool.entry,
            policy.retry,
            try_timeout_s=service.timeout_ms / 1000,
            instances=len(self.pool.instances),
            clock=clock,
            sleep=sleep,
            random=random,
        )
        self.deadline = DeadlineTransport(self.retry, clock=clock)
        self.inflight = InflightTransport(self.deadline, enabled=inflight)

    @property
    def breaker(self) -> CircuitBreaker:
        return self.pool.instances[0].breaker

    @property
    def bulkhead(self) -> Bulkhead:
        return self.pool.instances[0].bulkhead

    @property
    def base(self) -> Transport:
        return self.pool.instances[0].base

    def set_instances(self, urls: Sequence[str]) -> None:
        """Serve from `urls` from now on (see `InstancePool.set_instances`); a retry in progress sends its next
        try to the new set."""
        self.pool.set_instances(urls)
        self.retry.inner = self.pool.entry
        self.retry.instances = len(self.pool.instances)

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        return await self.inflight.send(call, headers)

    async def close(self) -> None:
        # The layers above the pool hold nothing to close (each only passes close() down, and the retry layer's
        # inner may be one instance's breaker): the pool closes every instance, and those retiring.
        await self.pool.close()


def circuit_states(clients: ServiceClients) -> dict[str, BreakerSnapshot]:
    """Each one-instance service's circuit breaker, for `/ready` and metrics (services without the policies are
    left out; those with several instances are in `instance_states`)."""
    return {
        name: transport.breaker.snapshot()
        for name, transport in clients.transports.items()
        if isinstance(transport, ResilientTransport) and len(transport.pool.instances) == 1
    }


def instance_states(clients: ServiceClients) -> dict[str, tuple[InstanceSnapshot, ...]]:
    """Each instance of the services with several: breaker, health and load, for `/ready` and metrics."""
    return {
        name: transport.pool.snapshots()
        for name, transport in clients.transports.items()
        if isinstance(transport, ResilientTransport) and len(transport.pool.instances) > 1
    }
