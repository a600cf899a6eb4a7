"""A service that hangs: every request still answers by its deadline, with the hanging service's fields failed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from examples.services.cluster import Cluster
from registry.resilience import BreakerPolicy, GatewayResilience, ResiliencePolicy, RetryPolicy

from .conftest import (
    ORDERS_QUERY,
    FakeService,
    Faulty,
    Handler,
    check_products_failed,
    example_gateway,
    expected_orders,
)

MakeFake = Callable[[Handler], Awaitable[FakeService]]
REQUESTS = 20
# Only a bound on "nothing waits forever", far above any deadline here: a hang would reach it, scheduling
# noise would not.
NEVER_S = 30


async def hanging_service(fake_service: MakeFake) -> FakeService:
    fake: FakeService

    async def hang(request: web.Request) -> web.Response:
        await fake.release.wait()  # released only when the test ends
        return web.json_response({"data": None})

    fake = await fake_service(hang)
    return fake


async def run_all(faulty: Faulty, timeout_ms: float | None = None) -> list[tuple[dict[str, object], float]]:
    async def one() -> tuple[dict[str, object], float]:
        started = time.monotonic()
        response = await faulty.gateway.execute(ORDERS_QUERY, timeout_ms=timeout_ms)
        return response, time.monotonic() - started

    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(REQUESTS))), NEVER_S)


async def test_the_request_deadline_ends_calls_to_a_service_that_never_answers(
    cluster: Cluster, fake_service: MakeFake, faulty_gateways: list[Faulty]
) -> None:
    fake = await hanging_service(fake_service)
    # catalog's own timeout (60 s) would be no help: the request's deadline (300 ms) ends its calls.
    faulty = example_gateway(
        cluster,
        GatewayResilience(deadline_ms=300),
        catalog={"url": fake.url + "/graphql", "timeout_ms": 60_000},
    )
    faulty_gateways.append(faulty)
    expected = expected_orders(cluster)

    answered = await run_all(faulty)

    for response, elapsed in answered:
        assert check_products_failed(response, expected, "DOWNSTREAM_TIMEOUT") == len(expected)
        (message,) = {e["message"] for e in response["errors"]}  # type: ignore[attr-defined]
        assert message.startswith("catalog: no answer before the request deadline (")
        assert elapsed < NEVER_S
    # No retry: the first try used all the time there was.
    assert fake.requests <= faulty.attempts["catalog"].sent == REQUESTS


async def test_a_client_deadline_shorter_than_the_configured_one_is_kept(
    cluster: Cluster, fake_service: MakeFake, faulty_gateways: list[Faulty]
) -> None:
    fake = await hanging_service(fake_service)
    faulty = example_gateway(
        cluster,
        GatewayResilience(deadline_ms=60_000),
        catalog={"url": fake.url + "/graphql", "timeout_ms": 60_000},
    )
    faulty_gateways.append(faulty)

    answered = await run_all(faulty, timeout_ms=200)  # funnel-timeout-ms: 200

    for response, _ in answered:
        check_products_failed(response, expected_orders(cluster), "DOWNSTREAM_TIMEOUT")


async def test_short_service_timeouts_are_retried_within_the_deadline(
    cluster: Cluster, fake_service: MakeFake, faulty_gateways: list[Faulty]
) -> None:
    fake = await hanging_service(fake_service)
    retry = RetryPolicy(
        attempts=3, backoff_base_ms=1, backoff_max_ms=1, budget_ratio=1.0, min_retries_per_second=100
    )
    faulty = example_gateway(
        cluster,
        GatewayResilience(deadline_ms=2000),
        catalog={
            "url": fake.url + "/graphql",
            "timeout_ms": 50,
            # Kept closed: the breaker would rightly open on these timeouts and stop the retries.
            "resilience": ResiliencePolicy(
                retry=retry, breaker=BreakerPolicy(failure_rate=1.0, min_calls=1_000_000)
            ),
        },
    )
    faulty_gateways.append(faulty)

    answered = await run_all(faulty)

    for response, _ in answered:
        check_products_failed(response, expected_orders(cluster), "DOWNSTREAM_TIMEOUT")
    # Each call tried at most `attempts` times, every try cut off by catalog's 50 ms timeout. (On a busy
    # machine a try may be cut off before the service has even read it: the service sees at most as many.)
    sent = faulty.attempts["catalog"].sent
    assert REQUESTS < sent <= REQUESTS * retry.attempts
    assert fake.requests <= sent
