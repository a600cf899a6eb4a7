"""Where a `funnel serve` process spends its CPU on the peer-shaped query: a profile, not a benchmark.

The example services (latency and pool as in `benchmarks.peer`) and one `funnel serve` process over them; C
closed-loop clients send `benchmarks.floor.PEER_QUERY` until R requests are answered, while the server is
profiled, then the top functions are printed by their own time and by their cumulative time:

- `--tool cprofile` (the default: no extra package) runs the server under `python -m cProfile`, which writes
  its statistics when the server stops; deterministic, but it slows small functions down more than big ones;
- `--tool py-spy` samples the running server from outside (`pip install py-spy`), at its real speed.

    python -m benchmarks.hotspots [--tool cprofile|py-spy] [--requests 2000] [--clients 16] [--top 30] [--out PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import aiohttp
import orjson

from .common import add_service_arguments, gateway_config, listening_process, running_services, stop_process
from .floor import PEER_QUERY

__all__ = ["main", "run"]

_TIME_LIMIT_S: Final = 300.0  # the load stops then, however few requests were answered


async def load(url: str, clients: int, requests: int) -> tuple[int, int]:
    """C clients back to back until `requests` are answered (or the time limit); returns (answered, failed)."""
    body = orjson.dumps({"query": PEER_QUERY})
    stop_at = time.monotonic() + _TIME_LIMIT_S
    sent = failed = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal sent, failed
        while sent < requests and time.monotonic() < stop_at:
            sent += 1
            async with http.post(url, data=body, headers={"content-type": "application/json"}) as response:
                answer = await response.read()
                failed += response.status != 200 or b'"errors"' in answer

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return sent, failed


@contextlib.contextmanager
def sampling(pid: int, out: Path) -> Iterator[None]:
    """py-spy recording `pid` inside the block (collapsed stacks written to `out`)."""
    # beside this Python when its environment is not activated (`.venv/bin/python -m benchmarks.hotspots`)
    program = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if program is None:
        raise SystemExit("py-spy is not installed: pip install py-spy (or use --tool cprofile)")
    command = [program, "record", "--pid", str(pid), "--format", "raw", "--rate", "250", "-o", str(out)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # py-spy attaches
        yield
    finally:
        stop_process(recorder, signal.SIGINT, timeout_s=30)  # py-spy writes its file on SIGINT


def print_samples(path: Path, top: int) -> None:
    """The collapsed stacks of py-spy as two tables: samples where a function runs itself, and under it."""
    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame.split(" (", 1)[0] + " " + _place(frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            under[frame] += int(count)
    for title, counter in (("own", own), ("cumulative", under)):
        print(f"\n{title} share of {total} samples")
        for frame, samples in counter.most_common(top):
            print(f"{100 * samples / max(1, total):6.2f} %  {frame}")


def _place(frame: str) -> str:
    """`file:line` of a py-spy frame `function (path:line)`, the path from the package on."""
    place = frame.rpartition(" (")[2].rstrip(")")
    for root in ("/site-packages/", "/wt/", "/main/", "/lib/python"):
        if root in place:
            place = place.split(root, 1)[1]
            break
    return f"({place})"


def run(tool: str, requests: int, clients: int, latency_ms: float, pool: int, top: int, out: Path) -> None:
    with (
        running_services(latency_ms=latency_ms, max_concurrency=pool) as urls,
        tempfile.TemporaryDirectory() as folder,
    ):
        config = gateway_config(urls, Path(folder) / "funnel.yaml")
        serve: Sequence[str] = ("-m", "gateway", "serve", "--config", str(config), "--port", "0")
        prefix = ("-m", "cProfile", "-o", str(out)) if tool == "cprofile" else ()
        with listening_process([sys.executable, *prefix, *serve]) as (url, pid):
            asyncio.run(load(url, clients, 50))  # warm: documents parsed, plans cached, connections open
            with sampling(pid, out) if tool == "py-spy" else contextlib.nullcontext():
                started = time.monotonic()
                answered, failed = asyncio.run(load(url, clients, requests))
                seconds = time.monotonic() - started
        # leaving the block stops the server: cProfile writes its statistics on the way out
    print(f"{answered} requests ({failed} failed) in {seconds:.1f} s; profile in {out}")
    if tool == "cprofile":
        statistics = pstats.Stats(str(out))
        statistics.sort_stats("tottime").print_stats(top)
        statistics.sort_stats("cumulative").print_stats(top)
    else:
        print_samples(out, top)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hotspots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tool", choices=("cprofile", "py-spy"), default="cprofile")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--top", type=int, default=30, help="functions printed per table")
    parser.add_argument("--out", type=Path, help="where the profile is kept (default: a file in /tmp)")
    add_service_arguments(parser)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.gettempdir()) / f"funnel-{args.tool}.prof"
    run(args.tool, args.requests, args.clients, args.latency_ms, args.max_concurrency, args.top, out)


if __name__ == "__main__":
    main()
