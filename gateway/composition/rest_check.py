"""REST bindings checked against the services' OpenAPI documents: the path is a GET operation there, the
arguments and the batch's key list are its query parameters (sent the way Funnel sends them), and its JSON
answer has the shape and the properties the bound field reads. Each mismatch is a problem at the binding's
file:line."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    get_named_type,
)

from registry.bindings import BatchBinding, Binding, FieldCoordinate, RemoteBinding
from registry.errors import Problem

from .openapi import OpenAPIDocument, Operation

__all__ = ["check_rest_bindings"]

_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")


def check_rest_bindings(
    schema: GraphQLSchema, bindings: Sequence[Binding], documents: Mapping[str, OpenAPIDocument]
) -> list[Problem]:
    """Every mismatch between the REST bindings (with `path:`) and the documents of their services."""
    bound = {binding.coordinate for binding in bindings}
    problems: list[Problem] = []
    for binding in bindings:
        if not isinstance(binding, RemoteBinding | BatchBinding) or binding.path is None:
            continue
        document = documents.get(binding.service)
        parent = schema.get_type(binding.coordinate.type_name)
        if document is None or not isinstance(parent, GraphQLObjectType):
            continue
        field = parent.fields.get(binding.coordinate.field_name)
        if field is None:
            continue  # the annotation check says so
        where = binding.location
        problems.extend(
            Problem(
                message, where.file if where else None, where.line if where else None, str(binding.coordinate)
            )
            for message in _messages(binding, field, document, bound)
        )
    return problems


def _messages(
    binding: RemoteBinding | BatchBinding,
    field: GraphQLField,
    document: OpenAPIDocument,
    bound: set[FieldCoordinate],
) -> Iterator[str]:
    assert binding.path is not None
    operation = document.at(binding.path)
    if operation is None:
        paths = ", ".join(sorted(o.path for o in document.operations if o.method == "GET")) or "none"
        yield f"GET {binding.path} is not in {document.source} (GET paths: {paths})"
        return
    if isinstance(binding, RemoteBinding):
        placeholders = set(_PLACEHOLDER.findall(binding.path))
        sent = [name for name in field.args if name not in placeholders]
    else:
        sent = [binding.arg]
        yield from _key_parameter(operation, binding.arg)
    query = ", ".join(p.name for p in operation.parameters if p.location == "query") or "none"
    for name in sent:
        if operation.parameter(name) is None:
            yield f"{operation.title} takes no query parameter '{name}' (query parameters: {query})"
    for parameter in operation.parameters:
        if parameter.required and parameter.location == "query" and parameter.name not in sent:
            yield f"{operation.title} requires the query parameter '{parameter.name}', which Funnel does not send"
    if operation.response is None:
        yield f"{operation.title} has no JSON answer in {document.source}"
        return
    answer = document.resolve(operation.response)
    if isinstance(binding, BatchBinding):
        if not _is_array(answer):
            yield f"{operation.title} answers {_shape(answer)}, not the array a batch needs"
            return
        item = document.resolve(answer.get("items"))
        properties = _properties(document, item)
        if binding.match not in properties:
            yield f"the items of {operation.title} have no property '{binding.match}' (match:)"
        if binding.select is not None:
            if binding.select not in properties:
                yield f"the items of {operation.title} have no property '{binding.select}' (select:)"
                return
            answer = document.resolve(properties[binding.select])
        else:
            answer = item
    elif _is_list(field.type) != _is_array(answer):
        expected = "a list" if _is_list(field.type) else "one object"
        yield f"{binding.coordinate} returns {expected} but {operation.title} answers {_shape(answer)}"
        return
    yield from _missing_properties(field.type, answer, document, operation, bound)


def _key_parameter(operation: Operation, name: str) -> Iterator[str]:
    parameter = operation.parameter(name)
    if parameter is not None and parameter.is_list and parameter.exploded:
        yield (
            f"query parameter '{name}' of {operation.title} is exploded ({name}=1&{name}=2); "
            f"Funnel sends {name}=1,2: declare `explode: false`"
        )


def _missing_properties(
    type_: GraphQLType,
    answer: Any,
    document: OpenAPIDocument,
    operation: Operation,
    bound: set[FieldCoordinate],
) -> Iterator[str]:
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        return
    if _is_array(answer):
        answer = document.resolve(answer.get("items"))
    properties = _properties(document, answer)
    listing = ", ".join(sorted(properties)) or "none"
    for name in named.fields:
        if FieldCoordinate(named.name, name) not in bound and name not in properties:
            yield f"{named.name}.{name} is not in the answer of {operation.title} (properties: {listing})"


def _properties(document: OpenAPIDocument, schema: Any) -> dict[str, Any]:
    schema = document.resolve(schema)
    if not isinstance(schema, Mapping):
        return {}
    properties = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or ():
        properties.update(_properties(document, part))
    return properties


def _is_list(type_: GraphQLType) -> bool:
    return isinstance(type_.of_type if isinstance(type_, GraphQLNonNull) else type_, GraphQLList)


def _is_array(schema: Any) -> bool:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def _shape(schema: Any) -> str:
    return "an array" if _is_array(schema) else "an object" if isinstance(schema, Mapping) else "nothing"
