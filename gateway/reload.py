"""Hot reload: a new schema checked in full, then swapped in atomically, or refused while the running one stays.

Three ways in, one way through (`apply_schema`):

- the files a gateway was loaded from — its config, the gateway SDL, the schema lock, the services' schema and
  OpenAPI files — watched every `server.watch_ms` (their contents compared, not their times; a changed file is
  read once it has stayed the same for 50 ms, so that one being written is not refused half-written);
- SIGHUP (`funnel serve`; with `--workers`, the supervisor passes it on to every worker), which reloads at once;
- a composition made from the services themselves (`compose: true` without a lock), or a supergraph at an
  http(s) URL, read again every `server.schema_poll_ms` (`supergraph_poll_ms` for a supergraph), so that a
  service's changed schema reaches the gateway.

A reload reads and checks everything off the event loop: the config, the schema (composing asks the services),
every binding against it. A good result is swapped in (`Gateway.swap`: requests in flight finish on the version
they started with, the document and plan caches start afresh); the same schema again changes nothing; a bad one
is refused with every problem logged (file:line) and counted (`funnel_schema_reloads_total{outcome="refused"}`).
Only the schema is hot: a config change to anything else (services, server, auth, ...) is logged as needing a
restart and does not apply.

The registry's recomposition (gateway.registry.composer) swaps through here too, with the services that joined
(`apply_version(..., services=)`); it and a reload take turns (`Gateway.schema_changes`), and a reload reads the
schema through `Gateway.schema_loader`, which the registry makes compose the registered services serving.

    outcome = await reload_config(gateway)          # ReloadOutcome("applied", ...)
    outcome = apply_schema(gateway, schema, bindings, source="a test")
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from graphql import GraphQLSchema

from registry.background import background
from registry.bindings import Binding
from registry.config import GatewayConfig, ServiceConfig, load_config
from registry.errors import ConfigError

if TYPE_CHECKING:
    from aiohttp import web

    from .gateway import Gateway
    from .version import SchemaVersion

__all__ = [
    "ReloadOutcome",
    "SchemaWatcher",
    "apply_schema",
    "apply_version",
    "reload_config",
    "source_files",
    "sources_fingerprint",
]

log = logging.getLogger("funnel.reload")

Status = Literal["applied", "unchanged", "refused"]
# What the schema comes from: a change to these is the reload itself, not a setting that needs a restart.
_SCHEMA_KEYS: Final = frozenset({"path", "schema_path", "schema_location", "compose", "schema_lock"})
# A changed file is read once it has stayed the same this long (at most so many times: a file rewritten
# without end is read as it is then).
_SETTLE_S: Final = 0.05
_SETTLE_TRIES: Final = 20


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    status: Status
    version: str  # the version serving after it
    problems: tuple[str, ...] = ()  # why it was refused, each with its file:line
    needs_restart: tuple[str, ...] = ()  # config sections that changed but apply only at start-up
    config: GatewayConfig | None = dataclasses.field(default=None, compare=False, repr=False)  # as read


def apply_schema(
    gateway: Gateway,
    schema: GraphQLSchema,
    bindings: Iterable[Binding],
    *,
    source: str,
    services: Mapping[str, ServiceConfig] | None = None,
) -> ReloadOutcome:
    """Check `schema` with `bindings` against the gateway's services (or `services`, which replace them with
    it) and swap it in; `source` names where it came from in the log line."""
    try:
        version = gateway.build_version(schema, list(bindings), services=services)
    except ConfigError as error:
        return _refused(gateway, source, error)
    return apply_version(gateway, version, source=source, services=services)


def apply_version(
    gateway: Gateway,
    version: SchemaVersion,
    *,
    source: str,
    services: Mapping[str, ServiceConfig] | None = None,
) -> ReloadOutcome:
    """Swap in a version already checked (`Gateway.build_version`), with the `services` it was built for."""
    return _swap(gateway, version, source, services)


async def reload_config(
    gateway: Gateway, *, running: GatewayConfig | None = None, source: str = "the config"
) -> ReloadOutcome:
    """Read the gateway's config file again and apply its schema; the other settings are compared with
    `running` (default: the gateway's config), the file as last read. Everything that reads a file, asks a
    service or checks the schema runs on a worker thread."""
    config = running or gateway.config
    if config is None or (config.path is None and config.supergraph is None):
        raise ValueError("the gateway was not loaded from a config file or a supergraph")
    path = config.path

    def load() -> tuple[GatewayConfig, SchemaVersion]:
        fresh = load_config(path) if path is not None else config  # `funnel serve --supergraph` alone
        schema, bindings = gateway.schema_loader(fresh)
        return fresh, gateway.build_version(schema, bindings)

    async with gateway.schema_changes:
        try:
            fresh, version = await asyncio.to_thread(load)
        except ConfigError as error:
            return _refused(gateway, source, error)
        outcome = _swap(gateway, version, source)
    changed = changed_sections(config, fresh)
    if changed:
        log.warning(
            "%s changed %s: a restart applies %s (the schema is reloaded now)",
            path or config.supergraph,
            ", ".join(changed),
            "it" if len(changed) == 1 else "them",
        )
    return dataclasses.replace(outcome, needs_restart=changed, config=fresh)


def _swap(
    gateway: Gateway,
    version: SchemaVersion,
    source: str,
    services: Mapping[str, ServiceConfig] | None = None,
) -> ReloadOutcome:
    if version.id == gateway.current.id:
        if services is not None:  # the same schema, served by other instances (a registered service's URL)
            gateway.services = MappingProxyType(dict(services))
        log.debug("%s: the schema is unchanged (version %s)", source, version.id)
        return ReloadOutcome("unchanged", version.id)
    previous = gateway.swap(version, services=services)
    log.info("schema reloaded from %s: version %s replaces %s", source, version.id, previous.id)
    metrics = gateway.observability.metrics
    if metrics is not None:
        metrics.schema_reloaded(True)
    return ReloadOutcome("applied", version.id)


def _refused(gateway: Gateway, source: str, error: ConfigError) -> ReloadOutcome:
    problems = tuple(str(p) for p in error.problems)
    log.error(
        "schema reload from %s refused, version %s keeps serving; %d problem%s:\n%s",
        source,
        gateway.current.id,
        len(problems),
        "" if len(problems) == 1 else "s",
        "\n".join(problems),
    )
    metrics = gateway.observability.metrics
    if metrics is not None:
        metrics.schema_reloaded(False)
    return ReloadOutcome("refused", gateway.current.id, problems)


def changed_sections(running: GatewayConfig, fresh: GatewayConfig) -> tuple[str, ...]:
    """The config's top-level settings that differ, where the file was written (locations) aside."""
    return tuple(
        f.name
        for f in dataclasses.fields(GatewayConfig)
        if f.name not in _SCHEMA_KEYS and _plain(getattr(running, f.name)) != _plain(getattr(fresh, f.name))
    )


def _plain(value: Any) -> Any:
    """`value` without its source locations: the same settings written on other lines compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(
            (f.name, _plain(getattr(value, f.name)))
            for f in dataclasses.fields(value)
            if f.name not in ("location", "schema_location")
        )
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


# -- what is watched ------------------------------------------------------------------------------------------


def source_files(config: GatewayConfig) -> tuple[str, ...]:
    """The files the gateway's schema is read from: the config, and the SDL or lock it names (composing live:
    the gateway's own SDL and the services' schema and OpenAPI files)."""
    files = [config.path] if config.path is not None else []
    if config.supergraph is not None and "://" not in config.supergraph:
        files.append(config.supergraph)
    if config.compose and config.schema_lock is not None:
        files.append(config.schema_lock)
    elif config.schema_path is not None:
        files.append(config.schema_path)
    if config.compose and config.schema_lock is None:
        for service in config.services.values():
            files += [f for f in (service.schema_file, service.openapi) if f is not None and "://" not in f]
    return tuple(dict.fromkeys(files))


def sources_fingerprint(files: Iterable[str]) -> Mapping[str, str | None]:
    """Each file's content digest (None: it cannot be read, which a reload then reports)."""
    digests: dict[str, str | None] = {}
    for name in files:
        try:
            with open(name, "rb") as file:
                digests[name] = hashlib.sha256(file.read()).hexdigest()
        except OSError:
            digests[name] = None
    return digests


