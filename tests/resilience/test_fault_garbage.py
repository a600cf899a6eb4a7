"""Garbage from a service — invalid JSON, the wrong shape, the wrong types, a body beyond the limit — costs a clear
error on the fields it feeds, nothing else, and the gateway keeps serving."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from examples.services.cluster import Cluster
from gateway.transport import DEFAULT_MAX_RESPONSE_BYTES

from .conftest import (
    ORDERS_QUERY,
    FakeService,
    Faulty,
    MakeFake,
    OverFakeCatalog,
    batched,
    check_products_failed,
    example_gateway,
    expected_orders,
)

BAD = "DOWNSTREAM_BAD_RESPONSE"


def products_answer(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    """What catalog answers to the gateway's batched call: `{"data": {"b<id>": [product, ...]}}`."""
    expected = {o["product"]["id"]: o["product"] for o in expected_orders(cluster)}
    alias, ids = batched(body["variables"])
    return {"data": {alias: [expected[i] for i in ids]}}


GARBAGE: dict[str, tuple[Callable[[dict[str, Any]], web.StreamResponse], str]] = {
    "invalid-json": (
        lambda answer: web.Response(text='{"data": {"b1": [', content_type="application/json"),
        "catalog: invalid JSON in response",
    ),
    "not-a-graphql-result": (
        lambda answer: web.json_response([1, 2, 3]),
        "catalog: response is not a GraphQL result (expected an object with 'data' or 'errors')",
    ),
    "object-for-list": (
        lambda answer: web.json_response(
            {"data": {alias: items[0] for alias, items in answer["data"].items()}}
        ),
        "catalog: unexpected answer shape",
    ),
    "strings-for-objects": (
        lambda answer: web.json_response(
            {"data": {alias: [item["id"] for item in items] for alias, items in answer["data"].items()}}
        ),
        "catalog: unexpected answer shape (5 of 5 items are not objects with 'id')",
    ),
    "objects-without-key": (
        lambda answer: web.json_response(
            {"data": {alias: [{"name": i["name"]} for i in items] for alias, items in answer["data"].items()}}
        ),
        "catalog: unexpected answer shape (5 of 5 items are not objects with 'id')",
    ),
    "too-large": (
        lambda answer: web.Response(
            body=b" " * (DEFAULT_MAX_RESPONSE_BYTES + 1), content_type="application/json"
        ),
        f"catalog: response larger than {DEFAULT_MAX_RESPONSE_BYTES} bytes (services.catalog.max_response_bytes)",
    ),
}


async def garbage_catalog(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog
) -> tuple[FakeService, Faulty, dict[str, str]]:
    """A catalog that answers correctly, or with the garbage named by `mode["now"]`, behind the example gateway."""
    mode = {"now": "ok"}

    async def handle(request: web.Request) -> web.StreamResponse:
        answer = products_answer(cluster, await request.json())
        if mode["now"] == "ok":
            return web.json_response(answer)
        if mode["now"] == "wrong-types":  # a name that is an object, not a string
            for items in answer["data"].values():
                for item in items:
                    item["name"] = {"first": item["name"]}
            return web.json_response(answer)
        return GARBAGE[mode["now"]][0](answer)

    fake, faulty = await over_fake_catalog(handle)
    return fake, faulty, mode


@pytest.mark.parametrize("garbage", list(GARBAGE))
async def test_garbage_fails_the_fields_it_feeds_and_the_gateway_keeps_serving(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog, garbage: str
) -> None:
    fake, faulty, mode = await garbage_catalog(cluster, over_fake_catalog)
    expected = expected_orders(cluster)

    mode["now"] = garbage
    for _ in range(3):
        result = await faulty.gateway.execute(ORDERS_QUERY)
        assert check_products_failed(result, expected, BAD) == len(expected)
        assert {e["message"] for e in result["errors"]} == {GARBAGE[garbage][1]}

    mode["now"] = "ok"
    assert await faulty.gateway.execute(ORDERS_QUERY) == {"data": {"orders": expected}}
    assert faulty.stack("catalog").breaker.state == "closed"  # an answer, however bad, is not an outage
    assert fake.requests == 4  # bad answers are not retried


async def test_values_of_the_wrong_type_fail_only_those_fields(
    cluster: Cluster, over_fake_catalog: OverFakeCatalog
) -> None:
    _, faulty, mode = await garbage_catalog(cluster, over_fake_catalog)
    expected = expected_orders(cluster)

    mode["now"] = "wrong-types"
    result = await faulty.gateway.execute(ORDERS_QUERY)

    # Product.name is String!: the bad value nulls its product, with the error at the name's path.
    assert result["data"] == {"orders": [{**o, "product": None} for o in expected]}
    assert [e["path"] for e in result["errors"]] == [
        ["orders", i, "product", "name"] for i in range(len(expected))
    ]
    assert all(e["message"].startswith("String cannot represent value") for e in result["errors"])
    mode["now"] = "ok"
    assert await faulty.gateway.execute(ORDERS_QUERY) == {"data": {"orders": expected}}


async def test_a_rest_service_answering_an_object_for_a_list(
    cluster: Cluster, fake_service: MakeFake, faulty_gateways: list[Faulty]
) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"accounts": []}), content_type="application/json")

    fake = await fake_service(handle)
    faulty = example_gateway(cluster, accounts={"url": fake.url})
    faulty_gateways.append(faulty)

    result = await faulty.gateway.execute(ORDERS_QUERY)

    expected = expected_orders(cluster)
    assert result["data"] == {"orders": [{**o, "buyer": None} for o in expected]}
    assert {(e["message"], e["extensions"]["code"]) for e in result["errors"]} == {
        ("accounts: GET /accounts?ids= answered a JSON object; expected a JSON array", BAD)
    }
    assert [e["path"] for e in result["errors"]] == [["orders", i, "buyer"] for i in range(len(expected))]
