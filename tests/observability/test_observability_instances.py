"""GET /metrics and /ready for a service with several instances: one series per instance, never a credential."""

from __future__ import annotations

import aiohttp

from examples.services.cluster import Cluster
from examples.services.topology import free_port
from gateway.resilience import ResilientTransport
from registry.config import RegistryHealthConfig
from registry.resilience import BreakerPolicy, ResiliencePolicy, RetryPolicy
from tests.engine.conftest import service_configs

from .conftest import StartObserved, labelled, post, sample, scrape


async def test_each_instance_has_its_breaker_series_and_its_health(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    # catalog's first instance is dead (and named with credentials); its second is the live example service.
    dead = f"http://user:s3cret@127.0.0.1:{free_port()}/graphql"
    shown = dead.replace("user:s3cret@", "***@")
    live = cluster.graphql_url("catalog")
    policy = ResiliencePolicy(
        retry=RetryPolicy(attempts=2, backoff_base_ms=1, backoff_max_ms=1),
        breaker=BreakerPolicy(min_calls=1, failure_rate=0.5, open_ms=60_000, probe_base_ms=60_000),
    )
    # Checks far apart: none runs during the test, so both instances stay in rotation.
    overrides = {
        "url": dead,
        "other_instances": (live,),
        "resilience": policy,
        "health": RegistryHealthConfig(interval_ms=60_000),
    }
    services = service_configs(cluster, catalog=overrides)
    observed = await start_observed(services=services, debug_access="everyone")  # /ready's details too
    transport = observed.gateway.clients.transports["catalog"]
    assert isinstance(transport, ResilientTransport)
    transport.pool._random = lambda: 0.0  # the first drawn is the dead one, while it may be chosen
    query = "query Cheap { orders(first: 3) { id product { name } } }"
    for _ in range(3):
        status, body, _ = await post(http, observed.graphql, query)
        assert status == 200 and "errors" not in body and len(body["data"]["orders"]) == 3

    samples = await scrape(http, observed)
    # The first call's first try went to the dead instance and opened its circuit, its retry to the live
    # one; the next calls went to the live one at once.
    assert sample(samples, "funnel_downstream_retries_total", service="catalog") == 1
    states = labelled(samples, "funnel_circuit_breaker_state")
    catalog = {key: value for key, value in states.items() if 'service="catalog"' in key}
    assert catalog == {
        f'funnel_circuit_breaker_state{{endpoint="{shown}",service="catalog",state="{state}"}}': float(
            state == "open"
        )
        for state in ("closed", "open", "half_open")
    } | {
        f'funnel_circuit_breaker_state{{endpoint="{live}",service="catalog",state="{state}"}}': float(
            state == "closed"
        )
        for state in ("closed", "open", "half_open")
    }
    assert sample(samples, "funnel_circuit_breaker_opened_total", service="catalog", endpoint=shown) == 1
    assert sample(samples, "funnel_circuit_breaker_opened_total", service="catalog", endpoint=live) == 0
    assert labelled(samples, "funnel_instance_healthy") == {
        f'funnel_instance_healthy{{endpoint="{shown}",service="catalog"}}': 1.0,
        f'funnel_instance_healthy{{endpoint="{live}",service="catalog"}}': 1.0,
    }
    assert sample(samples, "funnel_bulkhead_in_flight", service="catalog") == 0
    async with http.get(observed.url + "/metrics") as response:
        assert "s3cret" not in await response.text()

    async with http.get(observed.url + "/ready") as response:
        ready = await response.json()
    assert response.status == 200 and ready["status"] == "ready"
    assert "catalog" not in ready["circuits"] and set(ready["circuits"]) == {"accounts", "orders", "reviews"}
    assert ready["instances"] == {
        "catalog": [
            {
                "url": shown,
                "state": "open",
                "calls": 0,
                "failures": 0,
                "opened": 1,
                "rejected": 0,
                "healthy": True,
                "in_flight": 0,
            },
            {
                "url": live,
                "state": "closed",
                "calls": 4,  # three calls, and /ready's own probe
                "failures": 0,
                "opened": 0,
                "rejected": 0,
                "healthy": True,
                "in_flight": 0,
            },
        ]
    }
    assert "s3cret" not in str(ready)
