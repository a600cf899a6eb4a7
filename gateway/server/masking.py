"""Error masking: what a downstream failure tells a client.

A downstream error's message can name internal URLs (`cannot connect to http://10.0.0.7:6199/graphql`) or
carry a service's own error text (a stack trace, a SQL statement). Unless a service is trusted with
`expose_errors: true`, the client sees the service's name and the error's code with a fixed phrase; the full
message (scrubbed of credentials) is in the `funnel.downstream` log line of the failed call, under the request's
id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from instrumentation.errors import ErrorCode
from registry.config import ServiceConfig

__all__ = ["MASKED", "mask_errors"]

# The codes whose messages come from the call (its URL, the service's answer): each gets a fixed phrase.
MASKED: Final[Mapping[str, str]] = {
    ErrorCode.DOWNSTREAM_ERROR: "the service reported an error",
    ErrorCode.SERVICE_UNAVAILABLE: "the service is unavailable",
    ErrorCode.DOWNSTREAM_TIMEOUT: "the service did not answer in time",
    ErrorCode.BULKHEAD_FULL: "too many calls to the service in flight",
    ErrorCode.DOWNSTREAM_HTTP_ERROR: "the service answered with an HTTP error",
    ErrorCode.DOWNSTREAM_BAD_RESPONSE: "the service's answer could not be used",
}


def mask_errors(body: dict[str, Any], services: Mapping[str, ServiceConfig]) -> None:
    """Replace, in place, the messages of `body`'s downstream errors from services that do not expose theirs."""
    for error in body.get("errors") or ():
        extensions = error.get("extensions") or {}
        service, code = extensions.get("service"), extensions.get("code")
        config = services.get(service) if isinstance(service, str) else None
        phrase = MASKED.get(code) if isinstance(code, str) else None
        if config is None or phrase is None or config.expose_errors:
            continue
        error["message"] = f"{service}: {phrase}"
