"""What composition knows of one service: its types and root fields as SDL nodes, however they were read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    GraphQLSchema,
    ObjectTypeDefinitionNode,
    TypeDefinitionNode,
    parse,
    print_schema,
)

from registry.config import ServiceConfig
from registry.errors import Problem

from ..openapi import OpenAPIDocument

__all__ = ["ROOTS", "SchemaSource", "ServiceSchema", "service_problem", "service_schema"]

ROOTS: Final = ("Query", "Mutation")  # the composed schema's root types; subscriptions are not served


@dataclass(frozen=True)
class ServiceSchema:
    service: str
    origin: (
        str  # how it was read, for the lock's header and messages: "introspection", "OpenAPI accounts.yaml"
    )
    types: Mapping[str, TypeDefinitionNode]  # every named type but the roots and GraphQL's own
    roots: Mapping[str, Mapping[str, FieldDefinitionNode]]  # "Query"/"Mutation" -> root fields
    entities: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({})
    )  # Federation: type -> key
    openapi: OpenAPIDocument | None = None
    notes: tuple[Problem, ...] = ()  # what was left out, and why


class SchemaSource(Protocol):
    """Reads one service's schema; raises ConfigError with every problem, each naming where it is."""

    async def __call__(self, service: ServiceConfig) -> ServiceSchema: ...


def service_schema(
    service: ServiceConfig,
    origin: str,
    schema: GraphQLSchema | None = None,
    *,
    document: DocumentNode | None = None,
    entities: Mapping[str, str] | None = None,
    openapi: OpenAPIDocument | None = None,
    notes: tuple[Problem, ...] = (),
) -> ServiceSchema:
    """The service's types and root fields from a schema (printed, so that every source gives the same nodes:
    applied directives other than GraphQL's own are gone), or from SDL nodes already written (`document`)."""
    roots_by_name: dict[str, str] = {}
    left_out: list[Problem] = list(notes)
    if schema is not None:
        document = parse(print_schema(schema))
        for root_name, type_ in zip(ROOTS, (schema.query_type, schema.mutation_type), strict=True):
            if type_ is not None:
                roots_by_name[type_.name] = root_name
        if schema.subscription_type is not None:
            name = schema.subscription_type.name
            left_out.append(service_problem(service, f"subscriptions are not served: {name} is left out"))
            roots_by_name[name] = ""
    types: dict[str, TypeDefinitionNode] = {}
    roots: dict[str, dict[str, FieldDefinitionNode]] = {}
    for definition in document.definitions if document is not None else ():
        if not isinstance(definition, TypeDefinitionNode):
            continue  # the schema definition, the service's own directives
        name = definition.name.value
        root = roots_by_name.get(name)
        if root is None:
            types[name] = definition
        elif root and isinstance(definition, ObjectTypeDefinitionNode):
            roots[root] = {f.name.value: f for f in definition.fields or ()}
    return ServiceSchema(
        service.name,
        origin,
        MappingProxyType(types),
        MappingProxyType({k: MappingProxyType(v) for k, v in roots.items()}),
        MappingProxyType(dict(entities or {})),
        openapi,
        tuple(left_out),
    )


def service_problem(service: ServiceConfig, message: str) -> Problem:
    """A problem of the service as a whole, at its line in the config."""
    where = service.location
    return Problem(f"{service.name}: {message}", where.file if where else None, where.line if where else None)
