"""The registry's HTTP API: services register their instances, renew them, leave; anyone allowed reads it.

    POST   /registry/services/{name}/instances        {url, protocol?, health_path?, schema?, ttl_s?}
           -> 201 {service, id, ttl_s, schema_version} (200: the same URL registered again)
    PUT    /registry/services/{name}/instances/{id}   heartbeat {ttl_s?} -> 200, 404 once expired
    DELETE /registry/services/{name}/instances/{id}   -> 204
    GET    /registry                                  services, instances, versions, the backend's state

Writes need `Authorization: Bearer` with `registry.token` (or `token_env`'s), or the service's own token of
`registry.tokens` (good for that service only); without any, the write endpoints answer 404 saying registration
is off. With `registry.read_token`, reads need it or a write token. Tokens are compared in constant time and
never logged or echoed. An instance URL must match `registry.allowed_urls` (gateway.registry.urls); names,
the body, the SDL and the counts are bounded; a registration whose schema does not compose is refused with the
composition's problems. Every refusal changes nothing. A store that cannot be reached (Redis down) answers 503
with Retry-After.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from aiohttp import web

from registry.config import PROTOCOLS, RegistryConfig
from registry.errors import ConfigError, Problem
from registry.redaction import redact_url

from ..gateway import Gateway
from ..registry.composer import RegistryComposer
from ..registry.store import (
    CONTRIBUTION_KINDS,
    Contribution,
    Instance,
    RegistryState,
    RegistryUnavailable,
    make_store,
)
from ..registry.urls import MAX_NAME_LENGTH, Allowlist, valid_service_name
from ..resilience import circuit_states, instance_states
from .body import json_answer, read_at_most

__all__ = ["REGISTRY", "REGISTRY_PATH", "RegistryTokens", "add_registry", "registry_tokens"]

log = logging.getLogger("funnel.registry")

REGISTRY_PATH: Final = "/registry"
REGISTRY: Final = web.AppKey("funnel.registry", RegistryComposer)
BODY_OVERHEAD_BYTES: Final = 64 * 1024  # what a registration holds besides its SDL (escaped in JSON)
MAX_TTL_S: Final = 3600
MAX_HEALTH_PATH: Final = 256
_BODY_TIMEOUT_S: Final = 10.0
_SETTLE_S: Final = 30.0
_ID: Final = re.compile(r"[0-9a-f]{16}")
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="funnel registry"'}
_REGISTRATION_KEYS: Final = ("url", "protocol", "health_path", "schema", "ttl_s")


class RegistryTokens:
    """The tokens of `registry:`, resolved from the environment where the config says so."""

    def __init__(self, write: str | None, services: Mapping[str, str], read: str | None) -> None:
        self._write = _bearer(write)
        self._services = {name: _bearer(token) for name, token in services.items()}
        self._read = _bearer(read)

    @property
    def writes_on(self) -> bool:
        return self._write is not None or bool(self._services)

    @property
    def reads_open(self) -> bool:
        return self._read is None

    def may_write(self, given: bytes, service: str) -> bool:
        # Both compared whatever the first says: the time taken does not tell which token matched.
        general = _same(given, self._write)
        own = _same(given, self._services.get(service))
        return general or own

    def may_read(self, given: bytes) -> bool:
        allowed = [_same(given, token) for token in (self._read, self._write, *self._services.values())]
        return any(allowed)


def registry_tokens(config: RegistryConfig) -> RegistryTokens:
    """ConfigError when `token_env` or `read_token_env` names a variable that is not set."""
    return RegistryTokens(
        _token(config, config.token, config.token_env, "token_env"),
        config.service_tokens,
        _token(config, config.read_token, config.read_token_env, "read_token_env"),
    )


def _token(config: RegistryConfig, token: str | None, env: str | None, key: str) -> str | None:
    if env is None:
        return token
    value = os.environ.get(env)
    if not value:
        where = config.location
        message = f"registry.{key}: the environment variable {env} is not set"
        raise ConfigError([Problem(message, where.file if where else None, where.line if where else None)])
    return value


def _bearer(token: str | None) -> bytes | None:
    return None if token is None else f"Bearer {token}".encode()


def _same(given: bytes, expected: bytes | None) -> bool:
    return expected is not None and hmac.compare_digest(given, expected)


def add_registry(app: web.Application, gateway: Gateway) -> RegistryComposer:
    """The registry's store (started and closed with the app), its recomposition and its routes."""
    config = gateway.config
    assert config is not None
    settings = config.registry
    tokens = registry_tokens(settings)
    allowlist = Allowlist.of(settings.allowed_urls)
    composer = RegistryComposer(gateway, make_store(settings, config.redis))
    app[REGISTRY] = composer
    app.cleanup_ctx.append(composer.context)
    api = _RegistryAPI(gateway, composer, settings, tokens, allowlist)
    base = f"{REGISTRY_PATH}/services/{{name}}/instances"
    app.router.add_post(base, api.register)
    app.router.add_put(base + "/{id}", api.renew)
    app.router.add_delete(base + "/{id}", api.remove)
    app.router.add_get(REGISTRY_PATH, api.read)
    return composer


