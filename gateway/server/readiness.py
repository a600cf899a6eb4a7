"""Readiness: does each service answer the protocol it is bound with? One cheap call per service
(`transport/probe.py`), through the gateway's own clients (and so through its resilience policies: with several
instances, to one of them, chosen as any call's instance is).

`/ready`'s details show each one-instance service's circuit under `circuits`, and each instance of a service
with several under `instances` (`instance_details`): its URL without credentials, its circuit, whether it is in
rotation, its calls in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from registry.config import ServiceConfig

from ..resilience import instance_states
from ..transport import ServiceClients
from ..transport.probe import OK, check

__all__ = ["OK", "instance_details", "probe", "probe_all"]


async def probe(clients: ServiceClients, service: ServiceConfig) -> str:
    """ "ok", or why the service is not ready (naming it, and what it answered)."""
    return await check(clients.fetcher({}), service)


async def probe_all(clients: ServiceClients, services: Mapping[str, ServiceConfig]) -> dict[str, str]:
    """Every service probed at once: name -> "ok" or the reason."""
    results = await asyncio.gather(*(probe(clients, service) for service in services.values()))
    return dict(zip(services, results, strict=True))


def instance_details(clients: ServiceClients) -> dict[str, list[dict[str, Any]]]:
    """name -> each instance's state, for the services with several instances (none: an empty dict)."""
    return {
        name: [instance.as_dict() for instance in instances]
        for name, instances in instance_states(clients).items()
    }
