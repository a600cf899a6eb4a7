"""RetryTransport: what is retried, how long it waits, and the budget that stops a retry storm."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gateway.resilience.retry import RetryTransport
from gateway.transport import MockTransport
from instrumentation.call import Call, RestCall
from instrumentation.errors import (
    BulkheadFull,
    CircuitOpen,
    DeadlinePassed,
    DownstreamBadResponse,
    DownstreamError,
    DownstreamTimeout,
)
from registry.resilience import RetryPolicy

from .conftest import FakeClock, http_error, mutation, query, unavailable

NO_FLOOR_BUT_ROOM = RetryPolicy(budget_ratio=1.0, min_retries_per_second=100)  # the budget never in the way


def failing(errors: list[DownstreamError], answer: Any = "ok") -> Callable[[Call, Mapping[str, str]], Any]:
    """Raises the errors in turn, then answers."""

    def handle(call: Call, headers: Mapping[str, str]) -> Any:
        if errors:
            raise errors.pop(0)
        return answer

    return handle


def retrying(
    handler: Callable[[Call, Mapping[str, str]], Any],
    policy: RetryPolicy,
    clock: FakeClock,
    jitter: float = 0.5,
) -> tuple[RetryTransport, MockTransport]:
    mock = MockTransport(handler)
    return RetryTransport(mock, policy, clock=clock, sleep=clock.sleep, random=lambda: jitter), mock


@pytest.mark.parametrize(
    "error",
    [
        unavailable(),
        http_error(502),
        http_error(503),
        http_error(504),
        http_error(429),
    ],
    ids=["unavailable", "502", "503", "504", "429"],
)
async def test_retryable_failures_are_retried_with_full_jitter_backoff(error: DownstreamError) -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=3, backoff_base_ms=100, backoff_max_ms=1000, budget_ratio=1.0)
    transport, mock = retrying(failing([error, error]), policy, clock, jitter=0.5)

    assert await transport.send(query(), {}) == "ok"

    assert len(mock.calls) == 3
    # Retry n waits random() * min(max, base * 2^(n-1)): half of 100 ms, then half of 200 ms.
    assert clock.slept == [0.05, 0.1]
    assert transport.retries == 2


async def test_backoff_is_capped_and_jitter_spans_zero_to_the_cap() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=6, backoff_base_ms=100, backoff_max_ms=300, budget_ratio=1.0)
    transport, _ = retrying(failing([unavailable()] * 5), policy, clock, jitter=1.0)

    await transport.send(query(), {})

    assert clock.slept == [0.1, 0.2, 0.3, 0.3, 0.3]


@pytest.mark.parametrize(
    "error",
    [
        http_error(500),
        http_error(400),
        DownstreamBadResponse("catalog: invalid JSON in response", service="catalog"),
        DownstreamError("catalog: cannot encode variables as JSON", service="catalog"),
        CircuitOpen("catalog: circuit open (5 of 5 recent calls failed)", service="catalog"),
        BulkheadFull("catalog: too many calls in flight (1 running, 0 waiting)", service="catalog"),
        DeadlinePassed("catalog: the request deadline passed before the call was sent", service="catalog"),
    ],
    ids=["500", "400", "bad-response", "other", "circuit-open", "bulkhead-full", "deadline-passed"],
)
async def test_other_failures_are_not_retried(error: DownstreamError) -> None:
    clock = FakeClock()
    transport, mock = retrying(failing([error]), NO_FLOOR_BUT_ROOM, clock)

    with pytest.raises(DownstreamError) as raised:
        await transport.send(query(), {})

    assert raised.value is error
    assert len(mock.calls) == 1
    assert clock.slept == []


async def test_a_mutation_is_never_retried() -> None:
    clock = FakeClock()
    first = unavailable()
    transport, mock = retrying(failing([first, unavailable()]), NO_FLOOR_BUT_ROOM, clock)

    with pytest.raises(DownstreamError) as raised:
        await transport.send(mutation(), {})

    assert raised.value is first
    assert len(mock.calls) == 1
    assert (clock.slept, transport.retries) == ([], 0)


async def test_a_rest_mutation_is_never_retried() -> None:
    clock = FakeClock()
    first = unavailable()
    transport, mock = retrying(failing([first, unavailable()]), NO_FLOOR_BUT_ROOM, clock)
    call = RestCall("accounts", "/accounts", {}, method="POST", body={"name": "x"}, operation="mutation")

    with pytest.raises(DownstreamError) as raised:
        await transport.send(call, {})

    assert raised.value is first
    assert len(mock.calls) == 1
    assert (clock.slept, transport.retries) == ([], 0)


async def test_rest_calls_are_gets_and_are_retried() -> None:
    clock = FakeClock()
    transport, mock = retrying(failing([http_error(503)], answer=[1]), NO_FLOOR_BUT_ROOM, clock)

    assert await transport.send(RestCall("accounts", "/accounts", {"ids": "1"}), {}) == [1]
    assert len(mock.calls) == 2


async def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    transport, _ = retrying(failing([http_error(429, retry_after=2.0)]), NO_FLOOR_BUT_ROOM, clock)

    await transport.send(query(deadline=clock.now + 10), {})

    assert clock.slept == [2.0]


async def test_the_last_error_is_raised_when_the_attempts_run_out() -> None:
    clock = FakeClock()
    errors = [unavailable(), http_error(503), http_error(502)]
    last = errors[-1]
    transport, mock = retrying(failing(errors), RetryPolicy(attempts=3, budget_ratio=1.0), clock)

    with pytest.raises(DownstreamError) as raised:
        await transport.send(query(), {})

    assert raised.value is last
    assert len(mock.calls) == 3


def timeout() -> DownstreamTimeout:
    return DownstreamTimeout("catalog: no answer within 1000 ms", service="catalog")


async def test_a_timed_out_try_is_not_retried_on_the_only_instance() -> None:
    clock = FakeClock()
    error = timeout()
    mock = MockTransport(failing([error]))
    transport = RetryTransport(
        mock, NO_FLOOR_BUT_ROOM, try_timeout_s=1.0, instances=1, clock=clock, sleep=clock.sleep
    )
    with pytest.raises(DownstreamTimeout) as raised:
        await transport.send(query(deadline=clock.now + 60), {})  # plenty of time: still one try
    assert raised.value is error
    assert (len(mock.calls), transport.retries, transport.refused, clock.slept) == (1, 0, 0, [])


@pytest.mark.parametrize(
    ("left", "tries"),
    [(None, 2), (1.06, 2), (1.04, 1)],
    ids=["no-deadline", "room-for-a-full-try", "less-than-a-full-try-left"],
)
async def test_a_timed_out_try_goes_to_another_instance_when_a_full_try_fits(
    left: float | None, tries: int
) -> None:
    clock = FakeClock()
    mock = MockTransport(failing([timeout()]))
    # The backoff is 50 ms (jitter 1.0), then a whole try of 1 s: 1.05 s must be left.
    transport = RetryTransport(
        mock,
        RetryPolicy(attempts=3, backoff_base_ms=50, budget_ratio=1.0),
        try_timeout_s=1.0,
        instances=2,
        clock=clock,
        sleep=clock.sleep,
        random=lambda: 1.0,
    )
    call = query(deadline=None if left is None else clock.now + left)
    if tries == 2:
        assert await transport.send(call, {}) == "ok"
    else:
        with pytest.raises(DownstreamTimeout):
            await transport.send(call, {})
    assert len(mock.calls) == tries


@pytest.mark.parametrize(
    ("error", "left"),
    [(unavailable(), 0.04), (http_error(429, retry_after=5.0), 1.0)],
    ids=["backoff", "retry-after"],
)
async def test_never_sleeps_past_the_deadline(error: DownstreamError, left: float) -> None:
    clock = FakeClock()
    # The backoff would be 50 ms (jitter 1.0): more than the 40 ms left; Retry-After 5 s: more than the 1 s left.
    policy = RetryPolicy(attempts=3, backoff_base_ms=50, budget_ratio=1.0)
    transport, mock = retrying(failing([error]), policy, clock, jitter=1.0)

    with pytest.raises(DownstreamError) as raised:
        await transport.send(query(deadline=clock.now + left), {})

    assert raised.value is error
    assert len(mock.calls) == 1
    assert clock.slept == []
    assert transport.refused == 0  # given up for lack of time, not of budget: nothing spent


async def test_the_budget_allows_retries_for_a_tenth_of_the_calls() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=3, budget_ratio=0.1, min_retries_per_second=0)
    transport, mock = retrying(failing([http_error(503)] * 1000), policy, clock)

    for _ in range(100):
        with pytest.raises(DownstreamError):
            await transport.send(query(), {})

    # Retry k is allowed once retries + 1 <= 0.1 * calls: at calls 10, 20, ..., 100.
    assert len(mock.calls) == 110
    assert transport.retries == 10
    # Every call met the budget once: 90 at their first retry, the 10 that got one at their second.
    assert transport.refused == 100


async def test_the_floor_lets_a_rarely_called_service_retry() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=3, budget_ratio=0, budget_window_ms=10_000, min_retries_per_second=1)
    transport, mock = retrying(failing([http_error(503)] * 1000), policy, clock)

    for _ in range(100):
        with pytest.raises(DownstreamError):
            await transport.send(query(), {})

    # The floor: 1 retry per second of a 10 s window = 10 retries, two for each of the first five calls.
    assert len(mock.calls) == 100 + 10
    assert transport.retries == 10


async def test_the_budget_refills_as_the_window_rolls_on() -> None:
    clock = FakeClock()
    policy = RetryPolicy(attempts=2, budget_ratio=0, budget_window_ms=10_000, min_retries_per_second=0.1)
    transport, mock = retrying(failing([http_error(503)] * 1000), policy, clock)

    for _ in range(3):
        with pytest.raises(DownstreamError):
            await transport.send(query(), {})
    assert len(mock.calls) == 3 + 1  # a floor of one retry per 10 s window

    clock.advance(11)  # the retry made has left the window
    with pytest.raises(DownstreamError):
        await transport.send(query(), {})
    assert len(mock.calls) == 4 + 2
