"""Prometheus metrics of one gateway, in a registry of its own (never prometheus-client's global one: two
gateways in one process, or a test after another, must not add up).

Counted as it happens (execution hooks and the end of each request):

| metric | labels |
|---|---|
| `funnel_requests_total` | operation, outcome (ok, partial, failed, invalid, rejected, exception) |
| `funnel_request_duration_seconds` (histogram) | operation |
| `funnel_downstream_calls_total` | service, binding, outcome (ok or the error code) |
| `funnel_downstream_call_duration_seconds` (histogram) | service, binding |
| `funnel_downstream_batch_keys` (histogram: keys per call of a batched field) | service, binding |
| `funnel_downstream_keys_requested_total` (keys gathered from parents, duplicates included) | service |
| `funnel_downstream_keys_deduplicated_total` (duplicates not sent thanks to batching) | service |
| `funnel_schema_reloads_total` (schema changes checked while serving) | outcome (applied, refused) |
| `funnel_operation_cost` (histogram: the cost of server.max_cost, before running, on the answer) | kind |

Read from the gateway's state when scraped (nothing is spent on them between scrapes):

| metric | labels |
|---|---|
| `funnel_downstream_retries_total`, `funnel_downstream_retries_refused_total` (retry budget) | service |
| `funnel_downstream_inflight_shared_total` (calls answered by an identical call already in flight) | service |
| `funnel_circuit_breaker_state` (1 for the current state, 0 for the others) | service, endpoint, state |
| `funnel_circuit_breaker_opened_total`, `funnel_circuit_breaker_rejected_total` | service, endpoint |
| `funnel_bulkhead_in_flight`, `funnel_bulkhead_waiting` (gauges), `funnel_bulkhead_rejected_total` | service |
| `funnel_instance_healthy` (1 in rotation, 0 out: services with several instances only) | service, endpoint |
| `funnel_requests_shed_total`, `funnel_requests_in_flight` (load shedding, when the server sheds) | — |
| `funnel_cache_hits_total`, `funnel_cache_misses_total`, `funnel_cache_entries` | cache (document, plan) |
| `funnel_schema_version` (the live version, valued at its load time) | version |
| `funnel_entity_cache_lookups_total` (keys looked up in the entity cache) | result (hit, negative_hit, miss) |
| `funnel_entity_cache_shared_total` (keys that waited for another request's fetch), `..._writes_total`, | — |
| `..._uncacheable_total`, `..._invalidations_total`, `..._evictions_total` (pushed out by the bounds) | — |
| `funnel_entity_cache_entries`, `funnel_entity_cache_bytes` (the memory tier) | — |
| `funnel_persisted_queries_total` | result (hit, miss, registered) |
| `funnel_redis_round_trips_total`, `funnel_redis_seconds_total`, `funnel_redis_errors_total` | feature |
| `funnel_redis_skipped_total` (calls not tried in the second after a failure) | feature (cache, apq) |
| `funnel_registry_instances` (registered instances), `funnel_registry_available` (1: its store answers) | service |

Every label value is bounded: services and endpoints come from the config, bindings from the schema, outcomes
are a fixed set. Operation names come from clients, so only valid GraphQL names count, and only the first
`max_operations` distinct ones: later ones are `other`, an anonymous operation is `anonymous`. A breaker's
`endpoint` is its instance's URL without credentials (not `instance`, which Prometheus sets on every series it
scrapes): one series per instance, so a service with several has several; instances registered at run time
are bounded by `registry.max_instances`.

With `--workers N` every worker's metrics are summed in one exposition (`multiprocess.py`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from instrumentation.call import Call, CallRecord
from instrumentation.errors import DownstreamError
from instrumentation.hooks import ExecutionHooks, LevelGroup, describe_fetches
from instrumentation.plan import BatchFetch, Fetch

from ..cache import MemoryCache, RedisCache, RedisStats, TieredCache
from ..resilience import LoadShedder, ResilientTransport
from ..resilience.breaker import BreakerState
from ..schema.documents import DocumentCache
from ..transport import ServiceClients
from .multiprocess import StateMirror, shared_directory, shared_registry

if TYPE_CHECKING:
    from ..cache.entities import EntityCache
    from ..persisted.queries import PersistedQueries
    from ..registry.store import RegistryStore

__all__ = [
    "BREAKER_STATES",
    "COST_BUCKETS",
    "KEY_BUCKETS",
    "SCHEMA_RELOAD_OUTCOMES",
    "BoundedLabels",
    "GatewayMetrics",
]

SCHEMA_RELOAD_OUTCOMES: Final = ("applied", "refused")
KEY_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, float("inf"))
COST_BUCKETS: Final = (1, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, float("inf"))
BREAKER_STATES: Final[tuple[BreakerState, ...]] = ("closed", "open", "half_open")
_GRAPHQL_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_NOTHING: Final[AbstractContextManager[None]] = contextlib.nullcontext()


class BoundedLabels:
    """At most `limit` distinct label values, first come first kept; the rest (and invalid ones) are `other`."""

    __slots__ = ("_seen", "limit", "missing", "valid")

    def __init__(self, limit: int, *, valid: re.Pattern[str] | None = None, missing: str = "none") -> None:
        self.limit = limit
        self.valid = valid
        self.missing = missing
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        if not value:
            return self.missing
        if value in self._seen:
            return value
        if len(self._seen) >= self.limit or (self.valid is not None and not self.valid.fullmatch(value)):
            return "other"
        self._seen.add(value)
        return value


class GatewayMetrics(ExecutionHooks):
    """The gateway's metrics; also the execution hooks that count downstream calls and keys."""

    def __init__(self, *, max_operations: int = 100, max_bindings: int = 1000) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = BoundedLabels(max_operations, valid=_GRAPHQL_NAME, missing="anonymous")
        # Bounded by the schema already; the cap only guards against a schema with very many root fields
        # combined into calls in very many ways.
        self.bindings = BoundedLabels(max_bindings)
        registry = self.registry
        self.requests = Counter(
            "funnel_requests",
            "GraphQL requests answered, by operation name and outcome.",
            ["operation", "outcome"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "funnel_request_duration_seconds",
            "Time to answer a GraphQL request, from its arrival in the gateway to its response.",
            ["operation"],
            registry=registry,
        )
        self.calls = Counter(
            "funnel_downstream_calls",
            "Downstream calls (each retry included in its call), by service, binding and outcome.",
            ["service", "binding", "outcome"],
            registry=registry,
        )
        self.call_duration = Histogram(
            "funnel_downstream_call_duration_seconds",
            "Time of a downstream call, its retries included.",
            ["service", "binding"],
            registry=registry,
        )
        self.batch_keys = Histogram(
            "funnel_downstream_batch_keys",
            "Keys (ids or entity representations) asked for in one downstream call.",
            ["service", "binding"],
            buckets=KEY_BUCKETS,
            registry=registry,
        )
        self.keys_requested = Counter(
            "funnel_downstream_keys_requested",
            "Keys gathered from the parents of batched fields, duplicates included.",
            ["service"],
            registry=registry,
        )
        self.keys_deduplicated = Counter(
            "funnel_downstream_keys_deduplicated",
            "Keys not sent because another parent at the same level asked for the same one.",
            ["service"],
            registry=registry,
        )
        self.operation_cost = Histogram(
            "funnel_operation_cost",
            "Cost of the operations answered (server.max_cost): estimated from the schema before running, and"
            " actual, counted on the answer.",
            ["kind"],
            buckets=COST_BUCKETS,
            registry=registry,
        )
        self.schema_reloads = Counter(
            "funnel_schema_reloads",
            "Schema changes checked while serving: applied, or refused (the previous schema kept serving).",
            ["outcome"],
            registry=registry,
        )
        for (
            outcome
        ) in SCHEMA_RELOAD_OUTCOMES:  # both exist from the start: an alert on `refused` has a series
            self.schema_reloads.labels(outcome)
        self._state = _StateCollector()
        registry.register(self._state)
        # Several workers (`funnel serve --workers N`): every worker's files are read at each scrape.
        self.shared = shared_directory()
        self.mirror = StateMirror(self._state.collect) if self.shared is not None else None

    def watch(
        self,
        clients: ServiceClients,
        documents: DocumentCache,
        shedders: Callable[[], Iterable[LoadShedder]] = tuple,
    ) -> None:
        """Read these when scraped: the services' resilience layers, the caches, and the load shedders."""
        self._state.clients = clients
        self._state.documents = documents
        self._state.shedders = shedders

    def watch_caches(
        self, entity_cache: EntityCache | None = None, persisted: PersistedQueries | None = None
    ) -> None:
        """Read the entity cache's and the persisted queries' counters when scraped."""
        if entity_cache is not None:
            self._state.entity_cache = entity_cache
        if persisted is not None:
            self._state.persisted = persisted

    def watch_schema(self, current: Callable[[], tuple[str, float]]) -> None:
        """Read the live schema version (its id and load time) when scraped."""
        self._state.schema = current

    def watch_registry(self, store: RegistryStore) -> None:
        """Read the registry's instances and whether its store answers when scraped."""
        self._state.registry = store

    # -- counting ------------------------------------------------------------------------------------------

    def observe_request(self, operation: str | None, outcome: str, seconds: float) -> None:
        label = self.operations(operation)
        self.requests.labels(label, outcome).inc()
        self.request_duration.labels(label).observe(seconds)

    def observe_cost(self, estimated: int, actual: int) -> None:
        self.operation_cost.labels("estimated").observe(estimated)
        self.operation_cost.labels("actual").observe(actual)

    def schema_reloaded(self, applied: bool) -> None:
        """A schema change was checked: swapped in (`applied`) or refused."""
        self.schema_reloads.labels("applied" if applied else "refused").inc()

    def level(self, group: LevelGroup) -> AbstractContextManager[None]:
        if group.requested:
            self.keys_requested.labels(group.service).inc(group.requested)
            self.keys_deduplicated.labels(group.service).inc(group.requested - group.distinct)
        return _NOTHING

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        binding = self.bindings(describe_fetches(fetches))
        self.calls.labels(record.service, binding, record.outcome).inc()
        self.call_duration.labels(record.service, binding).observe(record.ms / 1000)
        if isinstance(fetches[0], BatchFetch):  # a root field's call is not a batch
            self.batch_keys.labels(record.service, binding).observe(record.keys)

    # -- exposition ----------------------------------------------------------------------------------------

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry in the format the scraper asks for (Prometheus text, or OpenMetrics), and its type."""
        encode, content_type = choose_encoder(accept or "")
        if self.shared is not None and self.mirror is not None:
            self.mirror.sync()  # this worker's state as of now; the others' as of their last second
            return encode(shared_registry(self.shared)), content_type
        return encode(self.registry), content_type


class _StateCollector:
    """What the gateway keeps anyway (resilience layers, caches, the load shedder), turned into metrics at
    scrape time only."""

    def __init__(self) -> None:
        self.clients: ServiceClients | None = None
        self.documents: DocumentCache | None = None
        self.shedders: Callable[[], Iterable[LoadShedder]] = tuple
        self.schema: Callable[[], tuple[str, float]] | None = None  # the live version's id and load time
        self.entity_cache: EntityCache | None = None
        self.persisted: PersistedQueries | None = None
        self.registry: RegistryStore | None = None

    def describe(self) -> Iterable[Metric]:
        return ()  # the families depend on the gateway watched; auto_describe must not collect() early

    def collect(self) -> Iterator[Metric]:
        if self.clients is not None:
            yield from _resilience(self.clients)
        if self.documents is not None:
            yield from _caches(self.documents)
        yield from _shedding(list(self.shedders()))
        redis: list[tuple[str, RedisStats]] = []
        if self.entity_cache is not None:
            yield from _entity_cache(self.entity_cache)
            redis += [("cache", r.stats) for r in _redis_tiers(self.entity_cache.tier)]
        if self.persisted is not None:
            yield from _persisted(self.persisted)
            if self.persisted.store is not None:
                redis += [("apq", r.stats) for r in _redis_tiers(self.persisted.store)]
        if redis:
            yield from _redis(redis)
        if self.schema is not None:
            version, loaded_at = self.schema()
            live = GaugeMetricFamily(
                "funnel_schema_version",
                "The schema version serving (its id as a label), valued at when it was loaded (Unix time).",
                labels=["version"],
            )
            live.add_metric([version], loaded_at)
            yield live
        if self.registry is not None:
            yield from _registry(self.registry)


def _resilience(clients: ServiceClients) -> Iterator[Metric]:
    stacks = {
        name: transport
        for name, transport in sorted(clients.transports.items())
        if isinstance(transport, ResilientTransport)
    }
    retries = CounterMetricFamily(
        "funnel_downstream_retries", "Retries made (after the first try of a call).", labels=["service"]
    )
    refused = CounterMetricFamily(
        "funnel_downstream_retries_refused",
        "Retries not made because the service's retry budget was spent.",
        labels=["service"],
    )
    state = GaugeMetricFamily(
        "funnel_circuit_breaker_state",
        "Circuit breaker state per service instance: 1 for the current state, 0 for the others.",
        labels=["service", "endpoint", "state"],
    )
    opened = CounterMetricFamily(
        "funnel_circuit_breaker_opened",
        "Times the circuit of a service instance has opened.",
        labels=["service", "endpoint"],
    )
    rejected = CounterMetricFamily(
        "funnel_circuit_breaker_rejected",
        "Calls failed at once because the circuit was open.",
        labels=["service", "endpoint"],
    )
    in_flight = GaugeMetricFamily(
        "funnel_bulkhead_in_flight", "Downstream calls in flight.", labels=["service"]
    )
    waiting = GaugeMetricFamily(
        "funnel_bulkhead_waiting", "Downstream calls waiting for a free slot.", labels=["service"]
    )
    shared = CounterMetricFamily(
        "funnel_downstream_inflight_shared",
        "Downstream queries not sent because an identical one was in flight: they shared its answer.",
        labels=["service"],
    )
    full = CounterMetricFamily(
        "funnel_bulkhead_rejected",
        "Downstream calls refused because the service's concurrency cap and queue were full.",
        labels=["service"],
    )
    healthy = GaugeMetricFamily(
        "funnel_instance_healthy",
        "1 while an instance of a service with several is in rotation (its health checks pass), else 0.",
        labels=["service", "endpoint"],
    )
    for name, stack in stacks.items():
        retries.add_metric([name], stack.retry.retries)
        refused.add_metric([name], stack.retry.refused)
        instances = stack.pool.instances
        for instance in instances:
            snapshot = instance.breaker.snapshot()
            for each in BREAKER_STATES:
                state.add_metric([name, snapshot.url, each], 1.0 if snapshot.state == each else 0.0)
            opened.add_metric([name, snapshot.url], snapshot.opened)
            rejected.add_metric([name, snapshot.url], snapshot.rejected)
            if len(instances) > 1:  # with one there are no health checks
                healthy.add_metric([name, snapshot.url], 1.0 if instance.healthy else 0.0)
        # The bulkheads are per instance; the service's figures are their sums, as they were with one.
        in_flight.add_metric([name], sum(i.bulkhead.in_flight for i in instances))
        waiting.add_metric([name], sum(i.bulkhead.waiting for i in instances))
        full.add_metric([name], sum(i.bulkhead.rejected for i in instances))
        shared.add_metric([name], stack.inflight.shared)
    return iter((retries, refused, state, opened, rejected, in_flight, waiting, full, shared, healthy))


def _caches(documents: DocumentCache) -> Iterator[Metric]:
    hits = CounterMetricFamily(
        "funnel_cache_hits",
        "Lookups answered from a cache: parsed and validated documents, plans.",
        labels=["cache"],
    )
    misses = CounterMetricFamily(
        "funnel_cache_misses", "Lookups that had to parse and validate, or plan.", labels=["cache"]
    )
    entries = GaugeMetricFamily("funnel_cache_entries", "Query texts held in the cache.", labels=["cache"])
    hits.add_metric(["document"], documents.documents.hits)
    misses.add_metric(["document"], documents.documents.misses)
    hits.add_metric(["plan"], documents.plan_totals.hits)
    misses.add_metric(["plan"], documents.plan_totals.misses)
    entries.add_metric(["document"], len(documents.documents))
    return iter((hits, misses, entries))


def _redis_tiers(tier: object) -> list[RedisCache]:
    if isinstance(tier, RedisCache):
        return [tier]
    return [tier.back] if isinstance(tier, TieredCache) and isinstance(tier.back, RedisCache) else []


def _memory_tier(tier: object) -> MemoryCache | None:
    if isinstance(tier, MemoryCache):
        return tier
    return tier.front if isinstance(tier, TieredCache) else None


def _entity_cache(cache: EntityCache) -> Iterator[Metric]:
    stats = cache.stats
    lookups = CounterMetricFamily(
        "funnel_entity_cache_lookups",
        "Keys of batched fields looked up in the entity cache: found, found as absent, not found.",
        labels=["result"],
    )
    lookups.add_metric(["hit"], stats.hits)
    lookups.add_metric(["negative_hit"], stats.negative_hits)
    lookups.add_metric(["miss"], stats.misses)
    yield lookups
    for name, value, text in (
        ("shared", stats.shared, "Keys that waited for another request's fetch of them (single flight)."),
        ("writes", stats.writes, "Entries written back to the cache."),
        (
            "uncacheable",
            stats.uncacheable,
            "Answers not kept: an error, or larger than cache.max_value_bytes.",
        ),
        (
            "invalidations",
            stats.invalidations,
            "Invalidations applied (POST /cache/invalidate, channel events).",
        ),
    ):
        family = CounterMetricFamily(f"funnel_entity_cache_{name}", text)
        family.add_metric([], value)
        yield family
    memory = _memory_tier(cache.tier)
    if memory is not None:
        evictions = CounterMetricFamily(
            "funnel_entity_cache_evictions", "Entries pushed out of the memory tier by its bounds."
        )
        evictions.add_metric([], memory.evictions)
        entries = GaugeMetricFamily("funnel_entity_cache_entries", "Entries in the memory tier.")
        entries.add_metric([], len(memory))
        size = GaugeMetricFamily("funnel_entity_cache_bytes", "Bytes held by the memory tier, estimated.")
        size.add_metric([], memory.bytes)
        yield from (evictions, entries, size)


def _registry(store: RegistryStore) -> Iterator[Metric]:
    instances = GaugeMetricFamily(
        "funnel_registry_instances",
        "Instances registered, by service (bounded by registry.max_services).",
        labels=["service"],
    )
    for name, registered in store.state.services.items():
        instances.add_metric([name], len(registered))
    available = GaugeMetricFamily(
        "funnel_registry_available", "1 while the registry's store answers, 0 while the last state serves."
    )
    available.add_metric([], 1 if store.available else 0)
    yield from (instances, available)


def _persisted(persisted: PersistedQueries) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "funnel_persisted_queries",
        "Persisted query hashes: answered with their text, not found (the client sends it), registered.",
        labels=["result"],
    )
    stats = persisted.stats
    family.add_metric(["hit"], stats.hits)
    family.add_metric(["miss"], stats.misses)
    family.add_metric(["registered"], stats.registered)
    yield family


def _redis(features: list[tuple[str, RedisStats]]) -> Iterator[Metric]:
    families = {
        "round_trips": CounterMetricFamily(
            "funnel_redis_round_trips", "Round trips to Redis.", labels=["feature"]
        ),
        "seconds": CounterMetricFamily(
            "funnel_redis_seconds", "Time spent in round trips to Redis.", labels=["feature"]
        ),
        "errors": CounterMetricFamily(
            "funnel_redis_errors",
            "Round trips that failed or timed out (the feature carried on).",
            labels=["feature"],
        ),
        "skipped": CounterMetricFamily(
            "funnel_redis_skipped",
            "Round trips not tried, in the second after a failure.",
            labels=["feature"],
        ),
    }
    for feature, stats in features:
        for attribute, family in families.items():
            family.add_metric([feature], getattr(stats, attribute))
    yield from families.values()


def _shedding(shedders: list[LoadShedder]) -> Iterator[Metric]:
    if not shedders:
        return
    shed = CounterMetricFamily(
        "funnel_requests_shed", "Requests answered 503 at once because too many were in flight."
    )
    shed.add_metric([], sum(s.shed for s in shedders))
    in_flight = GaugeMetricFamily("funnel_requests_in_flight", "Requests being answered.")
    in_flight.add_metric([], sum(s.in_flight for s in shedders))
    yield shed
    yield in_flight
