"""Which fields of merged types a service is asked for but does not have.

The planner sends a field to the service that returned its parent, unless a binding says otherwise. So when
service S returns objects of a merged type T (from a root field it answers, from a link to it, or nested in
either), every field of T must be one S has, or be bound (a link, a gateway-local field). This walks each
service's own schema from those entry points, through the fields it answers itself, and lists each field of
each type it would be asked for without having it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from graphql import InterfaceTypeDefinitionNode, ObjectTypeDefinitionNode, UnionTypeDefinitionNode

from .merge import MergedField, MergedType, named_type
from .sources import ServiceSchema

__all__ = ["MissingField", "missing_fields"]


@dataclass(frozen=True, slots=True)
class MissingField:
    type_name: str
    field_name: str
    service: str  # returns the type without the field
    via: str  # the first field through which it does: `Query.products`, `Review.product`


def missing_fields(
    types: Mapping[str, MergedType],
    roots: Mapping[str, Mapping[str, MergedField]],
    schemas: Mapping[str, ServiceSchema],
) -> list[MissingField]:
    """Every (type, field, service) where the service returns the type and would be asked for the field."""
    entries: dict[str, list[tuple[str, str]]] = {}
    for coordinate, merged in _bound_fields(types, roots):
        if merged.service is not None:
            entries.setdefault(merged.service, []).append((named_type(merged.node.type), coordinate))
    missing: list[MissingField] = []
    for service, starts in sorted(entries.items()):
        schema = schemas.get(service)
        if schema is not None:  # a REST service declared by hand: its types are the gateway's
            missing.extend(_walk(schema, types, sorted(starts, key=lambda s: s[1])))
    return missing


def _bound_fields(
    types: Mapping[str, MergedType], roots: Mapping[str, Mapping[str, MergedField]]
) -> Iterator[tuple[str, MergedField]]:
    for root, fields in sorted(roots.items()):
        for name, merged in sorted(fields.items()):
            yield f"{root}.{name}", merged
    for type_name, merged_type in sorted(types.items()):
        for name, merged in sorted(merged_type.fields.items()):
            yield f"{type_name}.{name}", merged


def _walk(
    schema: ServiceSchema, types: Mapping[str, MergedType], starts: list[tuple[str, str]]
) -> list[MissingField]:
    missing: list[MissingField] = []
    seen: set[str] = set()
    queue = deque(starts)
    while queue:
        type_name, via = queue.popleft()
        if type_name in seen:
            continue
        seen.add(type_name)
        own = schema.types.get(type_name)
        if isinstance(own, UnionTypeDefinitionNode):
            queue.extend((t.name.value, via) for t in own.types or ())
            continue
        if not isinstance(own, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            continue  # a scalar or an enum, or a type the service does not have (a checker's business)
        if isinstance(own, InterfaceTypeDefinitionNode):
            queue.extend(
                (name, via)
                for name, node in sorted(schema.types.items())
                if isinstance(node, ObjectTypeDefinitionNode)
                and any(i.name.value == type_name for i in node.interfaces or ())
            )
        has = {f.name.value: f for f in own.fields or ()}
        merged_type = types.get(type_name)
        for name, merged in sorted(merged_type.fields.items() if merged_type else ()):
            if merged.gateway is not None:
                continue  # bound, or computed by the gateway: not asked of this service
            if name in has:
                queue.append((named_type(has[name].type), f"{type_name}.{name}"))
            else:
                missing.append(MissingField(type_name, name, schema.service, via))
    return missing
