"""What a gateway observes, built once from the config's `observability:` section.

The gateway asks three things of it: `hooks` for the executor (None when nothing is on, so the executor keeps
its plain path), `call_headers` for ServiceClients (None unless tracing), and `request(...)` around each
request (the request span, then the request's metrics and log line from its Result).

A feature that is on but whose package is missing stops start-up with a ConfigError naming the config line and
the pip extra to install; a feature that is off never imports its package.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from instrumentation.hooks import ExecutionHooks, combine_hooks
from registry.config import ObservabilityConfig
from registry.errors import ConfigError, Problem

from ..extras import install_hint
from ..resilience import LoadShedder
from ..schema.documents import DocumentCache
from ..transport import ServiceClients
from .logs import RequestLog
from .request_id import using_request_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

    from ..request import Result
    from .metrics import GatewayMetrics
    from .tracing import Tracing

__all__ = ["OUTCOMES", "Observability", "ObservedRequest", "request_outcome"]

OUTCOMES: Final = ("ok", "partial", "failed", "invalid", "rejected", "exception", "cancelled")
_REJECTED_OPERATION: Final = "unknown"  # refused before its document was read: no operation known

# (module that must import, the package that provides it, the extra of pyproject.toml that installs it)
_METRICS: Final = ("prometheus_client", "prometheus-client", "metrics")
_TRACING: Final = ("opentelemetry.sdk.trace", "opentelemetry-sdk", "tracing")
_OTLP: Final = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry-exporter-otlp-proto-http",
    "otlp",
)


@dataclass(slots=True)
class ObservedRequest:
    """Filled in by the gateway inside `Observability.request(...)`."""

    result: Result | None = None


def request_outcome(result: Result) -> str:
    if result.request_error:
        return "invalid"  # not parsed, validated or planned: nothing ran
    if not result.errors:
        return "ok"
    return "partial" if result.data is not None else "failed"


class Observability:
    """Metrics, tracing and request logs of one gateway, as the config turns them on.

    `span_processor` turns tracing on with that processor instead of the configured exporter (tests keep spans
    in memory with it; the overhead benchmark drops them)."""

    def __init__(
        self, config: ObservabilityConfig | None = None, *, span_processor: SpanProcessor | None = None
    ) -> None:
        config = config if config is not None else ObservabilityConfig()
        self.config = config
        tracing_on = config.tracing.exporter != "none" or span_processor is not None
        _check_installed(config, tracing_on)
        self.metrics: GatewayMetrics | None = None
        self.tracing: Tracing | None = None
        if config.metrics:
            from .metrics import GatewayMetrics

            self.metrics = GatewayMetrics()
        if tracing_on:
            from .tracing import Tracing, current_trace_id

            self.tracing = Tracing(config.tracing, processor=span_processor)
        self.logs = (
            RequestLog(current_trace_id if self.tracing is not None else _no_trace)
            if config.logging is not None
            else None
        )
        self.hooks: ExecutionHooks | None = combine_hooks(self.metrics, self.tracing, self.logs)
        self.call_headers: Callable[[], Mapping[str, str]] | None = (
            self.tracing.call_headers if self.tracing is not None else None
        )

    @property
    def active(self) -> bool:
        return self.hooks is not None

    def watch(
        self,
        clients: ServiceClients,
        documents: DocumentCache,
        shedders: Callable[[], Iterable[LoadShedder]] = tuple,
    ) -> None:
        """Let the metrics read the gateway's own counters (resilience layers, caches, load shedding)."""
        if self.metrics is not None:
            self.metrics.watch(clients, documents, shedders)

    @contextmanager
    def request(self, headers: Mapping[str, str] | None, request_id: str | None) -> Iterator[ObservedRequest]:
        """Around one request: its span is current inside; its metrics and log line follow its Result."""
        observed = ObservedRequest()
        start = time.perf_counter()
        outcome = ""
        with ExitStack() as stack:
            stack.enter_context(using_request_id(request_id))
            if self.logs is not None:
                stack.enter_context(self.logs.scrubbing(headers))
            span = stack.enter_context(self.tracing.request(headers, request_id)) if self.tracing else None
            try:
                yield observed
            except Exception:
                outcome = "exception"
                raise
            except BaseException:  # cancelled: the client went away, or the server is stopping
                outcome = "cancelled"
                raise
            finally:
                result = observed.result
                if not outcome:
                    outcome = request_outcome(result) if result is not None else "exception"
                seconds = time.perf_counter() - start
                operation = result.operation_name if result is not None else None
                if span is not None:
                    _describe_span(span, result, outcome)
                if self.metrics is not None:
                    self.metrics.observe_request(operation, outcome, seconds)
                if self.logs is not None:
                    trace_id = format(span.get_span_context().trace_id, "032x") if span is not None else None
                    self.logs.request(_log_fields(request_id, trace_id, operation, outcome, seconds, result))

    def rejected(self, request_id: str | None, status: int, seconds: float) -> None:
        """A request the server refused before the gateway ran it (bad HTTP, a limit): counted and logged."""
        if self.metrics is not None:
            self.metrics.requests.labels(_REJECTED_OPERATION, "rejected").inc()
            self.metrics.request_duration.labels(_REJECTED_OPERATION).observe(seconds)
        if self.logs is not None:
            fields = _log_fields(request_id, None, None, "rejected", seconds, None)
            fields["status"] = status
            self.logs.request(fields)

    def close(self) -> None:
        if self.tracing is not None:
            self.tracing.close()


