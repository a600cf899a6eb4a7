"""Under load: a fixed number of concurrent clients for a fixed time against one gateway, batching on and off.

Each mode is a `funnel serve` child process over the same example services (5 ms latency, a pool of 16 by
default). The modes take turns in short rounds (on, off, on, off, ...) so that drift hits both; within a round
C clients send the query back to back. Reported per mode: requests per second, p50/p95/p99 latency, errors (must
be 0), the gateway process's peak RSS, and the downstream calls per request read from the services' `/stats`.

    python -m benchmarks.load [--clients 32] [--seconds 20] [--rounds 4] [--n 100] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .batching import QUERIES, complete
from .common import (
    SERVICES,
    add_common_arguments,
    add_service_arguments,
    gateway_config,
    gateway_process,
    machine,
    peak_rss_mb,
    percentile,
    read_stats,
    report,
    reset_stats,
    running_services,
    save_figure,
    subplots,
)

__all__ = ["main", "run"]


async def round_of_load(
    http: aiohttp.ClientSession,
    url: str,
    body: bytes,
    n: int,
    clients: int,
    seconds: float,
    samples: list[float],
) -> int:
    """C clients, back to back, until the time is up (each finishes its request in flight). Returns errors."""
    stop_at = time.monotonic() + seconds
    errors = 0

    async def client() -> None:
        nonlocal errors
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                async with http.post(
                    url, data=body, headers={"content-type": "application/json"}
                ) as response:
                    payload = orjson.loads(await response.read())
                    ok = response.status == 200 and complete(payload, n)
            except (aiohttp.ClientError, ValueError):
                ok = False
            samples.append((time.perf_counter() - start) * 1e3)
            errors += not ok

    await asyncio.gather(*(client() for _ in range(clients)))
    return errors


async def run(
    clients: int, seconds: float, rounds: int, n: int, latency_ms: float, pool: int
) -> dict[str, Any]:
    query = QUERIES["flat"].format(n=n)
    body = orjson.dumps({"query": query})
    runs = []
    with (
        running_services(latency_ms=latency_ms, max_concurrency=pool) as urls,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # Batching alone: identical requests in flight would otherwise share their calls (benchmarks.cache).
        configs = {
            mode: gateway_config(
                urls, Path(tmp) / f"{mode}.yaml", batching=mode == "on", extra="cache:\n  inflight: false\n"
            )
            for mode in ("on", "off")
        }
        with gateway_process(configs["on"]) as on, gateway_process(configs["off"]) as off:
            gateways = {"on": on, "off": off}
            results: dict[str, dict[str, Any]] = {
                mode: {
                    "samples": [],
                    "errors": 0,
                    "seconds": 0.0,
                    "requests": 0,
                    "calls": dict.fromkeys(SERVICES, 0),
                }
                for mode in gateways
            }
            connector = aiohttp.TCPConnector(limit=clients * 2)
            async with aiohttp.ClientSession(connector=connector) as http:
                for _ in range(rounds):
                    for mode, (url, _pid) in gateways.items():
                        result = results[mode]
                        await reset_stats(http, urls)
                        count_before = len(result["samples"])
                        started = time.monotonic()
                        result["errors"] += await round_of_load(
                            http, url, body, n, clients, seconds / rounds, result["samples"]
                        )
                        result["seconds"] += time.monotonic() - started
                        stats = await read_stats(http, urls)
                        done = len(result["samples"]) - count_before
                        for service in SERVICES:
                            result["calls"][service] += stats[service]["requests"]
                        result["requests"] += done
            for mode, (_url, pid) in gateways.items():
                result = results[mode]
                samples = result["samples"]
                runs.append(
                    {
                        "query": "flat",
                        "n": n,
                        "mode": mode,
                        "requests": len(samples),
                        "rps": len(samples) / result["seconds"],
                        "p50_ms": percentile(samples, 50),
                        "p95_ms": percentile(samples, 95),
                        "p99_ms": percentile(samples, 99),
                        "errors": result["errors"],
                        "calls_per_request": {
                            s: round(c / max(1, result["requests"]), 2) for s, c in result["calls"].items()
                        },
                        "peak_rss_mb": round(peak_rss_mb(pid), 1),
                    }
                )
    runs[0]["rps_ratio_on_off"] = runs[0]["rps"] / runs[1]["rps"]
    return {
        "benchmark": "load",
        "settings": {
            "clients": clients,
            "seconds": seconds,
            "rounds": rounds,
            "n": n,
            "latency_ms": latency_ms,
            "max_concurrency": pool,
            "mode": "funnel serve (1 worker)",
        },
        "machine": machine(),
        "runs": runs,
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (throughput, latency) = subplots(2)
    modes = [r["mode"] for r in result["runs"]]
    throughput.bar(
        [f"batching {m}" for m in modes], [r["rps"] for r in result["runs"]], color=["tab:blue", "tab:orange"]
    )
    throughput.set_ylabel("requests per second")
    for run, style in zip(result["runs"], ("-o", "--s"), strict=True):
        latency.plot(
            ["p50", "p95", "p99"],
            [run["p50_ms"], run["p95_ms"], run["p99_ms"]],
            style,
            label=f"batching {run['mode']}",
        )
    latency.set_yscale("log")
    latency.set_ylabel("latency (ms)")
    latency.legend()
    settings = result["settings"]
    title = (
        f"Funnel under load: {settings['clients']} clients, N = {settings['n']}, "
        f"services {settings['latency_ms']} ms, pool {settings['max_concurrency']}"
    )
    save_figure(figure, title, result, path)


COLUMNS = (
    "mode",
    "n",
    "requests",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors",
    "calls_per_request",
    "peak_rss_mb",
)  # the printed table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="per mode, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n", type=int, default=100)
    add_service_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    clients, seconds, rounds, n = (
        (8, 2.0, 2, 20) if args.quick else (args.clients, args.seconds, args.rounds, args.n)
    )
    result = asyncio.run(run(clients, seconds, rounds, n, args.latency_ms, args.max_concurrency))
    report(result, COLUMNS, args, plot)


if __name__ == "__main__":
    main()
