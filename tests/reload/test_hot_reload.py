"""Hot reload over a real server and the real example services: a changed gateway SDL or config is checked and
swapped in while serving; a bad one is refused with its problems (file:line), logged and counted, and the
running schema keeps serving; requests in flight during a swap finish on the version they began with."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services.cluster import Cluster, run_cluster
from gateway.gateway import Gateway
from gateway.reload import ReloadOutcome
from gateway.server import create_app
from gateway.server.app import WATCHER
from gateway.server.serving import listening
from tests.engine.conftest import EXAMPLE_SCHEMA
from tests.server.conftest import cluster_config

SHELVES = '  shelves(count: Int!, size: Int!): [[Product!]!]! @remote(service: "catalog")\n'
ORDERS = {"query": "{ orders(first: 2) { id product { name } } }"}
NO_SHELVES = {
    "errors": [
        {"message": "Cannot query field 'shelves' on type 'Query'.", "locations": [{"line": 1, "column": 3}]}
    ]
}


@dataclass
class Reloading:
    url: str
    gateway: Gateway
    app: web.Application
    folder: Path

    @property
    def sdl(self) -> Path:
        return self.folder / "gateway.graphql"

    @property
    def config(self) -> Path:
        return self.folder / "funnel.yaml"

    async def outcome(self, count: int, timeout_s: float = 10.0) -> ReloadOutcome:
        """The `count`-th reload's outcome, once the watcher has made it (bounded in time)."""
        watcher = self.app[WATCHER]
        async with asyncio.timeout(timeout_s):
            while len(watcher.outcomes) < count:
                await asyncio.sleep(0.02)
        return watcher.outcomes[count - 1]


StartReloading = Callable[..., Awaitable[Reloading]]


def config_text(
    cluster: Cluster, server: str = "  port: 0\n  debug_access: everyone\n", more: str = ""
) -> str:
    return cluster_config(cluster, server, more).replace(
        f"schema: {EXAMPLE_SCHEMA}", "schema: gateway.graphql"
    )


@pytest.fixture
async def start_reloading(tmp_path: Path, cluster: Cluster) -> AsyncIterator[StartReloading]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(*, on: Cluster = cluster, watch_ms: int = 50, more: str = "") -> Reloading:
            (tmp_path / "gateway.graphql").write_text(EXAMPLE_SCHEMA.read_text())
            (tmp_path / "funnel.yaml").write_text(config_text(on, more=more))
            gateway = Gateway.from_config(tmp_path / "funnel.yaml")
            assert gateway.config is not None
            app = create_app(gateway, dataclasses.replace(gateway.config.server, watch_ms=watch_ms))
            url = await stack.enter_async_context(listening(app, "127.0.0.1", 0, shutdown_timeout_s=5))
            return Reloading(url, gateway, app, tmp_path)

        yield start