def _no_trace() -> str | None:
    return None


def _check_installed(config: ObservabilityConfig, tracing_on: bool) -> None:
    wanted: list[tuple[str, tuple[str, str, str]]] = []
    if config.metrics:
        wanted.append(("observability.metrics is on", _METRICS))
    if tracing_on:
        wanted.append((f"observability.tracing.exporter is {config.tracing.exporter}", _TRACING))
    if config.tracing.exporter == "otlp":
        wanted.append(("observability.tracing.exporter is otlp", _OTLP))
    problems = []
    for what, (module, package, extra) in wanted:
        try:
            importlib.import_module(module)
        except ImportError:
            message = f"{what} but {package} is not installed: {install_hint(extra, package)}"
            location = config.location
            problems.append(
                Problem(message, location.file if location else None, location.line if location else None)
            )
    if problems:
        raise ConfigError(problems)


def _describe_span(span: Any, result: Result | None, outcome: str) -> None:
    span.set_attribute("funnel.outcome", outcome)
    if result is None:
        return
    if result.plan is not None:
        span.set_attribute("graphql.operation.type", result.plan.operation)
        span.update_name(f"{result.plan.operation} {result.operation_name or ''}".rstrip())
    if result.operation_name:
        span.set_attribute("graphql.operation.name", result.operation_name)
    span.set_attribute("funnel.calls", len(result.calls))
    span.set_attribute("funnel.errors", len(result.errors))


def _log_fields(
    request_id: str | None,
    trace_id: str | None,
    operation: str | None,
    outcome: str,
    seconds: float,
    result: Result | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "trace_id": trace_id,
        "operation": operation,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 3),
    }
    if result is None:
        return fields
    downstream: dict[str, dict[str, Any]] = {}
    for call in result.calls:
        entry = downstream.setdefault(call.service, {"calls": 0, "keys": 0, "failed": 0, "ms": 0.0})
        entry["calls"] += 1
        entry["keys"] += call.keys
        entry["failed"] += call.outcome != "ok"
        entry["ms"] += call.ms
    for entry in downstream.values():
        entry["ms"] = round(entry["ms"], 3)
    codes = {
        code
        for error in result.errors
        if isinstance(code := (error.get("extensions") or {}).get("code"), str)
    }
    fields.update(
        calls=len(result.calls),
        downstream=downstream,
        errors=len(result.errors),
        error_codes=sorted(codes),
    )
    return fields
