"""A JWKS document in a file, read once at start-up."""

from __future__ import annotations

from typing import Any

from .base import KeysUnavailable, parse_jwks

__all__ = ["JWKSFile"]


class JWKSFile:
    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as file:  # OSError is the caller's to report, at start-up
            self._keys = parse_jwks(file.read(), path)

    def key_for(self, kid: str | None) -> Any:
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise KeysUnavailable(f"no key with kid {kid!r}")
        return key

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
