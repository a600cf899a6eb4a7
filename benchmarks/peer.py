"""The peer-shaped run: Funnel against the hand-written floor on the query peers are compared on.

Three services (orders and catalog over GraphQL, accounts over REST) with 5 ms latency and a pool of 16; the
query asks for 100 orders with their buyer, product and the product's seller (`benchmarks.floor.PEER_QUERY`).
Modes, each a server process over the same services:

- `floor`: `benchmarks.floor`, the optimal plan by hand (1 / 1 / 1 calls, three levels), no GraphQL machinery;
- `funnel`: `funnel serve`, one worker;
- `funnel-2w`: `funnel serve --workers 2`.

Each mode's answer is first checked to be the floor's, byte for byte. Then, per mode: downstream calls per query
(counted by the services over a sequential phase), sequential p50/p95 (one client), requests per second under C
closed-loop clients, the server's CPU per request (user + system time of the process and its workers over the load
phase, divided by the requests served) and its peak RSS. The modes take turns in rounds so that drift hits all.

    python -m benchmarks.peer [--clients 16] [--seconds 20] [--rounds 4] [--sequential 100] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

from .common import (
    add_common_arguments,
    add_service_arguments,
    cpu_seconds,
    gateway_config,
    gateway_process,
    listening_process,
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
from .floor import PEER_QUERY

__all__ = ["MODES", "main", "run"]

MODES: Final = ("floor", "funnel", "funnel-2w")
_CALLED: Final = ("orders", "catalog", "accounts")


@dataclass
class _Totals:
    """What one mode gathered over the rounds."""

    samples: list[float] = field(default_factory=list)  # sequential latencies, ms
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CALLED, 0))
    sequential: int = 0
    requests: int = 0  # under load
    seconds: float = 0.0
    cpu_s: float = 0.0
    errors: int = 0


@contextlib.contextmanager
def servers(urls: Mapping[str, str], folder: Path) -> Iterator[dict[str, tuple[str, int]]]:
    """Every mode's server over the services at `urls`: mode → (GraphQL URL, pid)."""
    config = gateway_config(urls, folder / "funnel.yaml")
    floor = [
        sys.executable,
        "-m",
        "benchmarks.floor",
        "--orders",
        urls["orders"] + "/graphql",
        "--catalog",
        urls["catalog"] + "/graphql",
        "--accounts",
        urls["accounts"],
    ]
    with (
        listening_process(floor) as floor_server,
        gateway_process(config) as one,
        gateway_process(config, options=("--workers", "2")) as two,
    ):
        yield {"floor": floor_server, "funnel": one, "funnel-2w": two}


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> bytes | None:
    """The answer's bytes, or None when it failed."""
    try:
        async with http.post(url, data=body, headers={"content-type": "application/json"}) as response:
            answer = await response.read()
            return answer if response.status == 200 else None
    except aiohttp.ClientError:
        return None


async def sequential(
    http: aiohttp.ClientSession, url: str, body: bytes, expected: bytes, count: int, samples: list[float]
) -> int:
    """`count` requests one after another; returns how many did not answer `expected`."""
    errors = 0
    for _ in range(count):
        start = time.perf_counter()
        answer = await _post(http, url, body)
        samples.append((time.perf_counter() - start) * 1e3)
        errors += answer != expected
    return errors


async def closed_loop(
    http: aiohttp.ClientSession, url: str, body: bytes, expected: bytes, clients: int, seconds: float
) -> tuple[int, int]:
    """C clients back to back until the time is up; returns (requests, errors)."""
    stop_at = time.monotonic() + seconds
    done = errors = 0

    async def client() -> None:
        nonlocal done, errors
        while time.monotonic() < stop_at:
            answer = await _post(http, url, body)
            done += 1
            errors += answer != expected

    await asyncio.gather(*(client() for _ in range(clients)))
    return done, errors


