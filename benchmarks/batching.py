"""Batching on against off: downstream calls and latency for N = 10, 100, 1000, side by side in one run.

The example services run as child processes with a latency and a concurrency cap (defaults 5 ms and 16: a
real service with a pool). Five gateways over the same data answer the same queries. Three over the annotated
schema (examples/gateway.graphql): batching on (`on`: fetches of one service merged across levels where that
costs no time), batching on with strictly one call per service per level (`on-per-level`: `merge_levels:
false`), and batching off (`off`: one call per parent). Two over the services as an Apollo Federation supergraph
(examples/federation/services: the annotated schema's types and fields, but for shelves, the mutations and
Review.author, every join an `_entities` call to a subgraph endpoint of the same services): `federation-on` and
`federation-off`. Requests alternate between them so that drift hits all. Calls and keys (ids, and `_entities`
representations) are read from the services' own `/stats`, per query.

    python -m benchmarks.batching [--latency-ms 5] [--max-concurrency 16] [--iterations 10]
                                  [--quick] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp

from gateway.gateway import Gateway

from .common import (
    SERVICES,
    add_common_arguments,
    add_service_arguments,
    example_gateway,
    federation_gateway,
    machine,
    median,
    percentile,
    read_stats,
    report,
    reset_stats,
    running_services,
    save_figure,
    subplots,
)

__all__ = ["QUERIES", "complete", "main", "run"]

QUERIES = {
    "flat": "{{ orders(first: {n}) {{ id product {{ name price }} }} }}",
    "deep": (
        "{{ orders(first: {n}) {{ id product {{ name seller {{ name }} reviews {{ rating }} }} buyer {{ name }} }} }}"
    ),
}


def complete(response: dict[str, Any], n: int) -> bool:
    """No errors, N orders, and no null anywhere: every field the query asked for is present."""

    def no_nulls(value: Any) -> bool:
        if isinstance(value, dict):
            return all(v is not None and no_nulls(v) for v in value.values())
        if isinstance(value, list):
            return all(no_nulls(v) for v in value)
        return value is not None

    data = response.get("data")
    return "errors" not in response and isinstance(data, dict) and len(data["orders"]) == n and no_nulls(data)


async def counted(
    http: aiohttp.ClientSession, urls: dict[str, str], gateway: Gateway, query: str
) -> tuple[dict[str, Any], dict[str, int], dict[str, int]]:
    """One request with the services' counters reset before: what this query costs downstream."""
    await reset_stats(http, urls)
    response = await gateway.execute(query)
    stats = await read_stats(http, urls)
    return response, {s: stats[s]["requests"] for s in SERVICES}, {s: stats[s]["keys"] for s in SERVICES}


async def run(sizes: list[int], iterations: int, latency_ms: float, max_concurrency: int) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with running_services(latency_ms=latency_ms, max_concurrency=max_concurrency) as urls:
        gateways = {
            "on": example_gateway(urls),
            "on-per-level": example_gateway(urls, merge_levels=False),
            "off": example_gateway(urls, batching=False),
            "federation-on": federation_gateway(urls),
            "federation-off": federation_gateway(urls, batching=False),
        }
        async with aiohttp.ClientSession() as http:
            try:
                for name, template in QUERIES.items():
                    for n in sizes:
                        runs += await measure(http, urls, gateways, name, template.format(n=n), n, iterations)
            finally:
                for gateway in gateways.values():
                    await gateway.close()
    return {
        "benchmark": "batching",
        "settings": {
            "latency_ms": latency_ms,
            "max_concurrency": max_concurrency,
            "iterations": iterations,
            "sizes": sizes,
            "mode": "in-process Gateway.execute",
            "federation": "examples/federation/services/supergraph.graphql",
        },
        "machine": machine(),
        "runs": runs,
    }


async def measure(
    http: aiohttp.ClientSession,
    urls: dict[str, str],
    gateways: dict[str, Gateway],
    name: str,
    query: str,
    n: int,
    iterations: int,
) -> list[dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for mode, gateway in gateways.items():
        response, calls, keys = await counted(http, urls, gateway, query)
        results[mode] = {
            "query": name,
            "n": n,
            "mode": mode,
            "calls": calls,
            "keys": keys,
            "complete": complete(response, n),
        }
        results[mode]["errors"] = len(response.get("errors", []))
    timings: dict[str, list[float]] = {mode: [] for mode in gateways}
    for i in range(iterations):
        order = list(gateways.items()) if i % 2 == 0 else list(gateways.items())[::-1]
        for mode, gateway in order:
            start = time.perf_counter()
            response = await gateway.execute(query)
            timings[mode].append((time.perf_counter() - start) * 1e3)
            if not complete(response, n):
                results[mode]["complete"] = False
                results[mode]["errors"] += len(response.get("errors", [])) or 1
    for mode, samples in timings.items():
        results[mode].update(p50_ms=median(samples), p95_ms=percentile(samples, 95), samples=len(samples))
    for on, off in (results["on"], results["off"]), (results["federation-on"], results["federation-off"]):
        on["calls_ratio_off_on"] = sum(off["calls"].values()) / max(1, sum(on["calls"].values()))
        on["latency_ratio_off_on"] = off["p50_ms"] / on["p50_ms"]
    for batching in ("on", "off"):
        federated = results[f"federation-{batching}"]
        federated["latency_ratio_federation_annotation"] = federated["p50_ms"] / results[batching]["p50_ms"]
    return [results[mode] for mode in gateways]


STYLES = {  # mode: line style, label
    "on": ("-o", "batching on"),
    "on-per-level": (":^", "batching on, per level"),
    "off": ("--s", "batching off"),
    "federation-on": ("-.D", "federation, batching on"),
    "federation-off": ("-.x", "federation, batching off"),
}


def plot(result: dict[str, Any], path: str) -> None:
    figure, (latency, calls) = subplots(2)
    for query in QUERIES:
        for mode, (style, name) in STYLES.items():
            runs = [r for r in result["runs"] if r["query"] == query and r["mode"] == mode]
            sizes = [r["n"] for r in runs]
            label = f"{query}, {name}"
            latency.plot(sizes, [r["p50_ms"] for r in runs], style, label=label)
            calls.plot(sizes, [sum(r["calls"].values()) for r in runs], style, label=label)
    for axes, label in ((latency, "p50 latency (ms)"), (calls, "downstream calls per query")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("N (orders in the query)")
        axes.set_ylabel(label)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    settings = result["settings"]
    title = (
        "Funnel: batching on vs off, annotations and federation"
        f" — services {settings['latency_ms']} ms, pool {settings['max_concurrency']}"
    )
    save_figure(figure, title, result, path)


COLUMNS = (
    "query",
    "n",
    "mode",
    "calls",
    "keys",
    "p50_ms",
    "p95_ms",
    "calls_ratio_off_on",
    "latency_ratio_off_on",
    "latency_ratio_federation_annotation",
    "errors",
)  # the printed table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.batching", description=__doc__.splitlines()[0]
    )
    add_service_arguments(parser)
    parser.add_argument("--iterations", type=int, default=10)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    sizes, iterations = ([10, 100], 2) if args.quick else ([10, 100, 1000], args.iterations)
    result = asyncio.run(run(sizes, iterations, args.latency_ms, args.max_concurrency))
    report(result, COLUMNS, args, plot)


if __name__ == "__main__":
    main()
