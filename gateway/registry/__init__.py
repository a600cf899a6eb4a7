"""Services that join at run time: where registrations are kept (in memory, or in Redis for replicas)."""

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
