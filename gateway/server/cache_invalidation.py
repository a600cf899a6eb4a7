"""POST /cache/invalidate: evict entity cache entries by type and keys, by type, or all (gateway.cache.invalidation).

On only when `cache.invalidation.token` (or `token_env`) gives the bearer token it asks for; the token is
compared in constant time and never logged. With the cache in Redis, the event is also published on the
invalidation channel, so that every replica evicts its memory tier too; 503 says when Redis could not be told
(this replica has evicted; the caller should try again).

    curl -X POST http://127.0.0.1:4000/cache/invalidate -H "Authorization: Bearer $TOKEN" \\
         -H 'content-type: application/json' -d '{"type": "Product", "keys": ["7"]}'
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from typing import Any, Final

import orjson
from aiohttp import web
from graphql import is_interface_type, is_object_type

from registry.config import CacheConfig
from registry.errors import ConfigError, Problem

from ..cache.invalidation import Invalidation, InvalidationChannel, InvalidEvent, invalidate
from ..gateway import Gateway
from .body import json_answer, read_at_most

__all__ = ["CACHE_INVALIDATE_PATH", "add_cache_invalidation", "invalidation_token"]

log = logging.getLogger("funnel.cache")

CACHE_INVALIDATE_PATH: Final = "/cache/invalidate"
_MAX_BODY_BYTES: Final = 256 * 1024
_BODY_TIMEOUT_S: Final = 10.0
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="funnel cache invalidation"'}


def invalidation_token(config: CacheConfig) -> str | None:
    """The endpoint's token (None: the endpoint is off); ConfigError when `token_env` names an unset variable."""
    settings = config.invalidation
    if settings.token_env is None:
        return settings.token
    token = os.environ.get(settings.token_env)
    if not token:
        where = config.location
        message = f"cache.invalidation.token_env: the environment variable {settings.token_env} is not set"
        raise ConfigError([Problem(message, where.file if where else None, where.line if where else None)])
    return token


def add_cache_invalidation(
    app: web.Application, gateway: Gateway, token: str, channel: InvalidationChannel | None
) -> None:
    expected = f"Bearer {token}".encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            message = (
                "POST /cache/invalidate needs the token of cache.invalidation (Authorization: Bearer ...)."
            )
            return json_answer(401, {"errors": [{"message": message}]}, _CHALLENGE)
        try:
            async with asyncio.timeout(_BODY_TIMEOUT_S):
                body = await read_at_most(request, _MAX_BODY_BYTES + 1)
        except TimeoutError:
            return _error(408, "The body did not arrive in time.")
        if len(body) > _MAX_BODY_BYTES:
            return _error(413, f"The body is larger than {_MAX_BODY_BYTES} bytes.")
        try:
            what = Invalidation.parse(orjson.loads(body))
        except orjson.JSONDecodeError:
            return _error(400, "The body is not JSON.")
        except InvalidEvent as error:
            return _error(400, f"{error}.")
        if what.type_name is not None:
            named = gateway.current.schema.get_type(what.type_name)
            if not (is_object_type(named) or is_interface_type(named)):
                return _error(400, f"{what.type_name!r} is not an object type of the schema.")
        await invalidate(gateway.entity_cache, what)
        answer: dict[str, Any] = {"invalidated": what.as_json()}
        if channel is not None:
            from redis.exceptions import RedisError

            try:
                await channel.publish(what)
            except (RedisError, OSError, TimeoutError) as error:
                log.warning(
                    "cache invalidation not published (%s): other replicas were not told",
                    type(error).__name__,
                )
                message = (
                    "Evicted here, but Redis is unavailable: the other replicas were not told. Try again."
                )
                return json_answer(503, {**answer, "errors": [{"message": message}]}, {"Retry-After": "1"})
            answer["published"] = True
        return json_answer(200, answer)

    app.router.add_post(CACHE_INVALIDATE_PATH, handle)


def _error(status: int, message: str) -> web.Response:
    return json_answer(status, {"errors": [{"message": message}]})
