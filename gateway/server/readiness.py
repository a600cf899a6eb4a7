"""Readiness: does each service answer the protocol it is bound with? One cheap call per service
(`transport/probe.py`), through the gateway's own clients (and so through its resilience policies).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from registry.config import ServiceConfig

from ..transport import ServiceClients
from ..transport.probe import OK, check

__all__ = ["OK", "probe", "probe_all"]


async def probe(clients: ServiceClients, service: ServiceConfig) -> str:
    """ "ok", or why the service is not ready (naming it, and what it answered)."""
    return await check(clients.fetcher({}), service)


async def probe_all(clients: ServiceClients, services: Mapping[str, ServiceConfig]) -> dict[str, str]:
    """Every service probed at once: name -> "ok" or the reason."""
    results = await asyncio.gather(*(probe(clients, service) for service in services.values()))
    return dict(zip(services, results, strict=True))
