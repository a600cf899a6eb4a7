"""A supergraph from a file or an http(s) URL, as the schema, bindings and services a Gateway is made of.

    schema, bindings, services = load_supergraph("supergraph.graphql", overrides=config.services)

Reading a URL fetches it (bounded in time and bytes, gateway.fetching), which cannot be awaited here: from async
code, call this in a thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLSchema

from instrumentation.selection import path_steps, step_field, step_key
from registry.bindings import BatchBinding, Binding
from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem

from ..fetching import FetchError, fetch_bytes
from ..schema.annotations import load_schema
from .annotate import EntityField, annotate_supergraph, supergraph_services

__all__ = ["CompositeKey", "load_supergraph", "read_supergraph"]


def read_supergraph(source: str, where: str | None = None, line: int | None = None) -> str:
    """The supergraph's text; ConfigError (at the config's `supergraph:` line, when given) if it cannot be had."""
    try:
        if source.startswith(("http://", "https://")):
            return asyncio.run(fetch_bytes(source)).decode("utf-8")
        with open(source, encoding="utf-8") as file:
            return file.read()
    except FetchError as error:
        reason = str(error)
    except OSError as error:
        reason = error.strerror or type(error).__name__
    except UnicodeDecodeError:
        reason = "not UTF-8 text"
    raise ConfigError([Problem(f"cannot read the supergraph {source}: {reason}", where or source, line)])


def load_supergraph(
    source: str,
    overrides: Mapping[str, ServiceConfig] = {},
    *,
    where: str | None = None,
    line: int | None = None,
    extension: str | None = None,
) -> tuple[GraphQLSchema, tuple[Binding, ...], dict[str, ServiceConfig]]:
    """`extension`: an SDL file of Funnel's own annotations that extends the supergraph (mixed mode): REST and
    plain GraphQL services, named in `overrides`, join the federation, batched the same way."""
    text = read_supergraph(source, where, line)
    extra = "" if extension is None else _read_extension(extension, where)
    try:
        sdl, supergraph, entity_fields = annotate_supergraph(text, source)
    except GraphQLError as error:
        raise ConfigError(
            [Problem(f"the supergraph is not valid GraphQL: {error.message}", source)]
        ) from None
    services = supergraph_services(supergraph, overrides)
    if extension is None:
        schema, bindings = load_schema(sdl, source, services)
    else:
        # The extension first, so that its problems name its own lines; the supergraph's annotations after it.
        schema, bindings = load_schema(extra + "\n" + sdl, extension, services)
    return schema, tuple(_with_entity_fields(bindings, entity_fields)), services


def _read_extension(path: str, where: str | None) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(f"cannot read the schema {path}: {why}", where or path)]) from None


@dataclass(frozen=True, slots=True)
class CompositeKey:
    """The key function of an entity field whose representations carry several fields (a composite or nested
    `@key`, or what it `@requires`): those paths of the parent (`organization.id` read into
    `{"organization": {"id": ...}}`), or None (not sent, the field null) when one is missing."""

    fields: tuple[str, ...]
    # Per path, each step as (where the parent's call holds it, the name it is sent under): parsed once, since
    # the key is read for every parent (a field with arguments is asked under a key of its own: step_key).
    _steps: tuple[tuple[tuple[str, str], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps = tuple(tuple((step_key(s), step_field(s)[0]) for s in path_steps(p)) for p in self.fields)
        object.__setattr__(self, "_steps", steps)

    def __call__(self, parent: Mapping[str, Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for *steps, (last_key, last_name) in self._steps:
            source: Any = parent
            target = values
            for key, name in steps:
                source = source.get(key) if isinstance(source, Mapping) else None
                target = target.setdefault(name, {})
            value = source.get(last_key) if isinstance(source, Mapping) else None
            if value is None:
                return None
            target[last_name] = value
        return values


def _with_entity_fields(
    bindings: Iterable[Binding], entity_fields: Mapping[str, EntityField]
) -> Iterator[Binding]:
    for binding in bindings:
        found = entity_fields.get(str(binding.coordinate))
        if found is None or not isinstance(binding, BatchBinding):
            yield binding
            continue
        alternatives = tuple(
            _keyed(
                dataclasses.replace(binding, service=choice.service, for_parents=choice.parents),
                choice.fields,
            )
            for choice in found.alternatives
        )
        binding = dataclasses.replace(binding, answered_by=found.answered_by, alternatives=alternatives)
        if found.fields:
            binding = dataclasses.replace(_keyed(binding, found.fields), same_call=not found.sends_required)
        yield binding


def _keyed(binding: BatchBinding, fields: tuple[str, ...]) -> BatchBinding:
    """The binding sending these fields in each representation: a plain key, or several (or nested) ones read
    by a CompositeKey."""
    if len(fields) == 1 and "." not in fields[0]:
        return dataclasses.replace(binding, key=fields[0], match=fields[0])
    return dataclasses.replace(binding, key=None, key_function=CompositeKey(fields), requires=fields)
