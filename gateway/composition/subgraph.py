"""An Apollo Federation subgraph's SDL (`_service { sdl }`) as a plain schema, and the entities it resolves.

The SDL a subgraph gives is not a schema on its own: it uses Federation's directives without defining them,
may extend types it never defines (Federation 1), and names keys in `@key`. What a gateway needs of it is the
types with their fields, as the subgraph can answer them, and for each entity type the key that `_entities`
takes. The Federation machinery (`@link`, `_Any`, `_Entity`, `_service`, `_entities`, the directives) is left
out; a field marked `@external` is left out too unless it is the key (the subgraph only echoes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from graphql import (
    BooleanValueNode,
    DefinitionNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    FieldDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SchemaExtensionNode,
    Source,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    Visitor,
    build_ast_schema,
    parse,
    validate_schema,
    visit,
)
from graphql.language.visitor import REMOVE
from graphql.validation.validate import validate_sdl

from registry.errors import ConfigError, Problem

__all__ = [
    "MAX_TOKENS",
    "Subgraph",
    "build_document_schema",
    "build_sdl_schema",
    "parse_sdl",
    "subgraph_schema",
]

MAX_TOKENS: Final = 1_000_000  # what one schema's SDL may hold, whoever wrote it
KEPT_DIRECTIVES: Final = frozenset({"deprecated", "specifiedBy", "oneOf"})
_MACHINERY: Final = frozenset(
    {
        "_Any",
        "_Entity",
        "_Service",
        "_FieldSet",
        "FieldSet",
        "link__Import",
        "link__Purpose",
        "federation__Scope",
    }
)
_FEDERATION_ROOT_FIELDS: Final = frozenset({"_service", "_entities"})
_OBJECT_KINDS: Final = (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)
_OBJECT_EXTENSIONS: Final = (ObjectTypeExtensionNode, InterfaceTypeExtensionNode)


@dataclass(frozen=True, slots=True)
class Subgraph:
    schema: GraphQLSchema
    entities: Mapping[str, str]  # entity type -> the one field of its resolvable @key


def subgraph_schema(sdl: str, source_name: str) -> Subgraph:
    """The subgraph's schema without the Federation machinery; raise ConfigError naming `source_name`:line."""
    document = parse_sdl(sdl, source_name)
    definitions: dict[str, list[DefinitionNode]] = {}
    kept: list[DefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, DirectiveDefinitionNode | SchemaExtensionNode):
            continue  # Federation's own directives and `extend schema @link(...)`
        name = getattr(getattr(definition, "name", None), "value", None)
        if name in _MACHINERY:
            continue
        if isinstance(definition, TypeDefinitionNode | TypeExtensionNode) and name is not None:
            definitions.setdefault(name, []).append(definition)
        else:
            kept.append(definition)
    entities: dict[str, str] = {}
    for name, parts in definitions.items():
        kept.extend(_folded(name, parts, entities))
    stripped = visit(DocumentNode(definitions=tuple(kept)), _StripDirectives())
    return Subgraph(
        build_document_schema(stripped, source_name), MappingProxyType(dict(sorted(entities.items())))
    )


def build_sdl_schema(sdl: str, source_name: str) -> GraphQLSchema:
    """A schema from a service's SDL file; raise ConfigError with every problem at `source_name`:line."""
    return build_document_schema(parse_sdl(sdl, source_name), source_name)


def parse_sdl(sdl: str, source_name: str) -> DocumentNode:
    """The SDL parsed, at most MAX_TOKENS long; raise ConfigError at `source_name`:line."""
    try:
        return parse(Source(sdl, source_name), max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        raise ConfigError([_problem(error, source_name)]) from None


def build_document_schema(document: DocumentNode, source_name: str) -> GraphQLSchema:
    """A valid schema from SDL nodes; raise ConfigError with every problem, at its line where it has one."""
    located = validate_sdl(document)  # the one check that keeps the errors' lines
    if located:
        raise ConfigError([_problem(error, source_name) for error in located])
    try:
        schema = build_ast_schema(document)
    except (GraphQLError, TypeError) as error:
        problems = [_problem(e, source_name) for e in getattr(error, "errors", None) or [error]]
        raise ConfigError(problems) from None
    errors = validate_schema(schema)
    if errors:
        raise ConfigError([_problem(error, source_name) for error in errors])
    return schema


def _problem(error: Exception, source_name: str) -> Problem:
    if isinstance(error, GraphQLError):
        line = error.locations[0].line if error.locations else None
        return Problem(error.message, source_name, line)
    return Problem(str(error), source_name)


def _folded(name: str, parts: list[DefinitionNode], entities: dict[str, str]) -> list[DefinitionNode]:
    """An object or interface type's definition with its extensions folded in (Federation 1 extends types it
    never defines); the entity key recorded, the external fields that are not the key left out. Other kinds
    are kept as they are, under graphql-core's own rules for extensions."""
    base = next((p for p in parts if isinstance(p, TypeDefinitionNode)), None)
    if not all(isinstance(p, _OBJECT_KINDS + _OBJECT_EXTENSIONS) for p in parts):
        return parts
    directives = [d for p in parts for d in p.directives or ()]  # type: ignore[attr-defined]
    fields = [f for p in parts for f in p.fields or ()]  # type: ignore[attr-defined]
    interfaces = [i for p in parts for i in p.interfaces or ()]  # type: ignore[attr-defined]
    key = _resolvable_key(directives, {f.name.value for f in fields})
    if key is not None:
        entities[name] = key
    fields = [f for f in fields if f.name.value == key or not _has(f, "external")]
    if name == "Query":
        fields = [f for f in fields if f.name.value not in _FEDERATION_ROOT_FIELDS]
    is_interface = isinstance(base or parts[0], InterfaceTypeDefinitionNode | InterfaceTypeExtensionNode)
    node_class: Any = InterfaceTypeDefinitionNode if is_interface else ObjectTypeDefinitionNode
    folded = node_class(
        name=(base or parts[0]).name,  # type: ignore[attr-defined]
        description=getattr(base, "description", None),
        interfaces=tuple({i.name.value: i for i in interfaces}.values()),
        directives=(),
        fields=tuple({f.name.value: f for f in fields}.values()),
        loc=(base or parts[0]).loc,
    )
    return [folded]


def _resolvable_key(directives: list[DirectiveNode], fields: set[str]) -> str | None:
    """The first `@key` that names one field of the type and is resolvable: `@batch(entity:)` matches on one."""
    for directive in directives:
        if directive.name.value != "key":
            continue
        arguments: dict[str, Any] = {a.name.value: a.value for a in directive.arguments or ()}
        resolvable = arguments.get("resolvable")
        if isinstance(resolvable, BooleanValueNode) and not resolvable.value:
            continue
        selection = arguments.get("fields")
        if isinstance(selection, StringValueNode) and selection.value.strip() in fields:
            return selection.value.strip()
    return None


def _has(field: FieldDefinitionNode, directive: str) -> bool:
    return any(d.name.value == directive for d in field.directives or ())


class _StripDirectives(Visitor):
    """Every applied directive goes but GraphQL's own: their definitions are not part of a plain schema."""

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        return None if node.name.value in KEPT_DIRECTIVES else REMOVE
