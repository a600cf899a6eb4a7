"""A query plan: plain, printable data saying which service is asked for what, at which level, with which keys.

Every node is a frozen dataclass of plain values (texts, numbers, tuples, schema coordinates, parsed GraphQL
values): no bindings, no closures. A function a plan needs (a key function, an in-process loader) is named by
its schema coordinate and looked up by the executor in the gateway's function table. Two plans of the same
operation compare equal. The one exception is `Plan.projection`, the response shape compiled for this operation
(instrumentation.projection): it is held by the plan so that a cached plan is ready to run, but it is not part of
what the plan says, so it takes no part in comparison or printing.

The planner writes plans; the executor is the only code that runs them, through the sources
(instrumentation.sources) their fetches name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from graphql import DocumentNode, GraphQLInputType, ValueNode

from registry.bindings import FieldCoordinate

from .selection import Selection, print_selection

if TYPE_CHECKING:
    from .projection import Projection

__all__ = [
    "BatchFetch",
    "BatchRequest",
    "Fetch",
    "Introspection",
    "ParentPath",
    "PathStep",
    "Plan",
    "RestArgument",
    "RootFetch",
    "print_plan",
]


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
class BatchRequest:
    """What a batch asks of its service, as the binding said it: the request template the source fills with keys.

    Exactly one of `field` (a GraphQL batch field), `entity` (Federation `_entities`) and `path` (REST) is set;
    for an in-process loader none is."""

    field: str | None = None
    arg: str = "ids"
    entity: str | None = None
    path: str | None = None
    match: str = "id"
    items: str | None = None  # REST: the dotted path to the list in the answer's envelope
    # Federation: the parent's paths a representation carries when it is more than `match` (a composite or
    # nested key, what the field @requires); fetches of one entity sending the same share an `_entities` call.
    representation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RootFetch:
    """Level 0: root fields forwarded to one service (several root fields of a GraphQL service share a call)."""

    id: int
    service: str
    source: str  # the name of the source that sends it (instrumentation.sources)
    operation: Literal["query", "mutation"]
    keys: tuple[str, ...]  # the root keys of the merged data this fetch fills
    selection: Selection
    query: str = ""  # GraphQL: the downstream document
    variables: tuple[str, ...] = ()  # the client's variables the document uses
    path: str = ""  # REST: the path template, "{arg}" filled from `arguments`
    arguments: tuple[RestArgument, ...] = ()
    method: str = "GET"  # REST: the HTTP method; the arguments not in the path go in a JSON body unless GET
    items: str | None = None  # REST: the dotted path to the value in the answer's envelope
    expects: Literal["object", "list", "value"] = "object"  # REST: the shape of the field's type; for
    # anything but a list a 404 or 204 answer means null (a single lookup of something that does not exist)
    level: int = 0
    depends_on: tuple[int, ...] = ()
    label: str = ""  # how `print_plan` names the request (`query`, `(rest) GET /a/{id} [id: 5] → a`)


@dataclass(frozen=True, slots=True)
class BatchFetch:
    """A batched field: the keys of every parent on `paths`, one call per service per level."""

    id: int
    service: str
    source: str  # the name of the source that sends it (instrumentation.sources)
    level: int
    coordinate: FieldCoordinate  # the batched field; also names its loader function, if it has one
    request: BatchRequest
    paths: tuple[ParentPath, ...]
    storage: str  # the key under which each parent receives its value
    selection: Selection  # what is asked of each returned item
    one_to_many: bool  # a scalar key on a list field: gather every item whose match equals the key
    select: str | None  # read this key of the matched item as the value
    document_field: str = ""  # GraphQL: the root field as sent, `b{id}: field(arg: $k{id}) { ... }`
    key_type: str = "[ID!]!"  # GraphQL: the type of the keys variable `$k{id}`
    variables: tuple[str, ...] = ()
    key_function: FieldCoordinate | None = None  # the key is computed by the function bound to this field
    depends_on: tuple[int, ...] = ()
    label: str = ""  # how `print_plan` names the request (`productsByIds(ids:)`), written by the source
    deferred_from: int | None = (
        None  # the level it was planned at, when merged into a later call (level_merge)
    )


Fetch = RootFetch | BatchFetch


@dataclass(frozen=True, slots=True)
class Introspection:
    """The introspection root fields of the operation (`__schema`, `__type`), answered in the gateway from its
    public schema and put in the merged data under `key`."""

    document: DocumentNode  # the client's operation reduced to those fields (fragments kept)
    key: str


@dataclass(frozen=True, slots=True)
class Plan:
    operation: Literal["query", "mutation"]
    fetches: tuple[Fetch, ...]
    variable_definitions: Mapping[str, str]  # name → printed type, for downstream documents
    projection: Projection = dataclasses.field(compare=False, repr=False)
    introspection: Introspection | None = None
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
        return [f"#{fetch.id} {fetch.service} {fetch.label}", f"  {print_selection(fetch.selection)}"]
    mode = " one-to-many" if fetch.one_to_many else ""
    select = f" select {fetch.select}" if fetch.select else ""
    deferred = f", deferred from level {fetch.deferred_from}" if fetch.deferred_from is not None else ""
    lines = [f"#{fetch.id} {fetch.service} {fetch.coordinate} ← {fetch.label}{mode}{select}{after}{deferred}"]
    computed = f" → {fetch.key_function}(parent)" if fetch.key_function is not None else ""
    lines += [f"  keys {path}{computed}" for path in fetch.paths]
    lines.append(f"  {fetch.document_field or print_selection(fetch.selection)}")
    return lines
