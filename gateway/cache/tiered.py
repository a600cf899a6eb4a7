"""Memory in front of Redis: a hit in memory costs no round trip; a hit in Redis fills memory for the time the
entry has left there, so that the nearer tier never outlives the shared one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .backend import CacheBackend, CacheKey, Hit
from .memory import MemoryCache

__all__ = ["TieredCache"]


class TieredCache:
    def __init__(self, front: MemoryCache, back: CacheBackend) -> None:
        self.front = front
        self.back = back

    async def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Hit]:
        found = self.front.get_now(keys)
        missing = [key for key in keys if key not in found]
        if not missing:
            return found
        behind = await self.back.get_many(missing)
        for key, hit in behind.items():
            self.front.set_now({key: hit.data}, hit.ttl)
        found.update(behind)
        return found

    async def set_many(self, entries: Mapping[CacheKey, bytes], ttl: float) -> None:
        self.front.set_now(entries, ttl)
        await self.back.set_many(entries, ttl)

    async def delete_many(self, groups: Iterable[str]) -> None:
        groups = list(groups)
        self.front.delete_now(groups)
        await self.back.delete_many(groups)

    async def clear(self, namespace: str) -> None:
        await self.front.clear(namespace)
        await self.back.clear(namespace)

    async def close(self) -> None:
        await self.front.close()
        await self.back.close()
