import pytest

from hlsd.infra.cache import Cache, Caches
from tests._support.clock import FakeClock


def test_entries_bound_evicts_least_recently_used_and_counts() -> None:
    cache: Cache[str, int] = Cache("c", max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # b is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache), cache.evictions) == (1, 3, 2, 1)


def test_byte_bound_counts_sizes_and_refuses_an_entry_too_big() -> None:
    cache: Cache[str, bytes] = Cache("b", max_entries=100, max_bytes=100, size=len,
                                     max_entry=50)
    for key in "abc":
        assert cache.put(key, b"x" * 40)
    assert cache.bytes == 80 and "a" not in cache and cache.evictions == 1
    assert not cache.put("b", b"x" * 51)  # too big: refused, and the older value dropped
    assert cache.get("b") is None and cache.bytes == 40


def test_ttl_and_per_entry_expiry_follow_the_clock() -> None:
    clock = FakeClock()
    cache: Cache[str, str] = Cache("t", max_entries=10, ttl=5.0, clock=clock)
    cache.put("short", "s", expires=clock() + 1.0)
    cache.put("default", "d")
    clock.advance(2.0)
    assert cache.get("short") is None and cache.get("default") == "d"
    clock.advance(4.0)
    assert cache.get("default") is None and len(cache) == 0


def test_discard_where_and_pop() -> None:
    cache: Cache[str, int] = Cache("d", max_entries=10)
    for i, key in enumerate(["x/1", "x/2", "y/1"]):
        cache.put(key, i)
    assert cache.discard_where(lambda k: k.startswith("x/")) == 2
    assert cache.pop("y/1") == 2 and len(cache) == 0


def test_a_byte_bound_needs_a_size_and_names_are_unique() -> None:
    with pytest.raises(ValueError):
        Cache("bad", max_entries=1, max_bytes=10)
    caches = Caches()
    caches.add(Cache("one", max_entries=1))
    with pytest.raises(ValueError):
        caches.add(Cache("one", max_entries=1))
    assert [c.name for c in caches] == ["one"]
