"""The entity cache: batched fields' answers kept per key, so that a level sends only the keys it has not seen.

    cache = build_entity_cache(config, services)          # one per gateway (gateway.cache.setup)
    level_cache = cache.for_request(version.id, version.cache_rules, headers, variables)  # None: none cached
    await execute_plan(..., cache=level_cache)

It implements instrumentation.entity_cache for the executor. One entry is one key's answer for one part of a
request: its group is `Type:key` (what invalidation names, gateway.cache.rules says which type), its variant a
digest of everything else the answer depends on — the schema version, the fields sharing the part and the
selection asked of the service, the client's variables that selection uses and, for a private rule, the
caller's credentials — so that two requests share an entry only when they would have sent the same request.

- A level's keys are looked up at once (one round trip to Redis, through the tier); hits are decoded afresh for
  each request (the executor merges into what it receives).
- A key the service answered without an item (null, or no item for it) is kept as absent for the rule's
  `negative_max_age`; an error is never kept.
- Concurrent misses of one entry in this process: the first request fetches it, the others wait for its answer
  (single flight); whoever cannot be handed an answer (the fetch was cancelled, the answer holds an error of a
  nested field) fetches the key itself.
- Write-back never delays the answer: it runs in a task of its own.
- A private rule with no credentials in the request is not cached: nobody to keep it for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from instrumentation.entity_cache import CacheAsk
from instrumentation.errors import FieldError
from instrumentation.merge import normalize
from instrumentation.selection import print_selection
from registry.bindings import FieldCoordinate
from registry.config import ServiceConfig

from .backend import CacheBackend, CacheKey, Hit
from .codec import ABSENT, decode, encode
from .rules import EntityRule
from .single_flight import SingleFlight

__all__ = ["EntityCache", "EntityStats", "RequestCache"]

MAX_KEY_CHARS: Final = 512  # a longer key is sent, not cached: entry names stay bounded
# Headers that say who is asking, hashed into a private rule's entries (besides what the service is forwarded).
CREDENTIAL_HEADERS: Final = ("authorization", "cookie", "x-api-key")

_MISSING: Final = object()


class EntityStats:
    """What the entity cache did: keys found, found as absent, not found; keys that waited for another
    request's fetch; keys whose answer could not be kept (an error, too large)."""

    __slots__ = ("hits", "invalidations", "misses", "negative_hits", "shared", "uncacheable", "writes")

    def __init__(self) -> None:
        self.invalidations = 0
        self.hits = 0
        self.negative_hits = 0
        self.misses = 0
        self.shared = 0
        self.uncacheable = 0
        self.writes = 0


class EntityCache:
    """The state shared by every request of a gateway: the tier, the flights, the counts, the writes running."""

    def __init__(
        self, tier: CacheBackend, services: Mapping[str, ServiceConfig], *, max_value_bytes: int
    ) -> None:
        self.tier = tier
        self.services = services
        self.max_value_bytes = max_value_bytes
        self.flights: SingleFlight[CacheKey] = SingleFlight()
        self.stats = EntityStats()
        self._writes: set[asyncio.Task[None]] = set()

    def for_request(
        self,
        version: str,
        rules: Mapping[FieldCoordinate, EntityRule],
        headers: Mapping[str, str],
        variables: Mapping[str, Any],
    ) -> RequestCache | None:
        """The cache as one request sees it (its credentials, its variables); None when no field of the
        version is cached."""
        if not rules:
            return None
        lowered = {k.lower(): v for k, v in headers.items()}
        return RequestCache(self, version, rules, lowered, variables)

    def write(self, entries: Mapping[CacheKey, bytes], ttl: float) -> None:
        """Store in the background: the response does not wait for Redis."""
        if not entries:
            return
        self.stats.writes += len(entries)
        task = asyncio.ensure_future(self.tier.set_many(entries, ttl))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def drain(self) -> None:
        """Until the writes started so far are done (tests, and closing)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        await self.tier.close()


class _Ask:
    """One ask's cache entries: which keys this request leads, which it waits for."""

    __slots__ = ("ask", "keys", "leading", "rule", "send", "waiting")

    def __init__(self, ask: CacheAsk, rule: EntityRule | None) -> None:
        self.ask = ask
        self.rule = rule
        self.keys: dict[CacheKey, Any] = {}  # entry → the key it stands for
        self.send: list[Any] = []
        self.leading: list[CacheKey] = []
        self.waiting: dict[CacheKey, asyncio.Future[Any]] = {}


