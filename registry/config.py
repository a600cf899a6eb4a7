"""The gateway's YAML configuration, read once and frozen at start-up.

The file is read as a YAML node tree (not as plain Python values) so that every problem can name its line.
Which keys each section allows, and how each value is checked, is data (`_TOP_LEVEL`, `_SERVICE`): a new
section of the file is one more entry there and one more field of `GatewayConfig`.

A service may run as several instances: `url` is one, `instances:` lists the others (each an http(s) URL like
`url`, none twice). The gateway spreads the calls over them, each with its own breaker and bulkhead, and checks
each one every `registry.health.interval_ms` with the probe of `/ready` (GraphQL: `{ __typename }`; REST:
`GET {instance}{health_path}`), so a service with several instances needs no key of its own for that:

    services:
      catalog:
        url: http://catalog-1:4001/graphql
        instances: [http://catalog-2:4001/graphql, http://catalog-3:4001/graphql]
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor

from .bindings import SourceLocation
from .environment import Origins, interpolate, overlay
from .errors import ConfigError, Problem
from .resilience import GatewayResilience, ResiliencePolicy, merge_policy
from .subgraph import SubgraphFacts

__all__ = [
    "CACHE_SCOPES",
    "DEBUG_ACCESS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "JWT_ALGORITHMS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PROTOCOLS",
    "RATE_LIMIT_BACKENDS",
    "REGISTRY_BACKENDS",
    "TRACE_EXPORTERS",
    "APIKeyConfig",
    "AuthConfig",
    "CacheConfig",
    "CacheRule",
    "CacheScope",
    "CorsConfig",
    "DebugAccess",
    "ExposedField",
    "GatewayConfig",
    "InvalidationConfig",
    "JWTConfig",
    "LogFormat",
    "LogLevel",
    "LoggingConfig",
    "ObservabilityConfig",
    "PersistedQueriesConfig",
    "Protocol",
    "RateLimitConfig",
    "RedisConfig",
    "RegistryConfig",
    "RegistryHealthConfig",
    "ServerConfig",
    "ServiceConfig",
    "TraceExporter",
    "TracingConfig",
    "load_config",
    "parse_config",
]

Protocol = Literal["graphql", "rest"]
PROTOCOLS: Final[tuple[Protocol, ...]] = ("graphql", "rest")
TraceExporter = Literal["none", "console", "otlp"]
TRACE_EXPORTERS: Final[tuple[TraceExporter, ...]] = ("none", "console", "otlp")
LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: Final[tuple[LogLevel, ...]] = ("debug", "info", "warning", "error")
LogFormat = Literal["json", "text"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("json", "text")
DEFAULT_MAX_RESPONSE_BYTES: Final = 10 * 1024 * 1024
CacheScope = Literal["public", "private"]
CACHE_SCOPES: Final[tuple[CacheScope, ...]] = ("public", "private")


@dataclass(frozen=True, slots=True)
class ExposedField:
    """One entry of a service's `expose:`: the service's root field `field`, shown by the gateway as `name`."""

    field: str
    name: str
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class RegistryHealthConfig:
    """`registry.health`: the active checks of every instance (YAML-listed and registered)."""

    interval_ms: int = 1000
    timeout_ms: int = 500
    unhealthy_threshold: int = 2  # consecutive failed checks that take an instance out of rotation
    healthy_threshold: int = 1  # consecutive passed checks that bring it back


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str
    url: str
    protocol: Protocol = "graphql"
    timeout_ms: int = 1000  # per attempt, and never past the request's deadline
    connect_timeout_ms: int = 500
    max_batch: int = 500
    # Distinct keys one level may ask of this service in one request; more fail those fields unsent.
    max_keys: int = 10_000
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES  # one answer of the service; more fails its fields
    # Pass the service's error messages (and the gateway's own about it, URLs included) to clients as they are;
    # off, a client sees the service's name and the error's code, and the details go to the log.
    expose_errors: bool = False
    forward_headers: tuple[str, ...] = ()  # lower-case header names passed on from the client's request
    # REST only: what `/ready` and the instances' health checks ask (GET {url}{health_path}, any 2xx); a GraphQL
    # service is asked `{ __typename }` (POST), which every GraphQL server answers and which reaches its schema.
    health_path: str = "/health"
    # `instances:` in the file: more URLs of the same service beside `url` (see `instances`).
    other_instances: tuple[str, ...] = ()
    # How the instances are checked when there are several: `registry.health`, the same for every service.
    health: RegistryHealthConfig = RegistryHealthConfig()
    resilience: ResiliencePolicy = field(default_factory=ResiliencePolicy)
    location: SourceLocation | None = None
    # Composition (`compose: true`): where the service's own schema comes from, and which root fields it shows.
    schema_file: str | None = None  # a GraphQL service's SDL file, instead of asking the service
    openapi: str | None = None  # a REST service's OpenAPI 3 document: a file or an http(s) URL
    expose: tuple[ExposedField, ...] | None = None  # None: every root field, under its own name
    # A Federation subgraph's: what its own schema says beyond the gateway schema (read from the supergraph).
    subgraph: SubgraphFacts | None = None

    @property
    def instances(self) -> tuple[str, ...]:
        """Every instance's URL, `url` first. The gateway spreads the calls over them (see
        gateway/resilience/pool.py); each answers the same schema."""
        return (self.url, *self.other_instances)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The `server:` section: how the HTTP server listens, what it accepts, what it shows."""

    host: str = "127.0.0.1"
    port: int = 4000
    max_body_bytes: int = 1 << 20
    max_depth: int = 20  # the standard introspection query is 15 deep
    max_aliases: int = 50
    # Demand control (gateway.demand): counted while parsing, before validation, and before anything is sent.
    max_tokens: int = 4000  # the standard introspection query has 163
    max_root_fields: int = 30
    max_cost: int = 10_000  # the static cost of @cost / @listSize; `first: 100` of orders with 3 joins is 400
    default_list_size: int = 10  # the size of a list field whose @listSize gives none
    max_response_bytes: int = 16 * 1024 * 1024  # the encoded answer to one request
    document_cache_bytes: int = 64 * 1024 * 1024  # parsed documents and their plans, estimated
    introspection: bool = False  # `__schema` / `__type`: off in `funnel serve` unless said, on in the demo
    # Who sees what serves debugging: /ready's details, `funnel-debug: plan|explain`, `debug_plan`.
    debug_access: DebugAccess = "authenticated"
    # Apollo Router's CSRF prevention: a browser request that needed no preflight must carry one of these.
    csrf_prevention: bool = True
    csrf_required_headers: tuple[str, ...] = ("apollo-require-preflight", "x-apollo-operation-name")
    header_timeout_ms: int = 5000  # a connection must send a whole request head within this
    body_timeout_ms: int = 10_000  # and the body within this
    max_connections_per_address: int = 100
    browser_page: bool = True
    debug_plan: bool = False  # every response carries extensions.funnel, as with `funnel-debug: plan`
    shutdown_timeout_ms: int = 10_000  # how long requests in flight may take to finish on shutdown
    # On SIGTERM /ready answers 503 at once, and the listener stays open this long before it closes, so that a
    # load balancer polling /ready stops sending first (behind Kubernetes, the preStop pause does the same).
    drain_ms: int = 0
    workers: int = 1  # processes sharing the port (`funnel serve --workers N` overrides)
    # Hot reload (gateway.reload): the config, the gateway SDL and the lock are compared this often (0: only on
    # SIGHUP); a schema composed live, or a supergraph at a URL, is read again every schema_poll_ms (0: never).
    watch_ms: int = 1000
    schema_poll_ms: int = 30_000
    # Honour a request's `funnel-batching: on|off` (to compare the two on one server; the demo turns it on).
    batching_header: bool = False


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """`observability.tracing`: OpenTelemetry spans per request, plan level and downstream call."""

    exporter: TraceExporter = "none"  # none: no tracer at all, nothing spent
    # otlp only: the OTLP/HTTP traces URL; by default the exporter's own (OTEL_EXPORTER_OTLP_* or localhost:4318)
    endpoint: str | None = None
    service_name: str = "funnel"


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """`observability.logging`: one line per request and per failed downstream call, on the `funnel` loggers."""

    level: LogLevel = "info"  # requests are logged at info, failed downstream calls at warning
    format: LogFormat = "json"


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    """The `observability:` section. Everything is off unless the file turns it on."""

    metrics: bool = False  # GET /metrics, Prometheus text format
    tracing: TracingConfig = TracingConfig()
    logging: LoggingConfig | None = None  # None: no section, no request logs
    location: SourceLocation | None = None  # the section, for start-up errors (a package not installed)

    @property
    def active(self) -> bool:
        return self.metrics or self.tracing.exporter != "none" or self.logging is not None


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """The `redis:` section: the one Redis that every feature shared by replicas uses (registry, caches, rate
    limits, persisted queries). Each feature says whether it keeps its state there; this says where it is."""

    url: str  # redis:// or rediss://, e.g. redis://127.0.0.1:6379/0
    timeout_ms: int = 100  # per command: past it the feature carries on without Redis (and counts it)
    prefix: str = (
        "funnel:"  # every key and channel name starts with it, so gateways of several setups can share
    )
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class CacheRule:
    """How long one field's answers are cached (`cache.fields` or `@cacheControl` in the schema)."""

    max_age: int  # seconds
    scope: CacheScope = "public"  # private: kept per caller (a hash of the caller's credentials)
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class InvalidationConfig:
    """`cache.invalidation`: POST /cache/invalidate (on only with a token) and the Redis channel of events."""

    # The bearer token the endpoint asks for; never logged.
    token: str | None = field(default=None, repr=False)
    token_env: str | None = None  # or the name of the environment variable holding it
    channel: str = "cache-invalidate"  # under the redis prefix; listened to when the cache uses Redis


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The `cache:` section: the entity cache (off for every field unless a rule sets its max age) and in-flight
    de-duplication of downstream queries (on unless turned off)."""

    inflight: bool = True
    redis: bool = False  # a second tier shared by replicas, in the `redis:` section's server
    max_entries: int = 10_000  # the in-process tier's bounds
    max_bytes: int = 64 * 1024 * 1024
    max_value_bytes: int = 256 * 1024  # a larger answer is not cached
    negative_max_age: int = 5  # seconds a key the service does not know is remembered as absent
    fields: Mapping[str, CacheRule] = field(default_factory=lambda: MappingProxyType({}))
    types: Mapping[str, CacheRule] = field(default_factory=lambda: MappingProxyType({}))  # every field of it
    invalidation: InvalidationConfig = InvalidationConfig()
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class PersistedQueriesConfig:
    """The `persisted_queries:` section: automatic persisted queries (Apollo's protocol) and trusted documents."""

    apq: bool = True
    redis: bool = False  # registered hashes shared by replicas, in the `redis:` section's server
    max_entries: int = 10_000  # registered query texts kept in process
    max_bytes: int = 16 * 1024 * 1024
    ttl_s: int = 7 * 24 * 3600  # how long a registered hash lives in Redis
    manifest: str | None = None  # trusted documents: a file (relative to the config) or an http(s) URL
    only_trusted: bool = False  # refuse every operation that is not in the manifest
    location: SourceLocation | None = None


JWT_ALGORITHMS: Final = (
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
    "EdDSA",
)  # fmt: skip
DebugAccess = Literal["authenticated", "everyone", "nobody"]
DEBUG_ACCESS: Final[tuple[DebugAccess, ...]] = ("authenticated", "everyone", "nobody")
RateLimitBackend = Literal["memory", "redis"]
RATE_LIMIT_BACKENDS: Final[tuple[RateLimitBackend, ...]] = ("memory", "redis")


@dataclass(frozen=True, slots=True)
class JWTConfig:
    """`auth.jwt`: bearer tokens, verified with exactly one of a shared secret, a JWKS file or a JWKS URL."""

    secret: str | None = field(default=None, repr=False)
    jwks_file: str | None = None
    jwks_url: str | None = None
    jwks_refresh_ms: int = 300_000  # the JWKS URL is fetched again in the background this often
    jwks_timeout_ms: int = 2000
    algorithms: tuple[str, ...] = ("RS256",)  # allowlist: a token signed otherwise is refused
    issuer: str | None = None
    audience: str | None = None
    leeway_s: int = 30  # clock skew allowed on exp / nbf / iat
    scopes_claim: str = "scope"  # a space-separated string or a list of strings
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class APIKeyConfig:
    """One entry of `auth.api_keys.keys`: the key, the subject it authenticates as and its scopes."""

    key: str = field(repr=False)
    subject: str
    scopes: tuple[str, ...] = ()
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """The `auth:` section. Without it every caller is anonymous (and `@authenticated` fields are null)."""

    required: bool = False  # refuse (401) a request without valid credentials
    jwt: JWTConfig | None = None
    api_keys: tuple[APIKeyConfig, ...] = ()
    api_key_header: str = "x-api-key"
    # The verified claims, as JSON, in this request header to every service that forwards it (headers.forward);
    # a client's own value of that header is always dropped.
    claims_header: str | None = None
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """The `rate_limit:` section: a token bucket per client (its subject, else its address)."""

    requests_per_second: float = 10.0
    burst: int = 20
    backend: RateLimitBackend = "memory"  # redis: in the `redis:` section's server, shared by replicas
    exempt_subjects: tuple[str, ...] = ()
    exempt_addresses: tuple[str, ...] = ()
    location: SourceLocation | None = None


RegistryBackend = Literal["memory", "redis"]
REGISTRY_BACKENDS: Final[tuple[RegistryBackend, ...]] = ("memory", "redis")


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """The `registry:` section: services joining at run time (POST /registry/services/{name}/instances).

    Without a write token the write endpoints are off; without `allowed_urls` no instance URL is accepted."""

    backend: RegistryBackend = "memory"  # redis: shared by replicas
    url: str | None = None  # the Redis URL; by default the `redis:` section's
    ttl_s: int = 10  # an instance's lease, renewed by each heartbeat
    token: str | None = field(default=None, repr=False)  # the bearer token of every write; never logged
    token_env: str | None = None  # or the environment variable holding it
    service_tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    read_token: str | None = field(default=None, repr=False)  # GET /registry needs it (or a write token)
    read_token_env: str | None = None
    allowed_urls: tuple[
        str, ...
    ] = ()  # scheme://host-pattern[:port], e.g. http://127.0.0.1:* or https://*.svc
    max_services: int = 50  # registered services
    max_instances: int = 20  # instances of one service
    max_schema_bytes: int = 256 * 1024  # one contribution's SDL
    health: RegistryHealthConfig = RegistryHealthConfig()
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class CorsConfig:
    """The `cors:` section: which browser origins may call the gateway. Without it, no CORS headers at all."""

    origins: tuple[str, ...] = ()  # exact origins, like https://app.example.com; "*" for any (no credentials)
    methods: tuple[str, ...] = ("GET", "POST")
    headers: tuple[str, ...] = ("content-type", "authorization")
    credentials: bool = False
    max_age_s: int = 600
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    path: str | None  # the YAML file, for error messages and relative paths
    schema_path: str | None
    batching: bool = True
    merge_levels: bool = True  # a fetch may wait for a later call to its service where that costs no time
    services: Mapping[str, ServiceConfig] = field(default_factory=lambda: MappingProxyType({}))
    server: ServerConfig = field(default_factory=ServerConfig)
    resilience: GatewayResilience = field(default_factory=GatewayResilience)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    redis: RedisConfig | None = None  # None: no `redis:` section, every feature keeps its state in memory
    cache: CacheConfig = CacheConfig()
    persisted_queries: PersistedQueriesConfig = PersistedQueriesConfig()
    auth: AuthConfig | None = None
    rate_limit: RateLimitConfig | None = None
    cors: CorsConfig | None = None
    registry: RegistryConfig = RegistryConfig()
    schema_location: SourceLocation | None = None  # the `schema:` line, for a schema file that cannot be read
    compose: bool = False  # the schema comes from the services; `schema:` holds only what the gateway adds
    schema_lock: str | None = None  # the composed schema written by `funnel compose`, served as is
    # A Federation supergraph (a file or an http(s) URL): its subgraphs are services, `services:` overrides them
    # and adds others; `schema:` beside it is an SDL that extends it with Funnel's annotations (mixed mode).
    supergraph: str | None = None
    # How often a supergraph at a URL is read again (0: never); None: every server.schema_poll_ms.
    supergraph_poll_ms: int | None = None


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and check the YAML file at `path`, with `${VAR}` and `FUNNEL_*` variables taken from `environ`
    (default: the process's environment); raise `ConfigError` with every problem found."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise ConfigError([Problem(f"cannot read the config file: {error.strerror}", name)]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([Problem(f"the config file is not UTF-8 text: {error.reason}", name)]) from None
    return parse_config(text, name, environ)


def parse_config(text: str, path: str, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Check the YAML `text` of the file `path`, which problems name and relative paths start from.

    Precedence, highest first: a `FUNNEL_<SECTION>__<KEY>` variable of `environ` (default: `os.environ`),
    the file (its `${VAR}` filled from `environ`), the default. Command-line flags come above all three."""
    environ = os.environ if environ is None else environ
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(path, error)]) from None
    if root is None:  # an empty file: report what is missing rather than "not a mapping"
        root = yaml.MappingNode(_MAP_TAG, [], start_mark=yaml.Mark(path, 0, 0, 0, "", 0))
    origins = Origins()
    problems = interpolate(root, environ, path, origins)
    if isinstance(root, yaml.MappingNode):
        problems += overlay(root, environ, _TOP_LEVEL.keys(), origins)
    if problems:  # a value left unfilled would only be reported again, less clearly
        raise ConfigError(problems)
    reader = _Reader(path, os.path.dirname(os.path.abspath(path)), origins)
    values = _CONFIG(reader, _Entry("", "", None, root))
    _check_composition_keys(reader, root)
    _check_supergraph_keys(reader, root)
    _check_instances(reader, root)
    _check_redis_users(reader, values)
    if reader.problems:
        raise ConfigError(reader.problems)
    defaults = values.pop("resilience", {})
    drafts = values.get("services", {})
    registry = values.get("registry")
    health = registry.health if registry is not None else RegistryHealthConfig()
    values["services"] = MappingProxyType({name: s.build(defaults, health) for name, s in drafts.items()})
    values["resilience"] = GatewayResilience(**{k: v for k, v in defaults.items() if k in _REQUEST_WIDE})
    # `schema` is optional but GatewayConfig.schema_path has no default (its fields come before the defaults).
    return GatewayConfig(
        path=path,
        schema_path=values.pop("schema_path", None),
        schema_location=_key_location(reader, root, "schema"),
        **values,
    )


def _key_location(reader: _Reader, mapping: yaml.Node, name: str) -> SourceLocation | None:
    """Where the top-level key `name` is written (the file is valid by now, so the root is a mapping)."""
    pairs = mapping.value if isinstance(mapping, yaml.MappingNode) else ()
    return next((reader.location(key) for key, _ in pairs if _key_name(key) == name), None)


def _yaml_problem(path: str, error: yaml.YAMLError) -> Problem:
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(f"invalid YAML: {error}", path)
    mark = error.problem_mark or error.context_mark
    what = error.problem or "syntax error"
    if error.context:
        what = f"{what} ({error.context})"
    return Problem(f"invalid YAML: {what}", path, mark.line + 1 if mark is not None else None)


# --- reading the node tree --------------------------------------------------------------------------------

_STR_TAG: Final = "tag:yaml.org,2002:str"
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"

_INVALID: Final[Any] = object()
"""What a check returns when it has reported a problem: the value is left out and nothing is built from it."""


@dataclass(frozen=True, slots=True)
class _Entry:
    """One value of the file: its coordinate (`services.catalog.timeout_ms`), its name, the key node naming it
    (None at the top and for list items) and the value node."""

    coordinate: str
    name: str
    key: yaml.Node | None
    value: yaml.Node

    @property
    def anchor(self) -> yaml.Node:
        # The key's line is where a reader looks, even when a block value starts on the next line.
        return self.key if self.key is not None else self.value

    def child(self, name: str, key: yaml.Node, value: yaml.Node) -> _Entry:
        return _Entry(f"{self.coordinate}.{name}" if self.coordinate else name, name, key, value)

    def item(self, index: int, value: yaml.Node) -> _Entry:
        return _Entry(f"{self.coordinate}[{index}]", f"{self.name}[{index}]", None, value)


class _Reader:
    """Collects the problems of one file instead of stopping at the first."""

    def __init__(self, file: str, base_dir: str, origins: Origins | None = None) -> None:
        self.file = file
        self.base_dir = base_dir
        self.origins = origins or Origins()
        self.problems: list[Problem] = []

    def location(self, node: yaml.Node) -> SourceLocation:
        variable = self.origins.variable(node)
        if variable is not None:  # made from a FUNNEL_* variable: no line in the file
            return SourceLocation(variable, 0)
        return SourceLocation(self.file, node.start_mark.line + 1)

    def report(self, entry: _Entry, message: str) -> None:
        variable = self.origins.variable(entry.anchor)
        if variable is not None:
            self.problems.append(Problem(message, variable, None, entry.coordinate or None))
            return
        line = self.location(entry.anchor).line
        self.problems.append(Problem(message, self.file, line, entry.coordinate or None))

    def describe(self, node: yaml.Node) -> str:
        """The value for a message: what the file says, or which variable it came from (never its value, which
        may be a secret)."""
        return self.origins.shown(node) or _describe(node)


_Check = Callable[[_Reader, _Entry], Any]
"""Checks one value: returns what the config keeps for it, or `_INVALID` after reporting a problem."""


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _STR_TAG:
        return repr(node.value)
    if node.tag == _NULL_TAG:
        return "null"
    return str(node.value)


def _construct(node: yaml.ScalarNode) -> Any:
    try:
        return SafeConstructor().construct_object(node)
    except yaml.YAMLError:  # an explicit tag the safe loader does not know, e.g. `!env FOO`
        return _INVALID


def _expect(what: str, accept: Callable[[Any], Any]) -> _Check:
    """A scalar check: `accept` returns the value to keep or None, which reports '<name> must be <what>'."""

    def check(reader: _Reader, entry: _Entry) -> Any:
        if isinstance(entry.value, yaml.ScalarNode):
            value = _construct(entry.value)
            kept = None if value is _INVALID else accept(value)
            if kept is not None:
                return kept
        reader.report(entry, f"{entry.name} must be {what}, got {reader.describe(entry.value)}")
        return _INVALID

    return check


def _pairs(reader: _Reader, entry: _Entry) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
    """The string keys of a mapping value with their nodes; a null value counts as an empty mapping."""
    node = entry.value
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
        return []
    if not isinstance(node, yaml.MappingNode):
        reader.report(
            entry, f"{entry.name or 'the config file'} must be a mapping, got {reader.describe(node)}"
        )
        return None
    own_count = sum(key.tag != _MERGE_TAG for key, _ in node.value)
    try:
        SafeConstructor().flatten_mapping(node)  # resolve `<<: *defaults` in place, merged pairs first
    except yaml.YAMLError as error:
        reader.problems.append(_yaml_problem(reader.file, error))
        return None
    split = len(node.value) - own_count
    own = node.value[split:]
    # As YAML merges: the mapping's own keys override merged ones, and a later merged pair an earlier one.
    # Only the mapping's own keys can be duplicates.
    later = {_key_name(key) for key, _ in own}
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in reversed(node.value[:split]):
        if _key_name(key) not in later:
            later.add(_key_name(key))
            merged.append((key, value))
    merged.reverse()
    pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
    first_line: dict[str, int] = {}
    for key, value in [*merged, *own]:
        name = _key_name(key)
        if name is None:
            where = _Entry(entry.coordinate, entry.name, key, value)
            reader.report(where, f"keys must be names, got {reader.describe(key)}")
            continue
        line = reader.location(key).line
        if name in first_line:
            duplicate = entry.child(name, key, value)
            reader.report(duplicate, f"duplicate key '{name}' (first at line {first_line[name]})")
            continue
        first_line[name] = line
        pairs.append((name, key, value))
    return pairs


def _key_name(key: yaml.Node) -> str | None:
    return key.value if isinstance(key, yaml.ScalarNode) and key.tag == _STR_TAG else None


@dataclass(frozen=True, slots=True)
class _Key:
    """How one key of a section is checked and which field of the built record it fills."""

    check: _Check
    attr: str | None = None  # the field it fills; default: the key itself
    required: bool = False
    inline: bool = False  # a sub-section whose fields belong to the enclosing record (`headers.forward`)


def _section(keys: Mapping[str, _Key]) -> _Check:
    """A mapping with the given keys; returns {field: value}."""
    allowed = ", ".join(sorted(keys))

    def check(reader: _Reader, entry: _Entry) -> Any:
        before = len(reader.problems)
        pairs = _pairs(reader, entry)
        if pairs is None:
            return _INVALID
        values: dict[str, Any] = {}
        for name, key_node, value_node in pairs:
            child = entry.child(name, key_node, value_node)
            spec = keys.get(name)
            if spec is None:
                reader.report(child, f"unknown key '{name}' (allowed: {allowed})")
                continue
            value = spec.check(reader, child)
            if value is _INVALID:
                continue
            if spec.inline:
                values.update(value)
            else:
                values[spec.attr or name] = value
        present = {name for name, _, _ in pairs}
        for name, spec in keys.items():
            if spec.required and name not in present:
                reader.report(entry, f"missing required key '{name}'")
        return values if len(reader.problems) == before else _INVALID

    return check


def _named(noun: str, keys: Mapping[str, _Key], build: Callable[..., Any]) -> _Check:
    """A mapping of names to sections, each built as `build(name=, location=, **fields)`; at least one."""
    section = _section(keys)

    def check(reader: _Reader, entry: _Entry) -> Any:
        before = len(reader.problems)
        pairs = _pairs(reader, entry)
        if pairs is None:
            return _INVALID
        if not pairs and len(reader.problems) == before:
            reader.report(entry, f"{entry.name} must name at least one {noun}")
        built: dict[str, Any] = {}
        for name, key_node, value_node in pairs:
            child = entry.child(name, key_node, value_node)
            if not _NAME.fullmatch(name):
                # Names are written again in SDL (`@batch(service: "catalog")`) and in coordinates.
                reader.report(child, f"{noun} name must be letters, digits, '_' or '-', got {name!r}")
            values = section(reader, child)
            if values is not _INVALID:
                built[name] = build(name=name, location=reader.location(key_node), **values)
        return MappingProxyType(built) if len(reader.problems) == before else _INVALID

    return check


def _record(keys: Mapping[str, _Key], build: Callable[..., Any]) -> _Check:
    """A mapping with the given keys, built as `build(**fields)`."""
    section = _section(keys)

    def check(reader: _Reader, entry: _Entry) -> Any:
        values = section(reader, entry)
        return values if values is _INVALID else build(**values)

    return check


def _list_of(item: _Check) -> _Check:
    def check(reader: _Reader, entry: _Entry) -> Any:
        if not isinstance(entry.value, yaml.SequenceNode):
            reader.report(entry, f"{entry.name} must be a list, got {reader.describe(entry.value)}")
            return _INVALID
        values = [item(reader, entry.item(index, node)) for index, node in enumerate(entry.value.value)]
        return _INVALID if _INVALID in values else tuple(values)

    return check


# --- the value checks --------------------------------------------------------------------------------

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEADER_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # reading it raises ValueError on a port that is not a number, e.g. 'host:abc'
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def _one_of(choices: tuple[str, ...]) -> _Check:
    return _expect(f"one of {', '.join(choices)}", lambda v: v if v in choices else None)


_positive_int = _expect("a positive integer", lambda v: v if type(v) is int and v > 0 else None)
_boolean = _expect("true or false", lambda v: v if isinstance(v, bool) else None)
_protocol = _one_of(PROTOCOLS)
_url = _expect("an http(s) URL like http://host:port/path", _http_url)


def _redis_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return None
    return value if parts.scheme in ("redis", "rediss", "unix") and (parts.hostname or parts.path) else None


_redis_url_check = _expect("a Redis URL like redis://host:6379/0", _redis_url)
_header_name = _expect(
    "an HTTP header name", lambda v: v.lower() if isinstance(v, str) and _HEADER_TOKEN.fullmatch(v) else None
)
_fraction = _expect("a number from 0 to 1", lambda v: v if type(v) in (int, float) and 0 <= v <= 1 else None)
_rate = _expect(
    "a number above 0, at most 1", lambda v: v if type(v) in (int, float) and 0 < v <= 1 else None
)
_non_negative_number = _expect(
    "a number, 0 or more", lambda v: v if type(v) in (int, float) and 0 <= v < float("inf") else None
)
_non_negative_int = _expect("an integer, 0 or more", lambda v: v if type(v) is int and v >= 0 else None)
_port = _expect("a port number (0 to 65535)", lambda v: v if type(v) is int and 0 <= v <= 65535 else None)
_host = _expect("a host name or address", lambda v: v if isinstance(v, str) and v.strip() else None)
_file_name = _expect("a file name", lambda v: v if isinstance(v, str) and v.strip() else None)
_url_path = _expect(
    "a path starting with /, like /health",
    lambda v: v if isinstance(v, str) and v.startswith("/") and v.isprintable() and " " not in v else None,
)
_text = _expect("a non-empty string", lambda v: v if isinstance(v, str) and v.strip() else None)


def _schema_file(reader: _Reader, entry: _Entry) -> Any:
    name = _file_name(reader, entry)
    return name if name is _INVALID else os.path.normpath(os.path.join(reader.base_dir, name))


def _file_or_url(reader: _Reader, entry: _Entry) -> Any:
    """A URL as it is, a file name relative to the config's folder."""
    name = _file_name(reader, entry)
    if name is _INVALID or _http_url(name) is not None:
        return name
    if urlsplit(name).scheme in ("http", "https"):
        reader.report(
            entry,
            f"{entry.name} must be a file name or an http(s) URL like http://host:port/path,"
            f" got {reader.describe(entry.value)}",
        )
        return _INVALID
    return os.path.normpath(os.path.join(reader.base_dir, name))


_GRAPHQL_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def _exposed(reader: _Reader, entry: _Entry) -> Any:
    """`products` (as it is) or `{shelves: productShelves}` (renamed)."""
    node = entry.value
    pair: tuple[Any, Any] | None = None
    if isinstance(node, yaml.ScalarNode):
        value = _construct(node)
        pair = (value, value)
    elif isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key, renamed = node.value[0]
        if isinstance(key, yaml.ScalarNode) and isinstance(renamed, yaml.ScalarNode):
            pair = (_construct(key), _construct(renamed))
    if pair is None or not all(isinstance(name, str) and _GRAPHQL_NAME.fullmatch(name) for name in pair):
        reader.report(
            entry,
            f"{entry.name} must be a root field name or {{field: new_name}} (GraphQL names),"
            f" got {reader.describe(node)}",
        )
        return _INVALID
    return ExposedField(pair[0], pair[1], reader.location(entry.value))


def _expose(reader: _Reader, entry: _Entry) -> Any:
    exposed = _list_of(_exposed)(reader, entry)
    if exposed is _INVALID:
        return exposed
    first: dict[str, ExposedField] = {}
    for index, item in enumerate(exposed):
        earlier = first.setdefault(item.name, item)
        if earlier is not item:
            where = f"line {earlier.location.line}" if earlier.location else "before"
            reader.report(
                entry.item(index, entry.value.value[index]),
                f"'{item.name}' is exposed twice (first at {where})",
            )
    return exposed if len(first) == len(exposed) else _INVALID


# Headers that describe one connection or one message, not the request: forwarded, they break the call
# (a client's `content-length` on a different body, `host` naming the gateway).
_NOT_FORWARDABLE: Final = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "expect",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _forwardable_header(reader: _Reader, entry: _Entry) -> Any:
    name = _header_name(reader, entry)
    if name is not _INVALID and name in _NOT_FORWARDABLE:
        reader.report(
            entry, f"{entry.name}: {name} is a hop-by-hop or per-message header and cannot be forwarded"
        )
        return _INVALID
    return name


_HEADERS: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "forward": _Key(_list_of(_forwardable_header), attr="forward_headers"),
    }
)

_RETRY: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "attempts": _Key(_positive_int),
        "backoff_base_ms": _Key(_positive_int),
        "backoff_max_ms": _Key(_positive_int),
        "budget_ratio": _Key(_fraction),
        "budget_window_ms": _Key(_positive_int),
        "min_retries_per_second": _Key(_non_negative_number),
    }
)

