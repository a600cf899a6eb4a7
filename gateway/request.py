"""One request, from a prepared document to its answer: prepare → plan → execute → result.

Everything here reads one SchemaVersion, the one current when the request started (gateway.version), and the
gateway's Runtime (transports, observability, per-service limits), which does not change with the schema.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, execute_sync, get_operation_ast
from graphql.execution.values import get_variable_values

from instrumentation.call import CallRecord
from instrumentation.errors import PlanError
from instrumentation.executor import execute_plan
from instrumentation.latency import LatencyEstimates
from instrumentation.plan import Plan
from instrumentation.projection import project

from .cache.entities import EntityCache
from .cache.inflight import unshared
from .observability import REQUEST_ID_HEADER
from .schema.documents import PreparedDocument
from .transport import ServiceClients
from .version import SchemaVersion

if TYPE_CHECKING:
    from .observability import Observability

__all__ = ["Request", "Result", "Runtime", "run_request"]


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


@dataclass(frozen=True, slots=True)
class Runtime:
    """What runs requests whatever the schema version: the transports, observability and per-service limits."""

    clients: ServiceClients
    observer: Observability | None  # None when no metrics, traces or logs are on: the plain path
    max_batch: Mapping[str, int]
    max_keys: Mapping[str, int]
    latency: LatencyEstimates = field(default_factory=LatencyEstimates)  # fed by every request's calls
    entity_cache: EntityCache | None = None  # asked for the keys of every batched level (gateway.cache)


@dataclass(frozen=True, slots=True)
class Request:
    """What the client asked, and by when its answer is needed."""

    prepared: PreparedDocument
    variables: Mapping[str, Any]
    operation_name: str | None
    headers: Mapping[str, str]
    deadline: float
    request_id: str | None
    batching: bool


async def run_request(version: SchemaVersion, runtime: Runtime, request: Request) -> Result:
    """Answer one request against one schema version (the document must have been prepared for it)."""
    prepared, operation_name = request.prepared, request.operation_name
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
    raw = dict(request.variables)
    coerced = get_variable_values(version.schema, operation.variable_definitions or (), raw)
    if isinstance(coerced, list):
        return _request_error(coerced, name)
    values = coerced.coerced
    try:
        plan = version.plan(prepared, operation_name, values)
    except PlanError as error:
        located = GraphQLError(error.message, error.node)
        if error.execution:
            return Result(None, [dict(located.formatted)], operation_name=name)
        return _request_error([located], name)
    root: dict[str, Any] = {}
    if plan.introspection is not None:
        document = plan.introspection.document
        introspection = execute_sync(version.introspection_schema, document, variable_values=raw)
        root[plan.introspection.key] = introspection.data
    observer = runtime.observer
    send = runtime.clients.fetcher(
        request.headers,
        extra_headers={REQUEST_ID_HEADER: request.request_id} if request.request_id else {},
        call_headers=observer.call_headers if observer is not None else None,
    )
    # With batching off, every call goes out: the N+1 baseline is neither cached nor de-duplicated in flight.
    cache = None
    if runtime.entity_cache is not None and request.batching:
        cache = runtime.entity_cache.for_request(version.id, version.cache_rules, request.headers, raw)
    with contextlib.nullcontext() if request.batching else unshared():
        execution = await execute_plan(
            plan,
            send,
            variables=raw,
            coerced_variables=values,
            batching=request.batching,
            max_batch=runtime.max_batch,
            max_keys=runtime.max_keys,
            root=root,
            deadline=request.deadline,
            hooks=observer.hooks if observer is not None else None,
            functions=version.functions,
            cache=cache,
        )
    runtime.latency.observe(execution.calls)
    data, errors = project(plan.projection, execution.data)
    return Result(data, errors, plan, execution.calls, operation_name=name)


def _request_error(errors: Sequence[GraphQLError], operation_name: str | None = None) -> Result:
    return Result(
        None, [dict(e.formatted) for e in errors], request_error=True, operation_name=operation_name
    )
