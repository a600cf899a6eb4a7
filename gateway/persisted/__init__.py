"""Persisted queries: automatic (Apollo's protocol) and trusted documents (a manifest), resolved when the server
reads a request."""

from .manifest import Manifest, load_manifest, parse_manifest, sha256_hex
from .queries import PersistedQueries, PersistedQueryError, PersistedStats
from .setup import PERSISTED_QUERIES, persisted_queries_context

__all__ = [
    "PERSISTED_QUERIES",
    "Manifest",
    "PersistedQueries",
    "PersistedQueryError",
    "PersistedStats",
    "load_manifest",
    "parse_manifest",
    "persisted_queries_context",
    "sha256_hex",
]
