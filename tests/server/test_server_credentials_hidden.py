"""A service URL carrying credentials (`http://user:token@host/...`) never shows them: not in /ready, not in a
GraphQL error, not in a log line."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from examples.services.cluster import Cluster
from examples.services.topology import free_port
from registry.redaction import redact_url
from tests.engine.conftest import service_configs

from .conftest import StartServer

SECRET = "t0ps3cret"


def test_redact_url_keeps_where_and_hides_who() -> None:
    assert redact_url("http://catalog:4002/graphql") == "http://catalog:4002/graphql"
    assert redact_url(f"https://funnel:{SECRET}@catalog:4002/graphql") == "https://***@catalog:4002/graphql"
    assert redact_url(f"redis://:{SECRET}@redis:6379/0") == "redis://***@redis:6379/0"
    assert redact_url(f"http://[::1]:80/graphql?api_key={SECRET}") == "http://[::1]:80/graphql?***"
    assert redact_url(f"http://u:{SECRET}@host:port/") == "***"  # cannot be taken apart: nothing shown


async def test_ready_and_errors_hide_the_credentials_of_a_service_url(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    dead = f"http://funnel:{SECRET}@127.0.0.1:{port}/graphql"
    # expose_errors: the downstream error's own message reaches the client, which must show no credential either
    server = await start_server(
        services=service_configs(cluster, catalog={"url": dead, "expose_errors": True})
    )
    caplog.set_level(logging.DEBUG)

    async with http.get(server.url + "/ready") as response:
        assert response.status == 503
        text = await response.text()
        body = await response.json()
    assert body["services"]["catalog"] == f"catalog: cannot connect to http://***@127.0.0.1:{port}/graphql"
    assert body["circuits"]["catalog"]["url"] == f"http://***@127.0.0.1:{port}/graphql"

    query = {"query": "{ orders(first: 1) { id product { name } } }"}
    async with http.post(server.graphql, json=query) as response:
        answer = await response.text()
    assert f"cannot connect to http://***@127.0.0.1:{port}/graphql" in answer
    assert SECRET not in text + answer + caplog.text
