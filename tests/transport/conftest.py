"""An in-process downstream service with one route per behaviour the transports must handle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.transport import HTTPTransport
from registry.config import ServiceConfig

HUGE_BYTES = 11 * 1024 * 1024

# Client sockets seen by the server, one entry per accepted connection.
PEERS = web.AppKey("peers", set[Any])
# Handlers that were cancelled because the client gave up on them.
CANCELLED = web.AppKey("cancelled", list[str])


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


@web.middleware
async def _track_peers(request: web.Request, handler: Any) -> web.StreamResponse:
    assert request.transport is not None
    request.app[PEERS].add(request.transport.get_extra_info("peername"))
    return await handler(request)


async def _graphql(request: web.Request) -> web.Response:
    body = await request.json(loads=orjson.loads)
    echoed = {
        name: request.headers.get(name)
        for name in ("content-type", "accept", "authorization", "x-tenant", "cookie")
    }
    return _json(
        {"data": {"query": body["query"], "variables": body["variables"], "headers": echoed}, "errors": []}
    )


async def _items(request: web.Request) -> web.Response:
    ids = request.query["ids"].split(",")
    return _json([{"id": id_, "lang": request.query.get("lang")} for id_ in ids])


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="failed")


async def _graphql_400(request: web.Request) -> web.Response:
    return _json({"errors": [{"message": "Cannot query field 'nope' on type 'Query'."}]}, status=400)


async def _invalid_json(request: web.Request) -> web.Response:
    return web.Response(text="{not json", content_type="application/json")


async def _not_object(request: web.Request) -> web.Response:
    return _json([1, 2, 3])


async def _huge(request: web.Request) -> web.Response:
    return web.Response(body=b" " * HUGE_BYTES, content_type="application/json")


async def _huge_chunked(request: web.Request) -> web.StreamResponse:
    # No Content-Length: the client can only find out by counting what it reads.
    response = web.StreamResponse(headers={"content-type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b" " * (1024 * 1024)
    for _ in range(HUGE_BYTES // len(chunk)):
        await response.write(chunk)
    await response.write_eof()
    return response


async def _sleep_cancellable(request: web.Request, where: str) -> None:
    try:
        await asyncio.sleep(2)
    except asyncio.CancelledError:
        request.app[CANCELLED].append(where)
        raise


async def _slow(request: web.Request) -> web.Response:
    await _sleep_cancellable(request, "slow")
    return _json({"data": {}})


async def _slow_body(request: web.Request) -> web.StreamResponse:
    # Headers arrive at once; the body stalls, so only a timeout covering the read can end the call.
    response = web.StreamResponse(headers={"content-type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b'{"data": ')
    await _sleep_cancellable(request, "slow-body")
    return response


async def _drop(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


def make_app() -> web.Application:
    app = web.Application(middlewares=[_track_peers])
    app[PEERS] = set()
    app[CANCELLED] = []
    app.router.add_post("/graphql", _graphql)
    app.router.add_post("/other/graphql", _graphql)
    app.router.add_get("/rest/items", _items)
    app.router.add_route("*", "/status/{code}", _status)
    app.router.add_post("/graphql-400", _graphql_400)
    app.router.add_route("*", "/invalid-json", _invalid_json)
    app.router.add_route("*", "/not-object", _not_object)
    app.router.add_route("*", "/huge", _huge)
    app.router.add_route("*", "/huge-chunked", _huge_chunked)
    app.router.add_post("/slow", _slow)
    app.router.add_post("/slow-body", _slow_body)
    app.router.add_post("/drop", _drop)
    return app


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    test_server = TestServer(make_app(), host="127.0.0.1", port=0)
    await test_server.start_server()
    yield test_server
    await test_server.close()


def service_at(server: TestServer, path: str, **options: Any) -> ServiceConfig:
    return ServiceConfig(name=options.pop("name", "catalog"), url=str(server.make_url(path)), **options)


@pytest.fixture
async def make_transport() -> AsyncIterator[Callable[..., HTTPTransport]]:
    made: list[HTTPTransport] = []

    def make(service: ServiceConfig, **options: Any) -> HTTPTransport:
        transport = HTTPTransport(service, **options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.close()
