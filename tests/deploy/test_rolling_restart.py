"""A rolling restart under load loses no request: two `funnel serve` processes behind haproxy running
deploy/haproxy.cfg (its check is a Kubernetes readiness probe on /ready); each in turn is stopped with SIGTERM,
drains (its /ready turns 503, haproxy takes it out, it finishes what it has, then closes) and is started again,
while clients keep sending queries. Every query is answered in full."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from examples.services.cluster import run_cluster
from examples.services.topology import free_port

from ..processes import Child, start_child
from ..programs import require_program
from ..server.conftest import cluster_config

ROOT = Path(__file__).parents[2]
FUNNEL = str(Path(sys.executable).with_name("funnel"))
QUERY = {"query": "{ orders(first: 3) { id product { name } } }"}
CLIENTS = 4
MAX_REQUESTS = 20_000  # the load is bounded in count as well as in time
LOAD_TIMEOUT_S = 120.0
DRAIN_MS = 2000  # longer than haproxy's check interval (500 ms) plus its check timeout (1 s)


@dataclass
class Load:
    """Clients sending QUERY through the load balancer until told to stop: who answered, what failed."""

    url: str
    answered: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return sum(self.answered.values()) + len(self.failures)

    async def client(self, http: aiohttp.ClientSession) -> None:
        while not self.stopping.is_set() and self.total < MAX_REQUESTS:
            try:
                async with http.post(self.url, json=QUERY) as response:
                    body = await response.json(content_type=None)
                    replica = response.headers.get("funnel-replica", "?")
                    if response.status != 200 or "errors" in body or len(body["data"]["orders"]) != 3:
                        self.failures.append(f"{replica}: HTTP {response.status}: {body}")
                    else:
                        self.answered[replica] += 1
            except (aiohttp.ClientError, ValueError) as error:
                self.failures.append(f"{type(error).__name__}: {error}")

    async def until(self, replica: str, more: int) -> None:
        """Wait (bounded) until `replica` has answered `more` queries beyond what it had."""
        target = self.answered[replica] + more
        async with asyncio.timeout(30):
            while self.answered[replica] < target:
                await asyncio.sleep(0.05)


async def start_gateway(stack: contextlib.AsyncExitStack, config: Path, port: int) -> Child:
    child = await stack.enter_async_context(
        start_child(FUNNEL, "serve", "--config", str(config), "--port", str(port))
    )
    await child.read_until("Funnel listening on ")
    return child


@contextlib.asynccontextmanager
async def haproxy(bind: str, gateways: list[str]) -> AsyncIterator[Child]:
    program = require_program(["haproxy"], "haproxy")
    env = {
        "FUNNEL_LB_BIND": bind,
        "FUNNEL_GATEWAY_1": gateways[0],
        "FUNNEL_GATEWAY_2": gateways[1],
        "FUNNEL_LB_RETRIES": "0",  # no second chance: a request sent to a closed port would fail
    }
    async with start_child(program, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg"), env=env) as child:
        async with aiohttp.ClientSession() as http, asyncio.timeout(30):
            while True:  # bounded: until it listens and finds a replica ready
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://{bind}/health") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.05)
        yield child


async def test_a_rolling_restart_behind_haproxy_fails_no_request(tmp_path: Path) -> None:
    async with run_cluster(latency_ms=20) as cluster, contextlib.AsyncExitStack() as stack:
        config = tmp_path / "funnel.yaml"
        config.write_text(cluster_config(cluster, f"  port: 0\n  drain_ms: {DRAIN_MS}\n"))
        ports = [free_port(), free_port()]
        gateways = {
            f"gateway-{i + 1}": await start_gateway(stack, config, port) for i, port in enumerate(ports)
        }
        lb_port = free_port()
        await stack.enter_async_context(haproxy(f"127.0.0.1:{lb_port}", [f"127.0.0.1:{p}" for p in ports]))

        load = Load(f"http://127.0.0.1:{lb_port}/graphql")
        http = await stack.enter_async_context(aiohttp.ClientSession())
        async with asyncio.timeout(LOAD_TIMEOUT_S):
            clients = [asyncio.ensure_future(load.client(http)) for _ in range(CLIENTS)]
            try:
                for name in gateways:
                    await load.until("gateway-1", 20)
                    await load.until("gateway-2", 20)
                    assert load.failures == []
                    before = load.answered.copy()
                    assert await gateways[name].stop(signal.SIGTERM) == 0  # drained, then exited
                    others = [other for other in gateways if other != name]
                    # the other replica answered meanwhile
                    assert all(load.answered[other] > before[other] for other in others)
                    gateways[name] = await start_gateway(stack, config, ports[int(name[-1]) - 1])
                    await load.until(name, 20)  # back in the load balancer's rotation
            finally:
                load.stopping.set()
                await asyncio.gather(*clients)
        assert load.failures == []
        assert load.total < MAX_REQUESTS, "the load ran out of requests before the restart was over"
