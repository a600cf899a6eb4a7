"""Types of the same name from several services, merged into one when they agree and refused when they do not;
the root fields each service exposes; what the gateway schema adds on top.

Agreeing means: the same kind; for object types and interfaces, a field that several services have has the same
arguments and the same type but for nullability (the merged field is nullable wherever one of them is, so that
every service's answer fits it); enums with the same values; input objects with the same fields. The merged
type has the union of the fields, and each field knows which services have it (`MergedField.owners`): the
planner forwards a field to the service that returned its parent, so a field only some services have needs a
link when another service returns the type (see `reachability`).

What the gateway schema declares is the gateway's own: its field replaces a service's field of the same name,
its enum, union, input or scalar replaces a service's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from graphql import (
    ConstArgumentNode,
    ConstDirectiveNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    StringValueNode,
    TypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    print_ast,
)

from registry.bindings import SourceLocation
from registry.config import ExposedField, ServiceConfig
from registry.errors import Problem

from .links import GatewayAdditions, GatewayField, node_location
from .sources import ROOTS, ServiceSchema

__all__ = ["MergedField", "MergedType", "Merger", "directive_node", "field_with", "named_type"]

_KINDS: Final[Mapping[type, str]] = {
    ObjectTypeDefinitionNode: "an object type",
    InterfaceTypeDefinitionNode: "an interface",
    UnionTypeDefinitionNode: "a union",
    EnumTypeDefinitionNode: "an enum",
    InputObjectTypeDefinitionNode: "an input object",
    ScalarTypeDefinitionNode: "a scalar",
}
_WITH_FIELDS: Final = (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)


@dataclass
class MergedField:
    node: FieldDefinitionNode  # what the composed schema prints (its type the merged one)
    owners: list[str]  # the services that have it, in name order
    origin: SourceLocation | None  # the gateway schema's line, or the first owner's line in the config
    service: str | None = None  # the service a binding sends it to (@remote, @batch), if it has one
    gateway: GatewayField | None = (
        None  # set when the gateway schema declares it (or composition made a link)
    )


@dataclass
class MergedType:
    name: str
    node: (
        TypeDefinitionNode  # the first definition: kind and description; printed whole for enums and the like
    )
    owners: list[str]
    origin: SourceLocation | None
    fields: dict[str, MergedField] = field(default_factory=dict)
    interfaces: dict[str, None] = field(default_factory=dict)  # ordered set
    members: dict[str, None] = field(default_factory=dict)  # a union's


def named_type(type_: TypeNode) -> str:
    while isinstance(type_, NonNullTypeNode | ListTypeNode):
        type_ = type_.type
    assert isinstance(type_, NamedTypeNode)
    return type_.name.value


class Merger:
    """Collects the merged types and root fields, and every problem on the way."""

    def __init__(self, services: Mapping[str, ServiceConfig], config_path: str | None) -> None:
        self.services = services
        self.config_path = config_path
        self.types: dict[str, MergedType] = {}
        self.roots: dict[str, dict[str, MergedField]] = {root: {} for root in ROOTS}
        self.problems: list[Problem] = []

    # -- services -------------------------------------------------------------------------------------------

    def add_service(self, schema: ServiceSchema) -> None:
        origin = self._service_line(schema.service)
        for name, node in schema.types.items():
            merged = self.types.get(name)
            if merged is None:
                merged = self.types[name] = MergedType(name, node, [], origin)
                if isinstance(node, UnionTypeDefinitionNode):
                    merged.members.update((t.name.value, None) for t in node.types or ())
            elif type(merged.node) is not type(node):
                self._conflict(
                    schema.service,
                    name,
                    f"{merged.owners[0]} has {_KINDS[type(merged.node)]} but {schema.service} has {_KINDS[type(node)]}",
                )
                continue
            else:
                self._merge_other_kinds(merged, node, schema.service)
            merged.owners.append(schema.service)
            if isinstance(node, _WITH_FIELDS):
                merged.interfaces.update((i.name.value, None) for i in node.interfaces or ())
                for field_node in node.fields or ():
                    self._merge_field(merged.name, merged.fields, field_node, schema.service, origin)

    def _merge_field(
        self,
        type_name: str,
        fields: dict[str, MergedField],
        node: FieldDefinitionNode,
        service: str,
        origin: SourceLocation | None,
    ) -> None:
        name = node.name.value
        merged = fields.get(name)
        if merged is None:
            fields[name] = MergedField(node, [service], origin)
            return
        coordinate = f"{type_name}.{name}"
        first = merged.owners[0]
        if _signature(merged.node) != _signature(node):
            self._conflict(
                service,
                coordinate,
                f"{first} takes ({_signature(merged.node)}) but {service} takes ({_signature(node)})",
            )
            return
        weaker = _weaker(merged.node.type, node.type)
        if weaker is None:
            self._conflict(
                service,
                coordinate,
                f"{first} has {print_ast(merged.node.type)} but {service} has {print_ast(node.type)}",
            )
            return
        merged.node = field_with(merged.node, type_=weaker)
        merged.owners.append(service)

    def _merge_other_kinds(self, merged: MergedType, node: TypeDefinitionNode, service: str) -> None:
        first = merged.owners[0]
        if isinstance(node, EnumTypeDefinitionNode) and isinstance(merged.node, EnumTypeDefinitionNode):
            values, other_values = _enum_values(merged.node), _enum_values(node)
            if values != other_values:
                self._conflict(
                    service,
                    merged.name,
                    f"{first} has the values {', '.join(values)} but {service} has {', '.join(other_values)}",
                )
        elif isinstance(node, InputObjectTypeDefinitionNode) and isinstance(
            merged.node, InputObjectTypeDefinitionNode
        ):
            ours_fields, theirs_fields = _input_fields(merged.node), _input_fields(node)
            for name in sorted(ours_fields.keys() | theirs_fields.keys()):
                ours, theirs = ours_fields.get(name, "nothing"), theirs_fields.get(name, "nothing")
                if ours != theirs:
                    # Inputs go downstream as they are: a field one service does not know fails its calls.
                    self._conflict(
                        service, f"{merged.name}.{name}", f"{first} has {ours} but {service} has {theirs}"
                    )
        elif isinstance(node, UnionTypeDefinitionNode):
            merged.members.update((t.name.value, None) for t in node.types or ())

    # -- root fields ----------------------------------------------------------------------------------------

    def add_roots(self, schema: ServiceSchema) -> None:
        """The service's root fields that `expose:` names (all by default), with `@remote` to the service."""
        config = self.services[schema.service]
        available = {
            (root, name): node for root, fields in schema.roots.items() for name, node in fields.items()
        }
        exposed = config.expose
        if exposed is None:
            exposed = tuple(ExposedField(name, name) for _, name in sorted(available, key=lambda k: k[1]))
        for entry in exposed:
            found = [(root, node) for (root, name), node in sorted(available.items()) if name == entry.field]
            if not found:
                where = entry.location or config.location
                listing = "; ".join(
                    f"{root}: {', '.join(sorted(fields)) or 'none'}"
                    for root, fields in sorted(schema.roots.items())
                )
                self.problems.append(
                    Problem(
                        f"{schema.service} has no root field '{entry.field}' ({listing or 'no root fields'})",
                        where.file if where else self.config_path,
                        where.line if where else None,
                        f"services.{schema.service}.expose",
                    )
                )
            for root, node in found:
                arguments = [("service", schema.service)]
                if entry.name != entry.field:
                    arguments.append(("field", entry.field))
                remote = directive_node("remote", arguments)
                exposed_node = field_with(
                    node, name=entry.name, directives=(*(node.directives or ()), remote)
                )
                where = entry.location or config.location
                self._add_root(
                    root,
                    MergedField(exposed_node, [schema.service], where, service=schema.service),
                    f"{schema.service} exposes it",
                )

    def _add_root(self, root: str, merged: MergedField, who: str) -> None:
        name = merged.node.name.value
        earlier = self.roots[root].get(name)
        if earlier is None:
            self.roots[root][name] = merged
            return
        first = (
            f"{earlier.owners[0]} exposes it" if earlier.gateway is None else "the gateway schema declares it"
        )
        where = merged.origin
        message = f"{first} and {who}: rename one (expose: [{{{name}: new_name}}])"
        self.problems.append(
            Problem(
                message,
                where.file if where else self.config_path,
                where.line if where else None,
                f"{root}.{name}",
            )
        )

    # -- the gateway schema ---------------------------------------------------------------------------------

    def add_gateway(self, additions: GatewayAdditions) -> None:
        for name, node in additions.types.items():
            where = node_location(node, additions.path or "")
            merged = self.types.get(name)
            if merged is not None and type(merged.node) is not type(node):
                owners = " and ".join(merged.owners)
                has = "has" if len(merged.owners) == 1 else "have"
                declared = _KINDS[type(node)]
                message = (
                    f"{owners} {has} {_KINDS[type(merged.node)]} but the gateway schema declares {declared}"
                )
                self._problem_at(where, name, message)
                continue
            if merged is None:
                self.types[name] = merged = MergedType(name, _without_fields(node), [], where)
            elif not isinstance(node, _WITH_FIELDS) or node.description is not None:
                merged.node = _without_fields(
                    node
                )  # its own enum, union, input or scalar; or its description
            if isinstance(node, UnionTypeDefinitionNode):
                merged.members = {t.name.value: None for t in node.types or ()}
        for name, where in additions.extended.items():
            if name not in self.types and name not in ROOTS:
                self._problem_at(
                    where, name, f"no service has a type {name} to extend (declare it with `type {name}`)"
                )
        for name, interfaces in additions.interfaces.items():
            if name in self.types:
                self.types[name].interfaces.update((i, None) for i in interfaces)
        for added in additions.fields:
            merged_field = MergedField(added.node, [], added.location, service=added.service, gateway=added)
            if added.type_name in ROOTS:
                self._add_root(added.type_name, merged_field, "the gateway schema declares it")
            elif added.type_name in self.types:
                known = self.types[added.type_name].fields.get(added.node.name.value)
                merged_field.owners = known.owners if known is not None else []
                self.types[added.type_name].fields[added.node.name.value] = merged_field

    # -- problems -------------------------------------------------------------------------------------------

    def _service_line(self, service: str) -> SourceLocation | None:
        config = self.services.get(service)
        return config.location if config is not None else None

    def _conflict(self, service: str, coordinate: str, message: str) -> None:
        self._problem_at(self._service_line(service), coordinate, message)

    def _problem_at(self, where: SourceLocation | None, coordinate: str, message: str) -> None:
        self.problems.append(
            Problem(
                message, where.file if where else self.config_path, where.line if where else None, coordinate
            )
        )


