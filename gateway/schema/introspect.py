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

import aiohttp
import orjson
from graphql import GraphQLSchema, build_client_schema, get_introspection_query

__all__ = ["INTROSPECTION_QUERY", "IntrospectionError", "fetch_schema"]

# Descriptions are not needed to check bindings and are most of the answer's bytes; composition keeps them.
INTROSPECTION_QUERY: Final = get_introspection_query(descriptions=False)
_WITH_DESCRIPTIONS: Final = get_introspection_query(descriptions=True)


class IntrospectionError(Exception):
    """The service's schema could not be had; `message` says which URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        self.message = f"cannot introspect {url}: {reason}"
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
    body = await _post(url, query, timeout, headers or {}, max_bytes)
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise IntrospectionError(url, "the answer is not JSON") from None
    return schema_from_answer(url, answer)


def schema_from_answer(url: str, answer: Any) -> GraphQLSchema:
    """The schema in an introspection query's GraphQL result (`{"data": {"__schema": ...}}`)."""
    if not isinstance(answer, dict):
        raise IntrospectionError(url, "the answer is not a GraphQL result")
    errors = answer.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and isinstance(errors[0], dict) else {}
        message = first.get("message") if isinstance(first.get("message"), str) else repr(errors)[:200]
        raise IntrospectionError(url, f"the service answered with an error: {message}")
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("__schema"), dict):
        raise IntrospectionError(url, "the answer has no data.__schema")
    try:
        return build_client_schema(data)  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError) as error:  # graphql-core's own errors for a malformed answer
        raise IntrospectionError(url, f"the introspection answer is malformed: {error}") from None


async def _post(url: str, query: str, timeout: float, headers: Mapping[str, str], max_bytes: int) -> bytes:
    request_headers = {**headers, "content-type": "application/json", "accept": "application/json"}
    payload = orjson.dumps({"query": query})
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, data=payload, headers=request_headers) as response,
        ):
            if response.content_length is not None and response.content_length > max_bytes:
                raise IntrospectionError(url, f"the answer is larger than {max_bytes} bytes")
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > max_bytes:
                    raise IntrospectionError(url, f"the answer is larger than {max_bytes} bytes")
            if response.status != 200:
                raise IntrospectionError(url, f"HTTP {response.status} {response.reason or ''}".rstrip())
            return bytes(body)
    except TimeoutError:
        raise IntrospectionError(url, f"no answer within {timeout * 1000:.0f} ms") from None
    except aiohttp.ClientConnectorError:
        raise IntrospectionError(url, "cannot connect") from None
    except aiohttp.ClientError as error:
        raise IntrospectionError(url, f"{type(error).__name__}: {error}") from None
