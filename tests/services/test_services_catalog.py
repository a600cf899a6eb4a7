from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from examples.services import catalog
from examples.services.common import DB_KEY

from .conftest import Serve
from .helpers import get_json, graphql, post_json

SEEDED: dict[int, dict[str, Any]] = {
    row[0]: {"id": str(row[0]), "name": row[1], "price": row[2], "sellerId": str(row[3])}
    for row in catalog.seed_products()
}
FIELDS = "id name price sellerId"


@pytest.fixture
async def url(serve: Serve) -> str:
    return await serve(catalog.create_app()) + "/graphql"


async def query_data(http: aiohttp.ClientSession, url: str, query: str, **variables: Any) -> Any:
    status, body = await graphql(http, url, query, variables)
    assert (status, "errors" in body) == (200, False), body
    return body["data"]


def test_seed_has_500_products_each_sold_by_an_account() -> None:
    assert sorted(SEEDED) == list(range(1, 501))
    assert all(1 <= int(product["sellerId"]) <= 1000 for product in SEEDED.values())
    assert all(product["price"] > 0 for product in SEEDED.values())


async def test_products_pages_by_id_cursor(http: aiohttp.ClientSession, url: str) -> None:
    query = f"query($first: Int!, $after: ID) {{ products(first: $first, after: $after) {{ {FIELDS} }} }}"
    assert (await query_data(http, url, query, first=3))["products"] == [SEEDED[1], SEEDED[2], SEEDED[3]]
    page = await query_data(http, url, query, first=2, after="3")
    assert [p["id"] for p in page["products"]] == ["4", "5"]
    last = await query_data(http, url, query, first=5, after="499")
    assert [p["id"] for p in last["products"]] == ["500"]
    assert (await query_data(http, url, query, first=0))["products"] == []


async def test_product_by_id(http: aiohttp.ClientSession, url: str) -> None:
    data = await query_data(
        http, url, f'{{ a: product(id: "42") {{ {FIELDS} }} b: product(id: 9999) {{ id }} }}'
    )
    assert data == {"a": SEEDED[42], "b": None}


async def test_products_by_ids_leaves_unknown_out_and_ignores_request_order(
    http: aiohttp.ClientSession, url: str
) -> None:
    query = f"query($ids: [ID!]!) {{ productsByIds(ids: $ids) {{ {FIELDS} }} }}"
    data = await query_data(http, url, query, ids=["1", "2", "9999", "3", "x"])
    assert data["productsByIds"] == [SEEDED[3], SEEDED[2], SEEDED[1]]


async def test_update_price(http: aiohttp.ClientSession, url: str) -> None:
    mutation = (
        "mutation($id: ID!, $price: Float!) { updatePrice(productId: $id, price: $price) { id price } }"
    )
    data = await query_data(http, url, mutation, id="7", price=12.5)
    assert data == {"updatePrice": {"id": "7", "price": 12.5}}
    assert await query_data(http, url, '{ product(id: "7") { price } }') == {"product": {"price": 12.5}}


@pytest.mark.parametrize(
    ("product_id", "price", "message"),
    [
        ("9999", 1.0, "Unknown product '9999'"),
        ("x", 1.0, "Unknown product 'x'"),
        ("1", -1.0, "price must be non-negative, got -1"),
    ],
)
async def test_update_price_rejects_bad_input(
    http: aiohttp.ClientSession, url: str, product_id: str, price: float, message: str
) -> None:
    mutation = "mutation($id: ID!, $price: Float!) { updatePrice(productId: $id, price: $price) { id } }"
    status, body = await graphql(http, url, mutation, {"id": product_id, "price": price})
    assert status == 200
    assert body["data"] is None
    assert [(e["message"], e["path"]) for e in body["errors"]] == [(message, ["updatePrice"])]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ products(first: -1) { id } }", "first must be non-negative, got -1"),
        ('{ products(first: 1, after: "x") { id } }', "Invalid cursor 'x': expected an id"),
    ],
)
async def test_bad_arguments_are_field_errors(
    http: aiohttp.ClientSession, url: str, query: str, message: str
) -> None:
    status, body = await graphql(http, url, query)
    assert status == 200
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [message]


