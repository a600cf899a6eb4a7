"""`funnel demo` from a child process: four services and the gateway on free ports, a query answered, and
after Ctrl-C (SIGINT) nothing left running."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from examples.services.topology import SERVICE_NAMES, free_port_block
from gateway.cli.demo import TRY_QUERY, try_command

from ..processes import descendants, is_running, start_child

FUNNEL = str(Path(sys.executable).with_name("funnel"))


async def test_demo_starts_answers_and_stops_cleanly(http: aiohttp.ClientSession) -> None:
    port = free_port_block(5)
    base = f"http://127.0.0.1:{port}"
    async with start_child(FUNNEL, "demo", "--port", str(port)) as demo:
        await demo.read_until("Press Ctrl-C to stop.", timeout=60)
        banner = "".join(demo.lines)
        assert banner.startswith(
            "Funnel demo (batching on): the gateway and four example services.\n"
            f"  gateway   {base}/graphql  (open it in a browser to write queries)\n"
            f"  accounts  http://127.0.0.1:{port + 1}  (rest, pid "
        )
        assert f"  catalog   http://127.0.0.1:{port + 2}/graphql  (graphql, pid " in banner
        assert f"  orders    http://127.0.0.1:{port + 3}/graphql  (graphql, pid " in banner
        assert f"  reviews   http://127.0.0.1:{port + 4}/graphql  (graphql, pid " in banner
        assert f"  {try_command(base)}\n" in banner
        children = descendants(demo.pid)
        assert len(children) == len(SERVICE_NAMES)

        # what the printed curl command sends
        headers = {"content-type": "application/json", "funnel-debug": "plan"}
        async with http.post(
            base + "/graphql", data=f'{{"query": "{TRY_QUERY}"}}', headers=headers
        ) as response:
            assert response.status == 200
            body = await response.json()
        orders = body["data"]["orders"]
        assert [o["id"] for o in orders] == [str(i) for i in range(1, 101)]
        assert all(
            o["product"]["name"] and o["product"]["seller"]["name"] and o["buyer"]["name"] for o in orders
        )
        calls = [(c["service"], c["level"]) for c in body["extensions"]["funnel"]["calls"]]
        assert sorted(calls) == [
            ("accounts", 2),
            ("catalog", 1),
            ("orders", 0),
        ]  # the buyers wait for the sellers

        async with http.get(base + "/ready") as response:
            assert response.status == 200

        async with http.get(base + "/metrics") as response:  # the demo turns metrics on
            assert response.status == 200
            assert 'funnel_requests_total{operation="anonymous",outcome="ok"} 1.0' in await response.text()

        assert await demo.stop(signal.SIGINT) == 0, demo.output()
        assert [pid for pid in children if is_running(pid)] == []
        # the request logs (one line per request), nothing else
        logged = demo.errors().splitlines()
        assert len(logged) == 1 and " request " in logged[0] and "outcome=ok" in logged[0], demo.errors()


async def test_demo_without_batching(http: aiohttp.ClientSession) -> None:
    port = free_port_block(5)
    async with start_child(FUNNEL, "demo", "--port", str(port), "--no-batching") as demo:
        line = await demo.read_until("Funnel demo", timeout=60)
        assert line == "Funnel demo (batching off): the gateway and four example services.\n"
        await demo.read_until("Press Ctrl-C to stop.")
        query = {"query": "{ orders(first: 10) { product { name } } }"}
        async with http.post(
            f"http://127.0.0.1:{port}/graphql", json=query, headers={"funnel-debug": "plan"}
        ) as response:
            calls = (await response.json())["extensions"]["funnel"]["calls"]
        assert [c["service"] for c in calls].count("catalog") == 10
        assert await demo.stop(signal.SIGTERM) == 0, demo.output()


async def test_killing_a_service_of_the_demo_gives_partial_results_until_it_is_back(
    http: aiohttp.ClientSession,
) -> None:
    port = free_port_block(5)
    base = f"http://127.0.0.1:{port}"
    query = {"query": "{ orders(first: 3) { id product { name } buyer { name } } }"}

    async def ask() -> dict[str, Any]:
        async with http.post(base + "/graphql", json=query) as response:
            assert response.status == 200
            answer: dict[str, Any] = await response.json()
            return answer

    async with start_child(FUNNEL, "demo", "--port", str(port)) as demo:
        await demo.read_until("Press Ctrl-C to stop.", timeout=60)
        banner = "".join(demo.lines)
        match = re.search(r"Kill catalog \(kill (\d+)\) and send it again", banner)
        assert match is not None, banner
        catalog = int(match[1])
        assert "  metrics   " + base + "/metrics\n" in banner
        whole = await ask()
        assert "errors" not in whole and all(o["product"]["name"] for o in whole["data"]["orders"])

        os.kill(catalog, signal.SIGKILL)
        async with asyncio.timeout(30):
            while "service 'catalog' exited with code -9; restarting it in 0.5 s" not in demo.errors():
                await asyncio.sleep(0.02)
            partial = await ask()
            while "errors" not in partial:  # the gateway learns of the death with its next call (within ms)
                partial = await ask()
                await asyncio.sleep(0.01)
        # the gateway and the other services answer; only the products are missing
        orders = partial["data"]["orders"]
        assert [o["id"] for o in orders] == ["1", "2", "3"]
        assert [o["product"] for o in orders] == [None, None, None]
        assert all(
            o["buyer"]["name"] == w["buyer"]["name"]
            for o, w in zip(orders, whole["data"]["orders"], strict=True)
        )
        assert {e["extensions"]["service"] for e in partial["errors"]} == {"catalog"}
        assert [e["path"] for e in partial["errors"]] == [["orders", i, "product"] for i in range(3)]

        async with asyncio.timeout(30):  # restarted, and the breaker's next probe finds it
            while not re.search(r"service 'catalog' restarted \(pid \d+\)", demo.errors()):
                await asyncio.sleep(0.05)
            while "errors" in (answer := await ask()):
                await asyncio.sleep(0.1)
        assert answer == whole
        assert await demo.stop(signal.SIGINT) == 0, demo.output()
