"""What the four example services share: app skeleton, counters, limits, errors, SQLite, CLI and serving.

Every service is an aiohttp application built by :func:`create_service_app`, which wires in

* ``GET /health`` and ``GET /stats`` / ``POST /stats/reset`` (the *admin* paths, never counted nor delayed),
* a middleware that counts every other request, caps how many are handled at once and adds the
  configured latency, so benchmarks can model a slow service with a worker pool,
* a middleware that turns any error into a JSON answer without a stack trace,
* a middleware that joins the caller's trace: it keeps the W3C ``traceparent`` of the last requests
  (``app[TRACING_KEY].received``, logged at debug level) and, once tracing is on (``--trace console`` or
  ``FUNNEL_EXAMPLE_TRACE=console``; ``app[TRACING_KEY].enable(provider)`` in-process), answers each request
  inside a server span that is a child of the caller's span,
* one SQLite connection per app, created (and seeded on first use) at startup, closed at cleanup.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sqlite3
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .topology import (
    DEFAULT_HOST,
    GRAPHQL_PATH,
    REGISTRY_TOKEN_ENV,
    base_url,
    default_port,
    non_negative_float,
    positive_int,
)

__all__ = [
    "ADMIN_PATHS",
    "DB_KEY",
    "LIMITS_KEY",
    "REGISTRY_TOKEN_ENV",
    "RUNNER_OPTIONS",
    "STATS_KEY",
    "TRACEPARENT",
    "TRACE_ENV",
    "TRACING_KEY",
    "Database",
    "RequestError",
    "RequestLimits",
    "SeedFunction",
    "ServiceStats",
    "ServiceTracing",
    "app_options",
    "bound_port",
    "create_service_app",
    "error_response",
    "fetch_by_ids",
    "json_response",
    "outgoing_trace_headers",
    "parse_id",
    "run_service",
    "service_parser",
    "start_app",
    "transaction",
]

log = logging.getLogger("examples.services")

ADMIN_PATHS = frozenset({"/health", "/stats", "/stats/reset"})

# A gateway batching a few thousand ids puts them all in one URL (REST) or body (GraphQL); aiohttp's
# defaults (8 KiB request line, 1 MiB body) would reject such a batch before our code sees it.
RUNNER_OPTIONS: dict[str, Any] = {"max_line_size": 1 << 20, "max_field_size": 1 << 16}
CLIENT_MAX_SIZE = 64 << 20

# SQLite stores 64-bit signed integers; anything larger cannot be an id of ours.
_MAX_ID = (1 << 63) - 1
_ID_PATTERN = re.compile(r"[0-9]+", re.ASCII)


# --------------------------------------------------------------------------------------------------- counters


@dataclass
class ServiceStats:
    """What a service has served since start (or the last reset); see ``GET /stats``."""

    requests: int = 0
    keys: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    # The last requests as received, "METHOD raw-path-and-query" (not decoded): what tests of encoding read.
    received: deque[str] = field(default_factory=lambda: deque(maxlen=256))

    def enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def reset(self) -> None:
        self.requests = 0
        self.keys = 0
        self.received.clear()
        # Requests still running at reset time are genuinely in flight, so the peak starts from them.
        self.peak_in_flight = self.in_flight

    def snapshot(self) -> dict[str, int]:
        return {"requests": self.requests, "keys": self.keys, "peak_in_flight": self.peak_in_flight}


@dataclass
class RequestLimits:
    """Artificial service time and worker-pool size applied to every API request."""

    latency_s: float = 0.0
    max_concurrency: int | None = None
    _semaphore: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.latency_s < 0:
            raise ValueError(f"latency must be non-negative, got {self.latency_s * 1000:g} ms")
        if self.max_concurrency is not None:
            if self.max_concurrency < 1:
                raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
            self._semaphore = asyncio.Semaphore(self.max_concurrency)

    def slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._semaphore if self._semaphore is not None else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------------- tracing

TRACEPARENT = "traceparent"
_OUTGOING_TRACE: ContextVar[str | None] = ContextVar("outgoing_traceparent", default=None)
TRACE_ENV = "FUNNEL_EXAMPLE_TRACE"  # none | console: the default of every service's --trace
_RECEIVED_KEPT = 100


@dataclass
class ServiceTracing:
    """A service's part in distributed traces. OpenTelemetry is imported only once tracing is enabled, so the
    services run without it."""

    received: deque[str] = field(default_factory=lambda: deque(maxlen=_RECEIVED_KEPT))
    tracer: Any = None  # an OpenTelemetry Tracer once enabled

    def enable(self, provider: Any) -> None:
        """Answer every API request inside a server span of `provider` (an OpenTelemetry TracerProvider)."""
        self.tracer = provider.get_tracer("examples.services")

    def enable_console(self, name: str) -> None:
        """Print each request's span to stdout, as the service `name`."""
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
        except ImportError:
            raise SystemExit(
                f"{name}: --trace console needs opentelemetry-sdk: pip install 'funnel[tracing]'"
            ) from None
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        self.enable(provider)


# ----------------------------------------------------------------------------------------------------- SQLite

