"""`funnel serve` as a child process, over the example services: listening, answering, stopping on a signal;
`--no-batching`, `--workers N` on one port, and the errors that keep it from starting."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from examples.services.cluster import Cluster
from gateway.server.serving import event_loop_factory

from ..processes import Child, descendants, is_running, start_child
from .conftest import cluster_config

FUNNEL = str(Path(sys.executable).with_name("funnel"))
LOOP = "uvloop" if event_loop_factory() is not None else "asyncio"
QUERY = {"query": "{ orders(first: 20) { id product { name } } }"}

Serve = Callable[..., Awaitable[tuple[Child, str, str]]]


@pytest.fixture
def config_file(tmp_path: Path, cluster: Cluster) -> Path:
    path = tmp_path / "funnel.yaml"
    path.write_text(cluster_config(cluster))
    return path


@pytest.fixture
async def serve(config_file: Path) -> AsyncIterator[Serve]:
    """Start `funnel serve --config <the cluster's config> *args`: (child, GraphQL URL, the line it printed)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(*args: str) -> tuple[Child, str, str]:
            command = (FUNNEL, "serve", "--config", str(config_file), *args)
            child = await stack.enter_async_context(start_child(*command))
            line = await child.read_until("Funnel listening on ")
            return child, line.split()[3], line

        yield start


async def answer(http: aiohttp.ClientSession, url: str) -> list[dict[str, object]]:
    async with http.post(url, json=QUERY) as response:
        assert response.status == 200
        body = await response.json()
    assert "errors" not in body
    orders: list[dict[str, object]] = body["data"]["orders"]
    return orders


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_serve_answers_then_stops_on_a_signal(
    serve: Serve, http: aiohttp.ClientSession, cluster: Cluster, signum: int
) -> None:
    child, url, line = await serve("--host", "127.0.0.1")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/graphql")
    assert line == f"Funnel listening on {url} (batching on, 1 worker, {LOOP})\n"
    await cluster.reset_stats()

    orders = await answer(http, url)

    assert [o["id"] for o in orders] == [str(i) for i in range(1, 21)]
    assert (await cluster.stats("catalog"))["requests"] == 1
    assert await child.stop(signum) == 0


async def test_no_batching_sends_one_call_per_parent(
    serve: Serve, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    child, url, line = await serve("--no-batching")
    assert "(batching off, 1 worker," in line
    await cluster.reset_stats()
    await answer(http, url)
    assert (await cluster.stats("catalog"))["requests"] == 20
    assert await child.stop(signal.SIGTERM) == 0


async def test_workers_share_one_port(serve: Serve, http: aiohttp.ClientSession, cluster: Cluster) -> None:
    child, url, line = await serve("--workers", "3")
    assert line == f"Funnel listening on {url} (batching on, 3 workers, {LOOP})\n"
    workers = descendants(child.pid)
    assert len(workers) == 3

    for _ in range(6):  # separate connections, spread by the kernel over the workers
        async with aiohttp.ClientSession() as fresh:
            assert len(await answer(fresh, url)) == 20

    assert await child.stop(signal.SIGTERM) == 0
    assert [pid for pid in workers if is_running(pid)] == []


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_port_in_use_is_a_clear_error(config_file: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = (FUNNEL, "serve", "--config", str(config_file), "--port", str(port), "--workers", workers)
        async with start_child(*command) as child:
            assert await child.exit_code() == 1
            assert child.errors() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


async def test_config_problems_stop_it_before_listening(tmp_path: Path) -> None:
    (tmp_path / "funnel.yaml").write_text("services:\n  a:\n    url: nope\n")
    async with start_child(FUNNEL, "serve", cwd=tmp_path) as child:  # --config defaults to ./funnel.yaml
        assert await child.exit_code() == 1
        assert child.errors() == (
            "funnel.yaml:3: services.a.url: url must be an http(s) URL like http://host:port/path, got 'nope'\n"
            "1 problem in funnel.yaml\n"
        )