async def post(http: aiohttp.ClientSession, server: Reloading, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(server.url + "/graphql", json=body) as response:
        return response.status, await response.json()


async def test_a_changed_schema_file_is_swapped_in(
    start_reloading: StartReloading, http: aiohttp.ClientSession
) -> None:
    server = await start_reloading()
    shelves = {"query": "{ shelves(count: 1, size: 1) { id } }"}
    status, body = await post(http, server, shelves)
    assert status == 200 and body == {"data": {"shelves": [[{"id": "1"}]]}}
    first = server.gateway.current.id
    async with http.get(server.url + "/ready") as response:
        assert (await response.json())["schema"]["version"] == first

    server.sdl.write_text(EXAMPLE_SCHEMA.read_text().replace(SHELVES, ""))
    outcome = await server.outcome(1)
    assert (outcome.status, outcome.problems, outcome.needs_restart) == ("applied", (), ())
    assert outcome.version == server.gateway.current.id != first
    assert await post(http, server, shelves) == (200, NO_SHELVES)
    assert (await post(http, server, ORDERS))[1]["data"]["orders"][0]["product"]["name"]
    async with http.get(server.url + "/ready") as response:
        assert (await response.json())["schema"]["version"] == outcome.version


async def test_a_bad_schema_is_refused_and_the_running_one_keeps_serving(
    start_reloading: StartReloading, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_reloading(more="observability:\n  metrics: true\n")
    running = server.gateway.current.id
    broken = EXAMPLE_SCHEMA.read_text().replace(
        '@remote(service: "catalog")', '@remote(service: "katalog")', 1
    )
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "katalog" in text)
    with caplog.at_level(logging.ERROR, logger="funnel.reload"):
        server.sdl.write_text(broken)
        outcome = await server.outcome(1)
    assert outcome.status == "refused" and outcome.version == running == server.gateway.current.id
    assert len(outcome.problems) == 1
    assert outcome.problems == (
        f"{server.sdl}:{line}: Query.products: unknown service 'katalog' (known: accounts, catalog, orders, reviews)",
    )
    assert [r.getMessage().splitlines()[-1] for r in caplog.records] == [outcome.problems[0]]
    status, body = await post(http, server, ORDERS)  # still the running schema
    assert status == 200 and "errors" not in body

    server.sdl.write_text(EXAMPLE_SCHEMA.read_text().replace(SHELVES, ""))  # fixed: applied
    assert (await server.outcome(2)).status == "applied"
    async with http.get(server.url + "/metrics") as response:
        text = await response.text()
    assert 'funnel_schema_reloads_total{outcome="refused"} 1.0' in text
    assert 'funnel_schema_reloads_total{outcome="applied"} 1.0' in text
    live = re.findall(r'^funnel_schema_version\{version="(\w+)"\} (\S+)$', text, re.M)
    assert [(version, float(value)) for version, value in live] == [
        (server.gateway.current.id, pytest.approx(server.gateway.current.loaded_at))
    ]


async def test_a_changed_setting_is_reported_as_needing_a_restart(
    start_reloading: StartReloading, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_reloading()
    running = server.gateway.current.id
    with caplog.at_level(logging.WARNING, logger="funnel.reload"):
        # Another line for the same settings changes nothing; max_depth does, and only at a restart.
        server.config.write_text(
            "# moved\n" + config_text(cluster, "  port: 0\n  debug_access: everyone\n  max_depth: 5\n")
        )
        outcome = await server.outcome(1)
    assert (outcome.status, outcome.version, outcome.needs_restart) == ("unchanged", running, ("server",))
    assert [r.getMessage() for r in caplog.records] == [
        f"{server.config} changed server: a restart applies it (the schema is reloaded now)"
    ]


async def test_requests_in_flight_finish_on_their_version_while_swaps_come(
    start_reloading: StartReloading, http: aiohttp.ClientSession
) -> None:
    async with run_cluster(latency_ms=30) as slow:
        server = await start_reloading(on=slow)
        with_shelves = EXAMPLE_SCHEMA.read_text()
        without = with_shelves.replace(SHELVES, "")
        answers: list[tuple[int, Any]] = []
        swaps = 0

        async def client() -> None:
            for _ in range(200):  # bounded; stops once the swaps are done
                answers.append(await post(http, server, ORDERS))
                if swaps == 4:
                    return

        clients = [asyncio.ensure_future(client()) for _ in range(4)]
        for swaps_done in range(1, 5):
            await asyncio.sleep(0.15)
            server.sdl.write_text(without if swaps_done % 2 else with_shelves)
            assert (await server.outcome(swaps_done)).status == "applied"
            swaps = swaps_done
        async with asyncio.timeout(30):
            await asyncio.gather(*clients)
    assert len(answers) >= 8
    assert all(
        status == 200 and "errors" not in body and len(body["data"]["orders"]) == 2
        for status, body in answers
    )


async def test_a_file_written_in_steps_is_read_once_whole(start_reloading: StartReloading) -> None:
    server = await start_reloading(watch_ms=10)
    text = EXAMPLE_SCHEMA.read_text().replace(SHELVES, "")
    with server.sdl.open("w") as file:  # truncated, then written in two halves, as a slow editor would
        file.flush()
        await asyncio.sleep(0.02)
        file.write(text[: len(text) // 2])
        file.flush()
        await asyncio.sleep(0.02)
        file.write(text[len(text) // 2 :])
    outcome = await server.outcome(1)
    await asyncio.sleep(0.2)  # time for more reloads, were there any to come
    assert [o.status for o in server.app[WATCHER].outcomes] == ["applied"]
    assert outcome.problems == ()


SHELVES_QUERY = {"query": "{ shelves(count: 1, size: 1) { id } }"}
WITH_SHELVES = {"data": {"shelves": [[{"id": "1"}]]}}


@pytest.mark.parametrize("changed", ["schema", "lock", "config"])
async def test_each_input_changed_under_load(
    tmp_path: Path, http: aiohttp.ClientSession, changed: str
) -> None:
    """A bad change first (refused: never live), then a good one, while clients keep asking: no failed request,
    and every answer is the old schema's until the swap and the new one's after, never a mix."""
    with_shelves = EXAMPLE_SCHEMA.read_text()
    without = with_shelves.replace(SHELVES, "")
    (tmp_path / "a.graphql").write_text(with_shelves)
    (tmp_path / "b.graphql").write_text(without)
    async with run_cluster(latency_ms=10) as slow:
        source = "compose: true\nschema_lock: a.graphql\n" if changed == "lock" else "schema: a.graphql\n"
        text = config_text(slow).replace("schema: gateway.graphql\n", source)
        config = tmp_path / "funnel.yaml"
        config.write_text(text)
        gateway = Gateway.from_config(config)
        assert gateway.config is not None
        app = create_app(gateway, dataclasses.replace(gateway.config.server, watch_ms=50))
        async with listening(app, "127.0.0.1", 0, shutdown_timeout_s=5) as url:
            server = Reloading(url, gateway, app, tmp_path)
            seen: list[list[Any]] = [[] for _ in range(4)]
            done = asyncio.Event()

            async def client(answers: list[Any]) -> None:
                for _ in range(500):  # bounded; ends once the good change is live
                    status, body = await post(http, server, SHELVES_QUERY)
                    answers.append(body if status == 200 else ("HTTP", status))
                    status, orders = await post(http, server, ORDERS)
                    assert status == 200 and "errors" not in orders and len(orders["data"]["orders"]) == 2
                    if done.is_set():
                        return

            clients = [asyncio.ensure_future(client(answers)) for answers in seen]
            await asyncio.sleep(0.2)
            if changed == "config":
                config.write_text(text.replace("schema: a.graphql", "schema: missing.graphql"))
            else:
                (tmp_path / "a.graphql").write_text(
                    with_shelves.replace('@remote(service: "catalog")', "@remote")
                )
            assert (await server.outcome(1)).status == "refused"
            await asyncio.sleep(0.2)
            if changed == "config":
                config.write_text(text.replace("schema: a.graphql", "schema: b.graphql"))
            else:
                (tmp_path / "a.graphql").write_text(without)
            assert (await server.outcome(2)).status == "applied"
            await asyncio.sleep(0.2)
            done.set()
            async with asyncio.timeout(30):
                await asyncio.gather(*clients)
    for answers in seen:
        assert answers and set(map(repr, answers)) <= {repr(WITH_SHELVES), repr(NO_SHELVES)}
        swapped = answers.index(
            NO_SHELVES
        )  # the new schema's answer from some point on, never the old one after
        assert swapped > 0 and all(a == WITH_SHELVES for a in answers[:swapped])
        assert all(a == NO_SHELVES for a in answers[swapped:])
