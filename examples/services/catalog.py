"""catalog: a GraphQL service of 500 products, each sold by one account.

``productsByIds`` is the batch field a gateway calls once per level; it answers in descending id order
(deliberately not the order asked for) and leaves unknown ids out.

At ``/subgraph`` the same products as an Apollo Federation v2 subgraph (``SUBGRAPH_SDL``): ``Product`` an entity
keyed by id, with its ``seller`` as an ``Account`` reference for accounts to resolve.
"""

from __future__ import annotations

import functools
import random
import sqlite3
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from ariadne import MutationType, QueryType, make_executable_schema
from ariadne.contrib.federation import FederatedObjectType
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from .accounts import ACCOUNT_COUNT
from .common import (
    Database,
    app_options,
    create_service_app,
    fetch_by_ids,
    parse_id,
    run_service,
    service_parser,
)
from .graphql_http import SUBGRAPH_PATH, add_graphql_routes, count_root_keys, federated_schema, fetch_page

__all__ = [
    "PRODUCT_COUNT",
    "SDL",
    "SUBGRAPH_SDL",
    "build_schema",
    "build_subgraph_schema",
    "create_app",
    "main",
    "seed_products",
]

PRODUCT_COUNT = 500
_SEED = 2002

# What the service's schema and its subgraph schema both have, written once.
_PRODUCT_FIELDS = """
  id: ID!
  name: String!
  price: Float!
  sellerId: ID!"""
_PRODUCT_QUERIES = """
  "Products ordered by id; after is the id of the last product of the previous page."
  products(first: Int!, after: ID): [Product!]!
  product(id: ID!): Product"""

SDL = f"""
type Product {{{_PRODUCT_FIELDS}
}}

type Query {{{_PRODUCT_QUERIES}
  "Batch lookup: unknown ids are left out and the order is not the order of ids."
  productsByIds(ids: [ID!]!): [Product]!
  "The first count * size products by id, as count shelves of size products: a list of lists."
  shelves(count: Int!, size: Int!): [[Product!]!]!
}}

type Mutation {{
  updatePrice(productId: ID!, price: Float!): Product!
}}
"""

SUBGRAPH_SDL = f"""
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Product @key(fields: "id") {{{_PRODUCT_FIELDS}
  seller: Account
}}

type Account @key(fields: "id", resolvable: false) {{
  id: ID!
}}

type Query {{{_PRODUCT_QUERIES}
}}
"""

_ADJECTIVES = (
    "Compact", "Durable", "Elegant", "Ergonomic", "Fast", "Gentle", "Heavy", "Light", "Modern", "Quiet",
    "Rustic", "Sleek", "Smart", "Sturdy", "Vintage",
)  # fmt: skip
_MATERIALS = (
    "Aluminium",
    "Bamboo",
    "Ceramic",
    "Copper",
    "Cotton",
    "Glass",
    "Leather",
    "Oak",
    "Steel",
    "Wool",
)
_NOUNS = (
    "Backpack", "Bottle", "Chair", "Clock", "Desk", "Kettle", "Lamp", "Mug", "Notebook", "Pan",
    "Pen", "Scarf", "Speaker", "Teapot", "Wallet",
)  # fmt: skip

_SCHEMA = (
    "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL,"
    " seller_id INTEGER NOT NULL)",
)
_SELECT = "SELECT id, name, price, seller_id AS sellerId FROM products"


@functools.cache
def seed_products() -> tuple[tuple[int, str, float, int], ...]:
    """The seeded rows ``(id, name, price, seller_id)``: the same on every machine."""
    rng = random.Random(_SEED)
    rows = []
    for product_id in range(1, PRODUCT_COUNT + 1):
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_MATERIALS)} {rng.choice(_NOUNS)}"
        price = round(rng.uniform(2, 250), 2)
        rows.append((product_id, name, price, rng.randint(1, ACCOUNT_COUNT)))
    return tuple(rows)


def _seed(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT INTO products (id, name, price, seller_id) VALUES (?, ?, ?, ?)", seed_products())


def _product(conn: sqlite3.Connection, product_id: object) -> dict[str, Any] | None:
    parsed = parse_id(product_id)
    if parsed is None:
        return None
    row: dict[str, Any] | None = conn.execute(f"{_SELECT} WHERE id = ?", (parsed,)).fetchone()
    return row


_query = QueryType()
_mutation = MutationType()


@_query.field("products")
def _resolve_products(_obj: None, info: GraphQLResolveInfo, first: int, after: str | None = None) -> Any:
    return fetch_page(info.context.db, _SELECT, first, after)


@_query.field("product")
def _resolve_product(_obj: None, info: GraphQLResolveInfo, id: str) -> Any:
    return _product(info.context.db, id)


@_query.field("shelves")
def _resolve_shelves(_obj: None, info: GraphQLResolveInfo, count: int, size: int) -> Any:
    if count < 0 or size < 1:
        raise GraphQLError(f"count must be at least 0 and size at least 1, got count {count} and size {size}")
    products = fetch_page(info.context.db, _SELECT, count * size, None)
    return [products[i : i + size] for i in range(0, len(products), size)]


@_query.field("productsByIds")
def _resolve_products_by_ids(_obj: None, info: GraphQLResolveInfo, ids: list[str]) -> Any:
    return fetch_by_ids(info.context.db, _SELECT, ids)


@_mutation.field("updatePrice")
def _resolve_update_price(_obj: None, info: GraphQLResolveInfo, productId: str, price: float) -> Any:
    if price < 0:
        raise GraphQLError(f"price must be non-negative, got {price:g}")
    conn = info.context.db
    parsed = parse_id(productId)
    if (
        parsed is None
        or conn.execute("UPDATE products SET price = ? WHERE id = ?", (price, parsed)).rowcount != 1
    ):
        raise GraphQLError(f"Unknown product '{productId}'")
    return _product(conn, parsed)


@functools.cache
def build_schema() -> GraphQLSchema:
    return count_root_keys(make_executable_schema(SDL, _query, _mutation))


_subgraph_query = QueryType()
_subgraph_query.set_field("products", _resolve_products)
_subgraph_query.set_field("product", _resolve_product)
_product_entity = FederatedObjectType("Product")
_product_entity.set_field("seller", lambda product, _info: {"id": product["sellerId"]})


@_product_entity.reference_resolver
def _resolve_product_reference(_obj: Any, info: GraphQLResolveInfo, representation: dict[str, Any]) -> Any:
    return _product(info.context.db, representation.get("id"))


@functools.cache
def build_subgraph_schema() -> GraphQLSchema:
    return federated_schema(SUBGRAPH_SDL, _subgraph_query, _product_entity)


def create_app(
    *, db_path: str | None = None, latency_ms: float = 0, max_concurrency: int | None = None
) -> web.Application:
    database = Database("catalog", "products", _SCHEMA, _seed, db_path)
    app = create_service_app(database, latency_ms=latency_ms, max_concurrency=max_concurrency)
    add_graphql_routes(app, build_schema())
    add_graphql_routes(app, build_subgraph_schema(), SUBGRAPH_PATH)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = service_parser("catalog", "The catalog example service (GraphQL).").parse_args(argv)
    run_service("catalog", create_app(**app_options(args)), args)


if __name__ == "__main__":
    main()
