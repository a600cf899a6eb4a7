from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import aiohttp
import pytest

from examples.services import catalog, orders
from examples.services.cluster import Cluster

from .conftest import Serve
from .helpers import free_port, graphql

ORDER_FIELDS = "id buyerId productId quantity unitPrice createdAt"
PLACE = f"""mutation($buyer: ID!, $product: ID!, $quantity: Int!) {{
  placeOrder(buyerId: $buyer, productId: $product, quantity: $quantity) {{ {ORDER_FIELDS} }}
}}"""
SEEDED_PRICES = {row[0]: row[2] for row in catalog.seed_products()}


def as_order(row: tuple[int, int, int, int, float, str]) -> dict[str, Any]:
    order_id, buyer, product, quantity, price, created_at = row
    return {
        "id": str(order_id),
        "buyerId": str(buyer),
        "productId": str(product),
        "quantity": quantity,
        "unitPrice": price,
        "createdAt": created_at,
    }


@contextmanager
def read_only(path: str) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        yield conn


def order_count(cluster: Cluster) -> int:
    with read_only(cluster.db_paths["orders"]) as conn:
        count: int = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        return count


async def data_of(http: aiohttp.ClientSession, url: str, query: str, **variables: Any) -> Any:
    status, body = await graphql(http, url, query, variables)
    assert (status, "errors" in body) == (200, False), body
    return body["data"]


def test_seed_is_consistent_with_the_catalog() -> None:
    rows = orders.seed_orders()
    assert [row[0] for row in rows] == list(range(1, 10_001))
    assert all(row[4] == SEEDED_PRICES[row[2]] for row in rows)
    assert {row[1] for row in rows} <= set(range(1, 1001))
    created = [row[5] for row in rows]
    assert created == sorted(created)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", moment) for moment in created)


