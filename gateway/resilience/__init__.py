"""Resilience policies: each a wrapper implementing the `Transport` protocol, composed in `stack.py`; plus the
request deadline (`deadline.py`) and load shedding at the gateway (`shedding.py`)."""

from .breaker import BreakerSnapshot, BreakerState, CircuitBreaker
from .bulkhead import Bulkhead
from .deadline import TIMEOUT_HEADER, DeadlineTransport, parse_timeout_ms, request_deadline
from .retry import RetryBudget, RetryTransport, is_idempotent, is_retryable
from .shedding import LoadShedder
from .stack import ResilientTransport, circuit_states
from .window import Clock, RollingWindow

__all__ = [
    "TIMEOUT_HEADER",
    "BreakerSnapshot",
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "Clock",
    "DeadlineTransport",
    "LoadShedder",
    "ResilientTransport",
    "RetryBudget",
    "RetryTransport",
    "RollingWindow",
    "circuit_states",
    "is_idempotent",
    "is_retryable",
    "parse_timeout_ms",
    "request_deadline",
]
