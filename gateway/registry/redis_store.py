"""The registry in Redis, shared by every replica (`registry: {backend: redis}`).

Keys, under the `redis:` prefix: `registry:instances` (hash `service/id` → the instance), `registry:registered`
(hash → registration time), `registry:leases` (sorted set → end of lease, on Redis's clock) and
`registry:version` (a counter, raised by every change, each published on `registry:changes`). A replica
applies a change when the message arrives, and compares the counter every half second, so a message missed
while it was disconnected is caught up. Expired leases are swept by whichever replica looks first, atomically.

When Redis cannot be reached the replica keeps the last state it read (`available` false, `errors` counted)
and reads it all again when Redis answers. A Redis that returns empty (restarted without persistence) is
given back this replica's last state, each instance with a fresh lease: those that still heartbeat stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from registry.background import start_background, stop_background
from registry.config import RedisConfig

from ..redis_connection import connect, key
from .store import Instance, RegistryState, RegistryUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

log = logging.getLogger("funnel.registry")

POLL_S: Final = 0.5  # the counter is compared (and leases swept) this often
RETRY_S: Final = 0.5  # after a failure, Redis is tried again this often

# KEYS: instances, registered, leases, version, channel. Every script reads Redis's clock.
_NOW: Final = (
    "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
)
_CHANGED: Final = "local v = redis.call('INCR', KEYS[4]); redis.call('PUBLISH', KEYS[5], v); return v"

# ARGV: field, instance, lease ms. Returns the version.
_PUT: Final = f"""
{_NOW}
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return tonumber(redis.call('GET', KEYS[4]) or '0')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], now)
{_CHANGED}
"""

# ARGV: field, lease ms. Returns 1, or 0 for an instance not (or no longer) registered.
_RENEW: Final = f"""
{_NOW}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""

# ARGV: field. Returns the version, or 0 when it was not registered.
_REMOVE: Final = f"""
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
{_CHANGED}
"""

# Drop the expired leases; then {version or false, instances, registered, leases}.
_READ: Final = f"""
{_NOW}
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('HDEL', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
  local v = redis.call('INCR', KEYS[4])
  redis.call('PUBLISH', KEYS[5], v)
end
return {{redis.call('GET', KEYS[4]), redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
         redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')}}
"""

# Only when the counter is gone (Redis lost its data): ARGV version, lease ms, then field, instance pairs.
_RESTORE: Final = f"""
{_NOW}
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], now)
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[i])
end
redis.call('SET', KEYS[4], ARGV[1])
{_CHANGED}
"""


class RedisStore:
    backend = "redis"

    def __init__(
        self, config: RedisConfig, client: Redis | None = None, *, restore_ttl_s: float = 10
    ) -> None:
        self.config = config
        self.errors = 0
        self.available = False
        self._restore_ttl_ms = int(restore_ttl_s * 1000)
        self._client = client if client is not None else connect(config)
        self._keys = [
            key(config, "registry", "instances"),
            key(config, "registry", "registered"),
            key(config, "registry", "leases"),
            key(config, "registry", "version"),
            key(config, "registry", "changes"),
        ]
        scripts = (_PUT, _RENEW, _REMOVE, _READ, _RESTORE)
        self._put, self._renew, self._remove, self._read, self._restore = (
            self._client.register_script(s) for s in scripts
        )
        self._state = RegistryState()
        self._watchers: list[Callable[[RegistryState], None]] = []
        self._follower: asyncio.Task[None] | None = None
        self._refreshing = asyncio.Lock()

    @property
    def state(self) -> RegistryState:
        return self._state

    def watch(self, callback: Callable[[RegistryState], None]) -> None:
        self._watchers.append(callback)

    async def start(self) -> None:
        """Read the registry (or, with Redis away, start empty and keep trying) and follow its changes."""
        with contextlib.suppress(RegistryUnavailable):
            await self.refresh()
        if self._follower is None:
            self._follower = start_background(self._follow(), "funnel-registry-redis")

    async def close(self) -> None:
        await stop_background(self._follower)
        self._follower = None
        await self._client.aclose()

    async def put(self, instance: Instance, ttl_s: float) -> RegistryState:
        field = _field(instance.service, instance.id)
        await self._call(self._put, field, instance.encode(), int(ttl_s * 1000))
        return await self.refresh()

    async def renew(self, service: str, instance: str, ttl_s: float) -> bool:
        return bool(await self._call(self._renew, _field(service, instance), int(ttl_s * 1000)))

    async def remove(self, service: str, instance: str) -> bool:
        removed = bool(await self._call(self._remove, _field(service, instance)))
        await self.refresh()
        return removed

    async def refresh(self) -> RegistryState:
        """Read everything (sweeping expired leases first) and tell the watchers when the version moved."""
        async with self._refreshing:
            version, instances, registered, leases = await self._call(self._read)
            if version is None and self._state.version > 0:
                # Redis lost its data: give it back what this replica knew.
                pairs = [p for i in _all(self._state) for p in (_field(i.service, i.id), i.encode())]
                await self._call(self._restore, self._state.version, self._restore_ttl_ms, *pairs)
                log.warning("registry: Redis had lost the registry; restored version %d", self._state.version)
                version, instances, registered, leases = await self._call(self._read)
            state = _decode(int(version or 0), instances, registered, leases)
            moved = state.version != self._state.version
            self._state = state
            self.available = True
        if moved:
            for watcher in self._watchers:
                watcher(state)
        return state

    async def _call(self, script: Any, *args: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await script(keys=self._keys, args=list(args))
        except (RedisError, OSError, TimeoutError) as error:
            self.errors += 1
            if self.available or self.errors == 1:
                log.warning("registry: Redis unavailable (%s), keeping the last state", type(error).__name__)
            self.available = False
            raise RegistryUnavailable("the registry's Redis cannot be reached") from None

    async def _follow(self) -> None:
        from redis.exceptions import RedisError

        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._keys[4])
                await self.refresh()  # after subscribing: nothing published from here on is missed
                while True:
                    message = await pubsub.get_message(timeout=POLL_S)
                    if message is None or int(message["data"]) != self._state.version:
                        await self.refresh()
            except (RedisError, OSError, TimeoutError, RegistryUnavailable) as error:
                if not isinstance(error, RegistryUnavailable):
                    self.errors += 1
                    self.available = False
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _field(service: str, instance: str) -> str:
    return f"{service}/{instance}"


def _all(state: RegistryState) -> list[Instance]:
    return [i for instances in state.services.values() for i in instances]


def _decode(version: int, instances: list[Any], registered: list[Any], leases: list[Any]) -> RegistryState:
    times = dict(zip(registered[::2], registered[1::2], strict=True))
    ends = dict(zip(leases[::2], leases[1::2], strict=True))
    decoded = [
        Instance.decode(value, float(times.get(field, 0)) / 1000, float(ends.get(field, 0)) / 1000)
        for field, value in zip(instances[::2], instances[1::2], strict=True)
    ]
    return RegistryState.of(version, decoded)
