"""A schema version: one schema with its bindings, checked and ready to plan against, never changed after.

The Gateway holds one as `gateway.current`; `Gateway.swap(version)` replaces it in one assignment. A request
reads `gateway.current` once, when it starts, and keeps that version to its end: its plan, function table and
introspection schema all come from it, so a swap in the middle of a request cannot mix two schemas. The
document and plan caches (gateway.schema.documents) follow the current version: a swap empties them, and a
document prepared for another version is prepared again (a plan is made for the version a document was
validated against).

    version = gateway.build_version(new_schema, new_bindings)   # ConfigError, listing every problem
    gateway.swap(version)
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from graphql import GraphQLSchema, print_schema

from instrumentation.plan import Plan
from instrumentation.planner import Planner
from registry.bindings import Binding, FieldCoordinate, binding_functions
from registry.config import CacheConfig, ServiceConfig
from registry.errors import ConfigError
from registry.subgraph import SubgraphFacts

from .auth.filtering import Access
from .cache.rules import EntityRule, entity_rules
from .schema.annotations import validate_bindings
from .schema.documents import PreparedDocument
from .schema.policy_directives import POLICY_DIRECTIVE_NAMES, POLICY_TYPE_NAMES

__all__ = ["SchemaVersion"]

_PRIVATE_DIRECTIVES = frozenset({"remote", "batch", *POLICY_DIRECTIVE_NAMES})


@dataclass(frozen=True, slots=True, eq=False)
class SchemaVersion:
    """One schema and its bindings, validated; what a request plans and runs against."""

    id: str  # a digest of the schema and the bindings: equal ids plan alike
    loaded_at: float  # time.time() when it was built
    schema: GraphQLSchema
    bindings: Mapping[FieldCoordinate, Binding]
    functions: Mapping[FieldCoordinate, Callable[..., Any]]  # the function table plans refer to
    planner: Planner
    introspection_schema: GraphQLSchema  # the schema clients see: without Funnel's own directives
    access: Access  # the schema's @authenticated / @requiresScopes / @policy rules, applied before planning
    # The batched fields the entity cache keeps (gateway.cache.rules); none unless the gateway sets them.
    cache_rules: Mapping[FieldCoordinate, EntityRule] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        bindings: Iterable[Binding],
        services: Mapping[str, ServiceConfig],
        *,
        merge_levels: bool = True,
        latency: Callable[[], Mapping[str, float]] | None = None,
        cache: CacheConfig | None = None,
    ) -> SchemaVersion:
        """Check every binding against the schema and services (ConfigError listing all problems at once).
        `merge_levels` and `latency` go to the planner (instrumentation.level_merge); `cache` (the `cache:`
        section) and the schema's `@cacheControl` say which batched fields the entity cache keeps."""
        listed = list(bindings)
        problems = validate_bindings(schema, listed, services)
        if problems:
            raise ConfigError(problems)
        by_field = MappingProxyType({b.coordinate: b for b in listed})
        rules = entity_rules(schema, by_field, cache or CacheConfig(), services)
        protocols = {name: s.protocol for name, s in services.items()}
        subgraphs = {name: s.subgraph for name, s in services.items() if s.subgraph is not None}
        return cls(
            id=_digest(schema, listed, subgraphs),
            loaded_at=time.time(),
            schema=schema,
            bindings=by_field,
            functions=MappingProxyType(binding_functions(listed)),
            planner=Planner(
                schema, by_field, protocols, merge_levels=merge_levels, latency=latency, subgraphs=subgraphs
            ),
            introspection_schema=_public_schema(schema),
            access=Access(schema),
            cache_rules=rules,
        )

    def plan(self, prepared: PreparedDocument, operation_name: str | None, values: Mapping[str, Any]) -> Plan:
        """The plan of one operation of a document prepared for this version, cached with the document per
        (operation, values of the `@skip`/`@include` variables)."""
        document = prepared.document
        assert document is not None and prepared.version == self.id
        key = (operation_name, tuple(_condition(values, n) for n in prepared.conditions))
        return prepared.plans.get_or_make(key, lambda: self.planner.plan(document, operation_name, values))


def _condition(values: Mapping[str, Any], name: str) -> bool | None:
    """A condition variable's part of the plan key: true, false, or an explicit null (which fails)."""
    if name in values and values[name] is None:
        return None
    return bool(values.get(name))


def _digest(
    schema: GraphQLSchema, bindings: Iterable[Binding], subgraphs: Mapping[str, SubgraphFacts]
) -> str:
    """What plans depend on: the printed schema, each binding's compared fields (not where it was written,
    not its functions, which the plan names by coordinate) and what the subgraphs' own schemas say."""
    digest = hashlib.sha256(print_schema(schema).encode())
    for name, facts in sorted(subgraphs.items()):
        possible = [(abstract, sorted(types)) for abstract, types in sorted(facts.possible_types.items())]
        digest.update(
            repr((name, sorted(facts.types), possible)).encode()
        )  # sorted: the same on every replica
        digest.update(repr(sorted(facts.provides.items())).encode())
    for binding in sorted(bindings, key=lambda b: b.coordinate):
        values = [
            getattr(binding, f.name)
            for f in dataclasses.fields(binding)
            if f.compare and f.name != "location"
        ]
        computed = getattr(binding, "key_function", None) is not None  # the plan reads the key through it
        digest.update(repr((type(binding).__name__, values, computed)).encode())
    return digest.hexdigest()[:16]


def _public_schema(schema: GraphQLSchema) -> GraphQLSchema:
    return GraphQLSchema(
        query=schema.query_type,
        mutation=schema.mutation_type,
        subscription=schema.subscription_type,
        # Types only Funnel's directives use are left out; one that a field uses is still reached through it.
        types=[t for name, t in schema.type_map.items() if name not in POLICY_TYPE_NAMES],
        directives=[d for d in schema.directives if d.name not in _PRIVATE_DIRECTIVES],
        description=schema.description,
    )
