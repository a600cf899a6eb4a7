"""Readiness: can each service be reached? One cheap call per service, through the gateway's own clients."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from instrumentation.call import Call, GraphQLCall, RestCall
from instrumentation.errors import DownstreamError
from registry.config import ServiceConfig

from ..transport import ServiceClients

__all__ = ["probe", "probe_all"]

OK = "ok"


def _probe_call(service: ServiceConfig) -> Call:
    if service.protocol == "rest":
        return RestCall(service.name, "", {})  # GET {url}: any answer shows the service is there
    return GraphQLCall(service.name, "{ __typename }", {})  # valid against every GraphQL schema


async def probe(clients: ServiceClients, service: ServiceConfig) -> str:
    """ "ok", or why the service is not reachable (the downstream error's message, which names it).

    A service is reachable when it answers with a status below 500 within its timeout: a REST service need
    not serve its base URL, nor a GraphQL service answer without credentials, to be up."""
    try:
        await clients.fetcher({})(_probe_call(service))
    except DownstreamError as error:
        if error.status is not None and error.status < 500:
            return OK
        return error.message
    return OK


async def probe_all(clients: ServiceClients, services: Mapping[str, ServiceConfig]) -> dict[str, str]:
    """Every service probed at once: name -> "ok" or the reason."""
    results = await asyncio.gather(*(probe(clients, service) for service in services.values()))
    return dict(zip(services, results, strict=True))
