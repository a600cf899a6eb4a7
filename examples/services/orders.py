"""orders: a GraphQL service of 10,000 orders, which asks catalog and accounts when an order is placed.

``placeOrder`` checks the buyer on accounts (``GET /accounts/{id}``) and reads the product's current price
from catalog (``product(id:) { price }``), both over HTTP and at the same time, then stores that price as
the order's ``unitPrice``: an order keeps the price it was bought at whatever the catalog does later.

At ``/subgraph`` the same orders as an Apollo Federation v2 subgraph (``SUBGRAPH_SDL``): ``Order`` an entity keyed
by id, its ``product`` and ``buyer`` references for catalog and accounts to resolve, and ``Account.orders``.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from ariadne import MutationType, QueryType, make_executable_schema
from ariadne.contrib.federation import FederatedObjectType
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from .accounts import ACCOUNT_COUNT
from .catalog import PRODUCT_COUNT, seed_products
from .common import (
    Database,
    app_options,
    create_service_app,
    fetch_by_ids,
    outgoing_trace_headers,
    parse_id,
    run_service,
    service_parser,
)
from .graphql_http import SUBGRAPH_PATH, add_graphql_routes, count_root_keys, federated_schema, fetch_page
from .topology import DEFAULT_HOST, GRAPHQL_PATH, base_url, default_port

__all__ = [
    "DEFAULT_ACCOUNTS_URL",
    "DEFAULT_CATALOG_URL",
    "ORDER_COUNT",
    "SDL",
    "SUBGRAPH_SDL",
    "UPSTREAMS_KEY",
    "Upstreams",
    "build_schema",
    "build_subgraph_schema",
    "create_app",
    "main",
    "seed_orders",
]

ORDER_COUNT = 10_000
_SEED = 3003
_FIRST_ORDER_AT = datetime(2024, 1, 1, tzinfo=UTC)
_ISO_8601 = "%Y-%m-%dT%H:%M:%SZ"

DEFAULT_CATALOG_URL = base_url(DEFAULT_HOST, default_port("catalog")) + GRAPHQL_PATH
DEFAULT_ACCOUNTS_URL = base_url(DEFAULT_HOST, default_port("accounts"))

# What the service's schema and its subgraph schema both have, written once.
_ORDER_FIELDS = """
  id: ID!
  buyerId: ID!
  productId: ID!
  quantity: Int!
  "The product's price when the order was placed."
  unitPrice: Float!
  "ISO-8601, UTC."
  createdAt: String!"""
_ORDER_QUERIES = """
  "Orders ordered by id; after is the id of the last order of the previous page."
  orders(first: Int!, after: ID): [Order!]!"""

SDL = f"""
type Order {{{_ORDER_FIELDS}
}}

type Query {{{_ORDER_QUERIES}
  "Every order of every buyer given (one-to-many)."
  ordersByBuyerIds(ids: [ID!]!): [Order!]!
}}

type Mutation {{
  placeOrder(buyerId: ID!, productId: ID!, quantity: Int!): Order!
}}
"""

SUBGRAPH_SDL = f"""
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Order @key(fields: "id") {{{_ORDER_FIELDS}
  product: Product
  buyer: Account
}}

type Product @key(fields: "id", resolvable: false) {{
  id: ID!
}}

type Account @key(fields: "id") {{
  id: ID!
  "Every order the account placed."
  orders: [Order!]!
}}

type Query {{{_ORDER_QUERIES}
}}
"""

_SCHEMA = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, buyer_id INTEGER NOT NULL, product_id INTEGER NOT NULL,"
    " quantity INTEGER NOT NULL, unit_price REAL NOT NULL, created_at TEXT NOT NULL)",
    "CREATE INDEX orders_by_buyer ON orders (buyer_id)",
)
_SELECT = (
    "SELECT id, buyer_id AS buyerId, product_id AS productId, quantity, unit_price AS unitPrice,"
    " created_at AS createdAt FROM orders"
)
_PRICE_QUERY = "query ProductPrice($id: ID!) { product(id: $id) { price } }"


@functools.cache
def seed_orders() -> tuple[tuple[int, int, int, int, float, str], ...]:
    """The seeded rows ``(id, buyer_id, product_id, quantity, unit_price, created_at)``: the same on every
    machine; each unit price is the product's seeded catalog price, and createdAt grows with the id."""
    rng = random.Random(_SEED)
    prices = {product_id: price for product_id, _name, price, _seller in seed_products()}
    moment = _FIRST_ORDER_AT
    rows = []
    for order_id in range(1, ORDER_COUNT + 1):
        moment += timedelta(seconds=rng.randint(60, 3600))
        product_id = rng.randint(1, PRODUCT_COUNT)
        buyer_id = rng.randint(1, ACCOUNT_COUNT)
        quantity = rng.randint(1, 5)
        rows.append(
            (order_id, buyer_id, product_id, quantity, prices[product_id], moment.strftime(_ISO_8601))
        )
    return tuple(rows)


