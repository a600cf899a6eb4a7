"""The Gateway: a schema, its bindings and its services, frozen at start-up, answering GraphQL requests.

gateway = Gateway.from_config("funnel.yaml")

@gateway.resolver("Order.total", requires=("quantity", "unitPrice"))
def total(order): return order["quantity"] * order["unitPrice"]

result = await gateway.execute("{ orders(first: 10) { id total product { name } } }")
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from graphql import GraphQLError, GraphQLSchema, execute_sync, get_operation_ast
from graphql.execution.values import get_variable_values

from instrumentation.call import CallRecord
from instrumentation.errors import PlanError
from instrumentation.executor import execute_plan
from instrumentation.plan import Plan
from instrumentation.planner import Planner
from instrumentation.projection import project
from registry.bindings import (
    BatchBinding,
    Binding,
    FieldCoordinate,
    KeyFunction,
    LoaderBinding,
    LoaderFunction,
    ResolverBinding,
    SourceLocation,
    binding_functions,
)
from registry.config import GatewayConfig, ObservabilityConfig, ServiceConfig, load_config
from registry.errors import ConfigError
from registry.resilience import GatewayResilience

from .cache.inflight import unshared
from .composition.gateway_schema import load_gateway_schema
from .observability import REQUEST_ID_HEADER, Observability
from .resilience import BreakerSnapshot, ResilientTransport, circuit_states, request_deadline
from .schema.annotations import load_schema, validate_bindings
from .schema.documents import DocumentCache, PreparedDocument
from .schema.policy_directives import POLICY_DIRECTIVE_NAMES
from .transport import ServiceClients

__all__ = ["Gateway", "Result"]

F = TypeVar("F", bound=Callable[..., Any])

_PRIVATE_DIRECTIVES = frozenset({"remote", "batch", *POLICY_DIRECTIVE_NAMES})


@dataclass(slots=True)
class Result:
    """The answer to one request, with what it took: the plan and every downstream call."""

    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    plan: Plan | None = None
    calls: list[CallRecord] = field(default_factory=list)
    request_error: bool = False  # the request could not be parsed, validated or planned: no execution
    operation_name: str | None = None  # the operation run (its name in the document), or the one asked for

    def response(self) -> dict[str, Any]:
        if self.request_error:
            return {"errors": self.errors}
        response: dict[str, Any] = {"data": self.data}
        if self.errors:
            response["errors"] = self.errors
        return response


class Gateway:
    def __init__(
        self,
        schema: GraphQLSchema,
        services: Mapping[str, ServiceConfig] | Sequence[ServiceConfig],
        bindings: Sequence[Binding] = (),
        *,
        batching: bool = True,
        clients: ServiceClients | None = None,
        config: GatewayConfig | None = None,
        resilience: GatewayResilience | None = None,
        observability: ObservabilityConfig | Observability | None = None,
    ) -> None:
        """`observability`: metrics, traces and request logs; by default the config's `observability:` section
        (all off without one). An Observability built beforehand is used as is (tests give theirs a span
        processor that keeps spans in memory)."""
        if not isinstance(services, Mapping):
            services = {s.name: s for s in services}
        self.schema = schema
        self.services: Mapping[str, ServiceConfig] = MappingProxyType(dict(services))
        self.batching = batching
        self.config = config
        if resilience is None:
            resilience = config.resilience if config is not None else GatewayResilience()
        self.resilience = resilience
        if observability is None and config is not None:
            observability = config.observability
        self._observability = observability
        self._bindings: list[Binding] = list(bindings)
        self._clients = clients
        self._frozen = False

    @classmethod
    def from_config(cls, source: str | Path | GatewayConfig, *, batching: bool | None = None) -> Gateway:
        """A gateway from a YAML file, or from a config already loaded (and perhaps changed, as `funnel demo`
        points the example config at the ports it chose)."""
        config = source if isinstance(source, GatewayConfig) else load_config(source)
        # The hand-written schema, a composed schema's lock, or a composition made now (which asks the services).
        schema, bindings = load_gateway_schema(config)
        return cls(
            schema,
            config.services,
            bindings,
            batching=config.batching if batching is None else batching,
            config=config,
        )

    @classmethod
    def from_sdl(
        cls,
        sdl: str,
        services: Mapping[str, ServiceConfig] | Sequence[ServiceConfig],
        *,
        path: str = "<schema>",
        batching: bool = True,
        resilience: GatewayResilience | None = None,
        observability: ObservabilityConfig | Observability | None = None,
    ) -> Gateway:
        if not isinstance(services, Mapping):
            services = {s.name: s for s in services}
        schema, bindings = load_schema(sdl, path, services)
        return cls(
            schema, services, bindings, batching=batching, resilience=resilience, observability=observability
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

    def _rebind(self, old: Binding, new: Binding) -> None:
        if self._frozen:
            raise RuntimeError("the gateway has started: bind fields before the first request")
        self._bindings[self._bindings.index(old)] = new

    # -- start-up -------------------------------------------------------------------------------------------

    def freeze(self) -> None:
        """Check every binding (all problems at once) and build the planner; nothing can be bound after."""
        if self._frozen:
            return
        problems = validate_bindings(self.schema, self._bindings, self.services)
        if problems:
            raise ConfigError(problems)
        self.bindings: Mapping[FieldCoordinate, Binding] = MappingProxyType(
            {b.coordinate: b for b in self._bindings}
        )
        self.planner = Planner(
            self.schema, self.bindings, {name: s.protocol for name, s in self.services.items()}
        )
        self.functions = binding_functions(self._bindings)
        self.documents = DocumentCache(self.schema)
        self.max_batch = {name: s.max_batch for name, s in self.services.items()}
        self.max_keys = {name: s.max_keys for name, s in self.services.items()}
        self.introspection_schema = _public_schema(self.schema)
        if self._clients is None:
            inflight = self.config.cache.inflight if self.config is not None else True
            stack = functools.partial(ResilientTransport, inflight=inflight)
            self._clients = ServiceClients(self.services, transport_factory=stack)
        source = self._observability
        # Built here, not at the first request: a feature on without its package must stop start-up.
        self.observability = source if isinstance(source, Observability) else Observability(source)
        self.observability.watch(self._clients, self.documents)
        self._observer = self.observability if self.observability.active else None
        self._frozen = True

    @property
    def clients(self) -> ServiceClients:
        self.freeze()
        assert self._clients is not None
        return self._clients

    def circuits(self) -> dict[str, BreakerSnapshot]:
        """Each service's circuit breaker (state, recent calls and failures), for `/ready` and metrics."""
        return circuit_states(self.clients)

    async def close(self) -> None:
        if self._frozen:
            self.observability.close()
            self.documents.close()
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
        prepared = self.documents.get(query)
        if prepared.document is None:
            raise PlanError("; ".join(e.message for e in prepared.errors))
        return self._plan(prepared, operation_name, variables or {})

    def _plan(
        self, prepared: PreparedDocument, operation_name: str | None, values: Mapping[str, Any]
    ) -> Plan:
        document = prepared.document
        assert document is not None
        key = (operation_name, tuple(_condition(values, n) for n in prepared.conditions))
        return prepared.plans.get_or_make(key, lambda: self.planner.plan(document, operation_name, values))

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
        observer = self._observer
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
        prepared = query if isinstance(query, PreparedDocument) else self.documents.get(query)
        if prepared.document is None:
            return _request_error(prepared.errors, operation_name)
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            message = (
                f"Unknown operation named '{operation_name}'."
                if operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            return _request_error([GraphQLError(message)], operation_name)
        name = operation.name.value if operation.name is not None else operation_name
        raw = dict(variables or {})
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), raw)
        if isinstance(coerced, list):
            return _request_error(coerced, name)
        values = coerced.coerced
        try:
            plan = self._plan(prepared, operation_name, values)
        except PlanError as error:
            located = GraphQLError(error.message, error.node)
            if error.execution:
                return Result(None, [dict(located.formatted)], operation_name=name)
            return _request_error([located], name)
        root: dict[str, Any] = {}
        if plan.introspection is not None:
            document = plan.introspection.document
            introspection = execute_sync(self.introspection_schema, document, variable_values=raw)
            root[plan.introspection.key] = introspection.data
        observer = self._observer
        send = self.clients.fetcher(
            headers or {},
            extra_headers={REQUEST_ID_HEADER: request_id} if request_id else {},
            call_headers=observer.call_headers if observer is not None else None,
        )
        # With batching off, every call goes out: the N+1 baseline is not de-duplicated in flight either.
        with contextlib.nullcontext() if batching else unshared():
            execution = await execute_plan(
                plan,
                send,
                variables=raw,
                coerced_variables=values,
                batching=batching,
                max_batch=self.max_batch,
                max_keys=self.max_keys,
                root=root,
                deadline=deadline,
                hooks=observer.hooks if observer is not None else None,
                functions=self.functions,
            )
        data, errors = project(plan.projection, execution.data)
        return Result(data, errors, plan, execution.calls, operation_name=name)


def _condition(values: Mapping[str, Any], name: str) -> bool | None:
    """A condition variable's part of the plan key: true, false, or an explicit null (which fails)."""
    if name in values and values[name] is None:
        return None
    return bool(values.get(name))


def _request_error(errors: Sequence[GraphQLError], operation_name: str | None = None) -> Result:
    return Result(
        None, [dict(e.formatted) for e in errors], request_error=True, operation_name=operation_name
    )


def _public_schema(schema: GraphQLSchema) -> GraphQLSchema:
    """The schema clients see: without Funnel's own directives."""
    return GraphQLSchema(
        query=schema.query_type,
        mutation=schema.mutation_type,
        subscription=schema.subscription_type,
        types=list(schema.type_map.values()),
        directives=[d for d in schema.directives if d.name not in _PRIVATE_DIRECTIVES],
        description=schema.description,
    )


def _caller() -> SourceLocation:
    frame = sys._getframe(2)
    return SourceLocation(frame.f_code.co_filename, frame.f_lineno)
