"""The registry's cost: requests per second with a service registered through the registry on Redis against the
same service in the YAML config, and the time from a registration to the first call routed to it.

Over the example services as child processes (5 ms latency, a pool of 16 by default) and a `redis-server`:

- `yaml`: a `funnel serve` whose config names catalog and reviews (`compose: true`);
- `registry`: two `funnel serve` replicas whose config names catalog only, sharing `registry: {backend: redis}`;
  reviews is registered through the first, and the load goes to the second.

Both serve the same composed schema. The modes take turns in short rounds of C closed-loop clients asking for
`{ products(first: 10) { name reviews { rating } } }` (one catalog call, one reviews `_entities` call). Then,
K times: a second reviews instance is registered through the first replica, and the second replica is asked
until that instance has received a call (its own `/stats`), then it is deregistered. Reported: requests per
second, p50/p95 latency and errors per mode, the ratio registry / yaml, and the registration-to-first-call
times (p50, p95, max), which include the first replica's composing the registration (introspecting the new
instance) and the change reaching the second through Redis.

    python -m benchmarks.registry [--clients 16] [--seconds 12] [--rounds 4] [--registrations 20]
                                  [--latency-ms 5] [--max-concurrency 16] [--quick] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

from registry.client import RegistryClient

from .common import (
    add_common_arguments,
    add_service_arguments,
    gateway_process,
    listening_process,
    machine,
    percentile,
    redis_process,
    report,
    running_services,
    save_figure,
    subplots,
)

__all__ = ["QUERY", "main", "run"]

QUERY: Final = "{ products(first: 10) { name reviews { rating } } }"
TOKEN: Final = "benchmark-registry-token"
AUTH: Final = {"Authorization": f"Bearer {TOKEN}"}
INSTANCES: Final = "/registry/services/reviews/instances"
FIRST_CALL_TIMEOUT_S: Final = 30.0  # one registration's wait for its first call is bounded by this
MAX_POLLS: Final = 10_000  # and in count


@dataclass
class _Mode:
    samples: list[float] = field(default_factory=list)  # latencies, ms
    errors: int = 0
    seconds: float = 0.0


def _config(path: Path, urls: dict[str, str], *, reviews: bool, redis: str | None) -> Path:
    services = f"  catalog:\n    url: {urls['catalog']}/graphql\n    timeout_ms: 30000\n"
    if reviews:
        services += f"  reviews:\n    url: {urls['reviews']}/graphql\n    timeout_ms: 30000\n"
    text = f"compose: true\nservices:\n{services}cache:\n  inflight: false\n"
    if redis is not None:
        text += (
            f"redis:\n  url: {redis}\n"
            f"registry:\n  backend: redis\n  token: {TOKEN}\n  allowed_urls: ['http://127.0.0.1:*']\n"
        )
    path.write_text(text)
    return path


def _complete(payload: Any) -> bool:
    products = (payload.get("data") or {}).get("products") if isinstance(payload, dict) else None
    return (
        "errors" not in payload
        and isinstance(products, list)
        and len(products) == 10
        and all(isinstance(p.get("reviews"), list) for p in products)
    )


async def _round(
    http: aiohttp.ClientSession, url: str, clients: int, seconds: float, samples: list[float]
) -> int:
    """C clients back to back until the time is up; the errors."""
    body = orjson.dumps({"query": QUERY})
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
                    ok = response.status == 200 and _complete(orjson.loads(await response.read()))
            except (aiohttp.ClientError, ValueError):
                ok = False
            samples.append((time.perf_counter() - start) * 1e3)
            errors += not ok

    await asyncio.gather(*(client() for _ in range(clients)))
    return errors


async def _until_served(http: aiohttp.ClientSession, url: str) -> None:
    body = orjson.dumps({"query": QUERY})
    async with asyncio.timeout(FIRST_CALL_TIMEOUT_S):
        for _poll in range(MAX_POLLS):
            async with http.post(url, data=body, headers={"content-type": "application/json"}) as response:
                if response.status == 200 and _complete(orjson.loads(await response.read())):
                    return
            await asyncio.sleep(0.01)
    raise RuntimeError(f"{url} does not serve the registered reviews")


async def _requests(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(base + "/stats") as response:
        return int((await response.json())["requests"])


async def _registration_times(
    http: aiohttp.ClientSession, first: str, second: str, instance: str, count: int
) -> tuple[list[float], int]:
    """Register `instance` through `first`, ask `second` until the instance got a call; `count` times."""
    times: list[float] = []
    errors = 0
    body = orjson.dumps({"query": QUERY})
    for _ in range(count):
        before = await _requests(http, instance)
        start = time.perf_counter()
        async with http.post(
            first + INSTANCES, json={"url": instance + "/graphql"}, headers=AUTH
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"registering failed: {response.status} {await response.text()}")
            registered = await response.json()
        async with asyncio.timeout(FIRST_CALL_TIMEOUT_S):
            for _poll in range(MAX_POLLS):
                async with http.post(
                    second + "/graphql", data=body, headers={"content-type": "application/json"}
                ) as response:
                    errors += not (response.status == 200 and _complete(orjson.loads(await response.read())))
                if await _requests(http, instance) > before:
                    break
        times.append((time.perf_counter() - start) * 1e3)
        async with http.delete(f"{first}{INSTANCES}/{registered['id']}", headers=AUTH) as response:
            if response.status != 204:
                raise RuntimeError(f"deregistering failed: {response.status}")
    return times, errors


async def run(
    clients: int, seconds: float, rounds: int, registrations: int, latency_ms: float, pool: int
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        urls = stack.enter_context(running_services(latency_ms=latency_ms, max_concurrency=pool))
        redis = stack.enter_context(redis_process())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        yaml_url, _ = stack.enter_context(
            gateway_process(_config(tmp / "yaml.yaml", urls, reviews=True, redis=None))
        )
        shared = _config(tmp / "registry.yaml", urls, reviews=False, redis=redis)
        first_url, _ = stack.enter_context(gateway_process(shared))
        second_url, _ = stack.enter_context(gateway_process(shared))
        first, second = (u.removesuffix("/graphql") for u in (first_url, second_url))
        command = [sys.executable, "-m", "examples.services.reviews", "--port", "0"]
        command += ["--latency-ms", str(latency_ms), "--max-concurrency", str(pool)]
        extra, _ = stack.enter_context(listening_process(command))
        # reviews joins as a service would: registered, and kept so by heartbeats for the whole run.
        member = RegistryClient(first, "reviews", urls["reviews"] + "/graphql", token=TOKEN)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients * 2)) as http:
            await member.register()
            await member.start()  # heartbeats every ttl/3
            try:
                await _until_served(http, second_url)
                gateways = {"yaml": yaml_url, "registry": second_url}
                results = {mode: _Mode() for mode in gateways}
                for _ in range(rounds):
                    for mode, url in gateways.items():
                        result = results[mode]
                        started = time.monotonic()
                        result.errors += await _round(http, url, clients, seconds / rounds, result.samples)
                        result.seconds += time.monotonic() - started
                times, poll_errors = await _registration_times(http, first, second, extra, registrations)
            finally:
                await member.stop()
    runs: list[dict[str, Any]] = []
    for mode, result in results.items():
        samples = result.samples
        runs.append(
            {
                "mode": mode,
                "requests": len(samples),
                "rps": round(len(samples) / result.seconds, 1),
                "p50_ms": round(percentile(samples, 50), 2),
                "p95_ms": round(percentile(samples, 95), 2),
                "errors": result.errors,
            }
        )
    runs[1]["rps_ratio_vs_yaml"] = round(runs[1]["rps"] / runs[0]["rps"], 3)
    return {
        "benchmark": "registry",
        "settings": {
            "clients": clients,
            "seconds": seconds,
            "rounds": rounds,
            "registrations": registrations,
            "latency_ms": latency_ms,
            "max_concurrency": pool,
            "mode": "funnel serve (1 worker each); registry: two replicas over one redis-server",
        },
        "machine": machine(),
        "runs": runs,
        "registration_to_first_call_ms": {
            "samples": len(times),
            "p50": round(percentile(times, 50), 1),
            "p95": round(percentile(times, 95), 1),
            "max": round(max(times), 1),
            "errors": poll_errors,
        },
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (throughput, latency) = subplots(2)
    runs = result["runs"]
    throughput.bar([r["mode"] for r in runs], [r["rps"] for r in runs], color=["tab:blue", "tab:orange"])
    throughput.set_ylabel("requests per second")
    for run, style in zip(runs, ("-o", "--s"), strict=True):
        latency.plot(["p50", "p95"], [run["p50_ms"], run["p95_ms"]], style, label=run["mode"])
    latency.set_ylabel("latency (ms)")
    latency.legend()
    first = result["registration_to_first_call_ms"]
    settings = result["settings"]
    title = (
        f"Registered on Redis vs YAML: {settings['clients']} clients; registration to first call "
        f"p50 {first['p50']} ms, p95 {first['p95']} ms"
    )
    save_figure(figure, title, result, path)


COLUMNS: Final = ("mode", "requests", "rps", "p50_ms", "p95_ms", "errors", "rps_ratio_vs_yaml")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.registry", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=12.0, help="per mode, over all rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--registrations", type=int, default=20)
    add_service_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    clients, seconds, rounds, registrations = (
        (4, 1.0, 2, 3) if args.quick else (args.clients, args.seconds, args.rounds, args.registrations)
    )
    result = asyncio.run(run(clients, seconds, rounds, registrations, args.latency_ms, args.max_concurrency))
    report(result, COLUMNS, args, plot)
    first = result["registration_to_first_call_ms"]
    print(
        f"registration to first call routed to it ({first['samples']} times): p50 {first['p50']} ms, "
        f"p95 {first['p95']} ms, max {first['max']} ms, errors {first['errors']}"
    )


if __name__ == "__main__":
    main()
