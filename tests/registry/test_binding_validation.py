"""gateway.schema.annotations.validate_bindings on bindings made in Python (as the decorators make them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from graphql import GraphQLSchema

from gateway.schema.annotations import load_schema, validate_bindings
from registry.bindings import (
    BatchBinding,
    Binding,
    FieldCoordinate,
    LoaderBinding,
    RemoteBinding,
    ResolverBinding,
    SourceLocation,
)
from registry.config import ServiceConfig
from registry.errors import Problem

SERVICES = {
    "accounts": ServiceConfig("accounts", "http://accounts/graphql"),
    "catalog": ServiceConfig("catalog", "http://catalog/graphql"),
    "orders": ServiceConfig("orders", "http://orders/graphql"),
    "reviews": ServiceConfig("reviews", "http://reviews/api", protocol="rest"),
}

SDL = """\
interface Node { id: ID! }
type Query { orders: [Order!]! node(id: ID!): Node }
type Order implements Node {
  id: ID!
  productId: ID!
  product: Product
  total: Float
  label: String
  lines: [Line!]!
}
type Line { productId: ID! quantity: Int! }
type Product implements Node { id: ID! name: String }
"""


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    schema, bindings = load_schema(SDL, "schema.graphql", SERVICES)
    assert bindings == ()
    return schema


def here(line: int) -> SourceLocation:
    return SourceLocation("app.py", line)


def coordinate(text: str) -> FieldCoordinate:
    return FieldCoordinate.parse(text)


def label(parent: Mapping[str, Any]) -> str:
    return f"#{parent['id']}"


async def load_totals(parents: list[Mapping[str, Any]]) -> Sequence[float]:
    return [0.0 for _ in parents]


def messages(schema: GraphQLSchema, *bindings: Binding) -> list[str]:
    return [str(problem) for problem in validate_bindings(schema, bindings, SERVICES)]


def test_valid_python_bindings(schema: GraphQLSchema) -> None:
    bindings = (
        RemoteBinding(coordinate("Query.orders"), service="orders", location=here(1)),
        BatchBinding(
            coordinate("Order.product"), service="catalog", key="productId", field="p", location=here(2)
        ),
        BatchBinding(
            coordinate("Line.quantity"),
            service="orders",
            key_function=lambda line: line["productId"],
            requires=("productId",),
            field="quantities",
            location=here(3),
        ),
        ResolverBinding(coordinate("Order.label"), label, requires=("id", "product.name"), location=here(4)),
        LoaderBinding(coordinate("Order.total"), load_totals, requires=("lines.quantity",), location=here(5)),
    )
    assert validate_bindings(schema, bindings, SERVICES) == []


def test_problems_carry_file_line_and_coordinate(schema: GraphQLSchema) -> None:
    binding = RemoteBinding(coordinate("Order.product"), service="orders", location=here(7))
    assert validate_bindings(schema, [binding], SERVICES) == [
        Problem("@remote is only allowed on fields of Query, not Order", "app.py", 7, "Order.product")
    ]


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        (
            ResolverBinding(coordinate("Ordr.label"), label, location=here(3)),
            "app.py:3: Ordr.label: unknown type 'Ordr'",
        ),
        (
            ResolverBinding(coordinate("Order.lable"), label, location=here(3)),
            "app.py:3: Order.lable: unknown field 'lable' on Order",
        ),
        (
            ResolverBinding(coordinate("Node.id"), label, location=here(3)),
            "app.py:3: Node.id: Node is not an object type",
        ),
        (
            ResolverBinding(coordinate("Order.label"), label, requires=("id", "number"), location=here(3)),
            "app.py:3: Order.label: requires 'number': Order has no field 'number'",
        ),
        (
            LoaderBinding(
                coordinate("Order.total"), load_totals, requires=("lines.price",), location=here(3)
            ),
            "app.py:3: Order.total: requires 'lines.price': Line has no field 'price'",
        ),
        (
            BatchBinding(coordinate("Order.product"), service="catalog", field="p", location=here(3)),
            "app.py:3: Order.product: @batch: a key is required (key or key_function)",
        ),
        (
            BatchBinding(
                coordinate("Order.product"),
                service="catalog",
                key="productId",
                key_function=lambda order: order["productId"],
                field="p",
                location=here(3),
            ),
            "app.py:3: Order.product: @batch: give key or key_function, not both",
        ),
        (
            BatchBinding(
                coordinate("Order.product"),
                service="catalog",
                key_function=lambda order: order["sku"],
                requires=("sku",),
                field="p",
                location=here(3),
            ),
            "app.py:3: Order.product: requires 'sku': Order has no field 'sku'",
        ),
        (
            BatchBinding(coordinate("Order.product"), service="catalog", key="productId", location=here(3)),
            "app.py:3: Order.product: @batch: exactly one of field, entity, path is required (got none)",
        ),
        (
            BatchBinding(coordinate("Query.orders"), service="orders", key="id", field="o", location=here(3)),
            "app.py:3: Query.orders: @batch is not allowed on a root type (Query); use @remote",
        ),
        (
            BatchBinding(coordinate("Order.product"), service="catalog", key="productId", location=None),
            "Order.product: @batch: exactly one of field, entity, path is required (got none)",
        ),
    ],
)
def test_decorator_problems(schema: GraphQLSchema, binding: Binding, expected: str) -> None:
    assert messages(schema, binding) == [expected]


def test_two_bindings_on_one_field(schema: GraphQLSchema) -> None:
    batch = BatchBinding(
        coordinate("Order.product"), service="catalog", key="productId", field="p", location=here(4)
    )
    loader = LoaderBinding(coordinate("Order.product"), load_totals, location=here(9))
    resolver = ResolverBinding(coordinate("Order.product"), label)
    assert messages(schema, batch, loader, resolver) == [
        "app.py:9: Order.product: bound twice (first at app.py:4)",
        "Order.product: bound twice (first at app.py:4)",
    ]


def test_remote_and_batch_bindings_on_one_field(schema: GraphQLSchema) -> None:
    remote = RemoteBinding(coordinate("Query.orders"), service="orders", location=here(2))
    batch = BatchBinding(coordinate("Query.orders"), service="orders", key="id", field="o", location=here(3))
    assert messages(schema, remote, batch) == [
        "app.py:3: Query.orders: @batch is not allowed on a root type (Query); use @remote",
        "app.py:3: Query.orders: has both @remote and @batch",
    ]


def test_no_services_known(schema: GraphQLSchema) -> None:
    binding = RemoteBinding(coordinate("Query.orders"), service="orders", location=here(1))
    assert [str(p) for p in validate_bindings(schema, [binding], {})] == [
        "app.py:1: Query.orders: unknown service 'orders' (known: none)"
    ]
