"""`funnel serve` drains on SIGTERM: /ready answers 503 at once, the port keeps taking requests for
`server.drain_ms`, then closes; the requests in flight finish; the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp

from examples.services.cluster import run_cluster
from examples.services.common import STATS_KEY

from ..processes import start_child
from .conftest import cluster_config

FUNNEL = str(Path(sys.executable).with_name("funnel"))
QUERY = {"query": "{ orders(first: 3) { id product { name } } }"}


async def orders_of(response: aiohttp.ClientResponse) -> list[str]:
    assert response.status == 200
    body = await response.json()
    assert "errors" not in body
    return [order["id"] for order in body["data"]["orders"]]


async def test_sigterm_turns_ready_off_then_closes_the_port_after_the_drain(tmp_path: Path) -> None:
    async with run_cluster(latency_ms=200) as slow:
        (tmp_path / "funnel.yaml").write_text(cluster_config(slow, "  port: 0\n  drain_ms: 3000\n"))
        async with start_child(FUNNEL, "serve", cwd=tmp_path) as child, aiohttp.ClientSession() as http:
            url = (await child.read_until("Funnel listening on ")).split()[3].removesuffix("/graphql")
            async with http.get(url + "/ready") as response:
                assert response.status == 200
            in_flight = asyncio.ensure_future(http.post(url + "/graphql", json=QUERY))
            orders = slow.apps["orders"][STATS_KEY]
            async with asyncio.timeout(10):
                while orders.in_flight == 0:  # the gateway waits for orders: the request is in flight
                    await asyncio.sleep(0.01)

            child.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):  # bounded: the signal reaches the child
                while True:
                    async with aiohttp.ClientSession() as fresh, fresh.get(url + "/ready") as response:
                        if response.status == 503:
                            assert await response.json() == {"status": "shutting down"}
                            break
                    await asyncio.sleep(0.02)
            # Still draining: a new connection is taken and its request answered in full.
            async with aiohttp.ClientSession() as fresh, fresh.post(url + "/graphql", json=QUERY) as response:
                assert await orders_of(response) == ["1", "2", "3"]

            async with asyncio.timeout(10), await in_flight as response:
                assert await orders_of(response) == ["1", "2", "3"]
            assert await child.exit_code(timeout=30) == 0
