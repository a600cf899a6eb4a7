"""A shared secret (HS256 and friends): one key for every token."""

from __future__ import annotations

from typing import Any

__all__ = ["SharedSecret"]


class SharedSecret:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def key_for(self, kid: str | None) -> Any:
        return self._secret

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def __repr__(self) -> str:  # never the secret itself, in a log line or a traceback
        return "SharedSecret(***)"
