"""Authentication in the HTTP server: every request gets an Identity (`request[IDENTITY]`), or a 401.

A request carrying credentials that prove nothing is refused wherever it goes (except /health, which load
balancers call bare); a request without credentials is anonymous unless `auth.required`, which refuses it at
/graphql. The 401 says what was wrong in a GraphQL error with code UNAUTHENTICATED and a WWW-Authenticate
challenge; it never echoes the credential.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import orjson
from aiohttp import web

from instrumentation.errors import ErrorCode
from registry.config import AuthConfig
from registry.errors import ConfigError, Problem

from .api_keys import APIKey, APIKeys
from .authenticator import Authenticator, AuthFailure
from .identity import ANONYMOUS, Identity
from .jwt_verifier import JWTVerifier
from .keys import JWKSURL, JWKSFile, KeySource, SharedSecret

__all__ = [
    "AUTHENTICATOR",
    "IDENTITY",
    "authentication_middleware",
    "authenticator_context",
    "build_authenticator",
]

IDENTITY: Final = web.RequestKey("funnel.identity", Identity)
AUTHENTICATOR: Final = web.AppKey("funnel.authenticator", Authenticator)
_OPEN_PATHS: Final = frozenset({"/health"})

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_authenticator(config: AuthConfig | None) -> Authenticator:
    """The authenticator of the `auth:` section (none: everyone anonymous); ConfigError for a JWKS file that
    cannot be read, at its line."""
    if config is None:
        return Authenticator()
    verifier = None
    if config.jwt is not None:
        jwt = config.jwt
        verifier = JWTVerifier(
            _key_source(config),
            algorithms=jwt.algorithms,
            issuer=jwt.issuer,
            audience=jwt.audience,
            leeway_s=jwt.leeway_s,
            scopes_claim=jwt.scopes_claim,
        )
    keys = APIKeys([APIKey(k.key, k.subject, k.scopes) for k in config.api_keys]) if config.api_keys else None
    return Authenticator(
        jwt=verifier, api_keys=keys, api_key_header=config.api_key_header, required=config.required
    )


def _key_source(config: AuthConfig) -> KeySource:
    jwt = config.jwt
    assert jwt is not None
    if jwt.secret is not None:
        return SharedSecret(jwt.secret)
    if jwt.jwks_url is not None:
        return JWKSURL(
            jwt.jwks_url, refresh_s=jwt.jwks_refresh_ms / 1000, timeout_s=jwt.jwks_timeout_ms / 1000
        )
    assert jwt.jwks_file is not None
    try:
        return JWKSFile(jwt.jwks_file)
    except (OSError, ValueError) as error:
        where = jwt.location
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise ConfigError(
            [
                Problem(
                    f"auth.jwt.jwks_file: cannot read {jwt.jwks_file}: {reason}",
                    where.file if where else None,
                    where.line if where else None,
                )
            ]
        ) from None


def authenticator_context(authenticator: Authenticator) -> Callable[[web.Application], AsyncIterator[None]]:
    """Starts the key source (a JWKS URL's first fetch and its background refresh) and stops it."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        keys = authenticator.keys
        if keys is not None:
            await keys.start()
        yield
        if keys is not None:
            await keys.stop()

    return context


def authentication_middleware(
    authenticator: Authenticator,
    graphql_path: str,
    own_credentials: frozenset[str] = frozenset(),
    own_prefixes: tuple[str, ...] = (),
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """`own_credentials`: paths that check a token of their own (POST /cache/invalidate), not the callers';
    `own_prefixes`: the paths under these do too (the registry's, /registry and below)."""
    skipped = _OPEN_PATHS | own_credentials
    under = tuple(p.rstrip("/") + "/" for p in own_prefixes)

    @web.middleware
    async def authenticate(request: web.Request, handler: _Handler) -> web.StreamResponse:
        path = request.path
        if path in skipped or path.startswith(under) or request.method == "OPTIONS":
            request[IDENTITY] = ANONYMOUS
            return await handler(request)
        identity = authenticator.identify(request.headers)
        if isinstance(identity, AuthFailure):
            if identity.missing and request.path != graphql_path:
                identity = (
                    ANONYMOUS  # only /graphql demands credentials; other paths show less to anonymous callers
                )
            else:
                return _refusal(identity)
        request[IDENTITY] = identity
        return await handler(request)

    return authenticate


def _refusal(failure: AuthFailure) -> web.Response:
    body = {"errors": [{"message": failure.message, "extensions": {"code": ErrorCode.UNAUTHENTICATED}}]}
    return web.Response(
        body=orjson.dumps(body),
        status=401,
        content_type="application/json",
        charset="utf-8",
        headers={"WWW-Authenticate": failure.challenge},
    )
