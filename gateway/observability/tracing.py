"""OpenTelemetry traces: a span per request, per plan level (one service's group at one level) and per
downstream call, and the W3C `traceparent` of each call span sent to the service it calls.

    request  "query Orders"          SERVER  graphql.operation.*, funnel.request_id, funnel.outcome
    └─ level "level 1 catalog"       INTERNAL funnel.level, funnel.service, funnel.bindings, funnel.keys.*
       └─ call "call catalog"        CLIENT  funnel.service, funnel.binding, funnel.keys, funnel.chunk
          └─ (the service's own server span, a child of the call span through `traceparent`)

Why the level and call spans come from the executor's hooks, and not from a Transport wrapper as httpx's
instrumentation does it: only the executor knows what a call is for (its level, its binding, how many keys,
which chunk); a transport sees bytes for a URL. The hook makes the call span the current span around the send;
`call_headers` then injects that current span into the call's headers where ServiceClients assembles them.
Injecting there rather than in a wrapper around each service's transport keeps the resilience stack unwrapped
(its breakers stay visible to /ready and metrics), and every retry of a call carries the same call span as
parent: one logical call, one span, however many tries.

A gateway has its own TracerProvider (not OpenTelemetry's global one, which belongs to the application that
embeds the gateway, if any), and the W3C propagator explicitly: the services are promised `traceparent`, whatever
OTEL_PROPAGATORS says. With `exporter: none` this module is not even imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from instrumentation.call import Call, CallRecord
from instrumentation.errors import DownstreamError
from instrumentation.hooks import ExecutionHooks, LevelGroup, describe_fetches
from instrumentation.plan import Fetch
from registry.config import TracingConfig

__all__ = ["Tracing", "current_trace_id", "span_exporter"]

_PROPAGATOR = TraceContextTextMapPropagator()


def span_exporter(config: TracingConfig) -> SpanExporter:
    """The exporter the config names (console or otlp; `none` has no tracer at all)."""
    if config.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=config.endpoint) if config.endpoint else OTLPSpanExporter()
    if config.exporter == "console":
        return ConsoleSpanExporter(service_name=config.service_name)
    raise ValueError(f"no span exporter for {config.exporter!r}")


def current_trace_id() -> str | None:
    """The trace id of the current span in W3C's form (32 hex digits), None outside any trace."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


class Tracing(ExecutionHooks):
    """The gateway's tracer, and the execution hooks that make the level and call spans.

    `processor` replaces the configured exporter (tests use an in-memory exporter, the overhead benchmark one
    that drops everything); otherwise spans are batched to the exporter off the event loop's thread."""

    def __init__(self, config: TracingConfig, *, processor: SpanProcessor | None = None) -> None:
        resource = Resource.create({"service.name": config.service_name})
        # Shut down by the gateway's close(), not at exit: a gateway may come and go in a longer-lived process.
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(processor or BatchSpanProcessor(span_exporter(config)))
        self.tracer = self.provider.get_tracer("funnel")

    @contextmanager
    def request(self, headers: Mapping[str, str] | None, request_id: str | None) -> Iterator[Span]:
        """The request's span, current inside the block; a child of the client's `traceparent`, if it sent
        one, else of whatever span is current."""
        current = otel_context.get_current()
        parent = _PROPAGATOR.extract(headers, context=current) if headers else current
        attributes = {"funnel.request_id": request_id} if request_id else None
        with self.tracer.start_as_current_span(
            "graphql",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,  # a stack trace in a span is a leak waiting to happen; the log has it
        ) as span:
            yield span

    def level(self, group: LevelGroup) -> AbstractContextManager[Any]:
        return self.tracer.start_as_current_span(
            f"level {group.level} {group.service}",
            attributes={
                "funnel.level": group.level,
                "funnel.service": group.service,
                "funnel.bindings": describe_fetches(group.fetches),
                "funnel.keys.requested": group.requested,
                "funnel.keys.distinct": group.distinct,
            },
            record_exception=False,
        )

    def call(self, call: Call, fetches: tuple[Fetch, ...]) -> AbstractContextManager[Any]:
        return self.tracer.start_as_current_span(
            f"call {call.service}",
            kind=SpanKind.CLIENT,
            attributes={
                "funnel.service": call.service,
                "funnel.binding": describe_fetches(fetches),
                "funnel.level": call.level,
                "funnel.keys": call.keys,
                "funnel.chunk": call.chunk,
            },
            record_exception=False,
            set_status_on_exception=False,  # `called` sets it, with the error's code
        )

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        span = trace.get_current_span()  # the call span: `called` runs inside `call(...)`
        span.set_attribute("funnel.outcome", record.outcome)
        if error is not None:
            if error.status is not None:
                span.set_attribute("http.response.status_code", error.status)
            span.set_status(Status(StatusCode.ERROR, record.outcome))

    def call_headers(self) -> dict[str, str]:
        """`traceparent` (and `tracestate`) of the current span: for ServiceClients, as each call is sent."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier

    def close(self) -> None:
        self.provider.shutdown()  # flushes the spans still batched
