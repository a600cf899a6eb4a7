"""Bulkhead: at most C calls in flight, a bounded line, BULKHEAD_FULL when full or out of time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.resilience.bulkhead import Bulkhead
from gateway.transport import MockTransport
from instrumentation.call import Call, GraphQLCall
from instrumentation.errors import BulkheadFull
from registry.resilience import BulkheadPolicy


class Gate:
    """A service that holds every call until released, and counts how many it holds at once."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.order: list[str] = []

    async def __call__(self, call: Call, headers: Mapping[str, str]) -> Any:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.open.wait()
            self.order.append(call.query)  # type: ignore[union-attr]
            return call.query  # type: ignore[union-attr]
        finally:
            self.running -= 1


def bulkhead(max_in_flight: int, max_queue: int) -> tuple[Bulkhead, Gate]:
    gate = Gate()
    return Bulkhead(MockTransport(gate), BulkheadPolicy(max_in_flight, max_queue)), gate


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def named(name: str, deadline: float | None = None) -> Call:
    return GraphQLCall("catalog", name, {}, deadline=deadline)


async def test_caps_calls_in_flight_and_refuses_beyond_the_line() -> None:
    transport, gate = bulkhead(max_in_flight=2, max_queue=3)
    calls = [asyncio.ensure_future(transport.send(named(f"q{i}"), {})) for i in range(5)]
    await settle()
    assert (transport.in_flight, transport.waiting, gate.running) == (2, 3, 2)

    with pytest.raises(BulkheadFull) as raised:
        await transport.send(named("q5"), {})
    assert raised.value.message == "catalog: too many calls in flight (2 running, 3 waiting)"
    assert raised.value.code == "BULKHEAD_FULL"

    gate.open.set()
    assert await asyncio.gather(*calls) == [f"q{i}" for i in range(5)]
    assert gate.peak == 2
    assert gate.order == [f"q{i}" for i in range(5)]  # first come, first served
    assert (transport.in_flight, transport.waiting, transport.rejected) == (0, 0, 1)


async def test_no_line_means_refusing_at_once() -> None:
    transport, gate = bulkhead(max_in_flight=1, max_queue=0)
    first = asyncio.ensure_future(transport.send(named("q0"), {}))
    await settle()
    with pytest.raises(BulkheadFull) as raised:
        await transport.send(named("q1"), {})
    assert raised.value.message == "catalog: too many calls in flight (1 running, 0 waiting)"
    gate.open.set()
    assert await first == "q0"
    assert gate.order == ["q0"]


async def test_a_wait_ends_at_the_deadline_with_its_own_error() -> None:
    transport, gate = bulkhead(max_in_flight=1, max_queue=5)
    first = asyncio.ensure_future(transport.send(named("q0"), {}))
    await settle()

    with pytest.raises(BulkheadFull) as raised:
        await asyncio.wait_for(transport.send(named("q1", deadline=time.monotonic() + 0.05), {}), 5)

    assert raised.value.message == "catalog: no free call slot before the request deadline (1 running)"
    assert (transport.waiting, transport.rejected) == (0, 1)
    gate.open.set()
    assert await first == "q0"
    assert transport.in_flight == 0
    assert await transport.send(named("q2"), {}) == "q2"


async def test_no_time_left_means_no_wait() -> None:
    transport, gate = bulkhead(max_in_flight=1, max_queue=5)
    first = asyncio.ensure_future(transport.send(named("q0"), {}))
    await settle()
    with pytest.raises(BulkheadFull) as raised:
        await transport.send(named("q1", deadline=time.monotonic() - 1), {})
    assert raised.value.message == "catalog: no free call slot before the request deadline (1 running)"
    assert (transport.waiting, transport.rejected) == (0, 1)
    gate.open.set()
    assert await first == "q0"
    assert gate.order == ["q0"]


async def test_a_cancelled_wait_leaves_no_slot_behind() -> None:
    transport, gate = bulkhead(max_in_flight=1, max_queue=5)
    first = asyncio.ensure_future(transport.send(named("q0"), {}))
    waiting = asyncio.ensure_future(transport.send(named("q1"), {}))
    third = asyncio.ensure_future(transport.send(named("q2"), {}))
    await settle()

    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    gate.open.set()

    assert await first == "q0"
    assert await third == "q2"
    assert gate.order == ["q0", "q2"]
    assert (transport.in_flight, transport.waiting) == (0, 0)


async def test_a_slot_handed_over_as_the_waiter_is_cancelled_passes_on() -> None:
    transport, gate = bulkhead(max_in_flight=1, max_queue=5)
    first = asyncio.ensure_future(transport.send(named("q0"), {}))
    second = asyncio.ensure_future(transport.send(named("q1"), {}))
    third = asyncio.ensure_future(transport.send(named("q2"), {}))
    await settle()

    gate.open.set()  # q0 runs next and, finishing, hands its slot to q1's waiter...
    asyncio.get_running_loop().call_soon(second.cancel)  # ...and q1 is cancelled before it can take it

    assert await first == "q0"
    assert isinstance((await asyncio.gather(second, return_exceptions=True))[0], asyncio.CancelledError)
    assert await third == "q2"
    assert gate.order == ["q0", "q2"]
    assert (transport.in_flight, transport.waiting) == (0, 0)
