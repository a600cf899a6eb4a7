"""The `@join__*` directives of a Federation supergraph, read into plain data: which subgraphs there are (and
where), which subgraphs know each type and with which keys, which subgraphs resolve each field.

    supergraph = read_join(parse(text))
    supergraph.graphs["PRODUCTS"]            # JoinGraph(name="products", url="http://...")
    supergraph.resolvers("Product", "name")  # ("PRODUCTS",)
    supergraph.possible_types("SEARCH")      # {"Result": frozenset({"Book", "Member"})}

Join spec versions 0.1 to 0.5 are read alike: what a later version adds (`resolvable`, `isInterfaceObject`,
`override`, `usedOverridden`, `overrideLabel`) has its older meaning when absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    InterfaceTypeDefinitionNode,
    InterfaceTypeExtensionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    StringValueNode,
)

from .field_set import FieldSetError, field_paths

__all__ = ["JoinField", "JoinGraph", "JoinType", "Supergraph", "read_join"]


@dataclass(frozen=True, slots=True)
class JoinGraph:
    name: str  # the subgraph's name (`@join__graph(name:)`), which Funnel uses as its service name
    url: str


@dataclass(frozen=True, slots=True)
class JoinType:
    graph: str  # the join__Graph enum value
    key: str | None = None  # a field set, e.g. "upc" or "id sku" or "owner { id }"
    resolvable: bool = True  # false: the subgraph names the key but cannot resolve the entity
    extension: bool = False
    interface_object: bool = False


@dataclass(frozen=True, slots=True)
class JoinField:
    graph: str | None
    external: bool = False
    requires: str | None = None
    provides: str | None = None
    override: str | None = None
    used_overridden: bool = False
    # Progressive `@override(label:)`: on the overriding field with `override`, on the overridden one without.
    # Funnel treats it as fully overridden: the overridden subgraph is not asked for the field.
    override_label: str | None = None

    @property
    def overridden(self) -> bool:
        return self.used_overridden or (self.override_label is not None and self.override is None)


@dataclass(frozen=True, slots=True)
class Supergraph:
    graphs: Mapping[str, JoinGraph]  # by enum value, in the supergraph's order
    types: Mapping[str, tuple[JoinType, ...]] = field(default_factory=lambda: MappingProxyType({}))
    fields: Mapping[tuple[str, str], tuple[JoinField, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # (graph, interface) per object type (`@join__implements`), (graph, member) per union (`@join__unionMember`)
    implements: Mapping[str, tuple[tuple[str, str], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    members: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=lambda: MappingProxyType({}))
    owners: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # join v0.1

    def type_graphs(self, type_name: str) -> tuple[str, ...]:
        """The subgraphs that know the type, in the supergraph's order."""
        known = {t.graph for t in self.types.get(type_name, ())}
        return tuple(g for g in self.graphs if g in known)

    def resolvers(self, type_name: str, field_name: str) -> tuple[str, ...]:
        """The subgraphs that resolve the field themselves (not `@external` there, not overridden away)."""
        joined = self.fields.get((type_name, field_name))
        if not joined:
            # Join v0.1: a field without `@join__field` is its type's owner's, and a key field the key's subgraph's
            # too; later versions: every subgraph's that has the type.
            owner = self.owners.get(type_name)
            if owner is None:
                return self.type_graphs(type_name)
            keyed = {
                t.graph
                for t in self.types.get(type_name, ())
                if t.key is not None and field_name in _key_fields(t.key)
            }
            return tuple(g for g in self.graphs if g == owner or g in keyed)
        # A bare `@join__field` (no graph) marks a field no subgraph of the type resolves: an @interfaceObject's.
        own = {j.graph for j in joined if j.graph is not None and not j.external and not j.overridden}
        return tuple(g for g in self.graphs if g in own)

    def interface_objects(self, type_name: str, field_name: str) -> tuple[tuple[str, str], ...]:
        """(graph, interface) for each `@interfaceObject` subgraph that resolves this field of the type for every
        implementation of one of its interfaces."""
        interfaces = sorted({interface for _, interface in self.implements.get(type_name, ())})
        return tuple(
            (t.graph, interface)
            for interface in interfaces
            for t in self.types.get(interface, ())
            if t.interface_object and t.graph in self.resolvers(interface, field_name)
        )

    def possible_types(self, graph: str) -> dict[str, frozenset[str]]:
        """The object types of each interface and union of one subgraph's own schema: a subgraph's document
        may only name those (the supergraph's may have more, from other subgraphs)."""
        possible: dict[str, set[str]] = {}
        for object_type, implemented in self.implements.items():
            for in_graph, interface in implemented:
                if in_graph == graph:
                    possible.setdefault(interface, set()).add(object_type)
        for union, members in self.members.items():
            for in_graph, member in members:
                if in_graph == graph:
                    possible.setdefault(union, set()).add(member)
        return {name: frozenset(types) for name, types in sorted(possible.items())}

    def keys(self, type_name: str, graph: str) -> tuple[str, ...]:
        """The type's resolvable `@key`s in one subgraph."""
        return tuple(
            t.key
            for t in self.types.get(type_name, ())
            if t.graph == graph and t.key is not None and t.resolvable
        )


