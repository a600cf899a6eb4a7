"""A service answering 503 to everything under load: no retry storm. A mutation is never retried.

Attempts are counted by the failing service itself; calls by the gateway's call records.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from examples.services.cluster import Cluster
from registry.resilience import BreakerPolicy, ResiliencePolicy, RetryPolicy

from .conftest import ORDERS_QUERY, Faulty, OverFakeCatalog, check_products_failed, expected_orders

# The breaker would soon stop the calls altogether; kept closed here so that only the retry budget is tested.
NEVER_OPENS = BreakerPolicy(failure_rate=1.0, min_calls=1_000_000)
BUDGET = RetryPolicy(
    attempts=3,
    backoff_base_ms=1,
    backoff_max_ms=5,
    budget_ratio=0.1,
    budget_window_ms=60_000,  # the whole test in one window: the bound below is then exact
    min_retries_per_second=0.5,  # the floor: 0.5/s * 60 s = 30 retries
)
FLOOR = 30
REQUESTS, CONCURRENCY = 200, 20


async def unavailable(request: web.Request) -> web.Response:
    return web.json_response({"errors": [{"message": "overloaded"}]}, status=503)


async def load(
    faulty: Faulty, query: str, requests: int, concurrency: int
) -> tuple[list[dict[str, Any]], int]:
    """The responses, and how many calls the gateway made to catalog (one per call record)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> tuple[dict[str, Any], int]:
        async with semaphore:
            result = await faulty.gateway.run(query)
        return result.response(), sum(record.service == "catalog" for record in result.calls)

    answered = await asyncio.gather(*(one() for _ in range(requests)))
    return [response for response, _ in answered], sum(calls for _, calls in answered)


async def test_503_to_everything_under_load_stays_within_the_retry_budget(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog
) -> None:
    fake, faulty = await over_fake_catalog(
        unavailable, resilience=ResiliencePolicy(retry=BUDGET, breaker=NEVER_OPENS)
    )
    expected = expected_orders(cluster)

    results, calls = await load(faulty, ORDERS_QUERY, REQUESTS, CONCURRENCY)

    for result in results:  # every request answered; only catalog's fields failed, each with the 503
        assert check_products_failed(result, expected, "DOWNSTREAM_HTTP_ERROR") == len(expected)
        assert {e["message"] for e in result["errors"]} == {"catalog: HTTP 503: overloaded"}
    assert calls == REQUESTS  # one batched catalog call per request
    # The bound: attempts <= (1 + budget_ratio) * calls + floor = 1.1 * 200 + 30 = 250, where three tries per
    # call without a budget would be 600. And the budget is used, not just never reached.
    assert calls < fake.requests <= (1 + BUDGET.budget_ratio) * calls + FLOOR
    assert fake.requests == faulty.attempts["catalog"].sent
    assert faulty.stack("catalog").retry.retries == fake.requests - calls


async def test_retry_after_past_the_deadline_is_not_waited_for(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog
) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response(
            {"errors": [{"message": "slow down"}]}, status=429, headers={"Retry-After": "30"}
        )

    fake, faulty = await over_fake_catalog(
        busy, resilience=ResiliencePolicy(retry=RetryPolicy(budget_ratio=1.0), breaker=NEVER_OPENS)
    )

    results, calls = await load(faulty, ORDERS_QUERY, 10, 5)

    expected = expected_orders(cluster)
    for result in results:
        assert check_products_failed(result, expected, "DOWNSTREAM_HTTP_ERROR") == len(expected)
        assert {e["message"] for e in result["errors"]} == {"catalog: HTTP 429: slow down"}
    assert fake.requests == calls == 10  # Retry-After 30 s is past the 10 s deadline: no retry


MUTATION = 'mutation { updatePrice(productId: "1", price: 9.5) { id price } }'


async def test_a_mutation_is_never_retried_even_on_a_retryable_failure(
    over_fake_catalog: OverFakeCatalog,
) -> None:
    generous = RetryPolicy(attempts=5, backoff_base_ms=1, budget_ratio=1.0, min_retries_per_second=100)
    fake, faulty = await over_fake_catalog(
        unavailable, resilience=ResiliencePolicy(retry=generous, breaker=NEVER_OPENS)
    )

    result = await faulty.gateway.execute(MUTATION)

    assert result["data"] is None  # updatePrice is non-null
    assert [e["extensions"]["code"] for e in result["errors"]] == ["DOWNSTREAM_HTTP_ERROR"]
    assert fake.requests == 1

    # The same failure on a query is retried up to the attempts: the service sees every try.
    await faulty.gateway.execute('{ product(id: "1") { name } }')
    assert fake.requests == 1 + generous.attempts
