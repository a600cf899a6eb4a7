"""The downstream error hierarchy: every failure of a downstream call is one of these.

Transports raise them; the executor turns them into GraphQL errors on exactly the fields the call feeds, with
`extensions.code` and `extensions.service`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .call import Call

__all__ = [
    "BulkheadFull",
    "CircuitOpen",
    "DeadlinePassed",
    "DownstreamBadResponse",
    "DownstreamError",
    "DownstreamHTTPError",
    "DownstreamTimeout",
    "DownstreamUnavailable",
    "FieldError",
]


class DownstreamError(Exception):
    """A downstream call failed. Carries the service, the call and (for HTTP errors) the status."""

    code = "DOWNSTREAM_ERROR"

    def __init__(
        self, message: str, *, service: str, call: Call | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.call = call
        self.status = status


class DownstreamUnavailable(DownstreamError):
    """The service could not be reached (connection refused or reset)."""

    code = "SERVICE_UNAVAILABLE"


class CircuitOpen(DownstreamUnavailable):
    """Not sent: the service's circuit breaker is open after too many recent failures (fail fast)."""


class DownstreamTimeout(DownstreamError):
    """The service did not answer in time."""

    code = "DOWNSTREAM_TIMEOUT"


class DeadlinePassed(DownstreamTimeout):
    """Not sent: the request's deadline had passed before the call could go out."""

    @classmethod
    def before(cls, call: Call) -> DeadlinePassed:
        return cls(
            f"{call.service}: the request deadline passed before the call was sent",
            service=call.service,
            call=call,
        )


class BulkheadFull(DownstreamError):
    """Not sent: too many calls to the service in flight, and no room (or no time) to wait for a free slot."""

    code = "BULKHEAD_FULL"


class DownstreamHTTPError(DownstreamError):
    """The service answered with an HTTP error status."""

    code = "DOWNSTREAM_HTTP_ERROR"

    def __init__(
        self,
        message: str,
        *,
        service: str,
        call: Call | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, service=service, call=call, status=status)
        self.retry_after = retry_after  # seconds the service asked callers to wait (`Retry-After`), if it did


class DownstreamBadResponse(DownstreamError):
    """The service answered, but not with what the protocol promises (invalid JSON, wrong shape, too large)."""

    code = "DOWNSTREAM_BAD_RESPONSE"


class FieldError:
    """An error standing in merged data where a value should be: the projection turns it into a null and a
    GraphQL error at that path (following non-null propagation)."""

    __slots__ = ("code", "message", "service")

    def __init__(self, message: str, code: str = "DOWNSTREAM_ERROR", service: str | None = None) -> None:
        self.message = message
        self.code = code
        self.service = service

    @classmethod
    def from_exception(cls, error: DownstreamError) -> FieldError:
        return cls(error.message, error.code, error.service)

    def extensions(self) -> dict[str, str]:
        if self.service is None:
            return {"code": self.code}
        return {"code": self.code, "service": self.service}

    def __repr__(self) -> str:
        return f"FieldError({self.message!r}, {self.code!r}, {self.service!r})"
