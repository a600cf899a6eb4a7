"""Reading a document from a service for composition: one bounded HTTP request (time and bytes).

A service's answer is hostile input like any other: its size is capped while it is read, its JSON parsed with
orjson (which refuses nesting past 1024 levels), and every failure is one `FetchError` whose message names the
URL and what went wrong, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import orjson

__all__ = ["MAX_DOCUMENT_BYTES", "TIMEOUT_S", "FetchError", "post_graphql", "read_url"]

MAX_DOCUMENT_BYTES: Final = 16 << 20  # a schema, an introspection result or an OpenAPI document
TIMEOUT_S: Final = 10.0  # per request: introspecting a large schema takes longer than a data call


class FetchError(Exception):
    """A document could not be fetched; the message says why, naming the URL."""


async def read_url(
    url: str,
    *,
    timeout: float = TIMEOUT_S,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
) -> bytes:
    """The body of GET `url` (POST with `json_body` when given); a status other than 2xx is an error."""
    method = "GET" if json_body is None else "POST"
    data = None if json_body is None else orjson.dumps(json_body)
    request_headers = {"accept": "application/json", **(headers or {})}
    if data is not None:
        request_headers["content-type"] = "application/json"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.request(method, url, data=data, headers=request_headers) as response,
        ):
            if not 200 <= response.status < 300:
                raise FetchError(
                    f"{method} {url} answered HTTP {response.status} {response.reason or ''}".rstrip()
                )
            if response.content_length is not None and response.content_length > max_bytes:
                raise FetchError(f"{method} {url}: the answer is larger than {max_bytes} bytes")
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"{method} {url}: the answer is larger than {max_bytes} bytes")
            return bytes(body)
    except TimeoutError:
        raise FetchError(f"{method} {url}: no answer within {timeout:g} s") from None
    except aiohttp.ClientConnectorError:
        raise FetchError(f"{method} {url}: cannot connect") from None
    except aiohttp.ClientError as error:
        raise FetchError(f"{method} {url} failed: {type(error).__name__}") from None


async def post_graphql(
    url: str,
    query: str,
    *,
    timeout: float = TIMEOUT_S,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The `data` of one GraphQL query; an answer with errors or without data is a FetchError."""
    body = await read_url(
        url, timeout=timeout, max_bytes=max_bytes, headers=headers, json_body={"query": query}
    )
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FetchError(f"POST {url}: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise FetchError(f"POST {url}: the answer is not a GraphQL response")
    errors = answer.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("message") if isinstance(first, dict) else None
        raise FetchError(f"POST {url}: the service answered an error: {str(message)[:200]}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise FetchError(f"POST {url}: the answer has no data")
    return data
