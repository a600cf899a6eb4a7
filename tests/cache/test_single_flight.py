"""gateway.cache.single_flight: concurrent misses of one key lead to one fetch; the others get its value."""

from __future__ import annotations

import asyncio

from gateway.cache import SingleFlight


async def test_the_second_caller_waits_for_the_first_callers_keys_and_fetches_only_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    leading, waiting = flights.join(["1", "2"])
    assert (leading, waiting) == (["1", "2"], {})
    second_leading, second_waiting = flights.join(["2", "3"])
    assert second_leading == ["3"] and list(second_waiting) == ["2"]
    assert flights.shared == 1
    waiter = asyncio.ensure_future(flights.wait(second_waiting))
    await asyncio.sleep(0)
    assert not waiter.done()
    flights.land({"1": b"one"}, leading, fallback="failed")
    assert await waiter == {"2": "failed"}  # the leader had no value for it: the waiter is told so
    flights.land({"3": b"three"}, second_leading)
    assert len(flights) == 0
    assert flights.join(["1"]) == (["1"], {})  # a landed key is fetched again


async def test_a_waiter_cancelled_does_not_cancel_the_flight() -> None:
    flights: SingleFlight[str] = SingleFlight()
    leading, _ = flights.join(["k"])
    _, waiting = flights.join(["k"])
    _, also = flights.join(["k"])
    first = asyncio.ensure_future(flights.wait(waiting))
    second = asyncio.ensure_future(flights.wait(also))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    flights.land({"k": b"v"}, leading)
    assert await second == {"k": b"v"}
    assert first.cancelled()
