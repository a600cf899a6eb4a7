"""`funnel serve --workers N`: one /metrics that sums every worker's counters (prometheus-client's multiprocess
mode, in a directory the supervisor owns and removes), the `funnel-worker` header, and a dead worker started
again while the others keep answering."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from examples.services.cluster import Cluster
from gateway.server.serving import WORKER_HEADER

from ..processes import descendants, is_running, start_child
from .conftest import cluster_config

FUNNEL = str(Path(sys.executable).with_name("funnel"))
QUERY = {"query": "{ orders(first: 5) { id product { name } } }"}
REQUESTS = 30


@pytest.fixture
def config_file(tmp_path: Path, cluster: Cluster) -> Path:
    path = tmp_path / "funnel.yaml"
    path.write_text(cluster_config(cluster, "  port: 0\n  workers: 3\n", "observability:\n  metrics: true\n"))
    return path


async def ask(url: str) -> str:
    """One query on a connection of its own (the kernel picks a worker per connection): the worker's name."""
    async with aiohttp.ClientSession() as fresh, fresh.post(url + "/graphql", json=QUERY) as response:
        assert response.status == 200
        body = await response.json()
        assert "errors" not in body and len(body["data"]["orders"]) == 5
        return response.headers[WORKER_HEADER]


def sample(text: str, series: str) -> float:
    """The value of one series (name and labels exactly as exposed) in a Prometheus text exposition."""
    found = re.findall(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert len(found) == 1, f"{series} appears {len(found)} times in\n{text}"
    return float(found[0])


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as fresh, fresh.get(url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


async def test_metrics_are_summed_across_workers(config_file: Path, cluster: Cluster) -> None:
    async with start_child(FUNNEL, "serve", "--config", str(config_file)) as child:
        line = await child.read_until("Funnel listening on ")
        assert "(batching on, 3 workers," in line
        url = line.split()[3].removesuffix("/graphql")
        directories = [d for d in os.listdir("/tmp") if d.startswith("funnel-metrics-")]
        await cluster.reset_stats()

        answered_by = [await ask(url) for _ in range(REQUESTS)]

        assert set(answered_by) <= {"1", "2", "3"}
        assert len(set(answered_by)) >= 2, f"every request went to one worker: {answered_by}"
        assert (await cluster.stats("catalog"))["requests"] == REQUESTS
        # Whichever worker answers the scrape, the counters are the sums over all workers.
        for _ in range(3):
            text = await scrape(url)
            assert sample(text, 'funnel_requests_total{operation="anonymous",outcome="ok"}') == REQUESTS
            assert sample(text, 'funnel_request_duration_seconds_count{operation="anonymous"}') == REQUESTS
            assert (
                sample(
                    text,
                    'funnel_downstream_calls_total{binding="Order.product",outcome="ok",service="catalog"}',
                )
                == REQUESTS
            )
        # The state read at scrape time (here the document cache) is copied to the shared files every second
        # by each worker: one miss per worker that parsed the query, a hit for every other request.
        workers_hit = len(set(answered_by))
        async with asyncio.timeout(10):
            while True:
                text = await scrape(url)
                if sample(text, 'funnel_cache_misses_total{cache="document"}') == workers_hit:
                    break
                await asyncio.sleep(0.2)
        assert sample(text, 'funnel_cache_hits_total{cache="document"}') == REQUESTS - workers_hit

        assert await child.stop(signal.SIGTERM) == 0
    # the supervisor's metrics directory is gone with it
    assert [d for d in os.listdir("/tmp") if d.startswith("funnel-metrics-") and d not in directories] == []


async def test_a_dead_worker_is_started_again(config_file: Path) -> None:
    async with start_child(FUNNEL, "serve", "--config", str(config_file)) as child:
        url = (await child.read_until("Funnel listening on ")).split()[3].removesuffix("/graphql")
        workers = descendants(child.pid)
        assert len(workers) == 3
        killed = workers[0]
        os.kill(killed, signal.SIGKILL)

        async with asyncio.timeout(20):  # bounded: the supervisor notices and starts a new one
            while True:
                now = [pid for pid in descendants(child.pid) if is_running(pid)]
                if len(now) == 3 and killed not in now:
                    break
                await asyncio.sleep(0.05)
        for _ in range(6):
            await ask(url)
        assert re.fullmatch(
            rf"error: worker [123] \(pid {killed}\) exited with code -9; starting it again in 0.5 s\n",
            child.errors(),
        ), child.errors()
        assert await child.stop(signal.SIGTERM) == 0
        assert [pid for pid in now if is_running(pid)] == []
