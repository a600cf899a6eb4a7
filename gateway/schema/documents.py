"""Parse and validate once per query text; plan once per (operation, values of the @skip/@include variables).

Rule 5 of the engine: work that depends only on the query text is cached. The caches are bounded in entries
and in bytes (least recently used entries go first) so that a stream of distinct queries cannot grow memory
without limit: 1,200 distinct 1 MB queries once took a count-bounded cache to 2.1 GB.

A large document is parsed and validated on a worker thread (`get_async`), one at a time, so that the event
loop keeps answering other requests meanwhile; its size is bounded beforehand by the demand limits.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from graphql import DocumentNode, GraphQLError, GraphQLSchema, validate

from instrumentation.collect_fields import condition_variables
from instrumentation.plan import Plan

from ..demand.limits import DemandLimits

__all__ = ["CacheTotals", "DocumentCache", "LRUCache", "PreparedDocument"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_PLANS_PER_DOCUMENT = 32  # one per (operation, values of the @skip/@include variables) of a query text
DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
# Measured with tracemalloc over queries of 2,000 to 22,000 tokens: a parsed token with its AST nodes and
# location holds about 350 bytes; the plans made for it about as much again.
_BYTES_PER_TOKEN: Final = 700
_OFF_LOOP_CHARS: Final = (
    2048  # below this, parse + validate take well under a millisecond: not worth a thread
)


@dataclass(slots=True)
class CacheTotals:
    """Hits and misses summed over many caches that come and go (one plan cache per query text), so that the
    counts only ever grow, as metrics need: a cache evicted with its document takes nothing away."""

    hits: int = 0
    misses: int = 0


class LRUCache(Generic[K, V]):
    """At most `maxsize` entries and, with `weigh`, at most `max_weight` of their summed weights."""

    __slots__ = (
        "_entries",
        "_weights",
        "hits",
        "max_weight",
        "maxsize",
        "misses",
        "totals",
        "weigh",
        "weight",
    )

    def __init__(
        self,
        maxsize: int,
        totals: CacheTotals | None = None,
        *,
        weigh: Callable[[K, V], int] | None = None,
        max_weight: int = 0,
    ) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self.totals = totals
        self.weigh = weigh
        self.max_weight = max_weight
        self.weight = 0

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def get(self, key: K) -> V | None:
        """The value, or None (a miss: the caller makes it and `put`s it)."""
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            if self.totals is not None:
                self.totals.misses += 1
            return None
        self.hits += 1
        if self.totals is not None:
            self.totals.hits += 1
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        if key in entries:
            self._drop(key)
        if self.weigh is not None:
            weight = self.weigh(key, value)
            if weight > self.max_weight:  # larger than the whole cache: answered, never kept
                return
            self._weights[key] = weight
            self.weight += weight
        entries[key] = value
        while len(entries) > self.maxsize or (self.weigh is not None and self.weight > self.max_weight):
            self._drop(next(iter(entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._weights.clear()
        self.weight = 0

    def _drop(self, key: K) -> None:
        del self._entries[key]
        self.weight -= self._weights.pop(key, 0)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class PreparedDocument:
    """A query text parsed and validated, with the plans made for it so far."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    conditions: tuple[str, ...] = ()  # variables read by @skip/@include: part of the plan key
    plans: LRUCache[tuple[Any, ...], Plan] = field(default_factory=lambda: LRUCache(_PLANS_PER_DOCUMENT))
    held_bytes: int = (
        0  # what its syntax tree holds in memory, estimated (gateway.schema.documents._held_bytes)
    )
    version: str = ""  # the id of the schema version it was validated against (its plans are that version's)
    query: str = ""  # the text it was prepared from, to prepare it again for a newer version
    # What other parts work out once per document (gateway.auth: the fields with an access requirement), kept
    # with it so that it goes when the document is evicted.
    derived: dict[str, Any] = field(default_factory=dict)


class DocumentCache:
    def __init__(
        self,
        schema: GraphQLSchema,
        maxsize: int = 1024,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        limits: DemandLimits | None = None,
    ) -> None:
        self.schema = schema
        self.documents: LRUCache[str, PreparedDocument] = LRUCache(
            maxsize, weigh=_weigh, max_weight=max_bytes
        )
        self.plan_totals = CacheTotals()  # every document's plan cache, for metrics
        self.limits = limits or DemandLimits()
        self.version = ""  # the schema version documents are validated for now (gateway.version)
        self._worker: ThreadPoolExecutor | None = None

    def renew(self, schema: GraphQLSchema, version: str) -> None:
        """Validate against another schema version from now on: what was cached is forgotten (a document held by
        a request in flight keeps its own plans); the counters carry on, as metrics need."""
        self.schema = schema
        self.version = version
        self.documents.clear()

    def limit(self, limits: DemandLimits, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """Hold documents to `limits` from now on (the server's, set when it starts); forgets what was cached."""
        self.limits = limits
        self.documents.max_weight = max_bytes
        self.documents.clear()

    def get(self, query: str) -> PreparedDocument:
        return self.documents.get_or_make(query, lambda: self.prepare(query))

    async def get_async(self, query: str) -> PreparedDocument:
        """`get`, with a large document prepared on the worker thread while the event loop carries on."""
        prepared = self.documents.get(query)
        if prepared is not None:
            return prepared
        if len(query) < _OFF_LOOP_CHARS:
            prepared = self.prepare(query)
        else:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="funnel-documents")
            prepared = await asyncio.get_running_loop().run_in_executor(self._worker, self.prepare, query)
        if prepared.version == self.version:  # not when a swap came meanwhile: it is the old version's
            self.documents.put(query, prepared)
        return prepared

    def prepare(self, query: str) -> PreparedDocument:
        schema, version = self.schema, self.version  # as they are now: a swap may come while this runs
        try:
            document = self.limits.parse(query)
        except GraphQLError as error:
            return PreparedDocument(None, [error], version=version, query=query)
        errors = self.limits.screen(document)
        if not errors:
            errors = validate(schema, document)
        if errors:
            return PreparedDocument(
                None, list(errors), held_bytes=_held_bytes(document), version=version, query=query
            )
        plans: LRUCache[tuple[Any, ...], Plan] = LRUCache(_PLANS_PER_DOCUMENT, self.plan_totals)
        return PreparedDocument(
            document,
            [],
            condition_variables(document),
            plans,
            _held_bytes(document),
            version=version,
            query=query,
        )

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None


def _held_bytes(document: DocumentNode) -> int:
    """Each token with its nodes, and the text a token keeps a copy of: a comment, a string, a name (a query
    that is mostly one long comment would otherwise weigh half of what it holds)."""
    held = 0
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        held += _BYTES_PER_TOKEN + (len(token.value) if token.value is not None else 0)
        token = token.next
    return held


def _weigh(query: str, prepared: PreparedDocument) -> int:
    return len(query) + prepared.held_bytes