async def test_get_runs_queries_but_not_mutations(http: aiohttp.ClientSession, url: str) -> None:
    assert await get_json(http, url + '?query={product(id:"1"){id}}') == (
        200,
        {"data": {"product": {"id": "1"}}},
    )
    status, body = await get_json(
        http, url + '?query=query($id:ID!){product(id:$id){id}}&variables={"id":"2"}'
    )
    assert (status, body) == (200, {"data": {"product": {"id": "2"}}})
    mutation = 'mutation{updatePrice(productId:"1",price:1){id}}'
    assert await get_json(http, f"{url}?query={mutation}") == (
        405,
        {"errors": [{"message": "Mutations must be sent with POST"}]},
    )
    assert await get_json(http, f"{url}?query={{product(id:1){{id}}}}&variables=nope") == (
        400,
        {"errors": [{"message": "'variables' is not valid JSON"}]},
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "Request body must be a JSON object"),
        ({}, "Missing 'query' in request"),
        ({"query": 1}, "'query' must be a string"),
        ({"query": "{ product(id: 1) { id } }", "variables": [1]}, "'variables' must be a JSON object"),
        ({"query": "{ product(id: 1) { id } }", "operationName": 1}, "'operationName' must be a string"),
        ({"query": "{ nope }"}, "Cannot query field 'nope' on type 'Query'."),
        ({"query": "{ product(id: 1) { id }"}, "Syntax Error: Expected Name, found <EOF>."),
        (
            {"query": "query A { product(id: 1) { id } }", "operationName": "B"},
            "Unknown operation named 'B'.",
        ),
        (
            {"query": "query($f: Int!) { products(first: $f) { id } }", "variables": {"f": "x"}},
            "Variable '$f' has invalid value: Int cannot represent non-integer value: 'x'",
        ),
        (
            {"query": "query($ids: [ID!]!) { productsByIds(ids: $ids) { id } }", "variables": {"ids": [{}]}},
            "Variable '$ids' has invalid value at [0]: ID cannot represent value: {}",
        ),
    ],
)
async def test_malformed_requests_are_400(
    http: aiohttp.ClientSession, url: str, body: object, message: str
) -> None:
    status, answer = await post_json(http, url, body)
    assert status == 400
    assert "data" not in answer
    assert [e["message"] for e in answer["errors"]] == [message]


async def test_invalid_json_body_is_400(http: aiohttp.ClientSession, url: str) -> None:
    async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert await response.json() == {"errors": [{"message": "Request body is not valid JSON"}]}


async def test_unexpected_resolver_error_is_masked(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = catalog.create_app()
    url = await serve(app) + "/graphql"
    app[DB_KEY].conn.close()  # every query now raises sqlite3.ProgrammingError
    status, body = await graphql(http, url, '{ product(id: "1") { id } }')
    assert status == 200
    assert body == {
        "data": {"product": None},
        "errors": [
            {"message": "Internal server error", "locations": [{"line": 1, "column": 3}], "path": ["product"]}
        ],
    }


async def test_shelves_are_a_list_of_lists(http: aiohttp.ClientSession, url: str) -> None:
    data = await query_data(http, url, "{ shelves(count: 2, size: 3) { id } }")
    assert data["shelves"] == [
        [{"id": "1"}, {"id": "2"}, {"id": "3"}],
        [{"id": "4"}, {"id": "5"}, {"id": "6"}],
    ]
    status, body = await graphql(http, url, "{ shelves(count: 1, size: 0) { id } }", {})
    assert status == 200
    assert (
        body["errors"][0]["message"] == "count must be at least 0 and size at least 1, got count 1 and size 0"
    )
