"""The kinds of downstream source, one module each, and the registry the planner and executor share.

A binding is routed to a source by `source_name`; `default_sources()` maps each name to its (stateless)
source. A new kind is a new module registered here, not a branch in the planner or the executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from registry.bindings import BatchBinding, Binding, LoaderBinding, RemoteBinding

from .base import CallContext, Part, Source
from .entities import EntitiesSource
from .graphql import GraphQLSource
from .loader import LoaderSource
from .rest import RestSource

__all__ = ["CallContext", "Part", "Source", "default_sources", "source_name"]

_DEFAULT: Mapping[str, Source] = MappingProxyType(
    {s.name: s for s in (GraphQLSource(), EntitiesSource(), RestSource(), LoaderSource())}
)

# A @batch binding's kind of request (BatchBinding.source) → the source that sends it.
_BATCH_SOURCES: Mapping[str, str] = MappingProxyType(
    {"field": "graphql", "entity": "entities", "path": "rest"}
)


def default_sources() -> Mapping[str, Source]:
    """Every source Funnel has, by name."""
    return _DEFAULT


def source_name(binding: Binding, protocol: str) -> str:
    """The source answering a field bound so, `protocol` being its service's (`graphql` or `rest`)."""
    if isinstance(binding, LoaderBinding):
        return LoaderSource.name
    if isinstance(binding, BatchBinding):
        return _BATCH_SOURCES[binding.source]
    if isinstance(binding, RemoteBinding):
        return protocol
    raise ValueError(f"{binding.coordinate}: a resolver is computed in the gateway, not fetched")
