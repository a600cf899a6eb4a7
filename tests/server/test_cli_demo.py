"""`funnel demo` from a child process: four services and the gateway on free ports, a query answered, and
after Ctrl-C (SIGINT) nothing left running."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

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
        assert sorted(calls) == [("accounts", 1), ("accounts", 2), ("catalog", 1), ("orders", 0)]

        async with http.get(base + "/ready") as response:
            assert response.status == 200

        assert await demo.stop(signal.SIGINT) == 0, demo.output()
        assert [pid for pid in children if is_running(pid)] == []
        assert demo.errors() == ""


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
