"""The gateway's own cost: Funnel against the floor — the same downstream requests made by hand.

Services answer with 0 ms latency, so what remains is the work of whoever makes the calls. For each query the
floor is a hand-written script that sends exactly the batched requests the plan sends (same sessions, same JSON
parsing) and does nothing else. Funnel runs in this process (`Gateway.execute`); gateway and floor requests
alternate. Reported: latency of each, their ratio, and the gateway's CPU beyond the floor per resolved field.

Observability's cost is measured side by side in the same run: one gateway per mode — observability off, metrics
on, metrics and tracing (spans batched to an exporter that drops them: the SDK's whole cost but the network),
and those plus a JSON request log line (written to /dev/null) — their requests interleaved with the floor's.
Each row says what its mode adds to the CPU time of a request over the gateway with observability off. The
modes that need packages not installed (`pip install -e ".[metrics,tracing]"`) are left out, with a note.

    python -m benchmarks.overhead [--iterations 300] [--quick] [--json benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from gateway.gateway import Gateway
from gateway.observability import Observability, configure_logging
from registry.config import LoggingConfig, ObservabilityConfig
from registry.errors import ConfigError

from .common import (
    add_common_arguments,
    count_fields,
    example_gateway,
    machine,
    median,
    percentile,
    report,
    running_services,
    save_figure,
    subplots,
)

__all__ = ["MODES", "main", "run"]

N = 100
# Observability modes, each a gateway of its own; "off" is the reference the others are compared with.
MODES = ("off", "metrics", "metrics+tracing", "metrics+tracing+logs")
QUERIES = {
    "flat": f"{{ orders(first: {N}) {{ id product {{ name price }} }} }}",
    "deep": f"{{ orders(first: {N}) {{ id product {{ name seller {{ name }} }} buyer {{ name }} }} }}",
}


class Floor:
    """The minimal client: the plan's requests, written by hand, one session per service."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = urls
        self.sessions = {name: aiohttp.ClientSession() for name in urls}

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()

    async def graphql(self, service: str, query: str, variables: dict[str, Any]) -> Any:
        body = orjson.dumps({"query": query, "variables": variables})
        headers = {"content-type": "application/json"}
        async with self.sessions[service].post(
            self.urls[service] + "/graphql", data=body, headers=headers
        ) as r:
            return orjson.loads(await r.read())["data"]

    async def accounts(self, ids: list[str]) -> Any:
        async with self.sessions["accounts"].get(
            self.urls["accounts"] + "/accounts", params={"ids": ",".join(ids)}
        ) as r:
            return orjson.loads(await r.read())

    async def orders(self, fields: str) -> list[dict[str, Any]]:
        data = await self.graphql(
            "orders", f"query($n: Int!) {{ orders(first: $n) {{ {fields} }} }}", {"n": N}
        )
        return data["orders"]

    async def products(self, ids: list[str], fields: str) -> list[dict[str, Any]]:
        query = f"query($ids: [ID!]!) {{ productsByIds(ids: $ids) {{ {fields} }} }}"
        return (await self.graphql("catalog", query, {"ids": ids}))["productsByIds"]

    async def flat(self) -> None:
        orders = await self.orders("id productId")
        await self.products(_distinct(o["productId"] for o in orders), "id name price")

    async def deep(self) -> None:
        orders = await self.orders("id productId buyerId")
        products, _ = await asyncio.gather(
            self.products(_distinct(o["productId"] for o in orders), "id name sellerId"),
            self.accounts(_distinct(o["buyerId"] for o in orders)),
        )
        await self.accounts(_distinct(p["sellerId"] for p in products))


