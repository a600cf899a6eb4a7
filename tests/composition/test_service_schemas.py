"""Each service's schema as composition reads it: a Federation subgraph's SDL without the Federation machinery
(its keys kept for the links composition writes), and every hostile or broken answer refused by name."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from ariadne.contrib.federation import make_federated_schema
from graphql import print_schema

from examples.services.common import start_app
from examples.services.graphql_http import add_graphql_routes
from gateway.composition import compose
from gateway.composition.sources import introspected
from gateway.composition.subgraph import subgraph_schema
from registry.errors import ConfigError

from .conftest import StartService, write_config

FEDERATION_1 = """
extend type Query { topProducts(first: Int = 5): [Product] }
extend type Product @key(fields: "upc") {
  upc: String! @external
  weight: Int @external
  shippingEstimate: Int @requires(fields: "weight")
}
type Shipment @key(fields: "id", resolvable: false) @key(fields: "tracking") { id: ID! tracking: String! }
"""

SHIPPING = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
type Product @key(fields: "upc") {
  upc: String!
  weight: Int @external
  shippingEstimate: Int @requires(fields: "weight")
}
type Query { shippingRates: [Float!]! }
"""

CATALOG = "type Product { upc: String! name: String! weight: Int }  type Query { products: [Product!]! }"


def test_a_federation_1_subgraph_s_sdl_is_a_plain_schema_with_its_keys() -> None:
    subgraph = subgraph_schema(FEDERATION_1, "shipping _service.sdl")
    assert print_schema(subgraph.schema) == (
        "type Query {\n  topProducts(first: Int = 5): [Product]\n}\n\n"
        "type Product {\n  upc: String!\n  shippingEstimate: Int\n}\n\n"
        "type Shipment {\n  id: ID!\n  tracking: String!\n}"
    )
    # The first resolvable key of one field: Shipment's `id` key is not resolvable.
    assert dict(subgraph.entities) == {"Product": "upc", "Shipment": "tracking"}


def test_a_broken_subgraph_sdl_is_reported_at_its_line() -> None:
    with pytest.raises(ConfigError) as raised:
        subgraph_schema(
            'type Product @key(fields: "id") {\n  id: ID!\n  price: Money\n}\n', "shipping _service.sdl"
        )
    assert [str(p) for p in raised.value.problems] == ["shipping _service.sdl:3: Unknown type 'Money'."]


async def test_composition_links_a_subgraph_s_fields_through_its_entities(
    tmp_path: Path, graphql_service: StartService
) -> None:
    app = web.Application()
    add_graphql_routes(app, make_federated_schema(SHIPPING))
    runner, shipping = await start_app(app)
    try:
        catalog = await graphql_service(CATALOG)
        config = write_config(
            tmp_path,
            f"compose: true\nservices:\n  catalog:\n    url: {catalog}\n"
            f"  shipping:\n    url: {shipping}/graphql\n    expose: []\n",
        )
        sdl = (await compose(config)).sdl
    finally:
        await runner.cleanup()
    start = sdl.index("\ntype Product {")
    assert sdl[start + 1 : sdl.index("}", start) + 1] == (
        "type Product {\n"
        "  name: String!  # catalog\n"
        '  shippingEstimate: Int @batch(service: "shipping", key: "upc", entity: "Product", match: "upc", '
        'select: "shippingEstimate")\n'
        "  upc: String!  # catalog, shipping\n"
        "  weight: Int  # catalog\n"  # shipping's is @external: only catalog answers it
        "}"
    )
    assert "#   shipping: Federation subgraph (_service.sdl)\n" in sdl


@contextlib.asynccontextmanager
async def answering(body: bytes, *, status: int = 200, delay: float = 0) -> AsyncIterator[str]:
    """A service that answers every POST /graphql with `body`."""

    async def handle(_request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        return web.Response(body=body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_post("/graphql", handle)
    runner, url = await start_app(app)
    try:
        yield url + "/graphql"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        (b"<html>", 200, "the answer is not JSON"),
        (
            b'{"errors": [{"message": "introspection is disabled"}]}',
            200,
            "the service answered with an error: introspection is disabled",
        ),
        (
            b'{"data": {"__schema": 1}}',
            200,
            "the answer has no data.__schema",
        ),
        (b"[1]", 200, "the answer is not a GraphQL result"),
        (b"{}", 503, "HTTP 503 Service Unavailable"),
        (b'{"data": {"x": "' + b"y" * 2000 + b'"}}', 200, "the answer is larger than 1000 bytes"),
    ],
    ids=["not-json", "errors", "not-a-schema", "not-graphql", "http-error", "too-large"],
)
async def test_a_broken_answer_is_refused_naming_the_service_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: bytes, status: int, why: str
) -> None:
    monkeypatch.setattr(introspected, "MAX_DOCUMENT_BYTES", 1000)
    async with answering(body, status=status) as url:
        config = write_config(tmp_path, f"compose: true\nservices:\n  bad:\n    url: {url}\n")
        with pytest.raises(ConfigError) as raised:
            await compose(config)
    prefix = f"{tmp_path / 'funnel.yaml'}:3: bad: cannot read its schema: POST {url}"
    assert [str(p) for p in raised.value.problems] == [f"{prefix}: {why}"]


async def test_a_service_that_does_not_answer_in_time_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(introspected, "TIMEOUT_S", 0.2)
    async with answering(b"{}", delay=1) as url:
        config = write_config(tmp_path, f"compose: true\nservices:\n  slow:\n    url: {url}\n")
        with pytest.raises(ConfigError) as raised:
            await compose(config)
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path / 'funnel.yaml'}:3: slow: cannot read its schema: POST {url}: no answer within 200 ms"
    ]
