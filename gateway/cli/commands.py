"""The `funnel` command (also `python -m gateway`): serve, demo, explain, check, compose, diff, bench."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson
from graphql import GraphQLError

from instrumentation.errors import PlanError
from instrumentation.plan import print_plan
from registry.config import GatewayConfig, load_config
from registry.errors import ConfigError

from ..gateway import Gateway
from ..observability import configure_logging
from ..server import GRAPHQL_PATH
from ..server.serving import event_loop_factory, listen_error, run, serve, serve_workers
from .check import check_downstream
from .checkout import CheckoutMissing, import_from_checkout
from .composition import add_composition_commands, check_sources, print_problems

__all__ = ["main"]

DEFAULT_CONFIG = "funnel.yaml"
BENCHMARKS = ("abuse", "batching", "cache", "faults", "load", "overhead", "peer", "registry")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] | None = getattr(args, "command", None)
    if command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return command(args)
    except BrokenPipeError:  # the reader went away (`funnel explain q.graphql | head`): no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at exit, when stdout is flushed
        return 1


# -- the commands --------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    config = _configured(args)
    if config is None:
        return 1
    settings = config.server
    settings = replace(
        settings,
        host=settings.host if args.host is None else args.host,
        port=settings.port if args.port is None else args.port,
    )
    workers: int = settings.workers if args.workers is None else args.workers
    registry = config.registry
    registering = registry.token is not None or registry.token_env is not None or registry.service_tokens
    if workers > 1 and registry.backend == "memory" and registering:
        print(
            f"error: registry.backend memory keeps registrations in one process, and {workers} workers would "
            "each keep their own: with --workers, use registry.backend: redis",
            file=sys.stderr,
        )
        return 1
    with contextlib.ExitStack() as stack:
        on_worker_exit: Callable[[int], None] | None = None
        if workers > 1 and config.observability.metrics:
            # Before the gateway makes its metrics: they are then files that every worker's /metrics sums.
            from ..observability.multiprocess import shared_metrics, worker_exited

            directory = stack.enter_context(shared_metrics())
            on_worker_exit = functools.partial(worker_exited, directory)
        gateway = _load(config, batching=False if args.no_batching else None)
        if gateway is None:
            return 1
        if config.observability.logging is not None:
            configure_logging(config.observability.logging)

        def announce(url: str) -> None:
            loop = "uvloop" if event_loop_factory() is not None else "asyncio"
            count = f"{workers} worker{'s' if workers != 1 else ''}"
            batching = "on" if gateway.batching else "off"
            print(
                f"Funnel listening on {url}{GRAPHQL_PATH} (batching {batching}, {count}, {loop})", flush=True
            )

        if workers > 1:
            return serve_workers(
                gateway, settings, workers, on_listening=announce, on_worker_exit=on_worker_exit
            )
        try:
            run(serve(gateway, settings, on_listening=announce))
        except OSError as error:
            print(f"error: {listen_error(settings.host, settings.port, error)}", file=sys.stderr)
            return 1
        return 0


def _bench(args: argparse.Namespace) -> int:
    try:
        benchmark = import_from_checkout(f"benchmarks.{args.benchmark}", command="bench")
    except CheckoutMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    benchmark.main(args.options)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo  # loads the examples: only for this command

    return run(run_demo(args.port, args.host, batching=not args.no_batching))


def _explain(args: argparse.Namespace) -> int:
    config = _configured(args)
    gateway = None if config is None else _load(config)
    if gateway is None:
        return 1
    source = "<stdin>" if args.query_file == "-" else args.query_file
    try:
        query = sys.stdin.read() if args.query_file == "-" else _read(args.query_file)
        variables = _variables(args.variables)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    prepared = gateway.prepare(query)
    errors = prepared.errors
    if prepared.document is not None:
        try:
            plan = gateway.plan(query, args.operation, variables)
        except PlanError as error:
            errors = [GraphQLError(error.message, error.node)]
    if errors:
        for problem in errors:
            print(_located(source, problem), file=sys.stderr)
        return 1
    print(print_plan(plan))
    return 0


def _check(args: argparse.Namespace) -> int:
    config = _configured(args)
    gateway = None if config is None else _load(config)
    if gateway is None or config is None:
        return 1
    named = config.path or args.supergraph
    problems, schema = check_sources(config, gateway, offline=args.offline)
    if problems:
        print_problems(problems, named)
        return 1
    services = _plural(len(gateway.services), "service")
    fields = _plural(len(gateway.bindings), "annotated field")
    against = ""
    if not args.offline:
        found = run(check_downstream(gateway))
        for problem in found.unreachable:
            print(problem, file=sys.stderr)
        if found.problems:
            print_problems(found.problems, named)
            return 1
        against = f"; checked against {', '.join(found.checked) or 'no service'}"
    print(f"OK: {args.config or named} ({schema}, {services}, {fields}{against})")
    return 0


# -- helpers -------------------------------------------------------------------------------------------------


def _configured(args: argparse.Namespace) -> GatewayConfig | None:
    """The config of `--config` and `--supergraph`: a supergraph alone needs no file; given with a config, it
    replaces the config's schema. None after printing every problem."""
    if args.supergraph is not None and args.config is None:  # nothing else to configure
        return GatewayConfig(path=None, schema_path=None, supergraph=args.supergraph)
    config = _load_config(args.config or DEFAULT_CONFIG)
    if config is not None and args.supergraph is not None:
        config = replace(
            config, supergraph=args.supergraph, schema_path=None, compose=False, schema_lock=None
        )
    return config


