"""A service's own schema, asked of the service: the standard introspection query over GraphQL-over-HTTP.

    schema = await fetch_schema("http://127.0.0.1:4002/graphql", timeout=2.0, headers={}, max_bytes=10 << 20)

Bounded in time (`timeout`, seconds, for the whole exchange) and size (`max_bytes` of answer, read no further);
every failure is an `IntrospectionError` whose message names the URL and what went wrong, never an aiohttp or
graphql-core exception. An Apollo Federation subgraph introspects like any GraphQL service: its schema has
`_entities(representations:)` and `_service`, which `gateway.schema.downstream` checks `entity:` bindings against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from graphql import GraphQLSchema, build_client_schema, get_introspection_query

from registry.redaction import redact_url

from ..fetching import FetchError, graphql_data, post_graphql

__all__ = ["INTROSPECTION_QUERY", "IntrospectionError", "fetch_schema"]

# Descriptions are not needed to check bindings and are most of the answer's bytes; composition keeps them.
INTROSPECTION_QUERY: Final = get_introspection_query(descriptions=False)
_WITH_DESCRIPTIONS: Final = get_introspection_query(descriptions=True)


class IntrospectionError(Exception):
    """The service's schema could not be had; `message` says which URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        self.message = f"cannot introspect {redact_url(url)}: {reason}"
        super().__init__(self.message)


async def fetch_schema(
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = 10 << 20,
    descriptions: bool = False,
) -> GraphQLSchema:
    """The schema of the GraphQL service at `url`, built from its introspection answer (with the descriptions
    of its types and fields when asked: a composed schema keeps them)."""
    query = _WITH_DESCRIPTIONS if descriptions else INTROSPECTION_QUERY
    try:
        answer = await post_graphql(url, query, timeout=timeout, headers=headers, max_bytes=max_bytes)
    except FetchError as error:
        raise IntrospectionError(url, error.reason) from None
    return schema_from_answer(url, answer)


def schema_from_answer(url: str, answer: Any) -> GraphQLSchema:
    """The schema in an introspection query's GraphQL result (`{"data": {"__schema": ...}}`)."""
    if not isinstance(answer, dict):
        raise IntrospectionError(url, "the answer is not a GraphQL result")
    try:
        data = graphql_data(url, answer)
    except FetchError as error:
        raise IntrospectionError(url, error.reason) from None
    if not isinstance(data.get("__schema"), dict):
        raise IntrospectionError(url, "the answer has no data.__schema")
    try:
        return build_client_schema(data)  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError) as error:  # graphql-core's own errors for a malformed answer
        raise IntrospectionError(url, f"the introspection answer is malformed: {error}") from None
