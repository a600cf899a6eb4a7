"""A Federation supergraph as a Funnel gateway schema: its API schema with Funnel's own annotations, and one
service per subgraph, so that the planner, the executor, `explain`, metrics and traces serve it unchanged.

- A root field goes to the first subgraph that resolves it: `@remote(service: "products")`.
- An entity's field that not every subgraph knowing the entity resolves goes, from a parent fetched elsewhere,
  through `_entities` of a subgraph that resolves it, with one of its `@key`s there:
  `@batch(service: "products", key: "upc", match: "upc", entity: "Product", select: "name")`. From a parent that
  subgraph returned itself, the planner asks for the field in the parent's own call (instrumentation.planner).
  Every such field of one entity at one level goes in the same `_entities` call.

A key of several fields (`@key(fields: "productUpc sku")`) goes out whole in each representation; a parent
missing one of them is not sent and its field is null. A `@requires(fields: "price")` field goes to its subgraph
with the required values in the representation, fetched first wherever they live. What this stage does not plan
yet is refused naming the field, never served wrong: a field reached only through a nested `@key`, a nested
`@requires`, an interface's field split across subgraphs.

    sdl, supergraph, representations = annotate_supergraph(text, "supergraph.graphql")
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
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

from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem

from ..composition.supergraph import supergraph_api_document
from .join import Supergraph, read_join

__all__ = ["Representation", "annotate_supergraph", "supergraph_services"]

_FIELD_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_ROOTS: Final = {OperationType.QUERY: "Query", OperationType.MUTATION: "Mutation"}


def supergraph_services(
    supergraph: Supergraph, overrides: Mapping[str, ServiceConfig] = {}
) -> dict[str, ServiceConfig]:
    """One GraphQL service per subgraph, at its `@join__graph(url:)`; a `services:` entry of the same name
    (case-insensitive) replaces it; the other entries are services of their own (mixed mode)."""
    by_name = {name.lower(): config for name, config in overrides.items()}
    services: dict[str, ServiceConfig] = {}
    for graph in supergraph.graphs.values():
        given = by_name.pop(graph.name.lower(), None)
        services[graph.name] = (
            ServiceConfig(graph.name, graph.url, protocol="graphql")
            if given is None
            else dataclasses.replace(given, name=graph.name)
        )
    # The others are the gateway's own (mixed mode: REST and plain GraphQL services beside the subgraphs).
    services.update((config.name, config) for config in by_name.values())
    return services


@dataclass(frozen=True, slots=True)
class Representation:
    """What an entity field's representations carry besides `__typename`, when it is more than one key field:
    a composite key's fields, then those the field `@requires` (`sends_required`), fetched before it."""

    fields: tuple[str, ...]
    sends_required: bool = False


def annotate_supergraph(text: str, path: str) -> tuple[str, Supergraph, dict[str, Representation]]:
    """The gateway SDL of the supergraph `text` (the file `path`), the join data, and the entity fields whose
    representations carry several fields; ConfigError listing what cannot be served."""
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
    return print_ast(annotated), supergraph, annotator.representations


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
        self.representations: dict[str, Representation] = {}

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
                self.refuse(coordinate, "no subgraph resolves it")
                return None
            return f'@remote(service: "{names[resolvers[0]]}")'
        joined = supergraph.fields.get((type_name, field_name), ())
        required = {j.graph: j.requires.split() for j in joined if j.graph in resolvers and j.requires}
        if any(not all(_FIELD_NAME.fullmatch(f) for f in fields) for fields in required.values()):
            return self.refuse(coordinate, "a nested @requires is not planned yet")
        hidden = sorted(
            {f for fields in required.values() for f in fields if (type_name, f) not in self.present}
        )
        if hidden:
            return self.refuse(
                coordinate, f"it @requires {', '.join(hidden)}, @inaccessible: not planned yet"
            )
        if required:
            resolvers = tuple(g for g in resolvers if g in required)  # where the required values are sent
        elif set(resolvers) == set(supergraph.type_graphs(type_name)):
            return None  # whichever subgraph returned the parent has it
        if self.interface:
            return self.refuse(
                coordinate, "an interface field resolved by some of its subgraphs only is not planned yet"
            )
        for graph in resolvers:
            for key in supergraph.keys(type_name, graph):
                fields = key.split()
                if all(_FIELD_NAME.fullmatch(f) for f in fields):  # one field, or several: not nested
                    sent = (*fields, *(f for f in required.get(graph, ()) if f not in fields))
                    if len(sent) > 1:
                        self.representations[coordinate] = Representation(sent, bool(required))
                    return (
                        f'@batch(service: "{names[graph]}", key: "{fields[0]}", match: "{fields[0]}", '
                        f'entity: "{type_name}", select: "{field_name}")'
                    )
        if any(supergraph.keys(type_name, graph) for graph in resolvers):
            return self.refuse(coordinate, "reached only through a nested @key, not planned yet")
        return self.refuse(
            coordinate,
            f"resolved by {', '.join(names[g] for g in resolvers) or 'no subgraph'} without an @key there",
        )

    def refuse(self, coordinate: str, why: str) -> str | None:
        """Record why the field cannot be served; no annotation (None), so that every problem is found."""
        self.problems.append(Problem(f"cannot serve {coordinate}: {why}", self.path))
        return None


def _directive(text: str) -> Any:
    definition = parse(f"type T {{ f: Int {text} }}").definitions[0]
    assert isinstance(definition, ObjectTypeDefinitionNode) and definition.fields
    return (definition.fields[0].directives or ())[0]
