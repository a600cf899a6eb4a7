"""Run a plan: root fetches first, then every batch as soon as the fetches that make its parents are done.

The executor only schedules; what a request looks like and how its answer is read belongs to the fetch's source
(instrumentation.sources). Batches of one source of one service at one level form a group that runs together:
with batching on, the keys of every parent are gathered across all paths, de-duplicated, checked against the
service's `max_keys` and chunked by its `max_batch`; the source builds each chunk's request (a GraphQL service's
batches share one document as aliased root fields) and the chunks go out concurrently. With batching off the
same plan sends one call per parent: the honest N+1 baseline. Every call is recorded (CallRecord) and shown to
the hooks.

The executor only ever reads a plan; it never looks at the client's document.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .call import CallRecord, Send
from .entity_cache import CacheAsk, LevelCache
from .errors import DownstreamError, ErrorCode, FieldError
from .hooks import ExecutionHooks, LevelGroup
from .merge import Lookup, Pending, normalize, pending_keys
from .plan import BatchFetch, Plan, RootFetch
from .plan import Fetch as PlanFetch
from .sources import CallContext, Part, Source, default_sources

__all__ = ["DEFAULT_MAX_BATCH", "Execution", "Executor", "execute_plan"]

DEFAULT_MAX_BATCH = 500
_TEXT = frozenset({str})

Distinct = dict[int, list[Any]]  # fetch id → its distinct keys, in first-seen order


@dataclass(slots=True)
class Execution:
    data: dict[str, Any]  # the merged data, read by the projection
    calls: list[CallRecord] = field(default_factory=list)


async def execute_plan(
    plan: Plan,
    send: Send,
    *,
    variables: Mapping[str, Any] | None = None,
    coerced_variables: Mapping[str, Any] | None = None,
    batching: bool = True,
    max_batch: Mapping[str, int] | None = None,
    max_keys: Mapping[str, int] | None = None,
    root: dict[str, Any] | None = None,
    deadline: float | None = None,
    hooks: ExecutionHooks | None = None,
    functions: Mapping[Any, Callable[..., Any]] | None = None,
    sources: Mapping[str, Source] | None = None,
    cache: LevelCache | None = None,
) -> Execution:
    """Run every fetch of the plan and return the merged data.

    `variables` are the client's raw JSON values (forwarded as they came); `coerced_variables` the values
    graphql-core coerced (used for REST path arguments). `deadline` (on `time.monotonic()`) is the request's:
    every call carries it, so a later level has only what the earlier ones left. `hooks` see each level's
    groups and each downstream call (metrics, traces, logs); None costs nothing. `functions` is the gateway's
    function table (schema coordinate → key function or loader), `sources` the sources by name. `cache` is
    the request's entity cache (instrumentation.entity_cache), asked for each batched group's keys; None costs
    nothing."""
    executor = Executor(
        send,
        variables=variables or {},
        coerced_variables=coerced_variables or variables or {},
        batching=batching,
        max_batch=max_batch or {},
        max_keys=max_keys or {},
        deadline=deadline,
        hooks=hooks,
        functions=functions or {},
        sources=sources,
        cache=cache,
    )
    return await executor.run(plan, root if root is not None else {})


class Executor:
    """The state of one request's execution."""

    def __init__(
        self,
        send: Send,
        *,
        variables: Mapping[str, Any],
        coerced_variables: Mapping[str, Any],
        batching: bool,
        max_batch: Mapping[str, int],
        max_keys: Mapping[str, int] | None = None,
        deadline: float | None = None,
        hooks: ExecutionHooks | None = None,
        functions: Mapping[Any, Callable[..., Any]] | None = None,
        sources: Mapping[str, Source] | None = None,
        cache: LevelCache | None = None,
    ) -> None:
        self.transport = send
        self.cache = cache
        self.deadline = deadline
        self.hooks = hooks
        self.fetch_index: Mapping[int, PlanFetch] = {}  # id → fetch, for the hooks only
        self.variables = variables
        self.coerced_variables = coerced_variables
        self.functions = functions or {}
        self.sources = default_sources() if sources is None else sources
        self.batching = batching
        self.max_batch = max_batch
        self.max_keys = max_keys or {}
        self.calls: list[CallRecord] = []
        self.root: dict[str, Any] = {}
        self.context = CallContext(variables, coerced_variables, {}, self.functions, deadline)

    async def run(self, plan: Plan, root: dict[str, Any]) -> Execution:
        self.root = root
        self.context = replace(self.context, variable_definitions=plan.variable_definitions)
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

    async def send(self, call: Any, fetches: tuple[int, ...], source: Source) -> Any:
        """Send one call (or answer it in process), record it, and raise DownstreamError on failure."""
        if self.deadline is not None:
            call = replace(call, deadline=self.deadline)
        if self.hooks is None or source.in_process:
            return await self.send_recorded(call, fetches, None, source)
        served = tuple(self.fetch_index[i] for i in fetches)
        with self.hooks.call(call, served):
            return await self.send_recorded(call, fetches, served, source)

    async def send_recorded(
        self, call: Any, fetches: tuple[int, ...], served: tuple[PlanFetch, ...] | None, source: Source
    ) -> Any:
        start = time.perf_counter()
        outcome = "ok"
        failure: DownstreamError | None = None
        try:
            if source.in_process:
                return await source.answer(call, self.context)
            return await self.transport(call)
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
        source = self.sources[fetch.source]
        try:
            answer = await self.send(source.root_call(fetch, self.context), (fetch.id,), source)
            source.index_root(fetch, answer, self.root)
        except DownstreamError as error:
            value = None if source.absent(fetch, error) else FieldError.from_exception(error)
            for key in fetch.keys:
                self.root[key] = value

    # -- batches --------------------------------------------------------------------------------------------

    async def run_group(self, group: list[BatchFetch], dependencies: set[asyncio.Task[None]]) -> None:
        if len(dependencies) == 1:
            await next(iter(dependencies))  # the usual case: one task, awaited without a gathering future
        elif dependencies:
            await asyncio.gather(*dependencies)
        pending = {f.id: pending_keys(f, self.root, self.functions) for f in group}
        if not any(pending.values()):
            return
        source = self.sources[group[0].source]
        # The distinct keys of each fetch, once: the key limit, the hooks and the requests all read them.
        distinct: Distinct = {}
        if source.keyed:
            distinct = {f.id: _distinct([key for _, key in pending[f.id]]) for f in group}
        if self.hooks is None:
            await self.run_batches(source, group, pending, distinct)
            return
        with self.hooks.level(self.level_group(group, pending, distinct)):
            await self.run_batches(source, group, pending, distinct)

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
        self, source: Source, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> None:
        if source.keyed and self.too_many_keys(group, pending, distinct):
            return
        if self.batching:
            await self.run_batched(source, group, pending, distinct)
            return
        # One call per parent: the same requests, each with one parent's keys (and the fields that share a
        # request, one request for the parent, as a parent's fields from one endpoint or entity are).
        calls: dict[tuple[Hashable, int, str], tuple[dict[str, Any], Any, list[BatchFetch]]] = {}
        for shared, sharing in _shared(source, group).items():
            for f in sharing:
                for parent, key in pending[f.id]:
                    calls.setdefault((shared, id(parent), repr(key)), (parent, key, []))[2].append(f)
        await asyncio.gather(
            *(self.run_one(source, tuple(fs), parent, key) for parent, key, fs in calls.values())
        )

    async def run_one(
        self, source: Source, fetches: tuple[BatchFetch, ...], parent: dict[str, Any], key: Any
    ) -> None:
        lookup: Lookup = {}
        keys = _key_list(key) if source.keyed else [key]
        if source.checks_keys:
            keys = self.sendable(source, fetches[0], keys, lookup)
        if keys or not source.checks_keys:
            await self.request(source, [Part(fetches, keys)], [lookup], fetches[0].level, 0)
        for fetch in fetches:
            source.assign(fetch, [(parent, key)], lookup)

    async def run_batched(
        self, source: Source, group: list[BatchFetch], pending: Mapping[int, Pending], distinct: Distinct
    ) -> None:
        asks: list[CacheAsk] = []
        for sharing in _shared(source, group).values():
            lookup: Lookup = {}
            if not source.keyed:
                keys: list[Any] = [parent for f in sharing for parent, _ in pending[f.id]]
            else:
                keys = (
                    distinct[sharing[0].id]
                    if len(sharing) == 1
                    else _distinct(k for f in sharing for k in distinct[f.id])
                )
                if source.checks_keys:
                    keys = self.sendable(source, sharing[0], keys, lookup)
            asks.append(CacheAsk(tuple(sharing), keys, lookup))
        cached = None
        if self.cache is not None and source.keyed and not source.in_process:
            cached = await self.cache.read(asks)
        if cached is None:
            await self.send_asks(source, asks, [a.keys for a in asks], group[0].level)
        else:
            try:
                await self.send_asks(source, asks, cached.send, group[0].level)
                cached.fetched()
                again = await cached.shared()
                if any(again):
                    await self.send_asks(source, asks, again, group[0].level)
            finally:
                cached.abandon()
        for ask in asks:
            for f in ask.fetches:
                source.assign(f, pending[f.id], ask.lookup)

    async def send_asks(
        self, source: Source, asks: Sequence[CacheAsk], keys: Sequence[Sequence[Any]], level: int
    ) -> None:
        """The requests for these keys of each ask (chunked; chunk i of every ask in request i when the
        source puts parts together, else a request per ask), their answers indexed into the asks' lookups."""
        parts = [
            (ask, self.chunks(ask.fetches[0].service, list(k)) if source.keyed else [list(k)])
            for ask, k in zip(asks, keys, strict=True)
            if k or not source.keyed
        ]
        bundles = [parts] if source.one_request else [[p] for p in parts]
        sends = []
        for bundle in bundles:
            count = max((len(chunks) for _, chunks in bundle), default=0)
            for i in range(count):
                chunk = [
                    (Part(ask.fetches, chunks[i]), ask.lookup) for ask, chunks in bundle if i < len(chunks)
                ]
                sends.append(self.request(source, [p for p, _ in chunk], [lk for _, lk in chunk], level, i))
        if len(sends) == 1:
            await sends[0]  # one request (the usual case): no task of its own
        else:
            await asyncio.gather(*sends)

    async def request(
        self, source: Source, parts: Sequence[Part], lookups: Sequence[Lookup], level: int, chunk: int
    ) -> None:
        """One request: built by the source, sent, and its answer indexed into the parts' lookups."""
        call = source.batch_call(parts, self.context, level, chunk)
        ids = tuple(f.id for part in parts for f in part.fetches)
        try:
            answer = await self.send(call, ids, source)
            source.index(parts, answer, lookups)
        except DownstreamError as error:
            source.fail(parts, lookups, FieldError.from_exception(error))

    def sendable(self, source: Source, fetch: BatchFetch, keys: list[Any], lookup: Lookup) -> list[Any]:
        """The keys that can be sent; each other one fails in the lookup, and so only its own parents."""
        if source.all_sendable(fetch, keys):
            return list(keys)
        valid = []
        for key in keys:
            reason = source.invalid_key(fetch, key)
            if reason is None:
                valid.append(key)
            else:
                lookup[normalize(key)] = FieldError(reason, ErrorCode.INVALID_KEY, fetch.service)
        return valid

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


def _groups(fetches: Iterable[BatchFetch]) -> list[list[BatchFetch]]:
    """One group per source per service per level (each in-process loader is its own service)."""
    groups: dict[tuple[int, str, str], list[BatchFetch]] = {}
    for f in fetches:
        groups.setdefault((f.level, f.service, f.source), []).append(f)
    return list(groups.values())


def _distinct(keys: Iterable[Any]) -> list[Any]:
    keys = keys if isinstance(keys, list) else list(keys)
    try:
        first_seen = dict.fromkeys(keys)
    except TypeError:  # a list key
        pass
    else:
        if set(map(type, first_seen)) <= _TEXT:  # the common case: text keys are their own normal form
            return list(first_seen)
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


def _shared(source: Source, group: Sequence[BatchFetch]) -> dict[Hashable, list[BatchFetch]]:
    """The group's fetches by what they ask: those the source says ask the same thing (fields reading one REST
    endpoint, or one entity of a subgraph) share their keys and requests."""
    shared: dict[Hashable, list[BatchFetch]] = {}
    for f in group:
        shared.setdefault(source.share(f), []).append(f)
    return shared
