"""What every benchmark shares: the services as child processes, gateways over them, statistics, output.

Benchmarks compare modes side by side in one run, alternating requests so that machine noise hits every mode
alike; they report ratios as well as times, and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp

from examples.services.graphql_http import SUBGRAPH_PATH
from examples.services.launcher import ServiceProcesses
from examples.services.topology import GRAPHQL_PATH, free_port, free_port_block
from gateway.federation import load_supergraph
from gateway.gateway import Gateway
from gateway.observability import Observability
from registry.config import ServiceConfig
from registry.resilience import GatewayResilience

__all__ = [
    "EXAMPLE_SCHEMA",
    "EXAMPLE_SUPERGRAPH",
    "add_common_arguments",
    "add_service_arguments",
    "count_fields",
    "cpu_seconds",
    "example_gateway",
    "federation_gateway",
    "gateway_config",
    "gateway_process",
    "listening_process",
    "machine",
    "peak_rss_mb",
    "percentile",
    "print_table",
    "process_tree",
    "read_stats",
    "ready_process",
    "redis_process",
    "report",
    "reset_stats",
    "rss_mb",
    "running_services",
    "save_figure",
    "service_configs",
    "stop_process",
    "subplots",
    "write_json",
]

EXAMPLE_SCHEMA = Path(__file__).parents[1] / "examples" / "gateway.graphql"
# The same services as an Apollo Federation v2 supergraph (scripts/federation/compose.sh): EXAMPLE_SCHEMA's types
# and fields but for shelves, the mutations and Review.author (tests/federation/test_example_services.py).
EXAMPLE_SUPERGRAPH = Path(__file__).parents[1] / "examples" / "federation" / "services" / "supergraph.graphql"
_SUBGRAPH_PATHS = {
    "accounts": SUBGRAPH_PATH,
    "catalog": SUBGRAPH_PATH,
    "orders": SUBGRAPH_PATH,
    "reviews": GRAPHQL_PATH,
}
SERVICES = ("accounts", "catalog", "orders", "reviews")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--plot", metavar="PATH", help="draw the results as a PNG (needs the bench extra)")
    parser.add_argument("--quick", action="store_true", help="a small, fast run (a smoke test)")


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """The example services modelled as real ones: a latency per request and a pool (concurrency cap)."""
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--max-concurrency", type=int, default=16)


def report(
    result: dict[str, Any],
    columns: Sequence[str],
    args: argparse.Namespace,
    plot: Callable[[dict[str, Any], str], None],
) -> None:
    """What every benchmark ends with: the table, then the JSON and the PNG where asked for."""
    print_table(result["runs"], columns)
    write_json(args.json, result)
    if args.plot:
        plot(result, args.plot)


def subplots(columns: int) -> tuple[Any, list[Any]]:
    """A figure of `columns` plots side by side (matplotlib, drawn without a screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, columns, figsize=(6 * columns, 4.8))
    return figure, list(axes) if columns > 1 else [axes]