_BREAKER: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "failure_rate": _Key(_rate),
        "window_ms": _Key(_positive_int),
        "min_calls": _Key(_positive_int),
        "open_ms": _Key(_positive_int),
        "probe_base_ms": _Key(_positive_int),
        "probe_jitter": _Key(_fraction),
        "half_open_probes": _Key(_positive_int),
    }
)

_BULKHEAD: Final[Mapping[str, _Key]] = MappingProxyType(
    {"max_in_flight": _Key(_positive_int), "max_queue": _Key(_non_negative_int)}
)

# A service's policies: the top-level `resilience:` sets them for every service, a service's own overrides them.
_POLICY: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "retry": _Key(_section(_RETRY)),
        "breaker": _Key(_section(_BREAKER)),
        "bulkhead": _Key(_section(_BULKHEAD)),
    }
)
# Service keys whose default the top-level `resilience:` may set.
_SERVICE_DEFAULTS: Final = frozenset({"timeout_ms", "connect_timeout_ms"})
# What concerns a whole request: only at the top level.
_REQUEST_WIDE: Final = frozenset(f.name for f in fields(GatewayResilience))

_RESILIENCE: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        **_POLICY,
        **{name: _Key(_positive_int) for name in sorted(_SERVICE_DEFAULTS | _REQUEST_WIDE)},
    }
)


