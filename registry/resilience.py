"""What the `resilience:` sections of the config say, frozen: the policies around every downstream call.

The top-level section gives the defaults; a service's own `resilience:` section overrides them field by field
(`retry: {attempts: 1}` keeps the default backoff and budget). The request deadline and the load-shedding limit
concern the whole request, so they exist only at the top level (`GatewayResilience`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BreakerPolicy",
    "BulkheadPolicy",
    "GatewayResilience",
    "ResiliencePolicy",
    "RetryPolicy",
    "merge_policy",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of queries that failed in a way worth retrying, within a per-service budget."""

    attempts: int = 3  # tries per call, the first included: 1 turns retries off
    backoff_base_ms: int = 50  # the n-th retry waits a random time in [0, min(max, base * 2^(n-1))]
    backoff_max_ms: int = 1000
    # Retries may be at most this fraction of the calls of the last budget window (plus the floor below),
    # so that an outage cannot multiply the load on a struggling service.
    budget_ratio: float = 0.1
    budget_window_ms: int = 10_000
    # The floor: a service called rarely may still retry this many times per second of the window.
    min_retries_per_second: float = 10.0


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A circuit breaker per service instance: open on a failure rate, fail fast, probe, close."""

    failure_rate: float = 0.5  # open when at least this fraction of the window's calls failed...
    window_ms: int = 10_000
    min_calls: int = 10  # ...and the window holds at least this many calls
    # Open, it fails fast for a while, then lets a probe through: the first wait is `probe_base_ms`, each probe
    # that fails doubles it, up to `open_ms`; each wait is shortened by up to `probe_jitter` of itself at random,
    # so that replicas do not probe together. A service that comes back is found within about a second.
    open_ms: int = 1_000  # the longest wait between probes
    probe_base_ms: int = 250  # the first wait after the circuit opens
    probe_jitter: float = 0.5  # the random part of each wait: 0.5 waits between half and all of it
    half_open_probes: int = 1  # probes let through at once; that many successes close the circuit


@dataclass(frozen=True, slots=True)
class BulkheadPolicy:
    """A concurrency cap per service: at most `max_in_flight` calls at once, `max_queue` more waiting."""

    # The HTTP transport pools 100 connections per service: the cap makes that queue explicit and bounded.
    max_in_flight: int = 100
    # Generous, since a wait never outlives the request deadline anyway: the N+1 baseline (batching off) asks
    # a service for one call per parent, thousands at once.
    max_queue: int = 10_000


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    """A service's policies (its timeouts are fields of ServiceConfig, as they always were)."""

    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    bulkhead: BulkheadPolicy = BulkheadPolicy()


@dataclass(frozen=True, slots=True)
class GatewayResilience:
    """What concerns a whole client request rather than one service."""

    # Every downstream call of a request ends by then; a client's `funnel-timeout-ms` may only shorten it.
    deadline_ms: int = 10_000
    # Load shedding: beyond this many requests in flight the server answers 503 with Retry-After at once.
    max_in_flight_requests: int = 1000


_PART_TYPES: dict[str, type[Any]] = {
    "retry": RetryPolicy,
    "breaker": BreakerPolicy,
    "bulkhead": BulkheadPolicy,
}


def merge_policy(*layers: Mapping[str, Mapping[str, Any]]) -> ResiliencePolicy:
    """A policy from partial sections (`{"retry": {"attempts": 1}}`), later layers overriding earlier ones field
    by field; what no layer sets keeps its default."""
    merged: dict[str, dict[str, Any]] = {name: {} for name in _PART_TYPES}
    for layer in layers:
        for name, values in layer.items():
            merged[name].update(values)
    return ResiliencePolicy(**{name: _PART_TYPES[name](**values) for name, values in merged.items()})
