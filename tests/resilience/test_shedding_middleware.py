"""Load shedding: with the in-flight limit at K and K + M concurrent slow requests, exactly M get 503 at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from gateway.resilience.shedding import LoadShedder

K, M = 4, 6


@dataclass
class SlowApp:
    url: str
    shedder: LoadShedder
    entered: list[int]
    release: asyncio.Event


@pytest.fixture
async def slow_app() -> AsyncIterator[SlowApp]:
    """A small aiohttp app with the middleware: /slow waits until released, /health answers at once."""
    release = asyncio.Event()
    entered: list[int] = []
    shedder = LoadShedder(K, retry_after_s=2)

    async def slow(request: web.Request) -> web.Response:
        entered.append(1)
        await release.wait()
        return web.json_response({"data": {"ok": True}})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[shedder])
    app.router.add_post("/graphql", slow)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield SlowApp(f"http://127.0.0.1:{port}", shedder, entered, release)
    finally:
        release.set()
        await runner.cleanup()


async def test_exactly_m_of_k_plus_m_slow_requests_are_shed_with_retry_after(slow_app: SlowApp) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def post() -> tuple[int, str | None, dict[str, object]]:
            async with http.post(slow_app.url + "/graphql", json={"query": "{ ok }"}) as response:
                return response.status, response.headers.get("Retry-After"), await response.json()

        requests = [asyncio.ensure_future(post()) for _ in range(K + M)]
        # The shed ones answer while the K admitted ones are still held: wait for exactly M answers.
        shed: list[tuple[int, str | None, dict[str, object]]] = []
        pending = set(requests)
        while len(shed) < M:
            done, pending = await asyncio.wait(pending, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            assert done, "the shed requests must be answered without waiting for the slow ones"
            shed.extend(task.result() for task in done)
        assert len(shed) == M
        assert len(slow_app.entered) == K
        assert not any(task.done() for task in pending)
        # Probes are never shed, even at the limit.
        async with http.get(slow_app.url + "/health") as response:
            assert response.status == 200

        slow_app.release.set()
        admitted = await asyncio.gather(*pending)

    message = f"the gateway is overloaded ({K} requests in flight): retry later"
    assert shed == [(503, "2", {"errors": [{"message": message, "extensions": {"code": "OVERLOADED"}}]})] * M
    assert [status for status, _, _ in admitted] == [200] * K
    assert (slow_app.shedder.shed, slow_app.shedder.in_flight) == (M, 0)


async def test_after_the_load_every_request_is_admitted_again(slow_app: SlowApp) -> None:
    slow_app.release.set()
    async with aiohttp.ClientSession() as http:
        for _ in range(K + M):
            async with http.post(slow_app.url + "/graphql", json={"query": "{ ok }"}) as response:
                assert response.status == 200
    assert slow_app.shedder.shed == 0


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight must be at least 1, got 0"):
        LoadShedder(0)
