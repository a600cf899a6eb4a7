"""A service fails and recovers under load: the resilience policies on against off, side by side.

The example services run as child processes (5 ms latency, a pool of 16). Each gateway reaches catalog through
its own fault-injecting proxy, so that both modes see the same outage and the attempts each one makes are
counted even while catalog is "down". The timeline has three equal phases: healthy, failing (the proxies hang,
answer 503, or drop connections: `--fault`), recovered. C clients per gateway send the same query back to back
the whole time, both gateways at once.

Reported per mode and phase: requests, the success rate of each field group (orders from `orders`, buyers from
`accounts`, products from `catalog`, reviews from `reviews` through the products), p50/p99/max latency, the
attempts that reached catalog's proxy, and for the phase after the failure how long it took until answers were
complete again (`complete_after_s`: from the end of the failure to the first request with every product that is
followed by no incomplete one) and how many answers still lacked products after it ended (`incomplete`); and per
second, the success rate of the catalog fields. With catalog hung and a 2 s service timeout, a request costs at
most that timeout (a timed-out try is not retried on the only instance); after it comes back, the breaker's
probes (from 250 ms, backing off to `open_ms`) find it within about a second.

    python -m benchmarks.faults [--fault hang|error|down] [--clients 8] [--seconds 30] [--quick]
                                [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from gateway.gateway import Gateway
from registry.resilience import (
    BreakerPolicy,
    BulkheadPolicy,
    GatewayResilience,
    ResiliencePolicy,
    RetryPolicy,
)

from .common import (
    EXAMPLE_SCHEMA,
    add_common_arguments,
    add_service_arguments,
    machine,
    percentile,
    report,
    running_services,
    save_figure,
    service_configs,
    subplots,
)

__all__ = ["FaultProxy", "main", "run"]

QUERY = "{ orders(first: 10) { id buyer { name } product { name reviews { rating } } } }"
GROUPS = ("orders", "buyer", "product", "reviews")
PHASES = ("healthy", "failing", "recovered")
SERVICE_TIMEOUT_MS = 2000  # as in issue 11: a hung catalog must cost a request this, once

# Policies off: one try, a breaker that never opens, no concurrency cap, a deadline that never binds.
OFF = ResiliencePolicy(
    retry=RetryPolicy(attempts=1),
    breaker=BreakerPolicy(min_calls=10**9),
    bulkhead=BulkheadPolicy(max_in_flight=10**6, max_queue=10**6),
)
ON = ResiliencePolicy()  # the defaults


class FaultProxy:
    """A reverse proxy in front of one GraphQL service that can fail on demand and counts what reaches it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.fault: str | None = None  # None, "hang", "error" or "down"
        self.attempts: dict[str, int] = dict.fromkeys(PHASES, 0)
        self.phase = PHASES[0]
        self.recovered = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts[self.phase] += 1
        body = await request.read()
        if self.fault == "hang":
            await self.recovered.wait()  # held until the failure ends: the caller's timeout decides
        elif self.fault == "error":
            return web.json_response({"errors": [{"message": "catalog is failing"}]}, status=503)
        elif self.fault == "down":
            assert request.transport is not None
            request.transport.close()  # the connection drops: the caller sees a reset
            return web.Response(status=503)
        assert self.session is not None
        async with self.session.post(
            self.target, data=body, headers={"content-type": "application/json"}
        ) as r:
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")

    def enter(self, phase: str, fault: str | None) -> None:
        self.phase, self.fault = phase, fault
        if fault is None:
            self.recovered.set()
        else:
            self.recovered.clear()


@contextlib.asynccontextmanager
async def serving(proxy: FaultProxy) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/graphql", proxy.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proxy.session = aiohttp.ClientSession()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/graphql"
    finally:
        proxy.recovered.set()
        await proxy.session.close()
        await runner.cleanup()


def outcome(response: Mapping[str, Any]) -> dict[str, bool]:
    """Which field groups came back whole."""
    data = response.get("data") or {}
    orders = data.get("orders")
    if not isinstance(orders, list) or not orders:
        return dict.fromkeys(GROUPS, False)
    products = [o.get("product") for o in orders]
    return {
        "orders": True,
        "buyer": all(o.get("buyer") is not None for o in orders),
        "product": all(p is not None for p in products),
        "reviews": all(p is not None and isinstance(p.get("reviews"), list) for p in products),
    }


@dataclasses.dataclass
class Sample:
    at: float  # seconds since the start
    phase: str
    ms: float
    ok: dict[str, bool]


async def load(
    gateway: Gateway, clients: int, start: float, stop_at: float, phase: list[str]
) -> list[Sample]:
    samples: list[Sample] = []

    async def client() -> None:
        while time.monotonic() < stop_at:
            began = time.monotonic()
            response = await gateway.execute(QUERY)
            samples.append(
                Sample(began - start, phase[0], (time.monotonic() - began) * 1e3, outcome(response))
            )

    await asyncio.gather(*(client() for _ in range(clients)))
    return samples


