"""Structured logs: one line per request (`funnel.requests`, info) and one per failed downstream call
(`funnel.downstream`, warning), as JSON or as text.

    {"time": "2026-05-04T10:00:00.123Z", "level": "info", "logger": "funnel.requests", "message": "request",
     "request_id": "4bf9…", "trace_id": "0af7…", "operation": "Orders", "outcome": "partial",
     "duration_ms": 12.5, "calls": 2, "downstream": {"catalog": {"calls": 1, "keys": 64, "failed": 1,
     "ms": 9.8}, ...}, "errors": 1, "error_codes": ["DOWNSTREAM_TIMEOUT"]}

No secrets: a line never carries headers, variables or the query text, and the one free text it carries (a
failed call's error message, which may quote what a service answered) is scrubbed of the request's credential
headers (`authorization`, `cookie`, ...) — a service that echoes the token it was forwarded must not put it in
the gateway's logs.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any, Final

import orjson

from instrumentation.call import Call, CallRecord
from instrumentation.errors import DownstreamError
from instrumentation.hooks import ExecutionHooks, describe_fetches
from instrumentation.plan import Fetch
from registry.config import LoggingConfig

from .request_id import current_request_id

__all__ = [
    "DOWNSTREAM_LOGGER",
    "FIELDS",
    "REQUEST_LOGGER",
    "SENSITIVE_HEADERS",
    "JsonFormatter",
    "RequestLog",
    "TextFormatter",
    "configure_logging",
    "secrets_of",
]

REQUEST_LOGGER: Final = "funnel.requests"
DOWNSTREAM_LOGGER: Final = "funnel.downstream"
FIELDS: Final = "funnel"  # the LogRecord attribute holding a line's structured fields
SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_REDACTED: Final = "[redacted]"
_MIN_SECRET: Final = 6  # shorter fragments would redact ordinary words

# The credentials of the request being answered: what a log line of it must never show.
_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("funnel_log_secrets", default=())


def secrets_of(headers: Mapping[str, str] | None) -> tuple[str, ...]:
    """The values of the credential headers, and their last word alone (the token of `Bearer <token>`)."""
    if not headers:
        return ()
    found: set[str] = set()
    for name in SENSITIVE_HEADERS:
        value = headers.get(name)
        if not value:
            continue
        for secret in (value.strip(), value.split()[-1] if value.split() else ""):
            if len(secret) >= _MIN_SECRET:
                found.add(secret)
    return tuple(sorted(found, key=len, reverse=True))  # the whole value before its part


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, the structured fields in JSON after the message."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_utc(record.created)} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        fields = getattr(record, FIELDS, None)
        if fields:
            text += " " + " ".join(
                f"{key}={value if isinstance(value, str) else orjson.dumps(value, default=str).decode()}"
                for key, value in fields.items()
            )
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def configure_logging(config: LoggingConfig, stream: IO[str] | None = None) -> logging.Handler:
    """Send the `funnel` loggers to `stream` (stderr) at the configured level and format; returns the handler.

    For the process that serves (`funnel serve`): a library embedding the gateway configures logging itself."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    logger = logging.getLogger("funnel")
    logger.addHandler(handler)
    logger.setLevel(config.level.upper())
    logger.propagate = False  # else the root logger's handler writes each line a second time, differently
    return handler


class RequestLog(ExecutionHooks):
    """The request lines and, as execution hooks, the lines of failed downstream calls."""

    def __init__(self, trace_id: Callable[[], str | None] = lambda: None) -> None:
        self.requests = logging.getLogger(REQUEST_LOGGER)
        self.downstream = logging.getLogger(DOWNSTREAM_LOGGER)
        self.trace_id = trace_id

    @contextmanager
    def scrubbing(self, headers: Mapping[str, str] | None) -> Iterator[None]:
        """Inside the block, log lines are scrubbed of these request headers' credentials."""
        token = _SECRETS.set(secrets_of(headers))
        try:
            yield
        finally:
            _SECRETS.reset(token)

    def request(self, fields: dict[str, Any]) -> None:
        if self.requests.isEnabledFor(logging.INFO):
            self.requests.info("request", extra={FIELDS: fields})

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        if error is None or not self.downstream.isEnabledFor(logging.WARNING):
            return
        fields = {
            "request_id": current_request_id(),
            "trace_id": self.trace_id(),
            "service": record.service,
            "binding": describe_fetches(fetches),
            "plan_level": record.level,
            "chunk": record.chunk,
            "keys": record.keys,
            "outcome": record.outcome,
            "status": error.status,
            "duration_ms": round(record.ms, 3),
            "error": redact(error.message, _SECRETS.get()),
        }
        self.downstream.warning("downstream call failed", extra={FIELDS: fields})