def read_join(document: DocumentNode) -> Supergraph:
    graphs: dict[str, JoinGraph] = {}
    types: dict[str, list[JoinType]] = {}
    fields: dict[tuple[str, str], list[JoinField]] = {}
    implements: dict[str, list[tuple[str, str]]] = {}
    members: dict[str, list[tuple[str, str]]] = {}
    owners: dict[str, str] = {}
    for definition in document.definitions:
        name = getattr(getattr(definition, "name", None), "value", "")
        if name == "join__Graph":
            for value in getattr(definition, "values", None) or ():
                for directive in value.directives or ():
                    if directive.name.value == "join__graph":
                        arguments = _arguments(directive)
                        graphs[value.name.value] = JoinGraph(str(arguments["name"]), str(arguments["url"]))
            continue
        for directive in getattr(definition, "directives", None) or ():
            if directive.name.value == "join__type":
                arguments = _arguments(directive)
                types.setdefault(name, []).append(
                    JoinType(
                        str(arguments["graph"]),
                        arguments.get("key"),
                        arguments.get("resolvable", True),
                        arguments.get("extension", False),
                        arguments.get("isInterfaceObject", False),
                    )
                )
            elif directive.name.value == "join__implements":
                arguments = _arguments(directive)
                implements.setdefault(name, []).append((str(arguments["graph"]), str(arguments["interface"])))
            elif directive.name.value == "join__unionMember":
                arguments = _arguments(directive)
                members.setdefault(name, []).append((str(arguments["graph"]), str(arguments["member"])))
            elif directive.name.value == "join__owner":  # join v0.1: the owner resolves the type's fields
                owners[name] = str(_arguments(directive)["graph"])
                types.setdefault(name, []).append(JoinType(owners[name]))
        composite = (
            ObjectTypeDefinitionNode,
            ObjectTypeExtensionNode,
            InterfaceTypeDefinitionNode,
            InterfaceTypeExtensionNode,
        )
        if not isinstance(definition, composite):
            continue
        for field_node in definition.fields or ():
            for directive in field_node.directives or ():
                if directive.name.value != "join__field":
                    continue
                arguments = _arguments(directive)
                fields.setdefault((name, field_node.name.value), []).append(
                    JoinField(
                        arguments.get("graph"),
                        arguments.get("external", False),
                        arguments.get("requires"),
                        arguments.get("provides"),
                        arguments.get("override"),
                        arguments.get("usedOverridden", False),
                        arguments.get("overrideLabel"),
                    )
                )
    return Supergraph(
        MappingProxyType(graphs),
        MappingProxyType({k: tuple(v) for k, v in types.items()}),
        MappingProxyType({k: tuple(v) for k, v in fields.items()}),
        MappingProxyType({k: tuple(v) for k, v in implements.items()}),
        MappingProxyType({k: tuple(v) for k, v in members.items()}),
        MappingProxyType(owners),
    )


def _key_fields(key: str) -> set[str]:
    """The fields of the type itself that a key names (`login organization { id }`: login, organization)."""
    try:
        return {path.split(".")[0] for path in field_paths(key)}
    except FieldSetError:
        return set()  # refused where the key is used


def _arguments(directive: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for argument in directive.arguments or ():
        value = argument.value
        if isinstance(value, StringValueNode | EnumValueNode | BooleanValueNode):
            values[argument.name.value] = value.value
    return values
