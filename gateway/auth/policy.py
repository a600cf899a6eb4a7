"""Who may read what: `@authenticated` and `@requiresScopes` read from the gateway schema, and the decision
for one caller and one field.

A field's requirement is its own directives together with those of the type it returns (a type marked
`@authenticated` is hidden wherever it is reached). `@requiresScopes(scopes: [["a", "b"], ["c"]])` is met by a
caller holding a and b, or c; several requirements (the field's and its type's) must all be met.

    policy = AccessPolicy.of(schema)
    reason = decide(identity, policy.requirement("Mutation", "updatePrice"))   # None: allowed
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from graphql import (
    GraphQLNamedType,
    GraphQLSchema,
    get_directive_values,
    get_named_type,
    is_interface_type,
    is_object_type,
)

from .identity import Identity

__all__ = ["AccessPolicy", "Requirement", "decide"]

_Scopes = tuple[frozenset[str], ...]  # any one of these sets, whole


@dataclass(frozen=True, slots=True)
class Requirement:
    authenticated: bool = False
    scopes: tuple[_Scopes, ...] = ()  # each must be met

    def __and__(self, other: Requirement) -> Requirement:
        return Requirement(self.authenticated or other.authenticated, (*self.scopes, *other.scopes))

    @property
    def empty(self) -> bool:
        return not self.authenticated and not self.scopes


_NONE = Requirement()


def decide(identity: Identity, requirement: Requirement) -> str | None:
    """None when `identity` may read a field with `requirement`, else why not (for the error message)."""
    if (requirement.authenticated or requirement.scopes) and not identity.authenticated:
        return "authentication required"
    for alternatives in requirement.scopes:
        if not any(needed <= identity.scopes for needed in alternatives):
            return "needs scope " + " or ".join(" and ".join(sorted(needed)) for needed in alternatives)
    return None


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Every field of the schema that has a requirement, by (type name, field name)."""

    fields: Mapping[tuple[str, str], Requirement]

    @classmethod
    def of(cls, schema: GraphQLSchema) -> AccessPolicy:
        directives = {name: schema.get_directive(name) for name in ("authenticated", "requiresScopes")}
        fields: dict[tuple[str, str], Requirement] = {}
        for type_ in schema.type_map.values():
            if type_.name.startswith("__") or not (is_object_type(type_) or is_interface_type(type_)):
                continue
            for name, field in type_.fields.items():
                requirement = _own(field, directives) & _own(get_named_type(field.type), directives)
                if not requirement.empty:
                    fields[(type_.name, name)] = requirement
        return cls(MappingProxyType(fields))

    def requirement(self, type_name: str, field_name: str) -> Requirement:
        return self.fields.get((type_name, field_name), _NONE)


def _own(element: GraphQLNamedType | Any, directives: Mapping[str, Any]) -> Requirement:
    node = getattr(element, "ast_node", None)
    if node is None:
        return _NONE
    authenticated = directives["authenticated"] is not None and (
        get_directive_values(directives["authenticated"], node) is not None
    )
    scopes: tuple[_Scopes, ...] = ()
    if directives["requiresScopes"] is not None:
        values = get_directive_values(directives["requiresScopes"], node)
        if values is not None:
            scopes = (tuple(frozenset(group) for group in values["scopes"]),)
    return Requirement(authenticated, scopes)
