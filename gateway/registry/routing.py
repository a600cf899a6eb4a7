"""The registry's instances handed to the gateway's transports: a service that joins gets one, its instances
follow the registry (`ServiceClients.set_instances`, which keeps each kept instance's breaker and health), a
service that leaves has its transport closed once its calls in flight are done."""

from __future__ import annotations

from collections.abc import Collection, Mapping

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
    its instances. Without: remove the services of `before` no longer in `services`."""
    if instances is None:
        for name in before:
            if name not in services and name in clients.transports:
                clients.remove(name)
        return
    for name, service in services.items():
        if name not in clients.transports:
            clients.add(service)
    for name, urls in instances.items():
        if name in services and urls:
            clients.set_instances(name, urls)
