"""Deadlines: one per request, stamped on every call by the executor, kept by every layer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.gateway import Gateway
from gateway.resilience.deadline import DeadlineTransport, parse_timeout_ms, request_deadline
from gateway.schema.annotations import load_schema
from gateway.transport import MockTransport, ServiceClients
from instrumentation.call import Call, GraphQLCall, time_left
from instrumentation.errors import DeadlinePassed, DownstreamTimeout
from registry.config import ServiceConfig
from registry.resilience import GatewayResilience

from .conftest import query

SDL = """
type Query { items: [Item!]! @remote(service: "a") }
type Item { id: ID! detail: Detail @batch(service: "b", key: "id", field: "details") }
type Detail { id: ID! text: String }
"""


def test_the_request_deadline_is_the_configured_one_or_the_clients_if_shorter() -> None:
    assert request_deadline(5000, now=100.0) == 105.0
    assert request_deadline(5000, 250, now=100.0) == 100.25
    assert request_deadline(5000, 60_000, now=100.0) == 105.0  # a client cannot ask for more


@pytest.mark.parametrize("value", ["abc", "", "0", "-5", "inf", "nan", "1e999"])
def test_a_timeout_header_that_is_not_a_positive_number_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="funnel-timeout-ms must be a positive number of milliseconds"):
        parse_timeout_ms(value)


def test_a_timeout_header() -> None:
    assert parse_timeout_ms(" 250 ") == 250.0
    assert parse_timeout_ms("12.5") == 12.5


async def test_a_call_whose_deadline_has_passed_is_not_sent() -> None:
    mock = MockTransport(lambda call, headers: "ok")
    transport = DeadlineTransport(mock, clock=lambda: 100.0)

    with pytest.raises(DeadlinePassed) as raised:
        await transport.send(query(deadline=100.0), {})

    assert raised.value.message == "catalog: the request deadline passed before the call was sent"
    assert raised.value.code == "DOWNSTREAM_TIMEOUT"
    assert mock.calls == []


async def test_a_call_without_a_deadline_passes_through() -> None:
    mock = MockTransport(lambda call, headers: "ok")
    transport = DeadlineTransport(mock)
    assert await transport.send(query(), {}) == "ok"
    assert mock.calls == [query()]


async def test_a_transport_that_ignores_the_deadline_is_cut_off() -> None:
    async def hang(call: Call, headers: Mapping[str, str]) -> Any:
        await asyncio.Event().wait()

    transport = DeadlineTransport(MockTransport(hang))

    with pytest.raises(DownstreamTimeout) as raised:
        await asyncio.wait_for(transport.send(query(deadline=time.monotonic() + 0.05), {}), 5)

    assert raised.value.message == "catalog: no answer before the request deadline"


async def test_a_timeout_error_of_the_transport_is_not_taken_for_the_deadline() -> None:
    def fail(call: Call, headers: Mapping[str, str]) -> Any:
        raise TimeoutError("the transport's own")

    transport = DeadlineTransport(MockTransport(fail))
    with pytest.raises(TimeoutError, match="the transport's own"):
        await transport.send(query(deadline=time.monotonic() + 10), {})


def gateway_over(handlers: dict[str, Any], deadline_ms: int = 5000) -> Gateway:
    services = {name: ServiceConfig(name, f"http://{name}/graphql") for name in handlers}
    clients = ServiceClients(services, transport_factory=lambda s: MockTransport(handlers[s.name]))
    schema, bindings = load_schema(SDL, "schema.graphql", services)
    return Gateway(
        schema, services, bindings, clients=clients, resilience=GatewayResilience(deadline_ms=deadline_ms)
    )


async def test_every_call_of_a_request_carries_its_deadline_and_a_later_level_gets_what_is_left() -> None:
    seen: list[tuple[Call, float]] = []

    async def a(call: Call, headers: Mapping[str, str]) -> Any:
        seen.append((call, time_left(call, time.monotonic()) or 0))
        await asyncio.sleep(0.02)  # level 0 takes at least 20 ms
        return {"data": {"items": [{"id": "1"}, {"id": "2"}]}}

    async def b(call: Call, headers: Mapping[str, str]) -> Any:
        seen.append((call, time_left(call, time.monotonic()) or 0))
        return {"data": {"b1": [{"id": "1", "text": "one"}, {"id": "2", "text": "two"}]}}

    gateway = gateway_over({"a": a, "b": b}, deadline_ms=5000)
    started = time.monotonic()

    result = await gateway.execute("{ items { id detail { text } } }", timeout_ms=800)
    finished = time.monotonic()

    assert result == {
        "data": {"items": [{"id": "1", "detail": {"text": "one"}}, {"id": "2", "detail": {"text": "two"}}]}
    }
    (first, first_left), (second, second_left) = seen
    assert isinstance(first, GraphQLCall) and isinstance(second, GraphQLCall)
    assert first.deadline == second.deadline  # one deadline per request...
    assert first.deadline is not None
    assert started + 0.8 <= first.deadline <= finished + 0.8  # ...from the client's shorter timeout
    assert second_left <= first_left - 0.02  # ...so level 1 has only what level 0 left


async def test_the_configured_deadline_caps_the_clients() -> None:
    deadlines: list[float | None] = []

    def a(call: Call, headers: Mapping[str, str]) -> Any:
        deadlines.append(call.deadline)
        return {"data": {"items": []}}

    gateway = gateway_over({"a": a, "b": a}, deadline_ms=300)
    started = time.monotonic()
    assert await gateway.execute("{ items { id } }", timeout_ms=60_000) == {"data": {"items": []}}
    [deadline] = deadlines
    assert deadline is not None
    assert started + 0.3 <= deadline <= time.monotonic() + 0.3
