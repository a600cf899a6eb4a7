"""reviews: an Apollo Federation v2 subgraph that adds ``reviews`` to the catalog's ``Product``.

``_entities(representations:)`` answers entities in representation order: every product id 1..500 resolves
(``{reviews: []}`` when it has none), an id outside the catalog resolves to null, and a representation that is
not a Product (or not an object with a ``__typename``) is a GraphQL error for that entity alone.
"""

from __future__ import annotations

import functools
import random
import sqlite3
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

from .accounts import ACCOUNT_COUNT
from .catalog import PRODUCT_COUNT
from .common import Database, app_options, create_service_app, parse_id, run_service, service_parser
from .graphql_http import add_graphql_routes, federated_schema, fetch_page

__all__ = ["SDL", "build_schema", "create_app", "main", "seed_reviews"]

_SEED = 4004
# One product in five has no review; the others get 1..9, about 2,000 reviews in all.
_SHARE_WITHOUT_REVIEWS = 0.2
_MAX_REVIEWS_PER_PRODUCT = 9

SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key"])

type Product @key(fields: "id") {
  id: ID!
  reviews: [Review!]!
}

type Review {
  id: ID!
  rating: Int!
  body: String!
  authorId: ID!
}

type Query {
  reviews(first: Int!): [Review!]!
}
"""

_VERDICTS = {
    1: ("Disappointing.", "Would not buy again.", "Broke within a week."),
    2: ("Not great.", "Below expectations.", "Works, barely."),
    3: ("It's okay.", "Does the job.", "Average, nothing special."),
    4: ("Really good.", "Solid purchase.", "Happy with it."),
    5: ("Excellent!", "Love it.", "Best purchase this year."),
}
_DETAILS = (
    "Arrived on time.",
    "Packaging was a bit flimsy.",
    "Exactly as described.",
    "The colour differs from the photos.",
    "Great value for the price.",
    "My second one already.",
    "Customer service was helpful.",
    "Smaller than I expected.",
)

_SCHEMA = (
    "CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, rating INTEGER NOT NULL,"
    " body TEXT NOT NULL, author_id INTEGER NOT NULL)",
    "CREATE INDEX reviews_by_product ON reviews (product_id)",
)
_SELECT = "SELECT id, rating, body, author_id AS authorId FROM reviews"


@functools.cache
def seed_reviews() -> tuple[tuple[int, int, int, str, int], ...]:
    """The seeded rows ``(id, product_id, rating, body, author_id)``: the same on every machine."""
    rng = random.Random(_SEED)
    rows: list[tuple[int, int, int, str, int]] = []
    for product_id in range(1, PRODUCT_COUNT + 1):
        if rng.random() < _SHARE_WITHOUT_REVIEWS:
            continue
        for _ in range(rng.randint(1, _MAX_REVIEWS_PER_PRODUCT)):
            rating = rng.randint(1, 5)
            body = f"{rng.choice(_VERDICTS[rating])} {rng.choice(_DETAILS)}"
            rows.append((len(rows) + 1, product_id, rating, body, rng.randint(1, ACCOUNT_COUNT)))
    return tuple(rows)


def _seed(conn: sqlite3.Connection) -> None:
    conn.executemany(
        "INSERT INTO reviews (id, product_id, rating, body, author_id) VALUES (?, ?, ?, ?, ?)", seed_reviews()
    )


_query = QueryType()
_product = FederatedObjectType("Product")


@_query.field("reviews")
def _resolve_reviews(_obj: None, info: GraphQLResolveInfo, first: int) -> Any:
    return fetch_page(info.context.db, _SELECT, first)


@_product.reference_resolver
def _resolve_product_reference(_obj: Any, _info: GraphQLResolveInfo, representation: dict[str, Any]) -> Any:
    if "id" not in representation:
        raise GraphQLError("Product representation has no 'id', its @key field")
    product_id = parse_id(representation["id"])
    # This subgraph extends the catalog's products: one it does not sell does not exist here either.
    if product_id is None or not 1 <= product_id <= PRODUCT_COUNT:
        return None
    return {"id": representation["id"], "_product_id": product_id}


@_product.field("reviews")
def _resolve_product_reviews(product: dict[str, Any], info: GraphQLResolveInfo) -> Any:
    return info.context.db.execute(
        f"{_SELECT} WHERE product_id = ? ORDER BY id", (product["_product_id"],)
    ).fetchall()


@functools.cache
def build_schema() -> GraphQLSchema:
    return federated_schema(SDL, _query, _product)


def create_app(
    *, db_path: str | None = None, latency_ms: float = 0, max_concurrency: int | None = None
) -> web.Application:
    database = Database("reviews", "reviews", _SCHEMA, _seed, db_path)
    app = create_service_app(database, latency_ms=latency_ms, max_concurrency=max_concurrency)
    add_graphql_routes(app, build_schema())
    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = service_parser(
        "reviews", "The reviews example service (Apollo Federation v2 subgraph)."
    ).parse_args(argv)
    run_service("reviews", create_app(**app_options(args)), args)


if __name__ == "__main__":
    main()