def _instance_urls(reader: _Reader, entry: _Entry) -> Any:
    """`instances:`, each checked like `url`; a URL listed twice would count its instance twice (one that is the
    `url` too is found by `_check_instances`)."""
    urls = _list_of(_url)(reader, entry)
    if urls is _INVALID:
        return urls
    first: dict[str, int] = {}
    for index, url in enumerate(urls):
        if first.setdefault(url, index) != index:
            reader.report(entry.item(index, entry.value.value[index]), f"{url!r} is listed twice")
            return _INVALID
    return urls


_SERVICE: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "url": _Key(_url, required=True),
        "instances": _Key(_instance_urls, attr="other_instances"),
        "protocol": _Key(_protocol),
        "timeout_ms": _Key(_positive_int),
        "connect_timeout_ms": _Key(_positive_int),
        "max_batch": _Key(_positive_int),
        "max_keys": _Key(_positive_int),
        "max_response_bytes": _Key(_positive_int),
        "expose_errors": _Key(_boolean),
        "health_path": _Key(_url_path),
        "headers": _Key(_section(_HEADERS), inline=True),
        "resilience": _Key(_section(_POLICY)),
        "schema_file": _Key(_schema_file),
        "openapi": _Key(_file_or_url),
        "expose": _Key(_expose),
    }
)