SeedFunction = Callable[[sqlite3.Connection], None]


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass
class Database:
    """A service's SQLite file: created and seeded when its main table is missing, else reused as is.

    With ``path=None`` the database lives in memory: nothing is left behind, even by a killed process.
    """

    name: str
    table: str  # present once the file has been created and seeded
    schema: Sequence[str]
    seed: SeedFunction
    path: str | None = None
    _conn: sqlite3.Connection | None = field(default=None, init=False, repr=False)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the {self.name} database is not open (is the app running?)")
        return self._conn

    def open(self) -> sqlite3.Connection:
        # Autocommit mode: single statements commit themselves, multi-statement work uses transaction().
        self._conn = sqlite3.connect(self.path or ":memory:", isolation_level=None)
        try:
            self._prepare(self._conn)
        except BaseException:
            self.close()
            raise
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = _dict_row
        conn.execute("PRAGMA synchronous = NORMAL")
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self.table,))
        if found.fetchone() is None:
            with transaction(conn):
                for statement in self.schema:
                    conn.execute(statement)
                self.seed(conn)


def parse_id(value: object) -> int | None:
    """The integer behind an id (a GraphQL ID arrives as a string), or None if it cannot be one of ours."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _ID_PATTERN.fullmatch(value.strip()):
        number = int(value)
    else:
        return None
    return number if 0 <= number <= _MAX_ID else None


def fetch_by_ids(
    conn: sqlite3.Connection,
    select: str,
    ids: Iterable[object],
    *,
    column: str = "id",
    order: str = "id DESC",
) -> list[dict[str, Any]]:
    """Rows of ``select`` (``SELECT ... FROM table``) whose ``column`` is one of ``ids``; ids that cannot be
    ours are skipped like unknown ones. The default order is descending so that clients cannot come to rely
    on getting rows back in the order they asked."""
    # One JSON array bound to json_each(?): no limit on the number of SQL variables.
    ids_array = orjson.dumps([n for n in map(parse_id, ids) if n is not None]).decode()
    sql = f"{select} WHERE {column} IN (SELECT value FROM json_each(?)) ORDER BY {order}"
    rows: list[dict[str, Any]] = conn.execute(sql, (ids_array,)).fetchall()
    return rows


# ----------------------------------------------------------------------------------------------------- HTTP

STATS_KEY = web.AppKey("stats", ServiceStats)
TRACING_KEY = web.AppKey("tracing", ServiceTracing)
LIMITS_KEY = web.AppKey("limits", RequestLimits)
DB_KEY = web.AppKey("database", Database)


class RequestError(Exception):
    """A client mistake that ends the request with ``status`` and a JSON error naming it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(
    request: web.Request, status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The error shape clients of that endpoint expect: GraphQL's ``errors`` list, else REST's ``error``."""
    graphql = request.path == GRAPHQL_PATH
    body: dict[str, Any] = {"errors": [{"message": message}]} if graphql else {"error": message}
    return json_response(body, status, headers)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as error:
        return error_response(request, error.status, error.message)
    except web.HTTPException as error:
        # aiohttp's own errors (unknown path, wrong method, body too large) come as text; answer JSON.
        if error.status < 400 or error.content_type == "application/json":
            raise
        allow = error.headers.get("Allow")
        return error_response(request, error.status, error.reason, {"Allow": allow} if allow else None)
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(request, 500, "Internal server error")


@web.middleware
async def api_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path in ADMIN_PATHS:
        return await handler(request)
    stats = request.app[STATS_KEY]
    limits = request.app[LIMITS_KEY]
    stats.requests += 1
    stats.received.append(f"{request.method} {request.raw_path}")
    async with limits.slot():
        stats.enter()
        try:
            # The latency sits inside the slot: it models work that occupies one of the pool's workers.
            if limits.latency_s:
                await asyncio.sleep(limits.latency_s)
            return await handler(request)
        finally:
            stats.leave()


@web.middleware
async def tracing_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path in ADMIN_PATHS:
        return await handler(request)
    tracing = request.app[TRACING_KEY]
    traceparent = request.headers.get(TRACEPARENT)
    if traceparent is not None:
        tracing.received.append(traceparent)
        log.debug("%s %s traceparent %s", request.method, request.path, traceparent)
    if tracing.tracer is None:
        _OUTGOING_TRACE.set(traceparent)  # calls this request makes carry the caller's trace on
        return await handler(request)
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract(request.headers)
    with tracing.tracer.start_as_current_span(
        f"{request.method} {request.path}", context=parent, kind=SpanKind.SERVER
    ):
        carrier: dict[str, str] = {}
        propagator.inject(carrier)  # calls this request makes are children of its server span
        _OUTGOING_TRACE.set(carrier.get(TRACEPARENT))
        return await handler(request)


def outgoing_trace_headers() -> dict[str, str]:
    """Headers for a call this service makes while answering a request: the trace goes on to the callee."""
    traceparent = _OUTGOING_TRACE.get()
    return {TRACEPARENT: traceparent} if traceparent else {}


async def _health(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATS_KEY].snapshot())


async def _reset_stats(request: web.Request) -> web.Response:
    stats = request.app[STATS_KEY]
    stats.reset()
    return json_response(stats.snapshot())


async def _database_context(app: web.Application) -> AsyncIterator[None]:
    database = app[DB_KEY]
    database.open()
    try:
        yield
    finally:
        database.close()


def create_service_app(
    database: Database, *, latency_ms: float = 0, max_concurrency: int | None = None
) -> web.Application:
    """The skeleton every service adds its API routes to."""
    app = web.Application(
        middlewares=[error_middleware, tracing_middleware, api_middleware], client_max_size=CLIENT_MAX_SIZE
    )
    app[STATS_KEY] = ServiceStats()
    app[TRACING_KEY] = ServiceTracing()
    app[LIMITS_KEY] = RequestLimits(latency_s=latency_ms / 1000, max_concurrency=max_concurrency)
    app[DB_KEY] = database
    app.cleanup_ctx.append(_database_context)
    app.router.add_get("/health", _health)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/stats/reset", _reset_stats)
    return app


# ----------------------------------------------------------------------------------------------- serving


def bound_port(runner: web.AppRunner) -> int:
    port: int = runner.addresses[0][1]
    return port


async def start_app(
    app: web.Application, host: str = DEFAULT_HOST, port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on host:port (0: any free port); the caller must ``await runner.cleanup()``."""
    runner = web.AppRunner(app, access_log=None, **RUNNER_OPTIONS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, base_url(host, bound_port(runner))


def service_parser(name: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m examples.services.{name}", description=description)
    parser.add_argument(
        "--port", type=int, default=default_port(name), help="port to listen on; 0 picks a free one"
    )
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--db", metavar="PATH", help="SQLite file, seeded if new (default: in memory)")
    parser.add_argument(
        "--latency-ms", type=non_negative_float, default=0.0, help="added to each API request"
    )
    parser.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=None,
        help="API requests handled at once (default: any)",
    )
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="exit when this process is gone (used by the launcher)"
    )
    parser.add_argument(
        "--registry",
        metavar="URL",
        help="a Funnel gateway's base URL: register there once listening, heartbeat, deregister on exit",
    )
    parser.add_argument(
        "--registry-token-env",
        metavar="VAR",
        default=REGISTRY_TOKEN_ENV,
        help=f"the environment variable holding the registry's token (default: {REGISTRY_TOKEN_ENV})",
    )
    parser.add_argument(
        "--trace",
        choices=("none", "console"),
        default=os.environ.get(TRACE_ENV, "none"),
        help=f"console: print a span per request, a child of the caller's traceparent (default: ${TRACE_ENV})",
    )
    return parser


def app_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``create_app`` keyword arguments every service takes, from :func:`service_parser`'s options."""
    return {"db_path": args.db, "latency_ms": args.latency_ms, "max_concurrency": args.max_concurrency}


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


async def _wait_for_shutdown(stop: asyncio.Event, parent_pid: int | None) -> None:
    # Polling the parent is the portable way for a child to notice that its launcher was killed outright.
    poll_s = 0.5 if parent_pid is not None else None
    while not stop.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)


