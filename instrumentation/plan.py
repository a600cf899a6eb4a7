"""A query plan: plain, printable data saying which service is asked for what, at which level, with which keys.

The planner writes plans; the executor is the only code that reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graphql import GraphQLInputType, ValueNode, print_ast

from registry.bindings import BatchBinding, LoaderBinding

from .selection import Selection, print_selection

__all__ = [
    "BatchFetch",
    "Fetch",
    "ParentPath",
    "PathStep",
    "Plan",
    "RestArgument",
    "RootFetch",
    "print_plan",
]

Protocol = Literal["graphql", "rest", "local"]


@dataclass(frozen=True, slots=True)
class PathStep:
    """One step from the root of the merged data towards the parents of a batched field."""

    key: str  # the key in the merged data (a canonical downstream key, or a batched field's storage key)
    type_condition: str | None = None  # keep only objects whose __typename is this (below abstract types)

    def __str__(self) -> str:
        return self.key if self.type_condition is None else f"{self.key}<{self.type_condition}>"


@dataclass(frozen=True, slots=True)
class ParentPath:
    """Where the parents of a batched field are, and how to read each parent's key."""

    steps: tuple[PathStep, ...]
    key: tuple[str, ...]  # keys to follow from a parent to its batch key ("productId",) or ("_k0", "id")

    def __str__(self) -> str:
        return ".".join(str(s) for s in self.steps) + (" → " + ".".join(self.key) if self.key else "")


@dataclass(frozen=True, slots=True)
class RestArgument:
    name: str
    value: ValueNode
    type: GraphQLInputType


@dataclass(frozen=True, slots=True)
class RootFetch:
    """Level 0: root fields forwarded to one service (several root fields of a GraphQL service share a call)."""

    id: int
    service: str
    protocol: Protocol
    operation: Literal["query", "mutation"]
    keys: tuple[str, ...]  # the root keys of the merged data this fetch fills
    selection: Selection
    query: str = ""  # GraphQL: the downstream document
    variables: tuple[str, ...] = ()  # the client's variables the document uses
    path: str = ""  # REST: the path template, "{arg}" filled from `arguments`
    arguments: tuple[RestArgument, ...] = ()
    level: int = 0
    depends_on: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchFetch:
    """A batched field: the keys of every parent on `paths`, one call per service per level."""

    id: int
    service: str
    protocol: Protocol
    level: int
    binding: BatchBinding | LoaderBinding
    paths: tuple[ParentPath, ...]
    storage: str  # the key under which each parent receives its value
    selection: Selection  # what is asked of each returned item
    one_to_many: bool  # a scalar key on a list field: gather every item whose match equals the key
    select: str | None  # read this key of the matched item as the value
    document_field: str = ""  # GraphQL: the root field as sent, `b{id}: field(arg: $k{id}) { ... }`
    key_type: str = "[ID!]!"  # GraphQL: the type of the keys variable `$k{id}`
    variables: tuple[str, ...] = ()
    key_function: Callable[[Mapping[str, Any]], Any] | None = None
    depends_on: tuple[int, ...] = ()


Fetch = RootFetch | BatchFetch


@dataclass(frozen=True, slots=True)
class Plan:
    operation: Literal["query", "mutation"]
    fetches: tuple[Fetch, ...]
    variable_definitions: Mapping[str, str]  # name → printed type, for downstream documents
    projection: Any  # the compiled projection of the response (instrumentation.projection)
    introspection: Any = None  # a document of the introspection root fields, answered locally
    # (field name, printed arguments) → the canonical key under which downstream answers are merged
    canonical_keys: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    @property
    def levels(self) -> int:
        return 1 + max((f.level for f in self.fetches), default=0)


def print_plan(plan: Plan) -> str:
    """The plan as text: one block per level, one entry per fetch. Used by snapshot tests and `funnel explain`."""
    lines = [f"Plan ({plan.operation})"]
    for level in range(plan.levels):
        fetches = [f for f in plan.fetches if f.level == level]
        if not fetches:
            continue
        lines.append(f"  level {level}")
        for fetch in fetches:
            lines.extend("    " + line for line in _print_fetch(fetch))
    if plan.introspection is not None:
        lines.append("  introspection (local)")
    return "\n".join(lines)


def _print_fetch(fetch: Fetch) -> list[str]:
    after = f" after {', '.join(f'#{d}' for d in fetch.depends_on)}" if fetch.depends_on else ""
    if isinstance(fetch, RootFetch):
        if fetch.protocol == "rest":
            args = ", ".join(f"{a.name}: {print_ast(a.value)}" for a in fetch.arguments)
            head = f"#{fetch.id} {fetch.service} (rest) GET {fetch.path}" + (f" [{args}]" if args else "")
            return [head + f" → {', '.join(fetch.keys)}", f"  {print_selection(fetch.selection)}"]
        return [f"#{fetch.id} {fetch.service} {fetch.operation}", f"  {print_selection(fetch.selection)}"]
    binding = fetch.binding
    if isinstance(binding, LoaderBinding):
        source = "loader (local)"
    elif binding.field is not None:
        source = f"{binding.field}({binding.arg}:)"
    elif binding.entity is not None:
        source = f"_entities({binding.entity})"
    else:
        source = f"GET {binding.path}?{binding.arg}="
    mode = " one-to-many" if fetch.one_to_many else ""
    select = f" select {fetch.select}" if fetch.select else ""
    lines = [f"#{fetch.id} {fetch.service} {binding.coordinate} ← {source}{mode}{select}{after}"]
    lines += [f"  keys {path}" for path in fetch.paths]
    lines.append(f"  {fetch.document_field or print_selection(fetch.selection)}")
    return lines
