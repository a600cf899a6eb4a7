"""The shared tier: one Redis hash per group (its fields are the variants), reached in one round trip per call.

    cache = RedisCache(connect(config.redis), config.redis)

A group's hash lives as long as its longest-lived entry (`PEXPIRE … NX` then `GT`); each field carries its own
expiry (wall-clock milliseconds, so that every replica reads it alike) in front of its bytes, and a field past it
is a miss. Evicting a group is one `DEL`, whatever variants (bindings, callers) it holds.

Redis is never worth a slow answer: every round trip is bounded by `redis.timeout_ms`; a failure or timeout is
counted (`errors`), and for `cooldown_s` after it the tier is skipped without trying (`skipped`), so that a Redis
that hangs costs one timeout per second, not one per request. The answers stay what the services say.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from registry.config import RedisConfig

from ..redis_connection import key as redis_key
from .backend import CacheKey, Hit

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisCache", "RedisStats"]

log = logging.getLogger("funnel.cache")

T = TypeVar("T")
Clock = Callable[[], float]

_EXPIRY: Final = struct.Struct(">Q")  # wall-clock milliseconds at which a field stops being valid
_SCAN_COUNT: Final = 1000
_MAX_SCANS: Final = 10_000  # `clear` stops there: at most ten million keys looked at
_GLOB: Final = re.compile(r"([*?\[\]\\])")


class RedisStats:
    """What the tier has cost: round trips and their seconds, failures, and calls skipped after a failure."""

    __slots__ = ("errors", "round_trips", "seconds", "skipped")

    def __init__(self) -> None:
        self.round_trips = 0
        self.seconds = 0.0
        self.errors = 0
        self.skipped = 0


class RedisCache:
    def __init__(
        self,
        client: Redis,
        config: RedisConfig,
        *,
        namespace: str = "cache",
        cooldown_s: float = 1.0,
        clock: Clock = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.config = config
        self.namespace = namespace
        self.cooldown_s = cooldown_s
        self.stats = RedisStats()
        self._clock = clock
        self._wall = wall
        self._timeout = config.timeout_ms / 1000
        self._resume_at = 0.0

    def _key(self, group: str) -> str:
        return redis_key(self.config, self.namespace, group)

    async def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Hit]:
        if not keys:
            return {}

        async def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for group, variant in keys:
                pipe.hget(self._key(group), variant)
            return list(await pipe.execute())

        values = await self._round_trip("read", read)
        if values is None:
            return {}
        now_ms = self._wall() * 1000
        found: dict[CacheKey, Hit] = {}
        for cache_key, value in zip(keys, values, strict=True):
            if not isinstance(value, bytes) or len(value) < _EXPIRY.size:
                continue
            (expires_ms,) = _EXPIRY.unpack_from(value)
            if expires_ms > now_ms:
                found[cache_key] = Hit(value[_EXPIRY.size :], (expires_ms - now_ms) / 1000)
        return found

    async def set_many(self, entries: Mapping[CacheKey, bytes], ttl: float) -> None:
        ttl_ms = int(ttl * 1000)
        if not entries or ttl_ms <= 0:
            return
        envelope = _EXPIRY.pack(int(self._wall() * 1000) + ttl_ms)

        async def write() -> None:
            pipe = self.client.pipeline(transaction=False)
            groups: set[str] = set()
            for (group, variant), data in entries.items():
                pipe.hset(self._key(group), variant, envelope + data)
                groups.add(group)
            for group in groups:
                # A new hash has no expiry, which GT treats as infinite: NX gives it one, GT lengthens it.
                pipe.pexpire(self._key(group), ttl_ms, nx=True)
                pipe.pexpire(self._key(group), ttl_ms, gt=True)
            await pipe.execute()

        await self._round_trip("write", write)

    async def delete_many(self, groups: Iterable[str]) -> None:
        names = [self._key(group) for group in groups]
        if not names:
            return

        async def delete() -> None:
            await self.client.delete(*names)

        await self._round_trip("delete", delete, force=True)

    async def clear(self, namespace: str) -> None:
        pattern = _GLOB.sub(r"\\\1", self._key(namespace)) + "*"

        async def clear_all() -> None:
            cursor: int = 0
            for _ in range(_MAX_SCANS):
                cursor, names = await self.client.scan(cursor, match=pattern, count=_SCAN_COUNT)
                if names:
                    await self.client.unlink(*names)
                if cursor == 0:
                    return

        await self._round_trip("clear", clear_all, force=True, bounded=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def _round_trip(
        self,
        what: str,
        run: Callable[[], Awaitable[T]],
        *,
        force: bool = False,
        bounded: bool = True,
    ) -> T | None:
        """`run()` bounded by the timeout; None (counted, logged) when Redis fails. Invalidations (`force`) are
        tried even while the tier is cooling down: a stale entry left in Redis would outlive the outage."""
        from redis.exceptions import RedisError

        stats = self.stats
        if not force and self._clock() < self._resume_at:
            stats.skipped += 1
            return None
        start = time.perf_counter()
        try:
            if not bounded:  # each command is still bounded by the client's socket timeout
                return await run()
            async with asyncio.timeout(self._timeout):
                return await run()
        except (RedisError, OSError, TimeoutError) as error:
            stats.errors += 1
            self._resume_at = self._clock() + self.cooldown_s
            log.warning(
                "cache: Redis %s failed (%s); skipping Redis for %.1f s",
                what,
                type(error).__name__,
                self.cooldown_s,
            )
            return None
        finally:
            stats.round_trips += 1
            stats.seconds += time.perf_counter() - start
