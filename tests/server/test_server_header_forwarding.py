"""A client's headers reach exactly the services whose `headers.forward` names them; the request id
(`x-request-id`) is the gateway's own and goes to every service, configured or not.

The example services do not report headers, so each one is put behind a small recording proxy (local to this
test) that notes the headers of every request and passes it on unchanged to the real service.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from registry.config import ServiceConfig
from tests.conftest import SEEN

from .conftest import StartServer

CLIENT_HEADERS = {
    "Authorization": "Bearer secret-token",
    "X-Request-Id": "req-42",
    "X-Tenant": "acme",
    "Cookie": "session=never-forwarded",
}
WATCHED = ("authorization", "x-request-id", "x-tenant", "cookie")
QUERY = "{ orders(first: 3) { buyer { name } product { name reviews { rating } } } }"


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
