"""One bounded HTTP exchange for reading a document from a service: a schema, an introspection answer, an
OpenAPI document, a supergraph. Not the data path (that is `gateway.transport`): these are read at start-up, by
`funnel check` and `funnel compose`, and when a polled source is re-read.

    body = await fetch_bytes("http://127.0.0.1:4002/graphql", json_body={"query": "{ __typename }"})

A service's answer is hostile input like any other: it is bounded in time (`timeout`, seconds, for the whole
exchange) and size (`max_bytes`, read no further), and every failure is one `FetchError` whose `reason` says
what went wrong — never an aiohttp exception or a traceback. Its message names the method and the URL (which the
config has already refused to carry credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import orjson

from registry.redaction import redact_url

__all__ = ["MAX_DOCUMENT_BYTES", "TIMEOUT_S", "FetchError", "fetch_bytes", "graphql_data", "post_graphql"]

MAX_DOCUMENT_BYTES: Final = 16 << 20  # a schema, an introspection result or an OpenAPI document
TIMEOUT_S: Final = 10.0  # per request: introspecting a large schema takes longer than a data call


class FetchError(Exception):
    """A document could not be fetched: `reason` says why; the message adds the method and URL."""

    def __init__(self, method: str, url: str, reason: str) -> None:
        self.method = method
        self.url = url
        self.reason = reason
        super().__init__(f"{method} {redact_url(url)}: {reason}")


async def fetch_bytes(
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
                raise FetchError(method, url, f"HTTP {response.status} {response.reason or ''}".rstrip())
            too_large = f"the answer is larger than {max_bytes} bytes"
            if response.content_length is not None and response.content_length > max_bytes:
                raise FetchError(method, url, too_large)
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(method, url, too_large)
            return bytes(body)
    except TimeoutError:
        raise FetchError(method, url, f"no answer within {timeout * 1000:.0f} ms") from None
    except aiohttp.ClientConnectorError:
        raise FetchError(method, url, "cannot connect") from None
    except aiohttp.ClientError as error:
        # The exception's text can quote the answer; its type says enough.
        raise FetchError(method, url, f"the exchange failed ({type(error).__name__})") from None


async def post_graphql(
    url: str,
    query: str,
    *,
    timeout: float = TIMEOUT_S,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The whole GraphQL result (a JSON object) of one query; an answer that is not one is a FetchError."""
    body = await fetch_bytes(
        url, timeout=timeout, max_bytes=max_bytes, headers=headers, json_body={"query": query}
    )
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FetchError("POST", url, "the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise FetchError("POST", url, "the answer is not a GraphQL result")
    return answer


def graphql_data(url: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of a GraphQL result; a result with errors or without data is a FetchError."""
    errors = answer.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        message = first.get("message")
        shown = message[:200] if isinstance(message, str) else repr(errors)[:200]
        raise FetchError("POST", url, f"the service answered with an error: {shown}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise FetchError("POST", url, "the answer has no data")
    return data
