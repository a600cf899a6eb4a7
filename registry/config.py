"""The gateway's YAML configuration, read once and frozen at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from .bindings import SourceLocation

__all__ = ["GatewayConfig", "Protocol", "ServiceConfig", "load_config"]

Protocol = Literal["graphql", "rest"]


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str
    url: str
    protocol: Protocol = "graphql"
    timeout_ms: int = 1000
    max_batch: int = 500
    forward_headers: tuple[str, ...] = ()  # lower-case header names passed on from the client's request
    location: SourceLocation | None = None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    path: str | None  # the YAML file, for error messages and relative paths
    schema_path: str | None
    batching: bool = True
    services: Mapping[str, ServiceConfig] = field(default_factory=lambda: MappingProxyType({}))


def load_config(path: str) -> GatewayConfig:
    raise NotImplementedError
