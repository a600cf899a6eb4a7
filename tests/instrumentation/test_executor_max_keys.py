"""A service's `max_keys`: a level that needs more distinct keys fails those fields and sends nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from gateway.gateway import Gateway
from gateway.schema.annotations import load_schema
from gateway.transport import MockTransport, ServiceClients
from instrumentation.call import Call, GraphQLCall, RestCall
from registry.config import ServiceConfig

SDL = """
type Query { items: [Item!]! @remote(service: "a") }
type Item {
  id: ID!
  tag: ID
  detail: Detail @batch(service: "b", key: "id", field: "details")
  label: Label @batch(service: "c", key: "tag", path: "/labels")
}
type Detail { id: ID! text: String }
type Label { id: ID! name: String }
"""


def answering(n: int) -> Callable[[Call, Mapping[str, str]], Any]:
    """a: n items whose tags alternate "1", "0"; b and c: one item per key asked for."""

    def answer(call: Call, _headers: Mapping[str, str]) -> Any:
        if isinstance(call, RestCall):  # c: GET /labels?ids=k1,k2
            return [{"id": k, "name": f"label {k}"} for k in call.params["ids"].split(",")]
        assert isinstance(call, GraphQLCall)
        if call.service == "a":
            return {"data": {"items": [{"id": str(i), "tag": str(i % 2)} for i in range(1, n + 1)]}}
        # b: each batched field is sent as `b<id>: details(ids: $k<id>)`
        return {
            "data": {
                f"b{name[1:]}": [{"id": k, "text": f"detail {k}"} for k in keys]
                for name, keys in call.variables.items()
                if name.startswith("k")
            }
        }

    return answer


def make(n: int, max_keys: int, *, batching: bool = True) -> tuple[Gateway, dict[str, MockTransport]]:
    services = {
        "a": ServiceConfig("a", "http://a/graphql"),
        "b": ServiceConfig("b", "http://b/graphql", max_keys=max_keys, max_batch=2),
        "c": ServiceConfig("c", "http://c", protocol="rest", max_keys=max_keys),
    }
    mocks: dict[str, MockTransport] = {}

    def factory(service: ServiceConfig) -> MockTransport:
        mocks[service.name] = MockTransport(answering(n))
        return mocks[service.name]

    schema, bindings = load_schema(SDL, "schema.graphql", services)
    clients = ServiceClients(services, transport_factory=factory)
    return Gateway(schema, services, bindings, batching=batching, clients=clients), mocks


@pytest.mark.parametrize("batching", [True, False])
async def test_over_the_limit_the_fields_fail_and_nothing_is_sent(batching: bool) -> None:
    gateway, mocks = make(5, max_keys=4, batching=batching)

    result = await gateway.execute("{ items { id detail { text } label { name } } }")

    message = "b: 5 keys at one level exceed max_keys (4); nothing was sent"
    assert result["data"]["items"] == [
        {"id": str(i), "detail": None, "label": {"name": f"label {i % 2}"}} for i in range(1, 6)
    ]
    assert result["errors"] == [
        {
            "message": message,
            "locations": [{"line": 1, "column": 14}],
            "path": ["items", i, "detail"],
            "extensions": {"code": "TOO_MANY_KEYS", "service": "b"},
        }
        for i in range(5)
    ]
    assert mocks["b"].calls == []
    assert len(mocks["c"].calls) == (1 if batching else 5)  # two distinct tags: under c's limit


async def test_the_limit_counts_distinct_keys() -> None:
    gateway, mocks = make(6, max_keys=2)

    result = await gateway.execute("{ items { label { name } } }")

    assert result == {"data": {"items": [{"label": {"name": f"label {i % 2}"}} for i in range(1, 7)]}}
    assert [call.keys for call in mocks["c"].calls] == [2]


async def test_at_the_limit_every_key_is_sent_in_chunks_of_max_batch() -> None:
    gateway, mocks = make(5, max_keys=5)

    result = await gateway.execute("{ items { detail { text } } }")

    assert result == {"data": {"items": [{"detail": {"text": f"detail {i}"}} for i in range(1, 6)]}}
    assert sorted(call.keys for call in mocks["b"].calls) == [1, 2, 2]
