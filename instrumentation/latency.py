"""Each service's observed latency, as an exponentially weighted moving average of its calls' durations.

The planner reads a snapshot when it plans an operation, to decide which fetches can wait for a later level of
the same service without lengthening the request (instrumentation.level_merge). A service never called yet has
no estimate; the plan then counts each call as one unit of time (by depth).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from .call import CallRecord

__all__ = ["LatencyEstimates"]

_ALPHA: Final = 0.2  # weight of the newest call: about the last ten calls count


class LatencyEstimates:
    """Per-service EWMA of call durations (ms), fed with the calls of each request."""

    def __init__(self, alpha: float = _ALPHA) -> None:
        self._alpha = alpha
        self._ms: dict[str, float] = {}

    def observe(self, calls: Iterable[CallRecord]) -> None:
        for call in calls:
            if (
                call.outcome != "ok"
            ):  # a failure's duration (a timeout, a refusal) says nothing of the service's pace
                continue
            previous = self._ms.get(call.service)
            self._ms[call.service] = (
                call.ms if previous is None else previous + self._alpha * (call.ms - previous)
            )

    def snapshot(self) -> Mapping[str, float]:
        return MappingProxyType(dict(self._ms))
