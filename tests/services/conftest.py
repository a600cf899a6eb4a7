from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from examples.services.common import start_app

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve apps on 127.0.0.1, port 0; each call answers the base URL. All stopped at teardown."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner, url = await start_app(app)
        runners.append(runner)
        return url

    yield start
    for runner in reversed(runners):
        await runner.cleanup()
