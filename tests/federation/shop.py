"""The `shop` federation of examples/federation/shop: four Apollo Federation v2 subgraphs in Python
(ariadne.contrib.federation) over in-memory data, each counting the requests it gets and the representations its
`_entities` is asked for.

    async with run_shop() as shop:
        shop.urls["products"]; shop.stats["reviews"].entities
        async with serve_subgraphs(shop, FIXTURES / "supergraph.graphql") as gateway: ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from ariadne import MutationType, QueryType
from ariadne.contrib.federation import FederatedObjectType, make_federated_schema
from graphql import GraphQLSchema, graphql

from examples.services.common import start_app
from gateway.federation import load_supergraph
from gateway.gateway import Gateway
from registry.config import ServiceConfig

FIXTURES: Final = Path(__file__).parents[2] / "examples" / "federation" / "shop"

PRODUCTS: Final = {
    "1": {"upc": "1", "name": "Table", "price": 899},
    "2": {"upc": "2", "name": "Couch", "price": 1299},
    "3": {"upc": "3", "name": "Chair", "price": 54},
    "4": {"upc": "4", "name": "Lamp", "price": 35},
    "5": {"upc": "5", "name": "Desk", "price": 450},
}
VARIANTS: Final = [
    {"productUpc": "1", "sku": "oak", "color": "brown", "stock": 3},
    {"productUpc": "1", "sku": "ash", "color": "white", "stock": 0},
    {"productUpc": "2", "sku": "oak", "color": "grey", "stock": 7},
]
USERS: Final = {
    "1": {"id": "1", "name": "Ada Lovelace", "username": "ada"},
    "2": {"id": "2", "name": "Alan Turing", "username": "alan"},
}
REVIEWS: Final = [
    {"id": "1", "body": "Sturdy.", "author": "1", "product": "1"},
    {"id": "2", "body": "Too soft.", "author": "2", "product": "2"},
    {"id": "3", "body": "Fine.", "author": "1", "product": "2"},
    {"id": "4", "body": "Wobbles.", "author": "2", "product": "3"},
    {"id": "5", "body": "Bright.", "author": "1", "product": "4"},
]


@dataclass
class Stats:
    requests: int = 0
    entities: int = 0  # representations asked of _entities
    documents: list[str] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)  # each request's, representations included


@dataclass
class Shop:
    urls: dict[str, str]
    stats: dict[str, Stats]

    def reset(self) -> None:
        for name in self.stats:
            self.stats[name] = Stats()


def _products() -> GraphQLSchema:
    products = {upc: dict(product) for upc, product in PRODUCTS.items()}  # each shop its own: setPrice
    query = QueryType()
    query.set_field("topProducts", lambda *_, first=5: list(products.values())[:first])
    query.set_field("product", lambda *_, upc: products.get(upc))
    mutation = MutationType()

    @mutation.field("setPrice")
    def set_price(_obj: Any, _info: Any, upc: str, price: int) -> dict[str, Any]:
        if upc not in products:
            raise ValueError(f"no product {upc}")
        products[upc] = {**products[upc], "price": price}
        return products[upc]

    product = FederatedObjectType("Product")
    product.reference_resolver(lambda _obj, _info, representation: products.get(representation["upc"]))
    product.set_field("variants", lambda obj, _info: [v for v in VARIANTS if v["productUpc"] == obj["upc"]])
    return make_federated_schema((FIXTURES / "products.graphql").read_text(), query, mutation, product)


def _variant(representation: dict[str, Any]) -> dict[str, Any] | None:
    key = (representation.get("productUpc"), representation.get("sku"))
    return next((v for v in VARIANTS if (v["productUpc"], v["sku"]) == key), None)


def _inventory() -> GraphQLSchema:
    variant = FederatedObjectType("Variant")
    variant.reference_resolver(lambda _obj, _info, representation: _variant(representation))
    product = FederatedObjectType("Product")
    product.reference_resolver(lambda _obj, _info, representation: representation)
    # Only from the price the gateway sent along (@requires): inventory has no prices of its own.
    product.set_field("shippingEstimate", lambda obj, _info: 1 if obj["price"] > 500 else 3)
    return make_federated_schema((FIXTURES / "inventory.graphql").read_text(), variant, product)


def _reviews() -> GraphQLSchema:
    product = FederatedObjectType("Product")
    product.reference_resolver(lambda _obj, _info, representation: {"upc": representation["upc"]})
    product.set_field("reviews", lambda obj, _info: [r for r in REVIEWS if r["product"] == obj["upc"]])
    review = FederatedObjectType("Review")
    review.reference_resolver(
        lambda _obj, _info, rep: next((r for r in REVIEWS if r["id"] == rep["id"]), None)
    )
    review.set_field("author", lambda obj, _info: {"id": obj["author"]})
    review.set_field("product", lambda obj, _info: {"upc": obj["product"]})
    user = FederatedObjectType("User")
    user.reference_resolver(lambda _obj, _info, representation: {"id": representation["id"]})
    user.set_field("reviews", lambda obj, _info: [r for r in REVIEWS if r["author"] == obj["id"]])
    user.set_field("username", lambda obj, _info: USERS[obj["id"]]["username"])  # @shareable with users
    return make_federated_schema((FIXTURES / "reviews.graphql").read_text(), product, review, user)


def _users() -> GraphQLSchema:
    query = QueryType()
    query.set_field("me", lambda *_: USERS["1"])
    query.set_field("users", lambda *_: list(USERS.values()))
    user = FederatedObjectType("User")
    user.reference_resolver(lambda _obj, _info, representation: USERS.get(representation["id"]))
    return make_federated_schema((FIXTURES / "users.graphql").read_text(), query, user)


@contextlib.asynccontextmanager
async def run_shop() -> AsyncIterator[Shop]:
    schemas = {"inventory": _inventory(), "products": _products(), "reviews": _reviews(), "users": _users()}
    async with run_subgraphs(schemas) as shop:
        yield shop


def serve_subgraphs(shop: Shop, supergraph: Path, *, batching: bool = True) -> Gateway:
    """A gateway serving `supergraph` over these subgraphs (each at its URL here, not at its join__graph URL)."""
    overrides = {name: ServiceConfig(name, url) for name, url in shop.urls.items()}
    schema, bindings, services = load_supergraph(str(supergraph), overrides)
    return Gateway(schema, services, bindings, batching=batching)


def counted(shop: Shop, *, asked_only: bool = False) -> dict[str, tuple[int, int]]:
    """Requests and `_entities` representations per subgraph, as the subgraphs counted them (`asked_only`: of
    those that were asked anything)."""
    return {n: (s.requests, s.entities) for n, s in shop.stats.items() if s.requests or not asked_only}


@contextlib.asynccontextmanager
async def run_subgraphs(schemas: dict[str, GraphQLSchema]) -> AsyncIterator[Shop]:
    """Each subgraph schema served on 127.0.0.1 (port 0), counting what it is asked; all stopped on exit."""
    shop = Shop({}, {name: Stats() for name in schemas})
    async with contextlib.AsyncExitStack() as stack:
        for name, schema in schemas.items():
            # The app reads the Stats through the shop, so that reset() replaces what it counts into.
            runner, url = await start_app(_counting(shop, name, schema))
            stack.push_async_callback(runner.cleanup)
            shop.urls[name] = url + "/graphql"
        yield shop


def _counting(shop: Shop, name: str, schema: GraphQLSchema) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        stats = shop.stats[name]
        stats.requests += 1
        stats.documents.append(body["query"])
        stats.variables.append(body.get("variables") or {})
        variables: dict[str, Any] = body.get("variables") or {}
        if "_entities" in body["query"]:
            stats.entities += sum(len(v) for v in variables.values() if isinstance(v, list))
        result = await graphql(schema, body["query"], variable_values=variables)
        return web.json_response(result.formatted)

    app = web.Application()
    app.router.add_post("/graphql", answer)
    return app
