"""`funnel demo` from a child process: four services and the gateway on free ports, a query answered, a second
orders instance joining through the registry, and after Ctrl-C (SIGINT) every instance deregistered and nothing
left running."""

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
from gateway.cli.demo import TRY_QUERY, register_command, try_command

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
        await demo.read_until("orders joined: ", timeout=60)
        children = descendants(demo.pid)
        assert len(children) == len(SERVICE_NAMES) + 1  # the second orders instance

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
        # the request logs (one line per request), the five registrations and their removals, nothing else
        logged = [line.split(" ", 2)[2] for line in demo.errors().splitlines()]
        requests = [line for line in logged if not line.startswith("funnel.registry: ")]
        assert len(requests) == 1 and " request " in requests[0] and "outcome=ok" in requests[0], logged
        registry = [
            (words[2], words[5]) for words in (line.split(" ") for line in logged if line not in requests)
        ]
        assert sorted(registry) == sorted(
            [(name, what) for name in (*SERVICE_NAMES, "orders") for what in ("registered", "removed")]
        ), logged


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


async def test_a_second_orders_instance_joins_takes_calls_and_everything_deregisters_at_the_stop(
    http: aiohttp.ClientSession,
) -> None:
    port = free_port_block(5)
    base = f"http://127.0.0.1:{port}"
    async with start_child(FUNNEL, "demo", "--port", str(port)) as demo:
        await demo.read_until("Press Ctrl-C to stop.", timeout=60)
        banner = "".join(demo.lines)
        assert f"  registry  {base}/registry  (in memory: each service registers itself there)\n" in banner
        assert (
            "A second orders instance joins in a moment. Register an instance yourself "
            "(the token is made for this run, shown only here):\n" in banner
        )
        token = re.search(r"'authorization: Bearer ([A-Za-z0-9_-]{32})'", banner)
        assert token is not None, banner
        reviews = f"http://127.0.0.1:{port + 4}/graphql"
        assert f"  {register_command(base, 'reviews', reviews, token[1])}\n" in banner

        joined = await demo.read_until("orders joined: ", timeout=60)
        match = re.fullmatch(
            r"orders joined: a second instance, (http://127\.0\.0\.1:\d+)/graphql \(pid (\d+)\), registered "
            r"itself; GET /registry lists both, and the calls to orders are spread over the two\.\n",
            joined,
        )
        assert match is not None, joined
        second = match[1]
        assert int(match[2]) in descendants(demo.pid)

        async with http.get(base + "/registry") as response:
            assert response.status == 200
            listed = await response.json()
        first = f"http://127.0.0.1:{port + 3}"
        assert {
            name: [(i["url"], i["protocol"], i["schema"]) for i in service["instances"]]
            for name, service in listed["services"].items()
        } == {
            "accounts": [(f"http://127.0.0.1:{port + 1}", "rest", "introspect")],
            "catalog": [(f"http://127.0.0.1:{port + 2}/graphql", "graphql", "introspect")],
            "orders": [
                (f"{first}/graphql", "graphql", "introspect"),
                (f"{second}/graphql", "graphql", "introspect"),
            ],
            "reviews": [(reviews, "graphql", "introspect")],
        }
        ids = {(name, i["id"]) for name, service in listed["services"].items() for i in service["instances"]}

        # Account.orders is one ordersByBuyerIds call with one key: the keys counted by the two orders instances
        # add up to the queries sent, and each instance answered some (health checks ask for no key)
        for instance in (first, second):
            async with http.post(instance + "/stats/reset") as response:
                assert response.status == 200
        sent = 40
        for buyer in range(1, sent + 1):
            query = {"query": f'{{ account(id: "{buyer}") {{ orders {{ id }} }} }}'}
            async with http.post(base + "/graphql", json=query) as response:
                answer = await response.json()
                assert "errors" not in answer and answer["data"]["account"]["orders"], answer
        keys = []
        for instance in (first, second):
            async with http.get(instance + "/stats") as response:
                keys.append((await response.json())["keys"])
        assert sum(keys) == sent and min(keys) > 0, keys

        # the printed curl line's token writes: the running reviews registered again (the same instance)
        headers = {"authorization": f"Bearer {token[1]}"}
        async with http.post(
            base + "/registry/services/reviews/instances", json={"url": reviews}, headers=headers
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["service"] == "reviews"

        children = descendants(demo.pid)
        assert len(children) == len(SERVICE_NAMES) + 1
        assert await demo.stop(signal.SIGINT) == 0, demo.output()
        assert demo.lines[-1].endswith("Stopped: every service deregistered, then exited.\n"), demo.output()
        assert [pid for pid in children if is_running(pid)] == []
        removed = re.findall(
            r"funnel\.registry: registry: (\w+) instance ([0-9a-f]{16}) removed", demo.errors()
        )
        assert sorted(removed) == sorted(ids), demo.errors()
        # the token is printed once, and never logged
        assert "".join(demo.lines).count(token[1]) == 1 and token[1] not in demo.errors()
