"""The registry's stores: in memory (unit) and in a real redis-server shared by two stores, as two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.registry import Contribution, Instance, MemoryStore, RedisStore, RegistryState
from gateway.registry.store import RegistryUnavailable, make_store
from registry.config import RedisConfig, RegistryConfig

from ..redis_server import RedisServer

CATALOG = Instance(
    "catalog", "http://127.0.0.1:9001/graphql", contribution=Contribution("sdl", "type Query { a: Int }")
)
OTHER = Instance("catalog", "http://127.0.0.1:9002/graphql")


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def urls(state: RegistryState, service: str = "catalog") -> list[str]:
    return [i.url for i in state.services.get(service, ())]


async def test_memory_store_versions_changes_not_heartbeats() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    seen: list[int] = []
    store.watch(lambda state: seen.append(state.version))
    await store.put(CATALOG, ttl_s=10)
    await store.put(CATALOG, ttl_s=10)  # the same registration again: not a change
    await store.put(OTHER, ttl_s=10)
    assert seen == [1, 2]
    assert urls(store.state) == [CATALOG.url, OTHER.url]
    assert store.state.contribution("catalog") == Contribution("introspect")  # the latest registered
    assert store.state.find("catalog", CATALOG.id) is not None
    now[0] += 8
    assert await store.renew("catalog", CATALOG.id, ttl_s=10) is True
    now[0] += 4  # OTHER's lease has ended, CATALOG's was renewed
    await store.refresh()
    assert urls(store.state) == [CATALOG.url]
    assert seen == [1, 2, 3]
    assert await store.remove("catalog", CATALOG.id) is True
    assert await store.remove("catalog", CATALOG.id) is False
    assert await store.renew("catalog", CATALOG.id, ttl_s=10) is False
    assert store.state.services == {} and seen == [1, 2, 3, 4]


async def test_two_replicas_share_registrations_through_redis(redis: RedisServer) -> None:
    config = RedisConfig(redis.url, timeout_ms=500, prefix="test:")
    one, two = RedisStore(config), RedisStore(config)
    await one.start()
    await two.start()
    try:
        seen: list[int] = []
        two.watch(lambda state: seen.append(state.version))
        await one.put(CATALOG, ttl_s=10)
        await until(lambda: urls(two.state) == [CATALOG.url])  # by the published message
        assert two.state.contribution("catalog") == CATALOG.contribution
        await one.put(CATALOG, ttl_s=10)  # no change, no new version
        await one.put(OTHER, ttl_s=0.3)
        await until(lambda: urls(two.state) == [CATALOG.url, OTHER.url])
        await until(lambda: urls(two.state) == [CATALOG.url])  # OTHER expired: swept by a replica
        assert await two.remove("catalog", CATALOG.id) is True
        await until(lambda: one.state.services == {})
        assert seen == [1, 2, 3, 4] and one.state.version == 4
        assert one.available and two.available and one.errors == two.errors == 0
    finally:
        await one.close()
        await two.close()


async def test_a_replica_keeps_its_state_while_redis_is_away_and_restores_it(redis: RedisServer) -> None:
    config = RedisConfig(redis.url, timeout_ms=300, prefix="test:")
    one, two = RedisStore(config), RedisStore(config)
    await one.start()
    await two.start()
    try:
        await one.put(CATALOG, ttl_s=30)
        await until(lambda: urls(two.state) == [CATALOG.url])
        await redis.stop()
        await until(lambda: not one.available and not two.available)
        assert urls(one.state) == urls(two.state) == [CATALOG.url]  # the last good state, kept
        try:
            await one.put(OTHER, ttl_s=30)
        except RegistryUnavailable as error:
            assert str(error) == "the registry's Redis cannot be reached"
        else:
            raise AssertionError("a registration without Redis must fail")
        await redis.start()  # empty: nothing was persisted
        await until(lambda: one.available and two.available)
        assert urls(one.state) == urls(two.state) == [CATALOG.url]  # given back to Redis by a replica
        await one.put(OTHER, ttl_s=30)  # a change made after it returned reaches the other replica
        await until(lambda: urls(two.state) == [CATALOG.url, OTHER.url])
        assert one.errors > 0 and two.errors > 0
    finally:
        await one.close()
        await two.close()


async def test_what_redis_lost_is_given_back_with_a_full_lease(redis: RedisServer) -> None:
    store = make_store(RegistryConfig(backend="redis", url=redis.url, ttl_s=1), None)
    await store.start()
    try:
        await store.put(CATALOG, ttl_s=60)
        await redis.stop()
        await until(lambda: not store.available)
        await redis.start()  # empty
        await until(lambda: store.available and urls(store.state) == [CATALOG.url])
        # given back with registry.ttl_s (1 s): without a heartbeat, it expires soon after
        await until(lambda: urls(store.state) == [], timeout=8.0)  # with the 10 s it had, it would not
    finally:
        await store.close()
