"""Every error of the engine: the downstream error hierarchy, the planner's PlanError, and ErrorCode.

Transports raise DownstreamErrors; the executor turns them into GraphQL errors on exactly the fields the call
feeds, with `extensions.code` and `extensions.service`. The planner raises PlanError.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from graphql import Node

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
    "ErrorCode",
    "FieldError",
    "NotSent",
    "PlanError",
]


class ErrorCode(StrEnum):
    """Every `extensions.code` Funnel writes, in one place: a GraphQL error's code is always one of these.

    A StrEnum, so that a code compares equal to its text and is encoded as it (orjson, logs, metric labels)."""

    # a downstream call failed (DownstreamError and its subclasses below)
    DOWNSTREAM_ERROR = "DOWNSTREAM_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    DOWNSTREAM_TIMEOUT = "DOWNSTREAM_TIMEOUT"
    BULKHEAD_FULL = "BULKHEAD_FULL"
    DOWNSTREAM_HTTP_ERROR = "DOWNSTREAM_HTTP_ERROR"
    DOWNSTREAM_BAD_RESPONSE = "DOWNSTREAM_BAD_RESPONSE"
    # the gateway refused or failed a field itself
    TOO_MANY_KEYS = "TOO_MANY_KEYS"
    LOADER_ERROR = "LOADER_ERROR"
    KEY_ERROR = "KEY_ERROR"
    INVALID_KEY = "INVALID_KEY"  # a batch key that cannot be sent as one (e.g. it holds the batch separator)
    BAD_USER_INPUT = "BAD_USER_INPUT"  # an argument that cannot be sent as it must be (one path segment)
    # the gateway refused a request before running it
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
    TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
    TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
    TOO_MANY_ROOT_FIELDS = "TOO_MANY_ROOT_FIELDS"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    OVERLOADED = "OVERLOADED"
    # the caller's identity or rights
    UNAUTHENTICATED = "UNAUTHENTICATED"
    UNAUTHORIZED = "UNAUTHORIZED"
    RATE_LIMITED = "RATE_LIMITED"
    # persisted queries (Apollo's codes where Apollo has one)
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"  # unknown hash: the client sends the text with it
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"  # trusted documents only: an unknown id
    QUERY_NOT_IN_SAFELIST = "QUERY_NOT_IN_SAFELIST"  # trusted documents only: a text not in the manifest
    BAD_PERSISTED_QUERY = "BAD_PERSISTED_QUERY"  # a malformed persistedQuery, or not the text's hash


class DownstreamError(Exception):
    """A downstream call failed. Carries the service, the call and (for HTTP errors) the status."""

    code: ErrorCode = ErrorCode.DOWNSTREAM_ERROR
    # An in-process loader's failure names no service in the client's error (its "service" is internal).
    names_service: ClassVar[bool] = True

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

    code: ErrorCode = ErrorCode.SERVICE_UNAVAILABLE


class CircuitOpen(DownstreamUnavailable):
    """Not sent: the service's circuit breaker is open after too many recent failures (fail fast)."""


class DownstreamTimeout(DownstreamError):
    """The service did not answer in time."""

    code: ErrorCode = ErrorCode.DOWNSTREAM_TIMEOUT


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

    code: ErrorCode = ErrorCode.BULKHEAD_FULL


class DownstreamHTTPError(DownstreamError):
    """The service answered with an HTTP error status."""

    code: ErrorCode = ErrorCode.DOWNSTREAM_HTTP_ERROR

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

    code: ErrorCode = ErrorCode.DOWNSTREAM_BAD_RESPONSE


class NotSent(DownstreamError):
    """Refused before sending: a value of the client's request cannot go downstream as the contract says (a
    path argument that is not one path segment). Its code says which input was wrong."""

    code: ErrorCode = ErrorCode.BAD_USER_INPUT


class FieldError:
    """An error standing in merged data where a value should be: the projection turns it into a null and a
    GraphQL error at that path (following non-null propagation)."""

    __slots__ = ("code", "message", "service")

    def __init__(
        self, message: str, code: ErrorCode = ErrorCode.DOWNSTREAM_ERROR, service: str | None = None
    ) -> None:
        self.message = message
        self.code = code
        self.service = service

    @classmethod
    def from_exception(cls, error: DownstreamError) -> FieldError:
        return cls(error.message, error.code, error.service if error.names_service else None)

    def extensions(self) -> dict[str, str]:
        if self.service is None:
            return {"code": self.code}
        return {"code": self.code, "service": self.service}

    def __repr__(self) -> str:
        return f"FieldError({self.message!r}, {self.code!r}, {self.service!r})"


class PlanError(Exception):
    """The operation cannot be planned (an unbound root field, an abstract type from a REST service, ...).

    `node` locates the problem in the document. `execution` marks what graphql-core reports as a failed
    execution (data null, one error) rather than a request that cannot be executed at all."""

    def __init__(self, message: str, node: Node | None = None, *, execution: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.node = node
        self.execution = execution
