"""Trusted documents: the operations a production client may run, read once at start-up from a manifest.

Two formats are read, told apart by their shape:

- Apollo's persisted query manifest: `{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id": "<sha256 of body>", "name": "...", "type": "query", "body": "..."}]}`;
- The Guild's (GraphQL Code Generator, graphql-yoga): `{"<hash>": "<document text>", ...}`.

The manifest is a file (relative to the config) or an http(s) URL, bounded in time and size like every document
Funnel fetches. Anything wrong with it stops start-up with a ConfigError at the config's `manifest:` line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import orjson

from registry.bindings import SourceLocation
from registry.errors import ConfigError, Problem

from ..fetching import MAX_DOCUMENT_BYTES, FetchError, fetch_bytes

__all__ = ["Manifest", "load_manifest", "parse_manifest", "sha256_hex"]

_APOLLO_FORMAT: Final = "apollo-persisted-query-manifest"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    """Document ids to texts; `hashes` holds the sha256 of every text, to recognise one sent in full."""

    documents: Mapping[str, str]
    hashes: frozenset[str]

    @classmethod
    def of(cls, documents: Mapping[str, str]) -> Manifest:
        return cls(MappingProxyType(dict(documents)), frozenset(sha256_hex(t) for t in documents.values()))


def parse_manifest(data: bytes) -> Manifest:
    """Raises ValueError saying what is wrong, and where in the document."""
    try:
        value: Any = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON (line {error.lineno}, column {error.colno})") from None
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    if "format" in value:
        return Manifest.of(_apollo(value))
    documents: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"document {key!r} must be the document's text")
        documents[key] = text
    return Manifest.of(documents)


def _apollo(value: Mapping[str, Any]) -> dict[str, str]:
    if value.get("format") != _APOLLO_FORMAT or value.get("version") != 1:
        raise ValueError(f"format must be {_APOLLO_FORMAT!r} with version 1")
    operations = value.get("operations")
    if not isinstance(operations, list):
        raise ValueError("operations must be a list")
    documents: dict[str, str] = {}
    for index, operation in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(operation, dict):
            raise ValueError(f"{where} must be an object")
        identifier, body = operation.get("id"), operation.get("body")
        if not isinstance(identifier, str) or not identifier:
            raise ValueError(f"{where}.id must be a string")
        if not isinstance(body, str) or not body.strip():
            raise ValueError(f"{where}.body must be the operation's text")
        if sha256_hex(body) != identifier:
            # Apollo's ids are the body's hash; a client sending the hash of the text it has would not find it.
            raise ValueError(f"{where}.id is not the sha256 of its body")
        documents[identifier] = body
    return documents


async def load_manifest(source: str, location: SourceLocation | None) -> Manifest:
    """The manifest at `source` (a file or an http(s) URL); ConfigError at `location` when it is unusable."""
    try:
        if source.startswith(("http://", "https://")):
            data = await fetch_bytes(source)
        else:
            if os.path.getsize(source) > MAX_DOCUMENT_BYTES:
                raise ValueError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
            with open(source, "rb") as handle:
                data = handle.read()
        return parse_manifest(data)
    except (OSError, FetchError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        message = f"persisted_queries.manifest: cannot use {source}: {reason}"
        where, line = (location.file, location.line) if location is not None else (None, None)
        raise ConfigError([Problem(message, where, line)]) from None
