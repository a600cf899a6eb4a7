"""Under attack: what abusive clients cost a `funnel serve` gateway, and the latency a well-behaved client sees.

Each scenario gets a fresh `funnel serve` child process (the example schema over the example services, 5 ms
latency and a pool of 16, the default `server:` limits of `registry.config.ServerConfig` except the header and
body timeouts, lowered to 2000 ms for every scenario so that slow clients are cut off within the run). While the
attackers run, one well-behaved client sends `GOOD_QUERY` back to back. Scenarios:

- `baseline`: no attacker;
- `amplification`: 20 aliases of `orders(first: 1000000)` and chains through `Account.orders`, 12 and 24
  fields deep (refused: COST_LIMIT_EXCEEDED, QUERY_TOO_DEEP);
- `alias-flood`: a document of 20,000 aliases (about 400 KB), refused while parsing (TOO_MANY_TOKENS);
- `big-documents`: distinct ~500 KB documents (a valid query behind a long comment, so under the token limit and
  answered): the document cache is bounded in bytes (64 MB, about 130 of them), so RSS stays bounded however
  many arrive; this scenario runs `--big-seconds` (30 s) so that more arrive than the cache holds;
- `slowloris`: 200 raw sockets that send a request head and 3 bytes of a 100-byte body, then hang (cut off by
  `body_timeout_ms`; those past `max_connections_per_address` are closed at once), reconnecting when dropped.

The attackers connect from 127.0.0.1 and the good client from 127.0.0.2, as distinct addresses would on a network
(`max_connections_per_address` counts per address). Reported per scenario: the attacker's requests and their
outcomes (status and error code, counted), the good client's requests, p50/p99 (and their ratios to the
baseline) and failures, and the gateway process's CPU seconds and peak RSS over the scenario, and its RSS halfway
through and at the end (equal when what an attack leaves behind is bounded).

    python -m benchmarks.abuse [--seconds 10] [--big-seconds 30] [--attackers 4] [--scenarios NAME ...] [--quick]
                               [--json PATH] [--plot PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
from yarl import URL

from .common import (
    add_common_arguments,
    add_service_arguments,
    cpu_seconds,
    gateway_config,
    gateway_process,
    machine,
    peak_rss_mb,
    percentile,
    print_table,
    rss_mb,
    running_services,
    save_figure,
    subplots,
    write_json,
)

__all__ = ["GOOD_QUERY", "SCENARIOS", "main", "run"]

SCENARIOS: Final = ("baseline", "amplification", "alias-flood", "big-documents", "slowloris")
GOOD_QUERY: Final = "{ orders(first: 10) { id product { name } } }"
TIMEOUT_MS: Final = 2000  # header_timeout_ms and body_timeout_ms of every scenario's server
SLOW_SOCKETS: Final = 200
MAX_ATTEMPTS: Final = 1_000_000  # per attacker or client per scenario: the time bound comes first
ATTACKER_ADDRESS: Final = "127.0.0.1"
GOOD_ADDRESS: Final = "127.0.0.2"  # the whole of 127.0.0.0/8 is loopback on Linux
HEADERS: Final = {"content-type": "application/json", "accept": "application/graphql-response+json"}


def _chain(depth: int) -> str:
    """orders → buyer → orders → buyer ...: `depth` fields deep, each Account.orders a list of 10 by default."""
    inner = "id"
    for level in range(depth - 1, 0, -1):
        inner = f"{'buyer' if level % 2 else 'orders'} {{ id {inner} }}"
    return f"{{ orders(first: 10) {{ id {inner} }} }}"


AMPLIFICATION: Final = (
    "{ " + " ".join(f"a{i}: orders(first: 1000000) {{ id product {{ name }} }}" for i in range(20)) + " }",
    _chain(12),  # within max_depth (20); 10 * 10 * ... orders: far past max_cost
    _chain(24),  # past max_depth
)
ALIAS_FLOOD: Final = "{ " + " ".join(f"a{i}: __typename" for i in range(20_000)) + " }"
BIG_DOCUMENT_BYTES: Final = 500_000
_PADDING: Final = "x" * BIG_DOCUMENT_BYTES


def big_document(index: int) -> str:
    """A distinct ~500 KB document: a comment (no tokens) before the good query, so that it is answered."""
    return f"# {index} {_PADDING}\n{GOOD_QUERY}"


async def _outcome(response: aiohttp.ClientResponse) -> str:
    """`STATUS CODE`: the first error's code, `ok` for an answer without errors."""
    try:
        payload = orjson.loads(await response.read())
    except ValueError:
        return f"{response.status} not-json"
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not errors:
        return f"{response.status} ok"
    return f"{response.status} {(errors[0].get('extensions') or {}).get('code', 'no-code')}"


