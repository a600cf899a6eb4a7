"""The entity cache: off, in-process memory, and memory in front of Redis, under a skewed workload, side by side.

Each mode is a fresh `funnel serve` child process (so its memory tier starts cold) over the same example
services (5 ms latency, a pool of 16 by default): `off` has no cache rules, `memory` caches every batched field
of `Product` and `Account` (Order.product, Order.buyer, Product.seller, Product.reviews) in process, `redis`
the same with a `redis-server` child process as the second tier. In-flight de-duplication is off in every mode,
so that the figures are the entity cache's alone. C closed-loop clients ask for pages of
`orders(first: 10, after: $after)` with the page drawn from a Zipf distribution (s = 1.1 over the 1,000 pages);
each client's stream of pages is seeded, the same in every mode. The modes take turns in short rounds so that
drift hits all (phase `steady`). Then each mode gets a second, fresh gateway process (phase `new replica`):
its memory tier starts cold, while in the redis mode Redis still holds what the first process stored — what
Redis is for: a replica started (or restarted) beside others asks the services only for what none of them has
fetched. Every client sends a fixed number of requests to it, from streams of pages of their own.

Reported per mode and phase: requests, requests per second, p50/p95 latency, downstream calls and keys per
request per service (the services' own `/stats`), the hit rate (the gateway's view: the keys its entity cache found, of
those it looked up, from `/metrics`, on in every mode), the keys saved (1 - keys per request / keys per request
of the off run of the same phase), and errors, which include every
sampled cached answer that differs from the answer of the `off` gateway for the same page (`mismatches`; must
be 0).

    python -m benchmarks.cache [--clients 8] [--seconds 20] [--rounds 4] [--replica-requests 25]
                               [--zipf-s 1.1] [--latency-ms 5] [--max-concurrency 16]
                               [--quick] [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from .common import (
    SERVICES,
    add_common_arguments,
    add_service_arguments,
    gateway_config,
    gateway_process,
    machine,
    percentile,
    read_stats,
    redis_process,
    report,
    reset_stats,
    running_services,
    save_figure,
    subplots,
)

__all__ = ["MODES", "QUERY", "ZipfPages", "main", "run"]

MODES: Final = ("off", "memory", "redis")
PAGE_SIZE: Final = 10
PAGES: Final = 1_000  # the example orders service holds 10,000 orders
QUERY: Final = (
    "query Page($after: ID) { orders(first: 10, after: $after) { id quantity"
    " product { name price seller { name } reviews { rating } } buyer { name } } }"
)
# Longer than any run: entries never expire within it, so the hit rate is the workload's reuse.
RULES: Final = "  types:\n    Product: {max_age: 600}\n    Account: {max_age: 600}\n"
SAMPLE_EVERY: Final = 5  # every 5th answer of a client is kept to be checked against the off gateway's
MAX_SAMPLES: Final = 2_000  # per mode: bounds the memory kept and the check after the run
MAX_REQUESTS: Final = 1_000_000  # per client per round: the time bound comes first
REPLICA_SEED: Final = 1_000  # the new replicas' streams: pages of their own, the same in every mode
REPLICA_TIMEOUT_S: Final = 120.0  # the new replicas' requests are bounded in count, and in time by this
HEADERS: Final = {"content-type": "application/json"}
LOOKUP_RESULTS: Final = ("hit", "negative_hit", "miss")  # funnel_entity_cache_lookups_total's result label


class ZipfPages:
    """Page numbers 0..pages-1 with P(k) proportional to 1 / (k + 1) ** s, drawn from a seeded stream."""

    def __init__(self, seed: int, s: float, pages: int = PAGES) -> None:
        self.random = random.Random(seed)
        self.cumulative = list(itertools.accumulate(1 / (k + 1) ** s for k in range(pages)))

    def next(self) -> int:
        point = self.random.random() * self.cumulative[-1]
        return min(bisect.bisect_right(self.cumulative, point), len(self.cumulative) - 1)


def variables(page: int) -> dict[str, Any]:
    return {"after": str(page * PAGE_SIZE) if page else None}


def config_extra(mode: str, redis_url: str) -> str:
    # Metrics on in every mode (the same cost in each): they hold the entity cache's own counts.
    cache = "observability:\n  metrics: true\ncache:\n  inflight: false\n"
    if mode == "off":
        return cache
    if mode == "memory":
        return cache + RULES
    return f"redis:\n  url: {redis_url}\n{cache}  redis: true\n{RULES}"


class Mode:
    """One mode's gateway, its clients' page streams, and what it measured so far."""

    def __init__(self, name: str, phase: str, url: str, clients: int, s: float, seed: int = 0) -> None:
        self.name = name
        self.phase = phase
        self.url = url
        # the same pages in every mode
        self.streams = [ZipfPages(seed + client, s) for client in range(clients)]
        self.samples: list[float] = []
        self.answers: list[tuple[int, Any]] = []  # (page, data) of sampled answers
        self.errors = 0
        self.seconds = 0.0
        self.calls = dict.fromkeys(SERVICES, 0)
        self.keys = dict.fromkeys(SERVICES, 0)
        self.lookups = dict.fromkeys(LOOKUP_RESULTS, 0.0)


async def ask(http: aiohttp.ClientSession, url: str, page: int) -> Any:
    """The data of one page's answer; None when it failed (a status, an error, a missing order)."""
    body = orjson.dumps({"query": QUERY, "variables": variables(page)})
    try:
        async with http.post(url, data=body, headers=HEADERS) as response:
            payload = orjson.loads(await response.read())
            ok = response.status == 200 and "errors" not in payload
    except (aiohttp.ClientError, ValueError):
        return None
    data = payload.get("data") if ok else None
    return data if isinstance(data, dict) and len(data.get("orders") or ()) == PAGE_SIZE else None