@dataclass(frozen=True, slots=True)
class _ServiceDraft:
    """A service as its own section has it: the top-level `resilience:` defaults fill in what it leaves out,
    once the whole file is read (the sections may come in any order)."""

    values: Mapping[str, Any]

    @classmethod
    def of(cls, **values: Any) -> _ServiceDraft:
        return cls(values)

    def build(self, defaults: Mapping[str, Any], health: RegistryHealthConfig) -> ServiceConfig:
        own = {k: v for k, v in defaults.items() if k in _SERVICE_DEFAULTS} | dict(self.values)
        policy = {k: v for k, v in defaults.items() if k in _POLICY}
        own["resilience"] = merge_policy(policy, own.pop("resilience", {}))
        return ServiceConfig(**own, health=health)


_SERVER: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "host": _Key(_host),
        "port": _Key(_port),
        "max_body_bytes": _Key(_positive_int),
        "max_depth": _Key(_positive_int),
        "max_aliases": _Key(_positive_int),
        "max_tokens": _Key(_positive_int),
        "max_root_fields": _Key(_positive_int),
        "max_cost": _Key(_positive_int),
        "default_list_size": _Key(_positive_int),
        "max_response_bytes": _Key(_positive_int),
        "document_cache_bytes": _Key(_positive_int),
        "introspection": _Key(_boolean),
        "debug_access": _Key(_one_of(DEBUG_ACCESS)),
        "csrf_prevention": _Key(_boolean),
        "csrf_required_headers": _Key(_list_of(_header_name)),
        "header_timeout_ms": _Key(_positive_int),
        "body_timeout_ms": _Key(_positive_int),
        "max_connections_per_address": _Key(_positive_int),
        "browser_page": _Key(_boolean),
        "debug_plan": _Key(_boolean),
        "batching_header": _Key(_boolean),
        "shutdown_timeout_ms": _Key(_positive_int),
        "drain_ms": _Key(_non_negative_int),
        "workers": _Key(_positive_int),
        "watch_ms": _Key(_non_negative_int),
        "schema_poll_ms": _Key(_non_negative_int),
    }
)

