"""One call per service per level, counted by the services, with data checked against their SQLite files."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from examples.services.cluster import Cluster
from gateway.gateway import Gateway

from .conftest import MakeGateway, calls, rows, service_configs

DEEP = "{ orders(first: 100) { id product { name seller { name } } buyer { name } } }"


def expected_deep(cluster: Cluster, n: int) -> list[dict[str, Any]]:
    accounts = {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    products = {r["id"]: r for r in rows(cluster, "catalog", "SELECT id, name, seller_id FROM products")}
    orders = rows(cluster, "orders", "SELECT id, product_id, buyer_id FROM orders ORDER BY id LIMIT ?", n)
    return [
        {
            "id": str(o["id"]),
            "product": {
                "name": products[o["product_id"]]["name"],
                "seller": {"name": accounts[products[o["product_id"]]["seller_id"]]},
            },
            "buyer": {"name": accounts[o["buyer_id"]]},
        }
        for o in orders
    ]


async def test_deep_query_batching_on(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute(DEEP)
    assert result == {"data": {"orders": expected_deep(cluster, 100)}}
    # level 0 orders; level 1 catalog (products); level 2 accounts: the sellers, and the buyers, which could
    # have gone at level 1 but wait for the sellers' call at no cost to the response
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 0}
    products = {
        r["id"]: r["seller_id"] for r in rows(cluster, "catalog", "SELECT id, seller_id FROM products")
    }
    orders = rows(cluster, "orders", "SELECT product_id, buyer_id FROM orders ORDER BY id LIMIT 100")
    # both fields read GET /accounts: one call carries the buyers' and the sellers' ids, each once
    everyone = {o["buyer_id"] for o in orders} | {products[o["product_id"]] for o in orders}
    assert (await cluster.stats("accounts"))["keys"] == len(everyone)


async def test_deep_query_without_merging_levels_is_one_call_per_service_per_level(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway(merge_levels=False)
    await cluster.reset_stats()
    result = await gateway.execute(DEEP)
    assert result == {"data": {"orders": expected_deep(cluster, 100)}}
    # level 0 orders; level 1 catalog (products) and accounts (buyers); level 2 accounts (sellers)
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 2, "reviews": 0}


async def test_deep_query_batching_off_is_the_n_plus_one_baseline(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway(batching=False)
    await cluster.reset_stats()
    result = await gateway.execute(DEEP)
    assert result == {"data": {"orders": expected_deep(cluster, 100)}}
    assert await calls(cluster) == {"orders": 1, "catalog": 100, "accounts": 200, "reviews": 0}


async def test_keys_are_deduplicated_when_batching(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute("{ orders(first: 100) { product { name } } }")
    products = {r["id"]: r["name"] for r in rows(cluster, "catalog", "SELECT id, name FROM products")}
    orders = rows(cluster, "orders", "SELECT product_id FROM orders ORDER BY id LIMIT 100")
    assert result == {"data": {"orders": [{"product": {"name": products[o["product_id"]]}} for o in orders]}}
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 0, "reviews": 0}
    distinct = {o["product_id"] for o in orders}
    assert len(distinct) < len(orders), "the seeded data repeats a product in the first 100 orders"
    assert (await cluster.stats("catalog"))["keys"] == len(distinct)


async def test_reviews_through_federation_entities(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute("{ products(first: 50) { id reviews { rating } } }")
    ratings: dict[int, list[int]] = {i: [] for i in range(1, 51)}
    for r in rows(
        cluster, "reviews", "SELECT product_id, rating FROM reviews WHERE product_id <= 50 ORDER BY id"
    ):
        ratings[r["product_id"]].append(r["rating"])
    assert result == {
        "data": {
            "products": [{"id": str(i), "reviews": [{"rating": x} for x in ratings[i]]} for i in range(1, 51)]
        }
    }
    assert await calls(cluster) == {"orders": 0, "catalog": 1, "accounts": 0, "reviews": 1}
    assert (await cluster.stats("reviews"))["keys"] == 50


async def test_one_to_many_from_a_rest_root(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute('{ account(id: "7") { name orders { id product { name } } } }')
    name = rows(cluster, "accounts", "SELECT name FROM accounts WHERE id = 7")[0]["name"]
    orders = rows(cluster, "orders", "SELECT id, product_id FROM orders WHERE buyer_id = 7 ORDER BY id")
    products = {r["id"]: r["name"] for r in rows(cluster, "catalog", "SELECT id, name FROM products")}
    assert orders, "the seeded data gives account 7 some orders"
    # the orders in the order ordersByBuyerIds answers them: by id
    assert result == {
        "data": {
            "account": {
                "name": name,
                "orders": [
                    {"id": str(o["id"]), "product": {"name": products[o["product_id"]]}} for o in orders
                ],
            }
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 0}


async def test_same_binding_through_two_root_fields(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute(
        '{ a: orders(first: 10) { product { name } } b: orders(first: 10, after: "10") { product { price } } }'
    )
    products = {r["id"]: r for r in rows(cluster, "catalog", "SELECT id, name, price FROM products")}
    first = rows(cluster, "orders", "SELECT product_id FROM orders ORDER BY id LIMIT 10")
    second = rows(cluster, "orders", "SELECT product_id FROM orders WHERE id > 10 ORDER BY id LIMIT 10")
    assert result == {
        "data": {
            "a": [{"product": {"name": products[o["product_id"]]["name"]}} for o in first],
            "b": [{"product": {"price": products[o["product_id"]]["price"]}} for o in second],
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 0, "reviews": 0}


async def test_aliases_with_different_sub_selections(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute(
        "{ orders(first: 20) { x: product { name } y: product { price seller { email } } buyer { id } } }"
    )
    accounts = {r["id"]: r["email"] for r in rows(cluster, "accounts", "SELECT id, email FROM accounts")}
    products = {
        r["id"]: r for r in rows(cluster, "catalog", "SELECT id, name, price, seller_id FROM products")
    }
    orders = rows(cluster, "orders", "SELECT product_id, buyer_id FROM orders ORDER BY id LIMIT 20")
    assert result == {
        "data": {
            "orders": [
                {
                    "x": {"name": products[o["product_id"]]["name"]},
                    "y": {
                        "price": products[o["product_id"]]["price"],
                        "seller": {"email": accounts[products[o["product_id"]]["seller_id"]]},
                    },
                    "buyer": {"id": str(o["buyer_id"])},
                }
                for o in orders
            ]
        }
    }
    # the buyers wait for the sellers' level: one accounts call
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 0}


async def test_two_bindings_of_one_rest_endpoint_at_one_level_share_a_request(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute(
        "{ orders(first: 100) { buyer { name } } products(first: 100) { seller { name } } }"
    )
    accounts = {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    buyers = [
        r["buyer_id"] for r in rows(cluster, "orders", "SELECT buyer_id FROM orders ORDER BY id LIMIT 100")
    ]
    sellers = [
        r["seller_id"]
        for r in rows(cluster, "catalog", "SELECT seller_id FROM products ORDER BY id LIMIT 100")
    ]
    assert result == {
        "data": {
            "orders": [{"buyer": {"name": accounts[b]}} for b in buyers],
            "products": [{"seller": {"name": accounts[s]}} for s in sellers],
        }
    }
    # Order.buyer and Product.seller both read GET /accounts at level 1: one request, their keys de-duplicated
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 0}
    assert set(buyers) & set(sellers), "the seeded data has an account that is both buyer and seller here"
    assert (await cluster.stats("accounts"))["keys"] == len(set(buyers) | set(sellers))


INTERFACE_SDL = """
interface Purchase { id: ID! quantity: Int! }
union Thing = Order
type Query {
  purchases(first: Int!): [Purchase!]! @remote(service: "orders", field: "orders")
  things(first: Int!): [Thing!]! @remote(service: "orders", field: "orders")
}
type Order implements Purchase {
  id: ID!
  quantity: Int!
  productId: ID!
  buyerId: ID!
  product: Product @batch(service: "catalog", key: "productId", field: "productsByIds")
  buyer: Account @batch(service: "accounts", key: "buyerId", path: "/accounts")
}
type Product { id: ID! name: String! }
type Account { id: ID! name: String! }
"""


async def test_fragments_on_an_interface_and_a_union(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(sdl=INTERFACE_SDL)
    await cluster.reset_stats()
    result = await gateway.execute(
        """
        { purchases(first: 5) { __typename id ...O }
          things(first: 5) { ... on Order { quantity product { id } buyer { name } } } }
        fragment O on Order { product { name } }
        """
    )
    products = {r["id"]: r["name"] for r in rows(cluster, "catalog", "SELECT id, name FROM products")}
    accounts = {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    orders = rows(
        cluster, "orders", "SELECT id, quantity, product_id, buyer_id FROM orders ORDER BY id LIMIT 5"
    )
    assert result == {
        "data": {
            "purchases": [
                {"__typename": "Order", "id": str(o["id"]), "product": {"name": products[o["product_id"]]}}
                for o in orders
            ],
            "things": [
                {
                    "quantity": o["quantity"],
                    "product": {"id": str(o["product_id"])},
                    "buyer": {"name": accounts[o["buyer_id"]]},
                }
                for o in orders
            ],
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 1, "reviews": 0}


async def test_max_batch_chunks_go_out_concurrently(cluster: Cluster, make_gateway: MakeGateway) -> None:
    # The first N orders whose buyers are exactly 50 distinct accounts.
    buyers: list[int] = []
    order_buyers: list[int] = []  # the buyer of each of those orders
    for row in rows(cluster, "orders", "SELECT buyer_id FROM orders ORDER BY id"):
        if row["buyer_id"] not in buyers:
            if len(buyers) == 50:
                break
            buyers.append(row["buyer_id"])
        order_buyers.append(row["buyer_id"])
    gateway = await make_gateway(services=service_configs(cluster, accounts={"max_batch": 7}))
    barrier = asyncio.Barrier(8)
    fetch = gateway.clients.fetcher({})

    async def held(call: Any) -> Any:
        # Every chunk waits here until all 8 have been sent: sequential chunks would never get through.
        if call.service == "accounts":
            await asyncio.wait_for(barrier.wait(), timeout=10)
        return await fetch(call)

    gateway.clients.fetcher = lambda headers, **_: held  # type: ignore[method-assign]
    await cluster.reset_stats()
    result = await gateway.execute(f"{{ orders(first: {len(order_buyers)}) {{ buyer {{ id }} }} }}")
    assert result == {"data": {"orders": [{"buyer": {"id": str(b)}} for b in order_buyers]}}
    assert await calls(cluster) == {"orders": 1, "catalog": 0, "accounts": 8, "reviews": 0}
    assert (await cluster.stats("accounts"))["keys"] == 50


async def test_list_of_lists_one_call_per_service_per_level(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    # Levels kept apart (the sellers would otherwise wait for the authors' call): this is about levels.
    gateway = await make_gateway(merge_levels=False)
    await cluster.reset_stats()
    result = await gateway.execute(
        "{ shelves(count: 3, size: 4) { id seller { name } reviews { rating author { name } } } }"
    )
    accounts = {r["id"]: r["name"] for r in rows(cluster, "accounts", "SELECT id, name FROM accounts")}
    products = rows(cluster, "catalog", "SELECT id, seller_id FROM products ORDER BY id LIMIT 12")
    reviews: dict[int, list[Any]] = {p["id"]: [] for p in products}
    for r in rows(cluster, "reviews", "SELECT product_id, rating, author_id FROM reviews ORDER BY id"):
        if r["product_id"] in reviews:
            reviews[r["product_id"]].append(r)
    shelf = [
        {
            "id": str(p["id"]),
            "seller": {"name": accounts[p["seller_id"]]},
            "reviews": [
                {"rating": r["rating"], "author": {"name": accounts[r["author_id"]]}}
                for r in reviews[p["id"]]
            ],
        }
        for p in products
    ]
    assert result == {"data": {"shelves": [shelf[0:4], shelf[4:8], shelf[8:12]]}}
    # level 0 catalog (the shelves); level 1 accounts (sellers) and reviews; level 2 accounts (authors): the
    # parents of levels 1 and 2 sit in three inner lists, and still each level asks each service once
    assert await calls(cluster) == {"orders": 0, "catalog": 1, "accounts": 2, "reviews": 1}
    sellers = {p["seller_id"] for p in products}
    authors = {r["author_id"] for product_reviews in reviews.values() for r in product_reviews}
    assert authors, "the seeded data gives the first twelve products some reviews"
    assert (await cluster.stats("accounts"))["keys"] == len(sellers) + len(authors)
    assert (await cluster.stats("reviews"))["keys"] == len(products)


async def test_parse_validate_and_plan_happen_once_per_query(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway()
    for _ in range(3):
        assert "errors" not in await gateway.execute(DEEP)
    assert (gateway.documents.documents.misses, gateway.documents.documents.hits) == (1, 2)
    prepared = gateway.documents.get(DEEP)
    assert (prepared.plans.misses, prepared.plans.hits) == (1, 2)


TWO_BINDINGS_SDL = """
type Query { orders(first: Int!): [Order!]! @remote(service: "orders") }
type Order {
  id: ID!
  productId: ID!
  buyerId: ID!
  product: Product @batch(service: "catalog", key: "productId", field: "productsByIds")
  sameProduct: Product @batch(service: "catalog", key: "productId", field: "productsByIds")
  nextProducts: [Product]
}
type Product { id: ID! name: String! }
"""


async def test_two_bindings_of_one_service_at_one_level_share_a_request(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway(sdl=TWO_BINDINGS_SDL)
    await cluster.reset_stats()
    result = await gateway.execute("{ orders(first: 10) { product { name } sameProduct { id } } }")
    products = {r["id"]: r["name"] for r in rows(cluster, "catalog", "SELECT id, name FROM products")}
    orders = rows(cluster, "orders", "SELECT product_id FROM orders ORDER BY id LIMIT 10")
    assert result == {
        "data": {
            "orders": [
                {"product": {"name": products[o["product_id"]]}, "sameProduct": {"id": str(o["product_id"])}}
                for o in orders
            ]
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 0, "reviews": 0}
    # both bindings' keys went in that one request, as two aliased root fields
    assert (await cluster.stats("catalog"))["keys"] == 2 * len({o["product_id"] for o in orders})


async def test_a_list_key_returns_items_in_key_order(cluster: Cluster, make_gateway: MakeGateway) -> None:
    gateway = Gateway.from_sdl(TWO_BINDINGS_SDL, service_configs(cluster))

    @gateway.batch("Order.nextProducts", service="catalog", field="productsByIds", requires=("productId",))
    def next_products(order: Mapping[str, Any]) -> list[str]:
        first = int(order["productId"])
        return [str(first + 2), str(first + 1), "9999"]  # descending, and one that does not exist

    async with gateway:
        await cluster.reset_stats()
        result = await gateway.execute("{ orders(first: 5) { nextProducts { id name } } }")
    products = {r["id"]: r["name"] for r in rows(cluster, "catalog", "SELECT id, name FROM products")}
    orders = rows(cluster, "orders", "SELECT product_id FROM orders ORDER BY id LIMIT 5")

    def product(i: int) -> dict[str, str] | None:
        return {"id": str(i), "name": products[i]} if i in products else None

    assert result == {
        "data": {
            "orders": [
                {"nextProducts": [product(o["product_id"] + 2), product(o["product_id"] + 1), None]}
                for o in orders
            ]
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 1, "accounts": 0, "reviews": 0}


async def test_introspection_is_answered_by_the_gateway_beside_remote_fields(
    cluster: Cluster, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway()
    await cluster.reset_stats()
    result = await gateway.execute(
        '{ __typename s: __schema { queryType { name } } t: __type(name: "Order") { fields { name } } '
        "orders(first: 1) { id } }"
    )
    order_fields = ["id", "buyerId", "productId", "quantity", "unitPrice", "createdAt", "product", "buyer"]
    assert result == {
        "data": {
            "__typename": "Query",
            "s": {"queryType": {"name": "Query"}},
            "t": {"fields": [{"name": name} for name in order_fields]},
            "orders": [{"id": "1"}],
        }
    }
    assert await calls(cluster) == {"orders": 1, "catalog": 0, "accounts": 0, "reviews": 0}
    directives = await gateway.execute("{ __schema { directives { name } } }")
    assert {d["name"] for d in directives["data"]["__schema"]["directives"]} == {
        "include",
        "skip",
        "deprecated",
        "specifiedBy",
        "oneOf",
    }