async def run(
    clients: int, seconds: float, rounds: int, count: int, latency_ms: float, pool: int
) -> dict[str, Any]:
    body = orjson.dumps({"query": PEER_QUERY})
    with (
        running_services(latency_ms=latency_ms, max_concurrency=pool) as urls,
        tempfile.TemporaryDirectory() as folder,
        servers(urls, Path(folder)) as modes,
    ):
        totals = {mode: _Totals() for mode in modes}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients * 2)) as http:
            expected = await _post(http, modes["floor"][0], body)
            if expected is None or b'"errors"' in expected:
                raise RuntimeError(f"the floor did not answer the query: {expected!r}")
            for mode, (url, _pid) in modes.items():
                answer = await _post(http, url, body)
                if answer != expected:
                    raise RuntimeError(f"{mode} answers differently from the floor: {answer!r:.300}")
            for _ in range(rounds):
                for mode, (url, pid) in modes.items():
                    total = totals[mode]
                    await reset_stats(http, urls)
                    total.errors += await sequential(
                        http, url, body, expected, count // rounds, total.samples
                    )
                    total.sequential += count // rounds
                    stats = await read_stats(http, urls)
                    for service in _CALLED:
                        total.calls[service] += stats[service]["requests"]
                    cpu_before, started = cpu_seconds(pid), time.monotonic()
                    done, errors = await closed_loop(http, url, body, expected, clients, seconds / rounds)
                    total.seconds += time.monotonic() - started
                    total.cpu_s += cpu_seconds(pid) - cpu_before
                    total.requests += done
                    total.errors += errors
        runs: list[dict[str, Any]] = [
            {
                "mode": mode,
                "calls_per_query": {s: round(c / t.sequential, 2) for s, c in t.calls.items()},
                "p50_ms": percentile(t.samples, 50),
                "p95_ms": percentile(t.samples, 95),
                "rps": t.requests / t.seconds,
                "cpu_ms_per_request": t.cpu_s * 1e3 / max(1, t.requests),
                "peak_rss_mb": round(peak_rss_mb(modes[mode][1]), 1),
                "errors": t.errors,
            }
            for mode, t in totals.items()
        ]
    floor = runs[0]
    for row in runs[1:]:
        row["p50_ratio_to_floor"] = row["p50_ms"] / floor["p50_ms"]
        row["cpu_ratio_to_floor"] = row["cpu_ms_per_request"] / floor["cpu_ms_per_request"]
        row["rps_ratio_to_floor"] = row["rps"] / floor["rps"]
    return {
        "benchmark": "peer",
        "settings": {
            "clients": clients,
            "seconds": seconds,
            "rounds": rounds,
            "sequential": count,
            "latency_ms": latency_ms,
            "max_concurrency": pool,
            "query": PEER_QUERY,
        },
        "machine": machine(),
        "runs": runs,
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (throughput, cpu) = subplots(2)
    modes = [r["mode"] for r in result["runs"]]
    throughput.bar(modes, [r["rps"] for r in result["runs"]], color=["tab:gray", "tab:blue", "tab:green"])
    throughput.set_ylabel(f"requests per second, {result['settings']['clients']} clients")
    cpu.bar(
        modes, [r["cpu_ms_per_request"] for r in result["runs"]], color=["tab:gray", "tab:blue", "tab:green"]
    )
    cpu.set_ylabel("server CPU per request (ms)")
    settings = result["settings"]
    title = (
        f"Funnel against the floor: services {settings['latency_ms']} ms, pool {settings['max_concurrency']}"
    )
    save_figure(figure, title, result, path)


COLUMNS = (
    "mode",
    "calls_per_query",
    "p50_ms",
    "p95_ms",
    "rps",
    "cpu_ms_per_request",
    "peak_rss_mb",
    "errors",
    "p50_ratio_to_floor",
    "cpu_ratio_to_floor",
    "rps_ratio_to_floor",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="of load per mode, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sequential", type=int, default=100, help="sequential requests per mode")
    add_service_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    clients, seconds, rounds, count = (
        (4, 1.0, 1, 10) if args.quick else (args.clients, args.seconds, args.rounds, args.sequential)
    )
    result = asyncio.run(run(clients, seconds, rounds, count, args.latency_ms, args.max_concurrency))
    report(result, COLUMNS, args, plot)


if __name__ == "__main__":
    main()