_TRACING: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "exporter": _Key(_one_of(TRACE_EXPORTERS)),
        "endpoint": _Key(_url),
        "service_name": _Key(_text),
    }
)


def _tracing(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_TRACING)(reader, entry)
    if values is _INVALID:
        return values
    if "endpoint" in values and values.get("exporter") != "otlp":
        # Said and ignored would leave the operator looking for spans that were never sent anywhere.
        reader.report(entry, "endpoint is only used by the otlp exporter (add `exporter: otlp`)")
        return _INVALID
    return TracingConfig(**values)


_LOGGING: Final[Mapping[str, _Key]] = MappingProxyType(
    {"level": _Key(_one_of(LOG_LEVELS)), "format": _Key(_one_of(LOG_FORMATS))}
)

_OBSERVABILITY: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "metrics": _Key(_boolean),
        "tracing": _Key(_tracing),
        "logging": _Key(_record(_LOGGING, LoggingConfig)),
    }
)


def _observability(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_OBSERVABILITY)(reader, entry)
    if values is _INVALID:
        return values
    return ObservabilityConfig(**values, location=reader.location(entry.anchor))


_REDIS: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "url": _Key(_redis_url_check, required=True),
        "timeout_ms": _Key(_positive_int),
        "prefix": _Key(_text),
    }
)


