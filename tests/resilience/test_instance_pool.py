"""The instance pool: which instance each try goes to, health, and changing the instances while serving."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gateway.resilience import InstancePool, ResilientTransport
from gateway.resilience.breaker import CircuitBreaker
from gateway.transport import MockTransport, ServiceClients
from instrumentation.call import Call, GraphQLCall
from instrumentation.errors import CircuitOpen, DownstreamError, DownstreamTimeout
from registry.config import RegistryHealthConfig, ServiceConfig
from registry.resilience import BreakerPolicy, ResiliencePolicy, RetryPolicy

from .conftest import FakeClock, query, unavailable

A, B, C = "http://a/graphql", "http://b/graphql", "http://c/graphql"
HEALTH = RegistryHealthConfig(interval_ms=100, timeout_ms=50, unhealthy_threshold=2, healthy_threshold=2)


def answer(call: Call, headers: Mapping[str, str]) -> Any:
    return {"data": {"__typename": "Query"}}


class Instances:
    """One mock transport per instance URL, made when the pool builds that instance."""

    def __init__(self, handlers: Mapping[str, Any] | None = None) -> None:
        self.handlers = dict(handlers or {})
        self.mocks: dict[str, MockTransport] = {}

    def __call__(self, service: ServiceConfig) -> MockTransport:
        assert service.other_instances == ()  # each instance's transport is given its own URL only
        mock = MockTransport(self.handlers.get(service.url, answer))
        self.mocks[service.url] = mock
        return mock

    def sent(self) -> dict[str, int]:
        return {url: len(mock.calls) for url, mock in self.mocks.items()}


def randoms(*values: float) -> Any:
    draws: Iterator[float] = iter(values)
    return lambda: next(draws)


def service(*urls: str, policy: ResiliencePolicy | None = None) -> ServiceConfig:
    return ServiceConfig(
        "catalog",
        urls[0],
        other_instances=urls[1:],
        health=HEALTH,
        resilience=policy or ResiliencePolicy(),
    )


def pool(
    *urls: str, random: Any = None, handlers: Mapping[str, Any] | None = None
) -> tuple[InstancePool, Instances]:
    instances = Instances(handlers)
    made = InstancePool(
        service(*urls), base=instances, clock=FakeClock(), sleep=never, random=random or (lambda: 0.0)
    )
    return made, instances


async def never(seconds: float) -> None:
    """The checks' sleep in most tests: they run when a test calls `check()`, not by themselves."""
    await asyncio.Event().wait()


