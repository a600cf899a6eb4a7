"""What the registry stores and the protocol of a store: instances with leases, one version per change.

    store = make_store(config.registry, config.redis)
    store.watch(lambda state: ...)        # called with each new state (a change here or on another replica)
    await store.start()
    await store.put(instance, ttl_s=10)    # register, or re-register the same URL
    await store.renew("catalog", id, ttl_s=10)
    await store.remove("catalog", id)

`store.state` is the last state read: when the backend cannot be reached it stays as it was (and `available`
is false), so a gateway keeps serving what it knew.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

from registry.config import PROTOCOLS, RedisConfig, RegistryConfig
from registry.config import Protocol as ServiceProtocol

__all__ = [
    "CONTRIBUTION_KINDS",
    "Contribution",
    "ContributionKind",
    "Instance",
    "RegistryState",
    "RegistryStore",
    "RegistryUnavailable",
    "instance_id",
    "make_store",
]

ContributionKind = Literal["sdl", "federation", "introspect"]
CONTRIBUTION_KINDS: tuple[ContributionKind, ...] = ("sdl", "federation", "introspect")


def make_store(config: RegistryConfig, redis: RedisConfig | None) -> RegistryStore:
    """The configured backend: in memory, or Redis (`registry.url`, else the `redis:` section's)."""
    if config.backend == "memory":
        from .memory_store import MemoryStore

        return MemoryStore()
    from .redis_store import RedisStore

    if config.url is not None:
        base = redis or RedisConfig(url=config.url)
        redis = RedisConfig(config.url, base.timeout_ms, base.prefix, config.location)
    assert redis is not None, "checked when the config is read"
    # What Redis lost is given back with a full lease: the instances' next heartbeats renew it as usual.
    return RedisStore(redis, restore_ttl_s=config.ttl_s)


class RegistryUnavailable(Exception):
    """The store could not be reached: nothing was changed (the caller may try again)."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """A service's part of the schema: an SDL with Funnel's annotations, a Federation subgraph's SDL, or
    nothing (the gateway introspects the instance)."""

    kind: ContributionKind
    sdl: str | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    service: str
    url: str
    protocol: ServiceProtocol = "graphql"
    health_path: str | None = None
    contribution: Contribution = Contribution("introspect")
    registered_at: float = 0.0  # the store's clock (seconds), set by the store
    expires_at: float = 0.0  # the end of its lease, on the store's clock

    @property
    def id(self) -> str:
        return instance_id(self.url)

    def encode(self) -> str:
        """What the store keeps (lease and registration time apart: a heartbeat, or the same registration
        again, is not a change)."""
        return json.dumps(
            {
                "service": self.service,
                "url": self.url,
                "protocol": self.protocol,
                "health_path": self.health_path,
                "contribution": {"kind": self.contribution.kind, "sdl": self.contribution.sdl},
            },
            sort_keys=True,
        )

    @classmethod
    def decode(cls, text: str | bytes, registered_at: float, expires_at: float) -> Instance:
        data: Any = json.loads(text)
        contribution = data["contribution"]
        protocol = data["protocol"]
        kind = contribution["kind"]
        assert protocol in PROTOCOLS and kind in CONTRIBUTION_KINDS, "written by Instance.encode"
        return cls(
            data["service"],
            data["url"],
            protocol,
            data["health_path"],
            Contribution(kind, contribution["sdl"]),
            registered_at,
            expires_at,
        )


def instance_id(url: str) -> str:
    """An instance is its URL: registering the same URL again updates it instead of adding another."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RegistryState:
    """Every registered instance, by service, at one version (a number that grows with each change)."""

    version: int = 0
    services: Mapping[str, tuple[Instance, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, version: int, instances: list[Instance]) -> RegistryState:
        by_service: dict[str, list[Instance]] = {}
        for instance in sorted(instances, key=lambda i: (i.service, i.registered_at, i.url)):
            by_service.setdefault(instance.service, []).append(instance)
        return cls(version, MappingProxyType({n: tuple(i) for n, i in sorted(by_service.items())}))

    def find(self, service: str, instance: str) -> Instance | None:
        return next((i for i in self.services.get(service, ()) if i.id == instance), None)

    def contribution(self, service: str) -> Contribution | None:
        """The service's schema contribution: that of its latest registered instance."""
        instances = self.services.get(service)
        return instances[-1].contribution if instances else None


class RegistryStore(Protocol):
    @property
    def state(self) -> RegistryState: ...

    @property
    def available(self) -> bool: ...

    @property
    def errors(self) -> int: ...  # failed exchanges with the backend since start

    @property
    def backend(self) -> str: ...

    def watch(self, callback: Callable[[RegistryState], None]) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, instance: Instance, ttl_s: float) -> RegistryState: ...

    async def renew(self, service: str, instance: str, ttl_s: float) -> bool: ...

    async def remove(self, service: str, instance: str) -> bool: ...

    async def refresh(self) -> RegistryState: ...
