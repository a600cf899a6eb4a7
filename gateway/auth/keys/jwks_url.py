"""A JWKS document at a URL, fetched at start-up and refreshed in the background.

Each fetch is bounded in time and bytes (gateway.fetching); a failed one keeps the keys already known. A token
whose `kid` is unknown asks for an early refresh, at most once per `min_refresh_s`, so that a key rotated in by
the issuer is picked up without letting forged kids make the gateway fetch on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final

from registry.background import start_background, stop_background

from ...fetching import FetchError, fetch_bytes
from .base import KeysUnavailable, parse_jwks

__all__ = ["JWKSURL"]

log = logging.getLogger("funnel.auth")

_MAX_JWKS_BYTES: Final = 1 << 20


class JWKSURL:
    def __init__(
        self, url: str, *, refresh_s: float = 300.0, timeout_s: float = 2.0, min_refresh_s: float = 10.0
    ) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.min_refresh_s = min_refresh_s
        self.fetches = 0  # successful ones, for tests and metrics
        self._keys: dict[str | None, Any] = {}
        self._last_attempt = float("-inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def key_for(self, kid: str | None) -> Any:
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            # The refresh task waits until min_refresh_s after the last fetch: a kid rotated in just after a
            # fetch is still picked up soon, and forged kids cost one fetch per min_refresh_s at most.
            self._wake.set()
            raise KeysUnavailable(
                f"no key with kid {kid!r}" if self._keys else "the signing keys are not known yet"
            )
        return key

    async def start(self) -> None:
        await self.refresh()
        self._task = start_background(self._run(), "funnel-jwks-refresh")

    async def stop(self) -> None:
        await stop_background(self._task)
        self._task = None

    async def refresh(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            body = await fetch_bytes(self.url, timeout=self.timeout_s, max_bytes=_MAX_JWKS_BYTES)
            self._keys = parse_jwks(body, self.url)
        except (FetchError, ValueError) as error:
            log.warning("cannot refresh the JWKS keys, keeping %d known: %s", len(self._keys), error)
            return
        self.fetches += 1

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_s)
            self._wake.clear()
            wait = self.min_refresh_s - (time.monotonic() - self._last_attempt)
            if wait > 0:
                await asyncio.sleep(wait)
            await self.refresh()
