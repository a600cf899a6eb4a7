"""The gateway schema composed from the services' own schemas and the gateway SDL's additions.

    composition = await compose(config)        # asks the services (or reads their files)
    composition.sdl                            # the annotated gateway SDL: what `funnel compose` writes
    schema, bindings = composition.load(config.services)

The output is an ordinary annotated gateway SDL (`@remote` on the exposed root fields, the links as written),
which `load_schema` compiles like a hand-written one: the engine does not know the schema was composed.

Links: a field of a merged type that only some services have, reached from an object another service returns,
needs a link. When a service that has the field is a Federation subgraph with a `@key` of one field on the type,
composition writes the link itself (`@batch(entity:, select:)` through its `_entities`); otherwise the gateway
schema must, and composition says which field, which services and through which field the type is reached.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from graphql import GraphQLSchema, print_ast

from registry.bindings import Binding, SourceLocation
from registry.config import GatewayConfig, ServiceConfig
from registry.errors import ConfigError, Problem

from ..schema.annotations import load_schema
from .links import GatewayAdditions, GatewayField, gateway_additions
from .merge import MergedField, Merger, directive_node, field_with
from .printing import print_composed
from .reachability import MissingField, missing_fields
from .rest_check import check_rest_bindings
from .sources import ServiceSchema, load_service_schemas

__all__ = ["COMPOSED", "Composition", "compose", "compose_schemas", "gateway_sdl"]

COMPOSED = "<composed schema>"
"""The name problems in the composed text carry when no better place is known."""


@dataclass(frozen=True)
class Composition:
    sdl: str
    origins: Mapping[int, SourceLocation]  # line of `sdl` -> where what it says came from
    services: tuple[ServiceSchema, ...]
    notes: tuple[Problem, ...] = ()  # what was left out, and why: not problems

    def load(self, services: Mapping[str, ServiceConfig]) -> tuple[GraphQLSchema, tuple[Binding, ...]]:
        """The composed SDL compiled by `load_schema`; problems and bindings point where they came from."""
        try:
            schema, bindings = load_schema(self.sdl, COMPOSED, services)
        except ConfigError as error:
            raise ConfigError([self._traced(problem) for problem in error.problems]) from None
        return schema, tuple(replace(b, location=self._origin(b.location)) for b in bindings)

    def _origin(self, location: SourceLocation | None) -> SourceLocation | None:
        if location is None or location.file != COMPOSED:
            return location
        return self.origins.get(location.line, location)

    def _traced(self, problem: Problem) -> Problem:
        if problem.file != COMPOSED or problem.line is None:
            return problem
        origin = self.origins.get(problem.line)
        message = problem.message
        if problem.coordinate is None:  # an SDL error: show what was composed, it is not written anywhere
            message = f"{message} (composed as: {self.sdl.splitlines()[problem.line - 1].strip()})"
        if origin is None:
            return replace(problem, message=message)
        return Problem(message, origin.file, origin.line or None, problem.coordinate)


async def compose(config: GatewayConfig) -> Composition:
    """Read every service's schema (at once), then compose; raise ConfigError with every problem."""
    schemas = await load_service_schemas(sorted(config.services.values(), key=lambda s: s.name))
    return compose_schemas(config, schemas, gateway_sdl(config))


