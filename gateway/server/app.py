"""The HTTP server: GraphQL over HTTP at /graphql, /health and /ready, /metrics when metrics are on, the
browser page, the registry's API under /registry (registry_api.py). Every answer carries the request's
`x-request-id` (the client's, or a new one).

    app = create_app(Gateway.from_config("funnel.yaml"), config.server)

Status codes follow the GraphQL-over-HTTP specification. A request that is not a GraphQL request (bad JSON,
no query, parameters of the wrong type) is 400 whatever the media type. A GraphQL request that cannot run (a
syntax or validation error, a limit, an unknown operation, variables of the wrong type) is 400 under
`application/graphql-response+json` and 200 under `application/json`, the legacy media type whose clients
read `errors` from a 200. Once execution starts the answer is 200, field errors included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from graphql import GraphQLError, OperationType, get_operation_ast

from instrumentation.errors import ErrorCode, PlanError
from instrumentation.plan import print_plan
from registry.config import AuthConfig, CorsConfig, RateLimitConfig, RedisConfig, ServerConfig

from ..auth import Identity
from ..auth.middleware import (
    IDENTITY,
    authentication_middleware,
    authenticator_context,
    build_authenticator,
)
from ..cache.invalidation import InvalidationChannel
from ..cache.setup import invalidation_channel
from ..demand import DemandLimits, limit_error
from ..gateway import Gateway, Result
from ..observability import current_request_id, request_id_middleware
from ..persisted import PERSISTED_QUERIES, PersistedQueryError, persisted_queries_context
from ..ratelimit import RateLimiter, rate_limit_middleware
from ..reload import SchemaWatcher
from ..resilience import TIMEOUT_HEADER, LoadShedder, parse_timeout_ms
from .cache_invalidation import CACHE_INVALIDATE_PATH, add_cache_invalidation, invalidation_token
from .cors import cors_middleware
from .csrf import csrf_middleware
from .masking import mask_errors
from .media import GRAPHQL_RESPONSE, HTML, JSON, negotiate
from .page import add_page_routes, page_response
from .params import BadParams, GraphQLParams, from_json_body, from_url
from .readiness import instance_details, probe_all
from .registry_api import REGISTRY, REGISTRY_PATH, add_registry

__all__ = [
    "BATCHING_HEADER",
    "DEBUG_HEADER",
    "GATEWAY",
    "GRAPHQL_PATH",
    "INVALIDATION",
    "METRICS_PATH",
    "SETTINGS",
    "STATE",
    "WATCHER",
    "ServerState",
    "create_app",
]

log = logging.getLogger("funnel.server")

GRAPHQL_PATH: Final = "/graphql"
METRICS_PATH: Final = "/metrics"
DEBUG_HEADER: Final = "funnel-debug"
BATCHING_HEADER: Final = "funnel-batching"  # on | off, honoured only with server.batching_header


@dataclass(slots=True)
class ServerState:
    shutting_down: bool = False


GATEWAY: Final = web.AppKey("funnel.gateway", Gateway)
SETTINGS: Final = web.AppKey("funnel.settings", ServerConfig)
STATE: Final = web.AppKey("funnel.state", ServerState)
INVALIDATION: Final = web.AppKey("funnel.invalidation", InvalidationChannel)  # when the cache is in Redis
WATCHER: Final = web.AppKey("funnel.watcher", SchemaWatcher)  # when the gateway came from a config file
CLAIMS_HEADER: Final = web.AppKey("funnel.claims_header", str)

_MIN_LINE_SIZE: Final = 8190  # aiohttp's default for the request line
_JSON_TYPES: Final = (GRAPHQL_RESPONSE, JSON)
_WITH_PAGE: Final = (GRAPHQL_RESPONSE, JSON, HTML)


def create_app(
    gateway: Gateway,
    settings: ServerConfig | None = None,
    *,
    auth: AuthConfig | None = None,
    rate_limit: RateLimitConfig | None = None,
    cors: CorsConfig | None = None,
    redis: RedisConfig | None = None,
) -> web.Application:
    """An aiohttp application serving `gateway`; it closes the gateway's client sessions on cleanup.

    `auth`, `rate_limit`, `cors` and `redis` default to the gateway config's sections. The gateway is frozen here, so a
    binding problem stops start-up instead of the first request."""
    settings = settings or ServerConfig()
    config = gateway.config
    auth = auth if auth is not None else (config.auth if config is not None else None)
    rate_limit = rate_limit if rate_limit is not None else (config.rate_limit if config is not None else None)
    cors = cors if cors is not None else (config.cors if config is not None else None)
    redis = redis if redis is not None else (config.redis if config is not None else None)
    gateway.freeze()
    gateway.documents.limit(demand_limits(settings), settings.document_cache_bytes)
    shedding = LoadShedder(gateway.resilience.max_in_flight_requests)
    authenticator = build_authenticator(auth)
    # The request id first (a header read), so that every answer carries it, a refused one included; CORS
    # and CSRF next (headers only); then who is asking and whether they may ask again so soon; then the body,
    # read within its timeout before shedding counts the request, so that slow clients cannot fill the
    # in-flight slots; then shedding, before any real work is spent on it.
    middlewares: list[Any] = [request_id_middleware]
    if cors is not None:
        middlewares.append(cors_middleware(cors))
    if settings.csrf_prevention:
        middlewares.append(csrf_middleware(GRAPHQL_PATH, settings.csrf_required_headers))
    middlewares.append(
        authentication_middleware(
            authenticator,
            GRAPHQL_PATH,
            own_credentials=frozenset({CACHE_INVALIDATE_PATH, REGISTRY_PATH}),
            own_prefixes=(REGISTRY_PATH,),
        )
    )
    limiter = None
    if rate_limit is not None:
        limiter = RateLimiter(rate_limit, redis)
        middlewares.append(rate_limit_middleware(limiter, GRAPHQL_PATH))
    middlewares += [_body_within_timeout, shedding, _errors_as_json]
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.max_body_bytes,
        # A GET carries the query in the request line: allow it the size a POST body may have.
        handler_args={
            "max_line_size": max(_MIN_LINE_SIZE, settings.max_body_bytes),
            # What is left of a body nobody read (a GET's, a 405's) is drained before the connection closes:
            # within the body's timeout, not aiohttp's own 10 s.
            "lingering_time": settings.body_timeout_ms / 1000,
        },
    )
    app[GATEWAY] = gateway
    app[SETTINGS] = settings
    app[STATE] = ServerState()
    if auth is not None and auth.claims_header is not None:
        app[CLAIMS_HEADER] = auth.claims_header
    app.cleanup_ctx.append(_gateway_context)
    app.cleanup_ctx.append(authenticator_context(authenticator))
    if limiter is not None:
        app.cleanup_ctx.append(limiter.context)
    metrics = gateway.observability.metrics
    watch = (lambda persisted: metrics.watch_caches(persisted=persisted)) if metrics is not None else None
    app.cleanup_ctx.append(persisted_queries_context(gateway.config, watch))
    if config is not None:
        channel = invalidation_channel(config.cache, config.redis, gateway.entity_cache)
        if channel is not None:
            app[INVALIDATION] = channel
            app.cleanup_ctx.append(channel.context)
        token = invalidation_token(config.cache)
        if token is not None:
            add_cache_invalidation(app, gateway, token, channel)
        registry = add_registry(app, gateway)
        if metrics is not None:
            metrics.watch_registry(registry.store)
    if config is not None and (config.path is not None or config.supergraph is not None):  # files to watch
        poll_ms = settings.schema_poll_ms
        if config.supergraph is not None and config.supergraph_poll_ms is not None:
            poll_ms = config.supergraph_poll_ms
        watcher = SchemaWatcher(gateway, watch_ms=settings.watch_ms, poll_ms=poll_ms)
        app[WATCHER] = watcher
        app.cleanup_ctx.append(watcher.context)
    app.on_shutdown.append(_not_ready)
    app.router.add_route("GET", GRAPHQL_PATH, _graphql)
    app.router.add_route("POST", GRAPHQL_PATH, _graphql)
    app.router.add_get("/health", _health)
    app.router.add_get("/ready", _ready)
    if settings.browser_page:
        add_page_routes(app.router)
    observability = gateway.observability
    observability.watch(gateway.clients, gateway.documents, lambda: (shedding,))
    if observability.metrics is not None:
        app.router.add_get(METRICS_PATH, _metrics)
    return app


def demand_limits(settings: ServerConfig) -> DemandLimits:
    return DemandLimits(
        max_tokens=settings.max_tokens,
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_root_fields=settings.max_root_fields,
        max_cost=settings.max_cost,
        default_list_size=settings.default_list_size,
        introspection=settings.introspection,
    )


async def _gateway_context(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[GATEWAY].close()


async def _not_ready(app: web.Application) -> None:
    # Shutdown has begun: a load balancer polling /ready stops sending requests while those in flight finish.
    app[STATE].shutting_down = True


# -- /graphql ----------------------------------------------------------------------------------------------


class _UnsupportedMediaType(Exception):
    """A POST body that is not application/json (HTTP 415)."""


@dataclass(slots=True)
class _Progress:
    ran: bool = False  # the request reached the gateway, which observes it itself


async def _graphql(request: web.Request) -> web.StreamResponse:
    observability = request.app[GATEWAY].observability
    if not observability.active:
        return await _answer(request, _Progress())
    start = time.perf_counter()
    progress = _Progress()
    response = await _answer(request, progress)
    if not progress.ran:  # refused before it could run (bad HTTP, a limit): still a request to count and log
        observability.rejected(current_request_id(), response.status, time.perf_counter() - start)
    return response


async def _answer(request: web.Request, progress: _Progress) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    offer_page = request.method == "GET" and settings.browser_page
    media = negotiate(request.headers.get("Accept"), _WITH_PAGE if offer_page else _JSON_TYPES, JSON)
    if media is None:
        accepted = request.headers.get("Accept", "")
        message = f"Cannot answer with any type in Accept ({accepted}): use {GRAPHQL_RESPONSE} or {JSON}."
        return _error(406, message, JSON)
    if media == HTML:
        return page_response(settings)
    try:
        params = await _read_params(request)
    except BadParams as error:
        return _error(400, error.message, media)
    except web.HTTPRequestEntityTooLarge:
        limit = settings.max_body_bytes
        return _error(413, f"The body is larger than {limit} bytes (server.max_body_bytes).", media)
    except _UnsupportedMediaType as error:
        return _error(415, str(error), media)
    try:  # the text of a persisted query, before anything reads the query
        params = await request.app[PERSISTED_QUERIES].resolve(params)
    except PersistedQueryError as error:
        status = error.status if error.status is not None else _request_error_status(media)
        return _respond({"errors": [error.formatted()]}, status, media)

    gateway = request.app[GATEWAY]
    prepared = await gateway.documents.get_async(params.query)
    # The version the document was prepared for: its cost and access rules, even if a reload swaps in another
    # one meanwhile (gateway.run then prepares the document again for the new one).
    version = gateway.current
    document = prepared.document
    operation = get_operation_ast(document, params.operation_name) if document is not None else None
    # else gateway.run reports the syntax, validation or limit errors, or the unknown operation
    cost = 0
    if operation is not None:
        if request.method == "GET" and operation.operation == OperationType.MUTATION:
            return _error(405, "A mutation cannot be sent with GET: use POST.", media, {"Allow": "POST"})
        assert document is not None
        cost, exceeded = gateway.documents.limits.cost(
            version.schema, document, operation, params.variables or {}, prepared.derived
        )
        if exceeded is not None:
            return _respond({"errors": [exceeded.formatted]}, _request_error_status(media), media)

    identity = request[IDENTITY]
    restricted = version.access.restrict(prepared, identity)
    if restricted is not None:
        prepared = restricted.prepared
    debug = request.headers.get(DEBUG_HEADER, "").strip().lower() if _shows_details(request) else ""
    if debug == "explain" and document is not None:  # the plan only: nothing is sent to any service
        return _explain(gateway, params, media)

    timeout_ms = None
    if TIMEOUT_HEADER in request.headers:
        try:
            timeout_ms = parse_timeout_ms(request.headers[TIMEOUT_HEADER])
        except ValueError as error:
            return _error(400, f"{error}.", media)
    batching = None
    if settings.batching_header and BATCHING_HEADER in request.headers:
        value = request.headers[BATCHING_HEADER].strip().lower()
        if value not in ("on", "off"):
            return _error(400, f"{BATCHING_HEADER} must be on or off, got {value[:40]!r}.", media)
        batching = value == "on"
    progress.ran = True
    result = await gateway.run(
        prepared,
        params.variables,
        params.operation_name,
        headers=_downstream_headers(request, identity),
        timeout_ms=timeout_ms,
        request_id=current_request_id(),
        batching=batching,
    )
    if restricted is not None and not result.request_error:
        result.data = restricted.apply(result.data, result.errors)
    body = result.response()
    mask_errors(body, gateway.services)
    show_plan = (settings.debug_plan and _shows_details(request)) or debug == "plan"
    metrics = gateway.observability.metrics
    actual = 0
    if operation is not None and (show_plan or metrics is not None):
        assert document is not None
        actual = gateway.documents.limits.actual(version.schema, document, operation, result.data)
        if metrics is not None:
            metrics.observe_cost(cost, actual)
    if show_plan:
        _add_debug(body, result, {"estimated": cost, "actual": actual})
    encoded = orjson.dumps(body)
    if len(encoded) > settings.max_response_bytes:
        log.warning("answer of %d bytes refused (server.max_response_bytes)", len(encoded))
        message = (
            f"The answer is larger than {settings.max_response_bytes} bytes (server.max_response_bytes)."
        )
        refused = limit_error(message, ErrorCode.RESPONSE_TOO_LARGE)
        return _respond({"data": None, "errors": [refused.formatted]}, 200, media)
    status = _request_error_status(media) if result.request_error else 200
    return web.Response(body=encoded, status=status, content_type=media, charset="utf-8")


def _shows_details(request: web.Request) -> bool:
    """Whether this caller may see what serves debugging (plans, downstream queries, /ready's details)."""
    access = request.app[SETTINGS].debug_access
    return access == "everyone" or (access == "authenticated" and request[IDENTITY].authenticated)


def _downstream_headers(request: web.Request, identity: Identity) -> Any:
    """The client's headers, with the claims header (when configured) replaced by the verified claims: a
    client's own value of it never reaches a service."""
    name = request.app.get(CLAIMS_HEADER)
    if name is None:
        return request.headers
    headers = request.headers.copy()
    headers.popall(name, None)
    if identity.authenticated:
        claims = dict(identity.claims) or {
            "sub": identity.subject,
            "scope": " ".join(sorted(identity.scopes)),
        }
        headers[name] = orjson.dumps(claims, default=str).decode()
    return headers


@web.middleware
async def _body_within_timeout(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """A POST's body is read before the request counts as in flight, and within `server.body_timeout_ms`."""
    if request.method != "POST" or request.path != GRAPHQL_PATH:
        return await handler(request)
    settings = request.app[SETTINGS]
    try:
        async with asyncio.timeout(settings.body_timeout_ms / 1000):
            await request.read()  # kept by the request: the handler's read() returns it
    except TimeoutError:
        message = f"The body did not arrive within {settings.body_timeout_ms} ms (server.body_timeout_ms)."
        return _error(408, message, JSON, {"Connection": "close"})
    except web.HTTPRequestEntityTooLarge:
        limit = settings.max_body_bytes
        return _error(413, f"The body is larger than {limit} bytes (server.max_body_bytes).", JSON)
    except (RequestPayloadError, HttpProcessingError):  # bad gzip or deflate, chunks that do not add up
        message = "The body cannot be read: its Content-Encoding does not decode or its framing is broken."
        return _error(400, message, JSON, {"Connection": "close"})
    except ConnectionError:  # the client went away mid-body: nobody to answer, nothing to log
        log.debug("client closed the connection before its body arrived")
        return _error(400, "The connection closed before the body arrived.", JSON, {"Connection": "close"})
    return await handler(request)


async def _read_params(request: web.Request) -> GraphQLParams:
    if request.method == "GET":
        return from_url(request.query)
    if request.content_type != JSON:  # aiohttp's parse: parameters dropped, lower-cased
        content_type = request.headers.get("Content-Type")
        got = f'"{content_type}"' if content_type is not None else "none"
        raise _UnsupportedMediaType(f"The Content-Type must be {JSON}, got {got}.")
    return from_json_body(await request.read())


def _request_error_status(media: str) -> int:
    return 400 if media == GRAPHQL_RESPONSE else 200


def _explain(gateway: Gateway, params: GraphQLParams, media: str) -> web.Response:
    """`funnel-debug: explain`: the plan the request would run, as `extensions.funnel.plan`, without running it."""
    try:
        plan = gateway.plan(params.query, params.operation_name, params.variables)
    except PlanError as error:
        located = GraphQLError(error.message, error.node)
        return _respond({"errors": [located.formatted]}, _request_error_status(media), media)
    return _respond({"extensions": {"funnel": {"plan": print_plan(plan)}}}, 200, media)


def _add_debug(body: dict[str, Any], result: Result, cost: dict[str, int]) -> None:
    if result.plan is None:  # the request never got as far as a plan
        return
    funnel = {
        "plan": print_plan(result.plan),
        "calls": [call.as_dict() for call in result.calls],
        "cost": cost,
    }
    body.setdefault("extensions", {})["funnel"] = funnel


def _respond(body: Any, status: int, media: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type=media, charset="utf-8", headers=headers
    )


def _error(status: int, message: str, media: str, headers: dict[str, str] | None = None) -> web.Response:
    return _respond({"errors": [GraphQLError(message).formatted]}, status, media, headers)


# -- /health, /ready, /metrics --------------------------------------------------------------------------------


async def _health(_request: web.Request) -> web.Response:
    return _respond({"status": "ok"}, 200, JSON)


async def _ready(request: web.Request) -> web.Response:
    """200 when every service answers its probe; 503 naming those that do not, and while shutting down."""
    if request.app[STATE].shutting_down:
        return _respond({"status": "shutting down"}, 503, JSON)
    gateway = request.app[GATEWAY]
    services = await probe_all(gateway.clients, gateway.services)
    ready = all(outcome == "ok" for outcome in services.values())
    status = 200 if ready else 503
    if not _shows_details(
        request
    ):  # which URLs answer what, and the breakers' figures, only to those allowed
        return _respond({"status": "ready" if ready else "unavailable"}, status, JSON)
    circuits = {name: circuit.as_dict() for name, circuit in gateway.circuits().items()}
    version = gateway.current
    loaded_at = datetime.fromtimestamp(version.loaded_at, UTC).isoformat(timespec="seconds")
    schema = {"version": version.id, "loaded_at": loaded_at}
    details: dict[str, Any] = {
        "status": "ready" if ready else "unavailable",
        "services": services,
        "circuits": circuits,
        "schema": schema,
    }
    if instances := instance_details(gateway.clients):  # services with several instances: each one's state
        details["instances"] = instances
    registry = request.app.get(REGISTRY)
    if registry is not None:  # a Redis away is not unready: the last registry state keeps serving
        store = registry.store
        details["registry"] = {
            "backend": store.backend,
            "available": store.available,
            "version": store.state.version,
        }
    return _respond(details, status, JSON)


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[GATEWAY].observability.metrics
    assert metrics is not None  # the route exists only when metrics are on
    body, content_type = metrics.exposition(request.headers.get("Accept"))
    # Set whole: the type carries parameters (version=0.0.4, charset) that content_type= would reject.
    return web.Response(body=body, headers={"Content-Type": content_type})


# -- errors outside the handlers ------------------------------------------------------------------------------

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors_as_json(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Unknown paths, wrong methods and unexpected failures answer JSON too, never a stack trace."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error(404, f"Nothing at {request.path}: GraphQL is served at {GRAPHQL_PATH}.", JSON)
    except web.HTTPMethodNotAllowed as error:
        allowed = ", ".join(sorted(error.allowed_methods))
        message = f"{request.method} is not allowed on {request.path}: use {allowed}."
        return _error(405, message, JSON, {"Allow": allowed})
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return _error(500, "Internal server error.", JSON)
