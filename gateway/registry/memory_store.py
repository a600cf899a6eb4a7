"""The embedded registry store: one gateway process, nothing else needed (`funnel serve`, the demo)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from registry.background import start_background, stop_background

from .store import Instance, RegistryState

__all__ = ["MemoryStore"]

SWEEP_S = 0.25  # how often expired leases are looked for


class MemoryStore:
    backend = "memory"
    available = True
    errors = 0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._instances: dict[tuple[str, str], Instance] = {}
        self._state = RegistryState()
        self._watchers: list[Callable[[RegistryState], None]] = []
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def state(self) -> RegistryState:
        return self._state

    def watch(self, callback: Callable[[RegistryState], None]) -> None:
        self._watchers.append(callback)

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = start_background(self._sweep_forever(), "funnel-registry-sweep")

    async def close(self) -> None:
        await stop_background(self._sweeper)
        self._sweeper = None

    async def put(self, instance: Instance, ttl_s: float) -> RegistryState:
        now = self._clock()
        key = (instance.service, instance.id)
        old = self._instances.get(key)
        same = old is not None and old.encode() == instance.encode()
        registered = old.registered_at if old is not None and same else now
        stored = dataclasses.replace(instance, registered_at=registered, expires_at=now + ttl_s)
        self._instances[key] = stored
        if not same:
            self._changed()
        else:
            self._state = RegistryState.of(self._state.version, list(self._instances.values()))
        return self._state

    async def renew(self, service: str, instance: str, ttl_s: float) -> bool:
        old = self._instances.get((service, instance))
        if old is None:
            return False
        self._instances[(service, instance)] = dataclasses.replace(old, expires_at=self._clock() + ttl_s)
        return True

    async def remove(self, service: str, instance: str) -> bool:
        if self._instances.pop((service, instance), None) is None:
            return False
        self._changed()
        return True

    async def refresh(self) -> RegistryState:
        self.sweep()
        return self._state

    def sweep(self) -> None:
        """Drop the instances whose lease has ended."""
        now = self._clock()
        expired = [key for key, i in self._instances.items() if i.expires_at <= now]
        for key in expired:
            del self._instances[key]
        if expired:
            self._changed()

    def _changed(self) -> None:
        self._state = RegistryState.of(self._state.version + 1, list(self._instances.values()))
        for watcher in self._watchers:
            watcher(self._state)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            self.sweep()
