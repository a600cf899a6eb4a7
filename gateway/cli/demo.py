"""`funnel demo`: the four example services and a gateway over them, on one machine, stopped by Ctrl-C.

The registry is on (in memory): the gateway listens first, then every service registers itself there once
listening, and a moment after the banner a second orders instance (on a free port, sharing orders' SQLite file)
joins and is routed to. Writes need a token: $FUNNEL_REGISTRY_TOKEN's, else one made for the run and printed
once, in the banner's curl line. Stopping stops the services before the gateway, so that each deregisters.

The examples are not an installed package: they are imported from the repository checkout (gateway.cli.checkout).
An install from a wheel has no examples, and `funnel demo` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import sys
import tempfile
from dataclasses import replace
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from registry.config import GatewayConfig, LoggingConfig, ObservabilityConfig, RegistryConfig, load_config

from ..extras import install_hint
from ..gateway import Gateway
from ..observability import configure_logging
from ..registry.composer import RegistryComposer
from ..server import DEBUG_HEADER, GRAPHQL_PATH, create_app
from ..server.app import METRICS_PATH
from ..server.registry_api import REGISTRY, REGISTRY_PATH
from ..server.serving import base_url, listen_error, listening, stop_signals
from .checkout import REPOSITORY, CheckoutMissing, import_from_checkout

if TYPE_CHECKING:  # imported for real by _examples(), from the checkout
    from examples.services.launcher import ServiceProcesses

__all__ = [
    "EXAMPLES",
    "JOINING",
    "REPOSITORY",
    "TOKEN_ENV",
    "TRY_QUERY",
    "demo_config",
    "demo_registry",
    "register_command",
    "run_demo",
    "try_command",
]

EXAMPLES: Final = REPOSITORY / "examples"
TRY_QUERY: Final = "{ orders(first: 100) { id product { name seller { name } } buyer { name } } }"
TOKEN_ENV: Final = "FUNNEL_REGISTRY_TOKEN"  # the registry's write token; the example services read it too
JOINING: Final = "orders"  # the service a second instance of joins a moment after the gateway starts

_SUPERVISE_POLL_S: Final = 0.5


def _examples(module: str) -> ModuleType:
    return import_from_checkout(f"examples.services.{module}", command="demo")


def demo_registry(host: str, token: str) -> RegistryConfig:
    """The demo's registry: in memory, written with `token`, instance URLs on `host` at any port."""
    return RegistryConfig(token=token, allowed_urls=(base_url(host, 0).removesuffix(":0") + ":*",))


def demo_config(
    port: int, host: str = "127.0.0.1", *, batching: bool = True, token: str | None = None
) -> GatewayConfig:
    """examples/funnel.yaml with the gateway on `port` and the services on port+1 to port+4 (each URL keeps
    its path), in the launcher's order; with `token`, the registry's writes on (demo_registry)."""
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
        registry=demo_registry(host, token) if token is not None else config.registry,
    )


def _moved(url: str, base: str) -> str:
    """`url` with the scheme, host and port of `base`."""
    target = urlsplit(base)
    return urlunsplit(urlsplit(url)._replace(scheme=target.scheme, netloc=target.netloc))


def try_command(url: str) -> str:
    """A curl command that runs TRY_QUERY against the gateway at `url` and shows the plan and the calls."""
    body = '{"query": "' + TRY_QUERY + '"}'
    return f"curl -s {url}{GRAPHQL_PATH} -H 'content-type: application/json' -H '{DEBUG_HEADER}: plan' -d '{body}'"


def register_command(url: str, service: str, instance: str, token: str | None) -> str:
    """A curl command that registers `instance` (its URL) as an instance of `service` at the gateway at `url`;
    the token as given, or (None) read from $FUNNEL_REGISTRY_TOKEN by the shell."""
    bearer = (
        f"'authorization: Bearer {token}'" if token is not None else f'"authorization: Bearer ${TOKEN_ENV}"'
    )
    body = '{"url": "' + instance + '"}'
    return (
        f"curl -s {url}{REGISTRY_PATH}/services/{service}/instances -H {bearer} "
        f"-H 'content-type: application/json' -d '{body}'"
    )


