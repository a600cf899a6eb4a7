"""Several instances of one service: each try of a call goes to one of them, chosen by health and load.

Each instance has a stack of its own, breaker → bulkhead → transport (`base` of the instance's URL), so one
instance's failures open its own circuit and its slow calls fill its own bulkhead (`max_in_flight` is per
instance), not the others'.

The choice is the power of two random choices: two instances drawn at random among the best, and the one with
fewer calls in it (running or waiting in its bulkhead) wins. Always taking the least loaded of all would send
every call that starts at the same moment to the same instance, and each replica of the gateway sees only its
own calls; two random draws spread them and still avoid the loaded ones. The best, in this order:

1. whose circuit lets a call through now (closed, or open long enough for a probe);
2. that this call has not tried yet (RetryTransport's earlier tries, `retry.tried_instances()`): a retry goes to
   another instance, and so may a try that timed out (RetryTransport retries one only with several instances);
3. in rotation: its active health checks pass.

When no instance is all three, the least bad one is still tried rather than the call failed: health checks can
fail for a reason of their own (a firewall, a path) while calls work, and an instance whose every check fails
is a better bet than no answer. When every circuit is open, the chosen breaker fails the call at once
(CircuitOpen), as a single instance's does.

Active health checks (with more than one instance only: with one there is nowhere else to send a call, and
its breaker is enough): every `registry.health.interval_ms`, each instance is sent the probe of `/ready`
(transport/probe.py: GraphQL `{ __typename }`, REST `GET {health_path}`) within `timeout_ms`, straight to its
transport: a full bulkhead or an open circuit must not make a live instance fail its check, and checks are not
traffic the breaker should count. `unhealthy_threshold` failed checks in a row take an instance out of
rotation, `healthy_threshold` passed ones bring it back. The checks run in a task of the pool's own, started at
its first call (or set of instances) in a running event loop and ended by `close()`.

`set_instances` replaces the instances at once: those kept keep their breaker and health, new ones start
closed and in rotation, removed ones finish the calls they have and are closed after.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random as _random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from instrumentation.call import Call
from registry.background import start_background, stop_background
from registry.config import ServiceConfig
from registry.redaction import redact_url

from ..transport import HTTPTransport, Transport, TransportFactory
from ..transport.probe import OK, check
from ..transport.retiring import Retirements
from .breaker import BreakerSnapshot, CircuitBreaker
from .bulkhead import Bulkhead
from .retry import Sleep, tried_instances
from .window import Clock

__all__ = ["Instance", "InstancePool", "InstanceSnapshot"]


@dataclass(frozen=True, slots=True)
class InstanceSnapshot:
    """One instance as `/ready` and metrics show it: its breaker, its health, its load."""

    circuit: BreakerSnapshot
    healthy: bool  # in rotation: its health checks pass
    in_flight: int  # calls running or waiting in its bulkhead

    def as_dict(self) -> dict[str, Any]:
        return {**self.circuit.as_dict(), "healthy": self.healthy, "in_flight": self.in_flight}


class Instance:
    """One instance's stack, breaker → bulkhead → base, and what its health checks found."""

    def __init__(
        self, service: ServiceConfig, base: TransportFactory, *, clock: Clock, random: Callable[[], float]
    ) -> None:
        policy = service.resilience
        self.service = service  # the instance's own: `url` is the instance's
        self.url = service.url
        self.base = base(service)
        self.bulkhead = Bulkhead(self.base, policy.bulkhead, clock=clock)
        # The URL as labels and `/ready` show it: never with its credentials.
        self.breaker = CircuitBreaker(
            self.bulkhead, policy.breaker, url=redact_url(service.url), clock=clock, random=random
        )
        self.healthy = True
        self._passes = 0  # checks in a row
        self._failures = 0

    @property
    def busy(self) -> int:
        # Every call the breaker lets through is in the bulkhead at once (no await between): this is all of them.
        return self.bulkhead.in_flight + self.bulkhead.waiting

    def record_check(self, passed: bool, unhealthy_threshold: int, healthy_threshold: int) -> None:
        if passed:
            self._passes, self._failures = self._passes + 1, 0
            if not self.healthy and self._passes >= healthy_threshold:
                self.healthy = True
        else:
            self._passes, self._failures = 0, self._failures + 1
            if self.healthy and self._failures >= unhealthy_threshold:
                self.healthy = False

    def snapshot(self) -> InstanceSnapshot:
        return InstanceSnapshot(self.breaker.snapshot(), self.healthy, self.busy)