class SchemaWatcher:
    """Reloads the gateway when its source files change, on SIGHUP (`request`), and when a live composition
    is due again; owned by the server application (`context`), one reload at a time."""

    def __init__(self, gateway: Gateway, *, watch_ms: int, poll_ms: int) -> None:
        config = gateway.config
        assert config is not None and (config.path is not None or config.supergraph is not None)
        self.gateway = gateway
        self.watch_s = watch_ms / 1000
        # What a poll can change: a composition made live from the services, or a supergraph at a URL; a lock,
        # a hand-written schema or a supergraph file is in a file, watched.
        live = (config.compose and config.schema_lock is None) or "://" in (config.supergraph or "")
        self.poll_s = poll_ms / 1000 if live else 0.0
        self.files = source_files(config)
        # What the gateway was loaded from (a worker forked later compares with that, not with the files now).
        self.seen = gateway.sources if gateway.sources is not None else sources_fingerprint(self.files)
        self.outcomes: list[ReloadOutcome] = []  # the last few, for tests and /ready
        self.running = config  # the file as last read: what a changed setting is compared with
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def request(self) -> None:
        """Reload now, whatever the files say (SIGHUP)."""
        self._wake.set()

    async def context(self, _app: web.Application) -> AsyncIterator[None]:
        path = self.running.path
        if path is not None:  # the file as it is, not as the gateway was given it (`funnel demo` moves ports)
            with contextlib.suppress(ConfigError):
                self.running = await asyncio.to_thread(load_config, path)
        async with background(self._run(), "funnel-schema-watcher"):
            yield

    async def check(self, *, forced: bool = False, source: str | None = None) -> ReloadOutcome | None:
        """One look at the files (or, `forced`, a reload regardless); None when nothing is to be done."""
        async with self._lock:
            now = await asyncio.to_thread(sources_fingerprint, self.files)
            changed = [name for name in self.files if now.get(name) != self.seen.get(name)]
            if not changed and not forced:
                return None
            now = await self._settled(now)
            self.seen = now  # a refused change is not tried again until the files change again
            what = source or (", ".join(changed) if changed else "the config")
            outcome = await reload_config(self.gateway, running=self.running, source=what)
            if outcome.config is not None:
                self.running = outcome.config
            if outcome.status != "refused":
                self.gateway.sources = now
            self.outcomes = [*self.outcomes[-9:], outcome]
            return outcome

    async def _settled(self, now: Mapping[str, str | None]) -> Mapping[str, str | None]:
        """The files once they stay the same for a moment: a file being written (truncated, then filled, as
        most editors and `open(..., "w")` do) is read whole, not refused half-written."""
        for _ in range(_SETTLE_TRIES):
            await asyncio.sleep(_SETTLE_S)
            again = await asyncio.to_thread(sources_fingerprint, self.files)
            if again == now:
                break
            now = again
        return now

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + self.poll_s if self.poll_s else None
        while True:
            waits = [w for w in (self.watch_s, (next_poll - loop.time()) if next_poll else 0) if w > 0]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(waits) if waits else None)
            signalled = self._wake.is_set()
            self._wake.clear()
            polled = next_poll is not None and loop.time() >= next_poll
            try:
                if signalled:
                    await self.check(forced=True, source="SIGHUP")
                elif polled:
                    await self.check(forced=True, source="the services' schemas")
                elif self.watch_s:
                    await self.check()
            except Exception:  # a reload must never stop the watching; the next change is tried again
                log.exception("schema reload failed")
            if polled:
                next_poll = loop.time() + self.poll_s
