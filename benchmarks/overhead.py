"""The gateway's own cost: Funnel against the floor — the same downstream requests made by hand.

Services answer with 0 ms latency, so what remains is the work of whoever makes the calls. For each query the
floor is a hand-written script that sends exactly the batched requests the plan sends (same sessions, same JSON
parsing) and does nothing else. Funnel runs in this process (`Gateway.execute`); gateway and floor requests
alternate. Reported: latency of each, their ratio, and the gateway's CPU beyond the floor per resolved field.

    python -m benchmarks.overhead [--iterations 300] [--quick] [--json benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from .common import (
    add_common_arguments,
    count_fields,
    example_gateway,
    machine,
    median,
    percentile,
    print_table,
    running_services,
    save_figure,
    subplots,
    write_json,
)

__all__ = ["main", "run"]

N = 100
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


async def run(iterations: int, warmup: int) -> dict[str, Any]:
    with running_services(latency_ms=0) as urls:
        gateway = example_gateway(urls)
        floor = Floor(urls)
        runs = []
        try:
            for name, query in QUERIES.items():
                fields = count_fields((await gateway.execute(query))["data"])
                gateway_call = lambda q=query: gateway.execute(q)  # noqa: E731
                floor_call = getattr(floor, name)
                for _ in range(warmup):
                    await gateway_call()
                    await floor_call()
                samples: dict[str, tuple[list[float], list[float]]] = {"gateway": ([], []), "floor": ([], [])}
                gc.collect()
                for i in range(iterations):
                    # alternate which goes first, so neither always meets a warm or a cold connection pool
                    order = [("gateway", gateway_call), ("floor", floor_call)]
                    for mode, call in order if i % 2 == 0 else order[::-1]:
                        wall, cpu = await measure(call)
                        samples[mode][0].append(wall)
                        samples[mode][1].append(cpu)
                gateway_wall, gateway_cpu = samples["gateway"]
                floor_wall, floor_cpu = samples["floor"]
                extra_cpu_us = (median(gateway_cpu) - median(floor_cpu)) * 1e3
                runs.append(
                    {
                        "query": name,
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
                    }
                )
        finally:
            await floor.close()
            await gateway.close()
    return {
        "benchmark": "overhead",
        "settings": {
            "iterations": iterations,
            "warmup": warmup,
            "latency_ms": 0,
            "mode": "in-process Gateway.execute",
        },
        "machine": machine(),
        "runs": runs,
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (latency, cpu) = subplots(2)
    queries = [r["query"] for r in result["runs"]]
    positions = range(len(queries))
    width = 0.38
    latency.bar(
        [p - width / 2 for p in positions],
        [r["gateway_p50_ms"] for r in result["runs"]],
        width,
        label="Funnel",
    )
    latency.bar(
        [p + width / 2 for p in positions], [r["floor_p50_ms"] for r in result["runs"]], width, label="floor"
    )
    latency.set_xticks(list(positions), queries)
    latency.set_ylabel("p50 latency (ms)")
    latency.legend()
    cpu.bar(queries, [r["gateway_cpu_us_per_field"] for r in result["runs"]], color="tab:green")
    cpu.axhline(3.0, color="red", linestyle="--", label="target: 3 µs")
    cpu.set_ylabel("gateway CPU beyond the floor (µs per resolved field)")
    cpu.legend()
    save_figure(figure, "Funnel against the floor (0 ms services, N = 100)", result, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--iterations", type=int, default=300)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    iterations, warmup = (30, 5) if args.quick else (args.iterations, 30)
    result = asyncio.run(run(iterations, warmup))
    print_table(
        result["runs"],
        [
            "query",
            "fields",
            "gateway_p50_ms",
            "floor_p50_ms",
            "latency_ratio",
            "gateway_p95_ms",
            "floor_p95_ms",
            "gateway_cpu_us_per_field",
        ],
    )
    write_json(args.json, result)
    if args.plot:
        plot(result, args.plot)


if __name__ == "__main__":
    main()
