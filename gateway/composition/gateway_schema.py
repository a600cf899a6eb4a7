"""The gateway's schema and bindings at start-up, from whichever the config names: a hand-written annotated
schema (`schema:`), the lock of a composed one (`compose: true` with `schema_lock:`, no service called), or a
composition made now from the services (`compose: true` without a lock)."""

from __future__ import annotations

import asyncio
import logging

from graphql import GraphQLSchema

from registry.bindings import Binding
from registry.config import GatewayConfig
from registry.errors import ConfigError, Problem

from ..schema.annotations import load_schema
from .compose import compose

__all__ = ["load_gateway_schema"]

log = logging.getLogger("funnel.composition")


def load_gateway_schema(config: GatewayConfig) -> tuple[GraphQLSchema, tuple[Binding, ...]]:
    """Raise ConfigError with every problem. Composing now asks the services, so it cannot run inside an
    event loop: from async code, call this (or `Gateway.from_config`) in a thread, or name a lock."""
    where = config.path or "<config>"
    if config.supergraph is not None:
        from ..federation.load import load_supergraph  # here: federation imports this package

        schema, bindings, _services = load_supergraph(
            config.supergraph, config.services, where=config.path, extension=config.schema_path
        )
        return schema, bindings
    if not config.compose:
        if config.schema_path is None:
            raise ConfigError([Problem("the config names no schema (add `schema: schema.graphql`)", where)])
        line = config.schema_location.line if config.schema_location is not None else None
        return load_schema(
            _read(config.schema_path, "the schema file", where, line=line, key="schema"),
            config.schema_path,
            config.services,
        )
    if config.schema_lock is not None:
        text = _read(
            config.schema_lock, "the schema lock", where, f"; write it with `funnel compose --config {where}`"
        )
        return load_schema(text, config.schema_lock, config.services)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        composition = asyncio.run(compose(config))
    else:
        raise RuntimeError(
            "composing the schema asks the services, which cannot be awaited here: call it in a thread "
            "(await asyncio.to_thread(Gateway.from_config, path)), or name a schema_lock"
        )
    for note in composition.notes:
        log.warning("%s", note)
    return composition.load(config.services)


def _read(
    path: str, what: str, config: str, hint: str = "", *, line: int | None = None, key: str | None = None
) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(f"cannot read {what} {path}: {why}{hint}", config, line, key)]) from None
