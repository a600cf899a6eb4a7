"""`funnel demo`: the four example services and a gateway over them, on one machine, stopped by Ctrl-C.

The examples are not an installed package: they are imported from the repository checkout (gateway.cli.checkout).
An install from a wheel has no examples, and `funnel demo` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from dataclasses import replace
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from registry.config import GatewayConfig, LoggingConfig, ObservabilityConfig, load_config

from ..extras import install_hint
from ..gateway import Gateway
from ..observability import configure_logging
from ..server import DEBUG_HEADER, GRAPHQL_PATH, create_app
from ..server.app import METRICS_PATH
from ..server.serving import listen_error, listening, stop_signals
from .checkout import REPOSITORY, CheckoutMissing, import_from_checkout

if TYPE_CHECKING:  # imported for real by _examples(), from the checkout
    from examples.services.launcher import ServiceProcesses

__all__ = ["EXAMPLES", "REPOSITORY", "TRY_QUERY", "demo_config", "run_demo", "try_command"]

EXAMPLES: Final = REPOSITORY / "examples"
TRY_QUERY: Final = "{ orders(first: 100) { id product { name seller { name } } buyer { name } } }"

_SUPERVISE_POLL_S: Final = 0.5


def _examples(module: str) -> ModuleType:
    return import_from_checkout(f"examples.services.{module}", command="demo")


def demo_config(port: int, host: str = "127.0.0.1", *, batching: bool = True) -> GatewayConfig:
    """examples/funnel.yaml with the gateway on `port` and the services on port+1 to port+4 (each URL keeps
    its path), in the launcher's order."""
    config = load_config(EXAMPLES / "funnel.yaml")
    urls: dict[str, str] = _examples("topology").service_urls(port + 1, host)
    services = {
        name: replace(service, url=_moved(service.url, urls[name]))
        for name, service in config.services.items()
    }
    # What a newcomer should see: metrics (when their package is installed: `pip install -e .` alone has none)
    # and one log line per request and per failed downstream call, on stderr.
    observability = ObservabilityConfig(
        metrics=importlib.util.find_spec("prometheus_client") is not None,
        logging=LoggingConfig(level="info", format="text"),
    )
    return replace(
        config,
        batching=batching,
        services=MappingProxyType(services),
        # The page's panel runs a query with batching on and off side by side (funnel-batching) and shows its
        # plan; GraphiQL needs introspection. `funnel serve` leaves all three off unless the config says.
        server=replace(
            config.server,
            host=host,
            port=port,
            batching_header=True,
            introspection=True,
            debug_access="everyone",
        ),
        observability=observability,
    )


def _moved(url: str, base: str) -> str:
    """`url` with the scheme, host and port of `base`."""
    target = urlsplit(base)
    return urlunsplit(urlsplit(url)._replace(scheme=target.scheme, netloc=target.netloc))


def try_command(url: str) -> str:
    """A curl command that runs TRY_QUERY against the gateway at `url` and shows the plan and the calls."""
    body = '{"query": "' + TRY_QUERY + '"}'
    return f"curl -s {url}{GRAPHQL_PATH} -H 'content-type: application/json' -H '{DEBUG_HEADER}: plan' -d '{body}'"


async def run_demo(port: int, host: str = "127.0.0.1", *, batching: bool = True) -> int:
    """Run until SIGINT/SIGTERM (0; 1 when it cannot start); a service that dies is restarted. Everything started
    is stopped on the way out."""
    stop = stop_signals()
    try:
        launcher = _examples("launcher")
    except CheckoutMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    services: ServiceProcesses = launcher.ServiceProcesses(port + 1, host=host, quiet=True)
    try:
        try:
            await asyncio.to_thread(services.start)
        except launcher.ServiceStartError as error:
            if stop.is_set():  # Ctrl-C reached the services too while they were starting
                return 0
            print(f"error: {error}", file=sys.stderr)
            return 1
        if stop.is_set():
            return 0
        config = demo_config(port, host, batching=batching)
        assert config.observability.logging is not None
        configure_logging(config.observability.logging)
        app = create_app(Gateway.from_config(config), config.server)
        shutdown_timeout_s = config.server.shutdown_timeout_ms / 1000
        try:
            async with listening(app, host, port, shutdown_timeout_s=shutdown_timeout_s) as url:
                _print_banner(url, config, services)
                return await _supervise(stop, services)
        except OSError as error:
            print(f"error: {listen_error(host, port, error)}", file=sys.stderr)
            return 1
    finally:
        await asyncio.to_thread(services.stop)


async def _supervise(stop: asyncio.Event, services: ServiceProcesses) -> int:
    """Until Ctrl-C: a service that dies is reported and started again; the gateway and the others go on, and
    its fields are null with errors meanwhile."""
    while not stop.is_set():
        for event in services.supervise():
            print(event, file=sys.stderr, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _SUPERVISE_POLL_S)
    return 0


def _print_banner(url: str, config: GatewayConfig, services: ServiceProcesses) -> None:
    pids = services.pids
    lines = [
        f"Funnel demo (batching {'on' if config.batching else 'off'}): the gateway and four example services.",
        f"  gateway   {url}{GRAPHQL_PATH}  (open it in a browser to write queries)",
    ]
    lines += [
        f"  {name:<9} {service.url}  ({service.protocol}, pid {pids[name]})"
        for name, service in config.services.items()
    ]
    if config.observability.metrics:
        lines.append(f"  metrics   {url}{METRICS_PATH}")
    else:
        lines.append(f"  metrics   off ({install_hint('metrics', 'prometheus-client')})")
    lines += [
        "Try a query, with the plan and every downstream call in extensions.funnel:",
        f"  {try_command(url)}",
        f"Kill catalog (kill {pids['catalog']}) and send it again: the products are null with an error each,",
        "  the rest of the answer is whole; the demo restarts catalog and the next answers are complete again.",
        "Request logs go to stderr. Compare with `funnel demo --no-batching`. Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