async def _serve(name: str, app: web.Application, args: argparse.Namespace) -> None:
    # Handlers first: a signal during startup must still stop the server and close the database.
    stop = _stop_event()
    try:
        runner, url = await start_app(app, args.host, args.port)
    except OSError as error:
        raise SystemExit(f"{name}: cannot listen on {base_url(args.host, args.port)}: {error}") from None
    try:
        print(f"{name} listening on {url} (db: {app[DB_KEY].path or 'in memory'})", flush=True)
        async with _registered(name, app, url, args):
            await _wait_for_shutdown(stop, args.parent_pid)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _registered(
    name: str, app: web.Application, url: str, args: argparse.Namespace
) -> AsyncIterator[None]:
    """With `--registry`: the service registered at that gateway while the block runs."""
    gateway = getattr(args, "registry", None)
    if gateway is None:
        yield
        return
    token = os.environ.get(args.registry_token_env)
    if not token:
        raise SystemExit(f"{name}: --registry needs the token in ${args.registry_token_env}")
    # Only then: the services run without the registry's client (light: it needs aiohttp, not the gateway).
    from registry.client import RegistryClient

    graphql = any(resource.canonical == GRAPHQL_PATH for resource in app.router.resources())
    client = RegistryClient(
        gateway,
        name,
        url + GRAPHQL_PATH if graphql else url,
        token=token,
        protocol="graphql" if graphql else "rest",
    )
    await client.start()
    try:
        yield
    finally:
        await client.stop()


def run_service(name: str, app: web.Application, args: argparse.Namespace) -> None:
    """Serve until SIGINT/SIGTERM (or the parent's death), then close the database."""
    if sys.platform == "win32":  # pragma: no cover - signal handlers on the loop need a POSIX system
        raise SystemExit("the example services need a POSIX system")
    if getattr(args, "trace", "none") == "console":
        app[TRACING_KEY].enable_console(name)
    asyncio.run(_serve(name, app, args))
