"""Request ids: a client's `x-request-id` is answered and sent to every service called; without one (or with one
that is not a plausible id) the gateway makes one and does the same with it."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web

from gateway.observability import accept_request_id
from registry.config import ServiceConfig
from tests.conftest import SEEN

from .conftest import LogLines, StartObserved, post

QUERY = "{ orders(first: 3) { buyer { name } product { name reviews { rating } } } }"
GENERATED = re.compile(r"[0-9a-f]{32}")


def proxied_services(proxies: dict[str, tuple[str, web.Application]]) -> dict[str, ServiceConfig]:
    # No service forwards x-request-id by configuration: the gateway sends its own to every one.
    url = {name: proxy_url for name, (proxy_url, _) in proxies.items()}
    return {
        "accounts": ServiceConfig("accounts", url["accounts"], protocol="rest"),
        "catalog": ServiceConfig("catalog", url["catalog"] + "/graphql"),
        "orders": ServiceConfig("orders", url["orders"] + "/graphql"),
        "reviews": ServiceConfig("reviews", url["reviews"] + "/graphql"),
    }


def received(proxies: dict[str, tuple[str, web.Application]]) -> dict[str, set[str | None]]:
    return {
        name: {headers.get("x-request-id") for headers in app[SEEN]} for name, (_, app) in proxies.items()
    }


async def test_a_given_request_id_is_answered_and_sent_to_every_service(
    start_observed: StartObserved,
    http: aiohttp.ClientSession,
    proxies: dict[str, tuple[str, web.Application]],
    log_lines: LogLines,
) -> None:
    observed = await start_observed(services=proxied_services(proxies))
    status, body, headers = await post(
        http, observed.graphql, QUERY, headers={"X-Request-Id": "req-2026.05:a"}
    )
    assert status == 200 and "errors" not in body
    assert headers["x-request-id"] == "req-2026.05:a"
    assert received(proxies) == {name: {"req-2026.05:a"} for name in proxies}
    [line] = log_lines.parsed("funnel.requests")
    assert line["request_id"] == "req-2026.05:a"


@pytest.mark.parametrize(
    "given",
    [None, "", "has spaces", "x" * 129, "line\\nbreak", 'quote"', "../../etc/passwd", "a..b", "a/b"],
    ids=["absent", "empty", "spaces", "long", "escape", "quote", "traversal", "dots", "slash"],
)
async def test_without_a_plausible_request_id_one_is_made_and_sent_to_every_service(
    start_observed: StartObserved,
    http: aiohttp.ClientSession,
    proxies: dict[str, tuple[str, web.Application]],
    given: str | None,
) -> None:
    observed = await start_observed(services=proxied_services(proxies))
    status, _, headers = await post(
        http, observed.graphql, QUERY, headers={"X-Request-Id": given} if given is not None else None
    )
    assert status == 200
    made = headers["x-request-id"]
    assert GENERATED.fullmatch(made)
    assert received(proxies) == {name: {made} for name in proxies}


async def test_each_request_gets_its_own_id_and_every_answer_carries_it(
    start_observed: StartObserved, http: aiohttp.ClientSession
) -> None:
    observed = await start_observed(metrics=False, tracing=False, logs=False)  # not a feature one turns on
    ids = set()
    for path in ("/graphql", "/health", "/nowhere"):
        async with http.get(observed.url + path, params={"query": "{ orders(first: 1) { id } }"}) as response:
            ids.add(response.headers["x-request-id"])
    assert len(ids) == 3 and all(GENERATED.fullmatch(i) for i in ids)


def test_accept_request_id() -> None:
    assert accept_request_id({"x-request-id": "abc-123"}) == "abc-123"
    assert GENERATED.fullmatch(accept_request_id({}))
    assert GENERATED.fullmatch(accept_request_id({"x-request-id": "a\r\nx-evil: 1"}))
