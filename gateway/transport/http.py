"""GraphQL-over-HTTP and REST/JSON over one aiohttp session per service.

Every failure leaves `send` as a DownstreamError with a short, stable message that names the service, so the
executor can put it on the fields the call feeds without knowing anything about aiohttp.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from instrumentation.call import Call, GraphQLCall, time_left
from instrumentation.errors import (
    DeadlinePassed,
    DownstreamBadResponse,
    DownstreamError,
    DownstreamHTTPError,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from registry.config import DEFAULT_MAX_RESPONSE_BYTES, ServiceConfig
from registry.redaction import redact_url

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "HTTPTransport"]


# Batched calls arrive as one request per service per level, so a modest pool is plenty; the cap keeps one
# slow service from opening sockets without bound.
_CONNECTION_LIMIT = 100
# Below the idle timeout of common servers (Node.js, uvicorn: 5 s): aiohttp does not retry a POST whose pooled
# connection the server has just closed, so a GraphQL call would fail with "connection lost".
_KEEPALIVE_SECONDS = 4.0

_GRAPHQL_HEADERS = {"content-type": "application/json", "accept": "application/json"}
_REST_HEADERS = {"accept": "application/json"}
_REST_BODY_HEADERS = {"accept": "application/json", "content-type": "application/json"}


def _json_default(value: object) -> object:
    # Variables are built as read-only mappings (MappingProxyType), which orjson does not serialise natively.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _is_graphql_result(value: object) -> bool:
    return (
        isinstance(value, dict)
        and ("data" in value or "errors" in value)
        and isinstance(value.get("data"), dict | None)
        and isinstance(value.get("errors", []), list)
    )


def _retry_after(value: str | None) -> float | None:
    """A `Retry-After` header in seconds (it is either a number of seconds or an HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a date without a zone is not one
        return None
    return max(0.0, when.timestamp() - time.time())


def _first_error_message(body: bytes | bytearray | None) -> str | None:
    """The first GraphQL error's message in an HTTP error answer, if the body is a GraphQL result with one."""
    if body is None:
        return None
    try:
        result = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not _is_graphql_result(result) or not result.get("errors"):
        return None
    first = result["errors"][0]
    message = first.get("message") if isinstance(first, dict) else None
    return message if isinstance(message, str) else None


class HTTPTransport:
    """Sends GraphQL and REST calls to one service over a lazily created, reused aiohttp session.

    A session passed in is used as is and left open by `close()`: whoever made it owns it.
    """

    def __init__(
        self,
        service: ServiceConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        """`max_response_bytes`: by default the service's own (`services.NAME.max_response_bytes`)."""
        self.service = service
        self.max_response_bytes = (
            service.max_response_bytes if max_response_bytes is None else max_response_bytes
        )
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._timeout = self._client_timeout(service.timeout_ms / 1000)

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        session = self._client(call)
        name = self.service.name
        timeout, timeout_message = self._attempt_timeout(call)
        if isinstance(call, GraphQLCall):
            method, url, params = "POST", self.service.url, None
            protocol_headers = _GRAPHQL_HEADERS
            try:
                data: bytes | None = orjson.dumps(
                    {"query": call.query, "variables": call.variables}, default=_json_default
                )
            except orjson.JSONEncodeError as exc:
                raise DownstreamError(
                    f"{name}: cannot encode variables as JSON: {exc}", service=name, call=call
                ) from exc
        else:
            base = self.service.url
            # Tolerate a base configured with a trailing slash; "…/" + "/items" would ask for "//items".
            if base.endswith("/") and call.path.startswith("/"):
                base = base[:-1]
            method, url, params, data = call.method, base + call.path, call.params, None
            protocol_headers = _REST_HEADERS
            if call.body is not None:
                try:
                    data = orjson.dumps(call.body, default=_json_default)
                except orjson.JSONEncodeError as exc:
                    raise DownstreamError(
                        f"{name}: cannot encode the body as JSON: {exc}", service=name, call=call
                    ) from exc
                protocol_headers = _REST_BODY_HEADERS
        request_headers: Mapping[str, str] = protocol_headers
        if headers:
            # The body's own headers win over forwarded ones with the same name: we know what we are sending.
            merged = CIMultiDict(headers)
            merged.update(protocol_headers)
            request_headers = merged

        try:
            async with session.request(
                method, url, params=params, data=data, headers=request_headers, timeout=timeout
            ) as response:
                status, reason = response.status, response.reason
                retry_after = _retry_after(response.headers.get("Retry-After")) if status >= 400 else None
                # A REST error body carries nothing we report; a GraphQL one may carry the reason in `errors`.
                needs_body = status < 400 or isinstance(call, GraphQLCall)
                body = await self._read(response) if needs_body else None
        except aiohttp.ConnectionTimeoutError as exc:  # before TimeoutError, which it also is
            raise DownstreamUnavailable(
                f"{name}: cannot connect to {redact_url(url)} within {self.service.connect_timeout_ms} ms",
                service=name,
                call=call,
            ) from exc
        except TimeoutError as exc:
            raise DownstreamTimeout(timeout_message, service=name, call=call) from exc
        except aiohttp.ClientConnectorError as exc:
            raise DownstreamUnavailable(
                f"{name}: cannot connect to {redact_url(url)}", service=name, call=call
            ) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            # The connection was open but dropped before the whole answer arrived (reset, truncated body).
            raise DownstreamUnavailable(
                f"{name}: connection to {redact_url(url)} lost", service=name, call=call
            ) from exc
        except aiohttp.ClientError as exc:
            raise DownstreamError(
                f"{name}: request to {redact_url(url)} failed: {type(exc).__name__}: {exc}",
                service=name,
                call=call,
            ) from exc

        if status >= 400:
            message = f"{name}: HTTP {status} {reason}" if reason else f"{name}: HTTP {status}"
            if isinstance(call, GraphQLCall) and (error := _first_error_message(body)) is not None:
                message = f"{name}: HTTP {status}: {error}"
            raise DownstreamHTTPError(
                message, service=name, call=call, status=status, retry_after=retry_after
            )
        if status == 204 and not isinstance(call, GraphQLCall):
            return None  # No Content: the REST contract reads it as null
        if body is None:
            raise DownstreamBadResponse(
                f"{name}: response larger than {self.max_response_bytes} bytes"
                f" (services.{name}.max_response_bytes)",
                service=name,
                call=call,
                status=status,
            )
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DownstreamBadResponse(
                f"{name}: invalid JSON in response", service=name, call=call, status=status
            ) from exc
        if isinstance(call, GraphQLCall) and not _is_graphql_result(answer):
            raise DownstreamBadResponse(
                f"{name}: response is not a GraphQL result (expected an object with 'data' or 'errors')",
                service=name,
                call=call,
                status=status,
            )
        return answer

    async def close(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _attempt_timeout(self, call: Call) -> tuple[aiohttp.ClientTimeout, str]:
        """The service's timeout, or the time left before the call's deadline if that is shorter; and what to
        say when it runs out."""
        left = time_left(call, time.monotonic())
        if left is None or left >= self.service.timeout_ms / 1000:
            return self._timeout, f"{self.service.name}: no answer within {self.service.timeout_ms} ms"
        if left <= 0:
            raise DeadlinePassed.before(call)
        message = f"{self.service.name}: no answer before the request deadline ({left * 1000:.0f} ms left)"
        return self._client_timeout(left), message

    def _client_timeout(self, total_s: float) -> aiohttp.ClientTimeout:
        # sock_connect, not connect: connect also counts the wait for a free connection of the pool.
        return aiohttp.ClientTimeout(
            total=total_s, sock_connect=min(total_s, self.service.connect_timeout_ms / 1000)
        )

    def _client(self, call: Call) -> aiohttp.ClientSession:
        # Created on first use, not in __init__, so it binds to the loop that actually runs the requests.
        if self._session is None and not self._closed:
            connector = aiohttp.TCPConnector(limit=_CONNECTION_LIMIT, keepalive_timeout=_KEEPALIVE_SECONDS)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        if self._session is None or self._session.closed:
            name = self.service.name
            raise DownstreamError(f"{name}: transport is closed", service=name, call=call)
        return self._session

    async def _read(self, response: aiohttp.ClientResponse) -> bytearray | None:
        """The body, or None as soon as it proves larger than the cap (the connection is then dropped)."""
        limit = self.max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            response.close()
            return None
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if len(body) > limit:
                # The rest is still on the wire: drop the connection rather than return it to the pool.
                response.close()
                return None
        return body
