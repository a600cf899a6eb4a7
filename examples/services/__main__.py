"""``python -m examples.services``: run all four example services until Ctrl-C / SIGTERM; one that dies is
started again (with back-off) while the others keep running."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from .launcher import ServiceProcesses, ServiceStartError
from .topology import DEFAULT_BASE_PORT, DEFAULT_HOST, GRAPHQL_PATH, non_negative_float, positive_int

__all__ = ["main"]

_SUPERVISE_POLL_S = 0.2
_ENDPOINTS = {"accounts": "/accounts"}


class _Stop(Exception):
    """Raised in the main thread by the first SIGINT/SIGTERM, wherever it is waiting."""


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _stop_on_signal(_signum: int, _frame: FrameType | None) -> None:
    # Only the first signal stops: a second Ctrl-C must not interrupt the children's shutdown.
    _ignore_stop_signals()
    raise _Stop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.services",
        description="Run accounts, catalog, orders and reviews on four consecutive ports.",
    )
    parser.add_argument(
        "--base-port", type=int, default=DEFAULT_BASE_PORT, help="accounts' port; +1, +2, +3 follow"
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument(
        "--latency-ms",
        type=non_negative_float,
        default=0.0,
        help="added to each API request of every service",
    )
    parser.add_argument(
        "--max-concurrency", type=positive_int, default=None, help="API requests each service handles at once"
    )
    parser.add_argument("--db-dir", help="keep the databases here as <name>.sqlite3 (default: in memory)")
    parser.add_argument(
        "--startup-timeout", type=float, default=20.0, help="seconds to wait for every /health"
    )
    return parser


def _print_urls(services: ServiceProcesses) -> None:
    print("Funnel example services are running:")
    for name, url in services.urls.items():
        endpoint = url + _ENDPOINTS.get(name, GRAPHQL_PATH)
        print(f"  {name:<9} {endpoint:<34} (pid {services.pids[name]})")
    print("Press Ctrl-C to stop them.", flush=True)


def _supervise(services: ServiceProcesses) -> int:
    """Until Ctrl-C: a service that dies is reported and started again, the others keep running."""
    while True:
        for event in services.supervise():
            print(event, file=sys.stderr, flush=True)
        time.sleep(_SUPERVISE_POLL_S)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_on_signal)
    services = ServiceProcesses(
        args.base_port,
        host=args.host,
        latency_ms=args.latency_ms,
        max_concurrency=args.max_concurrency,
        db_dir=args.db_dir,
        startup_timeout_s=args.startup_timeout,
    )
    try:
        services.start()
        _print_urls(services)
        return _supervise(services)
    except ServiceStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except _Stop:
        return 0
    finally:
        _ignore_stop_signals()
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
