"""A client's headers reach exactly the services whose `headers.forward` names them; the request id
(`x-request-id`) is the gateway's own and goes to every service, configured or not.

The example services do not report headers, so each one is put behind a small recording proxy (local to this
test) that notes the headers of every request and passes it on unchanged to the real service.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from examples.services.cluster import Cluster
from examples.services.common import start_app
from registry.config import ServiceConfig

from .conftest import StartServer

SEEN = web.AppKey("seen", list)
SESSION = web.AppKey("session", aiohttp.ClientSession)
CLIENT_HEADERS = {
    "Authorization": "Bearer secret-token",
    "X-Request-Id": "req-42",
    "X-Tenant": "acme",
    "Cookie": "session=never-forwarded",
}
WATCHED = ("authorization", "x-request-id", "x-tenant", "cookie")
QUERY = "{ orders(first: 3) { buyer { name } product { name reviews { rating } } } }"


def recording_proxy(upstream: str) -> web.Application:
    """Passes every request on to `upstream` and records its headers in app[SEEN]."""
    app = web.Application()
    app[SEEN] = []

    async def session_context(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[SESSION] = session
            yield

    async def forward(request: web.Request) -> web.Response:
        request.app[SEEN].append(CIMultiDictProxy(CIMultiDict(request.headers)))
        session = request.app[SESSION]
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        async with session.request(
            request.method, upstream + request.path_qs, data=await request.read(), headers=headers
        ) as answer:
            return web.Response(
                body=await answer.read(), status=answer.status, content_type=answer.content_type
            )

    app.cleanup_ctx.append(session_context)
    app.router.add_route("*", "/{path:.*}", forward)
    return app


@pytest.fixture
async def proxies(cluster: Cluster) -> AsyncIterator[dict[str, tuple[str, web.Application]]]:
    """Service name -> (proxy base URL, proxy app)."""
    async with contextlib.AsyncExitStack() as stack:
        started: dict[str, tuple[str, web.Application]] = {}
        for name, url in cluster.urls.items():
            app = recording_proxy(url)
            runner, proxy_url = await start_app(app)
            stack.push_async_callback(runner.cleanup)
            started[name] = (proxy_url, app)
        yield started


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("batching", [True, False])
async def test_each_service_receives_only_the_headers_it_forwards(
    start_server: StartServer,
    http: aiohttp.ClientSession,
    proxies: dict[str, tuple[str, web.Application]],
    method: str,
    batching: bool,
) -> None:
    url = {name: proxy_url for name, (proxy_url, _) in proxies.items()}
    services = {
        "accounts": ServiceConfig(
            "accounts", url["accounts"], protocol="rest", forward_headers=("x-request-id",)
        ),
        "catalog": ServiceConfig("catalog", url["catalog"] + "/graphql"),
        "orders": ServiceConfig(
            "orders", url["orders"] + "/graphql", forward_headers=("authorization", "x-request-id")
        ),
        "reviews": ServiceConfig("reviews", url["reviews"] + "/graphql", forward_headers=("x-tenant",)),
    }
    server = await start_server(services=services, batching=batching)

    if method == "GET":
        response = await http.get(server.graphql, params={"query": QUERY}, headers=CLIENT_HEADERS)
    else:
        response = await http.post(server.graphql, json={"query": QUERY}, headers=CLIENT_HEADERS)
    async with response:
        assert response.status == 200
        body = await response.json()
    assert "errors" not in body and len(body["data"]["orders"]) == 3

    def received(name: str) -> set[tuple[str, str | None]]:
        seen = proxies[name][1][SEEN]
        assert seen, f"{name} was not called"
        return {(header, headers.get(header)) for headers in seen for header in WATCHED}

    assert received("orders") == {
        ("authorization", "Bearer secret-token"),
        ("x-request-id", "req-42"),
        ("x-tenant", None),
        ("cookie", None),
    }
    assert received("accounts") == {
        ("authorization", None),
        ("x-request-id", "req-42"),
        ("x-tenant", None),
        ("cookie", None),
    }
    assert received("catalog") == {
        ("authorization", None),
        ("x-request-id", "req-42"),
        ("x-tenant", None),
        ("cookie", None),
    }
    assert received("reviews") == {
        ("authorization", None),
        ("x-request-id", "req-42"),
        ("x-tenant", "acme"),
        ("cookie", None),
    }
