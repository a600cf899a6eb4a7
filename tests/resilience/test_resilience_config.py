"""The `resilience:` sections: top-level defaults, per-service overrides field by field, unknown keys refused."""

from __future__ import annotations

import dataclasses

import pytest

from registry.config import parse_config
from registry.errors import ConfigError
from registry.resilience import (
    BreakerPolicy,
    BulkheadPolicy,
    GatewayResilience,
    ResiliencePolicy,
    RetryPolicy,
)

SERVICES = """\
services:
  catalog:
    url: http://catalog/graphql
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "gateway.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_defaults_without_a_section() -> None:
    config = parse_config(SERVICES, "gateway.yaml")
    catalog = config.services["catalog"]

    assert config.resilience == GatewayResilience(deadline_ms=10_000, max_in_flight_requests=1000)
    assert (catalog.timeout_ms, catalog.connect_timeout_ms) == (1000, 500)
    assert catalog.resilience == ResiliencePolicy(
        RetryPolicy(
            attempts=3,
            backoff_base_ms=50,
            backoff_max_ms=1000,
            budget_ratio=0.1,
            budget_window_ms=10_000,
            min_retries_per_second=10,
        ),
        BreakerPolicy(
            failure_rate=0.5,
            window_ms=10_000,
            min_calls=10,
            open_ms=1000,
            probe_base_ms=250,
            probe_jitter=0.5,
            half_open_probes=1,
        ),
        BulkheadPolicy(max_in_flight=100, max_queue=10_000),
    )


def test_a_service_overrides_the_defaults_field_by_field() -> None:
    text = """\
services:
  catalog:
    url: http://catalog/graphql
    timeout_ms: 300
    resilience:
      retry: {attempts: 1}
      breaker: {open_ms: 100}
  orders:
    url: http://orders/graphql
resilience:
  deadline_ms: 2500
  max_in_flight_requests: 64
  timeout_ms: 800
  connect_timeout_ms: 100
  retry: {attempts: 4, budget_ratio: 0.2, min_retries_per_second: 0.5}
  breaker: {failure_rate: 0.25, min_calls: 20}
  bulkhead: {max_in_flight: 8, max_queue: 0}
"""
    config = parse_config(text, "gateway.yaml")
    catalog, orders = config.services["catalog"], config.services["orders"]

    assert config.resilience == GatewayResilience(deadline_ms=2500, max_in_flight_requests=64)
    # orders: all the top-level defaults
    assert (orders.timeout_ms, orders.connect_timeout_ms) == (800, 100)
    assert orders.resilience == ResiliencePolicy(
        RetryPolicy(attempts=4, budget_ratio=0.2, min_retries_per_second=0.5),
        BreakerPolicy(failure_rate=0.25, min_calls=20),
        BulkheadPolicy(max_in_flight=8, max_queue=0),
    )
    # catalog: its own timeout and retry attempts and open_ms, the defaults for the rest
    assert (catalog.timeout_ms, catalog.connect_timeout_ms) == (300, 100)
    assert catalog.resilience == dataclasses.replace(
        orders.resilience,
        retry=dataclasses.replace(orders.resilience.retry, attempts=1),
        breaker=dataclasses.replace(orders.resilience.breaker, open_ms=100),
    )


def test_an_empty_section_keeps_the_defaults() -> None:
    config = parse_config(SERVICES + "resilience:\n", "gateway.yaml")
    assert config.services["catalog"].resilience == ResiliencePolicy()


def test_unknown_keys_are_refused_with_their_line() -> None:
    text = """\
services:
  catalog:
    url: http://catalog/graphql
    resilience:
      deadline_ms: 100
      retry: {attempts: 2, jitter: full}
resilience:
  retries: 3
  breaker:
    threshold: 0.5
  bulkhead: {max_in_flight: 4, queue: 2}
"""
    assert problems(text) == [
        "gateway.yaml:5: services.catalog.resilience.deadline_ms: unknown key 'deadline_ms' "
        "(allowed: breaker, bulkhead, retry)",
        "gateway.yaml:6: services.catalog.resilience.retry.jitter: unknown key 'jitter' "
        "(allowed: attempts, backoff_base_ms, backoff_max_ms, budget_ratio, budget_window_ms, min_retries_per_second)",
        "gateway.yaml:8: resilience.retries: unknown key 'retries' (allowed: breaker, bulkhead, connect_timeout_ms, "
        "deadline_ms, max_in_flight_requests, retry, timeout_ms)",
        "gateway.yaml:10: resilience.breaker.threshold: unknown key 'threshold' "
        "(allowed: failure_rate, half_open_probes, min_calls, open_ms, probe_base_ms, probe_jitter, window_ms)",
        "gateway.yaml:11: resilience.bulkhead.queue: unknown key 'queue' (allowed: max_in_flight, max_queue)",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("deadline_ms: 0", "deadline_ms: deadline_ms must be a positive integer, got 0"),
        (
            "max_in_flight_requests: many",
            "max_in_flight_requests: max_in_flight_requests must be a positive integer, got 'many'",
        ),
        (
            "connect_timeout_ms: 1.5",
            "connect_timeout_ms: connect_timeout_ms must be a positive integer, got 1.5",
        ),
        ("retry: {attempts: 0}", "retry.attempts: attempts must be a positive integer, got 0"),
        (
            "retry: {budget_ratio: 1.5}",
            "retry.budget_ratio: budget_ratio must be a number from 0 to 1, got 1.5",
        ),
        (
            "retry: {budget_ratio: true}",
            "retry.budget_ratio: budget_ratio must be a number from 0 to 1, got true",
        ),
        (
            "retry: {min_retries_per_second: -1}",
            "retry.min_retries_per_second: min_retries_per_second must be a number, 0 or more, got -1",
        ),
        (
            "breaker: {failure_rate: 0}",
            "breaker.failure_rate: failure_rate must be a number above 0, at most 1, got 0",
        ),
        (
            "breaker: {half_open_probes: 0}",
            "breaker.half_open_probes: half_open_probes must be a positive integer, got 0",
        ),
        ("bulkhead: {max_queue: -1}", "bulkhead.max_queue: max_queue must be an integer, 0 or more, got -1"),
        ("bulkhead: [4]", "bulkhead: bulkhead must be a mapping, got a list"),
    ],
)
def test_wrong_values(line: str, expected: str) -> None:
    assert problems(SERVICES + f"resilience:\n  {line}\n") == [f"gateway.yaml:5: resilience.{expected}"]


def test_a_services_own_connect_timeout() -> None:
    config = parse_config(SERVICES + "    connect_timeout_ms: 50\n", "gateway.yaml")
    assert config.services["catalog"].connect_timeout_ms == 50
