"""Parse and validate once per query text; plan once per (operation, values of the @skip/@include variables).

Rule 5 of the engine: work that depends only on the query text is cached. The caches are bounded (least
recently used entries go first) so that a stream of distinct queries cannot grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from graphql import DocumentNode, GraphQLError, GraphQLSchema, Source, parse, validate

from instrumentation.collect_fields import condition_variables
from instrumentation.plan import Plan

__all__ = ["CacheTotals", "DocumentCache", "LRUCache", "PreparedDocument"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_PLANS_PER_DOCUMENT = 32  # one per (operation, values of the @skip/@include variables) of a query text


@dataclass(slots=True)
class CacheTotals:
    """Hits and misses summed over many caches that come and go (one plan cache per query text), so that the
    counts only ever grow, as metrics need: a cache evicted with its document takes nothing away."""

    hits: int = 0
    misses: int = 0


class LRUCache(Generic[K, V]):
    __slots__ = ("_entries", "hits", "maxsize", "misses", "totals")

    def __init__(self, maxsize: int, totals: CacheTotals | None = None) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self.totals = totals

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        entries = self._entries
        value = entries.get(key)
        if value is not None:
            self.hits += 1
            if self.totals is not None:
                self.totals.hits += 1
            entries.move_to_end(key)
            return value
        self.misses += 1
        if self.totals is not None:
            self.totals.misses += 1
        value = entries[key] = make()
        if len(entries) > self.maxsize:
            entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class PreparedDocument:
    """A query text parsed and validated, with the plans made for it so far."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    conditions: tuple[str, ...] = ()  # variables read by @skip/@include: part of the plan key
    plans: LRUCache[tuple[Any, ...], Plan] = field(default_factory=lambda: LRUCache(_PLANS_PER_DOCUMENT))


class DocumentCache:
    def __init__(self, schema: GraphQLSchema, maxsize: int = 1024) -> None:
        self.schema = schema
        self.documents: LRUCache[str, PreparedDocument] = LRUCache(maxsize)
        self.plan_totals = CacheTotals()  # every document's plan cache, for metrics

    def get(self, query: str) -> PreparedDocument:
        return self.documents.get_or_make(query, lambda: self.prepare(query))

    def prepare(self, query: str) -> PreparedDocument:
        try:
            document = parse(Source(query, "GraphQL request"))
        except GraphQLError as error:
            return PreparedDocument(None, [error])
        errors = validate(self.schema, document)
        if errors:
            return PreparedDocument(None, list(errors))
        plans: LRUCache[tuple[Any, ...], Plan] = LRUCache(_PLANS_PER_DOCUMENT, self.plan_totals)
        return PreparedDocument(document, [], condition_variables(document), plans)
