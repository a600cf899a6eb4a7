"""A Federation supergraph's API schema: what its clients see, without the join and link machinery.

Only what `funnel diff` needs now; full supergraph support (#12) reads the `@join__*` directives into bindings.
Left out: the `join__`/`link__`/`core__` types and directives, `@link`/`@core` on the schema, directive
definitions that clients cannot use (no executable location), and every element marked `@inaccessible`.
"""

from __future__ import annotations

from typing import Any, Final

from graphql import (
    DirectiveDefinitionNode,
    DirectiveLocation,
    DirectiveNode,
    DocumentNode,
    NamedTypeNode,
    SchemaExtensionNode,
    Visitor,
    visit,
)
from graphql.language.visitor import REMOVE

__all__ = ["is_supergraph", "supergraph_api_document"]

_MACHINERY: Final = ("join__", "link__", "core__")
_EXECUTABLE: Final = frozenset(
    {
        DirectiveLocation.QUERY,
        DirectiveLocation.MUTATION,
        DirectiveLocation.SUBSCRIPTION,
        DirectiveLocation.FIELD,
        DirectiveLocation.FRAGMENT_DEFINITION,
        DirectiveLocation.FRAGMENT_SPREAD,
        DirectiveLocation.INLINE_FRAGMENT,
        DirectiveLocation.VARIABLE_DEFINITION,
    }
)
_BUILT_IN: Final = frozenset({"deprecated", "specifiedBy", "oneOf", "include", "skip"})


def is_supergraph(document: DocumentNode) -> bool:
    return any(_name(d).startswith("join__") for d in document.definitions)


def supergraph_api_document(document: DocumentNode) -> DocumentNode:
    kept = []
    for definition in document.definitions:
        if _name(definition).startswith(_MACHINERY) or _inaccessible(definition):
            continue
        if isinstance(definition, DirectiveDefinitionNode) and not any(
            DirectiveLocation[location.value] in _EXECUTABLE for location in definition.locations
        ):
            continue
        if isinstance(definition, SchemaExtensionNode) and not definition.operation_types:
            continue  # `extend schema @link(...)`
        kept.append(definition)
    removed = {_name(d) for d in document.definitions} - {_name(d) for d in kept}
    directives = {_name(d) for d in kept if isinstance(d, DirectiveDefinitionNode)} | _BUILT_IN
    return visit(DocumentNode(definitions=tuple(kept)), _ApiSchema(directives, removed))


class _ApiSchema(Visitor):
    def __init__(self, directives: set[str], removed_types: set[str]) -> None:
        super().__init__()
        self.directives = directives
        self.removed_types = removed_types

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        return None if node.name.value in self.directives else REMOVE

    def enter_field_definition(self, node: Any, *_: Any) -> Any:
        return REMOVE if _inaccessible(node) else None

    enter_input_value_definition = enter_field_definition
    enter_enum_value_definition = enter_field_definition

    def enter_named_type(self, node: NamedTypeNode, *_: Any) -> Any:
        # Only a union's members can name an inaccessible type in a valid supergraph.
        return REMOVE if node.name.value in self.removed_types else None


def _name(definition: Any) -> str:
    name = getattr(definition, "name", None)
    return str(name.value) if name is not None else ""


def _inaccessible(node: Any) -> bool:
    return any(d.name.value == "inaccessible" for d in getattr(node, "directives", None) or ())
