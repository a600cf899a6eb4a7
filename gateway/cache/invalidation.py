"""Invalidation of the entity cache: by type and keys, by type, or all; asked over HTTP (POST /cache/invalidate,
gateway.server.cache_invalidation) or published on a Redis channel, which every replica listens to.

An event is JSON: `{"type": "Product", "keys": ["7", "8"]}` (those keys), `{"type": "Product"}` (every key of
the type) or `{"all": true}`. A key is the entity's key as the gateway batches it (`"7"` and `7` are the same
key). Each replica evicts both tiers: its memory and the shared Redis (a second eviction is a no-op).

    what = Invalidation.parse(body)                       # InvalidEvent naming what is wrong
    await invalidate(gateway.entity_cache, what)
    channel = InvalidationChannel(client, redis, "cache-invalidate", gateway.entity_cache)
    await channel.publish(what)                           # every replica evicts, this one included
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from instrumentation.merge import normalize
from registry.background import background
from registry.config import RedisConfig

from ..redis_connection import key as redis_key
from .entities import MAX_KEY_CHARS, EntityCache

if TYPE_CHECKING:
    from aiohttp import web
    from redis.asyncio import Redis

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_EVENT_KEYS",
    "InvalidEvent",
    "Invalidation",
    "InvalidationChannel",
    "invalidate",
]

log = logging.getLogger("funnel.cache")

MAX_EVENT_KEYS: Final = 1000
MAX_EVENT_BYTES: Final = 256 * 1024
_RETRY_S: Final = 1.0
_POLL_S: Final = 1.0


class InvalidEvent(ValueError):
    """An invalidation that cannot be applied; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Invalidation:
    type_name: str | None  # None: everything
    keys: tuple[str, ...] | None = None  # None: every key of the type

    @classmethod
    def parse(cls, value: Any) -> Invalidation:
        if not isinstance(value, dict):
            raise InvalidEvent(
                'an invalidation is a JSON object: {"type": "Product", "keys": ["7"]} or {"all": true}'
            )
        unknown = sorted(set(value) - {"type", "keys", "all"})
        if unknown:
            raise InvalidEvent(f"unknown field {unknown[0][:40]!r} (allowed: all, keys, type)")
        if value.get("all") is True:
            if "type" in value or "keys" in value:
                raise InvalidEvent('"all": true takes no type or keys')
            return cls(None)
        type_name = value.get("type")
        if not isinstance(type_name, str) or not type_name.isidentifier():
            raise InvalidEvent('"type" must name a type, like "Product" (or give "all": true)')
        if "keys" not in value:
            return cls(type_name)
        keys = value["keys"]
        if not isinstance(keys, list) or not keys:
            raise InvalidEvent('"keys" must be a non-empty list of keys')
        if len(keys) > MAX_EVENT_KEYS:
            raise InvalidEvent(f'"keys" has {len(keys)} keys; at most {MAX_EVENT_KEYS} at once')
        texts = []
        for index, each in enumerate(keys):
            if type(each) not in (str, int):
                raise InvalidEvent(f'"keys"[{index}] must be a string or an integer')
            text = normalize(each)
            if len(text) > MAX_KEY_CHARS:
                raise InvalidEvent(f'"keys"[{index}] is longer than {MAX_KEY_CHARS} characters')
            texts.append(text)
        return cls(type_name, tuple(dict.fromkeys(texts)))

    def as_json(self) -> dict[str, Any]:
        if self.type_name is None:
            return {"all": True}
        if self.keys is None:
            return {"type": self.type_name}
        return {"type": self.type_name, "keys": list(self.keys)}


async def invalidate(cache: EntityCache, what: Invalidation) -> None:
    """Evict what `what` names from every tier of `cache`."""
    tier = cache.tier
    if what.type_name is None:
        await tier.clear("")
    elif what.keys is None:
        await tier.clear(f"{what.type_name}:")
    else:
        await tier.delete_many(f"{what.type_name}:{key}" for key in what.keys)
    cache.stats.invalidations += 1


class InvalidationChannel:
    """The Redis channel of invalidation events: `publish` sends one, `context` (for aiohttp's cleanup_ctx)
    listens for as long as the server runs, reconnecting after Redis is lost. While Redis is away nothing can
    arrive: the entries then expire by their time to live."""

    def __init__(self, client: Redis, redis: RedisConfig, channel: str, cache: EntityCache) -> None:
        self.client = client
        self.name = redis_key(redis, channel)
        self.cache = cache
        self.received = 0  # events applied, for tests and metrics
        self.refused = 0  # events that were not an invalidation
        self.subscribed = asyncio.Event()

    async def publish(self, what: Invalidation) -> None:
        await self.client.publish(self.name, orjson.dumps(what.as_json()))

    async def context(self, _app: web.Application) -> AsyncIterator[None]:
        try:
            async with background(self._listen(), "funnel-cache-invalidation"):
                yield
        finally:
            await self.client.aclose()

    async def apply(self, data: Any) -> None:
        """One message of the channel: applied, or counted and logged as refused (without its content)."""
        try:
            if not isinstance(data, bytes | str) or len(data) > MAX_EVENT_BYTES:
                raise InvalidEvent(f"a message is JSON of at most {MAX_EVENT_BYTES} bytes")
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise InvalidEvent("the message is not JSON") from None
            what = Invalidation.parse(value)
        except InvalidEvent as error:
            self.refused += 1
            log.warning("cache invalidation event on %s refused: %s", self.name, error)
            return
        await invalidate(self.cache, what)
        self.received += 1

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        failed = False
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.name)
                if failed:
                    log.info("cache invalidation: listening on %s again", self.name)
                    failed = False
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=_POLL_S)
                    if message is not None and message.get("type") == "message":
                        await self.apply(message.get("data"))
            except (RedisError, OSError, TimeoutError) as error:
                self.subscribed.clear()
                if not failed:
                    log.warning(
                        "cache invalidation: Redis unavailable (%s); entries expire by their time to live meanwhile",
                        type(error).__name__,
                    )
                    failed = True
                await asyncio.sleep(_RETRY_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
