"""Demand control: bounding what one request can make the gateway and the services do."""

from .cost import static_cost
from .limits import DemandLimits, limit_error
from .shape import QueryShape, measure

__all__ = ["DemandLimits", "QueryShape", "limit_error", "measure", "static_cost"]
