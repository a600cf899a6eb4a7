"""Query limits: how deep an operation nests and how many aliases it uses, checked once per query text.

Both bound how much work one small request can ask of the services: depth bounds the levels (each level can be
one more call per service), aliases bound the fields asked for side by side (`a1: orders(...) a2: orders(...)`).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from instrumentation.errors import ErrorCode

from ..schema.documents import LRUCache

__all__ = ["QueryLimits", "QueryShape", "measure"]


@dataclass(frozen=True, slots=True)
class QueryShape:
    depth: int  # fields nested inside each other: `{ orders { product { name } } }` is 3
    aliases: int  # aliased fields, counted once per place a fragment is spread


def measure(document: DocumentNode) -> QueryShape:
    """The deepest and the most aliased operation of a validated document (fragments expanded where spread).

    Each fragment is measured once and reused at every spread, so a document of fragments spreading each other
    many times costs time linear in its size, not in its expanded size."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measured: dict[str, QueryShape] = {}

    def of_fragment(name: str) -> QueryShape:
        shape = measured.get(name)
        if shape is None:
            fragment = fragments.get(name)
            # Validation rejects unknown fragments and cycles; an unknown one simply counts for nothing.
            shape = measured[name] = of(fragment.selection_set) if fragment else QueryShape(0, 0)
        return shape

    def of(selection_set: SelectionSetNode) -> QueryShape:
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = of(selection.selection_set) if selection.selection_set else QueryShape(0, 0)
                depth = max(depth, 1 + inner.depth)
                aliases += inner.aliases + (selection.alias is not None)
            else:
                if isinstance(selection, InlineFragmentNode):
                    inner = of(selection.selection_set)
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    inner = of_fragment(selection.name.value)
                depth = max(depth, inner.depth)
                aliases += inner.aliases
        return QueryShape(depth, aliases)

    shapes = [of(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return QueryShape(max((s.depth for s in shapes), default=0), max((s.aliases for s in shapes), default=0))


class QueryLimits:
    """Checks documents against `max_depth` and `max_aliases`; the verdict is cached per query text."""

    def __init__(self, max_depth: int, max_aliases: int, cache_size: int = 1024) -> None:
        self.max_depth = max_depth
        self.max_aliases = max_aliases
        self._verdicts: LRUCache[str, tuple[GraphQLError, ...]] = LRUCache(cache_size)

    def check(self, query: str, document: DocumentNode) -> tuple[GraphQLError, ...]:
        """The errors for every limit `document` (the parsed `query`) exceeds; empty when it is within them."""
        return self._verdicts.get_or_make(query, lambda: self._errors(measure(document)))

    def _errors(self, shape: QueryShape) -> tuple[GraphQLError, ...]:
        errors = []
        if shape.depth > self.max_depth:
            message = (
                f"The query is {shape.depth} fields deep; the limit is {self.max_depth} (server.max_depth)."
            )
            errors.append(_limit_error(message, ErrorCode.QUERY_TOO_DEEP))
        if shape.aliases > self.max_aliases:
            message = f"The query uses {shape.aliases} aliases; the limit is {self.max_aliases} (server.max_aliases)."
            errors.append(_limit_error(message, ErrorCode.TOO_MANY_ALIASES))
        return tuple(errors)


def _limit_error(message: str, code: ErrorCode) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})
