from __future__ import annotations

from collections import defaultdict
from typing import Any

import aiohttp
import pytest

from examples.services import reviews

from .conftest import Serve
from .helpers import graphql

ENTITIES = """query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Product { id reviews { id rating body authorId } }
  }
}"""


def _reviews_by_product() -> dict[int, list[dict[str, Any]]]:
    by_product: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for review_id, product_id, rating, body, author_id in reviews.seed_reviews():
        by_product[product_id].append(
            {"id": str(review_id), "rating": rating, "body": body, "authorId": str(author_id)}
        )
    return by_product


SEEDED = _reviews_by_product()
WITHOUT_REVIEWS = min(set(range(1, 501)) - set(SEEDED))


@pytest.fixture
async def url(serve: Serve) -> str:
    return await serve(reviews.create_app()) + "/graphql"


def product(product_id: object) -> dict[str, object]:
    return {"__typename": "Product", "id": product_id}


def test_seed_has_about_2000_reviews_and_some_products_without() -> None:
    rows = reviews.seed_reviews()
    assert 1800 <= len(rows) <= 2200
    assert 0 < 500 - len(SEEDED) < 200
    assert {row[2] for row in rows} == {1, 2, 3, 4, 5}
    assert all(1 <= row[4] <= 1000 and 1 <= row[1] <= 500 for row in rows)


async def test_service_sdl_has_the_key(http: aiohttp.ClientSession, url: str) -> None:
    status, body = await graphql(http, url, "{ _service { sdl } }")
    assert status == 200
    sdl = body["data"]["_service"]["sdl"]
    assert 'type Product @key(fields: "id")' in sdl
    assert '@link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key"])' in sdl
    assert "reviews(first: Int!): [Review!]!" in sdl


async def test_entities_in_representation_order(http: aiohttp.ClientSession, url: str) -> None:
    representations = [product("5"), product(1), product(str(WITHOUT_REVIEWS)), product("3")]
    status, body = await graphql(http, url, ENTITIES, {"representations": representations})
    assert status == 200
    assert body == {
        "data": {
            "_entities": [
                {"__typename": "Product", "id": "5", "reviews": SEEDED[5]},
                {"__typename": "Product", "id": "1", "reviews": SEEDED[1]},
                {"__typename": "Product", "id": str(WITHOUT_REVIEWS), "reviews": []},
                {"__typename": "Product", "id": "3", "reviews": SEEDED[3]},
            ]
        }
    }


async def test_bad_representations_are_errors_for_their_entity_only(
    http: aiohttp.ClientSession, url: str
) -> None:
    representations = [
        product("2"),
        {"__typename": "User", "id": "1"},
        "not an object",
        {"__typename": "Product"},
        product("9999"),
    ]
    status, body = await graphql(http, url, ENTITIES, {"representations": representations})
    assert status == 200
    assert body["data"]["_entities"] == [
        {"__typename": "Product", "id": "2", "reviews": SEEDED[2]},
        None,
        None,
        None,
        None,
    ]
    assert [(e["message"], e["path"]) for e in body["errors"]] == [
        ("Unknown entity type 'User'; this subgraph resolves Product", ["_entities", 1]),
        ("Each representation must be an object with a string '__typename'", ["_entities", 2]),
        ("Product representation has no 'id', its @key field", ["_entities", 3]),
    ]


async def test_every_catalog_product_exists(http: aiohttp.ClientSession, url: str) -> None:
    representations = [product(str(i)) for i in range(1, 501)]
    _, body = await graphql(http, url, ENTITIES, {"representations": representations})
    entities = body["data"]["_entities"]
    assert [entity["id"] for entity in entities] == [str(i) for i in range(1, 501)]
    assert sum(len(entity["reviews"]) for entity in entities) == len(reviews.seed_reviews())


async def test_reviews_first(http: aiohttp.ClientSession, url: str) -> None:
    _, body = await graphql(http, url, "{ reviews(first: 3) { id rating body authorId } }")
    first_product = min(SEEDED)
    assert body == {"data": {"reviews": SEEDED[first_product][:3]}}
    _, body = await graphql(http, url, "{ reviews(first: -2) { id } }")
    assert body["errors"][0]["message"] == "first must be non-negative, got -2"


async def test_entities_with_missing_argument_is_400(http: aiohttp.ClientSession, url: str) -> None:
    status, body = await graphql(http, url, "{ _entities { __typename } }")
    assert status == 400
    assert body["errors"][0]["message"] == (
        "Argument 'Query._entities(representations:)' of type '[_Any!]!' is required,"
        " but it was not provided."
    )
