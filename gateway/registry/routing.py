"""The registry's instances handed to the gateway's transports: a service that joins gets one, its instances
follow the registry, a service that leaves has its transport closed."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from registry.config import ServiceConfig

from ..transport import ServiceClients

__all__ = ["route"]


def route(
    clients: ServiceClients,
    services: Mapping[str, ServiceConfig],
    instances: Mapping[str, tuple[str, ...]] | None,
    before: Collection[str],
) -> None:
    """With `instances`: add a transport for each service of `services` not yet served and give every service
    its instances. Without: close the transports of the services of `before` no longer in `services`."""
    pool: Any = clients  # until the instance pool lands, only its first instance is served
    if instances is None:
        for name in before:
            if name not in services and hasattr(pool, "remove"):
                pool.remove(name)
        return
    for name, service in services.items():
        if name not in clients.transports:
            if hasattr(pool, "add"):
                pool.add(service)
            else:
                from ..resilience import ResilientTransport

                pool._transports[name] = ResilientTransport(service)
                pool._forward[name] = frozenset()
    for name, urls in instances.items():
        if hasattr(pool, "set_instances") and name in services:
            pool.set_instances(name, urls)
