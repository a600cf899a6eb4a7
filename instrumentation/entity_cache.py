"""The executor's seam to an entity cache: a level's keys are asked of the cache at once, only the misses go out.

The executor knows nothing of tiers, TTLs or Redis (gateway.cache implements this protocol); it holds
`cache=None` by default and then takes none of these paths. With a cache, a batched group runs:

    cached = await cache.read(asks)   # every ask's hits put into its lookup; None: nothing here is cached
    ... send each ask's `cached.send[i]` keys (chunked as ever, still one call per service per chunk) ...
    cached.fetched()                  # the answers of those keys are in the lookups: shared and written back
    again = await cached.shared()     # keys other requests were fetching: their answers put in the lookups;
    ... send `again[i]`: keys whose other request could not hand over an answer (it failed or was cancelled) ...

`fetched` must not wait for anything (it hands over and schedules the writes), so that two requests each waiting
for a key the other fetches cannot wait for each other. Batching off (the N+1 baseline) is never cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .merge import Lookup
from .plan import BatchFetch

__all__ = ["CacheAsk", "CachedLevel", "LevelCache"]


@dataclass(frozen=True, slots=True)
class CacheAsk:
    """The fetches that share one part of a group's request, the distinct keys they need, and their lookup."""

    fetches: tuple[BatchFetch, ...]
    keys: Sequence[Any]
    lookup: Lookup


class CachedLevel(Protocol):
    @property
    def send(self) -> Sequence[Sequence[Any]]:
        """Per ask: the keys this request must fetch itself."""
        ...

    def fetched(self) -> None:
        """The `send` keys' answers are in the lookups: hand them to whoever waits, write them back."""
        ...

    async def shared(self) -> Sequence[Sequence[Any]]:
        """Put in the lookups the keys other requests were fetching; return, per ask, those still missing."""
        ...

    def abandon(self) -> None:
        """Always called at the end (also on cancellation): whoever waits for a key not handed over fetches it."""
        ...


class LevelCache(Protocol):
    async def read(self, asks: Sequence[CacheAsk]) -> CachedLevel | None:
        """Look every ask's keys up at once (one round trip to a remote tier); None when none is cached."""
        ...
