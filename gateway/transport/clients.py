"""One transport per configured service, and the per-request `Send` the executor calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from aiohttp import web

from instrumentation.call import Call, Send
from instrumentation.errors import DownstreamError
from registry.config import ServiceConfig

from .base import Transport
from .http import HTTPTransport

__all__ = ["SERVICE_CLIENTS", "ServiceClients", "TransportFactory", "cleanup_ctx"]

TransportFactory = Callable[[ServiceConfig], Transport]

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _select_headers(request_headers: Mapping[str, str], names: frozenset[str]) -> Mapping[str, str]:
    """The request headers named in `names` (lower case), keyed by lower-case name."""
    if not names:
        return _NO_HEADERS
    selected: dict[str, str] = {}
    # aiohttp's request headers are a multidict: a header sent twice is joined as HTTP allows, not dropped.
    for name, value in request_headers.items():
        key = name.lower()
        if key in names:
            selected[key] = f"{selected[key]}, {value}" if key in selected else value
    return selected


class ServiceClients:
    """Holds one transport per service for the life of the gateway and hands out per-request fetchers."""

    def __init__(
        self, services: Mapping[str, ServiceConfig], transport_factory: TransportFactory = HTTPTransport
    ) -> None:
        self._transports: dict[str, Transport] = {
            name: transport_factory(service) for name, service in services.items()
        }
        self._forward: dict[str, frozenset[str]] = {
            name: frozenset(header.lower() for header in service.forward_headers)
            for name, service in services.items()
        }

    @property
    def transports(self) -> Mapping[str, Transport]:
        return MappingProxyType(self._transports)

    def fetcher(
        self,
        request_headers: Mapping[str, str],
        extra_headers: Mapping[str, str] = _NO_HEADERS,
        call_headers: Callable[[], Mapping[str, str]] | None = None,
    ) -> Send:
        """A Send for one client request: each service gets only the headers it is configured to receive, plus
        `extra_headers` (the gateway's own, e.g. the request id: for every service, winning over a forwarded
        header of the same name) and whatever `call_headers()` gives when each call is sent (the trace context
        of that call)."""
        # Filtered once per service per request, not per call: one request makes several calls to a service.
        forwarded: dict[str, Mapping[str, str]] = {}

        async def fetch(call: Call) -> Any:
            service = call.service
            transport = self._transports.get(service)
            if transport is None:
                raise DownstreamError(f"unknown service {service!r}", service=service, call=call)
            headers = forwarded.get(service)
            if headers is None:
                headers = _select_headers(request_headers, self._forward[service])
                if extra_headers:
                    headers = {**headers, **extra_headers}
                forwarded[service] = headers
            if call_headers is not None:
                headers = {**headers, **call_headers()}
            return await transport.send(call, headers)

        return fetch

    async def close(self) -> None:
        """Closes every transport, even when one of them fails to close; then raises the first failure."""
        results = await asyncio.gather(
            *(transport.close() for transport in self._transports.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def __aenter__(self) -> ServiceClients:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


SERVICE_CLIENTS = web.AppKey("funnel.service_clients", ServiceClients)


def cleanup_ctx(clients: ServiceClients) -> Callable[[web.Application], AsyncIterator[None]]:
    """For `app.cleanup_ctx.append(...)`: puts `clients` in `app[SERVICE_CLIENTS]`, closes them on shutdown.

    Closing in the cleanup context (not at exit) ties the sessions' lifetime to the app's, as aiohttp advises.
    """

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[SERVICE_CLIENTS] = clients
        yield
        await clients.close()

    return ctx