def _busy(instance: Instance) -> bool:
    return instance.busy > 0


class InstancePool:
    """The instances of one service (`service.instances`, then `set_instances`), as one Transport.

    `entry` is what a call should enter: with one instance its breaker itself (the pool adds nothing then),
    else the pool. `clock`, `sleep` and `random` are injectable for unit tests.
    """

    def __init__(
        self,
        service: ServiceConfig,
        *,
        base: TransportFactory = HTTPTransport,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.service = service
        self.instances: tuple[Instance, ...] = ()
        self._base = base
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._retired = Retirements()
        self._checker: asyncio.Task[None] | None = None
        self._closed = False
        self.set_instances(service.instances)

    @property
    def entry(self) -> Transport:
        return self.instances[0].breaker if len(self.instances) == 1 else self

    def set_instances(self, urls: Sequence[str]) -> None:
        """Serve from `urls` from now on (in one step: a call sees the old set or the new one)."""
        wanted = tuple(dict.fromkeys(urls))  # a URL given twice is one instance
        if not wanted:
            raise ValueError(f"{self.service.name}: a service needs at least one instance")
        kept = {instance.url: instance for instance in self.instances}
        self.instances = tuple(kept.pop(url) if url in kept else self._instance(url) for url in wanted)
        for gone in kept.values():
            self._retired.retire(gone.breaker, functools.partial(_busy, gone))
        self._start_checks()

    def _instance(self, url: str) -> Instance:
        own = dataclasses.replace(self.service, url=url, other_instances=())
        return Instance(own, self._base, clock=self._clock, random=self._random)

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        self._start_checks()
        instance = self.pick()
        tried = tried_instances()
        if tried is not None:
            tried.add(instance.url)
        return await instance.breaker.send(call, headers)

    def pick(self) -> Instance:
        """The instance the next try goes to (see the module's docstring)."""
        instances = self.instances
        if len(instances) == 1:
            return instances[0]
        tried = tried_instances() or set()
        ranks = [(not i.breaker.admits(), i.url in tried, not i.healthy) for i in instances]
        best = min(ranks)
        candidates = [i for i, rank in zip(instances, ranks, strict=True) if rank == best]
        count = len(candidates)
        if count == 1:
            return candidates[0]
        first = min(int(self._random() * count), count - 1)
        second = min(int(self._random() * (count - 1)), count - 2)
        if second >= first:  # the second is drawn among the others
            second += 1
        one, other = candidates[first], candidates[second]
        return other if other.busy < one.busy else one

    def snapshots(self) -> tuple[InstanceSnapshot, ...]:
        return tuple(instance.snapshot() for instance in self.instances)

    # -- health checks ----------------------------------------------------------------------------------------

    def _start_checks(self) -> None:
        if self._checker is not None or self._closed or len(self.instances) < 2:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # built before serving: the first call starts them
            return
        name = f"funnel-health-checks-{self.service.name}"
        self._checker = start_background(self._check_every_interval(), name)

    async def _check_every_interval(self) -> None:
        interval = self.service.health.interval_ms / 1000
        try:
            while len(self.instances) > 1:
                await self._sleep(interval)
                await self.check()
        finally:
            self._checker = None

    async def check(self) -> None:
        """One round of health checks: every instance at once."""
        health = self.service.health
        instances = self.instances
        passed = await asyncio.gather(*(self._check_one(instance) for instance in instances))
        for instance, ok in zip(instances, passed, strict=True):
            instance.record_check(ok, health.unhealthy_threshold, health.healthy_threshold)

    async def _check_one(self, instance: Instance) -> bool:
        timeout_s = self.service.health.timeout_ms / 1000

        async def send(call: Call) -> Any:
            return await instance.base.send(call, {})

        try:
            # The deadline gives the transport's own clear timeout; asyncio's is for one that ignores it.
            async with asyncio.timeout(timeout_s):
                verdict = await check(send, instance.service, deadline=self._clock() + timeout_s)
        except TimeoutError:
            return False
        except Exception:  # a check that broke is a failed check, not the end of checking
            return False
        return verdict == OK

    async def close(self) -> None:
        self._closed = True
        await stop_background(self._checker)
        results = await asyncio.gather(
            *(i.breaker.close() for i in self.instances), self._retired.close(), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
