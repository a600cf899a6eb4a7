"""A Federation supergraph as a Funnel gateway schema: its API schema with Funnel's own annotations, and one
service per subgraph, so that the planner, the executor, `explain`, metrics and traces serve it unchanged.

- A root field goes to the first subgraph that resolves it: `@remote(service: "products")`.
- An entity's field that not every subgraph knowing the entity resolves goes, from a parent fetched elsewhere,
  through `_entities` of a subgraph that resolves it, with one of its `@key`s there:
  `@batch(service: "products", key: "upc", match: "upc", entity: "Product", select: "name")`. From a parent that
  subgraph returned itself, the planner asks for the field in the parent's own call (instrumentation.planner).
  Every such field of one entity at one level goes in the same `_entities` call.

A key of several fields (`@key(fields: "productUpc sku")`) or of nested ones (`"login organization { id }"`)
goes out whole in each representation; a parent missing one of them is not sent and its field is null. A
`@requires(fields: "dimensions { weight }")` field goes to its subgraph with the required values in the
representation, fetched first wherever they live. An `@interfaceObject`'s field is asked of its subgraph about
the interface (`entity: "Media"`) for every implementation. Interface fields are planned on each implementation,
and value types' fields come from whichever subgraph returned the value. What each subgraph's own schema says
beyond the API schema (the types it has, what it `@provides`) goes to the planner as `ServiceConfig.subgraph`.
A required field may take arguments (`@requires(fields: "price(currency: \"EUR\")")`): asked with them, sent by
name. What is not planned yet is refused naming the field, never served wrong: a field set with aliases, a
required field that is `@inaccessible`, a field a subgraph answers with an `@interfaceObject` type (and, when
a query reaches it, a required field with arguments that only another subgraph than the parent's has).

    sdl, supergraph, representations = annotate_supergraph(text, "supergraph.graphql")
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    OperationType,
    SchemaDefinitionNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from instrumentation.selection import path_steps, step_field
from registry.bindings import FieldCoordinate
from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem
from registry.subgraph import SubgraphFacts

from ..composition.supergraph import supergraph_api_document
from .field_set import FieldSetError, field_paths
from .join import Supergraph, read_join

__all__ = ["EntityField", "KeyChoice", "annotate_supergraph", "subgraph_facts", "supergraph_services"]

_ROOTS: Final = {OperationType.QUERY: "Query", OperationType.MUTATION: "Mutation"}


def supergraph_services(
    supergraph: Supergraph, overrides: Mapping[str, ServiceConfig] = {}
) -> dict[str, ServiceConfig]:
    """One GraphQL service per subgraph, at its `@join__graph(url:)`; a `services:` entry of the same name
    (case-insensitive) replaces it; the other entries are services of their own (mixed mode)."""
    by_name = {name.lower(): config for name, config in overrides.items()}
    services: dict[str, ServiceConfig] = {}
    for enum_value, graph in supergraph.graphs.items():
        given = by_name.pop(graph.name.lower(), None)
        facts = subgraph_facts(supergraph, enum_value)
        services[graph.name] = (
            ServiceConfig(graph.name, graph.url, protocol="graphql", subgraph=facts)
            if given is None
            else dataclasses.replace(given, name=graph.name, subgraph=facts)
        )
    # The others are the gateway's own (mixed mode: REST and plain GraphQL services beside the subgraphs).
    services.update((config.name, config) for config in by_name.values())
    return services


def subgraph_facts(supergraph: Supergraph, graph: str) -> SubgraphFacts:
    """What one subgraph's schema has of the supergraph's types, and what it provides where."""
    provides: dict[FieldCoordinate, tuple[str, ...]] = {}
    for (type_name, field_name), joined in supergraph.fields.items():
        for j in joined:
            if j.graph == graph and j.provides:
                with contextlib.suppress(FieldSetError):  # unread, its fields are fetched as without it
                    provides[FieldCoordinate(type_name, field_name)] = field_paths(j.provides)
    return SubgraphFacts(
        types=frozenset(
            name for name, joined in supergraph.types.items() if any(t.graph == graph for t in joined)
        ),
        possible_types=MappingProxyType(supergraph.possible_types(graph)),
        provides=MappingProxyType(provides),
    )


@dataclass(frozen=True, slots=True)
class EntityField:
    """What an entity field's annotation does not say. `fields`: what its representations carry besides
    `__typename` when it is more than one key field (a composite or nested key's paths, then those the field
    `@requires`: `sends_required`, fetched before it); `answered_by`: the other subgraphs that resolve it too,
    which answer it for the entities they return in the same call (a `@shareable` field); `alternatives`: the
    keys other subgraphs' parents are sent with."""

    fields: tuple[str, ...] = ()
    sends_required: bool = False
    answered_by: tuple[str, ...] = ()
    alternatives: tuple[KeyChoice, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyChoice:
    """For parents from the subgraphs `parents`, which do not have the first key's fields: `service` with this
    key (an entity with several `@key`s)."""

    service: str
    fields: tuple[str, ...]
    parents: tuple[str, ...]


def annotate_supergraph(text: str, path: str) -> tuple[str, Supergraph, dict[str, EntityField]]:
    """The gateway SDL of the supergraph `text` (the file `path`), the join data, and what the annotations of
    entity fields do not say, by coordinate; ConfigError listing what cannot be served."""
    document = parse(text)
    supergraph = read_join(document)
    if not supergraph.graphs:
        raise ConfigError([Problem("not a supergraph: it has no join__Graph enum", path)])
    roots = _root_names(document)
    api = supergraph_api_document(document)
    present = {
        (d.name.value, f.name.value)
        for d in api.definitions
        if isinstance(d, ObjectTypeDefinitionNode | ObjectTypeExtensionNode)
        for f in d.fields or ()
    }
    annotator = _Annotator(supergraph, roots, path, present)
    annotated = visit(api, annotator)
    if annotator.problems:
        raise ConfigError(annotator.problems)
    return print_ast(annotated), supergraph, annotator.entity_fields


def _root_names(document: DocumentNode) -> set[str]:
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            return {t.type.name.value for t in definition.operation_types}
    return set(_ROOTS.values())


class _Annotator(Visitor):
    def __init__(
        self, supergraph: Supergraph, roots: set[str], path: str, present: set[tuple[str, str]]
    ) -> None:
        super().__init__()
        self.present = present  # the object fields clients see
        self.supergraph = supergraph
        self.roots = roots
        self.path = path
        self.type_name = ""
        self.interface = False
        self.problems: list[Problem] = []
        # Entity fields whose representation has several fields (a composite key, @requires): by coordinate.
        self.entity_fields: dict[str, EntityField] = {}

    def enter_object_type_definition(self, node: ObjectTypeDefinitionNode, *_: Any) -> None:
        self.type_name, self.interface = node.name.value, False

    enter_object_type_extension = enter_object_type_definition

    def enter_interface_type_definition(self, node: InterfaceTypeDefinitionNode, *_: Any) -> None:
        self.type_name, self.interface = node.name.value, True

    def leave_object_type_definition(self, *_: Any) -> None:
        self.type_name = ""

    leave_object_type_extension = leave_object_type_definition
    leave_interface_type_definition = leave_object_type_definition

    def enter_field_definition(self, node: FieldDefinitionNode, *_: Any) -> Any:
        if not self.type_name:
            return None  # an input object's fields are input values, not these
        directive = self.annotation(node.name.value)
        self.check_interface_object(node)
        if directive is None:
            return None
        kept = {key: getattr(node, key) for key in node.keys if key != "directives"}
        return FieldDefinitionNode(**kept, directives=(*(node.directives or ()), _directive(directive)))

    def annotation(self, field_name: str) -> str | None:
        supergraph, type_name = self.supergraph, self.type_name
        coordinate = f"{type_name}.{field_name}"
        resolvers = supergraph.resolvers(type_name, field_name)
        names = {g: supergraph.graphs[g].name for g in supergraph.graphs}
        if type_name in self.roots:
            if not resolvers:
                return self.refuse(coordinate, "no subgraph resolves it")
            return f'@remote(service: "{names[resolvers[0]]}")'
        if self.interface:
            return None  # planned on each implementation, whose fields say where they come from
        if not any(supergraph.keys(type_name, g) for g in supergraph.type_graphs(type_name)):
            return None  # a value type: whichever subgraph returned it answers its fields
        entity = type_name
        if not resolvers:
            # An @interfaceObject's field: asked of that subgraph about the interface, `... on Media { rating }`.
            found = supergraph.interface_objects(type_name, field_name)
            if not found:
                return self.refuse(coordinate, "no subgraph resolves it")
            resolvers, entity = (found[0][0],), found[0][1]
        joined = supergraph.fields.get((type_name, field_name), ())
        try:
            required = {
                j.graph: field_paths(j.requires) for j in joined if j.graph in resolvers and j.requires
            }
        except FieldSetError as error:
            return self.refuse(coordinate, str(error))
        hidden = sorted(
            {
                path
                for paths in required.values()
                for path in paths
                if (type_name, step_field(path_steps(path)[0])[0]) not in self.present
            }
        )
        if hidden:
            return self.refuse(
                coordinate, f"it @requires {', '.join(hidden)}, @inaccessible: not planned yet"
            )
        if required:
            resolvers = tuple(g for g in resolvers if g in required)  # where the required values are sent
        elif entity == type_name and set(resolvers) == set(supergraph.type_graphs(type_name)):
            return None  # whichever subgraph returned the parent has it
        try:
            candidates = [(g, field_paths(key)) for g in resolvers for key in supergraph.keys(entity, g)]
        except FieldSetError as error:
            return self.refuse(coordinate, str(error))
        if not candidates:
            return self.refuse(
                coordinate,
                f"resolved by {', '.join(names[g] for g in resolvers) or 'no subgraph'} without an @key there",
            )
        graph, fields = candidates[0]
        sent = (*fields, *(f for f in required.get(graph, ()) if f not in fields))
        if len(sent) == 1 and "." not in sent[0]:
            sent = ()  # the annotation's key says it all
        # Not for a @requires field: each of its subgraphs needs the required values sent to it.
        also = () if required else tuple(names[g] for g in resolvers if g != graph)
        alternatives = () if required or entity != type_name else self.alternatives(candidates, resolvers)
        if sent or also or alternatives:
            self.entity_fields[coordinate] = EntityField(sent, bool(required), also, alternatives)
        return (
            f'@batch(service: "{names[graph]}", key: "{fields[0]}", match: "{fields[0]}", '
            f'entity: "{entity}", select: "{field_name}")'
        )

    def alternatives(
        self, candidates: list[tuple[str, tuple[str, ...]]], resolvers: tuple[str, ...]
    ) -> tuple[KeyChoice, ...]:
        """For parents from a subgraph that cannot supply the first key: the first other (subgraph, key) it can.
        Only a key of one field: a composite one would need a key function of its own, which the plan names by
        the field's coordinate (the first key's)."""
        supergraph = self.supergraph
        first = candidates[0]
        chosen: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for parent in supergraph.type_graphs(self.type_name):
            if parent in resolvers or self.supplies(parent, first[1]):
                continue  # it answers the field itself, in the parent's call; or it has the first key
            other = next(
                (
                    c
                    for c in candidates[1:]
                    if len(c[1]) == 1 and "." not in c[1][0] and self.supplies(parent, c[1])
                ),
                None,
            )
            if other is not None:
                chosen.setdefault(other, []).append(supergraph.graphs[parent].name)
        return tuple(
            KeyChoice(supergraph.graphs[g].name, fields, tuple(parents))
            for (g, fields), parents in chosen.items()
        )

    def supplies(self, parent: str, fields: tuple[str, ...]) -> bool:
        """Whether a parent from this subgraph can be asked for the key's fields."""
        return all(parent in self.supergraph.resolvers(self.type_name, path.split(".")[0]) for path in fields)

    def check_interface_object(self, node: FieldDefinitionNode) -> None:
        """A field that a subgraph answers with an @interfaceObject type: its objects come back as the interface,
        and which implementation each one is must be asked of another subgraph first."""
        type_node: Any = node.type
        while not hasattr(type_node, "name"):
            type_node = type_node.type
        returned = type_node.name.value
        objects = {t.graph for t in self.supergraph.types.get(returned, ()) if t.interface_object}
        answering = objects & set(self.supergraph.resolvers(self.type_name, node.name.value))
        if answering and not self.interface:
            graphs = ", ".join(sorted(self.supergraph.graphs[g].name for g in answering))
            self.refuse(
                f"{self.type_name}.{node.name.value}",
                f"{graphs} returns {returned} as an @interfaceObject: not planned yet",
            )

    def refuse(self, coordinate: str, why: str) -> str | None:
        """Record why the field cannot be served; no annotation (None), so that every problem is found."""
        self.problems.append(Problem(f"cannot serve {coordinate}: {why}", self.path))
        return None


def _directive(text: str) -> Any:
    definition = parse(f"type T {{ f: Int {text} }}").definitions[0]
    assert isinstance(definition, ObjectTypeDefinitionNode) and definition.fields
    return (definition.fields[0].directives or ())[0]