def _signature(node: FieldDefinitionNode) -> str:
    """A field's arguments as compared across services: names, types and defaults, in name order."""
    return ", ".join(
        f"{a.name.value}: {print_ast(a.type)}"
        + (f" = {print_ast(a.default_value)}" if a.default_value else "")
        for a in sorted(node.arguments or (), key=lambda a: a.name.value)
    )


def _weaker(a: TypeNode, b: TypeNode) -> TypeNode | None:
    """The type both `a` and `b` fit (nullable where either is), or None if they differ beyond nullability."""
    a_required, b_required = isinstance(a, NonNullTypeNode), isinstance(b, NonNullTypeNode)
    a_inner = a.type if isinstance(a, NonNullTypeNode) else a
    b_inner = b.type if isinstance(b, NonNullTypeNode) else b
    inner: TypeNode
    if isinstance(a_inner, NamedTypeNode) and isinstance(b_inner, NamedTypeNode):
        if a_inner.name.value != b_inner.name.value:
            return None
        inner = NamedTypeNode(name=a_inner.name)
    elif isinstance(a_inner, ListTypeNode) and isinstance(b_inner, ListTypeNode):
        item = _weaker(a_inner.type, b_inner.type)
        if item is None:
            return None
        inner = ListTypeNode(type=item)
    else:
        return None
    return NonNullTypeNode(type=inner) if a_required and b_required else inner