async def test_orders_pages_by_id_cursor(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    url = cluster.graphql_url("orders")
    query = f"query($after: ID) {{ orders(first: 2, after: $after) {{ {ORDER_FIELDS} }} }}"
    seeded = orders.seed_orders()
    assert (await data_of(http, url, query))["orders"] == [as_order(seeded[0]), as_order(seeded[1])]
    assert (await data_of(http, url, query, after="9999"))["orders"] == [as_order(seeded[9999])]


async def test_orders_by_buyer_ids_gives_every_order_of_every_buyer(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    query = f"query($ids: [ID!]!) {{ ordersByBuyerIds(ids: $ids) {{ {ORDER_FIELDS} }} }}"
    data = await data_of(http, cluster.graphql_url("orders"), query, ids=["1", "2", "5000"])
    expected = [as_order(row) for row in orders.seed_orders() if row[1] in (1, 2)]
    assert len(expected) > 10
    assert sorted(data["ordersByBuyerIds"], key=lambda o: int(o["id"])) == expected


async def test_place_order_stores_the_catalog_price(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    data = await data_of(http, cluster.graphql_url("orders"), PLACE, buyer="12", product="34", quantity=2)
    order = data["placeOrder"]
    assert order["id"] == "10001"
    assert (order["buyerId"], order["productId"], order["quantity"]) == ("12", "34", 2)
    assert order["unitPrice"] == SEEDED_PRICES[34]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", order["createdAt"])
    # One lookup each on accounts and catalog, asked over HTTP.
    for name in ("accounts", "catalog"):
        assert await cluster.stats(name) == {"requests": 1, "keys": 1, "peak_in_flight": 1}, name


async def test_an_order_keeps_the_price_it_was_bought_at(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    old_price = SEEDED_PRICES[5]
    placed = await data_of(http, cluster.graphql_url("orders"), PLACE, buyer="1", product="5", quantity=1)
    order_id = int(placed["placeOrder"]["id"])
    update = 'mutation { updatePrice(productId: "5", price: 999.99) { price } }'
    assert await data_of(http, cluster.graphql_url("catalog"), update) == {"updatePrice": {"price": 999.99}}

    query = 'query { ordersByBuyerIds(ids: ["1"]) { id unitPrice } }'
    mine = (await data_of(http, cluster.graphql_url("orders"), query))["ordersByBuyerIds"]
    assert {"id": str(order_id), "unitPrice": old_price} in mine
    with read_only(cluster.db_paths["orders"]) as conn:
        assert conn.execute("SELECT unit_price FROM orders WHERE id = ?", (order_id,)).fetchone() == (
            old_price,
        )
    with read_only(cluster.db_paths["catalog"]) as conn:
        assert conn.execute("SELECT price FROM products WHERE id = 5").fetchone() == (999.99,)

    again = await data_of(http, cluster.graphql_url("orders"), PLACE, buyer="1", product="5", quantity=1)
    assert again["placeOrder"]["unitPrice"] == 999.99


@pytest.mark.parametrize(
    ("buyer", "product", "quantity", "message"),
    [
        ("5000", "1", 1, "Unknown buyer '5000'"),
        ("1", "9999", 1, "Unknown product '9999'"),
        ("x", "1", 1, "Unknown buyer 'x'"),
        ("1", "1", 0, "quantity must be at least 1, got 0"),
        ("5000", "9999", 1, "Unknown buyer '5000'"),
    ],
)
async def test_place_order_rejects_bad_input_and_stores_nothing(
    http: aiohttp.ClientSession, cluster: Cluster, buyer: str, product: str, quantity: int, message: str
) -> None:
    variables = {"buyer": buyer, "product": product, "quantity": quantity}
    status, body = await graphql(http, cluster.graphql_url("orders"), PLACE, variables)
    assert status == 200
    assert body["data"] is None
    assert [(e["message"], e["path"]) for e in body["errors"]] == [(message, ["placeOrder"])]
    assert order_count(cluster) == 10_000


async def test_place_order_with_accounts_unreachable(serve: Serve, http: aiohttp.ClientSession) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    url = await serve(orders.create_app(catalog_url=dead + "/graphql", accounts_url=dead)) + "/graphql"
    status, body = await graphql(http, url, PLACE, {"buyer": "1", "product": "1", "quantity": 1})
    assert status == 200
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"].startswith(f"Accounts service unreachable at {dead}: ")
    assert error["path"] == ["placeOrder"]


async def test_place_order_with_catalog_unreachable(
    serve: Serve, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/graphql"
    app = orders.create_app(catalog_url=dead, accounts_url=cluster.urls["accounts"])
    url = await serve(app) + "/graphql"
    status, body = await graphql(http, url, PLACE, {"buyer": "1", "product": "1", "quantity": 1})
    assert (status, body["data"]) == (200, None)
    assert body["errors"][0]["message"].startswith(f"Catalog service unreachable at {dead}: ")


async def test_place_order_carries_the_callers_trace_to_catalog_and_accounts(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    from examples.services.common import TRACING_KEY

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    query = "mutation { placeOrder(buyerId: 3, productId: 4, quantity: 1) { id } }"
    async with http.post(
        cluster.graphql_url("orders"), json={"query": query}, headers={"traceparent": traceparent}
    ) as response:
        assert "errors" not in await response.json()
    # without a tracer of its own, orders passes the caller's trace on unchanged to the services it calls
    assert list(cluster.apps["catalog"][TRACING_KEY].received) == [traceparent]
    assert list(cluster.apps["accounts"][TRACING_KEY].received) == [traceparent]


async def test_a_traced_orders_makes_its_calls_children_of_its_own_span(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from examples.services.common import TRACING_KEY

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    cluster.apps["orders"][TRACING_KEY].enable(provider)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    query = "mutation { placeOrder(buyerId: 3, productId: 4, quantity: 1) { id } }"
    async with http.post(
        cluster.graphql_url("orders"),
        json={"query": query},
        headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
    ) as response:
        assert "errors" not in await response.json()
    (span,) = spans.get_finished_spans()
    assert span.context is not None and span.parent is not None
    assert (format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")) == (
        trace_id,
        "b7ad6b7169203331",
    )
    child = f"00-{trace_id}-{format(span.context.span_id, '016x')}-01"
    assert list(cluster.apps["catalog"][TRACING_KEY].received) == [child]
    assert list(cluster.apps["accounts"][TRACING_KEY].received) == [child]
