"""The protocol every cache tier implements (memory, Redis, the two composed), and what a lookup returns.

An entry is addressed by a `CacheKey`: its *group* — the unit that invalidation evicts at once, e.g.
`v3:Product:7` (every cached answer about product 7, whatever binding or caller it was cached for) — and its
*variant* within the group (which binding, which caller). Values are bytes: a tier never shares a Python object
between two requests (each hit is decoded afresh, so one request's merge cannot change another's data).

Every method of a tier that talks to something outside the process swallows that thing's failures (and counts
them): a cache that is down is a cache that misses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CacheBackend", "CacheKey", "Hit"]

CacheKey = tuple[str, str]  # (group, variant)


@dataclass(frozen=True, slots=True)
class Hit:
    """A value found, and the seconds it has left to live (so that a nearer tier never keeps it longer)."""

    data: bytes
    ttl: float


class CacheBackend(Protocol):
    async def get_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Hit]:
        """The live entries among `keys` (one round trip for a remote tier); missing ones are left out."""
        ...

    async def set_many(self, entries: Mapping[CacheKey, bytes], ttl: float) -> None:
        """Store every entry for `ttl` seconds (one round trip for a remote tier)."""
        ...

    async def delete_many(self, groups: Iterable[str]) -> None:
        """Evict every entry of each group, whatever its variant."""
        ...

    async def clear(self, namespace: str) -> None:
        """Evict every entry whose group starts with `namespace` ("" for all)."""
        ...

    async def close(self) -> None: ...