class RequestCache:
    """instrumentation.entity_cache.LevelCache for one request."""

    def __init__(
        self,
        cache: EntityCache,
        version: str,
        rules: Mapping[FieldCoordinate, EntityRule],
        headers: Mapping[str, str],
        variables: Mapping[str, Any],
    ) -> None:
        self.cache = cache
        self.version = version
        self.rules = rules
        self.headers = headers  # lower-case names
        self.variables = variables

    async def read(self, asks: Sequence[CacheAsk]) -> CachedGroup | None:
        planned = [_Ask(ask, self.rule(ask)) for ask in asks]
        if all(p.rule is None for p in planned):
            return None
        for p in planned:
            if p.rule is None:
                p.send = list(p.ask.keys)
                continue
            variant = self.variant(p.ask, p.rule)
            if variant is None:
                p.rule = None
                p.send = list(p.ask.keys)
                continue
            for key in p.ask.keys:
                text = normalize(key)
                if len(text) > MAX_KEY_CHARS:
                    p.send.append(key)
                else:
                    p.keys[(f"{p.rule.type_name}:{text}", variant)] = key
        entries = [entry for p in planned for entry in p.keys]
        found = await self.cache.tier.get_many(entries) if entries else {}
        stats = self.cache.stats
        flights = self.cache.flights
        for p in planned:
            missed: list[CacheKey] = []
            for entry, key in p.keys.items():
                hit = found.get(entry)
                if hit is None or not _put(p.ask, key, hit):
                    missed.append(entry)
                elif hit.data == ABSENT:
                    stats.negative_hits += 1
                else:
                    stats.hits += 1
            stats.misses += len(missed)
            p.leading, p.waiting = flights.join(missed)
            p.send.extend(p.keys[entry] for entry in p.leading)
        return CachedGroup(self.cache, planned)

    def rule(self, ask: CacheAsk) -> EntityRule | None:
        """The rule of an ask: the shortest lived of its fields' (private if any is); None if one is uncached."""
        found = [self.rules.get(f.coordinate) for f in ask.fetches]
        if any(r is None for r in found):
            return None
        rules = [r for r in found if r is not None]
        shortest = min(rules, key=lambda r: r.max_age)
        return dataclasses.replace(shortest, private=any(r.private for r in rules))

    def variant(self, ask: CacheAsk, rule: EntityRule) -> str | None:
        """What an entry depends on besides its key, as a digest; None for a private rule without credentials."""
        first = ask.fetches[0]
        service = self.cache.services.get(first.service)
        forwarded = service.forward_headers if service is not None else ()
        names = sorted({*forwarded, *(CREDENTIAL_HEADERS if rule.private else ())})
        credentials = [(name, self.headers[name]) for name in names if name in self.headers]
        if rule.private and not credentials:
            return None
        fetches = [
            (
                str(f.coordinate),
                repr(f.request),
                print_selection(f.selection),
                f.one_to_many,
                f.select,
                [self.variables.get(name) for name in f.variables],
            )
            for f in ask.fetches
        ]
        described = orjson.dumps(
            [self.version, first.service, first.source, fetches, credentials], default=str
        )
        return hashlib.sha256(described).hexdigest()[:32]


class CachedGroup:
    """instrumentation.entity_cache.CachedLevel: one group's asks after the lookup."""

    def __init__(self, cache: EntityCache, planned: Sequence[_Ask]) -> None:
        self.cache = cache
        self.planned = planned
        self.send = [p.send for p in planned]
        self._landed = False

    def fetched(self) -> None:
        self._landed = True
        cache = self.cache
        for p in self.planned:
            if p.rule is None or not p.leading:
                continue
            values: dict[CacheKey, Any] = {}
            found: dict[CacheKey, bytes] = {}
            absent: dict[CacheKey, bytes] = {}
            lookup = p.ask.lookup
            for entry in p.leading:
                value = lookup.get(normalize(p.keys[entry]), _MISSING)
                if value is _MISSING or value is None:
                    absent[entry] = values[entry] = ABSENT
                elif value.__class__ is FieldError:
                    values[entry] = value
                    cache.stats.uncacheable += 1
                else:
                    data = encode(value, cache.max_value_bytes)
                    if data is None:
                        cache.stats.uncacheable += 1
                    else:
                        found[entry] = values[entry] = data
            cache.flights.land(values, p.leading)
            cache.write(found, p.rule.max_age)
            cache.write(absent, p.rule.negative_max_age)

    async def shared(self) -> list[list[Any]]:
        again: list[list[Any]] = []
        stats = self.cache.stats
        for p in self.planned:
            missing: list[Any] = []
            if p.waiting:
                answers = await SingleFlight.wait(p.waiting)
                for entry, answer in answers.items():
                    key = p.keys[entry]
                    if answer.__class__ is FieldError:
                        p.ask.lookup[normalize(key)] = answer
                    elif answer is None or not _put(p.ask, key, Hit(answer, 0)):
                        missing.append(key)
                        continue
                    stats.shared += 1
            again.append(missing)
        return again

    def abandon(self) -> None:
        if not self._landed:
            self._landed = True
            for p in self.planned:
                self.cache.flights.land({}, p.leading)


def _put(ask: CacheAsk, key: Any, hit: Hit) -> bool:
    """A found entry into the ask's lookup (an absent one leaves the key out); False for bytes this cache did not
    write, which count as a miss."""
    if hit.data == ABSENT:
        return True
    try:
        ask.lookup[normalize(key)] = decode(hit.data)
    except ValueError:
        return False
    return True
