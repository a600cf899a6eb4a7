"""A GraphQL service's schema asked of the service: introspection, then `_service { sdl }` when the service is
an Apollo Federation subgraph (its SDL names the entities' keys, which introspection does not show)."""

from __future__ import annotations

from typing import Final

from graphql import get_named_type

from registry.config import ServiceConfig
from registry.errors import ConfigError
from registry.redaction import redact_url

from ...fetching import MAX_DOCUMENT_BYTES, TIMEOUT_S, FetchError, graphql_data, post_graphql
from ...schema.introspect import IntrospectionError, fetch_schema
from ..subgraph import subgraph_schema
from .base import ServiceSchema, service_problem, service_schema

__all__ = ["introspected_schema"]

_SERVICE_SDL: Final = "{ _service { sdl } }"


async def introspected_schema(service: ServiceConfig) -> ServiceSchema:
    try:
        schema = await fetch_schema(
            service.url, timeout=TIMEOUT_S, max_bytes=MAX_DOCUMENT_BYTES, descriptions=True
        )
        service_field = schema.query_type.fields.get("_service") if schema.query_type else None
        if service_field is None or get_named_type(service_field.type).name != "_Service":
            return service_schema(service, "introspection", schema)
        answer = await post_graphql(
            service.url, _SERVICE_SDL, timeout=TIMEOUT_S, max_bytes=MAX_DOCUMENT_BYTES
        )
        data = graphql_data(service.url, answer)
    except IntrospectionError as error:
        raise ConfigError(
            [
                service_problem(
                    service, f"cannot read its schema: POST {redact_url(error.url)}: {error.reason}"
                )
            ]
        ) from None
    except FetchError as error:
        raise ConfigError([service_problem(service, f"cannot read its schema: {error}")]) from None
    service_answer = data.get("_service")
    sdl = service_answer.get("sdl") if isinstance(service_answer, dict) else None
    if not isinstance(sdl, str):
        raise ConfigError([service_problem(service, "its answer to _service { sdl } has no sdl string")])
    subgraph = subgraph_schema(sdl, f"{service.name} _service.sdl")
    return service_schema(
        service, "Federation subgraph (_service.sdl)", subgraph.schema, entities=subgraph.entities
    )
