"""gateway.cache.redis_cache and tiered: a real redis-server; one round trip per call; Redis down is a miss."""

from __future__ import annotations

from gateway.cache import Hit, MemoryCache, RedisCache, TieredCache
from gateway.redis_connection import connect
from registry.config import RedisConfig
from tests.redis_server import RedisServer


class Wall:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def redis_cache(redis: RedisServer, **options: object) -> RedisCache:
    config = RedisConfig(redis.url, timeout_ms=200, prefix="t:")
    return RedisCache(connect(config), config, **options)  # type: ignore[arg-type]


async def test_many_keys_are_read_and_written_in_one_round_trip_each(redis: RedisServer) -> None:
    cache = redis_cache(redis)
    try:
        entries = {(f"v1:Product:{i}", "public"): f'{{"id":{i}}}'.encode() for i in range(50)}
        await cache.set_many(entries, ttl=30)
        assert cache.stats.round_trips == 1
        found = await cache.get_many([*entries, ("v1:Product:99", "public"), ("v1:Product:1", "other")])
        assert cache.stats.round_trips == 2
        assert {k: v.data for k, v in found.items()} == entries
        assert all(29 < hit.ttl <= 30 for hit in found.values())
        # one hash per group, its fields the variants; the hash lives as long as its longest entry
        raw = cache.client
        assert await raw.hkeys("t:cache:v1:Product:1") == [b"public"]
        assert 29_000 < await raw.pttl("t:cache:v1:Product:1") <= 30_000
        await cache.set_many({("v1:Product:1", "private"): b"x"}, ttl=100)
        assert 99_000 < await raw.pttl("t:cache:v1:Product:1") <= 100_000
        await cache.set_many({("v1:Product:1", "short"): b"y"}, ttl=1)
        assert (
            99_000 < await raw.pttl("t:cache:v1:Product:1") <= 100_000
        )  # a shorter entry does not shorten it
        assert cache.stats.errors == 0
    finally:
        await cache.close()


async def test_each_entry_expires_by_its_own_time_even_inside_a_longer_lived_hash(redis: RedisServer) -> None:
    wall = Wall()
    cache = redis_cache(redis, wall=wall)
    try:
        await cache.set_many({("g", "long"): b"1"}, ttl=100)
        await cache.set_many({("g", "short"): b"2"}, ttl=5)
        wall.now += 10
        assert await cache.get_many([("g", "long"), ("g", "short")]) == {("g", "long"): Hit(b"1", 90)}
    finally:
        await cache.close()


async def test_groups_are_deleted_whole_and_clear_takes_a_namespace(redis: RedisServer) -> None:
    cache = redis_cache(redis)
    try:
        await cache.set_many({("v1:P:7", "a"): b"1", ("v1:P:7", "b"): b"2", ("v1:P:8", "a"): b"3"}, ttl=30)
        await cache.set_many({("v2:P:7", "a"): b"4", ("v1*[x]:P:7", "a"): b"5"}, ttl=30)
        await cache.delete_many(["v1:P:7"])
        keys = [("v1:P:7", "a"), ("v1:P:7", "b"), ("v1:P:8", "a"), ("v2:P:7", "a"), ("v1*[x]:P:7", "a")]
        assert set(await cache.get_many(keys)) == {("v1:P:8", "a"), ("v2:P:7", "a"), ("v1*[x]:P:7", "a")}
        await cache.clear("v1*[x]:")  # glob characters in a namespace are matched as themselves
        assert set(await cache.get_many(keys)) == {("v1:P:8", "a"), ("v2:P:7", "a")}
        await cache.clear("v1:")
        assert set(await cache.get_many(keys)) == {("v2:P:7", "a")}
    finally:
        await cache.close()


async def test_redis_down_is_a_miss_counted_then_skipped_for_the_cooldown(redis: RedisServer) -> None:
    cache = redis_cache(redis, cooldown_s=60)
    try:
        await cache.set_many({("g", "v"): b"1"}, ttl=30)
        await redis.stop()
        assert await cache.get_many([("g", "v")]) == {}
        assert (cache.stats.errors, cache.stats.skipped) == (1, 0)
        assert await cache.get_many([("g", "v")]) == {}
        await cache.set_many({("g", "w"): b"2"}, ttl=30)
        assert (cache.stats.errors, cache.stats.skipped) == (1, 2)  # not tried again during the cooldown
        await cache.delete_many(["g"])  # an eviction is always tried
        assert cache.stats.errors == 2
    finally:
        await cache.close()


async def test_after_the_cooldown_redis_is_used_again(redis: RedisServer) -> None:
    cache = redis_cache(redis, cooldown_s=0)
    try:
        await redis.stop()
        assert await cache.get_many([("g", "v")]) == {}
        await redis.start()  # an empty server again
        await cache.set_many({("g", "v"): b"1"}, ttl=30)
        assert {k: h.data for k, h in (await cache.get_many([("g", "v")])).items()} == {("g", "v"): b"1"}
        assert cache.stats.errors == 1
    finally:
        await cache.close()


async def test_garbage_in_redis_is_a_miss(redis: RedisServer) -> None:
    cache = redis_cache(redis)
    try:
        await cache.client.hset("t:cache:g", "v", b"\x01")  # shorter than the expiry in front of every value
        await cache.client.set("t:cache:h", b"not a hash")
        assert await cache.get_many([("g", "v"), ("h", "v")]) == {}
        assert cache.stats.errors == 1  # the wrong type is Redis's error, counted like any other
    finally:
        await cache.close()


async def test_the_memory_tier_answers_first_and_is_filled_for_the_time_left_in_redis(
    redis: RedisServer,
) -> None:
    back = redis_cache(redis)
    front = MemoryCache(max_entries=100, max_bytes=1 << 20)
    cache = TieredCache(front, back)
    try:
        await back.set_many({("g", "v"): b"shared"}, ttl=3)  # written by another replica
        found = await cache.get_many([("g", "v")])
        assert found[("g", "v")].data == b"shared" and back.stats.round_trips == 2
        assert 0 < front.get_now([("g", "v")])[("g", "v")].ttl <= 3
        assert (await cache.get_many([("g", "v")]))[("g", "v")].data == b"shared"
        assert back.stats.round_trips == 2  # from memory
        await cache.delete_many(["g"])
        assert await cache.get_many([("g", "v")]) == {} and len(front) == 0
        await cache.set_many({("g", "w"): b"both"}, ttl=30)
        assert len(front) == 1 and (await back.get_many([("g", "w")]))[("g", "w")].data == b"both"
        await cache.clear("")
        assert len(front) == 0 and await back.get_many([("g", "w")]) == {}
    finally:
        await cache.close()


async def test_the_two_tiers_keep_answering_from_memory_when_redis_is_down(redis: RedisServer) -> None:
    back = redis_cache(redis)
    front = MemoryCache(max_entries=100, max_bytes=1 << 20)
    cache = TieredCache(front, back)
    try:
        await cache.set_many({("g", "v"): b"1"}, ttl=30)
        await redis.stop()
        assert (await cache.get_many([("g", "v")]))[("g", "v")].data == b"1"
        assert await cache.get_many([("g", "x")]) == {}
        assert back.stats.errors == 1
    finally:
        await cache.close()
