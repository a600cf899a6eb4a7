"""Spans: request → level → call with the right parents and attributes, and each service receives the
`traceparent` of its own call span (and, with tracing on in the service, makes its span a child of it)."""

from __future__ import annotations

import aiohttp
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from examples.services.cluster import Cluster
from examples.services.common import TRACING_KEY
from examples.services.topology import free_port
from tests.engine.conftest import service_configs

from .conftest import FLAT, StartObserved, distinct_products, post

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def hex_id(number: int, width: int) -> str:
    return format(number, f"0{width}x")


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_the_span_tree_is_request_then_level_then_call(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    status, _, headers = await post(
        http, observed.graphql, FLAT.replace("{ orders", "query Flat { orders", 1)
    )
    assert status == 200
    spans = by_name(observed.finished_spans())
    assert sorted(spans) == ["call catalog", "call orders", "level 0 orders", "level 1 catalog", "query Flat"]
    request = spans["query Flat"]
    assert request.kind is SpanKind.SERVER and request.parent is None
    assert request.attributes is not None
    assert dict(request.attributes) == {
        "funnel.request_id": headers["X-Request-Id"],
        "funnel.outcome": "ok",
        "graphql.operation.type": "query",
        "graphql.operation.name": "Flat",
        "funnel.calls": 2,
        "funnel.errors": 0,
    }
    for level, call in (("level 0 orders", "call orders"), ("level 1 catalog", "call catalog")):
        assert parent_of(spans[level]) == request.context.span_id
        assert parent_of(spans[call]) == spans[level].context.span_id
        assert spans[call].kind is SpanKind.CLIENT
    trace_ids = {span.context.trace_id for span in spans.values()}
    assert trace_ids == {request.context.trace_id}

    assert dict(spans["level 1 catalog"].attributes or {}) == {
        "funnel.level": 1,
        "funnel.service": "catalog",
        "funnel.bindings": "Order.product",
        "funnel.keys.requested": 100,
        "funnel.keys.distinct": distinct_products(100),
    }
    assert dict(spans["call catalog"].attributes or {}) == {
        "funnel.service": "catalog",
        "funnel.binding": "Order.product",
        "funnel.level": 1,
        "funnel.keys": distinct_products(100),
        "funnel.chunk": 0,
        "funnel.outcome": "ok",
    }
    assert dict(spans["call orders"].attributes or {})["funnel.binding"] == "Query.orders"


async def test_each_service_receives_the_traceparent_of_its_call_span(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    observed = await start_observed()
    for name in ("orders", "catalog"):
        cluster.apps[name][TRACING_KEY].received.clear()
    status, _, _ = await post(http, observed.graphql, FLAT)
    assert status == 200
    spans = by_name(observed.finished_spans())
    for name in ("orders", "catalog"):
        call = spans[f"call {name}"]
        [traceparent] = cluster.apps[name][TRACING_KEY].received
        version, trace_id, parent_id, flags = traceparent.split("-")
        assert version == "00"
        assert trace_id == hex_id(call.context.trace_id, 32)
        assert parent_id == hex_id(call.context.span_id, 16)
        assert int(flags, 16) & 1  # sampled


async def test_a_service_with_tracing_on_joins_the_trace_under_the_call_span(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    service_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(service_spans))
    tracing = cluster.apps["catalog"][TRACING_KEY]
    tracing.enable(provider)
    try:
        observed = await start_observed()
        status, _, _ = await post(http, observed.graphql, FLAT)
        assert status == 200
    finally:
        tracing.tracer = None
    call = by_name(observed.finished_spans())["call catalog"]
    [server] = service_spans.get_finished_spans()
    assert server.name == "POST /graphql" and server.kind is SpanKind.SERVER
    assert server.context.trace_id == call.context.trace_id
    assert parent_of(server) == call.context.span_id


async def test_the_request_span_continues_the_clients_trace(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed()
    traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    status, _, _ = await post(http, observed.graphql, FLAT, headers={"traceparent": traceparent})
    assert status == 200
    spans = by_name(observed.finished_spans())
    request = spans["query"]
    assert hex_id(request.context.trace_id, 32) == CLIENT_TRACE
    assert request.parent is not None and hex_id(request.parent.span_id, 16) == CLIENT_SPAN
    assert {hex_id(span.context.trace_id, 32) for span in spans.values()} == {CLIENT_TRACE}


async def test_a_failed_call_span_carries_the_error_code(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/graphql"
    observed = await start_observed(services=service_configs(cluster, catalog={"url": dead}))
    status, body, _ = await post(http, observed.graphql, "{ orders(first: 2) { product { name } } }")
    assert status == 200 and body["errors"]
    spans = by_name(observed.finished_spans())
    call = spans["call catalog"]
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "SERVICE_UNAVAILABLE"
    assert (call.attributes or {})["funnel.outcome"] == "SERVICE_UNAVAILABLE"
    assert (spans["query"].attributes or {})["funnel.outcome"] == "partial"


async def test_tracing_off_sends_no_traceparent(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    observed = await start_observed(tracing=False)
    assert observed.gateway.observability.tracing is None
    cluster.apps["catalog"][TRACING_KEY].received.clear()
    status, _, _ = await post(http, observed.graphql, FLAT)
    assert status == 200
    assert list(cluster.apps["catalog"][TRACING_KEY].received) == []
    assert observed.finished_spans() == []
