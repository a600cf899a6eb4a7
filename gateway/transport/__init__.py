"""Downstream transports: one protocol (`Transport`), HTTP for GraphQL and REST services, a mock for tests."""

from .base import InstanceSet, Transport
from .clients import SERVICE_CLIENTS, ServiceClients, TransportFactory, cleanup_ctx
from .http import DEFAULT_MAX_RESPONSE_BYTES, HTTPTransport
from .mock import MockHandler, MockTransport

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "SERVICE_CLIENTS",
    "HTTPTransport",
    "InstanceSet",
    "MockHandler",
    "MockTransport",
    "ServiceClients",
    "Transport",
    "TransportFactory",
    "cleanup_ctx",
]
