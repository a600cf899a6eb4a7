"""Observability: Prometheus metrics (`metrics.py`), OpenTelemetry traces (`tracing.py`), structured request
logs (`logs.py`) and request ids (`request_id.py`), put together from the config by `observer.py`.

Metrics and tracing need optional packages (`pip install -e ".[metrics,tracing]"`, `.[otlp]` for the
OTLP exporter: `gateway.extras.install_hint`); their modules are imported only when the config turns them on.
"""

from .logs import JsonFormatter, RequestLog, TextFormatter, configure_logging
from .observer import OUTCOMES, Observability, ObservedRequest, request_outcome
from .request_id import (
    REQUEST_ID_HEADER,
    accept_request_id,
    current_request_id,
    new_request_id,
    request_id_middleware,
    using_request_id,
)

__all__ = [
    "OUTCOMES",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "Observability",
    "ObservedRequest",
    "RequestLog",
    "TextFormatter",
    "accept_request_id",
    "configure_logging",
    "current_request_id",
    "new_request_id",
    "request_id_middleware",
    "request_outcome",
    "using_request_id",
]
