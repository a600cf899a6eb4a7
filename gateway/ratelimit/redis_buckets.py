"""Token buckets in Redis, shared by every replica: one atomic Lua script per request, on Redis's own clock.

When Redis cannot answer in time (`redis.timeout_ms`) the request is decided by this process's own buckets
instead, and counted in `fallbacks`: a Redis outage neither lets every request through nor refuses them all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from registry.config import RedisConfig

from ..redis_connection import connect, key
from .bucket import Decision
from .memory import MemoryBuckets

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBuckets"]

log = logging.getLogger("funnel.ratelimit")

# KEYS[1]: the bucket; ARGV: rate per second, burst. Returns {allowed (0/1), seconds to wait (string)}.
_TAKE: Final = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisBuckets:
    def __init__(self, config: RedisConfig, rate: float, burst: int, client: Redis | None = None) -> None:
        self.config = config
        self.rate = rate
        self.burst = burst
        self.fallbacks = 0
        self._client = client if client is not None else connect(config)
        self._script: Any = self._client.register_script(_TAKE)
        self._local = MemoryBuckets(rate, burst)

    async def take(self, client: str) -> Decision:
        from redis.exceptions import RedisError

        try:
            allowed, wait = await self._script(
                keys=[key(self.config, "ratelimit", client)], args=[self.rate, self.burst]
            )
        except (RedisError, OSError, TimeoutError) as error:
            self.fallbacks += 1
            if self.fallbacks == 1 or self.fallbacks % 1000 == 0:
                log.warning(
                    "rate limit: Redis unavailable (%s), deciding in this process", type(error).__name__
                )
            return self._local.take_now(client)
        return Decision(True) if int(allowed) == 1 else Decision(False, float(wait))

    async def close(self) -> None:
        await self._client.aclose()