def _seed(conn: sqlite3.Connection) -> None:
    conn.executemany(
        "INSERT INTO orders (id, buyer_id, product_id, quantity, unit_price, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        seed_orders(),
    )


# ----------------------------------------------------------------------------------------------- upstreams


def _describe(error: BaseException) -> str:
    # A timeout's str() is empty; its class name is what tells the reader what went wrong.
    return str(error) or type(error).__name__


class Upstreams:
    """The HTTP calls placeOrder makes; every failure becomes a GraphQLError saying which service and why."""

    def __init__(self, catalog_url: str, accounts_url: str, timeout_s: float = 5.0) -> None:
        self.catalog_url = catalog_url
        self.accounts_url = accounts_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the orders upstream session is not open (is the app running?)")
        return self._session

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def check_buyer(self, buyer_id: str) -> None:
        parsed = parse_id(buyer_id)
        if parsed is None:
            raise GraphQLError(f"Unknown buyer '{buyer_id}'")
        try:
            url = f"{self.accounts_url}/accounts/{parsed}"
            async with self.session.get(url, headers=outgoing_trace_headers()) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise GraphQLError(
                f"Accounts service unreachable at {self.accounts_url}: {_describe(error)}"
            ) from None
        if status == 404:
            raise GraphQLError(f"Unknown buyer '{buyer_id}'")
        if status != 200:
            raise GraphQLError(f"Accounts service answered HTTP {status} for buyer '{buyer_id}'")

    async def product_price(self, product_id: str) -> float:
        parsed = parse_id(product_id)
        if parsed is None:
            raise GraphQLError(f"Unknown product '{product_id}'")
        payload = {"query": _PRICE_QUERY, "variables": {"id": str(parsed)}}
        try:
            async with self.session.post(
                self.catalog_url, json=payload, headers=outgoing_trace_headers()
            ) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise GraphQLError(
                f"Catalog service unreachable at {self.catalog_url}: {_describe(error)}"
            ) from None
        except ValueError:
            raise GraphQLError(
                f"Catalog service answered HTTP {status} with a body that is not JSON"
            ) from None
        return _price_from(body, product_id)

    async def checked_price(self, buyer_id: str, product_id: str) -> float:
        """The product's current price, once both the buyer and the product are known to exist."""
        # Both checks at once; return_exceptions keeps the second failure from going unretrieved.
        buyer_checked, price = await asyncio.gather(
            self.check_buyer(buyer_id), self.product_price(product_id), return_exceptions=True
        )
        if isinstance(buyer_checked, BaseException):
            raise buyer_checked
        if isinstance(price, BaseException):
            raise price
        return price


def _price_from(body: Any, product_id: str) -> float:
    if not isinstance(body, dict):
        raise GraphQLError("Catalog service answered something that is not a GraphQL response")
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) else errors
        message = first.get("message", first) if isinstance(first, dict) else first
        raise GraphQLError(f"Catalog service error: {message}")
    product = (body.get("data") or {}).get("product")
    if product is None:
        raise GraphQLError(f"Unknown product '{product_id}'")
    return float(product["price"])


UPSTREAMS_KEY = web.AppKey("upstreams", Upstreams)


async def _upstreams_context(app: web.Application) -> AsyncIterator[None]:
    upstreams = app[UPSTREAMS_KEY]
    await upstreams.open()
    try:
        yield
    finally:
        await upstreams.close()


# ----------------------------------------------------------------------------------------------- resolvers

