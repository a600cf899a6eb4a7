"""CircuitBreaker: opens on a failure rate over a window, fails fast, probes half-open, closes on success."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.resilience.breaker import BreakerSnapshot, CircuitBreaker
from gateway.transport import MockTransport
from instrumentation.call import Call
from instrumentation.errors import BulkheadFull, CircuitOpen, DownstreamBadResponse, DownstreamError
from registry.resilience import BreakerPolicy

from .conftest import FakeClock, http_error, query, unavailable

POLICY = BreakerPolicy(
    failure_rate=0.5, window_ms=10_000, min_calls=4, open_ms=5_000, probe_base_ms=250, half_open_probes=1
)
URL = "http://catalog:4002/graphql"


class Scripted:
    """A service whose next answers are set by the test: an error to raise, or anything else to return."""

    def __init__(self) -> None:
        self.next: list[Any] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, call: Call, headers: Mapping[str, str]) -> Any:
        outcome = self.next.pop(0) if self.next else "ok"
        await self.release.wait()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def breaker(
    policy: BreakerPolicy = POLICY, jitter: float = 0.0
) -> tuple[CircuitBreaker, MockTransport, Scripted, FakeClock]:
    """`jitter` is what random() gives: 0 waits the whole back-off, 1 the shortest."""
    script = Scripted()
    mock = MockTransport(script)
    clock = FakeClock()
    return CircuitBreaker(mock, policy, url=URL, clock=clock, random=lambda: jitter), mock, script, clock


async def outcome(transport: CircuitBreaker) -> str:
    try:
        await transport.send(query(), {})
    except DownstreamError as error:
        return error.code
    return "ok"


async def open_it(transport: CircuitBreaker, script: Scripted) -> None:
    script.next = ["ok", "ok", unavailable(), unavailable()]
    outcomes = [await outcome(transport) for _ in range(4)]
    assert outcomes == ["ok", "ok", "SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE"]


async def test_opens_at_the_failure_rate_and_then_fails_fast() -> None:
    transport, mock, script, _ = breaker()
    await open_it(transport, script)
    assert transport.state == "open"

    with pytest.raises(CircuitOpen) as raised:
        await transport.send(query(), {})

    assert raised.value.message == "catalog: circuit open (2 of 4 recent calls failed)"
    assert raised.value.code == "SERVICE_UNAVAILABLE"
    assert len(mock.calls) == 4  # the fifth call was not sent
    assert transport.snapshot() == BreakerSnapshot(URL, "open", 0, 0, opened=1, rejected=1)


async def test_stays_closed_below_min_calls_or_below_the_rate() -> None:
    transport, _, script, _ = breaker()
    script.next = [unavailable()] * 3
    for _ in range(3):
        await outcome(transport)
    assert transport.state == "closed"  # 3 of 3 failed, but fewer than min_calls

    transport, _, script, _ = breaker()
    script.next = ["ok", "ok", "ok", unavailable(), "ok", unavailable()]
    for _ in range(6):
        await outcome(transport)
    assert transport.state == "closed"  # 2 of 6: below half
    assert transport.snapshot().calls == 6
    assert transport.snapshot().failures == 2


async def test_old_failures_leave_the_window() -> None:
    transport, _, script, clock = breaker()
    script.next = ["ok", unavailable(), unavailable()]
    for _ in range(3):
        await outcome(transport)
    clock.advance(11)  # past the 10 s window
    script.next = [unavailable()]
    await outcome(transport)
    assert transport.state == "closed"
    assert (transport.snapshot().calls, transport.snapshot().failures) == (1, 1)


@pytest.mark.parametrize(
    "error",
    [
        http_error(400),
        http_error(429),
        DownstreamBadResponse("catalog: invalid JSON in response", service="catalog"),
    ],
    ids=["400", "429", "bad-response"],
)
async def test_answers_the_caller_caused_are_not_failures(error: DownstreamError) -> None:
    transport, _, script, _ = breaker()
    script.next = [error] * 6
    for _ in range(6):
        await outcome(transport)
    assert transport.state == "closed"
    assert transport.snapshot().failures == 0


async def test_calls_not_sent_below_it_say_nothing_about_the_service() -> None:
    transport, _, script, _ = breaker()
    script.next = [BulkheadFull("catalog: too many calls in flight", service="catalog")] * 6
    for _ in range(6):
        await outcome(transport)
    assert transport.state == "closed"
    assert transport.snapshot().calls == 0


async def test_half_open_lets_one_probe_through_and_closes_on_its_success() -> None:
    transport, mock, script, clock = breaker()
    await open_it(transport, script)
    clock.advance(5)

    script.release.clear()  # the probe hangs until released
    probe = asyncio.ensure_future(transport.send(query(), {}))
    await asyncio.sleep(0)
    assert transport.state == "half_open"
    with pytest.raises(CircuitOpen):  # a second call while the probe is out fails fast
        await transport.send(query(), {})
    script.release.set()

    assert await probe == "ok"
    assert transport.state == "closed"
    assert len(mock.calls) == 5
    assert await outcome(transport) == "ok"


async def fail_probes(
    transport: CircuitBreaker, script: Scripted, clock: FakeClock, waits: list[float]
) -> None:
    """Each probe fails, after exactly the given wait since the circuit (re)opened: a millisecond earlier the call
    fails fast without reaching the service."""
    for wait in waits:
        sent = len(transport.inner.calls)  # type: ignore[attr-defined]
        clock.advance(wait - 0.001)
        assert await outcome(transport) == "SERVICE_UNAVAILABLE"
        assert len(transport.inner.calls) == sent, f"probed before {wait} s"  # type: ignore[attr-defined]
        clock.advance(0.001)
        script.next = [unavailable()]
        assert await outcome(transport) == "SERVICE_UNAVAILABLE"
        assert len(transport.inner.calls) == sent + 1, f"no probe after {wait} s"  # type: ignore[attr-defined]
        assert transport.state == "open"


async def test_a_failed_probe_opens_it_again_with_an_exponential_back_off_up_to_open_ms() -> None:
    transport, mock, script, clock = breaker(POLICY)  # probe_base_ms 250, open_ms 5000, no jitter drawn
    await open_it(transport, script)

    await fail_probes(transport, script, clock, [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0])
    with pytest.raises(CircuitOpen) as raised:
        await transport.send(query(), {})
    assert raised.value.message == "catalog: circuit open (a probe call failed)"
    assert transport.snapshot().opened == 8
    assert len(mock.calls) == 4 + 7  # one probe per wait: every other call failed fast

    # the service is back: the next probe closes the circuit, and a later opening starts from 250 ms again
    clock.advance(5)
    assert await outcome(transport) == "ok"
    assert transport.state == "closed"
    await open_it(transport, script)
    await fail_probes(transport, script, clock, [0.25, 0.5])


async def test_the_back_off_is_jittered_by_up_to_probe_jitter_of_each_wait() -> None:
    policy = dataclasses.replace(POLICY, probe_jitter=0.5)
    shortest, _, script, clock = breaker(policy, jitter=1.0)
    await open_it(shortest, script)
    await fail_probes(shortest, script, clock, [0.125, 0.25, 0.5])
    assert [shortest.probe_wait(n) for n in range(6)] == [0.125, 0.25, 0.5, 1.0, 2.0, 2.5]
    halfway, *_ = breaker(policy, jitter=0.5)
    assert [halfway.probe_wait(n) for n in range(6)] == [0.1875, 0.375, 0.75, 1.5, 3.0, 3.75]


async def test_several_probes_must_all_succeed() -> None:
    policy = BreakerPolicy(failure_rate=0.5, min_calls=4, open_ms=1000, half_open_probes=2)
    transport, _, script, clock = breaker(policy)
    await open_it(transport, script)
    clock.advance(1)

    assert await outcome(transport) == "ok"
    assert transport.state == "half_open"
    assert await outcome(transport) == "ok"
    assert transport.state == "closed"


async def test_a_cancelled_probe_frees_its_place() -> None:
    transport, _, script, clock = breaker()
    await open_it(transport, script)
    clock.advance(5)
    script.release.clear()
    probe = asyncio.ensure_future(transport.send(query(), {}))
    await asyncio.sleep(0)

    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    script.release.set()

    assert transport.state == "half_open"
    assert await outcome(transport) == "ok"  # the next call is the probe
    assert transport.state == "closed"
