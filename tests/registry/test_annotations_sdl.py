"""gateway.schema.annotations.load_schema: @remote/@batch in SDL → bindings, every problem with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql.utilities.print_schema import print_directive

from gateway.schema.annotations import DIRECTIVES_SDL, load_schema
from registry.bindings import BatchBinding, FieldCoordinate, RemoteBinding, SourceLocation
from registry.config import ServiceConfig
from registry.errors import ConfigError

SERVICES = {
    "accounts": ServiceConfig("accounts", "http://accounts/graphql"),
    "catalog": ServiceConfig("catalog", "http://catalog/graphql"),
    "orders": ServiceConfig("orders", "http://orders/graphql"),
    "reviews": ServiceConfig("reviews", "http://reviews/api", protocol="rest"),
}

VALID_SDL = """\
type Query {
  orders(first: Int = 10): [Order!]! @remote(service: "orders")
  me: User @remote(service: "accounts", field: "currentUser")
  review(id: ID!): Review @remote(service: "reviews", path: "/reviews/{id}")
}

type Mutation {
  placeOrder(productId: ID!): Order @remote(service: "orders")
}

type Order {
  id: ID!
  buyerId: ID!
  product: Product
    @batch(service: "catalog", key: "product.id", field: "productsByIds")
  buyer: User @batch(service: "accounts", key: "buyerId", field: "users", arg: "userIds", match: "userId")
  reviews: [Review!]! @batch(service: "reviews", key: "id", path: "/reviews", arg: "order", match: "orderId")
}

type Product {
  id: ID!
  name: String!
  reviews: [Review!]! @batch(service: "catalog", key: "id", entity: "Product", select: "reviews")
}

type User { id: ID! name: String }
type Review { id: ID! body: String }
"""


def at(line: int) -> SourceLocation:
    return SourceLocation("schema.graphql", line)


def problems(sdl: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_schema(sdl, "schema.graphql", SERVICES)
    return [str(problem) for problem in caught.value.problems]


def query_with(field: str, extra: str = "") -> str:
    """A small schema whose line 2 is `field` on Query (extra types follow from line 4)."""
    return f"type Query {{\n  {field}\n}}\n{extra}"


def order_with(field: str) -> str:
    """A schema whose line 5 is `field` on Order (beside Order.id and Order.productId)."""
    return (
        'type Query {\n  orders: [Order] @remote(service: "orders")\n}\n'
        f"type Order {{\n  {field}\n  id: ID!\n  productId: ID!\n}}\n"
        "type Product { id: ID! name: String }\n"
    )


def test_bindings_round_trip() -> None:
    # Each location is the line in VALID_SDL itself: the directive definitions Funnel adds shift nothing.
    schema, bindings = load_schema(VALID_SDL, "schema.graphql", SERVICES)

    assert bindings == (
        RemoteBinding(FieldCoordinate("Query", "orders"), service="orders", location=at(2)),
        RemoteBinding(
            FieldCoordinate("Query", "me"), service="accounts", field="currentUser", location=at(3)
        ),
        RemoteBinding(
            FieldCoordinate("Query", "review"), service="reviews", path="/reviews/{id}", location=at(4)
        ),
        RemoteBinding(FieldCoordinate("Mutation", "placeOrder"), service="orders", location=at(8)),
        BatchBinding(
            FieldCoordinate("Order", "product"),
            service="catalog",
            key="product.id",
            field="productsByIds",
            arg="ids",
            match="id",
            location=at(15),
        ),
        BatchBinding(
            FieldCoordinate("Order", "buyer"),
            service="accounts",
            key="buyerId",
            field="users",
            arg="userIds",
            match="userId",
            location=at(16),
        ),
        BatchBinding(
            FieldCoordinate("Order", "reviews"),
            service="reviews",
            key="id",
            path="/reviews",
            arg="order",
            match="orderId",
            location=at(17),
        ),
        BatchBinding(
            FieldCoordinate("Product", "reviews"),
            service="catalog",
            key="id",
            entity="Product",
            select="reviews",
            location=at(23),
        ),
    )
    product = bindings[4]
    assert isinstance(product, BatchBinding)
    assert (product.key_path, product.source, product.requires, product.select) == (
        ("product", "id"),
        "field",
        (),
        None,
    )
    orders, me = bindings[0], bindings[1]
    assert isinstance(orders, RemoteBinding) and isinstance(me, RemoteBinding)
    assert (orders.remote_field, me.remote_field) == ("orders", "currentUser")
    assert schema.query_type is not None
    assert sorted(schema.query_type.fields) == ["me", "orders", "review"]


def test_directive_defaults() -> None:
    user = 'type User { id: ID! friend: User @batch(service: "accounts", key: "id", field: "users") }\n'
    schema, bindings = load_schema(
        query_with('me: User @remote(service: "accounts")', user), "schema.graphql", SERVICES
    )
    batch, remote = schema.get_directive("batch"), schema.get_directive("remote")
    assert batch is not None and remote is not None
    assert print_directive(batch).splitlines()[-1] == (
        'directive @batch(service: String!, key: String!, field: String, arg: String = "ids", '
        'entity: String, path: String, match: String = "id", select: String, items: String) on FIELD_DEFINITION'
    )
    assert print_directive(remote).splitlines()[-1] == (
        "directive @remote(service: String!, field: String, path: String, method: String, items: String)"
        " on FIELD_DEFINITION"
    )
    friend = bindings[1]
    assert isinstance(friend, BatchBinding)
    assert (friend.arg, friend.match, friend.entity, friend.path, friend.select) == (
        "ids",
        "id",
        None,
        None,
        None,
    )


def test_directives_sdl_is_the_readme_text() -> None:
    """README.md's annotation language is the SDL the gateway actually defines, word for word."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for definition in DIRECTIVES_SDL.split("\n\n"):
        assert definition.strip() in readme