def _redis(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_REDIS)(reader, entry)
    if values is _INVALID:
        return values
    return RedisConfig(**values, location=reader.location(entry.anchor))


_COORDINATE: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\.[_A-Za-z][_0-9A-Za-z]*")

_CACHE_RULE: Final[Mapping[str, _Key]] = MappingProxyType(
    {"max_age": _Key(_non_negative_int, required=True), "scope": _Key(_one_of(CACHE_SCOPES))}
)


_TYPE_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def _cache_fields(reader: _Reader, entry: _Entry) -> Any:
    """`Type.field: {max_age: 60, scope: private}` per field; the fields are checked against the schema later."""
    return _cache_rules(reader, entry, _COORDINATE, "a cached field is written Type.field")


def _cache_types(reader: _Reader, entry: _Entry) -> Any:
    """`Product: {max_age: 60}`: every batched field of that type (or Federation entity); checked later."""
    return _cache_rules(reader, entry, _TYPE_NAME, "a cached type is written as its name")


def _cache_rules(reader: _Reader, entry: _Entry, pattern: re.Pattern[str], expected: str) -> Any:
    before = len(reader.problems)
    pairs = _pairs(reader, entry)
    if pairs is None:
        return _INVALID
    rules: dict[str, CacheRule] = {}
    for name, key_node, value_node in pairs:
        child = entry.child(name, key_node, value_node)
        if not pattern.fullmatch(name):
            reader.report(child, f"{expected}, got {name!r}")
            continue
        values = _section(_CACHE_RULE)(reader, child)
        if values is not _INVALID:
            rules[name] = CacheRule(**values, location=reader.location(key_node))
    return MappingProxyType(rules) if len(reader.problems) == before else _INVALID


_env_name = _expect(
    "an environment variable name",
    lambda v: v if isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) else None,
)


_INVALIDATION: Final[Mapping[str, _Key]] = MappingProxyType(
    {"token": _Key(_text), "token_env": _Key(_env_name), "channel": _Key(_text)}
)


