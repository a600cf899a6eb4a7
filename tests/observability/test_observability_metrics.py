"""GET /metrics after known traffic: exact counters, histogram counts, caches, breakers, shedding, bounded labels."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from examples.services.cluster import Cluster, run_cluster
from examples.services.topology import free_port
from gateway.observability.metrics import BoundedLabels
from registry.resilience import BreakerPolicy, GatewayResilience, ResiliencePolicy, RetryPolicy
from tests.engine.conftest import service_configs

from .conftest import FLAT, StartObserved, distinct_products, labelled, post, sample, scrape

N = 100


async def test_flat_query_counts_one_catalog_call_with_every_key_and_the_duplicates_removed(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    status, body, _ = await post(http, observed.graphql, FLAT)
    assert status == 200 and "errors" not in body and len(body["data"]["orders"]) == N
    samples = await scrape(http, observed)
    distinct = distinct_products(N)
    assert 0 < distinct < N  # the seeded data repeats products: there is something to de-duplicate

    calls = labelled(samples, "funnel_downstream_calls_total")
    assert calls == {
        'funnel_downstream_calls_total{binding="Query.orders",outcome="ok",service="orders"}': 1.0,
        'funnel_downstream_calls_total{binding="Order.product",outcome="ok",service="catalog"}': 1.0,
    }
    assert sample(samples, "funnel_downstream_keys_requested_total", service="catalog") == N
    assert sample(samples, "funnel_downstream_keys_deduplicated_total", service="catalog") == N - distinct
    batch = {"binding": "Order.product", "service": "catalog"}
    assert sample(samples, "funnel_downstream_batch_keys_count", **batch) == 1
    assert sample(samples, "funnel_downstream_batch_keys_sum", **batch) == distinct
    assert sample(samples, "funnel_downstream_batch_keys_bucket", le="50.0", **batch) == 0
    assert sample(samples, "funnel_downstream_batch_keys_bucket", le="100.0", **batch) == 1
    # a root field's call is not a batch
    assert (
        sample(samples, "funnel_downstream_batch_keys_count", binding="Query.orders", service="orders") == 0
    )
    assert sample(samples, "funnel_downstream_call_duration_seconds_count", **batch) == 1

    assert sample(samples, "funnel_requests_total", operation="anonymous", outcome="ok") == 1
    assert sample(samples, "funnel_request_duration_seconds_count", operation="anonymous") == 1
    assert sample(samples, "funnel_request_duration_seconds_sum", operation="anonymous") > 0


async def test_batching_off_asks_one_key_per_call_and_deduplicates_nothing(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed(batching=False)
    query = "{ orders(first: 10) { id product { name } } }"
    status, body, _ = await post(http, observed.graphql, query)
    assert status == 200 and "errors" not in body
    samples = await scrape(http, observed)
    batch = {"binding": "Order.product", "service": "catalog"}
    assert sample(samples, "funnel_downstream_calls_total", outcome="ok", **batch) == 10
    assert sample(samples, "funnel_downstream_batch_keys_count", **batch) == 10
    assert sample(samples, "funnel_downstream_batch_keys_bucket", le="1.0", **batch) == 10
    assert sample(samples, "funnel_downstream_keys_requested_total", service="catalog") == 10
    assert sample(samples, "funnel_downstream_keys_deduplicated_total", service="catalog") == 0


async def test_a_repeated_query_hits_the_document_and_plan_caches(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    for _ in range(3):
        status, _, _ = await post(http, observed.graphql, FLAT)
        assert status == 200
    samples = await scrape(http, observed)
    # One lookup per request: the server hands the document it checked against its limits to the gateway.
    assert sample(samples, "funnel_cache_misses_total", cache="document") == 1
    assert sample(samples, "funnel_cache_hits_total", cache="document") == 2
    assert sample(samples, "funnel_cache_misses_total", cache="plan") == 1
    assert sample(samples, "funnel_cache_hits_total", cache="plan") == 2
    assert sample(samples, "funnel_cache_entries", cache="document") == 1
    assert sample(samples, "funnel_requests_total", operation="anonymous", outcome="ok") == 3
    assert sample(samples, "funnel_request_duration_seconds_count", operation="anonymous") == 3


async def test_a_dead_service_shows_in_outcomes_retries_and_an_open_breaker(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    # catalog points at a port nobody listens on; its breaker opens after 2 failed tries.
    policy = ResiliencePolicy(
        retry=RetryPolicy(attempts=2, backoff_base_ms=1, backoff_max_ms=1),
        breaker=BreakerPolicy(min_calls=2, failure_rate=0.5, open_ms=60_000),
    )
    dead = f"http://127.0.0.1:{free_port()}/graphql"
    services = service_configs(cluster, catalog={"url": dead, "resilience": policy})
    observed = await start_observed(services=services)
    query = "query Cheap { orders(first: 3) { id product { name } } }"
    for _ in range(2):
        status, body, _ = await post(http, observed.graphql, query)
        assert status == 200 and body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert [o["product"] for o in body["data"]["orders"]] == [None] * 3

    samples = await scrape(http, observed)
    assert sample(samples, "funnel_requests_total", operation="Cheap", outcome="partial") == 2
    failed = {"binding": "Order.product", "service": "catalog", "outcome": "SERVICE_UNAVAILABLE"}
    assert sample(samples, "funnel_downstream_calls_total", **failed) == 2
    # The first call is tried twice (one retry); the two failed tries open the breaker, so the second call
    # fails at once: no retry of an open circuit.
    assert sample(samples, "funnel_downstream_retries_total", service="catalog") == 1
    endpoint = {"service": "catalog", "endpoint": dead}
    assert sample(samples, "funnel_circuit_breaker_state", state="open", **endpoint) == 1
    assert sample(samples, "funnel_circuit_breaker_state", state="closed", **endpoint) == 0
    assert sample(samples, "funnel_circuit_breaker_state", state="half_open", **endpoint) == 0
    assert sample(samples, "funnel_circuit_breaker_opened_total", **endpoint) == 1
    assert sample(samples, "funnel_circuit_breaker_rejected_total", **endpoint) == 1
    orders = {"service": "orders", "endpoint": observed.gateway.services["orders"].url}
    assert sample(samples, "funnel_circuit_breaker_state", state="closed", **orders) == 1


async def test_operation_names_are_bounded_labels(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    assert observed.gateway.observability.metrics is not None
    observed.gateway.observability.metrics.operations.limit = 2
    for name in ("First", "Second", "Third", "First"):
        status, _, _ = await post(http, observed.graphql, f"query {name} {{ orders(first: 1) {{ id }} }}")
        assert status == 200
    status, _, _ = await post(http, observed.graphql, "{ orders(first: 1) { id } }")
    samples = await scrape(http, observed)
    assert labelled(samples, "funnel_requests_total") == {
        'funnel_requests_total{operation="First",outcome="ok"}': 2.0,
        'funnel_requests_total{operation="Second",outcome="ok"}': 1.0,
        'funnel_requests_total{operation="other",outcome="ok"}': 1.0,
        'funnel_requests_total{operation="anonymous",outcome="ok"}': 1.0,
    }


def test_bounded_labels_keep_the_first_valid_names_only() -> None:
    labels = BoundedLabels(2, valid=re.compile(r"[A-Za-z]+"), missing="anonymous")
    assert [labels(v) for v in ("a", None, "", "b; drop", "b", "c", "a")] == [
        "a",
        "anonymous",
        "anonymous",
        "other",
        "b",
        "other",
        "a",
    ]


async def test_invalid_and_rejected_requests_are_counted(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed(max_depth=3)
    status, _, _ = await post(http, observed.graphql, "{ orders(first: 1) { nope } }")  # not valid
    assert status == 200  # application/json: request errors answer 200
    status, _, _ = await post(http, observed.graphql, "{ orders(first: 1) { product { seller { name } } } }")
    assert status == 200  # deeper than max_depth: refused while the document is prepared, as an invalid one
    async with http.post(observed.graphql, data=b"{not json", headers={"Content-Type": "application/json"}):
        pass
    samples = await scrape(http, observed)
    assert labelled(samples, "funnel_requests_total") == {
        'funnel_requests_total{operation="anonymous",outcome="invalid"}': 2.0,
        'funnel_requests_total{operation="unknown",outcome="rejected"}': 1.0,
    }


async def test_shed_requests_are_counted(http: aiohttp.ClientSession, start_observed: StartObserved) -> None:
    async with run_cluster(latency_ms=300) as slow:
        observed = await start_observed(
            services=service_configs(slow), resilience=GatewayResilience(max_in_flight_requests=1)
        )
        query = "{ orders(first: 1) { id } }"
        answers = await asyncio.gather(*(post(http, observed.graphql, query) for _ in range(3)))
        assert sorted(status for status, _, _ in answers) == [200, 503, 503]
        samples = await scrape(http, observed)
    assert samples["funnel_requests_shed_total"] == 2
    assert samples["funnel_requests_in_flight"] == 0
    assert sample(samples, "funnel_requests_total", operation="anonymous", outcome="ok") == 1


async def test_no_metrics_route_when_metrics_are_off(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed(metrics=False)
    async with http.get(observed.url + "/metrics") as response:
        assert response.status == 404


async def test_openmetrics_when_the_scraper_asks_for_it(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with http.get(observed.url + "/metrics", headers=headers) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await response.text()).rstrip().endswith("# EOF")


async def test_the_estimated_and_actual_costs_are_observed(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    await post(
        http, observed.graphql, '{ orders(first: 4) { id product { name } } account(id: "99999") { id } }'
    )
    samples = await scrape(http, observed)
    assert sample(samples, "funnel_operation_cost_sum", kind="estimated") == 9.0
    assert sample(samples, "funnel_operation_cost_sum", kind="actual") == 8.0
    assert sample(samples, "funnel_operation_cost_count", kind="actual") == 1.0