async def http_attacker(
    http: aiohttp.ClientSession,
    url: str,
    body: Callable[[int], bytes],
    stop_at: float,
    outcomes: Counter[str],
) -> None:
    """One attacker: POSTs `body(i)` back to back until the time is up, counting what it gets."""
    for i in range(MAX_ATTEMPTS):
        if time.monotonic() >= stop_at:
            return
        try:
            async with http.post(url, data=body(i), headers=HEADERS) as response:
                outcomes[await _outcome(response)] += 1
        except aiohttp.ClientError as error:
            outcomes[f"error {type(error).__name__}"] += 1


async def slow_client(url: str, stop_at: float, outcomes: Counter[str]) -> None:
    """One slowloris socket: a whole head, 3 bytes of a 100-byte body, then nothing; again when dropped."""
    target = URL(url)
    head = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"q'
    ).encode()
    for _ in range(MAX_ATTEMPTS):
        if time.monotonic() >= stop_at:
            return
        writer = None
        try:
            reader, writer = await asyncio.open_connection(
                target.host, target.port, local_addr=(ATTACKER_ADDRESS, 0)
            )
            writer.write(head)
            await writer.drain()
            # The server must drop us within its body timeout; a little more is allowed for a busy machine.
            answer = await asyncio.wait_for(reader.read(64), TIMEOUT_MS / 1000 + 5)
            label = answer.split(b"\r\n", 1)[0].decode(errors="replace").removeprefix("HTTP/1.1 ")
        except TimeoutError:
            label = "still hanging"
        except (ConnectionResetError, BrokenPipeError):
            label = ""  # aborted by the server: a reset rather than an EOF when it came after our write
        except OSError as error:
            label = f"error {type(error).__name__}"
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        # Closed without an answer: past max_connections_per_address.
        outcomes[label or "closed unanswered"] += 1
        if not label or label.startswith("error"):
            await asyncio.sleep(0.1)  # retry soon, but not in a busy loop


