"""The gateway's schema from its config's services and the registered ones, recomposed when the registry changes.

A registered service the config does not name joins the composition (`compose: true` only: a hand-written
schema names its services itself) with its contribution, that of its latest instance:

- `sdl`: the service's SDL, read as a `schema_file` is;
- `federation`: an Apollo Federation subgraph's SDL (its `@key`s give the entity links);
- `introspect`: the gateway asks the instance (introspection, then `_service { sdl }` for a subgraph).

An instance of a service the config names only adds an instance to it: its schema stays the config's.

    composer = RegistryComposer(gateway, store)
    problems = await composer.check(candidate_state)   # () when it composes: a registration may be stored
    await composer.settle(version)                      # the state at `version` (or later) is serving

Recomposition runs one at a time, on the latest state (a burst of changes is one recomposition); what it
builds is checked in full before the atomic swap (`reload.apply_version`), and a state that does not compose
keeps the last good schema serving (logged, counted as a refused reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from graphql import GraphQLSchema

from registry.background import background
from registry.bindings import Binding
from registry.config import GatewayConfig, ServiceConfig
from registry.errors import ConfigError, Problem

from ..composition.compose import compose_schemas, gateway_sdl
from ..composition.gateway_schema import load_gateway_schema
from ..composition.sources import ServiceSchema, introspected_schema, load_service_schemas, service_schema
from ..composition.subgraph import build_sdl_schema, subgraph_schema
from ..reload import ReloadOutcome, apply_version
from .routing import route
from .store import Contribution, RegistryState, RegistryStore

if TYPE_CHECKING:
    from aiohttp import web

    from ..gateway import Gateway
    from ..version import SchemaVersion

__all__ = ["Composed", "RegistryComposer", "instance_urls", "registered_services"]

log = logging.getLogger("funnel.registry")

SOURCE: Final = "the registry"
RETRY_FIRST_S: Final = 1.0  # a state that did not compose is tried again after this, then twice as long
RETRY_MAX_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Composed:
    """A schema version built for a registry state, with the services it needs."""

    version: SchemaVersion
    services: Mapping[str, ServiceConfig]
    registry_version: int


def registered_services(config: GatewayConfig, state: RegistryState) -> dict[str, ServiceConfig]:
    """The services the registry adds to the config's, each as its first instance describes it."""
    added: dict[str, ServiceConfig] = {}
    for name, instances in state.services.items():
        if name in config.services or not instances:
            continue
        first = instances[0]
        added[name] = ServiceConfig(
            name=name, url=first.url, protocol=first.protocol, health_path=first.health_path or "/health"
        )
    return added


def instance_urls(config: GatewayConfig, state: RegistryState) -> dict[str, tuple[str, ...]]:
    """Every service's instances: the config's first (for a service it names), then the registered ones."""
    urls: dict[str, tuple[str, ...]] = {}
    for name, service in config.services.items():
        registered = [i.url for i in state.services.get(name, ())]
        urls[name] = tuple(dict.fromkeys([*service.instances, *registered]))
    for name, instances in state.services.items():
        if name not in config.services and instances:
            urls[name] = tuple(dict.fromkeys(i.url for i in instances))
    return urls


