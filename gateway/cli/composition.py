"""`funnel compose` (write the composed schema, the lock), `funnel diff` (breaking / dangerous / safe, for CI)
and what `funnel check` adds for composed schemas and OpenAPI documents."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence

from registry.config import GatewayConfig, load_config
from registry.errors import ConfigError, Problem

from ..composition import (
    check_rest_bindings,
    compose,
    diff_schemas,
    print_diff,
    read_openapi,
    read_schema_file,
)
from ..composition.diff import SchemaDiff
from ..gateway import Gateway

__all__ = ["add_composition_commands", "check_sources", "print_problems"]

DIFF_UNREADABLE = 2  # exit code: an input could not be read (1 is "breaking changes")


def add_composition_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    compose_command = commands.add_parser(
        "compose", help="compose the schema from the services and write it (the lock)"
    )
    config_option(compose_command)
    compose_command.add_argument(
        "--out", help="the file to write; - for stdout (default: the config's schema_lock, else stdout)"
    )
    compose_command.set_defaults(command=_compose)

    diff_command = commands.add_parser(
        "diff", help="list the changes between two schemas (files, locks or supergraphs); exit 1 if breaking"
    )
    diff_command.add_argument("old", metavar="OLD")
    diff_command.add_argument("new", metavar="NEW")
    diff_command.set_defaults(command=_diff)


def print_problems(problems: Sequence[Problem], where: str) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)
    count = len(problems)
    print(f"{count} problem{'' if count == 1 else 's'} in {where}", file=sys.stderr)


def _compose(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if config.supergraph is not None:
            message = (
                "the config serves a supergraph, composed already: funnel compose is for `compose: true`"
            )
            raise ConfigError([Problem(message, args.config)])
        if not config.compose:
            raise ConfigError(
                [Problem("the config does not compose its schema (add `compose: true`)", args.config)]
            )
        composition = asyncio.run(compose(config))
    except ConfigError as error:
        print_problems(error.problems, args.config)
        return 1
    for note in composition.notes:
        print(f"note: {note}", file=sys.stderr)
    out = args.out or config.schema_lock or "-"
    if out == "-":
        sys.stdout.write(composition.sdl)
        return 0
    try:
        unchanged = _read_or_none(out) == composition.sdl
        if not unchanged:
            _write_atomically(out, composition.sdl)
    except OSError as error:
        print(f"error: cannot write {out}: {error.strerror}", file=sys.stderr)
        return 1
    services = len(config.services)
    print(
        f"{'unchanged' if unchanged else 'wrote'} {out} (composed from {services} service{'s' * (services != 1)})"
    )
    return 0


def _diff(args: argparse.Namespace) -> int:
    problems: list[Problem] = []
    schemas = []
    for path in (args.old, args.new):
        try:
            schemas.append(read_schema_file(path))
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return DIFF_UNREADABLE
    diff = diff_schemas(*schemas)
    sys.stdout.write(print_diff(diff))
    return 1 if diff.breaking else 0


def check_sources(
    config: GatewayConfig, gateway: Gateway, *, offline: bool = False
) -> tuple[list[Problem], str]:
    """What `funnel check` finds beyond the config and the annotations, and how it names the schema: a lock is
    composed again from the services and compared; REST bindings are checked against OpenAPI documents.
    `offline`: nothing is asked of a service (a lock is not compared; OpenAPI documents only from files)."""
    base = os.path.dirname(os.path.abspath(config.path)) if config.path else os.getcwd()
    if config.supergraph is not None:
        named = config.supergraph if "://" in config.supergraph else os.path.relpath(config.supergraph, base)
        extension = f", schema {os.path.relpath(config.schema_path, base)}" if config.schema_path else ""
        return asyncio.run(_openapi_problems(config, gateway, offline)), f"supergraph {named}{extension}"
    if not config.compose:
        assert config.schema_path is not None
        return asyncio.run(
            _openapi_problems(config, gateway, offline)
        ), f"schema {os.path.relpath(config.schema_path, base)}"
    if config.schema_lock is None:
        return [], "composed"  # composed just now, by loading the gateway: every check has run
    lock = os.path.relpath(config.schema_lock, base)
    if offline:
        return [], f"composed, lock {lock} not compared with the services (--offline)"
    try:
        composition = asyncio.run(compose(config))
    except ConfigError as error:
        return list(error.problems), f"composed, lock {lock}"
    if composition.sdl == _read_or_none(config.schema_lock):
        return [], f"composed, lock {lock} up to date"
    diff = diff_schemas(gateway.schema, composition.load(config.services)[0])
    return [_stale(config.schema_lock, diff)], f"composed, lock {lock}"


def _stale(lock: str, diff: SchemaDiff) -> Problem:
    if diff.changes:
        changes = "; ".join(f"{c.kind}: {c.description}" for c in diff.changes)
        what = f"{len(diff.changes)} change{'s' * (len(diff.changes) != 1)} ({changes})"
    else:
        what = "the same API, other annotations or owners"
    return Problem(
        f"the services now compose another schema than this lock: {what}; run `funnel compose`", lock
    )


async def _openapi_problems(config: GatewayConfig, gateway: Gateway, offline: bool) -> list[Problem]:
    services = [
        s
        for s in config.services.values()
        if s.openapi is not None and not (offline and s.openapi.startswith(("http://", "https://")))
    ]
    results = await asyncio.gather(
        *(read_openapi(s.openapi) for s in services if s.openapi), return_exceptions=True
    )
    problems: list[Problem] = []
    documents = {}
    for service, result in zip(services, results, strict=True):
        if isinstance(result, ConfigError):
            problems.extend(result.problems)
        elif isinstance(result, BaseException):
            raise result
        else:
            documents[service.name] = result
    return [*problems, *check_rest_bindings(gateway.schema, list(gateway.bindings.values()), documents)]


def _read_or_none(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError):
        return None


def _write_atomically(path: str, text: str) -> None:
    """A reader (a gateway starting) sees the old lock or the new one, never half of one."""
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
