"""ServiceClients: one transport per service, per-service header forwarding, lifecycle in an aiohttp app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from gateway.transport import SERVICE_CLIENTS, MockTransport, ServiceClients, cleanup_ctx
from instrumentation.call import Call, GraphQLCall
from instrumentation.errors import DownstreamError
from registry.config import ServiceConfig

from .conftest import service_at

CLIENT_HEADERS = CIMultiDict(
    {"Authorization": "Bearer t", "X-Tenant": "acme", "Cookie": "session=secret", "Accept": "text/html"}
)


def call_to(service: str) -> GraphQLCall:
    return GraphQLCall(service=service, query="{ x }", variables={})


def echo_headers(call: Call, headers: Mapping[str, str]) -> Any:
    return {"data": dict(headers)}


def mocked(services: Mapping[str, ServiceConfig]) -> tuple[ServiceClients, dict[str, MockTransport]]:
    mocks: dict[str, MockTransport] = {}

    def factory(service: ServiceConfig) -> MockTransport:
        mocks[service.name] = MockTransport(echo_headers)
        return mocks[service.name]

    return ServiceClients(services, transport_factory=factory), mocks


async def test_only_configured_headers_reach_each_service_over_http(server: TestServer) -> None:
    services = {
        "catalog": service_at(server, "/graphql", name="catalog", forward_headers=("authorization",)),
        "reviews": service_at(server, "/other/graphql", name="reviews", forward_headers=("x-tenant",)),
    }
    async with ServiceClients(services) as clients:
        fetch = clients.fetcher(CLIENT_HEADERS)

        catalog = (await fetch(call_to("catalog")))["data"]["headers"]
        reviews = (await fetch(call_to("reviews")))["data"]["headers"]

    assert catalog == {
        "content-type": "application/json",
        "accept": "application/json",
        "authorization": "Bearer t",
        "x-tenant": None,
        "cookie": None,
    }
    assert reviews == {
        "content-type": "application/json",
        "accept": "application/json",
        "authorization": None,
        "x-tenant": "acme",
        "cookie": None,
    }


async def test_forward_headers_match_case_insensitively_and_repeated_headers_are_joined() -> None:
    clients, mocks = mocked(
        {
            "catalog": ServiceConfig(name="catalog", url="http://c", forward_headers=("X-Tenant", "x-trace")),
            "orders": ServiceConfig(name="orders", url="http://o"),
        }
    )
    request_headers = CIMultiDict([("x-tenant", "acme"), ("X-Trace", "a"), ("x-trace", "b"), ("Cookie", "c")])
    fetch = clients.fetcher(request_headers)

    assert await fetch(call_to("catalog")) == {"data": {"x-tenant": "acme", "x-trace": "a, b"}}
    assert await fetch(call_to("orders")) == {"data": {}}
    assert mocks["catalog"].calls == [call_to("catalog")]
    assert mocks["orders"].calls == [call_to("orders")]


async def test_the_gateways_own_headers_go_to_every_service_and_win_and_call_headers_are_read_per_call() -> (
    None
):
    clients, mocks = mocked(
        {
            "catalog": ServiceConfig(
                name="catalog", url="http://c", forward_headers=("x-request-id", "x-tenant")
            ),
            "orders": ServiceConfig(name="orders", url="http://o"),
        }
    )
    request_headers = CIMultiDict({"X-Request-Id": "the-clients", "X-Tenant": "acme"})
    spans = iter(("span-1", "span-2", "span-3"))
    fetch = clients.fetcher(
        request_headers, {"x-request-id": "the-gateways"}, lambda: {"traceparent": next(spans)}
    )

    await fetch(call_to("catalog"))
    await fetch(call_to("orders"))
    await fetch(call_to("catalog"))

    assert mocks["catalog"].headers == [
        {"x-request-id": "the-gateways", "x-tenant": "acme", "traceparent": "span-1"},
        {"x-request-id": "the-gateways", "x-tenant": "acme", "traceparent": "span-3"},
    ]
    assert mocks["orders"].headers == [{"x-request-id": "the-gateways", "traceparent": "span-2"}]


async def test_unknown_service() -> None:
    clients, _ = mocked({"catalog": ServiceConfig(name="catalog", url="http://c")})
    call = call_to("x")

    with pytest.raises(DownstreamError) as info:
        await clients.fetcher({})(call)

    assert type(info.value) is DownstreamError
    assert info.value.message == "unknown service 'x'"
    assert info.value.service == "x"
    assert info.value.call is call


async def test_close_closes_every_transport_even_if_one_fails() -> None:
    class Failing(MockTransport):
        async def close(self) -> None:
            raise RuntimeError("boom")

    closed: list[MockTransport] = []

    def factory(service: ServiceConfig) -> MockTransport:
        transport = (Failing if service.name == "a" else MockTransport)(echo_headers)
        closed.append(transport)
        return transport

    clients = ServiceClients(
        {name: ServiceConfig(name=name, url="http://x") for name in ("a", "b")}, transport_factory=factory
    )

    with pytest.raises(RuntimeError, match="boom"):
        await clients.close()
    assert closed[1].closed


async def test_cleanup_ctx_stores_the_clients_in_the_app_and_closes_them_on_shutdown() -> None:
    clients, mocks = mocked(
        {"catalog": ServiceConfig(name="catalog", url="http://c", forward_headers=("x-tenant",))}
    )

    async def handler(request: web.Request) -> web.Response:
        fetch = request.app[SERVICE_CLIENTS].fetcher(request.headers)
        return web.json_response(await fetch(call_to("catalog")))

    app = web.Application()
    app.cleanup_ctx.append(cleanup_ctx(clients))
    app.router.add_get("/", handler)
    gateway = TestServer(app)
    await gateway.start_server()
    try:
        assert app[SERVICE_CLIENTS] is clients
        async with (
            aiohttp.ClientSession() as session,
            session.get(gateway.make_url("/"), headers={"X-Tenant": "acme", "Cookie": "c"}) as response,
        ):
            assert await response.json() == {"data": {"x-tenant": "acme"}}
        assert not mocks["catalog"].closed
    finally:
        await gateway.close()
    assert mocks["catalog"].closed
