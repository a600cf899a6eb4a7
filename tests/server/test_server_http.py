"""GraphQL over HTTP against a real server and the example services: methods, media types, status codes,
bad input — each with its exact status and message."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from examples.services.cluster import Cluster
from examples.services.topology import free_port
from gateway.server.media import HTML, negotiate
from tests.engine.conftest import rows, service_configs

from .conftest import GRAPHQL_RESPONSE, Server, StartServer

JSON = "application/json"
MODERN = {"Accept": GRAPHQL_RESPONSE}
PRODUCT = '{ product(id: "3") { id name } }'


async def send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    data: bytes | str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, Any, aiohttp.ClientResponse]:
    """Status, content type (without parameters), parsed JSON body, and the response for its headers."""
    body = orjson.dumps(json) if json is not None else data
    headers = dict(headers or {})
    if json is not None:
        headers.setdefault("Content-Type", JSON)
    async with http.request(method, url, data=body, params=params, headers=headers) as response:
        raw = await response.read()
        return response.status, response.content_type, orjson.loads(raw), response


def error(message: str, **extra: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, **extra}]}


def product_name(cluster: Cluster, product_id: int) -> str:
    (row,) = rows(cluster, "catalog", "SELECT name FROM products WHERE id = ?", product_id)
    return str(row["name"])


# -- what works ------------------------------------------------------------------------------------------------


async def test_post_json_answers_application_json_by_default(
    server: Server, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    status, media, body, response = await send(http, "POST", server.graphql, json={"query": PRODUCT})
    assert (status, media) == (200, JSON)
    assert response.charset == "utf-8"
    assert body == {"data": {"product": {"id": "3", "name": product_name(cluster, 3)}}}


async def test_post_with_operation_name_and_variables(
    server: Server, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    query = "query A { product(id: 1) { id } } query B($id: ID!) { product(id: $id) { id name } }"
    request = {"query": query, "operationName": "B", "variables": {"id": "4"}, "extensions": {"x": 1}}
    status, media, body, _ = await send(http, "POST", server.graphql, json=request, headers=MODERN)
    assert (status, media) == (200, GRAPHQL_RESPONSE)
    assert body == {"data": {"product": {"id": "4", "name": product_name(cluster, 4)}}}


async def test_get_query_with_variables(
    server: Server, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    params = {"query": "query($id: ID!) { product(id: $id) { name } }", "variables": '{"id": "2"}'}
    status, media, body, _ = await send(http, "GET", server.graphql, params=params)
    assert (status, media) == (200, JSON)
    assert body == {"data": {"product": {"name": product_name(cluster, 2)}}}


async def test_get_query_as_long_as_a_post_body_may_be(server: Server, http: aiohttp.ClientSession) -> None:
    padding = "#" + "x" * 20_000 + "\n"  # a comment: a long request line, a tiny query
    status, _, body, _ = await send(http, "GET", server.graphql, params={"query": padding + "{ __typename }"})
    assert (status, body) == (200, {"data": {"__typename": "Query"}})


async def test_post_mutation(server: Server, http: aiohttp.ClientSession, cluster: Cluster) -> None:
    mutation = (
        'mutation { placeOrder(buyerId: "2", productId: "5", quantity: 3) { id quantity product { id } } }'
    )
    status, media, body, _ = await send(
        http, "POST", server.graphql, json={"query": mutation}, headers=MODERN
    )
    order_id = body["data"]["placeOrder"]["id"]
    assert (status, media, body) == (
        200,
        GRAPHQL_RESPONSE,
        {"data": {"placeOrder": {"id": order_id, "quantity": 3, "product": {"id": "5"}}}},
    )
    stored = rows(
        cluster, "orders", "SELECT buyer_id, product_id, quantity FROM orders WHERE id = ?", int(order_id)
    )
    assert [tuple(r) for r in stored] == [(2, 5, 3)]


async def test_field_errors_are_200_with_data_under_both_media_types(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    server = await start_server(services=service_configs(cluster, accounts={"url": dead}))
    query = "{ orders(first: 1) { id buyer { name } } }"
    for accept in (JSON, GRAPHQL_RESPONSE):
        status, media, body, _ = await send(
            http, "POST", server.graphql, json={"query": query}, headers={"Accept": accept}
        )
        assert (status, media) == (200, accept)
        assert body == {
            "data": {"orders": [{"id": "1", "buyer": None}]},
            "errors": [
                {
                    "message": "accounts: the service is unavailable",  # masked: no internal URL
                    "locations": [{"line": 1, "column": 25}],
                    "path": ["orders", 0, "buyer"],
                    "extensions": {"code": "SERVICE_UNAVAILABLE", "service": "accounts"},
                }
            ],
        }


async def test_a_service_trusted_with_expose_errors_passes_its_messages_through(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    services = service_configs(cluster, accounts={"url": dead, "expose_errors": True})
    server = await start_server(services=services)
    status, _, body, _ = await send(
        http, "POST", server.graphql, json={"query": "{ orders(first: 1) { id buyer { name } } }"}
    )
    assert status == 200
    assert [e["message"] for e in body["errors"]] == [f"accounts: cannot connect to {dead}/accounts"]


# -- Accept --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, application/json", JSON),
        (f"{GRAPHQL_RESPONSE}, {JSON}", GRAPHQL_RESPONSE),
        ("application/json;q=0, */*", GRAPHQL_RESPONSE),
        ("text/html;q=0.9, */*;q=0.1", JSON),  # POST never answers the page
    ],
)
async def test_accept_chooses_the_media_type(
    server: Server, http: aiohttp.ClientSession, accept: str | None, media: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {"Accept": ""}
    status, got, body, _ = await send(
        http, "POST", server.graphql, json={"query": "{ __typename }"}, headers=headers
    )
    assert (status, got, body) == (200, media, {"data": {"__typename": "Query"}})


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (f"{GRAPHQL_RESPONSE};q=high, {JSON};q=0.1", JSON),  # a malformed q: the range is left out
        (f"{JSON};q=2", None),  # q above 1: left out too, so nothing is acceptable
        (f"text/html, {GRAPHQL_RESPONSE};q=0.8", HTML),
        ("text/*;q=0.3, */*;q=0.9", JSON),  # the most specific range decides: text/html is 0.3
    ],
)
def test_negotiate(accept: str, media: str | None) -> None:
    assert negotiate(accept, (GRAPHQL_RESPONSE, JSON, HTML), JSON) == media


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_nothing_acceptable_is_406(server: Server, http: aiohttp.ClientSession, method: str) -> None:
    status, media, body, _ = await send(
        http,
        method,
        server.graphql,
        json={"query": "{ __typename }"},
        headers={"Accept": "text/plain, image/*"},
    )
    assert (status, media) == (406, JSON)
    assert body == error(
        "Cannot answer with any type in Accept (text/plain, image/*): "
        "use application/graphql-response+json or application/json."
    )


# -- methods and paths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_mutation_over_get_is_405(server: Server, http: aiohttp.ClientSession, accept: str) -> None:
    mutation = 'mutation { placeOrder(buyerId: "1", productId: "1", quantity: 1) { id } }'
    status, media, body, response = await send(
        http, "GET", server.graphql, params={"query": mutation}, headers={"Accept": accept}
    )
    assert (status, media, response.headers["Allow"]) == (405, accept, "POST")
    assert body == error("A mutation cannot be sent with GET: use POST.")


async def test_get_may_pick_the_query_of_a_document_that_also_has_a_mutation(
    server: Server, http: aiohttp.ClientSession
) -> None:
    document = (
        'query Q { __typename } mutation M { placeOrder(buyerId: "1", productId: "1", quantity: 1) { id } }'
    )
    params = {"query": document, "operationName": "Q"}
    assert (await send(http, "GET", server.graphql, params=params))[:3] == (
        200,
        JSON,
        {"data": {"__typename": "Query"}},
    )
    params["operationName"] = "M"
    assert (await send(http, "GET", server.graphql, params=params))[:3] == (
        405,
        JSON,
        error("A mutation cannot be sent with GET: use POST."),
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(server: Server, http: aiohttp.ClientSession, method: str) -> None:
    status, media, body, response = await send(http, method, server.graphql, json={"query": "{ __typename }"})
    assert (status, media, response.headers["Allow"]) == (405, JSON, "GET, POST")
    assert body == error(f"{method} is not allowed on /graphql: use GET, POST.")


async def test_unknown_path_is_404(server: Server, http: aiohttp.ClientSession) -> None:
    status, media, body, _ = await send(http, "GET", server.url + "/graphq")
    assert (status, media) == (404, JSON)
    assert body == error("Nothing at /graphq: GraphQL is served at /graphql.")


async def test_an_unexpected_failure_is_500_without_details(
    server: Server, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.gateway, "run", broken)
    status, media, body, _ = await send(http, "POST", server.graphql, json={"query": "{ __typename }"})
    assert (status, media, body) == (500, JSON, error("Internal server error."))


# -- requests that are not GraphQL requests: 400 whatever the media type ------------------------------------------

NOT_GRAPHQL = [
    (b"{", "The body is not valid JSON (line 1, column 2)."),
    (b'{"query": "{ __typename }",}', "The body is not valid JSON (line 1, column 27)."),
    (b"", 'The body is empty: send a JSON object like {"query": "{ __typename }"}.'),
    (b"[]", 'The body must be a JSON object like {"query": "..."}, got an array.'),
    (b'"{ __typename }"', 'The body must be a JSON object like {"query": "..."}, got a string.'),
    (b"{}", 'The request has no "query": send the GraphQL document in "query".'),
    (b'{"query": null}', 'The request has no "query": send the GraphQL document in "query".'),
    (b'{"query": 1}', '"query" must be a string, got a number.'),
    (b'{"query": ["{ a }"]}', '"query" must be a string, got an array.'),
    (b'{"query": "{ a }", "operationName": 2}', '"operationName" must be a string or null, got a number.'),
    (b'{"query": "{ a }", "variables": [1]}', '"variables" must be an object or null, got an array.'),
    (b'{"query": "{ a }", "variables": "{}"}', '"variables" must be an object or null, got a string.'),
    (b'{"query": "{ a }", "extensions": true}', '"extensions" must be an object or null, got a boolean.'),
]


@pytest.mark.parametrize(("body", "message"), NOT_GRAPHQL)
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_bad_post_bodies_are_400(
    server: Server, http: aiohttp.ClientSession, body: bytes, message: str, accept: str
) -> None:
    headers = {"Content-Type": "application/json", "Accept": accept}
    status, media, answer, _ = await send(http, "POST", server.graphql, data=body, headers=headers)
    assert (status, media, answer) == (400, accept, error(message))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, 'The request has no "query": send the GraphQL document in "query".'),
        (
            {"query": "{ __typename }", "variables": "{id: 1}"},
            '"variables" is not valid JSON (line 1, column 2).',
        ),
        (
            {"query": "{ __typename }", "variables": "[]"},
            '"variables" must be an object or null, got an array.',
        ),
        (
            {"query": "{ __typename }", "extensions": "{"},
            '"extensions" is not valid JSON (line 1, column 2).',
        ),
    ],
)
async def test_bad_get_parameters_are_400(
    server: Server, http: aiohttp.ClientSession, params: dict[str, str], message: str
) -> None:
    status, media, answer, _ = await send(http, "GET", server.graphql, params=params, headers=MODERN)
    assert (status, media, answer) == (400, GRAPHQL_RESPONSE, error(message))


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (None, "The Content-Type must be application/json, got none."),
        ("text/plain", 'The Content-Type must be application/json, got "text/plain".'),
        ("application/graphql", 'The Content-Type must be application/json, got "application/graphql".'),
        (
            "application/x-www-form-urlencoded",
            'The Content-Type must be application/json, got "application/x-www-form-urlencoded".',
        ),
    ],
)
async def test_post_bodies_must_be_json_415(
    server: Server, http: aiohttp.ClientSession, content_type: str | None, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    # aiohttp adds application/octet-stream to a bytes body unless told to leave the header out
    async with http.post(
        server.graphql,
        data=b'{"query": "{ __typename }"}',
        headers=headers,
        skip_auto_headers=["Content-Type"],
    ) as response:
        assert (response.status, response.content_type) == (415, JSON)
        assert await response.json() == error(message)


async def test_content_type_parameters_are_allowed(server: Server, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    status, _, body, _ = await send(
        http, "POST", server.graphql, data=b'{"query": "{ __typename }"}', headers=headers
    )
    assert (status, body) == (200, {"data": {"__typename": "Query"}})


# -- GraphQL requests that cannot run: 200 under application/json, 400 under graphql-response+json -----------------

REQUEST_ERRORS = [
    (
        {"query": "{ product(id: 1) { name }"},
        error("Syntax Error: Expected Name, found <EOF>.", locations=[{"line": 1, "column": 26}]),
    ),
    (
        {"query": "{ nope }"},
        error("Cannot query field 'nope' on type 'Query'.", locations=[{"line": 1, "column": 3}]),
    ),
    (
        {"query": "query A { __typename } query B { __typename }", "operationName": "C"},
        error("Unknown operation named 'C'."),
    ),
    (
        {"query": "query A { __typename } query B { __typename }"},
        error("Must provide operation name if query contains multiple operations."),
    ),
    (
        {"query": "query($n: Int!) { orders(first: $n) { id } }", "variables": {"n": "ten"}},
        error(
            "Variable '$n' has invalid value: Int cannot represent non-integer value: 'ten'",
            locations=[{"line": 1, "column": 7}],
        ),
    ),
    (
        {"query": "query($n: Int!) { orders(first: $n) { id } }"},
        error(
            "Variable '$n' has invalid value: Expected a value of non-null type 'Int!' to be provided.",
            locations=[{"line": 1, "column": 7}],
        ),
    ),
]


@pytest.mark.parametrize(("request_body", "expected"), REQUEST_ERRORS)
@pytest.mark.parametrize(("accept", "status"), [(JSON, 200), (GRAPHQL_RESPONSE, 400)])
async def test_requests_that_cannot_run(
    server: Server,
    http: aiohttp.ClientSession,
    request_body: dict[str, Any],
    expected: dict[str, Any],
    accept: str,
    status: int,
) -> None:
    got = await send(http, "POST", server.graphql, json=request_body, headers={"Accept": accept})
    assert got[:3] == (status, accept, expected)
