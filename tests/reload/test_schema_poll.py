"""A schema composed live from the services (`compose: true`, no lock) is composed again every
`server.schema_poll_ms`: a service that changes its schema changes the gateway's, with no file touched; the same
schema again swaps nothing in."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp
from aiohttp import web
from graphql import build_schema, graphql

from examples.services.common import start_app
from gateway.gateway import Gateway
from gateway.server import create_app
from gateway.server.app import WATCHER
from gateway.server.serving import listening

BEFORE = "type Query { hello: String }"
AFTER = "type Query { hello: String goodbye: String }"


async def test_a_service_that_changes_its_schema_changes_the_gateways(tmp_path: Any) -> None:
    served = {"schema": build_schema(BEFORE)}

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        result = await graphql(served["schema"], body["query"], variable_values=body.get("variables"))
        return web.json_response(result.formatted)

    service = web.Application()
    service.router.add_post("/graphql", answer)
    runner, url = await start_app(service)
    try:
        (tmp_path / "funnel.yaml").write_text(
            f"compose: true\nservices:\n  greeter:\n    url: {url}/graphql\n"
        )
        gateway = await asyncio.to_thread(Gateway.from_config, tmp_path / "funnel.yaml")
        assert gateway.config is not None
        settings = dataclasses.replace(gateway.config.server, port=0, schema_poll_ms=100)
        app = create_app(gateway, settings)
        async with listening(app, "127.0.0.1", 0) as base, aiohttp.ClientSession() as http:
            watcher = app[WATCHER]
            query = {"query": "{ goodbye }"}
            async with http.post(base + "/graphql", json=query) as response:
                refused = await response.json()
            assert refused["errors"][0]["message"] == "Cannot query field 'goodbye' on type 'Query'."
            async with asyncio.timeout(10):
                while not watcher.outcomes:
                    await asyncio.sleep(0.02)
            assert watcher.outcomes[0].status == "unchanged"  # composed again: the same schema

            served["schema"] = build_schema(AFTER)
            async with asyncio.timeout(10):
                while watcher.outcomes[-1].status != "applied":
                    await asyncio.sleep(0.02)
            async with http.post(base + "/graphql", json=query) as response:
                assert await response.json() == {"data": {"goodbye": None}}
    finally:
        await runner.cleanup()
