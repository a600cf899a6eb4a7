"""Services that join at run time: where registrations are kept (in memory, or in Redis for replicas: store.py,
memory_store.py, redis_store.py), what an instance URL may be (urls.py), the schema recomposed with them
(composer.py) and their instances handed to the transports (routing.py). The HTTP API is
gateway.server.registry_api; the client a service uses is registry.client (it needs aiohttp, not the gateway)."""

from .memory_store import MemoryStore
from .redis_store import RedisStore
from .store import (
    Contribution,
    ContributionKind,
    Instance,
    RegistryState,
    RegistryStore,
    RegistryUnavailable,
    instance_id,
    make_store,
)

__all__ = [
    "Contribution",
    "ContributionKind",
    "Instance",
    "MemoryStore",
    "RedisStore",
    "RegistryState",
    "RegistryStore",
    "RegistryUnavailable",
    "instance_id",
    "make_store",
]