def _invalidation(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_INVALIDATION)(reader, entry)
    if values is _INVALID:
        return values
    if "token" in values and "token_env" in values:
        reader.report(entry, "token and token_env are two ways to give one token: keep one")
        return _INVALID
    return InvalidationConfig(**values)


_CACHE: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "inflight": _Key(_boolean),
        "redis": _Key(_boolean),
        "max_entries": _Key(_positive_int),
        "max_bytes": _Key(_positive_int),
        "max_value_bytes": _Key(_positive_int),
        "negative_max_age": _Key(_non_negative_int),
        "fields": _Key(_cache_fields),
        "types": _Key(_cache_types),
        "invalidation": _Key(_invalidation),
    }
)

_PERSISTED_QUERIES: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "apq": _Key(_boolean),
        "redis": _Key(_boolean),
        "max_entries": _Key(_positive_int),
        "max_bytes": _Key(_positive_int),
        "ttl_s": _Key(_positive_int),
        "manifest": _Key(_file_or_url),
        "only_trusted": _Key(_boolean),
    }
)


_algorithm = _one_of(JWT_ALGORITHMS)
_positive_number = _expect(
    "a number above 0", lambda v: v if type(v) in (int, float) and 0 < v < float("inf") else None
)
_origin = _expect(
    "an origin like https://app.example.com, or *",
    lambda v: (
        v
        if isinstance(v, str)
        and (
            v == "*"
            or (urlsplit(v).scheme in ("http", "https") and urlsplit(v).netloc and urlsplit(v).path == "")
        )
        else None
    ),
)
_method = _expect(
    "an HTTP method", lambda v: v.upper() if isinstance(v, str) and _HEADER_TOKEN.fullmatch(v) else None
)
_JWT: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "secret": _Key(_text),
        "jwks_file": _Key(_schema_file),
        "jwks_url": _Key(_url),
        "jwks_refresh_ms": _Key(_positive_int),
        "jwks_timeout_ms": _Key(_positive_int),
        "algorithms": _Key(_list_of(_algorithm)),
        "issuer": _Key(_text),
        "audience": _Key(_text),
        "leeway_s": _Key(_non_negative_int),
        "scopes_claim": _Key(_text),
    }
)
_KEY_SOURCES: Final = ("secret", "jwks_file", "jwks_url")


def _jwt(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_JWT)(reader, entry)
    if values is _INVALID:
        return values
    sources = [name for name in _KEY_SOURCES if name in values]
    if len(sources) != 1:
        reader.report(entry, f"jwt needs exactly one of {', '.join(_KEY_SOURCES)}, got {len(sources)}")
        return _INVALID
    if "algorithms" not in values:
        values["algorithms"] = ("HS256",) if sources == ["secret"] else ("RS256",)
    shared = [a for a in values["algorithms"] if a.startswith("HS")]
    if sources == ["secret"] and len(shared) != len(values["algorithms"]):
        reader.report(entry, "a shared secret verifies only HS256, HS384 or HS512 tokens (algorithms)")
        return _INVALID
    if sources != ["secret"] and shared:
        # A public key used as an HMAC secret is the classic algorithm-confusion forgery.
        reader.report(entry, f"{sources[0]} keys cannot verify {', '.join(shared)} tokens (algorithms)")
        return _INVALID
    return JWTConfig(**values, location=reader.location(entry.anchor))


_API_KEY: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "key": _Key(_text, required=True),
        "subject": _Key(_text, required=True),
        "scopes": _Key(_list_of(_text)),
    }
)


def _api_key(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_API_KEY)(reader, entry)
    if values is _INVALID:
        return values
    return APIKeyConfig(**values, location=reader.location(entry.anchor))


_API_KEYS: Final[Mapping[str, _Key]] = MappingProxyType(
    {"header": _Key(_header_name, attr="api_key_header"), "keys": _Key(_list_of(_api_key), attr="api_keys")}
)
_AUTH: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "required": _Key(_boolean),
        "jwt": _Key(_jwt),
        "api_keys": _Key(_section(_API_KEYS), inline=True),
        "claims_header": _Key(_header_name),
    }
)


def _auth(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_AUTH)(reader, entry)
    if values is _INVALID:
        return values
    if values.get("required") and "jwt" not in values and not values.get("api_keys"):
        reader.report(entry, "required: true needs a way to authenticate (jwt or api_keys)")
        return _INVALID
    return AuthConfig(**values, location=reader.location(entry.anchor))


_RATE_LIMIT: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "requests_per_second": _Key(_positive_number),
        "burst": _Key(_positive_int),
        "backend": _Key(_one_of(RATE_LIMIT_BACKENDS)),
        "exempt_subjects": _Key(_list_of(_text)),
        "exempt_addresses": _Key(_list_of(_host)),
    }
)
_CORS: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "origins": _Key(_list_of(_origin), required=True),
        "methods": _Key(_list_of(_method)),
        "headers": _Key(_list_of(_header_name)),
        "credentials": _Key(_boolean),
        "max_age_s": _Key(_non_negative_int),
    }
)


def _cors(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_CORS)(reader, entry)
    if values is _INVALID:
        return values
    if values.get("credentials") and "*" in values["origins"]:
        reader.report(entry, "credentials: true cannot be given to any origin (*): list the origins")
        return _INVALID
    return CorsConfig(**values, location=reader.location(entry.anchor))


# scheme://host-pattern[:port] (gateway.registry.urls says how each part matches)
_ALLOWED_URL: Final = re.compile(
    r"https?://(\*|(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:(\*|[0-9]{1,5}))?"
)
_allowed_url = _expect(
    "a URL pattern like http://127.0.0.1:* or https://*.example.com",
    lambda v: v if isinstance(v, str) and _ALLOWED_URL.fullmatch(v) else None,
)


def _service_tokens(reader: _Reader, entry: _Entry) -> Any:
    before = len(reader.problems)
    pairs = _pairs(reader, entry)
    if pairs is None:
        return _INVALID
    tokens: dict[str, str] = {}
    for name, key_node, value_node in pairs:
        child = entry.child(name, key_node, value_node)
        token = _text(reader, child)
        if token is not _INVALID:
            tokens[name] = token
    return MappingProxyType(tokens) if len(reader.problems) == before else _INVALID


_REGISTRY_HEALTH: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "interval_ms": _Key(_positive_int),
        "timeout_ms": _Key(_positive_int),
        "unhealthy_threshold": _Key(_positive_int),
        "healthy_threshold": _Key(_positive_int),
    }
)
_REGISTRY: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "backend": _Key(_one_of(REGISTRY_BACKENDS)),
        "url": _Key(_redis_url_check),
        "ttl_s": _Key(_positive_int),
        "token": _Key(_text),
        "token_env": _Key(_env_name),
        "tokens": _Key(_service_tokens, attr="service_tokens"),
        "read_token": _Key(_text),
        "read_token_env": _Key(_env_name),
        "allowed_urls": _Key(_list_of(_allowed_url)),
        "max_services": _Key(_positive_int),
        "max_instances": _Key(_positive_int),
        "max_schema_bytes": _Key(_positive_int),
        "health": _Key(_record(_REGISTRY_HEALTH, RegistryHealthConfig)),
    }
)


