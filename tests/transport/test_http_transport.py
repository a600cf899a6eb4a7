"""HTTPTransport against a real in-process service: answers, and every failure mapped to a DownstreamError."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from examples.services.topology import free_port
from gateway.transport import HTTPTransport
from instrumentation.call import Call, GraphQLCall, RestCall
from instrumentation.errors import (
    DownstreamBadResponse,
    DownstreamError,
    DownstreamHTTPError,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from registry.config import ServiceConfig

from .conftest import CANCELLED, PEERS, service_at

MakeTransport = Callable[..., HTTPTransport]

QUERY = GraphQLCall(service="catalog", query="{ products(ids: $ids) { id } }", variables={"ids": ["1", "2"]})


def rest(path: str = "/items", **params: str) -> RestCall:
    return RestCall(service="catalog", path=path, params=params)


async def failure(transport: HTTPTransport, call: Call) -> DownstreamError:
    with pytest.raises(DownstreamError) as info:
        await transport.send(call, {})
    error = info.value
    assert error.service == "catalog"
    assert error.call is call
    return error


async def test_graphql_call_posts_query_and_variables_as_json(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/graphql"))
    # Variables as read-only mappings, as the executor builds them.
    call = GraphQLCall(
        service="catalog",
        query="query { x }",
        variables=MappingProxyType({"by": MappingProxyType({"id": 1})}),
    )

    answer = await transport.send(call, {})

    assert answer == {
        "data": {
            "query": "query { x }",
            "variables": {"by": {"id": 1}},
            "headers": {
                "content-type": "application/json",
                "accept": "application/json",
                "authorization": None,
                "x-tenant": None,
                "cookie": None,
            },
        },
        "errors": [],
    }


async def test_rest_call_gets_base_url_plus_path_with_params(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/rest/", protocol="rest"))

    answer = await transport.send(rest(ids="1,2,3", lang="en"), {})

    assert answer == [{"id": "1", "lang": "en"}, {"id": "2", "lang": "en"}, {"id": "3", "lang": "en"}]


async def test_extra_headers_are_sent_but_do_not_override_the_content_type(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/graphql"))

    answer = await transport.send(QUERY, {"Authorization": "Bearer t", "Content-Type": "text/plain"})

    assert answer["data"]["headers"] == {
        "content-type": "application/json",
        "accept": "application/json",
        "authorization": "Bearer t",
        "x-tenant": None,
        "cookie": None,
    }


async def test_one_session_and_connection_is_reused_across_calls(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/graphql"))

    for _ in range(5):
        await transport.send(QUERY, {})

    assert len(server.app[PEERS]) == 1


async def test_an_injected_session_is_used_and_left_open(server: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        transport = HTTPTransport(service_at(server, "/graphql"), session=session)
        await transport.send(QUERY, {})
        await transport.close()
        assert not session.closed


async def test_send_after_close_is_a_downstream_error(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/graphql"))
    await transport.send(QUERY, {})
    await transport.close()

    error = await failure(transport, QUERY)

    assert type(error) is DownstreamError
    assert error.message == "catalog: transport is closed"


@pytest.mark.parametrize(
    ("code", "message"),
    [(500, "catalog: HTTP 500 Internal Server Error"), (503, "catalog: HTTP 503 Service Unavailable")],
)
async def test_http_error_status(
    server: TestServer, make_transport: MakeTransport, code: int, message: str
) -> None:
    transport = make_transport(service_at(server, f"/status/{code}"))

    error = await failure(transport, QUERY)

    assert type(error) is DownstreamHTTPError
    assert error.message == message
    assert str(error) == message
    assert error.status == code


async def test_rest_http_error_status(server: TestServer, make_transport: MakeTransport) -> None:
    transport = make_transport(service_at(server, "/status", protocol="rest"))

    error = await failure(transport, rest("/404"))

    assert type(error) is DownstreamHTTPError
    assert error.message == "catalog: HTTP 404 Not Found"
    assert error.status == 404


async def test_graphql_http_error_carries_the_first_graphql_error(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/graphql-400"))

    error = await failure(transport, QUERY)

    assert type(error) is DownstreamHTTPError
    assert error.message == "catalog: HTTP 400: Cannot query field 'nope' on type 'Query'."
    assert error.status == 400


@pytest.mark.parametrize("protocol", ["graphql", "rest"])
async def test_invalid_json(server: TestServer, make_transport: MakeTransport, protocol: Any) -> None:
    transport = make_transport(service_at(server, "/invalid-json", protocol=protocol))

    error = await failure(transport, QUERY if protocol == "graphql" else rest(""))

    assert type(error) is DownstreamBadResponse
    assert error.message == "catalog: invalid JSON in response"
    assert error.status == 200


async def test_graphql_answer_that_is_not_a_graphql_result(
    server: TestServer, make_transport: MakeTransport
) -> None:
    transport = make_transport(service_at(server, "/not-object"))

    error = await failure(transport, QUERY)

    assert type(error) is DownstreamBadResponse
    assert error.message == (
        "catalog: response is not a GraphQL result (expected an object with 'data' or 'errors')"
    )


async def test_rest_answer_may_be_any_json_value(server: TestServer, make_transport: MakeTransport) -> None:
    transport = make_transport(service_at(server, "/not-object", protocol="rest"))

    assert await transport.send(rest(""), {}) == [1, 2, 3]


@pytest.mark.parametrize("path", ["/huge", "/huge-chunked"])
async def test_body_larger_than_the_cap(server: TestServer, make_transport: MakeTransport, path: str) -> None:
    transport = make_transport(service_at(server, "", protocol="rest"))

    error = await failure(transport, rest(path))

    assert type(error) is DownstreamBadResponse
    assert (
        error.message == "catalog: response larger than 10485760 bytes (services.catalog.max_response_bytes)"
    )
    assert error.status == 200
    # The half-read connection was dropped, not handed back to the pool: the next call opens a fresh one.
    assert await transport.send(rest("/not-object"), {}) == [1, 2, 3]
    assert len(server.app[PEERS]) == 2


async def test_cap_is_configurable(server: TestServer, make_transport: MakeTransport) -> None:
    transport = make_transport(service_at(server, "/graphql"), max_response_bytes=10)

    error = await failure(transport, QUERY)

    assert error.message == "catalog: response larger than 10 bytes (services.catalog.max_response_bytes)"


async def test_the_cap_is_the_services_own(server: TestServer, make_transport: MakeTransport) -> None:
    service = dataclasses.replace(service_at(server, "/graphql"), max_response_bytes=12)
    error = await failure(make_transport(service), QUERY)
    assert error.message == "catalog: response larger than 12 bytes (services.catalog.max_response_bytes)"


@pytest.mark.parametrize("path", ["/slow", "/slow-body"])
async def test_timeout(server: TestServer, make_transport: MakeTransport, path: str) -> None:
    transport = make_transport(service_at(server, path, timeout_ms=100))
    started = time.perf_counter()

    error = await failure(transport, QUERY)

    assert time.perf_counter() - started < 1
    assert type(error) is DownstreamTimeout
    assert error.message == "catalog: no answer within 100 ms"
    assert error.status is None
    # Giving up closes the connection, which cancels the service's handler instead of leaving it running.
    for _ in range(100):
        if server.app[CANCELLED]:
            break
        await asyncio.sleep(0.01)
    assert server.app[CANCELLED] == [path.lstrip("/")]


async def test_closed_port(make_transport: MakeTransport) -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"
    transport = make_transport(ServiceConfig(name="catalog", url=url))

    error = await failure(transport, QUERY)

    assert type(error) is DownstreamUnavailable
    assert error.message == f"catalog: cannot connect to {url}"
    assert error.status is None


async def test_closed_port_rest_names_the_full_path(make_transport: MakeTransport) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    transport = make_transport(ServiceConfig(name="catalog", url=base, protocol="rest"))

    error = await failure(transport, rest("/items", ids="1,2"))

    assert error.message == f"catalog: cannot connect to {base}/items"


async def test_connection_dropped_by_the_service(server: TestServer, make_transport: MakeTransport) -> None:
    transport = make_transport(service_at(server, "/drop"))

    error = await failure(transport, QUERY)

    assert type(error) is DownstreamUnavailable
    assert error.message == f"catalog: connection to {server.make_url('/drop')} lost"


async def test_unencodable_variables(server: TestServer, make_transport: MakeTransport) -> None:
    transport = make_transport(service_at(server, "/graphql"))
    call = GraphQLCall(service="catalog", query="{ x }", variables={"when": object()})

    error = await failure(transport, call)

    assert type(error) is DownstreamError
    assert error.message == "catalog: cannot encode variables as JSON: Type is not JSON serializable: object"
