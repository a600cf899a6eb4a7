"""One transport per configured service, and the per-request `Send` the executor calls."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any

from aiohttp import web

from instrumentation.call import Call, Send
from instrumentation.errors import DownstreamError
from registry.config import ServiceConfig

from .base import InstanceSet, Transport
from .http import HTTPTransport
from .retiring import Retirements

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


@dataclass(eq=False, slots=True)
class _Held:
    """A service's transport and the calls it is serving now (so that a removed one is closed once idle)."""

    transport: Transport
    calls: int = 0


class ServiceClients:
    """Holds one transport per service for the life of the gateway and hands out per-request fetchers.

    The set of services and their instances may change while serving (the registry): `add`, `remove` and
    `set_instances` each take effect at once for the calls that start after, never for those in flight, which
    finish on what they started with; a transport taken out of use is closed once its calls are done.
    """

    def __init__(
        self, services: Mapping[str, ServiceConfig], transport_factory: TransportFactory = HTTPTransport
    ) -> None:
        self._factory = transport_factory
        self._services: dict[str, ServiceConfig] = {}
        self._held: dict[str, _Held] = {}
        self._forward: dict[str, frozenset[str]] = {}
        self._retired = Retirements()
        for service in services.values():
            self.add(service)

    @property
    def transports(self) -> Mapping[str, Transport]:
        return MappingProxyType({name: held.transport for name, held in self._held.items()})

    def add(self, service: ServiceConfig) -> None:
        """A service more, from now on (`service.name` must not be one already: ValueError)."""
        if service.name in self._held:
            raise ValueError(f"service {service.name!r} is there already")
        self._held[service.name] = _Held(self._factory(service))
        self._services[service.name] = service
        self._forward[service.name] = frozenset(header.lower() for header in service.forward_headers)

    def remove(self, name: str) -> None:
        """The service is unknown from now on (KeyError if it is already); its calls in flight finish."""
        held = self._held.pop(name)
        del self._services[name], self._forward[name]
        self._retired.retire(held.transport, lambda: held.calls > 0)

    def set_instances(self, service: str, urls: Sequence[str]) -> None:
        """`service` is served by the instances at `urls` from now on (the first one is its `url`; a URL given
        twice is one instance). They are not checked here: the config's reader and the registry's allowlist
        (`registry.allowed_urls`) do that.

        A transport that keeps several instances (`InstanceSet`: the gateway's ResilientTransport) changes
        them in place, keeping the breaker and health of each instance it keeps; any other is replaced by one
        built for the new URLs. KeyError for an unknown service, ValueError for no URL."""
        config = self._services[service]
        if not urls:
            raise ValueError(f"{service}: a service needs at least one instance")
        held = self._held[service]
        unique = tuple(dict.fromkeys(urls))
        self._services[service] = dataclasses.replace(config, url=unique[0], other_instances=unique[1:])
        if isinstance(held.transport, InstanceSet):
            held.transport.set_instances(urls)
            return
        self._held[service] = _Held(self._factory(self._services[service]))
        self._retired.retire(held.transport, lambda: held.calls > 0)

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
            held = self._held.get(service)
            if held is None:
                raise DownstreamError(f"unknown service {service!r}", service=service, call=call)
            headers = forwarded.get(service)
            if headers is None:
                headers = _select_headers(request_headers, self._forward[service])
                if extra_headers:
                    headers = {**headers, **extra_headers}
                forwarded[service] = headers
            if call_headers is not None:
                headers = {**headers, **call_headers()}
            held.calls += 1
            try:
                return await held.transport.send(call, headers)
            finally:
                held.calls -= 1

        return fetch

    async def close(self) -> None:
        """Closes every transport, even when one of them fails to close; then raises the first failure."""
        results = await asyncio.gather(
            *(held.transport.close() for held in self._held.values()),
            self._retired.close(),
            return_exceptions=True,
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