class _Refused(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] | None = None


class _RegistryAPI:
    def __init__(
        self,
        gateway: Gateway,
        composer: RegistryComposer,
        settings: RegistryConfig,
        tokens: RegistryTokens,
        allowlist: Allowlist,
    ) -> None:
        self.gateway = gateway
        self.composer = composer
        self.store = composer.store
        self.settings = settings
        self.tokens = tokens
        self.allowlist = allowlist
        self.max_body = settings.max_schema_bytes + BODY_OVERHEAD_BYTES

    # -- the handlers ---------------------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        try:
            name = self._writer(request)
            body = await self._body(request, required=True)
            instance, ttl_s = self._registration(name, body)
            if not self.store.available:  # known away: composing a candidate would be spent for nothing
                raise _unavailable()
            state = self.store.state
            again = state.find(name, instance.id) is not None
            self._check_counts(state, instance, again)
            candidate = _with(state, instance)
            if self.composer.inputs(candidate) != self.composer.inputs(state):
                problems = await self.composer.check(candidate)
                if problems:
                    message = (
                        f"The schema of {name} does not compose with the gateway's: nothing was registered "
                        f"and the schema served is unchanged ({len(problems)} "
                        f"problem{'' if len(problems) == 1 else 's'})."
                    )
                    raise _Refused(422, message, problems=list(problems))
            stored = await self._store(self.store.put(instance, ttl_s))
        except _Refused as refused:
            return _refusal(refused)
        schema_version = await self._settled(stored.version)
        log.info("registry: %s instance %s registered at %s", name, instance.id, redact_url(instance.url))
        answer = {"service": name, "id": instance.id, "ttl_s": ttl_s, "schema_version": schema_version}
        return json_answer(200 if again else 201, answer)

    async def renew(self, request: web.Request) -> web.Response:
        try:
            name = self._writer(request)
            instance_id = self._instance_id(request, name)
            body = await self._body(request, required=False)
            ttl_s = self._ttl(body.get("ttl_s")) if body else self.settings.ttl_s
            if not await self._store(self.store.renew(name, instance_id, ttl_s)):
                raise _Refused(404, _unknown(name, instance_id))
        except _Refused as refused:
            return _refusal(refused)
        return json_answer(200, {"service": name, "id": instance_id, "ttl_s": ttl_s})

    async def remove(self, request: web.Request) -> web.Response:
        try:
            name = self._writer(request)
            instance_id = self._instance_id(request, name)
            if not await self._store(self.store.remove(name, instance_id)):
                raise _Refused(404, _unknown(name, instance_id))
        except _Refused as refused:
            return _refusal(refused)
        await self._settled(self.store.state.version)
        log.info("registry: %s instance %s removed", name, instance_id)
        return web.Response(status=204)

    async def read(self, request: web.Request) -> web.Response:
        if not self.tokens.reads_open:
            given = request.headers.get("Authorization")
            if given is None:
                message = (
                    "GET /registry needs registry.read_token (or a write token): Authorization: Bearer ..."
                )
                return _refusal(_Refused(401, message), _CHALLENGE)
            if not self.tokens.may_read(given.encode()):
                return _refusal(_Refused(403, "The token is not one that may read the registry."))
        return json_answer(200, self.describe())

    def describe(self) -> dict[str, Any]:
        """What GET /registry shows: no token, no URL's user information."""
        state = self.store.state
        now = time.time()
        health = _health(self.gateway)
        services: dict[str, Any] = {}
        for name, instances in state.services.items():
            services[name] = {
                "in_config": name in (self.composer.config.services),
                "instances": [
                    {
                        "id": i.id,
                        "url": redact_url(i.url),
                        "protocol": i.protocol,
                        "schema": i.contribution.kind,
                        "registered_at": datetime.fromtimestamp(i.registered_at, UTC).isoformat(
                            timespec="seconds"
                        ),
                        "expires_in_s": round(max(0.0, i.expires_at - now), 1),
                        **(
                            {"health": health[(name, redact_url(i.url))]}
                            if (name, redact_url(i.url)) in health
                            else {}
                        ),
                    }
                    for i in instances
                ],
            }
        last = self.composer.last
        return {
            "backend": self.store.backend,
            "available": self.store.available,
            "version": state.version,
            "schema_version": self.gateway.current.id,
            "recomposed": {
                "registry_version": self.composer.applied,
                "outcome": last.status if last is not None else None,
                "problems": list(last.problems) if last is not None else [],
            },
            "services": services,
        }

    # -- the checks ---------------------------------------------------------------------------------------

    def _writer(self, request: web.Request) -> str:
        """The service named in the path, once the caller may write for it."""
        name = request.match_info["name"]
        if not self.tokens.writes_on:
            message = (
                "Registration is off: neither registry.token (nor token_env) nor registry.tokens is set, "
                "so no service may register."
            )
            raise _Refused(404, message)
        given = request.headers.get("Authorization")
        if given is None:
            refused = _Refused(
                401, f"{request.method} {REGISTRY_PATH}/... needs a token: Authorization: Bearer ..."
            )
            refused.headers = _CHALLENGE
            raise refused
        if not self.tokens.may_write(given.encode(), name):
            message = "The token is neither registry.token nor the token of registry.tokens for this service."
            raise _Refused(403, message)
        if not valid_service_name(name):
            raise _Refused(
                422,
                f"The service name {name[:MAX_NAME_LENGTH]!r} is not one: letters, digits, '_' or '-', "
                f"starting with a letter or '_', at most {MAX_NAME_LENGTH} characters.",
            )
        return name

    def _instance_id(self, request: web.Request, name: str) -> str:
        instance_id = request.match_info["id"]
        if not _ID.fullmatch(instance_id):
            raise _Refused(404, _unknown(name, instance_id[:32]))
        return instance_id

    async def _body(self, request: web.Request, *, required: bool) -> dict[str, Any]:
        length = request.content_length
        if length is not None and length > self.max_body:
            raise _Refused(413, f"The body is larger than {self.max_body} bytes.")
        try:
            async with asyncio.timeout(_BODY_TIMEOUT_S):
                data = await read_at_most(request, self.max_body + 1)
        except TimeoutError:
            raise _Refused(408, "The body did not arrive in time.") from None
        if len(data) > self.max_body:
            raise _Refused(413, f"The body is larger than {self.max_body} bytes.")
        if not data and not required:
            return {}
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _Refused(400, "The body is not JSON.") from None
        if not isinstance(body, dict):
            raise _Refused(422, "The body must be a JSON object.")
        return body

    def _registration(self, name: str, body: dict[str, Any]) -> tuple[Instance, int]:
        unknown = sorted(str(k)[:40] for k in body if k not in _REGISTRATION_KEYS)
        if unknown:
            keys = ", ".join(_REGISTRATION_KEYS)
            raise _Refused(
                422, f"Unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: use {keys}."
            )
        url = body.get("url")
        if not isinstance(url, str):
            raise _Refused(422, "url must be the instance's URL (a string).")
        refusal = self.allowlist.refusal(url)
        if refusal is not None:
            raise _Refused(422, refusal)
        declared = self.composer.config.services.get(name)
        protocol = body.get("protocol", declared.protocol if declared is not None else "graphql")
        if protocol not in PROTOCOLS:
            raise _Refused(
                422, f"protocol must be one of {', '.join(PROTOCOLS)}, got {str(protocol)[:40]!r}."
            )
        health_path = body.get("health_path")
        if health_path is not None and not (
            isinstance(health_path, str)
            and health_path.startswith("/")
            and len(health_path) <= MAX_HEALTH_PATH
            and health_path.isprintable()
            and " " not in health_path
        ):
            raise _Refused(
                422, f"health_path must be a path starting with / (at most {MAX_HEALTH_PATH} characters)."
            )
        contribution = self._contribution(body.get("schema", {"kind": "introspect"}))
        refusal = self.composer.refusal(name, protocol, contribution)
        if refusal is not None:
            raise _Refused(422, f"{refusal}.")
        ttl_s = self._ttl(body.get("ttl_s"))
        return Instance(name, url, protocol, health_path, contribution), ttl_s

    def _contribution(self, schema: Any) -> Contribution:
        if not isinstance(schema, dict) or set(schema) - {"kind", "sdl"}:
            raise _Refused(422, 'schema must be {"kind": "sdl" | "federation" | "introspect", "sdl": "..."}.')
        kind = schema.get("kind")
        if kind not in CONTRIBUTION_KINDS:
            raise _Refused(
                422, f"schema.kind must be one of {', '.join(CONTRIBUTION_KINDS)}, got {str(kind)[:40]!r}."
            )
        sdl = schema.get("sdl")
        if kind == "introspect":
            if sdl is not None:
                raise _Refused(
                    422, "schema.sdl has no place with kind introspect: the gateway asks the instance."
                )
            return Contribution("introspect")
        if not isinstance(sdl, str) or not sdl.strip():
            raise _Refused(422, f"schema.sdl must be the service's SDL (a string) with kind {kind}.")
        size = len(sdl.encode())
        if size > self.settings.max_schema_bytes:
            limit = self.settings.max_schema_bytes
            raise _Refused(413, f"schema.sdl is {size} bytes, more than {limit} (registry.max_schema_bytes).")
        return Contribution(kind, sdl)

    def _ttl(self, value: Any) -> int:
        if value is None:
            return self.settings.ttl_s
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL_S:
            raise _Refused(422, f"ttl_s must be a whole number of seconds from 1 to {MAX_TTL_S}.")
        return value

    def _check_counts(self, state: RegistryState, instance: Instance, again: bool) -> None:
        if again:
            return
        name = instance.service
        present = state.services.get(name, ())
        if not present and len(state.services) >= self.settings.max_services:
            limit = self.settings.max_services
            raise _Refused(
                409, f"{limit} services are registered already (registry.max_services): {name} cannot join."
            )
        if len(present) >= self.settings.max_instances:
            limit = self.settings.max_instances
            raise _Refused(409, f"{name} has {limit} instances registered already (registry.max_instances).")

    async def _store(self, change: Any) -> Any:
        try:
            return await change
        except RegistryUnavailable:
            raise _unavailable() from None

    async def _settled(self, version: int) -> str:
        """The schema version serving once this replica has recomposed the registry at `version`."""
        try:
            await self.composer.settle(version, _SETTLE_S)
        except TimeoutError:
            log.warning("registry: version %d not recomposed within %g s", version, _SETTLE_S)
        return self.gateway.current.id


