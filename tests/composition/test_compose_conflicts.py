"""Composition over small GraphQL services of the tests' own: what agrees is merged, what conflicts is refused
with the exact message (both services, the type, the field and both types), root-field clashes unless renamed,
fields a service is asked for without having them unless a link covers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.composition import compose
from registry.errors import ConfigError

from .conftest import StartService, write_config

CATALOG = """
type Product { id: ID! name: String! price: Float! tags: [String!] }
enum Status { ACTIVE RETIRED }
input Filter { minPrice: Float maxPrice: Float }
type Query { product(id: ID!): Product  products(filter: Filter): [Product!]!  productsByIds(ids: [ID!]!): [Product]! }
"""


async def composed(
    tmp_path: Path,
    start: StartService,
    pricing_sdl: str,
    links: str | None = None,
    pricing: str = "    expose: []\n",
) -> str:
    """Compose catalog with a service `pricing`, whose config ends with `pricing` (by default it exposes no root
    field, so that its types are only merged)."""
    catalog_url, pricing_url = await start(CATALOG), await start(pricing_sdl)
    schema = "schema: links.graphql\n" if links is not None else ""
    config = write_config(
        tmp_path,
        f"compose: true\n{schema}services:\n  catalog:\n    url: {catalog_url}\n  pricing:\n    url: {pricing_url}\n{pricing}",
        **({"links.graphql": links} if links is not None else {}),
    )
    return (await compose(config)).sdl


def block(sdl: str, header: str) -> str:
    """The definition that starts with the line `header {` in the composed SDL."""
    start = sdl.index(f"\n{header} {{\n") + 1
    return sdl[start : sdl.index("\n}", start) + 2]


async def problems(
    tmp_path: Path,
    start: StartService,
    pricing_sdl: str,
    links: str | None = None,
    pricing: str = "    expose: []\n",
) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        await composed(tmp_path, start, pricing_sdl, links, pricing)
    return [str(p).replace(str(tmp_path) + "/", "") for p in raised.value.problems]


async def test_a_field_of_another_type_is_refused_naming_both_services_and_types(
    tmp_path: Path, graphql_service: StartService
) -> None:
    assert await problems(
        tmp_path, graphql_service, "type Product { id: ID! price: String }  type Query { prices: [Product] }"
    ) == ["funnel.yaml:5: Product.price: catalog has Float! but pricing has String"]


async def test_lists_and_kinds_that_differ_are_refused(tmp_path: Path, graphql_service: StartService) -> None:
    assert await problems(
        tmp_path,
        graphql_service,
        "type Product { id: ID! tags: String }  union Status = Product  type Query { p: Product }",
    ) == [
        "funnel.yaml:5: Product.tags: catalog has [String!] but pricing has String",
        "funnel.yaml:5: Status: catalog has an enum but pricing has a union",
    ]


async def test_arguments_enum_values_and_input_fields_must_agree(
    tmp_path: Path, graphql_service: StartService
) -> None:
    assert await problems(
        tmp_path,
        graphql_service,
        """
        type Product { id: ID! name(locale: String): String! }
        enum Status { ACTIVE SOLD }
        input Filter { minPrice: Int }
        type Query { cheapest(filter: Filter, status: Status): Product }
        """,
    ) == [
        "funnel.yaml:5: Product.name: catalog takes () but pricing takes (locale: String)",
        "funnel.yaml:5: Status: catalog has the values ACTIVE, RETIRED but pricing has ACTIVE, SOLD",
        "funnel.yaml:5: Filter.maxPrice: catalog has Float but pricing has nothing",
        "funnel.yaml:5: Filter.minPrice: catalog has Float but pricing has Int",
    ]


async def test_a_root_field_both_expose_is_refused_unless_renamed(
    tmp_path: Path, graphql_service: StartService
) -> None:
    pricing = "type Product { id: ID! name: String! price: Float! tags: [String!] }  type Query { product(id: ID!): Product }"
    assert await problems(tmp_path, graphql_service, pricing, pricing="") == [
        "funnel.yaml:5: Query.product: catalog exposes it and pricing exposes it: rename one (expose: [{product: new_name}])"
    ]
    sdl = await composed(
        tmp_path, graphql_service, pricing, pricing="    expose: [{product: pricedProduct}]\n"
    )
    assert '  pricedProduct(id: ID!): Product @remote(service: "pricing", field: "product")\n' in sdl
    assert '  product(id: ID!): Product @remote(service: "catalog")\n' in sdl


async def test_exposing_a_root_field_the_service_lacks_names_the_entry(
    tmp_path: Path, graphql_service: StartService
) -> None:
    assert await problems(
        tmp_path,
        graphql_service,
        "type Product { id: ID! name: String! price: Float! tags: [String!] }  type Query { prices: [Product] }  "
        "type Mutation { reprice: Product }",
        pricing="    expose:\n      - reprice\n      - {price: cheapest}\n",
    ) == [
        "funnel.yaml:9: services.pricing.expose: pricing has no root field 'price' (Mutation: reprice; Query: prices)"
    ]


async def test_agreeing_types_are_merged_each_field_knowing_its_services(
    tmp_path: Path, graphql_service: StartService
) -> None:
    pricing = "type Product { id: ID! price: Float discount: Float! }  type Query { prices(ids: [ID!]!): [Product!]! }"
    links = 'extend type Product { discount: Float! @batch(service: "pricing", key: "id", field: "prices") }'
    sdl = await composed(tmp_path, graphql_service, pricing, links)
    assert block(sdl, "type Product") == (
        "type Product {\n"
        '  discount: Float! @batch(service: "pricing", key: "id", field: "prices")\n'
        "  id: ID!  # catalog, pricing\n"
        "  name: String!  # catalog\n"
        "  price: Float  # catalog, pricing\n"  # nullable in one of them: nullable in the merged type
        "  tags: [String!]  # catalog\n"
        "}"
    )


async def test_a_field_another_service_returns_without_having_needs_a_link(
    tmp_path: Path, graphql_service: StartService
) -> None:
    pricing = "type Product { id: ID! discount: Float! }  type Query { prices(ids: [ID!]!): [Product!]! }"
    assert await problems(tmp_path, graphql_service, pricing, pricing="") == [
        "funnel.yaml: Product.discount: catalog returns Product (through Query.product) without this field, which "
        'only pricing has: link it in the gateway schema, e.g. extend type Product { discount: Float! @batch(service: "pricing", key: ..., field: ...) }',
        "funnel.yaml: Product.name: pricing returns Product (through Query.prices) without this field, which only "
        'catalog has: link it in the gateway schema, e.g. extend type Product { name: String! @batch(service: "catalog", key: ..., field: ...) }',
        "funnel.yaml: Product.price: pricing returns Product (through Query.prices) without this field, which only "
        'catalog has: link it in the gateway schema, e.g. extend type Product { price: Float! @batch(service: "catalog", key: ..., field: ...) }',
        "funnel.yaml: Product.tags: pricing returns Product (through Query.prices) without this field, which only "
        'catalog has: link it in the gateway schema, e.g. extend type Product { tags: [String!] @batch(service: "catalog", key: ..., field: ...) }',
    ]


async def test_links_and_expose_cover_every_field(tmp_path: Path, graphql_service: StartService) -> None:
    pricing = "type Product { id: ID! discount: Float! }  type Query { prices(ids: [ID!]!): [Product!]! }"
    links = 'extend type Product { discount: Float! @batch(service: "pricing", key: "id", field: "prices", select: "discount") }'
    # pricing's root field is for the link only: not exposed, its Product is never returned but through the link.
    sdl = await composed(tmp_path, graphql_service, pricing, links)
    assert block(sdl, "type Query") == (
        "type Query {\n"
        '  product(id: ID!): Product @remote(service: "catalog")\n'
        '  products(filter: Filter): [Product!]! @remote(service: "catalog")\n'
        '  productsByIds(ids: [ID!]!): [Product]! @remote(service: "catalog")\n'
        "}"
    )
    assert (
        '  discount: Float! @batch(service: "pricing", key: "id", field: "prices", select: "discount")\n'
        in sdl
    )


async def test_the_gateway_schema_s_mistakes_are_at_its_lines(
    tmp_path: Path, graphql_service: StartService
) -> None:
    links = (
        "extend type Prodcut { x: Int }\n"
        "extend type Query {\n"
        '  product(id: ID!): Product @remote(service: "catalog")\n'
        '  rate: Float @remote(service: "pricing", operation: "getRate")\n'
        "}\n"
        "enum Product { A }\n"
    )
    assert await problems(tmp_path, graphql_service, "type Query { rate: Float }", links) == [
        "links.graphql:4: rate: @remote(operation:) needs the OpenAPI document of the service (services.pricing.openapi)"
    ]
    links = links.replace('  rate: Float @remote(service: "pricing", operation: "getRate")\n', "")
    assert await problems(tmp_path, graphql_service, "type Query { rate: Float }", links) == [
        "links.graphql:5: Product: catalog has an object type but the gateway schema declares an enum",
        "links.graphql:1: Prodcut: no service has a type Prodcut to extend (declare it with `type Prodcut`)",
        "links.graphql:3: Query.product: catalog exposes it and the gateway schema declares it: rename one (expose: [{product: new_name}])",
    ]


async def test_a_service_that_cannot_be_read_is_named(tmp_path: Path, graphql_service: StartService) -> None:
    config = write_config(
        tmp_path,
        "compose: true\nservices:\n  catalog:\n    url: http://127.0.0.1:9/graphql\n"
        "  pricing:\n    url: http://127.0.0.1:9/graphql\n    schema_file: pricing.graphql\n",
        **{"pricing.graphql": "type Query { rate: Flaot }\n"},
    )
    with pytest.raises(ConfigError) as raised:
        await compose(config)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in raised.value.problems] == [
        "funnel.yaml:3: catalog: cannot read its schema: POST http://127.0.0.1:9/graphql: cannot connect",
        "pricing.graphql:1: Unknown type 'Flaot'. Did you mean 'Float'?",
    ]