async def run(fault: str, clients: int, seconds: float, latency_ms: float, pool: int) -> dict[str, Any]:
    with running_services(latency_ms=latency_ms, max_concurrency=pool) as urls:
        proxies = {
            "on": FaultProxy(urls["catalog"] + "/graphql"),
            "off": FaultProxy(urls["catalog"] + "/graphql"),
        }
        async with serving(proxies["on"]) as on_url, serving(proxies["off"]) as off_url:
            gateways = {}
            for mode, url, policy in (("on", on_url, ON), ("off", off_url, OFF)):
                services = {
                    name: dataclasses.replace(config, timeout_ms=SERVICE_TIMEOUT_MS, resilience=policy)
                    for name, config in service_configs(urls).items()
                }
                services["catalog"] = dataclasses.replace(services["catalog"], url=url)
                resilience = GatewayResilience(deadline_ms=10_000 if mode == "on" else 600_000)
                gateways[mode] = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), services, resilience=resilience)
                gateways[mode].freeze()
            phase = [PHASES[0]]
            start = time.monotonic()

            async def timeline() -> None:
                for i, name in enumerate(PHASES):
                    await asyncio.sleep(max(0.0, start + i * seconds / 3 - time.monotonic()))
                    phase[0] = name
                    for proxy in proxies.values():
                        proxy.enter(name, fault if name == "failing" else None)

            try:
                _, on_samples, off_samples = await asyncio.gather(
                    timeline(),
                    load(gateways["on"], clients, start, start + seconds, phase),
                    load(gateways["off"], clients, start, start + seconds, phase),
                )
            finally:
                for gateway in gateways.values():
                    await gateway.close()
    samples = {"on": on_samples, "off": off_samples}
    runs = [
        summary(mode, name, samples[mode], proxies[mode], seconds)
        for mode in ("on", "off")
        for name in PHASES
    ]
    series = {mode: timeseries(samples[mode], seconds) for mode in samples}
    return {
        "benchmark": "faults",
        "settings": {
            "fault": fault,
            "clients_per_mode": clients,
            "seconds": seconds,
            "latency_ms": latency_ms,
            "max_concurrency": pool,
            "service_timeout_ms": SERVICE_TIMEOUT_MS,
            "query": QUERY,
            "policies_on": dataclasses.asdict(ON),
            "policies_off": dataclasses.asdict(OFF),
        },
        "machine": machine(),
        "runs": runs,
        "series": series,
    }


def summary(
    mode: str, phase: str, samples: list[Sample], proxy: FaultProxy, seconds: float
) -> dict[str, Any]:
    mine = [s for s in samples if s.phase == phase]
    latencies = [s.ms for s in mine]
    rates = {g: round(sum(s.ok[g] for s in mine) / len(mine), 4) if mine else 0.0 for g in GROUPS}
    row: dict[str, Any] = {
        "mode": mode,
        "phase": phase,
        "requests": len(mine),
        "success": rates,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "catalog_attempts": proxy.attempts[phase],
        "attempts_per_request": round(proxy.attempts[phase] / max(1, len(mine)), 3),
        "complete_after_s": None,
        "incomplete": None,
    }
    if phase == "recovered":
        row.update(recovery(mine, PHASES.index(phase) * seconds / 3))
    return row


def recovery(samples: list[Sample], since: float) -> dict[str, Any]:
    """How long after `since` answers were complete for good, and how many were not after it."""
    incomplete = [s for s in samples if not s.ok["product"]]
    finished = [s.at + s.ms / 1e3 for s in incomplete]
    # Complete for good from the end of the last incomplete answer (or from the phase's start, if none was).
    complete_from = max(finished, default=since)
    return {"complete_after_s": round(complete_from - since, 3), "incomplete": len(incomplete)}


def timeseries(samples: list[Sample], seconds: float) -> list[dict[str, Any]]:
    """Per second: requests and the success rate of the catalog fields (products)."""
    buckets: list[list[Sample]] = [[] for _ in range(int(seconds) + 1)]
    for sample in samples:
        buckets[min(int(sample.at), len(buckets) - 1)].append(sample)
    return [
        {
            "second": i,
            "requests": len(b),
            "product_success": round(sum(s.ok["product"] for s in b) / len(b), 4) if b else None,
        }
        for i, b in enumerate(buckets)
    ]


def plot(result: dict[str, Any], path: str) -> None:
    figure, (success, latency) = subplots(2)
    for mode, style in (("on", "-o"), ("off", "--s")):
        points = [p for p in result["series"][mode] if p["product_success"] is not None]
        seconds = [p["second"] for p in points]
        success.plot(seconds, [p["product_success"] for p in points], style, label=f"policies {mode}")
        runs = [r for r in result["runs"] if r["mode"] == mode]
        latency.plot([r["phase"] for r in runs], [r["p99_ms"] for r in runs], style, label=f"policies {mode}")
    third = result["settings"]["seconds"] / 3
    success.axvspan(third, 2 * third, color="red", alpha=0.08, label="catalog failing")
    success.set_xlabel("seconds")
    success.set_ylabel("requests with every product (catalog) field")
    success.legend()
    latency.set_ylabel("p99 latency (ms)")
    latency.set_yscale("log")
    latency.legend()
    settings = result["settings"]
    fault, clients = settings["fault"], settings["clients_per_mode"]
    title = f"Funnel: catalog {fault}s for a third of the run, {clients} clients per mode"
    save_figure(figure, title, result, path)


COLUMNS = (
    "mode",
    "phase",
    "requests",
    "success",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "catalog_attempts",
    "attempts_per_request",
    "complete_after_s",
    "incomplete",
)  # the printed table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("--fault", choices=("hang", "error", "down"), default="hang")
    parser.add_argument("--clients", type=int, default=8, help="per mode")
    parser.add_argument("--seconds", type=float, default=30.0)
    add_service_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    clients, seconds = (4, 6.0) if args.quick else (args.clients, args.seconds)
    result = asyncio.run(run(args.fault, clients, seconds, args.latency_ms, args.max_concurrency))
    report(result, COLUMNS, args, plot)


if __name__ == "__main__":
    main()