class RegistryComposer:
    def __init__(self, gateway: Gateway, store: RegistryStore) -> None:
        assert gateway.config is not None, "the registry is a section of the config"
        self.gateway = gateway
        self.config: GatewayConfig = gateway.config
        self.store = store
        self.applied = 0  # the registry version last recomposed (applied or refused)
        self.last: ReloadOutcome | None = None
        self._settled = asyncio.Condition()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one composition at a time: a check at POST and the follower alike
        self._config_schemas: list[ServiceSchema] | None = None  # the config's services', read once
        self._introspected: dict[tuple[str, str], ServiceSchema] = {}
        self._built: dict[Any, Composed] = {}  # inputs -> what they built (the last two)
        self._serving: tuple[Any, ...] = ()  # the inputs of the schema serving: none, the config's own
        self._serving_state = RegistryState()  # the state they came from
        store.watch(lambda _state: self._wake.set())
        gateway.schema_loader = self.load_for_reload

    @property
    def composes(self) -> bool:
        """Whether services the config does not name can join: only a composed schema takes them in."""
        return self.config.compose and self.config.supergraph is None

    # -- checking ---------------------------------------------------------------------------------------

    def refusal(self, service: str, protocol: str, contribution: Contribution) -> str | None:
        """Why an instance of `service` cannot be registered whatever the schemas say, or None."""
        declared = self.config.services.get(service)
        if declared is not None:
            if protocol != declared.protocol:
                return (
                    f"{service} is a {declared.protocol} service in the config: "
                    f"an instance of it cannot be {protocol}"
                )
            if contribution.kind != "introspect":
                return (
                    f"{service} is named in the config, which says where its schema comes from: an instance "
                    f"of it adds an instance only (leave schema out, or give kind introspect)"
                )
            return None
        if not self.composes:
            return (
                f"{service} is not in the config, and only a composed schema (compose: true) takes in services "
                f"that join at run time: this gateway's schema is written by hand"
            )
        if protocol != "graphql":
            return f"{service} is not in the config: a service joins at run time as a GraphQL service only"
        return None

    async def check(self, state: RegistryState) -> tuple[str, ...]:
        """The composition's problems for `state` (none: it may be stored); what it built is kept for the
        recomposition that follows the change."""
        try:
            await self.compose(state)
        except ConfigError as error:
            # Where the gateway's config lies is none of the registering service's business.
            return tuple(str(_off_disk(p, self.config.path)) for p in error.problems)
        return ()

    def inputs(self, state: RegistryState) -> tuple[Any, ...]:
        """What the composition of `state` depends on: equal inputs compose the same schema."""
        added = registered_services(self.config, state)
        # A service's contribution is its latest instance's, and that instance is the one introspected.
        latest = {name: state.services[name][-1] for name in added}
        return tuple(
            (name, service.url, latest[name].contribution, latest[name].url)
            for name, service in sorted(added.items())
        )

    async def compose(self, state: RegistryState) -> Composed:
        """The schema version `state` gives, checked in full; ConfigError with every problem."""
        async with self._lock:
            added = registered_services(self.config, state)
            latest = {name: state.services[name][-1] for name in added}
            inputs = self.inputs(state)
            built = self._built.get(inputs)
            if built is not None:
                return dataclasses.replace(built, registry_version=state.version)
            services = MappingProxyType({**self.config.services, **added})
            # Bounded: the schemas introspected of services that left are dropped.
            self._introspected = {k: v for k, v in self._introspected.items() if k[0] in added}
            if added:
                schemas = [*(await self._config_service_schemas())]
                for name, service in added.items():
                    instance = latest[name]
                    asked = dataclasses.replace(service, url=instance.url)
                    schemas.append(await self._contributed(asked, instance.contribution))
                config = dataclasses.replace(self.config, services=services)
                version = await asyncio.to_thread(self._build_composed, config, schemas)
            else:
                version = await asyncio.to_thread(self._build_configured)
            composed = Composed(version, services, state.version)
            self._built = {**dict(list(self._built.items())[-1:]), inputs: composed}
            return composed

    def _build_composed(self, config: GatewayConfig, schemas: list[ServiceSchema]) -> SchemaVersion:
        schema, bindings = _composed_schema(config, schemas)
        return self.gateway.build_version(schema, bindings, services=config.services)

    def _build_configured(self) -> SchemaVersion:
        schema, bindings = load_gateway_schema(self.config)
        return self.gateway.build_version(schema, bindings, services=self.config.services)

    def load_for_reload(self, config: GatewayConfig) -> tuple[GraphQLSchema, tuple[Binding, ...]]:
        """`Gateway.schema_loader` (a reload, on a worker thread): the config's schema with the registered
        services serving composed in, every service's schema read afresh. Those serving, not the store's latest:
        a change not yet recomposed has its transports still to come, and is recomposed after."""
        state = self._serving_state
        added = registered_services(config, state)
        if not added or not self.composes:
            return load_gateway_schema(config)
        services = MappingProxyType({**config.services, **added})

        async def gather() -> list[ServiceSchema]:
            schemas = await load_service_schemas(sorted(config.services.values(), key=lambda s: s.name))
            for name, service in added.items():
                instance = state.services[name][-1]
                asked = dataclasses.replace(service, url=instance.url)
                schemas.append(await _contributed(asked, instance.contribution))
            return schemas

        return _composed_schema(dataclasses.replace(config, services=services), asyncio.run(gather()))

    async def _config_service_schemas(self) -> list[ServiceSchema]:
        if self._config_schemas is None:  # asked once: a registration does not change them
            services = sorted(self.config.services.values(), key=lambda s: s.name)
            self._config_schemas = await load_service_schemas(services)
        return self._config_schemas

    async def _contributed(self, service: ServiceConfig, contribution: Contribution) -> ServiceSchema:
        if contribution.kind != "introspect":
            return await _contributed(service, contribution)
        key = (service.name, service.url)
        schema = self._introspected.get(key)
        if schema is None:
            schema = await _contributed(service, contribution)
            # Bounded: one per service the registry holds now.
            self._introspected = {k: v for k, v in self._introspected.items() if k[0] != service.name}
            self._introspected[key] = schema
        return schema

    # -- following ----------------------------------------------------------------------------------------

    async def settle(self, version: int, timeout_s: float = 30.0) -> None:
        """Wait until the registry at `version` (or later) has been recomposed here."""
        self._wake.set()
        async with asyncio.timeout(timeout_s), self._settled:
            await self._settled.wait_for(lambda: self.applied >= version)

    async def recompose(self) -> ReloadOutcome:
        """Build the latest state's schema and swap it in, with the transports its services need."""
        async with self.gateway.schema_changes:
            return await self._recompose()

    async def _recompose(self) -> ReloadOutcome:
        state = self.store.state
        if self.inputs(state) == self._serving:  # the same schema: only the instances may have changed
            route(self.gateway.clients, self.gateway.services, instance_urls(self.config, state), ())
            self._serving_state = state
            return ReloadOutcome("unchanged", self.gateway.current.id)
        try:
            composed = await self.compose(state)
        except ConfigError as error:
            problems = tuple(str(p) for p in error.problems)
            log.error(
                "the registry at version %d does not compose; version %s keeps serving:\n%s",
                state.version,
                self.gateway.current.id,
                "\n".join(problems),
            )
            metrics = self.gateway.observability.metrics
            if metrics is not None:
                metrics.schema_reloaded(False)
            shown = tuple(str(_off_disk(p, self.config.path)) for p in error.problems)  # for GET /registry
            return ReloadOutcome("refused", self.gateway.current.id, shown)
        before = set(self.gateway.services)
        route(self.gateway.clients, composed.services, instance_urls(self.config, state), before)
        outcome = apply_version(self.gateway, composed.version, source=SOURCE, services=composed.services)
        route(self.gateway.clients, composed.services, None, before)  # then the services gone are closed
        self._serving, self._serving_state = self.inputs(state), state
        return outcome

    async def context(self, _app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: the store started (and closed), its changes followed."""
        await self.store.start()
        try:
            async with background(self._follow(), "funnel-registry"):
                yield
        finally:
            await self.store.close()

    async def _follow(self) -> None:
        self._wake.set()  # what the store read at start
        retry_s: float | None = None
        while True:
            # A refused state is tried again, less and less often, until it composes or changes: what failed
            # may have been passing (an instance that did not answer its introspection in time).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), retry_s)
            self._wake.clear()
            version = self.store.state.version
            try:
                self.last = await self.recompose()
            except Exception:  # never stop following: the next change is tried again
                log.exception("registry recomposition failed")
                self.last = None
            failed = self.last is None or self.last.status == "refused"
            retry_s = min((retry_s or RETRY_FIRST_S / 2) * 2, RETRY_MAX_S) if failed else None
            async with self._settled:
                self.applied = max(self.applied, version)
                self._settled.notify_all()


async def _contributed(service: ServiceConfig, contribution: Contribution) -> ServiceSchema:
    """The registered service's schema, from its contribution (ConfigError naming it)."""
    where = f"the SDL registered for {service.name}"
    if contribution.kind == "sdl":
        assert contribution.sdl is not None
        return service_schema(service, "registered SDL", build_sdl_schema(contribution.sdl, where))
    if contribution.kind == "federation":
        assert contribution.sdl is not None
        subgraph = subgraph_schema(contribution.sdl, where)
        origin = "registered Federation subgraph"
        return service_schema(service, origin, subgraph.schema, entities=subgraph.entities)
    return await introspected_schema(service)


def _composed_schema(
    config: GatewayConfig, schemas: list[ServiceSchema]
) -> tuple[GraphQLSchema, tuple[Binding, ...]]:
    """The config's services and the registered ones composed with the gateway SDL (ConfigError)."""
    return compose_schemas(config, schemas, gateway_sdl(config)).load(config.services)


def _off_disk(problem: Problem, config_path: str | None) -> Problem:
    return dataclasses.replace(problem, file=None, line=None) if problem.file == config_path else problem