async def round_of_load(
    http: aiohttp.ClientSession, mode: Mode, seconds: float, per_client: int = MAX_REQUESTS
) -> None:
    """Every client, back to back, until the time is up (each finishes its request in flight) or it has sent
    `per_client` requests."""
    stop_at = time.monotonic() + seconds

    async def client(stream: ZipfPages) -> None:
        for count in range(per_client):
            if time.monotonic() >= stop_at:
                return
            page = stream.next()
            start = time.perf_counter()
            data = await ask(http, mode.url, page)
            mode.samples.append((time.perf_counter() - start) * 1e3)
            if data is None:
                mode.errors += 1
            elif count % SAMPLE_EVERY == 0 and len(mode.answers) < MAX_SAMPLES:
                mode.answers.append((page, data))

    await asyncio.gather(*(client(stream) for stream in mode.streams))


async def mismatches(http: aiohttp.ClientSession, mode: Mode, reference: dict[int, Any], off_url: str) -> int:
    """Sampled answers unlike the off gateway's for the same page (asked of it now where it has not been);
    an answer the off gateway fails to give counts too."""
    wrong = 0
    for page, data in mode.answers:
        if page not in reference:
            reference[page] = await ask(http, off_url, page)
        wrong += data != reference[page]
    return wrong


async def entity_lookups(http: aiohttp.ClientSession, graphql_url: str) -> dict[str, float]:
    """The gateway's entity-cache lookups so far, by result (zero where it has no entity cache rules)."""
    async with http.get(graphql_url.rsplit("/", 1)[0] + "/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    found = dict.fromkeys(LOOKUP_RESULTS, 0.0)
    for family in text_string_to_metric_families(text):
        if family.name == "funnel_entity_cache_lookups":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[sample.labels["result"]] += sample.value
    return found


def per_request(counts: Mapping[str, int], requests: int) -> dict[str, float]:
    return {s: round(c / max(1, requests), 2) for s, c in counts.items()}


async def measured(
    http: aiohttp.ClientSession,
    urls: Mapping[str, str],
    mode: Mode,
    seconds: float,
    per_client: int = MAX_REQUESTS,
) -> None:
    """A round of load, with the downstream calls and keys it cost added to the mode's."""
    await reset_stats(http, urls)
    before = await entity_lookups(http, mode.url)
    started = time.monotonic()
    await round_of_load(http, mode, seconds, per_client)
    mode.seconds += time.monotonic() - started
    stats = await read_stats(http, urls)
    after = await entity_lookups(http, mode.url)
    for result in LOOKUP_RESULTS:
        mode.lookups[result] += after[result] - before[result]
    for service in SERVICES:
        mode.calls[service] += stats[service]["requests"]
        mode.keys[service] += stats[service]["keys"]


async def run(
    clients: int,
    seconds: float,
    rounds: int,
    replica_requests: int,
    s: float,
    latency_ms: float,
    pool: int,
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        urls = stack.enter_context(running_services(latency_ms=latency_ms, max_concurrency=pool))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_url = stack.enter_context(redis_process())
        configs = {
            name: gateway_config(urls, tmp / f"{name}.yaml", extra=config_extra(name, redis_url))
            for name in MODES
        }
        modes = []
        for name in MODES:
            url, _pid = stack.enter_context(gateway_process(configs[name]))
            modes.append(Mode(name, "steady", url, clients, s))
        connector = aiohttp.TCPConnector(limit=clients * 2)
        async with aiohttp.ClientSession(connector=connector) as http:
            for turn in range(rounds):
                for mode in modes if turn % 2 == 0 else modes[::-1]:
                    await measured(http, urls, mode, seconds / rounds)
            replicas = []
            for name in MODES:  # one at a time: the first processes stay up, idle, beside it
                with gateway_process(configs[name]) as (url, _pid):
                    replica = Mode(name, "new replica", url, clients, s, seed=REPLICA_SEED)
                    await measured(http, urls, replica, REPLICA_TIMEOUT_S, replica_requests)
                    replicas.append(replica)
            off = modes[0]
            reference = dict(reversed(off.answers))  # the first answer the off gateway gave per page
            runs = [await _summary(http, mode, reference, off.url) for mode in (*modes, *replicas)]
    for phase in (runs[:3], runs[3:]):
        for run_ in phase[1:]:
            run_["keys_saved"] = round(1 - run_["keys_per_request"] / phase[0]["keys_per_request"], 3)
            run_["rps_ratio_vs_off"] = run_["rps"] / phase[0]["rps"]
    return {
        "benchmark": "cache",
        "settings": {
            "clients": clients,
            "seconds": seconds,
            "rounds": rounds,
            "replica_requests_per_client": replica_requests,
            "zipf_s": s,
            "pages": PAGES,
            "page_size": PAGE_SIZE,
            "query": QUERY,
            "latency_ms": latency_ms,
            "max_concurrency": pool,
            "inflight": False,
            "mode": "a funnel serve process per mode (1 worker)",
        },
        "machine": machine(),
        "runs": runs,
    }


async def _summary(
    http: aiohttp.ClientSession, mode: Mode, reference: dict[int, Any], off_url: str
) -> dict[str, Any]:
    requests = len(mode.samples)
    wrong = await mismatches(http, mode, reference, off_url)
    keys = per_request(mode.keys, requests)
    looked_up = sum(mode.lookups.values())
    found = mode.lookups["hit"] + mode.lookups["negative_hit"]
    return {
        "mode": mode.name,
        "phase": mode.phase,
        "requests": requests,
        "rps": requests / mode.seconds,
        "p50_ms": percentile(mode.samples, 50),
        "p95_ms": percentile(mode.samples, 95),
        "calls": per_request(mode.calls, requests),
        "keys": keys,
        "keys_per_request": round(sum(keys.values()), 2),
        "keys_sent": sum(mode.keys.values()),
        "lookups": {result: int(count) for result, count in mode.lookups.items()},
        "hit_rate": round(found / looked_up, 3) if looked_up else None,
        "checked": len(mode.answers),
        "mismatches": wrong,
        "errors": mode.errors + wrong,
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (keys, latency) = subplots(2)
    runs = [r for r in result["runs"] if r["phase"] == "steady"]
    replicas = [r for r in result["runs"] if r["phase"] == "new replica"]
    names = [r["mode"] for r in runs]
    bottom = [0.0] * len(runs)
    for service in SERVICES:
        heights = [r["keys"][service] for r in runs]
        keys.bar(names, heights, bottom=bottom, label=service)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    keys.plot(
        names, [r["keys_per_request"] for r in replicas], "k--o", label="a new replica's first requests"
    )
    keys.set_ylabel("downstream keys per request")
    keys.legend()
    for run_, style in zip(runs, ("--s", "-o", ":^"), strict=True):
        latency.plot(["p50", "p95"], [run_["p50_ms"], run_["p95_ms"]], style, label=f"cache {run_['mode']}")
    latency.set_ylabel("latency (ms)")
    latency.legend()
    settings = result["settings"]
    title = (
        f"Funnel entity cache: {settings['clients']} clients, Zipf s = {settings['zipf_s']} over "
        f"{settings['pages']} pages, services {settings['latency_ms']} ms, pool {settings['max_concurrency']}"
    )
    save_figure(figure, title, result, path)


COLUMNS: Sequence[str] = (
    "mode",
    "phase",
    "requests",
    "rps",
    "p50_ms",
    "p95_ms",
    "calls",
    "keys",
    "keys_per_request",
    "hit_rate",
    "keys_saved",
    "checked",
    "mismatches",
    "errors",
)  # the printed table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cache", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, help="per mode, over all rounds (default 20; --quick 3)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--replica-requests", type=int, help="per client, to each new replica (default 25; --quick 10)"
    )
    parser.add_argument("--zipf-s", type=float, default=1.1, help="the skew of the pages asked for")
    add_service_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 3.0 if args.quick else 20.0
    rounds = 2 if args.quick else args.rounds
    replica_requests = args.replica_requests or (10 if args.quick else 25)
    result = asyncio.run(
        run(
            args.clients,
            seconds,
            rounds,
            replica_requests,
            args.zipf_s,
            args.latency_ms,
            args.max_concurrency,
        )
    )
    report(result, COLUMNS, args, plot)


if __name__ == "__main__":
    main()
