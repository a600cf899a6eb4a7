"""What changed between two versions of a schema, for a reviewer and for CI: breaking, dangerous, safe.

graphql-core finds the changes (`find_schema_changes`, which `find_breaking_changes` and
`find_dangerous_changes` filter); each file may be a plain schema, an annotated gateway schema or lock (its
`@remote`/`@batch` are the gateway's business, not its clients'), or a Federation supergraph (its API schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    BreakingChangeType,
    DangerousChangeType,
    DirectiveDefinitionNode,
    DirectiveNode,
    DocumentNode,
    GraphQLSchema,
    Visitor,
    find_schema_changes,
    visit,
)
from graphql.language.visitor import REMOVE

from registry.errors import ConfigError, Problem

from ..schema.policy_directives import POLICY_DIRECTIVE_NAMES
from .links import BINDING_DIRECTIVES
from .subgraph import build_document_schema, parse_sdl
from .supergraph import is_supergraph, supergraph_api_document

__all__ = ["Change", "SchemaDiff", "diff_schemas", "print_diff", "read_schema_file"]


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # breaking, dangerous or safe
    type: str  # graphql-core's name for it: FIELD_REMOVED, OPTIONAL_ARG_ADDED, ...
    description: str  # graphql-core's: "Field Query.orders was removed."

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.type:<27} {self.description}"


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    changes: tuple[Change, ...]  # breaking first, then dangerous, then safe; each sorted by description

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == "breaking")

    def count(self, kind: str) -> int:
        return sum(c.kind == kind for c in self.changes)


def diff_schemas(old: GraphQLSchema, new: GraphQLSchema) -> SchemaDiff:
    order = {"breaking": 0, "dangerous": 1, "safe": 2}
    changes = [Change(_kind(c.type), c.type.name, c.description) for c in find_schema_changes(old, new)]
    return SchemaDiff(tuple(sorted(changes, key=lambda c: (order[c.kind], c.description, c.type))))


def print_diff(diff: SchemaDiff) -> str:
    if not diff.changes:
        return "no changes\n"
    counts = ", ".join(f"{diff.count(kind)} {kind}" for kind in ("breaking", "dangerous", "safe"))
    total = len(diff.changes)
    lines = [str(change) for change in diff.changes]
    return "\n".join([*lines, f"{total} change{'s' if total != 1 else ''}: {counts}"]) + "\n"


def read_schema_file(path: str) -> GraphQLSchema:
    """The client-facing schema in the file `path`; raise ConfigError at file:line."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(f"cannot read the schema: {why}", path)]) from None
    document = parse_sdl(text, path)
    document = (
        supergraph_api_document(document) if is_supergraph(document) else _without_annotations(document)
    )
    return build_document_schema(document, path)


def _kind(change_type: Any) -> str:
    if isinstance(change_type, BreakingChangeType):
        return "breaking"
    return "dangerous" if isinstance(change_type, DangerousChangeType) else "safe"


# What the gateway's SDL says to the gateway alone: bindings, cost and access policy. Clients never see them.
_GATEWAY_ONLY: Final = frozenset((*BINDING_DIRECTIVES, *POLICY_DIRECTIVE_NAMES))


def _without_annotations(document: DocumentNode) -> DocumentNode:
    kept = tuple(
        d
        for d in document.definitions
        if not (isinstance(d, DirectiveDefinitionNode) and d.name.value in _GATEWAY_ONLY)
    )
    return visit(DocumentNode(definitions=kept), _StripAnnotations())


class _StripAnnotations(Visitor):
    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        return REMOVE if node.name.value in _GATEWAY_ONLY else None
