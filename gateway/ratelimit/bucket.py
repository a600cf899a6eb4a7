"""The token bucket: `burst` tokens, refilled at `rate` per second; a request takes one or waits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Decision", "RateLimitBackend", "refill"]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0  # when refused: how long until a token is there


class RateLimitBackend(Protocol):
    async def take(self, client: str) -> Decision: ...

    async def close(self) -> None: ...


def refill(tokens: float, elapsed_s: float, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, elapsed_s) * rate)
