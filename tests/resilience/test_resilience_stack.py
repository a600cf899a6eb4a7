"""The policies composed: deadline → retry → breaker → bulkhead → base, and how the layers meet."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.gateway import Gateway
from gateway.resilience import BreakerSnapshot, ResilientTransport
from gateway.resilience.breaker import CircuitBreaker
from gateway.resilience.bulkhead import Bulkhead
from gateway.resilience.deadline import DeadlineTransport
from gateway.resilience.retry import RetryTransport
from gateway.transport import MockTransport
from instrumentation.call import Call
from instrumentation.errors import BulkheadFull, CircuitOpen, DeadlinePassed, DownstreamError
from registry.config import ServiceConfig
from registry.resilience import BreakerPolicy, BulkheadPolicy, ResiliencePolicy, RetryPolicy

from .conftest import FakeClock, query, unavailable

URL = "http://catalog/graphql"


def stack(policy: ResiliencePolicy, handler: Any) -> tuple[ResilientTransport, MockTransport, FakeClock]:
    mock = MockTransport(handler)
    clock = FakeClock()
    service = ServiceConfig("catalog", URL, resilience=policy)
    transport = ResilientTransport(
        service, base=lambda _: mock, clock=clock, sleep=clock.sleep, random=lambda: 0.5
    )
    return transport, mock, clock


def always(error: DownstreamError) -> Any:
    def handle(call: Call, headers: Mapping[str, str]) -> Any:
        raise error

    return handle


def test_the_layers_in_order() -> None:
    transport, mock, _ = stack(ResiliencePolicy(), lambda call, headers: "ok")
    assert isinstance(transport.deadline, DeadlineTransport)
    assert transport.deadline.inner is transport.retry and isinstance(transport.retry, RetryTransport)
    assert transport.retry.inner is transport.breaker and isinstance(transport.breaker, CircuitBreaker)
    assert transport.breaker.inner is transport.bulkhead and isinstance(transport.bulkhead, Bulkhead)
    assert transport.bulkhead.inner is transport.base is mock


async def test_the_breaker_counts_every_try_and_stops_a_retry_loop_once_open() -> None:
    policy = ResiliencePolicy(
        retry=RetryPolicy(attempts=5, budget_ratio=1.0, min_retries_per_second=100),
        breaker=BreakerPolicy(failure_rate=0.5, min_calls=2),
    )
    transport, mock, clock = stack(policy, always(unavailable()))

    with pytest.raises(CircuitOpen) as raised:
        await transport.send(query(), {})

    # Try 1 and 2 fail and open the circuit; try 3 fails fast and is not retried: no sleep, no budget.
    assert raised.value.message == "catalog: circuit open (2 of 2 recent calls failed)"
    assert len(mock.calls) == 2
    assert len(clock.slept) == 2
    assert transport.retry.retries == 2
    assert transport.breaker.snapshot() == BreakerSnapshot(URL, "open", 0, 0, opened=1, rejected=1)


async def test_a_full_bulkhead_is_neither_retried_nor_counted_by_the_breaker() -> None:
    release = asyncio.Event()

    async def hold(call: Call, headers: Mapping[str, str]) -> Any:
        await release.wait()
        return "ok"

    policy = ResiliencePolicy(
        retry=RetryPolicy(attempts=3, budget_ratio=1.0),
        breaker=BreakerPolicy(min_calls=1),
        bulkhead=BulkheadPolicy(max_in_flight=1, max_queue=0),
    )
    transport, mock, clock = stack(policy, hold)
    first = asyncio.ensure_future(transport.send(query(), {}))
    await asyncio.sleep(0)

    with pytest.raises(BulkheadFull) as raised:
        await transport.send(query(), {})

    assert raised.value.message == "catalog: too many calls in flight (1 running, 0 waiting)"
    release.set()
    assert await first == "ok"
    assert len(mock.calls) == 1
    assert (clock.slept, transport.retry.retries, transport.retry.refused) == ([], 0, 0)
    assert transport.breaker.snapshot().calls == 1  # the one that was sent


async def test_the_deadline_layer_refuses_before_anything_is_spent() -> None:
    transport, mock, clock = stack(ResiliencePolicy(), lambda call, headers: "ok")
    with pytest.raises(DeadlinePassed):
        await transport.send(query(deadline=clock.now), {})
    assert mock.calls == []
    assert transport.bulkhead.in_flight == 0


async def test_close_reaches_the_base_transport() -> None:
    transport, mock, _ = stack(ResiliencePolicy(), lambda call, headers: "ok")
    await transport.close()
    assert mock.closed


async def test_the_gateway_wraps_every_service_and_shows_its_circuits() -> None:
    services = {
        "a": ServiceConfig("a", "http://a/graphql"),
        "b": ServiceConfig("b", "http://b", protocol="rest"),
    }
    gateway = Gateway.from_sdl(
        'type Query { x: Int @remote(service: "a") y: Int @remote(service: "b", path: "/y") }', services
    )
    async with gateway:
        assert all(isinstance(t, ResilientTransport) for t in gateway.clients.transports.values())
        assert gateway.circuits() == {
            "a": BreakerSnapshot("http://a/graphql", "closed", 0, 0, 0, 0),
            "b": BreakerSnapshot("http://b", "closed", 0, 0, 0, 0),
        }
        assert gateway.circuits()["a"].as_dict() == {
            "url": "http://a/graphql",
            "state": "closed",
            "calls": 0,
            "failures": 0,
            "opened": 0,
            "rejected": 0,
        }


def test_a_partial_factory_is_a_transport_factory() -> None:
    mock = MockTransport(lambda call, headers: "ok")
    factory = functools.partial(ResilientTransport, base=lambda _: mock)
    assert factory(ServiceConfig("a", "http://a/graphql")).base is mock
