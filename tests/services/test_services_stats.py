"""Counters, latency and the concurrency cap, which every service gets from examples.services.common."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from examples.services import accounts, catalog, orders, reviews
from examples.services.common import STATS_KEY

from .conftest import Serve
from .helpers import get_json, graphql, post_json

ZERO = {"requests": 0, "keys": 0, "peak_in_flight": 0}


async def stats_of(http: aiohttp.ClientSession, url: str) -> Any:
    status, body = await get_json(http, f"{url}/stats")
    assert status == 200
    return body


async def test_admin_endpoints_are_not_counted(serve: Serve, http: aiohttp.ClientSession) -> None:
    url = await serve(accounts.create_app())
    assert await get_json(http, f"{url}/health") == (200, {"status": "ok"})
    assert await stats_of(http, url) == ZERO
    assert await post_json(http, f"{url}/stats/reset", None) == (200, ZERO)
    assert await stats_of(http, url) == ZERO


async def test_rest_counts_requests_and_ids(serve: Serve, http: aiohttp.ClientSession) -> None:
    url = await serve(accounts.create_app())
    for path in (
        "/accounts?ids=1,2,3,9999",
        "/accounts/1",
        "/accounts/5000",
        "/accounts?ids=1,x",
        "/nowhere",
    ):
        await get_json(http, url + path)
    # Malformed requests count as requests but ask for no keys; unknown ids still count as asked for.
    assert await stats_of(http, url) == {"requests": 5, "keys": 6, "peak_in_flight": 1}
    await post_json(http, f"{url}/stats/reset", None)
    assert await stats_of(http, url) == ZERO


async def test_graphql_counts_keys_over_all_root_fields(serve: Serve, http: aiohttp.ClientSession) -> None:
    url = await serve(catalog.create_app())
    query = """query($ids: [ID!]!) {
      a: productsByIds(ids: $ids) { id }
      b: productsByIds(ids: ["7", "9999"]) { id }
      product(id: "1") { id }
      products(first: 3) { id }
    }"""
    status, _ = await graphql(http, f"{url}/graphql", query, {"ids": ["1", "2", "3"]})
    assert status == 200
    assert await stats_of(http, url) == {"requests": 1, "keys": 6, "peak_in_flight": 1}
    # A request that fails validation runs no resolver, so it asks for no keys.
    await graphql(http, f"{url}/graphql", '{ product(id: "1") { nope } }')
    assert await stats_of(http, url) == {"requests": 2, "keys": 6, "peak_in_flight": 1}


async def test_one_to_many_and_entities_count_what_was_asked(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    orders_url = await serve(orders.create_app())
    reviews_url = await serve(reviews.create_app())
    await graphql(http, f"{orders_url}/graphql", '{ ordersByBuyerIds(ids: ["1", "2"]) { id } }')
    representations = [{"__typename": "Product", "id": str(i)} for i in (1, 2, 3)] + [{"__typename": "User"}]
    await graphql(
        http,
        f"{reviews_url}/graphql",
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename } reviews(first: 2) { id } }",
        {"r": representations},
    )
    assert await stats_of(http, orders_url) == {"requests": 1, "keys": 2, "peak_in_flight": 1}
    assert await stats_of(http, reviews_url) == {"requests": 1, "keys": 4, "peak_in_flight": 1}


async def timed_requests(http: aiohttp.ClientSession, url: str, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        await get_json(http, url)
    return time.perf_counter() - start


async def test_latency_is_added_to_api_requests_only(serve: Serve, http: aiohttp.ClientSession) -> None:
    fast = await serve(accounts.create_app())
    slow = await serve(accounts.create_app(latency_ms=50))
    fast_s = await timed_requests(http, f"{fast}/accounts/1", 5)
    slow_s = await timed_requests(http, f"{slow}/accounts/1", 5)
    assert slow_s >= 5 * 0.050  # asyncio.sleep never wakes early
    assert slow_s > 3 * fast_s
    health_s = await timed_requests(http, f"{slow}/health", 5)
    assert health_s < slow_s / 2


@pytest.mark.parametrize(("cap", "expected_peak"), [(3, 3), (None, 10)])
async def test_max_concurrency_caps_requests_in_flight(
    serve: Serve, http: aiohttp.ClientSession, cap: int | None, expected_peak: int
) -> None:
    app = accounts.create_app(latency_ms=40, max_concurrency=cap)
    url = await serve(app)
    start = time.perf_counter()
    answers = await asyncio.gather(*(get_json(http, f"{url}/accounts/{i}") for i in range(1, 11)))
    elapsed = time.perf_counter() - start
    assert [status for status, _ in answers] == [200] * 10
    assert await stats_of(http, url) == {"requests": 10, "keys": 10, "peak_in_flight": expected_peak}
    assert app[STATS_KEY].in_flight == 0
    if cap is not None:
        assert elapsed >= 4 * 0.040  # ceil(10 / 3) rounds of 40 ms


async def test_reset_keeps_requests_still_in_flight_as_the_peak(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    app = accounts.create_app(latency_ms=100)
    url = await serve(app)
    pending = asyncio.gather(*(get_json(http, f"{url}/accounts/{i}") for i in (1, 2)))
    while app[STATS_KEY].in_flight < 2:
        await asyncio.sleep(0.005)
    assert await post_json(http, f"{url}/stats/reset", None) == (
        200,
        {"requests": 0, "keys": 0, "peak_in_flight": 2},
    )
    await pending
    # Requests are counted on arrival, keys when looked up (after the latency): these two are past the first.
    assert await stats_of(http, url) == {"requests": 0, "keys": 2, "peak_in_flight": 2}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latency_ms": -1}, "latency must be non-negative, got -1 ms"),
        ({"max_concurrency": 0}, "max_concurrency must be at least 1, got 0"),
    ],
)
def test_bad_options_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        accounts.create_app(**options)  # type: ignore[arg-type]
