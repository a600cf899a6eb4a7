"""What a connection may cost before it has sent a request: the request head within `server.header_timeout_ms`,
at most `server.max_connections_per_address` connections per client address, and a malformed request answered
with a short JSON 400 that neither echoes nor logs what was sent (aiohttp's own answer quotes the offending
header, `Authorization: Bearer ...` included, and logs a traceback holding it).

    guard = ConnectionGuard(settings)
    server = await loop.create_server(guard.protocol_factory(runner.server), host, port)
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from registry.config import ServerConfig

__all__ = ["ConnectionGuard", "GuardedSite"]

log = logging.getLogger("funnel.server")

_TIMED_OUT_BODY: Final = orjson.dumps(
    {"errors": [{"message": "The request head did not arrive in time (server.header_timeout_ms)."}]}
)
_TIMED_OUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY)
)


class ConnectionGuard:
    """Counts connections per address and times their first request head; shared by all of one server's."""

    def __init__(self, settings: ServerConfig) -> None:
        self.header_timeout_s = settings.header_timeout_ms / 1000
        self.max_per_address = settings.max_connections_per_address
        self.open: Counter[str] = Counter()
        self.refused = 0  # connections closed at once: their address had too many
        self.timed_out = 0  # connections closed for a request head that did not arrive in time

    def admit(self, address: str) -> bool:
        if self.open[address] >= self.max_per_address:
            self.refused += 1
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def protocol_factory(self, server: web.Server) -> Callable[[], RequestHandler]:
        """What `loop.create_server` calls per connection, in place of `server` itself."""
        # The handler arguments the application was made with (max_line_size and the like).
        kwargs: dict[str, Any] = dict(getattr(server, "_kwargs", {}))
        loop = asyncio.get_running_loop()

        def make() -> RequestHandler:
            return _GuardedHandler(server, self, loop=loop, **kwargs)

        return make


class _GuardedHandler(RequestHandler):
    __slots__ = ("_address", "_guard", "_head_timer", "_heads")

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._address: str | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._heads = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        if not self._guard.admit(address):
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return
        self._address = address
        super().connection_made(transport)
        self._head_timer = asyncio.get_running_loop().call_later(
            self._guard.header_timeout_s, self._head_too_slow
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self._request_count > self._heads:
            self._head_timer.cancel()  # a whole head has arrived: from now on the body timeout applies
            self._head_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._address is not None:
            self._guard.release(self._address)
            self._address = None
            super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        self._guard.timed_out += 1
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(_TIMED_OUT)
            transport.close()

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # aiohttp logs parser and payload failures with their traceback, whose messages quote the request.
        error = kwargs.get("exc_info")
        kind = (
            type(error).__name__
            if isinstance(error, BaseException)
            else (sys.exc_info()[0] or Exception).__name__
        )
        log.info("connection error (%s)", kind)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # Only the kind of problem is logged: the message quotes the request (its headers, its credentials).
        log.info("refused a malformed request (%s, HTTP %d)", type(exc).__name__ if exc else "error", status)
        if status >= 500:
            text = "Internal server error."
        else:
            text = "Malformed HTTP request: a header too long, a control character, or bad framing."
        body = orjson.dumps({"errors": [{"message": text}]})
        response = web.Response(status=status, body=body, content_type="application/json")
        response.force_close()
        return response


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through a ConnectionGuard."""

    __slots__ = ("guard",)

    def __init__(
        self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int, **kwargs: Any
    ) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(
            self
        )  # registers the site with its runner; TCPSite.start would listen unguarded
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self.guard.protocol_factory(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
