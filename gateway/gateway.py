"""The Gateway: what builds one (a schema, its bindings from SDL and decorators, its services and config, the
start-up) and hands each request to gateway.request with the schema version current when it starts.

gateway = Gateway.from_config("funnel.yaml")

@gateway.resolver("Order.total", requires=("quantity", "unitPrice"))
def total(order): return order["quantity"] * order["unitPrice"]

result = await gateway.execute("{ orders(first: 10) { id total product { name } } }")

At start-up (`freeze`, or the first request) the bindings are checked and become `gateway.current`, a
SchemaVersion; `gateway.swap(version)` puts another in its place atomically (gateway.version).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from graphql import GraphQLSchema

from instrumentation.errors import PlanError
from instrumentation.latency import LatencyEstimates
from instrumentation.plan import Plan
from instrumentation.planner import Planner
from registry.bindings import (
    BatchBinding,
    Binding,
    FieldCoordinate,
    KeyFunction,
    LoaderBinding,
    LoaderFunction,
    ResolverBinding,
    SourceLocation,
)
from registry.config import CacheConfig, GatewayConfig, ObservabilityConfig, ServiceConfig, load_config
from registry.resilience import GatewayResilience

from .cache.setup import build_entity_cache
from .composition.gateway_schema import load_gateway_schema
from .federation.load import load_supergraph
from .observability import Observability
from .reload import source_files, sources_fingerprint
from .request import Request, Result, Runtime, run_request
from .resilience import BreakerSnapshot, ResilientTransport, circuit_states, request_deadline
from .schema.annotations import load_schema
from .schema.documents import DocumentCache, PreparedDocument
from .transport import ServiceClients
from .version import SchemaVersion

__all__ = ["Gateway", "Result", "SchemaVersion"]

F = TypeVar("F", bound=Callable[..., Any])


class Gateway:
    def __init__(
        self,
        schema: GraphQLSchema,
        services: Mapping[str, ServiceConfig] | Sequence[ServiceConfig],
        bindings: Sequence[Binding] = (),
        *,
        batching: bool = True,
        merge_levels: bool = True,
        clients: ServiceClients | None = None,
        config: GatewayConfig | None = None,
        resilience: GatewayResilience | None = None,
        observability: ObservabilityConfig | Observability | None = None,
    ) -> None:
        """`observability`: metrics, traces and request logs; by default the config's `observability:` section
        (all off without one). An Observability built beforehand is used as is (tests give theirs a span
        processor that keeps spans in memory). `merge_levels`: a fetch waits for a later call to its service
        where that costs the request no time (instrumentation.level_merge), judged by each service's observed
        latency."""
        if not isinstance(services, Mapping):
            services = {s.name: s for s in services}
        self._schema = schema
        self.services: Mapping[str, ServiceConfig] = MappingProxyType(dict(services))
        self.batching = batching
        self.merge_levels = merge_levels
        self.latency = LatencyEstimates()
        self.config = config
        if resilience is None:
            resilience = config.resilience if config is not None else GatewayResilience()
        self.resilience = resilience
        if observability is None and config is not None:
            observability = config.observability
        self._observability = observability
        self._bindings: list[Binding] = list(bindings)
        self._decorated: list[Binding] = []  # bound in Python: kept when a new schema version is built
        self._clients = clients
        self._frozen = False
        # The digests of the files it was loaded from (gateway.reload): a watcher compares the files with these.
        self.sources: Mapping[str, str | None] | None = None
        # Held by whatever builds and swaps in a new version (a reload, the registry's recomposition), so that
        # one built from older sources is never swapped in after one built from newer.
        self.schema_changes = asyncio.Lock()
        # How a reload reads the schema from the config (the registry's adds the services that joined).
        self.schema_loader: Callable[[GatewayConfig], tuple[GraphQLSchema, tuple[Binding, ...]]] = (
            load_gateway_schema
        )

    @classmethod
    def from_config(cls, source: str | Path | GatewayConfig, *, batching: bool | None = None) -> Gateway:
        """A gateway from a YAML file, or from a config already loaded (and perhaps changed, as `funnel demo`
        points the example config at the ports it chose)."""
        config = source if isinstance(source, GatewayConfig) else load_config(source)
        sources = sources_fingerprint(source_files(config))  # before reading them: a later change is seen
        if config.supergraph is not None:  # its subgraphs are the services
            schema, bindings, services = load_supergraph(
                config.supergraph, config.services, where=config.path, extension=config.schema_path
            )
            config = dataclasses.replace(config, services=MappingProxyType(services))
        else:
            # The hand-written schema, a composed schema's lock, or a composition made now (which asks services).
            schema, bindings = load_gateway_schema(config)
        gateway = cls(
            schema,
            config.services,
            bindings,
            batching=config.batching if batching is None else batching,
            merge_levels=config.merge_levels,
            config=config,
        )
        gateway.sources = sources
        return gateway

    @classmethod
    def from_sdl(
        cls,
        sdl: str,
        services: Mapping[str, ServiceConfig] | Sequence[ServiceConfig],
        *,
        path: str = "<schema>",
        batching: bool = True,
        merge_levels: bool = True,
        resilience: GatewayResilience | None = None,
        observability: ObservabilityConfig | Observability | None = None,
    ) -> Gateway:
        if not isinstance(services, Mapping):
            services = {s.name: s for s in services}
        schema, bindings = load_schema(sdl, path, services)
        return cls(
            schema,
            services,
            bindings,
            batching=batching,
            merge_levels=merge_levels,
            resilience=resilience,
            observability=observability,
        )

    # -- decorators: compile to the same bindings as the SDL annotations -----------------------------------

    def batch(
        self,
        coordinate: str,
        *,
        service: str,
        key: str | None = None,
        field: str | None = None,
        arg: str = "ids",
        entity: str | None = None,
        path: str | None = None,
        match: str = "id",
        select: str | None = None,
        requires: Sequence[str] = (),
    ) -> Callable[[KeyFunction], KeyFunction]:
        """Bind a field to a batched source. Call it, or decorate a function `parent -> key` with it."""
        binding = BatchBinding(
            FieldCoordinate.parse(coordinate),
            service,
            key=key,
            field=field,
            arg=arg,
            entity=entity,
            path=path,
            match=match,
            select=select,
            requires=tuple(requires),
            location=_caller(),
        )
        self._bind(binding)

        def decorate(function: KeyFunction) -> KeyFunction:
            needs = tuple(requires) or ((key,) if key else ())
            self._rebind(
                binding, dataclasses.replace(binding, key_function=function, requires=needs, key=None)
            )
            return function

        return decorate

    def resolver(self, coordinate: str, *, requires: Sequence[str] = ()) -> Callable[[F], F]:
        """A field computed in the gateway from fields of its parent (a plain function: no I/O)."""
        location = _caller()

        def decorate(function: F) -> F:
            if inspect.iscoroutinefunction(function):
                raise TypeError(f"{coordinate}: a resolver must not be async; use @gateway.loader for I/O")
            self._bind(
                ResolverBinding(FieldCoordinate.parse(coordinate), function, tuple(requires), location)
            )
            return function

        return decorate

    def loader(self, coordinate: str, *, requires: Sequence[str] = ()) -> Callable[[F], F]:
        """An in-process batch function `async def f(parents) -> values`, run with its level's batches."""
        location = _caller()

        def decorate(function: F) -> F:
            if not inspect.iscoroutinefunction(function):
                raise TypeError(f"{coordinate}: a loader must be an async function of the list of parents")
            loader: LoaderFunction = function
            self._bind(LoaderBinding(FieldCoordinate.parse(coordinate), loader, tuple(requires), location))
            return function

        return decorate

    def _bind(self, binding: Binding) -> None:
        if self._frozen:
            raise RuntimeError("the gateway has started: bind fields before the first request")
        self._bindings.append(binding)
        self._decorated.append(binding)

    def _rebind(self, old: Binding, new: Binding) -> None:
        if self._frozen:
            raise RuntimeError("the gateway has started: bind fields before the first request")
        self._bindings[self._bindings.index(old)] = new
        self._decorated[self._decorated.index(old)] = new

    # -- start-up -------------------------------------------------------------------------------------------

    def freeze(self) -> None:
        """Check every binding (all problems at once) and build the first schema version; nothing can be bound
        after."""
        if self._frozen:
            return
        self.current = self._build(self._schema, self._bindings)
        self.documents = DocumentCache(self.current.schema)
        self.documents.renew(self.current.schema, self.current.id)
        if self._clients is None:
            inflight = self.config.cache.inflight if self.config is not None else True
            stack = functools.partial(ResilientTransport, inflight=inflight)
            self._clients = ServiceClients(self.services, transport_factory=stack)
        source = self._observability
        # Built here, not at the first request: a feature on without its package must stop start-up.
        self.observability = source if isinstance(source, Observability) else Observability(source)
        self.observability.watch(self._clients, self.documents)
        if self.observability.metrics is not None:
            self.observability.metrics.watch_schema(lambda: (self.current.id, self.current.loaded_at))
        observer = self.observability if self.observability.active else None
        cache_config = self.config.cache if self.config is not None else CacheConfig()
        redis = self.config.redis if self.config is not None else None
        self.entity_cache = build_entity_cache(cache_config, redis, self.services)
        if self.observability.metrics is not None:
            self.observability.metrics.watch_caches(entity_cache=self.entity_cache)
        self.runtime = Runtime(
            self._clients,
            observer,
            {name: s.max_batch for name, s in self.services.items()},
            {name: s.max_keys for name, s in self.services.items()},
            self.latency,
            self.entity_cache,
        )
        self._frozen = True

    # -- schema versions ------------------------------------------------------------------------------------

    def build_version(
        self,
        schema: GraphQLSchema,
        bindings: Sequence[Binding],
        *,
        decorated: bool = True,
        services: Mapping[str, ServiceConfig] | None = None,
    ) -> SchemaVersion:
        """A new schema version for this gateway's services (or `services`, those it will have when it is
        swapped in: the registry's join at run time), checked (ConfigError listing every problem); the
        bindings made with the decorators join those given, unless `decorated` is false or a given binding is
        for the same field. Nothing changes until it is swapped in."""
        given = {b.coordinate for b in bindings}
        extra = [b for b in self._decorated if b.coordinate not in given] if decorated else []
        return self._build(schema, [*bindings, *extra], services)

    def _build(
        self,
        schema: GraphQLSchema,
        bindings: Sequence[Binding],
        services: Mapping[str, ServiceConfig] | None = None,
    ) -> SchemaVersion:
        return SchemaVersion.build(
            schema,
            bindings,
            self.services if services is None else services,
            # Without batching there is no shared call for a fetch to wait for.
            merge_levels=self.merge_levels and self.batching,
            latency=self.latency.snapshot,
            cache=self.config.cache if self.config is not None else None,
        )

    def swap(
        self, version: SchemaVersion, *, services: Mapping[str, ServiceConfig] | None = None
    ) -> SchemaVersion:
        """Make `version` current, atomically, and return the one it replaces. Requests in flight finish on the
        version they started with; the next request uses this one. The document and plan caches start afresh.
        `services`: the services it was built for, when they changed (the registry's)."""
        self.freeze()
        previous = self.current
        if services is not None:
            self.services = MappingProxyType(dict(services))
        self.current = version
        self.documents.renew(version.schema, version.id)
        return previous

    @property
    def schema(self) -> GraphQLSchema:
        """The current version's schema (before start-up: the one the gateway was made with)."""
        return self.current.schema if self._frozen else self._schema

    @property
    def bindings(self) -> Mapping[FieldCoordinate, Binding]:
        self.freeze()
        return self.current.bindings

    @property
    def planner(self) -> Planner:
        self.freeze()
        return self.current.planner

    @property
    def functions(self) -> Mapping[FieldCoordinate, Callable[..., Any]]:
        self.freeze()
        return self.current.functions

    @property
    def introspection_schema(self) -> GraphQLSchema:
        self.freeze()
        return self.current.introspection_schema

    @property
    def max_batch(self) -> Mapping[str, int]:
        self.freeze()
        return self.runtime.max_batch

    @property
    def max_keys(self) -> Mapping[str, int]:
        self.freeze()
        return self.runtime.max_keys

    @property
    def clients(self) -> ServiceClients:
        self.freeze()
        assert self._clients is not None
        return self._clients

    def circuits(self) -> dict[str, BreakerSnapshot]:
        """The circuit breaker (state, recent calls and failures) of each service with one instance, for `/ready`
        and metrics; a service with several has one per instance (`resilience.instance_states`)."""
        return circuit_states(self.clients)

    async def close(self) -> None:
        if self._frozen:
            self.observability.close()
            self.documents.close()
            await self.entity_cache.close()
        if self._clients is not None:
            await self._clients.close()

    async def __aenter__(self) -> Gateway:
        self.freeze()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # -- requests -------------------------------------------------------------------------------------------

    def plan(
        self, query: str, operation_name: str | None = None, variables: Mapping[str, Any] | None = None
    ) -> Plan:
        """The plan for a query, made (or taken from the cache) without calling anything."""
        self.freeze()
        version = self.current
        prepared = self.documents.get(query)
        if prepared.document is None:
            raise PlanError("; ".join(e.message for e in prepared.errors))
        return version.plan(prepared, operation_name, variables or {})

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout_ms: float | None = None,
        request_id: str | None = None,
        batching: bool | None = None,
    ) -> dict[str, Any]:
        result = await self.run(
            query,
            variables,
            operation_name,
            headers,
            timeout_ms=timeout_ms,
            request_id=request_id,
            batching=batching,
        )
        return result.response()

    def prepare(self, query: str) -> PreparedDocument:
        """The query parsed and validated (cached per text); `run` accepts it in place of the text, so that a
        server that inspects the document first does not look it up twice."""
        self.freeze()
        return self.documents.get(query)

    async def run(
        self,
        query: str | PreparedDocument,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout_ms: float | None = None,
        request_id: str | None = None,
        batching: bool | None = None,
    ) -> Result:
        """Answer one request. Its downstream calls end by its deadline: `resilience.deadline_ms` from now, or the
        client's `timeout_ms` (the `funnel-timeout-ms` header) when that is shorter. `request_id` goes to every
        service as `x-request-id` and into the request's log lines and span. `batching` overrides the gateway's
        for this request only (the same plan, one call per parent when false), to compare the two."""
        deadline = request_deadline(self.resilience.deadline_ms, timeout_ms)
        self.freeze()
        batched = self.batching if batching is None else batching
        observer = self.runtime.observer
        if observer is None:
            return await self._run(query, variables, operation_name, headers, deadline, request_id, batched)
        with observer.request(headers, request_id) as observed:
            observed.result = await self._run(
                query, variables, operation_name, headers, deadline, request_id, batched
            )
        return observed.result

    async def _run(
        self,
        query: str | PreparedDocument,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        headers: Mapping[str, str] | None,
        deadline: float,
        request_id: str | None,
        batching: bool,
    ) -> Result:
        version = self.current  # read once: the request keeps it to its end, whatever is swapped in meanwhile
        prepared = query if isinstance(query, PreparedDocument) else self.documents.get(query)
        if prepared.version != version.id:  # prepared for another version: validate it again for this one
            prepared = self.documents.prepare(prepared.query)
        request = Request(
            prepared, variables or {}, operation_name, headers or {}, deadline, request_id, batching
        )
        return await run_request(version, self.runtime, request)


def _caller() -> SourceLocation:
    frame = sys._getframe(2)
    return SourceLocation(frame.f_code.co_filename, frame.f_lineno)