def _health(gateway: Gateway) -> dict[tuple[str, str], dict[str, Any]]:
    """(service, shown URL) -> what the transports know of the instance: its circuit, and whether its health
    checks pass (run only for a service with several instances)."""
    known: dict[tuple[str, str], dict[str, Any]] = {}
    for name, circuit in circuit_states(gateway.clients).items():
        known[(name, circuit.url)] = {"circuit": circuit.state}
    for name, snapshots in instance_states(gateway.clients).items():
        for snapshot in snapshots:
            known[(name, snapshot.circuit.url)] = {
                "circuit": snapshot.circuit.state,
                "healthy": snapshot.healthy,
            }
    return known


def _with(state: RegistryState, instance: Instance) -> RegistryState:
    """`state` as it would be with `instance` registered (a newer registration is its service's latest)."""
    others = [
        i
        for instances in state.services.values()
        for i in instances
        if (i.service, i.id) != (instance.service, instance.id)
    ]
    old = state.find(instance.service, instance.id)
    same = old is not None and old.encode() == instance.encode()
    registered = old.registered_at if old is not None and same else time.time()
    placed = dataclasses.replace(instance, registered_at=registered, expires_at=registered)
    return RegistryState.of(state.version + 1, [*others, placed])


def _unavailable() -> _Refused:
    refused = _Refused(503, "The registry's store (Redis) cannot be reached: nothing was changed. Try again.")
    refused.headers = {"Retry-After": "1"}
    return refused


def _unknown(name: str, instance_id: str) -> str:
    return (
        f"No instance {instance_id} of {name} is registered (it expired, or was removed): register it again."
    )


def _refusal(refused: _Refused, headers: Mapping[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"errors": [{"message": refused.message}], **refused.extra}
    return json_answer(refused.status, body, headers or refused.headers)