def save_figure(figure: Any, title: str, result: Mapping[str, Any], path: str) -> None:
    """Title the figure with what was measured and on which machine, and write it as a PNG."""
    host = result["machine"]
    figure.suptitle(
        f"{title}; {host['processor']}, {host['cpus']} CPUs, Python {host['python']}, {host['date']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


@contextlib.contextmanager
def running_services(latency_ms: float = 0, max_concurrency: int | None = None) -> Iterator[dict[str, str]]:
    """The four example services as child processes on free loopback ports (base URLs by name)."""
    processes = ServiceProcesses(
        free_port_block(4), latency_ms=latency_ms, max_concurrency=max_concurrency, quiet=True
    )
    with processes:
        yield processes.urls


# Generous: the benchmarks measure plans, not timeouts. The connect timeout too: batching off opens hundreds of
# connections at once, a busy machine's services leave them in their accept queue past the default 500 ms, and
# connects that time out are retried and open the breaker, so that the N+1 baseline would measure errors.
_TIMEOUTS: Final[dict[str, Any]] = {"timeout_ms": 30_000, "connect_timeout_ms": 30_000}
# And the request's deadline: batching off at N = 1000 makes thousands of calls, over 10 s on a busy machine.
_RESILIENCE: Final = GatewayResilience(deadline_ms=120_000)


def service_configs(urls: Mapping[str, str], **overrides: Any) -> dict[str, ServiceConfig]:
    settings = {**_TIMEOUTS, **overrides}
    return {
        "accounts": ServiceConfig("accounts", urls["accounts"], protocol="rest", **settings),
        "catalog": ServiceConfig("catalog", urls["catalog"] + "/graphql", **settings),
        "orders": ServiceConfig("orders", urls["orders"] + "/graphql", **settings),
        "reviews": ServiceConfig("reviews", urls["reviews"] + "/graphql", **settings),
    }


def example_gateway(
    urls: Mapping[str, str],
    *,
    batching: bool = True,
    merge_levels: bool = True,
    observability: Observability | None = None,
) -> Gateway:
    gateway = Gateway.from_sdl(
        EXAMPLE_SCHEMA.read_text(),
        service_configs(urls),
        batching=batching,
        merge_levels=merge_levels,
        observability=observability,
        resilience=_RESILIENCE,
    )
    gateway.freeze()
    return gateway


def federation_gateway(urls: Mapping[str, str], *, batching: bool = True) -> Gateway:
    """The example services served as a federation: EXAMPLE_SUPERGRAPH over their subgraph endpoints."""
    overrides = {
        name: ServiceConfig(name, urls[name] + path, **_TIMEOUTS) for name, path in _SUBGRAPH_PATHS.items()
    }
    schema, bindings, services = load_supergraph(str(EXAMPLE_SUPERGRAPH), overrides)
    gateway = Gateway(schema, services, bindings, batching=batching, resilience=_RESILIENCE)
    gateway.freeze()
    return gateway


async def read_stats(http: aiohttp.ClientSession, urls: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Each service's own counters (`GET /stats`): requests served and keys asked for."""
    stats = {}
    for name in SERVICES:
        async with http.get(urls[name] + "/stats") as response:
            stats[name] = await response.json()
    return stats


async def reset_stats(http: aiohttp.ClientSession, urls: Mapping[str, str]) -> None:
    for name in SERVICES:
        async with http.post(urls[name] + "/stats/reset") as response:
            response.raise_for_status()


def count_fields(value: Any) -> int:
    """Resolved fields in a response's data: every key of every object."""
    if isinstance(value, dict):
        return sum(1 + count_fields(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_fields(v) for v in value)
    return 0


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], file: Any = sys.stdout) -> None:
    def show(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        if isinstance(value, dict):
            return " ".join(f"{k}={v}" for k, v in value.items())
        return str(value)

    cells = [[show(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)), file=file)


def write_json(path: str | None, payload: Mapping[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def gateway_config(urls: Mapping[str, str], path: Path, *, batching: bool = True, extra: str = "") -> Path:
    """Write a funnel.yaml for the example schema over these services; returns its path."""
    services = "".join(
        f"  {name}:\n    url: {urls[name]}{'' if name == 'accounts' else '/graphql'}\n"
        f"    protocol: {'rest' if name == 'accounts' else 'graphql'}\n    timeout_ms: 30000\n"
        for name in SERVICES
    )
    text = (
        f"schema: {EXAMPLE_SCHEMA}\nbatching: {'true' if batching else 'false'}\n{extra}services:\n{services}"
    )
    path.write_text(text)
    return path


@contextlib.contextmanager
def gateway_process(
    config: Path, timeout_s: float = 30.0, options: Sequence[str] = ()
) -> Iterator[tuple[str, int]]:
    """`funnel serve` on a free port as a child process; yields its GraphQL URL and pid, stops it after."""
    with listening_process(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", "0", *options],
        timeout_s,
    ) as started:
        yield started


@contextlib.contextmanager
def listening_process(command: Sequence[str], timeout_s: float = 30.0) -> Iterator[tuple[str, int]]:
    """A server child process that prints `listening on URL` once ready; yields the URL and its pid, and stops
    it (SIGTERM, then SIGKILL after 10 s) after."""
    with ready_process(command, "listening on", timeout_s) as (line, pid):
        yield line.split("listening on ", 1)[1].split()[0], pid


@contextlib.contextmanager
def redis_process(timeout_s: float = 20.0) -> Iterator[str]:
    """A `redis-server` child process on a free loopback port, persisting nothing; yields its URL. Exits with
    the line that installs it when it is not on PATH (the benchmarks that need it cannot run without)."""
    program = shutil.which("redis-server")
    if program is None:
        raise SystemExit(
            "redis-server is not on PATH: install it (Debian: `apt-get install -y redis-server`)"
        )
    port = free_port()
    # No snapshots, no append-only file: nothing written to disk, nothing left behind.
    command = [program, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    with ready_process([*command, "--protected-mode", "no"], "Ready to accept connections", timeout_s):
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def ready_process(command: Sequence[str], ready: str, timeout_s: float = 30.0) -> Iterator[tuple[str, int]]:
    """A child process that prints a line containing `ready` once ready; yields that line and its pid, and
    stops it (SIGTERM, then SIGKILL after 10 s) after."""
    name = " ".join(command[:3])
    process = subprocess.Popen(
        list(command),
        cwd=Path(__file__).parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = ""
        while time.monotonic() < deadline and ready not in line:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise RuntimeError(f"{name} exited: {process.stderr.read() if process.stderr else ''}")
        if ready not in line:
            raise RuntimeError(f"{name} did not start in time")
        yield line, process.pid
    finally:
        stop_process(process, signal.SIGTERM, timeout_s=10)


def stop_process(process: subprocess.Popen[Any], sent: signal.Signals, timeout_s: float) -> None:
    """Ask the process to end with `sent`; killed if it has not within `timeout_s`."""
    process.send_signal(sent)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of the process and every process under it (workers), in MB."""
    return _memory_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """The resident memory now (VmRSS) of the process and every process under it (workers), in MB."""
    return _memory_mb(pid, "VmRSS:")


def _memory_mb(pid: int, field: str) -> float:
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1]) / 1024
    return total


def process_tree(pid: int) -> list[int]:
    """`pid` and its living descendants."""
    found, pending = [], [pid]
    while pending:
        member = pending.pop()
        found.append(member)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{member}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by the process and its living descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            # The command name (field 2) may hold spaces: split after its closing parenthesis.
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks
