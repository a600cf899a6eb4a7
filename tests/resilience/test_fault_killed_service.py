"""A service killed in the middle of a load, then brought back: every request answers, only the dead service's
fields fail, the breaker opens and stops the attempts, and closes again once the service is back.

catalog runs as a child process (`python -m examples.services.catalog`) so that it can be killed outright
(SIGKILL: connections reset mid-request) and started again on the same port; orders and accounts run in this
process. Attempts are counted twice: by catalog's own /stats while it lives, and on the wire below the policies
(a dead service counts nothing).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from examples.services.cluster import Cluster
from examples.services.topology import free_port
from registry.resilience import BreakerPolicy, GatewayResilience, ResiliencePolicy, RetryPolicy

from .conftest import ORDERS_QUERY, Faulty, check_products_failed, example_gateway, expected_orders

ROOT = Path(__file__).resolve().parents[2]

POLICY = ResiliencePolicy(
    retry=RetryPolicy(
        attempts=2, backoff_base_ms=1, backoff_max_ms=5, budget_ratio=0.1, min_retries_per_second=1
    ),
    # The window holds the whole test, so the healthy calls before the kill count too.
    breaker=BreakerPolicy(failure_rate=0.5, window_ms=60_000, min_calls=5, open_ms=1000, half_open_probes=1),
)
LOAD, CONCURRENCY, KILL_AFTER = 60, 4, 15
WHILE_DEAD = 30


class CatalogProcess:
    """catalog as a child process on a fixed port, with its database in a file that outlives it."""

    def __init__(self, port: int, db: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.command = [
            sys.executable,
            "-m",
            "examples.services.catalog",
            "--port",
            str(port),
            "--db",
            str(db),
            "--parent-pid",
            str(os.getpid()),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(400):  # up to 20 s to start
            assert self.process.poll() is None, "catalog exited during startup"
            try:
                async with http.get(self.url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("catalog did not start")

    def kill(self) -> None:
        """SIGKILL, and wait until it is gone (its sockets closed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def requests(self, http: aiohttp.ClientSession) -> int:
        async with http.get(self.url + "/stats") as response:
            stats: dict[str, int] = await response.json()
            return stats["requests"]


@pytest.fixture
def catalog_process(tmp_path: Path) -> Iterator[CatalogProcess]:
    process = CatalogProcess(free_port(), tmp_path / "catalog.sqlite3")
    yield process
    process.kill()


async def test_a_service_killed_mid_load_and_brought_back(
    cluster: Cluster, catalog_process: CatalogProcess, faulty_gateways: list[Faulty]
) -> None:
    catalog = catalog_process
    faulty = example_gateway(
        cluster,
        GatewayResilience(deadline_ms=5000),
        catalog={"url": catalog.url + "/graphql", "connect_timeout_ms": 200, "resilience": POLICY},
    )
    faulty_gateways.append(faulty)
    gateway, wire, breaker = faulty.gateway, faulty.attempts, faulty.stack("catalog").breaker
    expected = expected_orders(cluster)
    complete = {"data": {"orders": expected}}

    async with aiohttp.ClientSession() as http:
        # Healthy: every answer complete; the attempts on the wire are the requests catalog served.
        await catalog.start(http)
        for _ in range(10):
            assert await gateway.execute(ORDERS_QUERY) == complete
        assert wire["catalog"].sent == await catalog.requests(http) == 10

        # Killed in the middle of a load.
        semaphore = asyncio.Semaphore(CONCURRENCY)
        answered = 0

        async def one() -> dict[str, Any]:
            nonlocal answered
            async with semaphore:
                response = await gateway.execute(ORDERS_QUERY)
            answered += 1
            if answered == KILL_AFTER:
                catalog.kill()  # synchronously: no other request runs before catalog is gone
            return response

        responses = await asyncio.gather(*(one() for _ in range(LOAD)))

        failed = [check_products_failed(r, expected, "SERVICE_UNAVAILABLE") for r in responses]
        assert len(responses) == LOAD  # every request answered, orders and buyers complete in each
        assert failed.count(0) >= KILL_AFTER  # answered before the kill: complete
        # Started after the kill (all but the at most CONCURRENCY - 1 others in flight then): catalog's part failed.
        assert sum(n == len(expected) for n in failed) >= LOAD - KILL_AFTER - (CONCURRENCY - 1)
        assert breaker.opened >= 1

        # While it is dead, the breaker keeps the attempts from growing: only probes reach the wire, one per
        # open_ms at most, and each failing probe opens the circuit again.
        sent, opened = wire["catalog"].sent, breaker.opened
        for _ in range(WHILE_DEAD):
            response = await gateway.execute(ORDERS_QUERY)
            assert check_products_failed(response, expected, "SERVICE_UNAVAILABLE") == len(expected)
        probes = wire["catalog"].sent - sent
        assert probes == breaker.opened - opened
        assert probes < WHILE_DEAD
        assert breaker.state in ("open", "half_open")

        # Back on the same port: a probe goes through once open_ms has passed, and the circuit closes.
        await catalog.start(http)
        for _ in range(200):  # up to 10 s; open_ms is 1 s
            if await gateway.execute(ORDERS_QUERY) == complete:
                break
            await asyncio.sleep(0.05)
        assert breaker.state == "closed"
        served, sent = await catalog.requests(http), wire["catalog"].sent
        responses = await asyncio.gather(*(gateway.execute(ORDERS_QUERY) for _ in range(20)))
        assert responses == [complete] * 20
        assert await catalog.requests(http) - served == wire["catalog"].sent - sent == 20
