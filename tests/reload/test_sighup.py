"""SIGHUP makes `funnel serve` reload its schema at once — with `--workers`, the supervisor passes it on to every
worker — with file watching off (`server.watch_ms: 0`), so that nothing else could have caused it."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from examples.services.cluster import Cluster
from gateway.server.serving import WORKER_HEADER
from tests.engine.conftest import EXAMPLE_SCHEMA

from ..processes import start_child
from .test_hot_reload import NO_SHELVES, SHELVES, config_text

FUNNEL = str(Path(sys.executable).with_name("funnel"))
SHELVES_QUERY = {"query": "{ shelves(count: 1, size: 1) { id } }"}


@pytest.mark.parametrize("workers", [1, 2])
async def test_sighup_reloads_every_worker(tmp_path: Path, cluster: Cluster, workers: int) -> None:
    (tmp_path / "gateway.graphql").write_text(EXAMPLE_SCHEMA.read_text())
    (tmp_path / "funnel.yaml").write_text(config_text(cluster, "  port: 0\n  watch_ms: 0\n"))
    argv = [FUNNEL, "serve", "--workers", str(workers)]
    async with start_child(*argv, cwd=tmp_path) as child:
        url = (await child.read_until("Funnel listening on ")).split()[3]

        async def answers(count: int) -> dict[str, object]:
            """What each worker answers (by its funnel-worker header), over `count` fresh connections."""
            seen: dict[str, object] = {}
            for _ in range(count):
                async with aiohttp.ClientSession() as fresh, fresh.post(url, json=SHELVES_QUERY) as response:
                    seen[response.headers.get(WORKER_HEADER, "1")] = await response.json()
            return seen

        before = await answers(20)
        assert all(body == {"data": {"shelves": [[{"id": "1"}]]}} for body in before.values())
        (tmp_path / "gateway.graphql").write_text(EXAMPLE_SCHEMA.read_text().replace(SHELVES, ""))
        await asyncio.sleep(0.3)
        assert all(body != NO_SHELVES for body in (await answers(10)).values())  # not watched: unchanged
        child.process.send_signal(signal.SIGHUP)
        reloaded: dict[str, object] = {}
        async with asyncio.timeout(20):  # bounded: every worker answers with the new schema
            while len(reloaded) < workers:
                for worker, body in (await answers(10)).items():
                    if body == NO_SHELVES:
                        reloaded[worker] = body
                await asyncio.sleep(0.05)
        assert sorted(reloaded) == [str(n) for n in range(1, workers + 1)] if workers > 1 else ["1"]
        child.process.send_signal(signal.SIGTERM)
        assert await child.exit_code(timeout=30) == 0
