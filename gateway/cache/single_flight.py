"""Stampedes: concurrent misses of the same key in one process cause one fetch.

leading, waiting = flights.join(keys)   # fetch `leading`; the others are being fetched by someone else
...
flights.land(values, leading)           # always, even on failure: `fallback` for a key without a value
values.update(await flights.wait(waiting))
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)


class SingleFlight(Generic[K]):
    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Future[Any]] = {}
        self.shared = 0  # keys that waited for another caller's fetch instead of fetching

    def join(self, keys: Iterable[K]) -> tuple[list[K], dict[K, asyncio.Future[Any]]]:
        """The keys this caller must fetch (it now leads them), and the flights of the others."""
        loop = asyncio.get_running_loop()
        leading: list[K] = []
        waiting: dict[K, asyncio.Future[Any]] = {}
        for key in keys:
            flight = self._flights.get(key)
            if flight is None:
                self._flights[key] = loop.create_future()
                leading.append(key)
            else:
                waiting[key] = flight
        self.shared += len(waiting)
        return leading, waiting

    def land(self, values: Mapping[K, Any], keys: Iterable[K], fallback: Any = None) -> None:
        """Hand each led key's value to whoever waits for it; the flights end."""
        for key in keys:
            flight = self._flights.pop(key, None)
            if flight is not None and not flight.done():
                flight.set_result(values.get(key, fallback))

    @staticmethod
    async def wait(waiting: Mapping[K, asyncio.Future[Any]]) -> dict[K, Any]:
        """The values of other callers' flights. A waiter cancelled meanwhile leaves the flight untouched."""
        if waiting:
            await asyncio.wait(waiting.values())
        return {key: flight.result() for key, flight in waiting.items()}

    def __len__(self) -> int:
        return len(self._flights)
