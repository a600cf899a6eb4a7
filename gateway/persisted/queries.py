"""Persisted queries at the server's request-reading step: the query text comes from a hash, before anything else
reads the request.

- Automatic persisted queries (Apollo's protocol): a request carries `extensions.persistedQuery` `{"version": 1,
  "sha256Hash": "…"}`. Without the text, a known hash runs its text; an unknown one is answered
  `PERSISTED_QUERY_NOT_FOUND`, and the client sends the hash again with the text, which registers it (the hash is
  checked against the text first). Registered texts are kept in process (bounded, least recently used first)
  and, with `persisted_queries.redis`, in Redis, so that a hash registered through one replica runs on all.
- Trusted documents: the manifest's operations run by their id (`extensions.persistedQuery.sha256Hash`, or
  `documentId` as in the GraphQL-over-HTTP persisted documents proposal); with `only_trusted` nothing else runs:
  an unknown id is PERSISTED_QUERY_NOT_IN_LIST (404), a text not in the manifest QUERY_NOT_IN_SAFELIST (403),
  and nothing is registered.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Final

from instrumentation.errors import ErrorCode

from ..cache import CacheBackend, MemoryCache
from ..server.params import GraphQLParams
from .manifest import Manifest, sha256_hex

__all__ = ["PersistedQueries", "PersistedQueryError", "PersistedStats"]

_HASH: Final = re.compile(r"[0-9a-f]{64}")
_VARIANT: Final = ""  # a hash has one text: the cache's variant is unused


class PersistedQueryError(Exception):
    """The request cannot run: `status` is the HTTP status (None: the one for request errors of the media type)."""

    def __init__(self, message: str, code: ErrorCode, status: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def formatted(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


class PersistedStats:
    __slots__ = ("hits", "misses", "registered")

    def __init__(self) -> None:
        self.hits = 0  # a hash answered with its text (registered, or from the manifest)
        self.misses = 0  # PERSISTED_QUERY_NOT_FOUND: the client will send the text
        self.registered = 0


class PersistedQueries:
    """`store` keeps registered texts (None: APQ off); `manifest` the trusted documents (None: no manifest)."""

    def __init__(
        self,
        store: CacheBackend | None,
        *,
        ttl_s: float,
        manifest: Manifest | None = None,
        only_trusted: bool = False,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.manifest = manifest
        self.only_trusted = only_trusted
        self.stats = PersistedStats()

    @classmethod
    def in_memory(cls, max_entries: int = 10_000, max_bytes: int = 16 << 20) -> PersistedQueries:
        return cls(MemoryCache(max_entries, max_bytes), ttl_s=7 * 24 * 3600)

    async def resolve(self, params: GraphQLParams) -> GraphQLParams:
        """The params with their query text; PersistedQueryError when there is none to run."""
        persisted = (params.extensions or {}).get("persistedQuery")
        if params.document_id is not None:
            return self._trusted(params, params.document_id)
        if persisted is None:
            if self.only_trusted and not self._is_trusted(params.query):
                raise PersistedQueryError(
                    "Only trusted documents run here: this query is not in the manifest.",
                    ErrorCode.QUERY_NOT_IN_SAFELIST,
                    403,
                )
            return params
        digest = _hash_of(persisted)
        if params.query:
            return await self._register(params, digest)
        if self.manifest is not None and digest in self.manifest.documents:
            return self._trusted(params, digest)
        if self.only_trusted:
            raise _not_in_list(digest)
        if self.store is None:
            raise PersistedQueryError(
                "PersistedQueryNotSupported", ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED, 400
            )
        found = (await self.store.get_many([(digest, _VARIANT)])).get((digest, _VARIANT))
        text = found.data.decode("utf-8", "replace") if found is not None else None
        # A text from Redis is checked like one from a client: whatever else writes there cannot swap queries.
        if text is None or sha256_hex(text) != digest:
            self.stats.misses += 1
            raise PersistedQueryError("PersistedQueryNotFound", ErrorCode.PERSISTED_QUERY_NOT_FOUND, None)
        self.stats.hits += 1
        return dataclasses.replace(params, query=text)

    async def _register(self, params: GraphQLParams, digest: str) -> GraphQLParams:
        if sha256_hex(params.query) != digest:
            raise PersistedQueryError(
                "persistedQuery.sha256Hash is not the SHA-256 of the query text.",
                ErrorCode.BAD_PERSISTED_QUERY,
                400,
            )
        if self.only_trusted:
            if not self._is_trusted(params.query):
                raise _not_in_list(digest)
            return params
        if self.store is not None:
            await self.store.set_many({(digest, _VARIANT): params.query.encode()}, self.ttl_s)
            self.stats.registered += 1
        return params

    def _trusted(self, params: GraphQLParams, identifier: str) -> GraphQLParams:
        text = self.manifest.documents.get(identifier) if self.manifest is not None else None
        if text is None:
            raise _not_in_list(identifier)
        if params.query and params.query != text:
            raise PersistedQueryError(
                "The query text is not the trusted document with this id.", ErrorCode.BAD_PERSISTED_QUERY, 400
            )
        self.stats.hits += 1
        return dataclasses.replace(params, query=text)

    def _is_trusted(self, query: str) -> bool:
        return self.manifest is not None and sha256_hex(query) in self.manifest.hashes

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


def _hash_of(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise PersistedQueryError(
            'extensions.persistedQuery must be an object like {"version": 1, "sha256Hash": "…"}.',
            ErrorCode.BAD_PERSISTED_QUERY,
            400,
        )
    if persisted.get("version") != 1:
        raise PersistedQueryError(
            f"Unsupported persisted query version {persisted.get('version')!r}: only version 1 is.",
            ErrorCode.BAD_PERSISTED_QUERY,
            400,
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise PersistedQueryError(
            "extensions.persistedQuery.sha256Hash must be 64 lower-case hexadecimal digits.",
            ErrorCode.BAD_PERSISTED_QUERY,
            400,
        )
    return digest


def _not_in_list(identifier: str) -> PersistedQueryError:
    shown = identifier if len(identifier) <= 80 else identifier[:80] + "…"
    return PersistedQueryError(
        f"No trusted document has the id {shown!r}.", ErrorCode.PERSISTED_QUERY_NOT_IN_LIST, 404
    )