def _registry(reader: _Reader, entry: _Entry) -> Any:
    values = _section(_REGISTRY)(reader, entry)
    if values is _INVALID:
        return values
    for one, other in (("token", "token_env"), ("read_token", "read_token_env")):
        if one in values and other in values:
            reader.report(entry, f"{one} and {other} are two ways to give one token: keep one")
            return _INVALID
    return RegistryConfig(**values, location=reader.location(entry.anchor))


def _with_location(keys: Mapping[str, _Key], build: Callable[..., Any]) -> _Check:
    """A section built with its own line, for problems found once the whole file is read."""
    section = _section(keys)

    def check(reader: _Reader, entry: _Entry) -> Any:
        values = section(reader, entry)
        if values is _INVALID:
            return values
        return build(**values, location=reader.location(entry.anchor))

    return check


_TOP_LEVEL: Final[Mapping[str, _Key]] = MappingProxyType(
    {
        "schema": _Key(_schema_file, attr="schema_path"),
        "batching": _Key(_boolean),
        "merge_levels": _Key(_boolean),
        "services": _Key(_named("service", _SERVICE, _ServiceDraft.of)),  # required without a supergraph
        "resilience": _Key(_section(_RESILIENCE)),
        "server": _Key(_record(_SERVER, ServerConfig)),
        "observability": _Key(_observability),
        "redis": _Key(_redis),
        "cache": _Key(_with_location(_CACHE, CacheConfig)),
        "persisted_queries": _Key(_with_location(_PERSISTED_QUERIES, PersistedQueriesConfig)),
        "auth": _Key(_auth),
        "rate_limit": _Key(_with_location(_RATE_LIMIT, RateLimitConfig)),
        "cors": _Key(_cors),
        "registry": _Key(_registry),
        "compose": _Key(_boolean),
        "schema_lock": _Key(_schema_file),
        "supergraph": _Key(_file_or_url),
        "supergraph_poll_ms": _Key(_non_negative_int),
    }
)

_CONFIG: Final = _section(_TOP_LEVEL)

# Service keys that only mean something for one protocol, and whether they need `compose: true`.
_PROTOCOL_KEYS: Final[Mapping[str, tuple[Protocol, bool]]] = MappingProxyType(
    {"schema_file": ("graphql", True), "expose": ("graphql", True), "openapi": ("rest", False)}
)


def _check_supergraph_keys(reader: _Reader, root: yaml.Node) -> None:
    """`services:` is what a gateway calls, unless a supergraph names its subgraphs; beside a supergraph,
    `schema:` is an SDL of Funnel's own annotations added to it (mixed mode), and nothing is composed."""
    if not isinstance(root, yaml.MappingNode):
        return  # reported already: the file is not a mapping
    top = _plain_pairs(root)
    if "supergraph" not in top:
        if "services" not in top:
            reader.report(_Entry("", "", None, root), "missing required key 'services'")
        if "supergraph_poll_ms" in top:
            entry = _Entry("supergraph_poll_ms", "supergraph_poll_ms", *top["supergraph_poll_ms"])
            reader.report(entry, "supergraph_poll_ms needs supergraph: there is no supergraph to read again")
        return
    for other in ("compose", "schema_lock"):
        if other in top:
            entry = _Entry(other, other, *top[other])
            reader.report(entry, f"{other} cannot be given with supergraph: nothing is composed")


def _check_composition_keys(reader: _Reader, root: yaml.Node) -> None:
    """Keys said and then ignored would leave the operator wondering: each is refused where it cannot apply.
    Read from the nodes (already checked one by one), so that these problems come with all the others."""
    top = _plain_pairs(root)
    compose = top.get("compose")
    composing = (
        compose is not None and isinstance(compose[1], yaml.ScalarNode) and _construct(compose[1]) is True
    )
    if "schema_lock" in top and not composing:
        key, value = top["schema_lock"]
        entry = _Entry("schema_lock", "schema_lock", key, value)
        reader.report(entry, "schema_lock is the lock of a composed schema: add `compose: true`")
    if "services" not in top:
        return
    services = _Entry("services", "services", *top["services"])
    for name, (key, value) in _plain_pairs(services.value).items():
        service = services.child(name, key, value)
        options = _plain_pairs(value)
        protocol_node = options.get("protocol", (None, None))[1]
        protocol = _construct(protocol_node) if isinstance(protocol_node, yaml.ScalarNode) else "graphql"
        if protocol not in PROTOCOLS:
            continue  # reported by its own check
        for option, (option_key, option_value) in options.items():
            if option not in _PROTOCOL_KEYS:
                continue
            needed, needs_compose = _PROTOCOL_KEYS[option]
            entry = service.child(option, option_key, option_value)
            if protocol != needed:
                reader.report(entry, f"{option} is for {needed} services; '{name}' is {protocol}")
            elif needs_compose and not composing:
                reader.report(
                    entry, f"{option} is only used when the schema is composed: add `compose: true`"
                )


def _check_instances(reader: _Reader, root: yaml.Node) -> None:
    """`instances:` lists the service's other instances: its `url` again would count that instance twice."""
    services = _plain_pairs(root).get("services")
    if services is None:
        return
    for name, (key, value) in _plain_pairs(services[1]).items():
        options = _plain_pairs(value)
        if "url" not in options or "instances" not in options:
            continue
        url, (instances_key, instances) = options["url"][1], options["instances"]
        if not isinstance(url, yaml.ScalarNode) or not isinstance(instances, yaml.SequenceNode):
            continue  # reported by their own checks
        entry = _Entry(f"services.{name}", name, key, value).child("instances", instances_key, instances)
        for index, item in enumerate(instances.value):
            if isinstance(item, yaml.ScalarNode) and item.value == url.value:
                reader.report(entry.item(index, item), f"{url.value!r} is the service's url already")


def _check_redis_users(reader: _Reader, values: Mapping[str, Any]) -> None:
    """A feature told to keep its state in Redis needs to know where Redis is."""
    if values is _INVALID or "redis" in values:
        return
    for name in ("cache", "persisted_queries"):
        section = values.get(name)
        if section is not None and section.redis and section.location is not None:
            message = "redis: true needs the redis: section (its url)"
            reader.problems.append(Problem(message, reader.file, section.location.line, name))
    registry = values.get("registry")
    if registry is not None and registry.backend == "redis" and registry.url is None:
        line = registry.location.line if registry.location is not None else None
        message = "backend: redis needs a url, or the redis: section"
        reader.problems.append(Problem(message, reader.file, line, "registry"))


def _plain_pairs(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node's named pairs, the last of each name (as YAML merges); nothing for any other node."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {name: (key, value) for key, value in node.value if (name := _key_name(key)) is not None}
