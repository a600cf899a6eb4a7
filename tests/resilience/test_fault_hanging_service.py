"""A service that hangs: every request still answers by its deadline, with the hanging service's fields failed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web

from examples.services.cluster import Cluster
from registry.resilience import BreakerPolicy, GatewayResilience, ResiliencePolicy, RetryPolicy

from .conftest import (
    ORDERS_QUERY,
    FakeService,
    Faulty,
    OverFakeCatalog,
    check_products_failed,
    expected_orders,
)

REQUESTS = 20
# Only a bound on "nothing waits forever", far above any deadline here: a hang would reach it, scheduling
# noise would not.
NEVER_S = 30


async def hanging_catalog(
    over_fake_catalog: OverFakeCatalog, resilience: GatewayResilience, /, **catalog: Any
) -> tuple[FakeService, Faulty]:
    """A catalog that never answers (until the test ends), behind the example gateway."""
    fake: FakeService

    async def hang(request: web.Request) -> web.Response:
        await fake.release.wait()  # released only when the test ends
        return web.json_response({"data": None})

    fake, faulty = await over_fake_catalog(hang, resilience, **catalog)
    return fake, faulty


async def run_all(faulty: Faulty, timeout_ms: float | None = None) -> list[tuple[dict[str, Any], float]]:
    async def one() -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        response = await faulty.gateway.execute(ORDERS_QUERY, timeout_ms=timeout_ms)
        return response, time.monotonic() - started

    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(REQUESTS))), NEVER_S)


@pytest.mark.parametrize(
    ("deadline_ms", "timeout_ms"),
    # Long enough for orders and accounts to answer 20 requests at once on a busy machine.
    [(500, None), (60_000, 400)],
    ids=["configured-deadline", "client-deadline-shorter"],  # the latter as `funnel-timeout-ms: 400`
)
async def test_the_request_deadline_ends_calls_to_a_service_that_never_answers(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog, deadline_ms: int, timeout_ms: int | None
) -> None:
    # catalog's own timeout (60 s) would be no help: the request's deadline ends its calls.
    fake, faulty = await hanging_catalog(
        over_fake_catalog, GatewayResilience(deadline_ms=deadline_ms), timeout_ms=60_000
    )
    expected = expected_orders(cluster)
    deadline_s = min(deadline_ms, timeout_ms or deadline_ms) / 1000

    answered = await run_all(faulty, timeout_ms=timeout_ms)

    for response, elapsed in answered:
        assert check_products_failed(response, expected, "DOWNSTREAM_TIMEOUT") == len(expected)
        (message,) = {e["message"] for e in response["errors"]}
        assert message.startswith("catalog: no answer before the request deadline (")
        # Not before the deadline (catalog never answers), and not long after it.
        assert deadline_s - 0.01 <= elapsed < deadline_s + 2
    # No retry: the first try used all the time there was.
    assert fake.requests <= faulty.attempts["catalog"].sent == REQUESTS


async def test_a_try_that_timed_out_is_not_retried(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog
) -> None:
    # Retries allowed and budgeted generously, the deadline far away: a hung service is still asked once per call,
    # since the same (only) instance would hang again. A request costs the service's timeout, not three of them.
    retry = RetryPolicy(
        attempts=3, backoff_base_ms=1, backoff_max_ms=1, budget_ratio=1.0, min_retries_per_second=100
    )
    fake, faulty = await hanging_catalog(
        over_fake_catalog,
        GatewayResilience(deadline_ms=10_000),
        timeout_ms=50,
        # Kept closed, so that every request reaches catalog and the only question is whether it is retried.
        resilience=ResiliencePolicy(
            retry=retry, breaker=BreakerPolicy(failure_rate=1.0, min_calls=1_000_000)
        ),
    )
    expected = expected_orders(cluster)

    answered = await run_all(faulty)

    for response, _ in answered:
        assert check_products_failed(response, expected, "DOWNSTREAM_TIMEOUT") == len(expected)
        assert {e["message"] for e in response["errors"]} == {"catalog: no answer within 50 ms"}
    assert faulty.attempts["catalog"].sent == REQUESTS
    assert faulty.stack("catalog").retry.retries == 0
    assert faulty.stack("catalog").retry.refused == 0  # not refused by the budget: not worth a try
    # (On a busy machine a try may be cut off before the service has even read it: the service sees at most as many.)
    assert fake.requests <= REQUESTS