def _distinct(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


async def measure(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await call()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def observability(mode: str) -> Observability | None:
    """The gateway's observability in one mode; ConfigError when a package it needs is not installed."""
    if mode == "off":
        return None
    config = ObservabilityConfig(metrics=True, logging=LoggingConfig() if mode.endswith("+logs") else None)
    if "tracing" not in mode:
        return Observability(config)
    Observability(config)  # raises the ConfigError of a missing package before the SDK is imported below
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Observability(config, span_processor=BatchSpanProcessor(Dropping()))


@contextlib.contextmanager
def request_logs_discarded() -> Iterator[None]:
    """The JSON request lines formatted and written, as in production, to /dev/null."""
    with open(os.devnull, "w") as devnull:
        handler = configure_logging(LoggingConfig(), devnull)
        try:
            yield
        finally:
            logger = logging.getLogger("funnel")
            logger.removeHandler(handler)
            logger.propagate = True


async def run(iterations: int, warmup: int, modes: Sequence[str] = MODES) -> dict[str, Any]:
    gateways: dict[str, Gateway] = {}
    with running_services(latency_ms=0) as urls, request_logs_discarded():
        for mode in modes:
            try:
                gateways[mode] = example_gateway(urls, observability=observability(mode))
            except ConfigError as error:
                print(f"note: observability {mode} left out: {error}", file=sys.stderr)
        floor = Floor(urls)
        runs = []
        try:
            for name, query in QUERIES.items():
                fields = count_fields((await gateways["off"].execute(query))["data"])
                calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [("floor", getattr(floor, name))]
                calls += [
                    (mode, functools.partial(gateway.execute, query)) for mode, gateway in gateways.items()
                ]
                for _ in range(warmup):
                    for _mode, call in calls:
                        await call()
                samples: dict[str, tuple[list[float], list[float]]] = {mode: ([], []) for mode, _ in calls}
                gc.collect()
                for i in range(iterations):
                    # rotate which goes first, so none always meets a warm or a cold connection pool
                    first = i % len(calls)
                    for mode, call in calls[first:] + calls[:first]:
                        wall, cpu = await measure(call)
                        samples[mode][0].append(wall)
                        samples[mode][1].append(cpu)
                floor_wall, floor_cpu = samples["floor"]
                off_wall, off_cpu = samples["off"]
                for mode in gateways:
                    gateway_wall, gateway_cpu = samples[mode]
                    extra_cpu_us = (median(gateway_cpu) - median(floor_cpu)) * 1e3
                    runs.append(
                        {
                            "query": name,
                            "observability": mode,
                            "n": N,
                            "fields": fields,
                            "gateway_p50_ms": median(gateway_wall),
                            "gateway_p95_ms": percentile(gateway_wall, 95),
                            "floor_p50_ms": median(floor_wall),
                            "floor_p95_ms": percentile(floor_wall, 95),
                            "latency_ratio": median(gateway_wall) / median(floor_wall),
                            "gateway_cpu_ms": median(gateway_cpu),
                            "floor_cpu_ms": median(floor_cpu),
                            "gateway_cpu_us_per_field": extra_cpu_us / fields,
                            # what this mode adds to a request over observability off (µs of CPU, p50 ratio)
                            "cpu_us_vs_off": (median(gateway_cpu) - median(off_cpu)) * 1e3,
                            "latency_ratio_vs_off": median(gateway_wall) / median(off_wall),
                        }
                    )
        finally:
            await floor.close()
            for gateway in gateways.values():
                await gateway.close()
    return {
        "benchmark": "overhead",
        "settings": {
            "iterations": iterations,
            "warmup": warmup,
            "latency_ms": 0,
            "mode": "in-process Gateway.execute",
            "observability": list(gateways),
        },
        "machine": machine(),
        "runs": runs,
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (latency, cpu) = subplots(2)
    queries = list(dict.fromkeys(r["query"] for r in result["runs"]))
    modes = result["settings"]["observability"]
    rows = {(r["query"], r["observability"]): r for r in result["runs"]}
    positions = range(len(queries))
    width = 0.8 / (len(modes) + 1)  # the floor and one bar per observability mode, side by side

    def offset(index: int) -> list[float]:
        return [p - 0.4 + width * (index + 0.5) for p in positions]

    latency.bar(offset(0), [rows[(q, "off")]["floor_p50_ms"] for q in queries], width, label="floor")
    for index, mode in enumerate(modes, 1):
        latency.bar(offset(index), [rows[(q, mode)]["gateway_p50_ms"] for q in queries], width, label=mode)
        cpu.bar(
            offset(index), [rows[(q, mode)]["gateway_cpu_us_per_field"] for q in queries], width, label=mode
        )
    latency.set_xticks(list(positions), queries)
    latency.set_ylabel("p50 latency (ms)")
    latency.legend(title="Funnel, observability")
    cpu.set_xticks(list(positions), queries)
    cpu.axhline(3.0, color="red", linestyle="--", label="target: 3 µs")
    cpu.set_ylabel("gateway CPU beyond the floor (µs per resolved field)")
    cpu.legend()
    save_figure(figure, "Funnel against the floor (0 ms services, N = 100)", result, path)


COLUMNS = (
    "query",
    "observability",
    "fields",
    "gateway_p50_ms",
    "floor_p50_ms",
    "latency_ratio",
    "gateway_p95_ms",
    "floor_p95_ms",
    "gateway_cpu_us_per_field",
    "cpu_us_vs_off",
    "latency_ratio_vs_off",
)  # the printed table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--iterations", type=int, default=300)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    iterations, warmup = (30, 5) if args.quick else (args.iterations, 30)
    result = asyncio.run(run(iterations, warmup))
    report(result, COLUMNS, args, plot)


if __name__ == "__main__":
    main()
