"""Browser-facing defaults: CSRF prevention as Apollo Router does it, CORS only for listed origins. Clients
that are not browsers keep GET queries and application/json POSTs exactly as GraphQL over HTTP describes."""

from __future__ import annotations

import aiohttp
import pytest

from registry.config import CorsConfig
from tests.server.conftest import StartServer

APP = "https://app.example.com"
GET = {"query": "{ __typename }"}
TYPENAME = {"data": {"__typename": "Query"}}
CSRF = {
    "errors": [
        {
            "message": "Refused as a possible cross-site request forgery: send a POST with Content-Type: "
            "application/json, or one of the headers apollo-require-preflight, x-apollo-operation-name "
            "(server.csrf_prevention)."
        }
    ]
}


async def test_non_browser_clients_keep_get_and_json_post(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server()
    async with http.get(server.graphql, params=GET, headers={"Accept": "application/json"}) as response:
        assert (response.status, await response.json()) == (200, TYPENAME)
    async with http.post(
        server.graphql, json=GET, headers={"Origin": APP}
    ) as response:  # preflighted in a browser
        assert (response.status, await response.json()) == (200, TYPENAME)
        assert "Access-Control-Allow-Origin" not in response.headers  # no cors: section, no CORS


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "sec-fetch-site"],
)
async def test_a_browser_get_without_a_preflight_header_is_refused(
    start_server: StartServer, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    server = await start_server()
    async with http.get(
        server.graphql, params=GET, headers={**headers, "Accept": "application/json"}
    ) as response:
        assert (response.status, await response.json()) == (400, CSRF)
    with_header = {**headers, "Accept": "application/json", "apollo-require-preflight": "true"}
    async with http.get(server.graphql, params=GET, headers=with_header) as response:
        assert (response.status, await response.json()) == (200, TYPENAME)


async def test_a_simple_cross_site_post_is_refused(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        headers = {"Origin": "https://evil.example", "Content-Type": content_type}
        async with http.post(
            server.graphql, data=b'{"query": "{ __typename }"}', headers=headers
        ) as response:
            assert (response.status, await response.json()) == (400, CSRF)


async def test_csrf_prevention_can_be_turned_off(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(csrf_prevention=False)
    headers = {"Origin": "https://evil.example", "Accept": "application/json"}
    async with http.get(server.graphql, params=GET, headers=headers) as response:
        assert (response.status, await response.json()) == (200, TYPENAME)


async def test_cors_preflight_and_answers(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    server = await start_server(cors=CorsConfig(origins=(APP,), credentials=True, max_age_s=60))
    preflight = {
        "Origin": APP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    async with http.options(server.graphql, headers=preflight) as response:
        assert response.status == 204
        assert {k: v for k, v in response.headers.items() if k.startswith("Access-Control")} == {
            "Access-Control-Allow-Origin": APP,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "authorization, content-type",
            "Access-Control-Max-Age": "60",
        }
    refusals = {
        "https://evil.example": "origin 'https://evil.example' is not allowed (cors.origins)",
    }
    for origin, reason in refusals.items():
        async with http.options(server.graphql, headers={**preflight, "Origin": origin}) as response:
            assert (response.status, await response.json()) == (
                403,
                {"errors": [{"message": f"CORS preflight refused: {reason}."}]},
            )
            assert "Access-Control-Allow-Origin" not in response.headers
    async with http.options(
        server.graphql, headers={**preflight, "Access-Control-Request-Headers": "x-secret"}
    ) as response:
        assert (response.status, await response.json()) == (
            403,
            {
                "errors": [
                    {"message": "CORS preflight refused: headers x-secret are not allowed (cors.headers)."}
                ]
            },
        )
    async with http.post(server.graphql, json=GET, headers={"Origin": APP}) as response:
        assert (response.status, await response.json()) == (200, TYPENAME)
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert response.headers["Vary"] == "Origin"
    async with http.post(server.graphql, json=GET, headers={"Origin": "https://evil.example"}) as response:
        assert response.status == 200 and "Access-Control-Allow-Origin" not in response.headers
