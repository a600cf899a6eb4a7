"""Counting what happened recently: the rolling window the retry budget and the circuit breaker both read."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Clock", "RollingWindow"]

Clock = Callable[[], float]
"""Seconds on a monotonic clock: `time.monotonic` in production (the clock of `Call.deadline`), a fake in tests."""


class RollingWindow:
    """Counts of a few kinds of events over the last `window_s` seconds.

    The window is cut into `slices`; a slice is forgotten whole once it is older than the window, so the counts
    cover between `(slices - 1) / slices` of the window and all of it. Memory and time per event are constant,
    whatever the traffic.
    """

    __slots__ = ("_clock", "_counts", "_kinds", "_numbers", "_slices", "_width")

    def __init__(self, window_s: float, kinds: int, clock: Clock, slices: int = 10) -> None:
        self._clock = clock
        self._kinds = kinds
        self._slices = slices
        self._width = window_s / slices
        self._numbers = [-1] * slices  # which slice of time (clock // width) each slot holds
        self._counts = [[0] * kinds for _ in range(slices)]

    def add(self, kind: int, count: int = 1) -> None:
        number = int(self._clock() // self._width)
        slot = number % self._slices
        if self._numbers[slot] != number:  # the slot held an expired slice: reuse it
            self._numbers[slot] = number
            self._counts[slot] = [0] * self._kinds
        self._counts[slot][kind] += count

    def totals(self) -> list[int]:
        """The count of each kind over the window."""
        oldest = int(self._clock() // self._width) - self._slices
        totals = [0] * self._kinds
        for number, counts in zip(self._numbers, self._counts, strict=True):
            if number > oldest:
                for kind, count in enumerate(counts):
                    totals[kind] += count
        return totals

    def clear(self) -> None:
        self._numbers = [-1] * self._slices