_query = QueryType()
_mutation = MutationType()


@_query.field("orders")
def _resolve_orders(_obj: None, info: GraphQLResolveInfo, first: int, after: str | None = None) -> Any:
    return fetch_page(info.context.db, _SELECT, first, after)


@_query.field("ordersByBuyerIds")
def _resolve_orders_by_buyer_ids(_obj: None, info: GraphQLResolveInfo, ids: list[str]) -> Any:
    return fetch_by_ids(info.context.db, _SELECT, ids, column="buyer_id", order="id")


@_mutation.field("placeOrder")
async def _resolve_place_order(
    _obj: None,
    info: GraphQLResolveInfo,
    buyerId: str,
    productId: str,
    quantity: int,
) -> Any:
    if quantity < 1:
        raise GraphQLError(f"quantity must be at least 1, got {quantity}")
    price = await info.context.app[UPSTREAMS_KEY].checked_price(buyerId, productId)
    conn = info.context.db
    cursor = conn.execute(
        "INSERT INTO orders (buyer_id, product_id, quantity, unit_price, created_at) VALUES (?, ?, ?, ?, ?)",
        (parse_id(buyerId), parse_id(productId), quantity, price, datetime.now(UTC).strftime(_ISO_8601)),
    )
    return conn.execute(f"{_SELECT} WHERE id = ?", (cursor.lastrowid,)).fetchone()


@functools.cache
def build_schema() -> GraphQLSchema:
    return count_root_keys(make_executable_schema(SDL, _query, _mutation))


_subgraph_query = QueryType()
_subgraph_query.set_field("orders", _resolve_orders)
_order_entity = FederatedObjectType("Order")
_order_entity.set_field("product", lambda order, _info: {"id": order["productId"]})
_order_entity.set_field("buyer", lambda order, _info: {"id": order["buyerId"]})
_account_entity = FederatedObjectType("Account")


@_order_entity.reference_resolver
def _resolve_order_reference(_obj: Any, info: GraphQLResolveInfo, representation: dict[str, Any]) -> Any:
    order_id = parse_id(representation.get("id"))
    if order_id is None:
        return None
    return info.context.db.execute(f"{_SELECT} WHERE id = ?", (order_id,)).fetchone()


@_account_entity.reference_resolver
def _resolve_account_reference(_obj: Any, _info: GraphQLResolveInfo, representation: dict[str, Any]) -> Any:
    return {"id": representation.get("id")}


@_account_entity.field("orders")
def _resolve_account_orders(account: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    buyer_id = parse_id(account["id"])
    return info.context.db.execute(f"{_SELECT} WHERE buyer_id = ? ORDER BY id", (buyer_id,)).fetchall()


@functools.cache
def build_subgraph_schema() -> GraphQLSchema:
    return federated_schema(SUBGRAPH_SDL, _subgraph_query, _order_entity, _account_entity)


def create_app(
    *,
    db_path: str | None = None,
    latency_ms: float = 0,
    max_concurrency: int | None = None,
    catalog_url: str = DEFAULT_CATALOG_URL,
    accounts_url: str = DEFAULT_ACCOUNTS_URL,
) -> web.Application:
    """``catalog_url`` is catalog's GraphQL endpoint, ``accounts_url`` the base URL of accounts."""
    database = Database("orders", "orders", _SCHEMA, _seed, db_path)
    app = create_service_app(database, latency_ms=latency_ms, max_concurrency=max_concurrency)
    app[UPSTREAMS_KEY] = Upstreams(catalog_url, accounts_url)
    app.cleanup_ctx.append(_upstreams_context)
    add_graphql_routes(app, build_schema())
    add_graphql_routes(app, build_subgraph_schema(), SUBGRAPH_PATH)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = service_parser("orders", "The orders example service (GraphQL).")
    parser.add_argument("--catalog-url", default=DEFAULT_CATALOG_URL, help="catalog's GraphQL endpoint")
    parser.add_argument("--accounts-url", default=DEFAULT_ACCOUNTS_URL, help="base URL of accounts")
    args = parser.parse_args(argv)
    app = create_app(**app_options(args), catalog_url=args.catalog_url, accounts_url=args.accounts_url)
    run_service("orders", app, args)


if __name__ == "__main__":
    main()
