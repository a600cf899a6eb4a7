"""Run a plan: root fetches first, then every batch as soon as the fetches that make its parents are done.

Batches of one service at one level form a group that is sent together: with batching on, the keys of every
parent are gathered across all paths, de-duplicated and chunked by the service's `max_batch`, and each chunk is
one HTTP request (a GraphQL service's batches share it as aliased root fields); the chunks go out concurrently.
With batching off the same plan sends one call per parent: the honest N+1 baseline.

The executor only ever reads a plan; it never looks at the client's document.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiodataloader import DataLoader
from graphql import value_from_ast

from registry.bindings import BatchBinding, LoaderBinding

from .call import Call, Fetch, GraphQLCall, RestCall
from .errors import DownstreamBadResponse, DownstreamError, ErrorCode, FieldError
from .hooks import ExecutionHooks, LevelGroup
from .merge import Lookup, Pending, assign, index_items, normalize, pending_keys, place_errors
from .plan import BatchFetch, Plan, RootFetch
from .plan import Fetch as PlanFetch

__all__ = ["CallRecord", "Execution", "Executor", "execute_plan"]

DEFAULT_MAX_BATCH = 500

Distinct = dict[int, list[Any]]  # fetch id → its distinct keys, in first-seen order


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One downstream call as it happened: for `funnel-debug: plan`, metrics and tests."""

    service: str
    level: int
    fetches: tuple[int, ...]
    keys: int
    chunk: int
    ms: float
    outcome: str  # "ok" or the error code

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "level": self.level,
            "fetches": list(self.fetches),
            "keys": self.keys,
            "chunk": self.chunk,
            "ms": round(self.ms, 3),
            "outcome": self.outcome,
        }


@dataclass(slots=True)
class Execution:
    data: dict[str, Any]  # the merged data, read by the projection
    calls: list[CallRecord] = field(default_factory=list)


async def execute_plan(
    plan: Plan,
    fetch: Fetch,
    *,
    variables: Mapping[str, Any] | None = None,
    coerced_variables: Mapping[str, Any] | None = None,
    batching: bool = True,
    max_batch: Mapping[str, int] | None = None,
    max_keys: Mapping[str, int] | None = None,
    root: dict[str, Any] | None = None,
    deadline: float | None = None,
    hooks: ExecutionHooks | None = None,
) -> Execution:
    """Run every fetch of the plan and return the merged data.

    `variables` are the client's raw JSON values (forwarded as they came); `coerced_variables` the values
    graphql-core coerced (used for REST path arguments). `deadline` (on `time.monotonic()`) is the request's:
    every call carries it, so a later level has only what the earlier ones left. `hooks` see each level's
    groups and each downstream call (metrics, traces, logs); None costs nothing."""
    executor = Executor(
        fetch,
        variables=variables or {},
        coerced_variables=coerced_variables or variables or {},
        batching=batching,
        max_batch=max_batch or {},
        max_keys=max_keys or {},
        deadline=deadline,
        hooks=hooks,
    )
    return await executor.run(plan, root if root is not None else {})


