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

from collections.abc import Hashable, Sequence
from typing import Any, Final

from ..errors import DownstreamBadResponse, FieldError
from ..merge import Lookup, normalize
from ..plan import BatchFetch, BatchRequest
from ..selection import merge_selections, print_selection
from .base import Part
from .graphql import GraphQLSource

__all__ = ["EntitiesSource"]

# The `_entities` field of each set of fetches that share one, by their own fields' text (which says all the
# union depends on, and hashes once): the same few come back with every request of a plan.
_UNIONS: dict[tuple[str, ...], str] = {}
_MAX_UNIONS: Final = 1024


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
        fields = tuple(f.document_field for f in part.fetches)
        union = _UNIONS.get(fields)
        if union is None:
            if len(_UNIONS) >= _MAX_UNIONS:
                _UNIONS.clear()
            union = _UNIONS[fields] = self.document_field(
                first.id, first.request, print_selection(merge_selections(f.selection for f in part.fetches))
            )
        return union

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
