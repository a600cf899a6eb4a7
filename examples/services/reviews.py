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
from typing import Any, cast

from aiohttp import web
from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType, make_federated_schema
from ariadne.utils import type_get_extension
from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, GraphQLUnionType

from .accounts import ACCOUNT_COUNT
from .catalog import PRODUCT_COUNT
from .common import Database, app_options, create_service_app, parse_id, run_service, service_parser
from .graphql_http import add_graphql_routes, count_root_keys, fetch_page

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


def _entity(info: GraphQLResolveInfo, entity_types: dict[str, GraphQLObjectType], representation: Any) -> Any:
    """One entity, or the error for it alone: graphql-core turns an Exception list item into a null item
    with an error at ``["_entities", index]``."""
    typename = representation.get("__typename") if isinstance(representation, dict) else None
    if not isinstance(typename, str):
        return GraphQLError("Each representation must be an object with a string '__typename'")
    entity_type = entity_types.get(typename)
    if entity_type is None:
        known = ", ".join(sorted(entity_types))
        return GraphQLError(f"Unknown entity type '{typename}'; this subgraph resolves {known}")
    resolve_reference = type_get_extension(entity_type, "__resolve_reference__")
    try:
        entity = resolve_reference(entity_type, info, representation)
    except Exception as error:
        return error
    return None if entity is None else {**entity, "__typename": typename}


def _resolve_entities(_obj: None, info: GraphQLResolveInfo, representations: list[Any]) -> list[Any]:
    # Replaces ariadne's resolver, which fails the whole list on the first unknown __typename.
    union = cast(GraphQLUnionType, info.schema.get_type("_Entity"))
    entity_types = {entity_type.name: entity_type for entity_type in union.types}
    return [_entity(info, entity_types, representation) for representation in representations]


@functools.cache
def build_schema() -> GraphQLSchema:
    schema = make_federated_schema(SDL, _query, _product)
    query_type = cast(GraphQLObjectType, schema.query_type)
    query_type.fields["_entities"].resolve = _resolve_entities
    return count_root_keys(schema)


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