class Executor:
    """The state of one request's execution. Subclass to change how one kind of fetch is sent."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        variables: Mapping[str, Any],
        coerced_variables: Mapping[str, Any],
        batching: bool,
        max_batch: Mapping[str, int],
        max_keys: Mapping[str, int] | None = None,
        deadline: float | None = None,
        hooks: ExecutionHooks | None = None,
    ) -> None:
        self.fetch = fetch
        self.deadline = deadline
        self.hooks = hooks
        self.fetch_index: Mapping[int, PlanFetch] = {}  # id → fetch, for the hooks only
        self.variables = variables
        self.coerced_variables = coerced_variables
        self.batching = batching
        self.max_batch = max_batch
        self.max_keys = max_keys or {}
        self.calls: list[CallRecord] = []
        self.root: dict[str, Any] = {}
        self.variable_definitions: Mapping[str, str] = {}

    async def run(self, plan: Plan, root: dict[str, Any]) -> Execution:
        self.root = root
        self.variable_definitions = plan.variable_definitions
        if self.hooks is not None:
            self.fetch_index = {f.id: f for f in plan.fetches}
        roots = [f for f in plan.fetches if isinstance(f, RootFetch)]
        tasks: dict[int, asyncio.Task[None]] = {}
        if plan.operation == "mutation":
            task = asyncio.ensure_future(self.run_serially(roots))  # mutations run in order, one at a time
            tasks.update((f.id, task) for f in roots)
        else:
            tasks.update((f.id, asyncio.ensure_future(self.run_root(f))) for f in roots)
        for group in _groups(f for f in plan.fetches if isinstance(f, BatchFetch)):
            dependencies = {tasks[d] for f in group for d in f.depends_on}
            task = asyncio.ensure_future(self.run_group(group, dependencies))
            tasks.update((f.id, task) for f in group)
        await asyncio.gather(*set(tasks.values()))
        return Execution(self.root, self.calls)

    async def run_serially(self, fetches: Sequence[RootFetch]) -> None:
        for fetch in fetches:
            await self.run_root(fetch)

    # -- sending --------------------------------------------------------------------------------------------

    async def send(self, call: Call, fetches: tuple[int, ...]) -> Any:
        """Send one call, record it, and raise DownstreamError on failure."""
        if self.deadline is not None:
            call = replace(call, deadline=self.deadline)
        if self.hooks is None:
            return await self.send_recorded(call, fetches, None)
        served = tuple(self.fetch_index[i] for i in fetches)
        with self.hooks.call(call, served):
            return await self.send_recorded(call, fetches, served)

    async def send_recorded(
        self, call: Call, fetches: tuple[int, ...], served: tuple[PlanFetch, ...] | None
    ) -> Any:
        start = time.perf_counter()
        outcome = "ok"
        failure: DownstreamError | None = None
        try:
            return await self.fetch(call)
        except DownstreamError as error:
            outcome, failure = error.code, error
            raise
        except Exception as error:  # a transport bug must not take the whole response down
            outcome = ErrorCode.DOWNSTREAM_ERROR
            failure = DownstreamError(f"{call.service}: {error}", service=call.service, call=call)
            raise failure from error
        finally:
            record = CallRecord(
                call.service,
                call.level,
                fetches,
                call.keys,
                call.chunk,
                (time.perf_counter() - start) * 1e3,
                outcome,
            )
            self.calls.append(record)
            if served is not None and self.hooks is not None:
                self.hooks.called(call, served, record, failure)

    # -- level 0 --------------------------------------------------------------------------------------------

    async def run_root(self, fetch: RootFetch) -> None:
        if self.hooks is None:
            await self.fetch_root(fetch)
            return
        with self.hooks.level(LevelGroup(fetch.level, fetch.service, (fetch,))):
            await self.fetch_root(fetch)

    async def fetch_root(self, fetch: RootFetch) -> None:
        if fetch.protocol == "rest":
            await self.run_rest_root(fetch)
            return
        call = GraphQLCall(
            fetch.service,
            fetch.query,
            {name: self.variables[name] for name in fetch.variables if name in self.variables},
            fetch.operation,
        )
        try:
            response = await self.send(call, (fetch.id,))
        except DownstreamError as error:
            failed = FieldError.from_exception(error)
            for key in fetch.keys:
                self.root[key] = failed
            return
        data = response.get("data")
        if isinstance(data, dict):
            for key in fetch.keys:
                self.root[key] = data.get(key)
        unplaced = place_errors(self.root, response.get("errors") or (), fetch.service)
        if unplaced or not isinstance(data, dict):
            failed = _request_error(unplaced, fetch.service)
            for key in fetch.keys:
                if self.root.get(key) is None:
                    self.root[key] = failed

    async def run_rest_root(self, fetch: RootFetch) -> None:
        path, params = fetch.path, {}
        for argument in fetch.arguments:
            value = value_from_ast(argument.value, argument.type, dict(self.coerced_variables))
            if value is None:
                continue
            placeholder = "{" + argument.name + "}"
            if placeholder in path:
                path = path.replace(placeholder, str(value))
            else:
                params[argument.name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        call = RestCall(fetch.service, path, params, keys=1)
        try:
            value = await self.send(call, (fetch.id,))
        except DownstreamError as error:
            value = FieldError.from_exception(error)
        for key in fetch.keys:
            self.root[key] = value

    # -- batches --------------------------------------------------------------------------------------------

    async def run_group(self, group: list[BatchFetch], dependencies: set[asyncio.Task[None]]) -> None:
        if dependencies:
            await asyncio.gather(*dependencies)
        pending = {f.id: pending_keys(f, self.root) for f in group}
        if not any(pending.values()):
            return
        # The distinct keys of each fetch, once: the key limit, the hooks and the requests all read them.
        distinct: Distinct = {}
        if group[0].protocol != "local":
            distinct = {f.id: _distinct(key for _, key in pending[f.id]) for f in group}
        if self.hooks is None:
            await self.run_batches(group, pending, distinct)
            return
        with self.hooks.level(self.level_group(group, pending, distinct)):
            await self.run_batches(group, pending, distinct)

    def level_group(
        self, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> LevelGroup:
        """What the hooks are told of a group, counted only when there are hooks."""
        requested = sum(len(_key_list(key)) for f in group for _, key in pending[f.id])
        sent = requested  # one call per parent, or in-process loaders: nothing is de-duplicated
        if self.batching and distinct:
            sent = sum(len(keys) for keys in distinct.values())
        return LevelGroup(group[0].level, group[0].service, tuple(group), requested, sent)

    async def run_batches(
        self, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> None:
        first = group[0]
        if first.protocol == "local":
            await self.run_loader(first, pending[first.id])
        elif self.too_many_keys(group, pending, distinct):
            return
        elif first.protocol == "rest":
            await self.run_rest_group(group, pending, distinct)
        else:
            await self.run_graphql_group(group, pending, distinct)

    def too_many_keys(
        self, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> bool:
        """Fail the group's fields, sending nothing, when it asks for more keys than the service's `max_keys`.

        One request must not fan out to a service without bound. Counted the same with batching on or off, so
        the two modes give the same answer."""
        service = group[0].service
        limit = self.max_keys.get(service)
        if limit is None:
            return False
        count = sum(len(keys) for keys in distinct.values())
        if count <= limit:
            return False
        message = f"{service}: {count} keys at one level exceed max_keys ({limit}); nothing was sent"
        failed = FieldError(message, ErrorCode.TOO_MANY_KEYS, service)
        for f in group:
            for parent, _ in pending[f.id]:
                parent[f.storage] = failed
        return True

    def chunks(self, service: str, keys: list[Any]) -> list[list[Any]]:
        size = max(1, self.max_batch.get(service, DEFAULT_MAX_BATCH))
        return [keys[i : i + size] for i in range(0, len(keys), size)]

    def requests(
        self, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> list[list[tuple[BatchFetch, list[Any], Pending]]]:
        """What each request carries: per fetch, the keys it asks for and the parents that receive the answer.

        Batching on: the distinct keys, chunk i of every fetch in request i. Off: one request per parent."""
        if not self.batching:
            return [[(f, _key_list(key), [(parent, key)])] for f in group for parent, key in pending[f.id]]
        per_fetch = []
        for f in group:
            keys = distinct[f.id]
            if keys:
                per_fetch.append((f, self.chunks(f.service, keys), pending[f.id]))
        count = max((len(chunks) for _, chunks, _ in per_fetch), default=0)
        return [
            [(f, chunks[i], parents) for f, chunks, parents in per_fetch if i < len(chunks)]
            for i in range(count)
        ]

    async def run_graphql_group(
        self, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> None:
        requests = self.requests(group, pending, distinct)
        lookups: dict[int, Lookup] = {f.id: {} for f in group}
        await asyncio.gather(
            *(self.send_graphql_batch(parts, i, lookups) for i, parts in enumerate(requests))
        )
        if self.batching:
            for f in group:
                assign(f, pending[f.id], lookups[f.id])

    async def send_graphql_batch(
        self, parts: list[tuple[BatchFetch, list[Any], Pending]], chunk: int, lookups: dict[int, Lookup]
    ) -> None:
        fetches = [f for f, _, _ in parts]
        first = fetches[0]
        variables: dict[str, Any] = {}
        definitions: dict[str, str] = {}
        for f, keys, _ in parts:
            binding = f.binding
            assert isinstance(binding, BatchBinding)
            variables[f"k{f.id}"] = (
                [{"__typename": binding.entity, binding.match: k} for k in keys]
                if binding.entity is not None
                else keys
            )
            definitions[f"k{f.id}"] = f.key_type
            for name in f.variables:
                if name in self.variables:
                    variables[name] = self.variables[name]
        definitions.update(_client_definitions(fetches, self.variable_definitions))
        query = "query(" + ", ".join(f"${n}: {t}" for n, t in definitions.items()) + ") { "
        query += " ".join(f.document_field for f in fetches) + " }"
        call = GraphQLCall(
            first.service,
            query,
            variables,
            "query",
            keys=sum(len(k) for _, k, _ in parts),
            level=first.level,
            chunk=chunk,
        )
        lookup_of = lookups if self.batching else {f.id: {} for f in fetches}
        try:
            response = await self.send(call, tuple(f.id for f in fetches))
        except DownstreamError as error:
            failed = FieldError.from_exception(error)
            for f, keys, _ in parts:
                lookup = lookup_of[f.id]
                for k in keys:
                    lookup[normalize(k)] = failed
        else:
            self.index_graphql(parts, response, lookup_of)
        if not self.batching:
            for f, _, parents in parts:
                assign(f, parents, lookup_of[f.id])

    def index_graphql(
        self,
        parts: list[tuple[BatchFetch, list[Any], Pending]],
        response: Mapping[str, Any],
        lookups: dict[int, Lookup],
    ) -> None:
        service = parts[0][0].service
        data = response.get("data")
        errors = response.get("errors") or []
        unplaced = place_errors(data, errors, service) if isinstance(data, dict) else list(errors)
        for f, keys, _ in parts:
            binding = f.binding
            assert isinstance(binding, BatchBinding)
            alias = f"b{f.id}"
            lookup = lookups[f.id]
            items = data.get(alias) if isinstance(data, dict) else None
            concerning = [e for e in errors if isinstance(e, dict) and (e.get("path") or [None])[0] == alias]
            if not isinstance(items, list):
                failed = _request_error(concerning or unplaced or errors, service, items)
                for k in keys:
                    lookup[normalize(k)] = failed
                continue
            if binding.entity is not None:  # `_entities` answers in the order of the representations
                if len(items) != len(keys):  # then no item can be trusted to be its key's
                    failed = FieldError(
                        f"{service}: _entities answered {len(items)} items for {len(keys)} representations",
                        DownstreamBadResponse.code,
                        service,
                    )
                    items = [failed] * len(keys)
                for k, item in zip(keys, items, strict=True):
                    lookup[normalize(k)] = item
                continue
            unusable = index_items(items, binding.match, f.one_to_many, lookup)
            # A key that is not in the answer failed rather than does not exist, when errors or garbage came too.
            if concerning or unplaced:
                _fail_missing(keys, lookup, _request_error(concerning or unplaced, service))
            elif unusable:
                _fail_missing(keys, lookup, _garbage(service, unusable, len(items), binding.match))

    async def run_rest_group(
        self, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> None:
        # Batches reading the same endpoint share their keys: one request per endpoint, not per field.
        by_endpoint: dict[tuple[str | None, str, str], list[BatchFetch]] = {}
        for f in group:
            binding = f.binding
            assert isinstance(binding, BatchBinding)
            by_endpoint.setdefault((binding.path, binding.arg, binding.match), []).append(f)
        await asyncio.gather(
            *(self.run_rest_endpoint(fetches, pending, distinct) for fetches in by_endpoint.values())
        )

    async def run_rest_endpoint(
        self, fetches: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> None:
        first = fetches[0]
        binding = first.binding
        assert isinstance(binding, BatchBinding)
        if self.batching:
            # fields reading one endpoint share its keys: distinct across them too
            keys = (
                distinct[first.id]
                if len(fetches) == 1
                else _distinct(k for f in fetches for k in distinct[f.id])
            )
            lookup: Lookup = {}
            await asyncio.gather(
                *(
                    self.send_rest_batch(first, [f.id for f in fetches], chunk, i, lookup)
                    for i, chunk in enumerate(self.chunks(first.service, keys))
                )
            )
            for f in fetches:
                assign(f, pending[f.id], lookup)
            return

        async def one(f: BatchFetch, parent: dict[str, Any], key: Any) -> None:
            own: Lookup = {}
            await self.send_rest_batch(f, [f.id], _key_list(key), 0, own)
            assign(f, [(parent, key)], own)

        await asyncio.gather(*(one(f, parent, key) for f in fetches for parent, key in pending[f.id]))

    async def send_rest_batch(
        self, fetch: BatchFetch, ids: list[int], keys: list[Any], chunk: int, lookup: Lookup
    ) -> None:
        binding = fetch.binding
        assert isinstance(binding, BatchBinding) and binding.path is not None
        call = RestCall(
            fetch.service,
            binding.path,
            {binding.arg: ",".join(map(str, keys))},
            len(keys),
            fetch.level,
            chunk,
        )
        try:
            items = await self.send(call, tuple(ids))
            if not isinstance(items, list):
                raise DownstreamBadResponse(
                    f"{fetch.service}: expected a JSON array from GET {binding.path}, got {type(items).__name__}",
                    service=fetch.service,
                    call=call,
                )
        except DownstreamError as error:
            failed = FieldError.from_exception(error)
            for k in keys:
                lookup[normalize(k)] = failed
            return
        unusable = index_items(items, binding.match, fetch.one_to_many, lookup)
        if unusable:
            _fail_missing(keys, lookup, _garbage(fetch.service, unusable, len(items), binding.match))

    async def run_loader(self, fetch: BatchFetch, pending: Pending) -> None:
        binding = fetch.binding
        assert isinstance(binding, LoaderBinding)
        function = binding.function

        async def load(parents: list[Any]) -> list[Any]:
            start = time.perf_counter()
            outcome = "ok"
            try:
                # An in-process loader ends by the request's deadline like any downstream call.
                left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
                values = list(await asyncio.wait_for(function(parents), left))
                if len(values) != len(parents):
                    raise ValueError(f"returned {len(values)} values for {len(parents)} parents")
                return values
            except TimeoutError:
                outcome = ErrorCode.DOWNSTREAM_TIMEOUT
                failed = FieldError(f"{binding.coordinate}: no answer by the request's deadline", outcome)
                return [failed] * len(parents)
            except Exception as error:
                outcome = ErrorCode.LOADER_ERROR
                failed = FieldError(f"{binding.coordinate}: {error}", ErrorCode.LOADER_ERROR)
                return [failed] * len(parents)
            finally:
                ms = (time.perf_counter() - start) * 1e3
                self.calls.append(
                    CallRecord(fetch.service, fetch.level, (fetch.id,), len(parents), 0, ms, outcome)
                )

        # aiodataloader collects every load() of this tick into one call: with the barrier above, one per level.
        loader = DataLoader(load, batch=self.batching, cache=self.batching, get_cache_key=id)
        values = await asyncio.gather(*(loader.load(parent) for parent, _ in pending))
        for (parent, _), value in zip(pending, values, strict=True):
            parent[fetch.storage] = value


def _groups(fetches: Iterable[BatchFetch]) -> list[list[BatchFetch]]:
    """One group per service per level; each in-process loader is its own group."""
    groups: dict[tuple[int, str], list[BatchFetch]] = {}
    for f in fetches:
        groups.setdefault((f.level, f.service), []).append(f)
    return list(groups.values())


def _distinct(keys: Iterable[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for key in keys:
        if key.__class__ is str:  # the common case: a text key is its own normal form
            seen.setdefault(key, key)
            continue
        for k in key if key.__class__ is list else (key,):
            if k is not None:
                seen.setdefault(normalize(k), k)
    return list(seen.values())


def _key_list(key: Any) -> list[Any]:
    return [k for k in key if k is not None] if key.__class__ is list else [key]


def _client_definitions(fetches: Sequence[BatchFetch], definitions: Mapping[str, str]) -> dict[str, str]:
    return {name: definitions[name] for f in fetches for name in f.variables if name in definitions}


def _fail_missing(keys: Iterable[Any], lookup: Lookup, failed: FieldError) -> None:
    for k in keys:
        lookup.setdefault(normalize(k), failed)


def _garbage(service: str, unusable: int, count: int, match: str) -> FieldError:
    message = (
        f"{service}: unexpected answer shape ({unusable} of {count} items are not objects with '{match}')"
    )
    return FieldError(message, DownstreamBadResponse.code, service)


def _request_error(errors: Sequence[Any], service: str, items: Any = None) -> FieldError:
    for error in errors:
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return FieldError(error["message"], ErrorCode.DOWNSTREAM_ERROR, service)
        if isinstance(error, FieldError):
            return error
    if items is not None:
        return FieldError(f"{service}: unexpected answer shape", ErrorCode.DOWNSTREAM_BAD_RESPONSE, service)
    return FieldError(f"{service}: no data in the answer", ErrorCode.DOWNSTREAM_ERROR, service)
