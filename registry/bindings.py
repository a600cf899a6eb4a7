"""Field bindings: what the annotations (SDL directives or Python decorators) compile to.

A binding says how one field of the gateway schema gets its value. The planner only ever sees bindings; it
does not know whether they came from SDL or from Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BatchBinding",
    "Binding",
    "FieldCoordinate",
    "KeyFunction",
    "LoaderBinding",
    "LoaderFunction",
    "RemoteBinding",
    "ResolverBinding",
    "ResolverFunction",
    "SourceLocation",
    "binding_functions",
]

KeyFunction = Callable[[Mapping[str, Any]], Any]
ResolverFunction = Callable[[Mapping[str, Any]], Any]
LoaderFunction = Callable[[list[Mapping[str, Any]]], Awaitable[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where an annotation was written: a file and line for SDL, a module and line for a decorator."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True, order=True)
class FieldCoordinate:
    """`Type.field`, the schema coordinate of a field."""

    type_name: str
    field_name: str

    @classmethod
    def parse(cls, text: str) -> FieldCoordinate:
        type_name, sep, field_name = text.partition(".")
        if not sep or not type_name or not field_name or "." in field_name:
            raise ValueError(f"expected a field coordinate 'Type.field', got {text!r}")
        return cls(type_name, field_name)

    def __str__(self) -> str:
        return f"{self.type_name}.{self.field_name}"


@dataclass(frozen=True, slots=True)
class RemoteBinding:
    """`@remote`: a root field answered by forwarding its arguments and sub-selection to a service."""

    coordinate: FieldCoordinate
    service: str
    field: str | None = None  # GraphQL service: root field to call (default: the gateway field's name)
    path: str | None = None  # REST service: {base}{path}, "{arg}" placeholders filled from arguments
    method: str | None = (
        None  # REST: the HTTP method (default GET for a query's field, POST for a mutation's)
    )
    items: str | None = None  # REST: the dotted path to the value in the answer's envelope (e.g. "data.item")
    location: SourceLocation | None = None

    @property
    def remote_field(self) -> str:
        return self.field or self.coordinate.field_name


@dataclass(frozen=True, slots=True)
class BatchBinding:
    """`@batch`: a field resolved for every parent at one level with one call to a service.

    Exactly one of `field` (a GraphQL batch field), `entity` (Federation `_entities`) and `path` (REST) is
    set. The key is either a field path of the parent (`key`, possibly dotted) or a function of the parent
    (`key_function`), which reads the parent fields named in `requires`.
    """

    coordinate: FieldCoordinate
    service: str
    key: str | None = None
    field: str | None = None
    arg: str = "ids"
    entity: str | None = None
    path: str | None = None
    match: str = "id"
    select: str | None = None
    items: str | None = None  # REST: the dotted path to the list in the answer's envelope (e.g. "items")
    key_function: KeyFunction | None = dataclasses.field(default=None, compare=False)
    requires: tuple[str, ...] = ()
    # An entity field (`entity:`): the service answers it itself for the parents it returned, in their own call.
    # False for a Federation `@requires` field: what it requires must be fetched first and sent with the key,
    # its `requires` planned like fields the client asked for (through their own bindings).
    same_call: bool = True
    # Other services that answer it as `service` does (a Federation @shareable field): in the parent's own call
    # when the parent came from one of them.
    answered_by: tuple[str, ...] = ()
    # The same field through another service or key, for parents that the services in its `for_parents` returned
    # (a Federation entity with several @keys: each parent's subgraph supplies the key it has).
    alternatives: tuple[BatchBinding, ...] = ()
    for_parents: tuple[str, ...] = ()
    location: SourceLocation | None = None

    @property
    def source(self) -> str:
        """'field', 'entity' or 'path': which kind of downstream source answers this binding."""
        if self.field is not None:
            return "field"
        if self.entity is not None:
            return "entity"
        return "path"

    @property
    def key_path(self) -> tuple[str, ...]:
        return tuple(self.key.split(".")) if self.key else ()


@dataclass(frozen=True, slots=True)
class ResolverBinding:
    """`@gateway.resolver`: a field computed in the gateway from fields of its parent (sync, no I/O)."""

    coordinate: FieldCoordinate
    function: ResolverFunction = dataclasses.field(compare=False)
    requires: tuple[str, ...] = ()
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class LoaderBinding:
    """`@gateway.loader`: an in-process batch function over all parents of one level."""

    coordinate: FieldCoordinate
    function: LoaderFunction = dataclasses.field(compare=False)
    requires: tuple[str, ...] = ()
    location: SourceLocation | None = None


Binding = RemoteBinding | BatchBinding | ResolverBinding | LoaderBinding


def binding_functions(bindings: Iterable[Binding]) -> dict[FieldCoordinate, Callable[..., Any]]:
    """The function table a plan refers to by coordinate: each field's key function or in-process loader.

    (Resolvers are compiled into the response's projection, not called by the executor.)"""
    table: dict[FieldCoordinate, Callable[..., Any]] = {}
    for binding in bindings:
        if isinstance(binding, LoaderBinding):
            table[binding.coordinate] = binding.function
        elif isinstance(binding, BatchBinding) and binding.key_function is not None:
            table[binding.coordinate] = binding.key_function
    return table
