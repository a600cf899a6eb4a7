"""A GraphQL service's schema from the SDL file its config names (`schema_file:`), the service not asked."""

from __future__ import annotations

import os

from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem

from ...fetching import MAX_DOCUMENT_BYTES
from ..subgraph import build_sdl_schema
from .base import ServiceSchema, service_schema

__all__ = ["file_schema", "shown_path"]


async def file_schema(service: ServiceConfig) -> ServiceSchema:
    path = service.schema_file
    assert path is not None
    try:
        if os.path.getsize(path) > MAX_DOCUMENT_BYTES:
            raise ConfigError([Problem(f"the schema file is larger than {MAX_DOCUMENT_BYTES} bytes", path)])
        with open(path, encoding="utf-8") as file:
            sdl = file.read()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        where = service.location
        message = f"cannot read the schema file of '{service.name}' ({path}): {why}"
        raise ConfigError(
            [Problem(message, where.file if where else path, where.line if where else None)]
        ) from None
    return service_schema(service, f"schema_file {shown_path(path, service)}", build_sdl_schema(sdl, path))


def shown_path(path: str, service: ServiceConfig) -> str:
    """The file as the lock names it: relative to the config's folder, so that the lock reads the same anywhere."""
    base = os.path.dirname(service.location.file) if service.location else os.getcwd()
    return os.path.relpath(path, os.path.abspath(base))
