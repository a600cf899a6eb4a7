"""The in-process tier: least recently used entries go first, bounded in entries and in bytes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from .backend import CacheKey, Hit

__all__ = ["MemoryCache"]

Clock = Callable[[], float]

# What an entry costs besides its bytes (the key tuple, the record, the dict slot), so that many tiny entries
# cannot exceed the byte bound by being counted as free.
_ENTRY_OVERHEAD: Final = 120


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    expires: float
    size: int


class MemoryCache:
    """A bounded LRU of bytes with a time to live per entry. `evictions` counts entries pushed out by the bounds
    (not those that expired or were invalidated)."""

    def __init__(self, max_entries: int, max_bytes: int, *, clock: Clock = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._groups: dict[str, set[str]] = {}  # group → its variants, for invalidation by group
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Hit]:
        return self.get_now(keys)

    def get_now(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Hit]:
        """`get_many` without the await: nothing here waits."""
        now = self._clock()
        found: dict[CacheKey, Hit] = {}
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is None:
                continue
            if entry.expires <= now:
                self._remove(key)
                continue
            entries.move_to_end(key)
            found[key] = Hit(entry.data, entry.expires - now)
        return found

    async def set_many(self, entries: Mapping[CacheKey, bytes], ttl: float) -> None:
        self.set_now(entries, ttl)

    def set_now(self, entries: Mapping[CacheKey, bytes], ttl: float) -> None:
        if ttl <= 0:
            return
        expires = self._clock() + ttl
        for key, data in entries.items():
            size = len(data) + len(key[0]) + len(key[1]) + _ENTRY_OVERHEAD
            if size > self.max_bytes:
                continue  # it would push out everything else and still not fit
            if key in self._entries:
                self._remove(key)
            self._entries[key] = _Entry(data, expires, size)
            self._groups.setdefault(key[0], set()).add(key[1])
            self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
            self.evictions += 1

    async def delete_many(self, groups: Iterable[str]) -> None:
        self.delete_now(groups)

    def delete_now(self, groups: Iterable[str]) -> None:
        for group in groups:
            for variant in list(self._groups.get(group, ())):
                self._remove((group, variant))

    async def clear(self, namespace: str) -> None:
        self.delete_now([group for group in self._groups if group.startswith(namespace)])

    async def close(self) -> None:
        self._entries.clear()
        self._groups.clear()
        self.bytes = 0

    def _remove(self, key: CacheKey) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
        variants = self._groups[key[0]]
        variants.discard(key[1])
        if not variants:
            del self._groups[key[0]]