def test_user_may_define_the_directives_and_lines_stay_true() -> None:
    sdl = (
        DIRECTIVES_SDL + "\n" + query_with('me: User @remote(service: "accounts")', "type User { id: ID! }\n")
    )
    line = sdl.splitlines().index('  me: User @remote(service: "accounts")') + 1

    _, bindings = load_schema(sdl, "schema.graphql", SERVICES)

    assert bindings == (RemoteBinding(FieldCoordinate("Query", "me"), service="accounts", location=at(line)),)


def test_user_directive_with_other_arguments() -> None:
    sdl = "directive @batch(service: String!, keys: [String!]) on FIELD_DEFINITION\ntype Query { a: Int }\n"
    assert problems(sdl) == [
        "schema.graphql:1: directive @batch must declare exactly (service: String!, key: String!, "
        "field: String, arg: String, entity: String, path: String, match: String, select: String, items: String)"
    ]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            'me: User @remote(service: "acounts")',
            "Query.me: unknown service 'acounts' (known: accounts, catalog, orders, reviews)",
        ),
        (
            'me: User @remote(service: "catalog", path: "/users/me")',
            "Query.me: @remote(path:) needs a rest service; 'catalog' is graphql",
        ),
        ('me: User @remote(service: "reviews")', "Query.me: @remote on rest service 'reviews' needs path:"),
        (
            'me: User @remote(service: "reviews", field: "me", path: "/me")',
            "Query.me: @remote(field:) needs a graphql service; 'reviews' is rest",
        ),
        (
            'user(id: ID!): User @remote(service: "reviews", path: "/users/{userId}")',
            "Query.user: @remote(path:) placeholder {userId} is not an argument (arguments: id)",
        ),
        (
            'me: User @remote(service: "reviews", path: "/users/{id}")',
            "Query.me: @remote(path:) placeholder {id} is not an argument (arguments: none)",
        ),
        (
            'me: User @batch(service: "accounts", key: "id", field: "users")',
            "Query.me: @batch is not allowed on a root type (Query); use @remote",
        ),
    ],
)
def test_remote_problems(field: str, expected: str) -> None:
    assert problems(query_with(field, "type User { id: ID! }\n")) == [f"schema.graphql:2: {expected}"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            'product: Product @batch(service: "catalogue", key: "productId", field: "products")',
            "Order.product: unknown service 'catalogue' (known: accounts, catalog, orders, reviews)",
        ),
        (
            'product: Product @remote(service: "catalog")',
            "Order.product: @remote is only allowed on fields of Query, not Order",
        ),
        (
            'product: Product @batch(service: "catalog", key: "productId")',
            "Order.product: @batch: exactly one of field, entity, path is required (got none)",
        ),
        (
            'product: Product @batch(service: "catalog", key: "productId", field: "p", entity: "Product")',
            "Order.product: @batch: exactly one of field, entity, path is required (got field, entity)",
        ),
        (
            'product: Product @batch(service: "catalog", key: "productId", path: "/products")',
            "Order.product: @batch(path:) needs a rest service; 'catalog' is graphql",
        ),
        (
            'product: Product @batch(service: "reviews", key: "productId", field: "products")',
            "Order.product: @batch(field:) needs a graphql service; 'reviews' is rest",
        ),
        (
            'product: Product @batch(service: "reviews", key: "productId", entity: "Product")',
            "Order.product: @batch(entity:) needs a graphql service; 'reviews' is rest",
        ),
        (
            'product: Product @batch(service: "catalog", key: "prodId", field: "products")',
            "Order.product: key 'prodId': Order has no field 'prodId'",
        ),
        (
            'product: Product @batch(service: "catalog", key: "product.sku", field: "products")',
            "Order.product: key 'product.sku': Product has no field 'sku'",
        ),
        (
            'product: Product @batch(service: "catalog", key: "id.value", field: "products")',
            "Order.product: key 'id.value': ID has no field 'value'",
        ),
        (
            'product: Product @batch(service: "catalog", key: "product", field: "products")',
            "Order.product: key 'product': must end at a scalar field, not at Product",
        ),
        (
            'product: Product @batch(service: "catalog", key: "productId", entity: "Product", select: "a.b")',
            "Order.product: @batch(select:) must be a plain field name, got 'a.b'",
        ),
        (
            'product(first: Int, after: String): Product @batch(service: "catalog", key: "id", field: "p")',
            "Order.product: @batch fields take no arguments, unless entity: is given (declared: first, after)",
        ),
    ],
)
def test_batch_problems(field: str, expected: str) -> None:
    assert problems(order_with(field)) == [f"schema.graphql:5: {expected}"]