async def good_client(url: str, stop_at: float, samples: list[float]) -> int:
    """The well-behaved client: GOOD_QUERY back to back, on its own connection; returns its failures."""
    body = orjson.dumps({"query": GOOD_QUERY})
    failures = 0
    connector = aiohttp.TCPConnector(limit=1, local_addr=(GOOD_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(MAX_ATTEMPTS):
            if time.monotonic() >= stop_at:
                break
            start = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=HEADERS) as response:
                    payload = orjson.loads(await response.read())
                    orders = (payload.get("data") or {}).get("orders") or []
                    ok = response.status == 200 and "errors" not in payload and len(orders) == 10
            except (aiohttp.ClientError, ValueError):
                ok = False
            samples.append((time.perf_counter() - start) * 1e3)
            failures += not ok
    return failures


def attackers(
    scenario: str, url: str, count: int, stop_at: float, outcomes: Counter[str]
) -> list[Awaitable[None]]:
    """The attack of one scenario, as coroutines that end once `stop_at` has passed."""
    if scenario == "baseline":
        return []
    if scenario == "slowloris":
        return [slow_client(url, stop_at, outcomes) for _ in range(SLOW_SOCKETS)]
    if scenario == "amplification":
        bodies = [orjson.dumps({"query": q}) for q in AMPLIFICATION]

        def body(i: int) -> bytes:
            return bodies[i % len(bodies)]

    elif scenario == "alias-flood":
        flood = orjson.dumps({"query": ALIAS_FLOOD})

        def body(i: int) -> bytes:
            return flood

    else:

        def body(i: int) -> bytes:
            return orjson.dumps({"query": big_document(i)})

    async def one(session: aiohttp.ClientSession, start: int) -> None:
        await http_attacker(session, url, lambda i: body(start + i), stop_at, outcomes)

    async def all_of_them() -> None:
        connector = aiohttp.TCPConnector(limit=count, local_addr=(ATTACKER_ADDRESS, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            # each attacker its own range of indices: every big document is distinct
            await asyncio.gather(*(one(session, k * MAX_ATTEMPTS) for k in range(count)))

    return [all_of_them()]


async def warm_up(url: str) -> None:
    """A few good requests first, so that no scenario pays for the first plan or the first connections."""
    await good_client(url, time.monotonic() + 0.5, [])


async def scenario_run(scenario: str, url: str, pid: int, seconds: float, count: int) -> dict[str, Any]:
    await warm_up(url)
    outcomes: Counter[str] = Counter()
    samples: list[float] = []
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    stop_at = started + seconds
    middle: list[float] = []

    async def halfway() -> None:
        await asyncio.sleep(seconds / 2)
        middle.append(rss_mb(pid))

    results = await asyncio.gather(
        halfway(), good_client(url, stop_at, samples), *attackers(scenario, url, count, stop_at, outcomes)
    )
    return {
        "scenario": scenario,
        "seconds": round(time.monotonic() - started, 2),
        "attacker_requests": sum(outcomes.values()),
        "attacker_outcomes": dict(outcomes.most_common()),
        "good_requests": len(samples),
        "good_p50_ms": percentile(samples, 50),
        "good_p99_ms": percentile(samples, 99),
        "good_failures": results[1],
        "gateway_cpu_s": round(cpu_seconds(pid) - cpu_before, 2),
        "peak_rss_mb": round(peak_rss_mb(pid), 1),
        # resident memory halfway through and at the end: equal when what the attack makes the gateway keep is
        # bounded (big-documents: the document cache full well before halfway)
        "rss_half_mb": round(middle[0], 1),
        "rss_end_mb": round(rss_mb(pid), 1),
    }


async def run(
    scenarios: tuple[str, ...],
    seconds: float,
    big_seconds: float,
    count: int,
    latency_ms: float,
    pool: int,
) -> dict[str, Any]:
    server = f"server:\n  header_timeout_ms: {TIMEOUT_MS}\n  body_timeout_ms: {TIMEOUT_MS}\n"
    runs = []
    with (
        running_services(latency_ms=latency_ms, max_concurrency=pool) as urls,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = gateway_config(urls, Path(tmp) / "funnel.yaml", extra=server)
        for scenario in scenarios:
            # A fresh server per scenario: its CPU and peak RSS are the scenario's alone.
            with gateway_process(config) as (url, pid):
                length = big_seconds if scenario == "big-documents" else seconds
                runs.append(await scenario_run(scenario, url, pid, length, count))
    baseline = runs[0]
    for row in runs:
        row["p50_ratio"] = row["good_p50_ms"] / baseline["good_p50_ms"]
        row["p99_ratio"] = row["good_p99_ms"] / baseline["good_p99_ms"]
    return {
        "benchmark": "abuse",
        "settings": {
            "seconds": seconds,
            "big_documents_seconds": big_seconds,
            "attackers": count,
            "slow_sockets": SLOW_SOCKETS,
            "latency_ms": latency_ms,
            "max_concurrency": pool,
            "header_timeout_ms": TIMEOUT_MS,
            "body_timeout_ms": TIMEOUT_MS,
            "good_query": GOOD_QUERY,
            "mode": "funnel serve (1 worker), default server limits but the timeouts; a fresh one per scenario",
        },
        "machine": machine(),
        "runs": runs,
    }


def plot(result: dict[str, Any], path: str) -> None:
    figure, (latency, cost) = subplots(2)
    names = [r["scenario"] for r in result["runs"]]
    positions = range(len(names))
    for shift, key, label in ((-0.2, "good_p50_ms", "p50"), (0.2, "good_p99_ms", "p99")):
        latency.bar([p + shift for p in positions], [r[key] for r in result["runs"]], 0.4, label=label)
    latency.set_xticks(list(positions), names)
    latency.set_ylabel("good client's latency (ms)")
    latency.legend()
    cost.bar([p - 0.2 for p in positions], [r["gateway_cpu_s"] for r in result["runs"]], 0.4, label="CPU s")
    memory = cost.twinx()
    memory.bar(
        [p + 0.2 for p in positions], [r["peak_rss_mb"] for r in result["runs"]], 0.4, color="tab:orange"
    )
    cost.set_xticks(list(positions), names)
    cost.set_ylabel("gateway CPU seconds (blue)")
    memory.set_ylabel("gateway peak RSS MB (orange)")
    title = f"Funnel under attack, {result['settings']['seconds']} s per scenario"
    save_figure(figure, title, result, path)


COLUMNS = (
    "scenario",
    "attacker_requests",
    "attacker_outcomes",
    "good_requests",
    "good_p50_ms",
    "good_p99_ms",
    "p50_ratio",
    "p99_ratio",
    "good_failures",
    "gateway_cpu_s",
    "peak_rss_mb",
    "rss_half_mb",
    "rss_end_mb",
)  # the printed table


def shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as printed: the outcomes as `400 TOO_MANY_TOKENS (times sign)120`, `-` for none."""
    outcomes = ", ".join(f"{label} \u00d7{n}" for label, n in row["attacker_outcomes"].items())
    return {**row, "attacker_outcomes": outcomes or "-"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument(
        "--big-seconds",
        type=float,
        default=30.0,
        help="for big-documents: long enough for more documents than the document cache holds",
    )
    parser.add_argument("--attackers", type=int, default=4, help="concurrent HTTP attackers")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    add_service_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    seconds, big_seconds = (2.0, 2.0) if args.quick else (args.seconds, args.big_seconds)
    scenarios = tuple(s for s in SCENARIOS if s in args.scenarios or s == "baseline")
    result = asyncio.run(
        run(scenarios, seconds, big_seconds, args.attackers, args.latency_ms, args.max_concurrency)
    )
    print_table([shown(r) for r in result["runs"]], COLUMNS)
    print(
        f"(header_timeout_ms and body_timeout_ms lowered to {TIMEOUT_MS} ms for every scenario; the good client"
        f" connects from {GOOD_ADDRESS}, the attackers from {ATTACKER_ADDRESS})"
    )
    write_json(args.json, result)
    if args.plot:
        plot(result, args.plot)


if __name__ == "__main__":
    main()
