"""Does a service (or one instance of it) answer the protocol it is bound with? One cheap call, and its verdict.

- GraphQL: `{ __typename }` (valid against every GraphQL schema) must come back as a GraphQL result naming the
  root type, so that a wrong path (`.../graphq` answering 404, or some other page answering 200) fails.
- REST: `GET {url}{health_path}` (default `/health`) must answer 2xx; its body need not be JSON.

`/ready` sends it through the gateway's clients (gateway/server/readiness.py); the instance pool's health checks
send it to each instance (gateway/resilience/pool.py).
"""

from __future__ import annotations

from typing import Any, Final

from instrumentation.call import Call, GraphQLCall, RestCall, Send
from instrumentation.errors import DownstreamBadResponse, DownstreamError, DownstreamHTTPError
from registry.config import ServiceConfig

__all__ = ["OK", "PROBE_QUERY", "check", "probe_call"]

OK: Final = "ok"
PROBE_QUERY: Final = "{ __typename }"


def probe_call(service: ServiceConfig, deadline: float | None = None) -> Call:
    if service.protocol == "rest":
        return RestCall(service.name, service.health_path, {}, deadline=deadline)
    return GraphQLCall(service.name, PROBE_QUERY, {}, deadline=deadline)


async def check(send: Send, service: ServiceConfig, deadline: float | None = None) -> str:
    """ "ok", or why the service is not ready (naming it, and what it answered)."""
    try:
        answer = await send(probe_call(service, deadline))
    except DownstreamBadResponse as error:
        # A REST health check may answer plain text ("OK"): the status is what counts.
        if service.protocol == "rest" and error.status is not None and 200 <= error.status < 300:
            return OK
        return _reason(service, error.message)
    except DownstreamHTTPError as error:
        return (
            _reason(service, error.message)
            if error.status is not None and error.status < 500
            else error.message
        )
    except DownstreamError as error:
        return error.message
    if service.protocol == "rest":
        return OK
    return _graphql_verdict(service, answer)


def _graphql_verdict(service: ServiceConfig, answer: Any) -> str:
    data = answer.get("data")
    if isinstance(data, dict) and isinstance(data.get("__typename"), str):
        return OK
    errors = answer.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    message = first.get("message")
    if isinstance(message, str):
        return f"{service.name}: {PROBE_QUERY} answered with an error: {message[:200]}"
    return f"{service.name}: {PROBE_QUERY} answered without data.__typename: not a GraphQL endpoint?"


def _reason(service: ServiceConfig, message: str) -> str:
    """The message, with where to look when the service answered but not what readiness asks."""
    if service.protocol == "rest":
        return f"{message} (GET {service.health_path}: set services.{service.name}.health_path)"
    return f"{message} (is services.{service.name}.url its GraphQL endpoint?)"