async def run_demo(port: int, host: str = "127.0.0.1", *, batching: bool = True) -> int:
    """Run until SIGINT/SIGTERM (0; 1 when it cannot start); a service that dies is restarted. Everything started
    is stopped on the way out, the services before the gateway."""
    stop = stop_signals()
    try:
        launcher = _examples("launcher")
    except CheckoutMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    given = os.environ.get(TOKEN_ENV) or None
    token = given or secrets.token_urlsafe(24)
    config = demo_config(port, host, batching=batching, token=token)
    assert config.observability.logging is not None
    configure_logging(config.observability.logging)
    app = create_app(Gateway.from_config(config), config.server)
    shutdown_timeout_s = config.server.shutdown_timeout_ms / 1000
    # The two orders instances share one SQLite file, so that a mutation is seen whichever instance answers.
    with tempfile.TemporaryDirectory(prefix="funnel-demo-") as db_dir:
        try:
            async with listening(app, host, port, shutdown_timeout_s=shutdown_timeout_s) as url:
                services: ServiceProcesses = launcher.ServiceProcesses(
                    port + 1, host=host, quiet=True, db_dir=db_dir, registry=url, registry_token=token
                )
                try:
                    return await _run(stop, launcher, services, app[REGISTRY], url, config, given is None)
                finally:
                    await asyncio.to_thread(services.stop)
                    _print_left(app[REGISTRY])
        except OSError as error:
            print(f"error: {listen_error(host, port, error)}", file=sys.stderr)
            return 1


async def _run(
    stop: asyncio.Event,
    launcher: ModuleType,
    services: ServiceProcesses,
    registry: RegistryComposer,
    url: str,
    config: GatewayConfig,
    show_token: bool,
) -> int:
    try:
        await asyncio.to_thread(services.start)
    except launcher.ServiceStartError as error:
        if stop.is_set():  # Ctrl-C reached the services too while they were starting
            return 0
        print(f"error: {error}", file=sys.stderr)
        return 1
    if stop.is_set():
        return 0
    _print_banner(url, config, services, config.registry.token if show_token else None)
    joining = services.join(JOINING)
    return await _supervise(stop, services, _Joining(registry, config, services, joining))


class _Joining:
    """Says once that the second instance has joined: registered, routed to, listed beside the others."""

    def __init__(
        self, registry: RegistryComposer, config: GatewayConfig, services: ServiceProcesses, key: str
    ) -> None:
        self.registry = registry
        self.config = config
        self.services = services
        self.key = key
        self.said = False

    async def tell(self) -> None:
        if self.said:
            return
        state = self.registry.store.state
        registered = {(name, i.url) for name, instances in state.services.items() for i in instances}
        own = {(name, service.url) for name, service in self.config.services.items()}
        joined = [i.url for i in state.services.get(JOINING, ()) if (JOINING, i.url) not in own]
        if not joined or not own <= registered:
            return
        try:  # routed to, not only stored; a recomposition still running is waited for at the next poll
            await self.registry.settle(state.version, timeout_s=_SUPERVISE_POLL_S)
        except TimeoutError:
            return
        self.said = True
        pid = self.services.pids[self.key]
        print(
            f"{JOINING} joined: a second instance, {joined[0]} (pid {pid}), registered itself; "
            f"GET {REGISTRY_PATH} lists both, and the calls to {JOINING} are spread over the two.",
            flush=True,
        )


async def _supervise(stop: asyncio.Event, services: ServiceProcesses, joining: _Joining) -> int:
    """Until Ctrl-C: a service that dies is reported and started again; the gateway and the others go on, and
    its fields are null with errors meanwhile."""
    while not stop.is_set():
        for event in services.supervise():
            print(event, file=sys.stderr, flush=True)
        await joining.tell()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _SUPERVISE_POLL_S)
    return 0


def _print_left(registry: RegistryComposer) -> None:
    left = [f"{name} {i.url}" for name, instances in registry.store.state.services.items() for i in instances]
    if left:
        print(f"Stopped; still registered (they did not deregister): {', '.join(left)}.", flush=True)
    else:
        print("Stopped: every service deregistered, then exited.", flush=True)


def _print_banner(url: str, config: GatewayConfig, services: ServiceProcesses, token: str | None) -> None:
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
    lines.append(f"  registry  {url}{REGISTRY_PATH}  (in memory: each service registers itself there)")
    whose = "made for this run, shown only here" if token is not None else f"${TOKEN_ENV}'s"
    reviews = config.services["reviews"].url
    lines += [
        "Try a query, with the plan and every downstream call in extensions.funnel:",
        f"  {try_command(url)}",
        f"Kill catalog (kill {pids['catalog']}) and send it again: the products are null with an error each,",
        "  the rest of the answer is whole; the demo restarts catalog and the next answers are complete again.",
        f"A second {JOINING} instance joins in a moment. Register an instance yourself (the token is {whose}):",
        f"  {register_command(url, 'reviews', reviews, token)}",
        "Request logs go to stderr. Compare with `funnel demo --no-batching`. Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
