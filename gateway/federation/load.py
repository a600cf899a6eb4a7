"""A supergraph from a file or an http(s) URL, as the schema, bindings and services a Gateway is made of.

    schema, bindings, services = load_supergraph("supergraph.graphql", overrides=config.services)

Reading a URL fetches it (bounded in time and bytes, gateway.fetching), which cannot be awaited here: from async
code, call this in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from graphql import GraphQLError, GraphQLSchema

from registry.bindings import Binding
from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem

from ..fetching import FetchError, fetch_bytes
from ..schema.annotations import load_schema
from .annotate import annotate_supergraph, supergraph_services

__all__ = ["load_supergraph", "read_supergraph"]


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
) -> tuple[GraphQLSchema, tuple[Binding, ...], dict[str, ServiceConfig]]:
    text = read_supergraph(source, where, line)
    try:
        sdl, supergraph = annotate_supergraph(text, source)
    except GraphQLError as error:
        raise ConfigError(
            [Problem(f"the supergraph is not valid GraphQL: {error.message}", source)]
        ) from None
    services = supergraph_services(supergraph, overrides)
    schema, bindings = load_schema(sdl, source, services)
    return schema, bindings, services
