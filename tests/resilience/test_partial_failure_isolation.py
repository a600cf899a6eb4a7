"""Per-key failure isolation: a batched call that fails for some keys costs only those parents' fields, and a
failing chunk only its own keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.gateway import Gateway
from gateway.schema.annotations import load_schema
from gateway.transport import MockTransport, ServiceClients
from instrumentation.call import Call, GraphQLCall, RestCall
from registry.config import ServiceConfig

from .conftest import batched, http_error, unavailable

SDL = """
type Query { orders: [Order!]! @remote(service: "orders") }
type Order {
  id: ID!
  productId: ID!
  buyerId: ID!
  product: Product @batch(service: "catalog", key: "productId", field: "productsByIds")
  stock: Stock @batch(service: "inventory", key: "productId", entity: "Stock")
  buyer: Account @batch(service: "accounts", key: "buyerId", path: "/accounts")
}
type Product { id: ID! name: String }
type Stock { id: ID! count: Int }
type Account { id: ID! name: String }
"""

ORDERS = [{"id": str(i), "productId": f"p{i}", "buyerId": str(i)} for i in range(1, 7)]

Handler = Callable[[Call, Mapping[str, str]], Any]


def batch(call: Call) -> tuple[str, list[Any]]:
    """The alias and the keys of a single-field batched GraphQL call (`b<id>: field(ids: $k<id>)`)."""
    assert isinstance(call, GraphQLCall)
    return batched(call.variables)


def products(call: Call, headers: Mapping[str, str]) -> Any:
    alias, keys = batch(call)
    return {"data": {alias: [{"id": k, "name": f"name {k}"} for k in reversed(keys)]}}


def stocks(call: Call, headers: Mapping[str, str]) -> Any:
    alias, representations = batch(call)
    return {"data": {alias: [{"count": int(r["id"][1:])} for r in representations]}}


def accounts(call: Call, headers: Mapping[str, str]) -> Any:
    assert isinstance(call, RestCall)
    return [{"id": k, "name": f"buyer {k}"} for k in call.params["ids"].split(",")]


def gateway(max_batch: int = 500, **handlers: Handler) -> Gateway:
    answers: dict[str, Handler] = {
        "orders": lambda call, headers: {"data": {"orders": ORDERS}},
        "catalog": products,
        "inventory": stocks,
        "accounts": accounts,
        **handlers,
    }
    services = {
        name: ServiceConfig(
            name, f"http://{name}", protocol="rest" if name == "accounts" else "graphql", max_batch=max_batch
        )
        for name in answers
    }
    # Bare mocks, no policies: what is tested here is how the executor places each failure.
    clients = ServiceClients(services, transport_factory=lambda s: MockTransport(answers[s.name]))
    schema, bindings = load_schema(SDL, "schema.graphql", services)
    return Gateway(schema, services, bindings, clients=clients)


def error(message: str, path: list[Any], code: str, service: str, query: str) -> dict[str, Any]:
    return {
        "message": message,
        "locations": [{"line": 1, "column": 1 + query.index(path[-1])}],
        "path": path,
        "extensions": {"code": code, "service": service},
    }


PRODUCTS = "{ orders { id product { id name } } }"
STOCK = "{ orders { id stock { count } } }"
BUYERS = "{ orders { id buyer { name } } }"


def product(i: int) -> dict[str, Any]:
    return {"id": f"p{i}", "name": f"name p{i}"}


async def test_graphql_errors_with_paths_fail_only_their_parents() -> None:
    def catalog(call: Call, headers: Mapping[str, str]) -> Any:
        alias, keys = batch(call)
        items: list[Any] = [{"id": k, "name": None if k == "p4" else f"name {k}"} for k in keys]
        items[1] = None  # p2 failed as a whole
        return {
            "data": {alias: items},
            "errors": [
                {"message": "p2 is locked", "path": [alias, 1]},
                {"message": "no name for p4", "path": [alias, 3, "name"]},
            ],
        }

    result = await gateway(catalog=catalog).execute(PRODUCTS)

    assert result["data"]["orders"] == [
        {"id": "1", "product": product(1)},
        {"id": "2", "product": None},
        {"id": "3", "product": product(3)},
        {"id": "4", "product": {"id": "p4", "name": None}},
        {"id": "5", "product": product(5)},
        {"id": "6", "product": product(6)},
    ]
    assert result["errors"] == [
        error("p2 is locked", ["orders", 1, "product"], "DOWNSTREAM_ERROR", "catalog", PRODUCTS),
        error("no name for p4", ["orders", 3, "product", "name"], "DOWNSTREAM_ERROR", "catalog", PRODUCTS),
    ]


async def test_keys_missing_from_an_answer_without_errors_are_null_without_error() -> None:
    def catalog(call: Call, headers: Mapping[str, str]) -> Any:
        alias, keys = batch(call)
        return {"data": {alias: [{"id": k, "name": f"name {k}"} for k in keys if k not in ("p2", "p5")]}}

    result = await gateway(catalog=catalog).execute(PRODUCTS)

    assert "errors" not in result
    assert [o["product"] for o in result["data"]["orders"]] == [
        product(1),
        None,
        product(3),
        product(4),
        None,
        product(6),
    ]


async def test_entities_fail_one_by_one_and_a_missing_entity_is_null() -> None:
    def inventory(call: Call, headers: Mapping[str, str]) -> Any:
        alias, representations = batch(call)
        items: list[Any] = [{"count": int(r["id"][1:])} for r in representations]
        items[1] = None  # p2: an error
        items[3] = None  # p4: no such entity
        return {"data": {alias: items}, "errors": [{"message": "stock of p2 unknown", "path": [alias, 1]}]}

    result = await gateway(inventory=inventory).execute(STOCK)

    assert [o["stock"] for o in result["data"]["orders"]] == [
        {"count": 1},
        None,
        {"count": 3},
        None,
        {"count": 5},
        {"count": 6},
    ]
    assert result["errors"] == [
        error("stock of p2 unknown", ["orders", 1, "stock"], "DOWNSTREAM_ERROR", "inventory", STOCK)
    ]


async def test_entities_answered_in_the_wrong_number_fail_their_chunk_only() -> None:
    def inventory(call: Call, headers: Mapping[str, str]) -> Any:
        alias, representations = batch(call)
        items = [{"count": int(r["id"][1:])} for r in representations]
        return {"data": {alias: items[:-1] if call.chunk == 0 else items}}  # chunk 0 lost an item

    result = await gateway(max_batch=3, inventory=inventory).execute(STOCK)

    assert [o["stock"] for o in result["data"]["orders"]] == [None] * 3 + [{"count": i} for i in (4, 5, 6)]
    message = "inventory: _entities answered 2 items for 3 representations"
    assert result["errors"] == [
        error(message, ["orders", i, "stock"], "DOWNSTREAM_BAD_RESPONSE", "inventory", STOCK)
        for i in range(3)
    ]


async def test_a_failing_graphql_chunk_fails_only_its_keys() -> None:
    def catalog(call: Call, headers: Mapping[str, str]) -> Any:
        if call.chunk == 1:
            raise unavailable()
        return products(call, headers)

    result = await gateway(max_batch=2, catalog=catalog).execute(PRODUCTS)

    # Keys in the order of the parents, two per chunk: chunk 1 is p3 and p4.
    assert [o["product"] for o in result["data"]["orders"]] == [
        product(1),
        product(2),
        None,
        None,
        product(5),
        product(6),
    ]
    assert result["errors"] == [
        error("catalog: cannot connect", ["orders", i, "product"], "SERVICE_UNAVAILABLE", "catalog", PRODUCTS)
        for i in (2, 3)
    ]


async def test_a_chunk_answering_with_a_request_error_fails_only_its_keys() -> None:
    def catalog(call: Call, headers: Mapping[str, str]) -> Any:
        if call.chunk == 2:
            return {"errors": [{"message": "query too complex"}]}
        return products(call, headers)

    result = await gateway(max_batch=2, catalog=catalog).execute(PRODUCTS)

    assert [o["product"] for o in result["data"]["orders"]] == [product(i) for i in range(1, 5)] + [
        None,
        None,
    ]
    assert result["errors"] == [
        error("query too complex", ["orders", i, "product"], "DOWNSTREAM_ERROR", "catalog", PRODUCTS)
        for i in (4, 5)
    ]


async def test_a_failing_rest_chunk_fails_only_its_keys() -> None:
    def failing_accounts(call: Call, headers: Mapping[str, str]) -> Any:
        if call.chunk == 0:
            raise http_error(503, "accounts")
        return accounts(call, headers)

    result = await gateway(max_batch=4, accounts=failing_accounts).execute(BUYERS)

    assert [o["buyer"] for o in result["data"]["orders"]] == [None] * 4 + [
        {"name": "buyer 5"},
        {"name": "buyer 6"},
    ]
    assert result["errors"] == [
        error("accounts: HTTP 503", ["orders", i, "buyer"], "DOWNSTREAM_HTTP_ERROR", "accounts", BUYERS)
        for i in range(4)
    ]