class Gate:
    """A handler whose calls wait until `open()`; `waiting` counts those that are waiting."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.waiting = 0

    async def __call__(self, call: Call, headers: Mapping[str, str]) -> Any:
        self.waiting += 1
        await self.event.wait()
        self.waiting -= 1
        return {"data": {"x": 1}}

    def open(self) -> None:
        self.event.set()


async def until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


def test_the_power_of_two_random_choices_takes_the_less_busy_of_two_drawn() -> None:
    made, _ = pool(A, B, C)
    a, b, c = made.instances
    # No call in any: the first drawn wins. Draws: 0.0 → a; 0.99 → the last of the others, c.
    made._random = randoms(0.0, 0.99)
    assert made.pick() is a
    # b is drawn first, a second (of [a, c]); a is busier, so b.
    a.bulkhead.in_flight = 2
    made._random = randoms(0.5, 0.0)
    assert made.pick() is b
    # c first, a second: a has two calls, c one: c.
    c.bulkhead.in_flight = 1
    made._random = randoms(0.9, 0.0)
    assert made.pick() is c
    # Never the busiest of all when it is not drawn: b and c drawn, b has fewer.
    made._random = randoms(0.5, 0.6)
    assert made.pick() is b


def test_one_instance_is_the_breaker_itself_and_several_are_the_pool() -> None:
    transport = ResilientTransport(service(A), base=Instances())
    assert isinstance(transport.retry.inner, CircuitBreaker) and transport.retry.inner is transport.breaker
    assert transport.retry.instances == 1
    transport.set_instances([A, B])
    assert transport.retry.inner is transport.pool and transport.retry.instances == 2
    assert [i.url for i in transport.pool.instances] == [A, B]
    transport.set_instances([B])
    assert transport.retry.inner is transport.breaker is transport.pool.instances[0].breaker
    assert transport.retry.instances == 1


async def test_an_instance_out_of_rotation_is_skipped() -> None:
    made, instances = pool(A, B, random=lambda: 0.0)
    a = made.instances[0]
    a.record_check(False, HEALTH.unhealthy_threshold, HEALTH.healthy_threshold)
    assert a.healthy  # one failed check is not enough
    a.record_check(False, HEALTH.unhealthy_threshold, HEALTH.healthy_threshold)
    assert not a.healthy
    for _ in range(5):
        await made.send(query(), {})
    assert instances.sent() == {A: 0, B: 5}
    # Two passed checks in a row bring it back (a failure in between starts the count again).
    for passed in (True, False, True, True):
        a.record_check(passed, HEALTH.unhealthy_threshold, HEALTH.healthy_threshold)
    assert a.healthy
    await made.send(query(), {})
    assert instances.sent() == {A: 1, B: 5}
    await made.close()


async def test_with_every_instance_out_of_rotation_calls_still_go_to_one() -> None:
    made, instances = pool(A, B, random=lambda: 0.0)
    for instance in made.instances:
        instance.healthy = False
    assert await made.send(query(), {}) == {"data": {"__typename": "Query"}}
    assert instances.sent() == {A: 1, B: 0}
    await made.close()


async def test_an_open_circuit_sends_the_calls_to_the_other_instance_and_all_open_fails_fast() -> None:
    policy = ResiliencePolicy(breaker=BreakerPolicy(min_calls=1, failure_rate=0.5, open_ms=60_000))
    instances = Instances({A: _raise(unavailable())})
    clock = FakeClock()
    made = InstancePool(
        service(A, B, policy=policy), base=instances, clock=clock, sleep=never, random=lambda: 0.0
    )
    with pytest.raises(DownstreamError):
        await made.send(query(), {})  # a first, it fails: its circuit opens
    assert made.instances[0].breaker.state == "open"
    for _ in range(3):
        await made.send(query(), {})
    assert instances.sent() == {A: 1, B: 3}
    made.instances[1].breaker._open("test")
    with pytest.raises(CircuitOpen):
        await made.send(query(), {})
    assert instances.sent() == {A: 1, B: 3}
    await made.close()


def _raise(error: DownstreamError) -> Any:
    def handle(call: Call, headers: Mapping[str, str]) -> Any:
        raise error

    return handle


async def test_a_failed_try_is_retried_on_the_other_instance() -> None:
    policy = ResiliencePolicy(retry=RetryPolicy(attempts=3, budget_ratio=1.0, min_retries_per_second=100))
    instances = Instances({A: _raise(unavailable())})
    clock = FakeClock()
    transport = ResilientTransport(
        service(A, B, policy=policy), base=instances, clock=clock, sleep=clock.sleep, random=lambda: 0.0
    )
    # random 0.0 draws a first every time: only the retry's memory of its tries sends the second to b.
    assert await transport.send(query(), {}) == {"data": {"__typename": "Query"}}
    assert instances.sent() == {A: 1, B: 1}
    assert transport.retry.retries == 1
    await transport.close()


async def test_a_timed_out_try_is_retried_on_another_instance_and_only_there() -> None:
    policy = ResiliencePolicy(retry=RetryPolicy(attempts=3, budget_ratio=1.0, min_retries_per_second=100))
    timeout = DownstreamTimeout("catalog: no answer within 1000 ms", service="catalog")
    instances = Instances({A: _raise(timeout), B: _raise(timeout)})
    clock = FakeClock()
    transport = ResilientTransport(
        service(A, B, policy=policy), base=instances, clock=clock, sleep=clock.sleep, random=lambda: 0.0
    )
    with pytest.raises(DownstreamTimeout):
        await transport.send(query(deadline=clock.now + 10), {})
    # The third try goes back to a (both tried, a drawn first): a timed-out instance asked again.
    assert instances.sent() == {A: 2, B: 1}
    # With one instance a timed-out try is not retried at all, as before.
    transport.set_instances([B])
    with pytest.raises(DownstreamTimeout):
        await transport.send(query(deadline=clock.now + 10), {})
    assert instances.sent() == {A: 2, B: 2}
    await transport.close()


async def test_set_instances_while_calls_are_in_flight() -> None:
    gate = Gate()
    made, instances = pool(A, B, handlers={A: gate}, random=lambda: 0.0)
    a, b = made.instances
    b.healthy = False  # so that every call goes to a
    running = [asyncio.create_task(made.send(query(), {})) for _ in range(3)]
    await until(lambda: gate.waiting == 3)
    made.set_instances([B, C])
    assert made.instances[0] is b and [i.url for i in made.instances] == [B, C]
    assert await made.send(query(), {}) == {"data": {"__typename": "Query"}}
    assert instances.sent() == {A: 3, B: 0, C: 1}  # b is still out of rotation: what it was is kept
    assert not instances.mocks[A].closed  # its calls are still running
    gate.open()
    assert [await task for task in running] == [{"data": {"x": 1}}] * 3
    await until(lambda: instances.mocks[A].closed)  # closed once they are done
    assert a.busy == 0 and not instances.mocks[B].closed
    await made.close()
    assert instances.mocks[B].closed and instances.mocks[C].closed


async def test_set_instances_keeps_the_state_of_the_instances_it_keeps() -> None:
    made, _ = pool(A, B)
    a, b = made.instances
    b.healthy = False
    made.set_instances([C, B, A, C])
    assert [i.url for i in made.instances] == [C, B, A]  # a URL given twice is one instance
    assert made.instances[1] is b and made.instances[2] is a and not b.healthy
    with pytest.raises(ValueError, match="catalog: a service needs at least one instance"):
        made.set_instances([])
    await made.close()


async def test_a_round_of_health_checks_sends_the_probe_to_each_instance_itself() -> None:
    failing = _raise(unavailable())
    made, instances = pool(A, B, handlers={B: failing})
    b = made.instances[1]
    b.breaker._open("test")  # an open circuit does not stop the check: it goes to the transport
    await made.check()
    assert b.healthy  # unhealthy_threshold is 2
    await made.check()
    assert not b.healthy and made.instances[0].healthy
    probe = GraphQLCall("catalog", "{ __typename }", {}, deadline=made._clock() + 0.05)  # timeout_ms
    assert instances.mocks[A].calls == [probe, probe] and instances.mocks[B].calls == [probe, probe]
    instances.mocks[B].handler = answer
    await made.check()
    assert not b.healthy
    await made.check()
    assert b.healthy
    await made.close()


async def test_a_check_that_answers_the_wrong_thing_or_hangs_fails() -> None:
    async def hangs(call: Call, headers: Mapping[str, str]) -> Any:
        await asyncio.Event().wait()

    made, _ = pool(
        A, B, C, handlers={A: lambda call, headers: {"data": {}}, B: hangs, C: lambda call, headers: 1 / 0}
    )
    for _ in range(2):
        await made.check()
    assert [i.healthy for i in made.instances] == [False, False, False]
    await made.close()


async def test_the_checks_run_every_interval_from_the_first_call_until_close() -> None:
    made, instances = pool(A, B)
    made._sleep = asyncio.sleep  # real sleeps of interval_ms (100 ms)
    await made.send(query(), {})
    assert made._checker is not None
    await until(lambda: len(instances.mocks[B].calls) >= 2)  # two checks (b has had no call)
    await made.close()
    assert made._checker is None and instances.mocks[A].closed and instances.mocks[B].closed


async def test_one_instance_has_no_checks() -> None:
    transport = ResilientTransport(service(A), base=Instances())
    await transport.send(query(), {})
    assert transport.pool._checker is None
    await transport.close()


async def test_service_clients_add_remove_and_set_instances() -> None:
    instances = Instances()
    clients = ServiceClients({}, transport_factory=instances)
    clients.add(ServiceConfig("catalog", A))
    with pytest.raises(ValueError, match="service 'catalog' is there already"):
        clients.add(ServiceConfig("catalog", B))
    fetch = clients.fetcher({})
    assert await fetch(query()) == {"data": {"__typename": "Query"}}
    # A plain transport serves one URL: a new set of instances is a new transport, the old one closed.
    clients.set_instances("catalog", [B])
    await until(lambda: instances.mocks[A].closed)
    await fetch(query())
    assert instances.sent() == {A: 1, B: 1}
    clients.remove("catalog")
    with pytest.raises(DownstreamError, match="unknown service 'catalog'"):
        await fetch(query())
    await until(lambda: instances.mocks[B].closed)
    with pytest.raises(KeyError):
        clients.remove("catalog")
    with pytest.raises(KeyError):
        clients.set_instances("catalog", [A])
    await clients.close()


async def test_service_clients_remove_lets_the_calls_in_flight_finish() -> None:
    gate = Gate()
    instances = Instances({A: gate})
    clients = ServiceClients({"catalog": ServiceConfig("catalog", A)}, transport_factory=instances)
    fetch = clients.fetcher({})

    async def call() -> Any:
        return await fetch(query())

    running = asyncio.create_task(call())
    await until(lambda: gate.waiting == 1)
    clients.remove("catalog")
    assert "catalog" not in clients.transports and not instances.mocks[A].closed
    gate.open()
    assert await running == {"data": {"x": 1}}
    await until(lambda: instances.mocks[A].closed)
    await clients.close()


async def test_service_clients_set_instances_changes_a_resilient_transport_in_place() -> None:
    instances = Instances()
    clients = ServiceClients(
        {"catalog": ServiceConfig("catalog", A)},
        transport_factory=lambda s: ResilientTransport(s, base=instances, random=lambda: 0.0),
    )
    transport = clients.transports["catalog"]
    clients.set_instances("catalog", [A, B])
    assert clients.transports["catalog"] is transport
    assert isinstance(transport, ResilientTransport)
    assert [i.url for i in transport.pool.instances] == [A, B]
    await clients.close()
    assert instances.mocks[A].closed and instances.mocks[B].closed


async def test_closing_closes_what_is_still_retiring() -> None:
    gate = Gate()
    instances = Instances({A: gate})
    clients = ServiceClients(
        {"catalog": ServiceConfig("catalog", A, other_instances=(B,), health=HEALTH)},
        transport_factory=lambda s: ResilientTransport(s, base=instances, random=lambda: 0.0),
    )
    fetch = clients.fetcher({})

    async def call() -> Any:
        return await fetch(query())

    running = asyncio.create_task(call())
    await until(lambda: gate.waiting == 1)
    clients.set_instances("catalog", [B])  # a is retiring: its call is still running
    clients.remove("catalog")  # and so is the whole service
    assert not instances.mocks[A].closed and not instances.mocks[B].closed
    await clients.close()  # the gateway stops: everything is closed, busy or not
    assert instances.mocks[A].closed and instances.mocks[B].closed
    gate.open()
    await asyncio.gather(running, return_exceptions=True)
