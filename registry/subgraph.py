"""What a Federation subgraph's own schema says that the gateway schema does not, for the planner.

The gateway schema is the supergraph's API schema: an interface there may have implementations from several
subgraphs, and a field may come with more of its value from one subgraph than from another. A subgraph's
document may only name the types that subgraph has, and what it `@provides` on a path need not be fetched again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .bindings import FieldCoordinate

__all__ = ["SubgraphFacts"]


@dataclass(frozen=True, slots=True)
class SubgraphFacts:
    types: frozenset[str]  # every type the subgraph's own schema has
    # An interface's or union's object types in the subgraph's own schema; one not listed: `types` decides.
    possible_types: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    # A field the subgraph resolves -> the paths of its value that it answers too (`@provides`), e.g.
    # Book.editor -> ("fullName",): from this subgraph, `editor { fullName }` needs no other call.
    provides: Mapping[FieldCoordinate, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def object_types(self, abstract: str, candidates: frozenset[str]) -> frozenset[str]:
        """Of the gateway schema's object types of `abstract`, those this subgraph can return there."""
        listed = self.possible_types.get(abstract)
        return candidates & (listed if listed is not None else self.types)
