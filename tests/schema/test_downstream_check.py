"""Bindings against the real downstream schemas: `fetch_schema` introspects the example services (a Federation
subgraph among them), `verify_bindings` compares, and `funnel check` reports `file:line: Type.field: ...`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from aiohttp import web
from graphql import build_schema

from examples.services.cluster import Cluster
from examples.services.common import start_app
from examples.services.topology import free_port
from gateway.gateway import Gateway
from gateway.schema.downstream import verify_bindings
from gateway.schema.introspect import IntrospectionError, fetch_schema
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs

from ..processes import start_child

FUNNEL = str(Path(sys.executable).with_name("funnel"))


async def test_fetch_schema_introspects_a_service_and_a_federation_subgraph(cluster: Cluster) -> None:
    catalog = await fetch_schema(cluster.graphql_url("catalog"), timeout=10, headers={}, max_bytes=1 << 20)
    assert catalog.query_type is not None
    assert str(catalog.query_type.fields["productsByIds"].type) == "[Product]!"
    assert str(catalog.query_type.fields["productsByIds"].args["ids"].type) == "[ID!]!"
    reviews = await fetch_schema(cluster.graphql_url("reviews"), timeout=10)
    assert reviews.query_type is not None
    assert str(reviews.query_type.fields["_entities"].type) == "[_Entity]!"
    assert "reviews" in reviews.get_type("Product").fields  # type: ignore[union-attr]


async def test_fetch_schema_failures_are_clear(cluster: Cluster) -> None:
    dead = f"http://127.0.0.1:{free_port()}/graphql"
    with pytest.raises(IntrospectionError) as caught:
        await fetch_schema(dead, timeout=5)
    assert caught.value.message == f"cannot introspect {dead}: cannot connect"

    url = cluster.graphql_url("catalog")
    with pytest.raises(IntrospectionError) as caught:
        await fetch_schema(url, timeout=5, max_bytes=1000)
    assert caught.value.message == f"cannot introspect {url}: the answer is larger than 1000 bytes"

    wrong = cluster.urls["catalog"] + "/graphq"
    with pytest.raises(IntrospectionError) as caught:
        await fetch_schema(wrong, timeout=5)
    assert caught.value.message == f"cannot introspect {wrong}: HTTP 404 Not Found"

    async def refuse(_request: web.Request) -> web.Response:
        return web.json_response({"errors": [{"message": "introspection is disabled"}]})

    app = web.Application()
    app.router.add_post("/graphql", refuse)
    runner, base = await start_app(app)
    try:
        with pytest.raises(IntrospectionError) as caught:
            await fetch_schema(base + "/graphql", timeout=5)
        assert caught.value.message == (
            f"cannot introspect {base}/graphql: the service answered with an error: introspection is disabled"
        )
    finally:
        await runner.cleanup()


CATALOG = build_schema(
    """
    type Product { id: ID! name: String price: Float! sellerId: ID! }
    type Query {
      product(id: ID!): Product
      products(first: Int!, after: ID): [Product!]!
      productsByIds(ids: [Int!]!, region: String!): [Product]!
      shelves(count: Int!, size: Int!): [[Product!]!]!
    }
    type Mutation { updatePrice(productId: ID!, price: Float!): Product! }
    """
)


def test_verify_bindings_names_every_mismatch_at_its_line(cluster: Cluster) -> None:
    sdl = (
        EXAMPLE_SCHEMA.read_text()
        .replace("products(first: Int!, after: ID)", "products(first: Int!, after: ID, sort: String)")
        .replace(
            'product(id: ID!): Product @remote(service: "catalog")',
            'product(id: ID!): Product @remote(service: "catalog", field: "productz")',
        )
    )
    gateway = Gateway.from_sdl(sdl, service_configs(cluster), path="gateway.graphql")
    gateway.freeze()
    lines = sdl.splitlines()

    def line(text: str) -> int:
        return next(i for i, source in enumerate(lines, 1) if text in source)

    problems = [
        str(p) for p in verify_bindings(gateway.schema, gateway.bindings.values(), {"catalog": CATALOG})
    ]
    assert problems == [
        f"gateway.graphql:{line('products(first')}: Query.products: catalog Query.products has no argument 'sort' (arguments: first, after)",
        f"gateway.graphql:{line('  name: String!')}: Product.name: is String! here, String in catalog Product.name",
        f"gateway.graphql:{line('productz')}: Query.product: catalog has no root field Query.productz",
        f"gateway.graphql:{line('productsByIds')}: Order.product: key 'productId' is ID, but catalog Query.productsByIds argument 'ids' is [Int!]!",
        f"gateway.graphql:{line('productsByIds')}: Order.product: catalog Query.productsByIds requires argument 'region', which the batch does not send",
    ]


async def test_funnel_check_introspects_the_services(cluster: Cluster, tmp_path: Path) -> None:
    """The issue's case: a mistyped downstream field name passes the local checks; introspection finds it. A
    service that cannot be reached is reported, not fatal; --offline skips it all."""
    dead = f"http://127.0.0.1:{free_port()}/graphql"
    services = (
        "".join(
            f"  {name}:\n    url: {cluster.urls[name] if name == 'accounts' else cluster.graphql_url(name)}\n"
            + ("    protocol: rest\n" if name == "accounts" else "")
            for name in ("accounts", "catalog", "orders")
        )
        + f"  reviews:\n    url: {dead}\n"
    )
    (tmp_path / "funnel.yaml").write_text(f"schema: gateway.graphql\nservices:\n{services}")
    good = EXAMPLE_SCHEMA.read_text()
    (tmp_path / "gateway.graphql").write_text(good)
    reviews_line = services.splitlines().index("  reviews:") + 3
    unreachable = f"funnel.yaml:{reviews_line}: services.reviews: not checked against the service: cannot introspect {dead}: cannot connect\n"

    async def check(*flags: str) -> tuple[int, str, str]:
        async with start_child(FUNNEL, "check", *flags, cwd=tmp_path) as child:
            code = await child.exit_code(60)
            assert child.process.stdout is not None
            return code, (await child.process.stdout.read()).decode(), child.errors()

    assert await check() == (
        0,
        "OK: funnel.yaml (schema gateway.graphql, 4 services, 13 annotated fields; checked against catalog, orders)\n",
        unreachable,
    )

    (tmp_path / "gateway.graphql").write_text(
        good.replace('field: "productsByIds"', 'field: "productsByIdz"')
    )
    line = next(i for i, text in enumerate(good.splitlines(), 1) if "productsByIds" in text)
    assert await check() == (
        1,
        "",
        unreachable
        + f"{tmp_path / 'gateway.graphql'}:{line}: Order.product: catalog has no root field Query.productsByIdz\n"
        "1 problem in funnel.yaml\n",
    )
    assert await check("--offline") == (
        0,
        "OK: funnel.yaml (schema gateway.graphql, 4 services, 13 annotated fields)\n",
        "",
    )
