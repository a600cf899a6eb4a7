"""gateway.cache.memory: a bounded LRU of bytes — entries and bytes bounded, evictions counted, TTL kept."""

from __future__ import annotations

from gateway.cache import Hit, MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_least_recently_used_entries_go_first_when_entries_are_bounded() -> None:
    cache = MemoryCache(max_entries=2, max_bytes=1 << 20, clock=Clock())
    await cache.set_many({("g:1", ""): b"one", ("g:2", ""): b"two"}, ttl=10)
    assert await cache.get_many([("g:1", "")]) == {("g:1", ""): Hit(b"one", 10)}  # g:1 is now the most recent
    await cache.set_many({("g:3", ""): b"three"}, ttl=10)
    assert set(await cache.get_many([("g:1", ""), ("g:2", ""), ("g:3", "")])) == {("g:1", ""), ("g:3", "")}
    assert (len(cache), cache.evictions) == (2, 1)


async def test_bytes_are_bounded_too_and_an_entry_larger_than_the_bound_is_not_kept() -> None:
    # 120 bytes of overhead per entry, plus the key and the value
    cache = MemoryCache(max_entries=100, max_bytes=2 * (120 + 3 + 100), clock=Clock())
    await cache.set_many({("g:1", ""): b"a" * 100, ("g:2", ""): b"b" * 100}, ttl=10)
    assert (len(cache), cache.bytes, cache.evictions) == (2, 446, 0)
    await cache.set_many({("g:3", ""): b"c" * 100}, ttl=10)
    assert set(await cache.get_many([("g:1", ""), ("g:2", ""), ("g:3", "")])) == {("g:2", ""), ("g:3", "")}
    assert (cache.bytes, cache.evictions) == (446, 1)
    await cache.set_many({("g:4", ""): b"d" * 1000}, ttl=10)
    assert (len(cache), await cache.get_many([("g:4", "")]), cache.evictions) == (2, {}, 1)


async def test_entries_expire_and_report_the_time_they_have_left() -> None:
    clock = Clock()
    cache = MemoryCache(max_entries=10, max_bytes=1 << 20, clock=clock)
    await cache.set_many({("g:1", ""): b"x"}, ttl=5)
    await cache.set_many({("g:2", ""): b"y"}, ttl=1)
    clock.now += 2
    assert await cache.get_many([("g:1", ""), ("g:2", "")]) == {("g:1", ""): Hit(b"x", 3)}
    assert (len(cache), cache.evictions) == (1, 0)  # expired, not evicted
    await cache.set_many({("g:3", ""): b"z"}, ttl=0)  # a zero max age caches nothing
    assert len(cache) == 1


async def test_a_group_is_evicted_whole_and_clear_takes_a_namespace() -> None:
    cache = MemoryCache(max_entries=10, max_bytes=1 << 20, clock=Clock())
    await cache.set_many(
        {
            ("v1:Product:7", "a"): b"1",
            ("v1:Product:7", "b"): b"2",
            ("v1:Product:8", "a"): b"3",
            ("v2:Product:7", "a"): b"4",
        },
        ttl=10,
    )
    await cache.delete_many(["v1:Product:7"])
    keys = [("v1:Product:7", "a"), ("v1:Product:7", "b"), ("v1:Product:8", "a"), ("v2:Product:7", "a")]
    assert set(await cache.get_many(keys)) == {("v1:Product:8", "a"), ("v2:Product:7", "a")}
    await cache.clear("v1:")
    assert set(await cache.get_many(keys)) == {("v2:Product:7", "a")}
    await cache.clear("")
    assert (len(cache), cache.bytes) == (0, 0)


async def test_writing_a_key_again_replaces_it_without_counting_it_twice() -> None:
    cache = MemoryCache(max_entries=10, max_bytes=1 << 20, clock=Clock())
    await cache.set_many({("g", "v"): b"old"}, ttl=10)
    await cache.set_many({("g", "v"): b"newer"}, ttl=20)
    assert await cache.get_many([("g", "v")]) == {("g", "v"): Hit(b"newer", 20)}
    assert (len(cache), cache.bytes) == (1, 120 + 2 + 5)