def _enum_values(node: EnumTypeDefinitionNode) -> list[str]:
    return sorted(v.name.value for v in node.values or ())


def _input_fields(node: InputObjectTypeDefinitionNode) -> dict[str, str]:
    return {
        f.name.value: print_ast(f.type) + (f" = {print_ast(f.default_value)}" if f.default_value else "")
        for f in node.fields or ()
    }


def directive_node(name: str, arguments: Iterable[tuple[str, str]]) -> ConstDirectiveNode:
    return ConstDirectiveNode(
        name=NameNode(value=name),
        arguments=tuple(
            ConstArgumentNode(name=NameNode(value=k), value=StringValueNode(value=v)) for k, v in arguments
        ),
    )


def field_with(
    node: FieldDefinitionNode,
    *,
    name: str | None = None,
    type_: TypeNode | None = None,
    directives: tuple[ConstDirectiveNode, ...] | None = None,
) -> FieldDefinitionNode:
    return FieldDefinitionNode(
        name=NameNode(value=name) if name is not None else node.name,
        description=node.description,
        arguments=node.arguments,
        type=type_ if type_ is not None else node.type,
        directives=directives if directives is not None else node.directives,
        loc=node.loc,
    )


def _without_fields(node: TypeDefinitionNode) -> TypeDefinitionNode:
    """An object or interface definition's header: its fields are kept apart, merged one by one."""
    if not isinstance(node, _WITH_FIELDS):
        return node
    return type(node)(
        name=node.name, description=node.description, interfaces=(), directives=(), fields=(), loc=node.loc
    )