def gateway_sdl(config: GatewayConfig) -> str | None:
    """The text of the gateway SDL (`schema:`, what the gateway adds to the services'), if the config names one."""
    if config.schema_path is None:
        return None
    try:
        with open(config.schema_path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(
            [Problem(f"cannot read the schema file {config.schema_path}: {why}", config.path)]
        ) from None


def compose_schemas(config: GatewayConfig, schemas: Sequence[ServiceSchema], sdl: str | None) -> Composition:
    """Compose the services' `schemas` with the gateway SDL `sdl` (the text of `config.schema_path`)."""
    schemas = sorted(schemas, key=lambda s: s.service)
    documents = {s.service: s.openapi for s in schemas if s.openapi is not None}
    additions = GatewayAdditions(None)
    if sdl is not None:
        assert config.schema_path is not None
        additions = gateway_additions(sdl, config.schema_path, documents)
    merger = Merger(config.services, config.path)
    for schema in schemas:
        merger.add_service(schema)
    for schema in schemas:
        if schema.openapi is None:  # a REST service's operations are exposed by the gateway schema
            merger.add_roots(schema)
    merger.add_gateway(additions)
    unlinked = _link(merger, {s.service: s for s in schemas})
    problems = [*merger.problems, *(_unlinked_problem(m, merger, additions, config) for m in unlinked)]
    if problems:
        raise ConfigError(problems)
    sdl_text, origins = print_composed(
        _header(config, schemas), merger.types, merger.roots, additions.directives
    )
    composition = Composition(sdl_text, origins, tuple(schemas), tuple(n for s in schemas for n in s.notes))
    composed, bindings = composition.load(config.services)
    rest_problems = check_rest_bindings(composed, bindings, documents)
    if rest_problems:
        raise ConfigError(rest_problems)
    return composition


def _link(merger: Merger, schemas: Mapping[str, ServiceSchema]) -> list[MissingField]:
    """Write the entity links that Federation subgraphs make possible; what is still missing after."""
    while True:
        missing = missing_fields(merger.types, merger.roots, schemas)
        linked = [m for m in missing if _entity_link(m, merger, schemas)]
        if not linked:
            return missing


def _entity_link(missing: MissingField, merger: Merger, schemas: Mapping[str, ServiceSchema]) -> bool:
    merged_type = merger.types[missing.type_name]
    merged = merged_type.fields[missing.field_name]
    if merged.gateway is not None:
        return False  # linked on an earlier miss of the same field
    for owner in merged.owners:
        key = schemas[owner].entities.get(missing.type_name)
        if key is None or key == missing.field_name:
            continue
        arguments = [("service", owner), ("key", key), ("entity", missing.type_name)]
        arguments += [("match", key)] if key != "id" else []
        arguments.append(("select", missing.field_name))
        node = field_with(
            merged.node, directives=(*(merged.node.directives or ()), directive_node("batch", arguments))
        )
        origin = merger.services[owner].location
        link = GatewayField(missing.type_name, node, owner, origin or SourceLocation(owner, 0))
        merged_type.fields[missing.field_name] = MergedField(node, merged.owners, origin, owner, link)
        return True
    return False


def _unlinked_problem(
    missing: MissingField, merger: Merger, additions: GatewayAdditions, config: GatewayConfig
) -> Problem:
    merged = merger.types[missing.type_name].fields[missing.field_name]
    owners = " and ".join(merged.owners)
    field_sdl = f"{missing.field_name}: {print_ast(merged.node.type)}"
    link = f'@batch(service: "{merged.owners[0]}", key: ..., field: ...)'
    example = f"extend type {missing.type_name} {{ {field_sdl} {link} }}"
    message = (
        f"{missing.service} returns {missing.type_name} (through {missing.via}) without this field, "
        f"which only {owners} {'has' if len(merged.owners) == 1 else 'have'}: "
        f"link it in the gateway schema, e.g. {example}"
    )
    return Problem(message, additions.path or config.path, None, f"{missing.type_name}.{missing.field_name}")


def _header(config: GatewayConfig, schemas: Sequence[ServiceSchema]) -> list[str]:
    base = os.path.dirname(os.path.abspath(config.path or "."))
    origin = {s.service: s.origin for s in schemas}
    lines = [
        f"The gateway schema composed by `funnel compose` from {os.path.basename(config.path or 'the config')}:",
        "do not edit it, compose it again. Where each service's schema came from:",
    ]
    for name in sorted(config.services):
        lines.append(f"  {name}: {origin.get(name, 'declared in the gateway schema')}")
    if config.schema_path is not None:
        lines.append(f"  gateway schema: {os.path.relpath(config.schema_path, base)}")
    return lines
