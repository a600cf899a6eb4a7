"""The gateway SDL of a composed schema: only what the gateway adds to the services' schemas.

It may extend the services' types with links (`extend type Order { product: Product @batch(...) }`) and
gateway-local fields (for `@gateway.resolver`/`@gateway.loader`), declare root fields (`extend type Query`)
and whole types of its own (a REST service declared by hand). On a REST service with an OpenAPI document,
`@remote(operation:)` and `@batch(operation:)` name an `operationId` instead of a path: they are resolved here
to the `path:` (and for `@batch` the `arg:`) that the engine's annotations take, so the composed schema is in
the one annotation language.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from graphql import (
    ConstArgumentNode,
    ConstDirectiveNode,
    DirectiveDefinitionNode,
    DirectiveNode,
    FieldDefinitionNode,
    GraphQLError,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    NameNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    SchemaDefinitionNode,
    SchemaExtensionNode,
    Source,
    StringValueNode,
    TypeDefinitionNode,
    TypeExtensionNode,
    parse,
)
from graphql.language import get_location

from registry.bindings import SourceLocation
from registry.errors import ConfigError, Problem

from .openapi import OpenAPIDocument
from .sources import ROOTS
from .subgraph import MAX_TOKENS

__all__ = ["BINDING_DIRECTIVES", "GatewayAdditions", "GatewayField", "gateway_additions", "node_location"]

BINDING_DIRECTIVES: Final = ("remote", "batch")
_OBJECTS: Final = (
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
)


@dataclass(frozen=True, slots=True)
class GatewayField:
    """A field the gateway schema declares: a link, a root field, or a field the gateway computes itself."""

    type_name: str
    node: FieldDefinitionNode  # `operation:` already resolved
    service: str | None  # the service of its @remote/@batch; None for a gateway-local field
    location: SourceLocation


@dataclass(frozen=True)
class GatewayAdditions:
    path: str | None
    fields: tuple[GatewayField, ...] = ()
    types: Mapping[str, TypeDefinitionNode] = field(default_factory=dict)  # defined here (`type Account`)
    extended: Mapping[str, SourceLocation] = field(default_factory=dict)  # extended here, first line
    interfaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # added to a type here
    directives: tuple[DirectiveDefinitionNode, ...] = ()  # directives of its own (not Funnel's)


def gateway_additions(sdl: str, path: str, documents: Mapping[str, OpenAPIDocument]) -> GatewayAdditions:
    """Read the gateway SDL `sdl` (the text of the file `path`); `documents` are the REST services' OpenAPI
    documents, which `operation:` refers to. Raise ConfigError with every problem."""
    try:
        document = parse(Source(sdl, path), max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        line = error.locations[0].line if error.locations else None
        raise ConfigError([Problem(error.message, path, line)]) from None
    problems: list[Problem] = []
    fields: list[GatewayField] = []
    types: dict[str, TypeDefinitionNode] = {}
    extended: dict[str, SourceLocation] = {}
    interfaces: dict[str, list[str]] = {}
    directives: list[DirectiveDefinitionNode] = []
    for definition in document.definitions:
        where = node_location(definition, path)
        if isinstance(definition, DirectiveDefinitionNode):
            if definition.name.value not in BINDING_DIRECTIVES:
                directives.append(definition)
            continue
        if isinstance(definition, SchemaDefinitionNode | SchemaExtensionNode):
            problems.append(
                _problem(where, "the composed schema's roots are Query and Mutation: leave `schema` out")
            )
            continue
        if not isinstance(definition, TypeDefinitionNode | TypeExtensionNode):
            problems.append(
                _problem(where, "only type definitions and extensions belong in the gateway schema")
            )
            continue
        name = definition.name.value
        if isinstance(definition, TypeExtensionNode) and not isinstance(definition, _OBJECTS):
            problems.append(
                _problem(where, f"{name}: only object types and interfaces can be extended here", name)
            )
            continue
        if isinstance(definition, TypeExtensionNode):
            extended.setdefault(name, where)
        elif name in types:
            problems.append(_problem(where, f"{name} is defined twice (use `extend type {name}`)", name))
            continue
        elif name not in ROOTS:
            types[name] = definition
        if isinstance(definition, _OBJECTS):
            interfaces.setdefault(name, []).extend(i.name.value for i in definition.interfaces or ())
            for node in definition.fields or ():
                resolved = _resolve_operations(node, path, documents, problems)
                service = _binding_service(resolved)
                fields.append(GatewayField(name, resolved, service, node_location(node, path)))
    if problems:
        raise ConfigError(problems)
    return GatewayAdditions(
        path, tuple(fields), types, extended, {k: tuple(v) for k, v in interfaces.items()}, tuple(directives)
    )


def _binding_service(node: FieldDefinitionNode) -> str | None:
    for directive in node.directives or ():
        if directive.name.value in BINDING_DIRECTIVES:
            service = _arguments(directive).get("service")
            return service if isinstance(service, str) else ""
    return None


def _arguments(directive: DirectiveNode) -> dict[str, object]:
    return {
        a.name.value: a.value.value if isinstance(a.value, StringValueNode) else a.value
        for a in directive.arguments or ()
    }


def _resolve_operations(
    node: FieldDefinitionNode, path: str, documents: Mapping[str, OpenAPIDocument], problems: list[Problem]
) -> FieldDefinitionNode:
    """The field with each `operation:` replaced by the path (and list parameter) it names."""
    directives = []
    for directive in node.directives or ():
        arguments = _arguments(directive)
        if directive.name.value not in BINDING_DIRECTIVES or "operation" not in arguments:
            directives.append(directive)
            continue
        where = node_location(directive, path)
        messages = list(_operation_messages(directive.name.value, arguments, documents))
        if messages:
            problems.extend(_problem(where, message, node.name.value) for message in messages)
            directives.append(directive)
            continue
        document = documents[str(arguments["service"])]
        operation = document.operation(str(arguments["operation"]))
        assert operation is not None  # checked above
        given = [a for a in directive.arguments or () if a.name.value != "operation"]
        added = {"path": operation.path}
        if directive.name.value == "batch" and "arg" not in arguments:
            lists = [p.name for p in operation.parameters if p.location == "query" and p.is_list]
            if lists[0] != "ids":
                added["arg"] = lists[0]
        given += [
            ConstArgumentNode(name=NameNode(value=k), value=StringValueNode(value=v))
            for k, v in added.items()
        ]
        directives.append(ConstDirectiveNode(name=directive.name, arguments=tuple(given), loc=directive.loc))
    return FieldDefinitionNode(
        name=node.name,
        description=node.description,
        arguments=node.arguments,
        type=node.type,
        directives=tuple(directives),
        loc=node.loc,
    )


def _operation_messages(
    directive: str, arguments: Mapping[str, object], documents: Mapping[str, OpenAPIDocument]
) -> Iterator[str]:
    service, operation_id = arguments.get("service"), arguments.get("operation")
    if not isinstance(operation_id, str):
        yield f"@{directive}(operation:) must be a string (an operationId)"
        return
    if "path" in arguments:
        yield f"@{directive}: give operation or path, not both"
    document = documents.get(str(service))
    if document is None:
        yield f"@{directive}(operation:) needs the OpenAPI document of the service (services.{service}.openapi)"
        return
    operation = document.operation(operation_id)
    if operation is None:
        known = ", ".join(sorted(o.operation_id for o in document.operations if o.operation_id)) or "none"
        yield f"{service} has no operation '{operation_id}' (operations: {known})"
        return
    if operation.method != "GET":
        yield f"operation '{operation_id}' is {operation.method} {operation.path}; Funnel calls REST services with GET"
    if directive == "batch" and "arg" not in arguments:
        lists = [p.name for p in operation.parameters if p.location == "query" and p.is_list]
        if len(lists) != 1:
            yield (
                f'@batch(operation: "{operation_id}"): cannot tell which query parameter takes the keys '
                f"(list parameters: {', '.join(lists) or 'none'}); give arg:"
            )


def node_location(node: object, path: str) -> SourceLocation:
    """Where an SDL node was written: its source's name and line (`path`, line 0, for a node without one)."""
    loc = getattr(node, "loc", None)
    if loc is None:
        return SourceLocation(path, 0)
    return SourceLocation(loc.source.name, get_location(loc.source, loc.start).line)


def _problem(where: SourceLocation, message: str, coordinate: str | None = None) -> Problem:
    return Problem(message, where.file, where.line, coordinate)
