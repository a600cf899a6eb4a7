from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import pytest

from examples.services.cluster import Cluster, run_cluster

from .helpers import get_json, graphql


async def test_every_service_answers(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    assert sorted(cluster.urls) == ["accounts", "catalog", "orders", "reviews"]
    for name, url in cluster.urls.items():
        assert url.startswith("http://127.0.0.1:")
        assert await get_json(http, f"{url}/health") == (200, {"status": "ok"}), name
        assert os.path.exists(cluster.db_paths[name])
    assert cluster.graphql_url("catalog") == cluster.urls["catalog"] + "/graphql"
    with pytest.raises(ValueError, match="accounts is a REST service"):
        cluster.graphql_url("accounts")


async def test_stats_and_reset(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    await graphql(http, cluster.graphql_url("catalog"), '{ productsByIds(ids: ["1", "2"]) { id } }')
    assert await cluster.stats("catalog") == {"requests": 1, "keys": 2, "peak_in_flight": 1}
    # cluster.stats reads the same counters GET /stats answers.
    assert await get_json(http, cluster.urls["catalog"] + "/stats") == (200, await cluster.stats("catalog"))
    await cluster.reset_stats()
    for name in cluster.urls:
        assert await cluster.stats(name) == {"requests": 0, "keys": 0, "peak_in_flight": 0}


async def test_temporary_databases_are_removed_on_exit() -> None:
    async with run_cluster() as cluster:
        paths = list(cluster.db_paths.values())
        urls = list(cluster.urls.values())
    assert not any(os.path.exists(path) for path in paths)
    async with aiohttp.ClientSession() as http:
        for url in urls:
            with pytest.raises(aiohttp.ClientConnectionError):
                await get_json(http, f"{url}/health")


async def test_db_dir_keeps_the_databases(tmp_path: Path) -> None:
    async with run_cluster(db_dir=str(tmp_path)) as cluster:
        assert cluster.db_paths["orders"] == str(tmp_path / "orders.sqlite3")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accounts.sqlite3",
        "catalog.sqlite3",
        "orders.sqlite3",
        "reviews.sqlite3",
    ]


async def test_latency_and_concurrency_apply_to_every_service(http: aiohttp.ClientSession) -> None:
    async with run_cluster(latency_ms=20, max_concurrency=2) as cluster:
        await asyncio.gather(
            *(get_json(http, f"{cluster.urls['accounts']}/accounts/{i}") for i in range(1, 7))
        )
        query = '{ product(id: "1") { id } }'
        await asyncio.gather(*(graphql(http, cluster.graphql_url("catalog"), query) for _ in range(6)))
        assert (await cluster.stats("accounts"))["peak_in_flight"] == 2
        assert (await cluster.stats("catalog"))["peak_in_flight"] == 2
