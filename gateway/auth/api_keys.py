"""API keys: a header whose value names a configured client, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from .identity import Identity

__all__ = ["APIKey", "APIKeys"]


@dataclass(frozen=True, slots=True)
class APIKey:
    key: str
    subject: str
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the key itself never reaches a log line
        return f"APIKey(subject={self.subject!r}, scopes={self.scopes!r})"


class APIKeys:
    def __init__(self, keys: Sequence[APIKey]) -> None:
        # Digests, so that lookups compare fixed-length values and the plain keys are not kept around.
        self._by_digest = {_digest(k.key): Identity(k.subject, frozenset(k.scopes), "api_key") for k in keys}

    def identify(self, given: str) -> Identity | None:
        digest = _digest(given)
        for known, identity in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return identity
        return None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
