"""Resilience policies: each a wrapper implementing the `Transport` protocol, composed in `stack.py` (with the
instance pool of `pool.py` for a service's several instances); plus the request deadline (`deadline.py`) and
load shedding at the gateway (`shedding.py`)."""

from .breaker import BreakerSnapshot, BreakerState, CircuitBreaker
from .bulkhead import Bulkhead
from .deadline import TIMEOUT_HEADER, DeadlineTransport, parse_timeout_ms, request_deadline
from .pool import Instance, InstancePool, InstanceSnapshot
from .retry import RetryBudget, RetryTransport, is_idempotent, is_retryable
from .shedding import LoadShedder
from .stack import ResilientTransport, circuit_states, instance_states
from .window import Clock, RollingWindow

__all__ = [
    "TIMEOUT_HEADER",
    "BreakerSnapshot",
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "Clock",
    "DeadlineTransport",
    "Instance",
    "InstancePool",
    "InstanceSnapshot",
    "LoadShedder",
    "ResilientTransport",
    "RetryBudget",
    "RetryTransport",
    "RollingWindow",
    "circuit_states",
    "instance_states",
    "is_idempotent",
    "is_retryable",
    "parse_timeout_ms",
    "request_deadline",
]
