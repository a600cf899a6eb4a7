"""Which batched fields the entity cache keeps, for how long, and for whom: from `@cacheControl` in the gateway
schema and the config's `cache.fields` / `cache.types`.

    rules = entity_rules(version.schema, version.bindings, config.cache, config.services)

A rule applies to a field bound with `@batch` (a GraphQL batch field, a Federation entity, a REST batch). Its
max age comes from, first to last: `cache.fields["Order.product"]`, `@cacheControl` on the field,
`cache.types["Product"]`, `@cacheControl` on the field's type (for a Federation binding: on the entity type). No
max age (or 0) means not cached: the cache is off unless something sets one. `@cacheControl` on other fields
(root fields, resolvers) is accepted, as Apollo schemas write it everywhere, and changes nothing.

A rule is private — every entry kept per caller — when its scope says PRIVATE (wherever the max age came from,
any source saying PRIVATE wins) or its service is forwarded the caller's `authorization` header: what the
service answers may then depend on who asks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    get_directive_values,
    get_named_type,
)
from graphql.language import Node

from registry.bindings import BatchBinding, Binding, FieldCoordinate, SourceLocation
from registry.config import CacheConfig, CacheRule, ServiceConfig
from registry.errors import ConfigError, Problem

__all__ = ["EntityRule", "entity_rules"]


@dataclass(frozen=True, slots=True)
class EntityRule:
    """How one batched field's answers are cached: per key, filed under `type_name` for invalidation."""

    max_age: int  # seconds a found value is kept
    negative_max_age: int  # seconds a key the service does not know is kept as absent
    private: bool  # kept per caller: the entry's key holds a hash of the caller's credentials
    type_name: str  # the entity type the keys are keys of (`Product` for `Order.product`)


@dataclass(frozen=True, slots=True)
class _Said:
    max_age: int | None
    private: bool


def entity_rules(
    schema: GraphQLSchema,
    bindings: Mapping[FieldCoordinate, Binding],
    config: CacheConfig,
    services: Mapping[str, ServiceConfig],
) -> Mapping[FieldCoordinate, EntityRule]:
    """The rule of every cached batched field; ConfigError (every problem, with file:line) for a config rule
    that names no type or no batched field of the schema."""
    _check_config(schema, bindings, config)
    rules: dict[FieldCoordinate, EntityRule] = {}
    for coordinate, binding in bindings.items():
        if not isinstance(binding, BatchBinding):
            continue
        parent = schema.get_type(coordinate.type_name)
        assert isinstance(parent, GraphQLObjectType), coordinate
        field = parent.fields[coordinate.field_name]
        type_name = binding.entity or get_named_type(field.type).name
        said = [
            _from_config(config.fields.get(str(coordinate))),
            _from_directive(schema, field),
            _from_config(config.types.get(type_name)),
            _from_directive(schema, schema.get_type(type_name)),
        ]
        max_age = next((s.max_age for s in said if s.max_age is not None), None)
        if not max_age:
            continue
        service = services.get(binding.service)
        forwards = service is not None and "authorization" in service.forward_headers
        rules[coordinate] = EntityRule(
            max_age,
            min(config.negative_max_age, max_age),
            forwards or any(s.private for s in said),
            type_name,
        )
    return MappingProxyType(rules)


def _from_config(rule: CacheRule | None) -> _Said:
    if rule is None:
        return _Said(None, False)
    return _Said(rule.max_age, rule.scope == "private")


def _from_directive(schema: GraphQLSchema, owner: GraphQLField | GraphQLNamedType | None) -> _Said:
    directive = schema.get_directive("cacheControl")
    if owner is None or directive is None:
        return _Said(None, False)
    max_age: int | None = None
    private = False
    for node in _nodes(owner):
        values: dict[str, Any] = get_directive_values(directive, node) or {}  # type: ignore[arg-type]
        if values.get("maxAge") is not None:
            max_age = values["maxAge"]
        private = private or values.get("scope") == "PRIVATE"
    return _Said(max_age, private)


def _nodes(owner: GraphQLField | GraphQLNamedType) -> Iterator[Node]:
    if owner.ast_node is not None:
        yield owner.ast_node
    yield from getattr(owner, "extension_ast_nodes", None) or ()


def _check_config(
    schema: GraphQLSchema, bindings: Mapping[FieldCoordinate, Binding], config: CacheConfig
) -> None:
    problems: list[Problem] = []
    for name, rule in config.fields.items():
        coordinate = FieldCoordinate.parse(name)
        if not isinstance(bindings.get(coordinate), BatchBinding):
            problems.append(_problem(f"cache.fields: {name} is no field bound with @batch", rule.location))
    for name, rule in config.types.items():
        if schema.get_type(name) is None:
            problems.append(_problem(f"cache.types: the schema has no type {name}", rule.location))
    if problems:
        raise ConfigError(problems)


def _problem(message: str, location: SourceLocation | None) -> Problem:
    if location is None:
        return Problem(message)
    return Problem(message, location.file, location.line)
