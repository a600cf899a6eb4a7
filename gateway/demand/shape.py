"""The shape of an operation, read from the parsed document before validation: how deep it nests, how many
aliases it uses, how many root fields it asks for.

Counted on the bare AST so that a document too large to be worth validating is refused before validation
(whose cost grows faster than the document: 20,000 aliases took 8.7 s to validate).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

__all__ = ["QueryShape", "measure"]


@dataclass(frozen=True, slots=True)
class QueryShape:
    depth: int  # fields nested inside each other: `{ orders { product { name } } }` is 3
    aliases: int  # aliased fields, counted once per place a fragment is spread
    root_fields: int = 0  # fields of the operation's own selection, fragments spread there included
    introspection: bool = False  # asks for `__schema` or `__type`


_NOTHING = QueryShape(0, 0, 0)
_INTROSPECTION = frozenset({"__schema", "__type"})


def measure(document: DocumentNode) -> QueryShape:
    """The deepest, the most aliased and the widest operation of a document (fragments expanded where spread).

    Each fragment is measured once and reused at every spread, so a document of fragments spreading each other
    many times costs time linear in its size, not in its expanded size. The document need not be valid: an
    unknown fragment counts for nothing, and a fragment that spreads itself (validation refuses it later) is
    counted once around the cycle."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measured: dict[str, QueryShape] = {}

    def of_fragment(name: str) -> QueryShape:
        shape = measured.get(name)
        if shape is None:
            fragment = fragments.get(name)
            measured[name] = _NOTHING  # a cycle back to it counts nothing more
            shape = measured[name] = of(fragment.selection_set) if fragment else _NOTHING
        return shape

    def of(selection_set: SelectionSetNode) -> QueryShape:
        depth = aliases = width = 0
        introspection = False
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = of(selection.selection_set) if selection.selection_set else _NOTHING
                depth = max(depth, 1 + inner.depth)
                aliases += inner.aliases + (selection.alias is not None)
                width += 1
                introspection = introspection or selection.name.value in _INTROSPECTION
            else:
                if isinstance(selection, InlineFragmentNode):
                    inner = of(selection.selection_set)
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    inner = of_fragment(selection.name.value)
                depth = max(depth, inner.depth)
                aliases += inner.aliases
                width += inner.root_fields
            introspection = introspection or inner.introspection
        return QueryShape(depth, aliases, width, introspection)

    shapes = [of(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return QueryShape(
        max((s.depth for s in shapes), default=0),
        max((s.aliases for s in shapes), default=0),
        max((s.root_fields for s in shapes), default=0),
        any(s.introspection for s in shapes),
    )