def _load(config: str | GatewayConfig, *, batching: bool | None = None) -> Gateway | None:
    """The gateway, frozen (every binding checked), or None after printing every problem."""
    try:
        gateway = Gateway.from_config(config, batching=batching)
        gateway.freeze()
    except ConfigError as error:
        print_problems(error.problems, config if isinstance(config, str) else config.path or "the config")
        return None
    return gateway


def _load_config(path: str) -> GatewayConfig | None:
    """The config file read and checked (its `${VAR}` and `FUNNEL_*` from the environment), or None after
    printing every problem."""
    try:
        return load_config(path)
    except ConfigError as error:
        print_problems(error.problems, path)
        return None


def _located(source: str, error: GraphQLError) -> str:
    """`q.graphql:1:3: message`, as compilers and `funnel check` put it (the file alone without a location)."""
    where = "".join(f":{loc.line}:{loc.column}" for loc in (error.locations or ())[:1])
    return f"{source}{where}: {error.message}"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise OSError(f"cannot read {path}: {error.strerror}") from None


def _variables(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("--variables must be a JSON object, got invalid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("--variables must be a JSON object")
    return value


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 to 65535), got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="funnel", description="A GraphQL gateway that sends one batched call per service per level."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def config_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--config", default=DEFAULT_CONFIG, help=f"the YAML configuration (default: {DEFAULT_CONFIG})"
        )

    def config_or_supergraph(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--config",
            help=f"the YAML configuration (default: {DEFAULT_CONFIG}, unless --supergraph is given alone)",
        )
        command.add_argument(
            "--supergraph",
            help="a Federation supergraph (a file or an http(s) URL) whose subgraphs are the services; with"
            " --config, instead of the config's schema",
        )

    serve_command = commands.add_parser("serve", help="serve the gateway over HTTP")
    config_or_supergraph(serve_command)
    serve_command.add_argument(
        "--host", help="address to listen on (default: the config's server.host, 127.0.0.1 when unset)"
    )
    serve_command.add_argument(
        "--port",
        type=_port,
        help="port to listen on; 0 picks a free one (default: the config's server.port, 4000 when unset)",
    )
    serve_command.add_argument(
        "--no-batching", action="store_true", help="one call per parent: the N+1 baseline"
    )
    serve_command.add_argument(
        "--workers",
        type=_positive_int,
        help="processes sharing the port (SO_REUSEPORT, Linux; default: the config's server.workers, 1 when unset)",
    )
    serve_command.set_defaults(command=_serve)

    demo_command = commands.add_parser(
        "demo", help="start the four example services and a gateway over them; Ctrl-C stops everything"
    )
    demo_command.add_argument(
        "--port", type=_port, default=4000, help="the gateway's port; the services take the next four"
    )
    demo_command.add_argument("--host", default="127.0.0.1")
    demo_command.add_argument(
        "--no-batching", action="store_true", help="one call per parent: the N+1 baseline"
    )
    demo_command.set_defaults(command=_demo)

    explain_command = commands.add_parser(
        "explain", help="print the plan for a query without calling anything"
    )
    config_or_supergraph(explain_command)
    explain_command.add_argument(
        "query_file", metavar="QUERY_FILE", help="a file with the GraphQL query; - reads stdin"
    )
    explain_command.add_argument("--operation", help="the operation to plan, when the file has several")
    explain_command.add_argument("--variables", help="JSON object; decides @skip/@include")
    explain_command.set_defaults(command=_explain)

    check_command = commands.add_parser(
        "check",
        help="check the configuration and the schema's annotations, then every binding against the schema "
        "each GraphQL service gives when introspected",
    )
    config_or_supergraph(check_command)
    check_command.add_argument(
        "--offline", action="store_true", help="do not introspect the services: the config and the SDL only"
    )
    check_command.set_defaults(command=_check)

    add_composition_commands(commands, config_option)

    bench_command = commands.add_parser(
        "bench",
        help="run a benchmark from benchmarks/ (abuse, batching, cache, faults, load, overhead, peer); "
        "options go to it",
    )
    bench_command.add_argument("benchmark", choices=BENCHMARKS)
    bench_command.add_argument("options", nargs=argparse.REMAINDER, help="e.g. --quick --json out.json")
    bench_command.set_defaults(command=_bench)
    return parser
