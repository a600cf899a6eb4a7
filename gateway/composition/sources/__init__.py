"""Where each service's schema comes from: one module per kind of source, chosen by the service's config."""

from __future__ import annotations

import asyncio

from registry.config import ServiceConfig
from registry.errors import ConfigError, Problem

from .base import ROOTS, SchemaSource, ServiceSchema, service_problem, service_schema
from .introspected import introspected_schema
from .openapi_document import openapi_schema
from .schema_file import file_schema, shown_path

__all__ = [
    "ROOTS",
    "SchemaSource",
    "ServiceSchema",
    "file_schema",
    "introspected_schema",
    "load_service_schemas",
    "openapi_schema",
    "service_problem",
    "service_schema",
    "shown_path",
    "source_of",
]


def source_of(service: ServiceConfig) -> SchemaSource | None:
    """How the service's schema is read; None for a REST service without a document (declared by hand)."""
    if service.schema_file is not None:
        return file_schema
    if service.openapi is not None:
        return openapi_schema
    return introspected_schema if service.protocol == "graphql" else None


async def load_service_schemas(services: list[ServiceConfig]) -> list[ServiceSchema]:
    """Every service's schema, read at once; raise ConfigError with the problems of all of them."""
    sources = [(service, source) for service in services if (source := source_of(service)) is not None]
    results = await asyncio.gather(*(source(service) for service, source in sources), return_exceptions=True)
    problems: list[Problem] = []
    schemas: list[ServiceSchema] = []
    for result in results:
        if isinstance(result, ConfigError):
            problems.extend(result.problems)
        elif isinstance(result, BaseException):
            raise result
        else:
            schemas.append(result)
    if problems:
        raise ConfigError(problems)
    return schemas
