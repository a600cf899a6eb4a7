"""Federation `_entities`: a GraphQL batch whose keys go out as representations and come back by position.

`b{id}: _entities(representations: $k{id}) { ... on Product { ... } }`, each key sent as
`{"__typename": entity, <match>: key}`, or as the fields of a composite or nested key (`CompositeKey`). The
answer lists one item per representation, in order: a count that differs means no item can be trusted to be its
key's, and every key of the batch fails.

The fields of one entity asked of one subgraph at one level with the same representations share one
`_entities` field: each representation is sent once, with the union of their selections, and each field reads
its own part of the items. What a source must implement is in sources/base.py.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any

from ..errors import DownstreamBadResponse, FieldError
from ..merge import Lookup, normalize
from ..plan import BatchFetch, BatchRequest
from ..selection import Selection, merge_selections, print_selection
from .base import Part
from .graphql import GraphQLSource

__all__ = ["EntitiesSource"]


class EntitiesSource(GraphQLSource):
    name = "entities"
    matched = False  # by position

    def label(self, request: BatchRequest) -> str:
        return f"_entities({request.entity})"

    def document_field(self, fetch_id: int, request: BatchRequest, selection: str) -> str:
        return (
            f"b{fetch_id}: _entities(representations: $k{fetch_id}) {{ ... on {request.entity} {selection} }}"
        )

    def key_type(self, scalar: str) -> str:
        return "[_Any!]!"

    def share(self, fetch: BatchFetch) -> Hashable:
        request = fetch.request
        return (request.entity, request.match, request.representation)

    def part_field(self, part: Part) -> str:
        if len(part.fetches) == 1:
            return part.fetches[0].document_field
        first = part.fetches[0]
        return self.document_field(first.id, first.request, _union(tuple(f.selection for f in part.fetches)))

    def key_values(self, fetch: BatchFetch, keys: Sequence[Any]) -> Any:
        entity, match = fetch.request.entity, fetch.request.match
        # A key of several fields (a Federation composite @key) is the representation's fields already.
        return [
            {"__typename": entity, **k} if isinstance(k, dict) else {"__typename": entity, match: k}
            for k in keys
        ]

    def index_items(self, part: Part, items: list[Any], lookup: Lookup, errors: Sequence[Any]) -> None:
        keys = part.keys
        answered: list[Any] = items
        if len(items) != len(keys):
            service = part.fetches[0].service
            failed = FieldError(
                f"{service}: _entities answered {len(items)} items for {len(keys)} representations",
                DownstreamBadResponse.code,
                service,
            )
            answered = [failed] * len(keys)
        for k, item in zip(keys, answered, strict=True):
            lookup[normalize(k)] = item


@functools.lru_cache(maxsize=1024)
def _union(selections: tuple[Selection, ...]) -> str:
    """The printed union of several fields' selections (the same few unions come back with every request of a
    plan: computed once)."""
    return print_selection(merge_selections(selections))