def test_federation_style_key_through_the_batched_field_itself() -> None:
    sdl = order_with('product: Product @batch(service: "catalog", key: "product.id", entity: "Product")')
    _, bindings = load_schema(sdl, "schema.graphql", SERVICES)
    assert bindings[1] == BatchBinding(
        FieldCoordinate("Order", "product"),
        service="catalog",
        key="product.id",
        entity="Product",
        location=at(5),
    )


def test_keys_step_through_lists() -> None:
    sdl = """\
type Query { orders: [Order] @remote(service: "orders") }
type Order {
  lines: [Line!]!
  firstProduct: Product @batch(service: "catalog", key: "lines.productId", field: "productsByIds")
}
type Line { productId: ID! }
type Product { id: ID! }
"""
    _, bindings = load_schema(sdl, "schema.graphql", SERVICES)
    assert bindings[1] == BatchBinding(
        FieldCoordinate("Order", "firstProduct"),
        service="catalog",
        key="lines.productId",
        field="productsByIds",
        location=at(4),
    )


def test_remote_and_batch_on_one_field() -> None:
    field = 'product: Product @remote(service: "catalog") @batch(service: "catalog", key: "id", field: "p")'
    assert problems(order_with(field)) == [
        "schema.graphql:5: Order.product: @remote is only allowed on fields of Query, not Order",
        "schema.graphql:5: Order.product: has both @remote and @batch",
    ]


def test_syntax_error_names_file_and_line() -> None:
    assert problems("type Query {\n  a: Int\n  b: [Int\n}\n") == [
        "schema.graphql:4: Syntax Error: Expected ']', found '}'."
    ]


def test_sdl_validation_errors_name_their_lines() -> None:
    sdl = query_with(
        'me: User @remot(service: "accounts")', 'type User {\n  id: ID! @batch(service: "a")\n}\n'
    )
    assert problems(sdl) == [
        "schema.graphql:2: Unknown directive '@remot'.",
        "schema.graphql:5: Argument '@batch(key:)' of type 'String!' is required, but it was not provided.",
    ]


def test_argument_of_the_wrong_type() -> None:
    assert problems(query_with("me: Int @remote(service: 1)")) == [
        "schema.graphql:2: Argument 'service' has invalid value: "
        "String cannot represent a non string value: 1"
    ]


def test_schema_errors() -> None:
    assert problems("type Order { id: ID! }\n") == ["schema.graphql: Query root type must be provided."]


def test_every_problem_at_once() -> None:
    sdl = """\
type Query {
  orders: [Order!]! @remote(service: "order")
  review(id: ID!): Review @remote(service: "reviews")
}

type Order {
  id: ID!
  product: Product @batch(service: "catalogue", key: "product.sku", field: "productsByIds")
  reviews(first: Int): [Review!]! @batch(service: "reviews", key: "id", field: "reviews", path: "/r")
}

type Product { id: ID! }
type Review { id: ID! }
"""
    assert problems(sdl) == [
        "schema.graphql:2: Query.orders: unknown service 'order' (known: accounts, catalog, orders, reviews)",
        "schema.graphql:3: Query.review: @remote on rest service 'reviews' needs path:",
        "schema.graphql:8: Order.product: unknown service 'catalogue' "
        "(known: accounts, catalog, orders, reviews)",
        "schema.graphql:8: Order.product: key 'product.sku': Product has no field 'sku'",
        "schema.graphql:9: Order.reviews: @batch fields take no arguments, unless entity: is given (declared: first)",
        "schema.graphql:9: Order.reviews: "
        "@batch: exactly one of field, entity, path is required (got field, path)",
        "schema.graphql:9: Order.reviews: @batch(field:) needs a graphql service; 'reviews' is rest",
    ]
