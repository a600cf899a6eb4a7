"""A REST service's types from its OpenAPI 3 document (`openapi:`): the object types of its JSON answers. It has
no root fields of its own: the gateway schema says which operation a field calls (`operation:`)."""

from __future__ import annotations

from graphql import Source, parse

from registry.config import ServiceConfig

from ..openapi import read_openapi
from .base import ServiceSchema, service_schema
from .schema_file import shown_path

__all__ = ["openapi_schema"]


async def openapi_schema(service: ServiceConfig) -> ServiceSchema:
    location = service.openapi
    assert location is not None
    document = await read_openapi(location)
    sdl, notes = document.type_sdl()
    shown = location if location.startswith(("http://", "https://")) else shown_path(location, service)
    types = parse(Source(sdl, f"{location} (types)")) if sdl else None
    return service_schema(service, f"OpenAPI {shown}", document=types, openapi=document, notes=tuple(notes))
