"""gateway.fetching: every way a document fetch can go wrong is one FetchError with an exact reason."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from examples.services.common import start_app
from gateway.fetching import FetchError, fetch_bytes, graphql_data, post_graphql


async def _chunked(request: web.Request) -> web.StreamResponse:
    # No content-length: the cap must hold while the body is read, not only from the header.
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(11):
        await response.write(b"x" * 100)
    await response.write_eof()
    return response


async def _slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="late")


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/ok", _answer(b"fine", 200))
    app.router.add_get("/missing", _answer(b"{}", 404))
    app.router.add_get("/big", _answer(b"y" * 2000, 200))
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/slow", _slow)
    app.router.add_post("/graphql", _answer(b"<html>", 200))
    runner, url = await start_app(app)
    try:
        yield url
    finally:
        await runner.cleanup()


def _answer(body: bytes, status: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, status=status)

    return handle


async def test_a_good_answer_is_its_bytes() -> None:
    async with server() as url:
        assert await fetch_bytes(f"{url}/ok") == b"fine"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "HTTP 404 Not Found"),
        ("/big", "the answer is larger than 1000 bytes"),
        ("/chunked", "the answer is larger than 1000 bytes"),
        ("/slow", "no answer within 200 ms"),
    ],
)
async def test_each_failure_names_method_url_and_reason(path: str, reason: str) -> None:
    async with server() as url:
        with pytest.raises(FetchError) as caught:
            await fetch_bytes(f"{url}{path}", timeout=0.2, max_bytes=1000)
    assert (caught.value.reason, str(caught.value)) == (reason, f"GET {url}{path}: {reason}")


async def test_a_closed_port_cannot_connect() -> None:
    async with server() as url:
        pass  # stopped: nothing listens there any more
    with pytest.raises(FetchError) as caught:
        await fetch_bytes(f"{url}/ok", timeout=1)
    assert str(caught.value) == f"GET {url}/ok: cannot connect"


async def test_a_graphql_answer_that_is_not_json_is_refused() -> None:
    async with server() as url:
        with pytest.raises(FetchError) as caught:
            await post_graphql(f"{url}/graphql", "{ __typename }")
    assert str(caught.value) == f"POST {url}/graphql: the answer is not JSON"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"errors": [{"message": "no"}]}, "the service answered with an error: no"),
        ({"errors": ["odd"]}, "the service answered with an error: ['odd']"),
        ({"data": None}, "the answer has no data"),
    ],
)
def test_graphql_data_refuses_errors_and_missing_data(answer: dict[str, object], reason: str) -> None:
    with pytest.raises(FetchError) as caught:
        graphql_data("http://127.0.0.1:1/graphql", answer)
    assert caught.value.reason == reason


def test_graphql_data_is_the_data() -> None:
    assert graphql_data("http://127.0.0.1:1/graphql", {"data": {"a": 1}}) == {"a": 1}
