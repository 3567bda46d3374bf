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


def test_bytes_evict_least_recently_used_and_the_same_object_is_shared() -> None:
    cache: Cache[str, bytes] = Cache("hot", max_entries=100, max_bytes=300, size=len,
                                     max_entry=200)
    for key in "abc":
        cache.put(key, key.encode() * 100)
    assert cache.get("a") is not None
    data = b"d" * 100
    cache.put("d", data)
    assert cache.get("b") is None and cache.get("a") and cache.get("d") is data
    assert cache.bytes == 300 and cache.evictions == 1


def test_replacing_and_discarding_keep_the_byte_count_right() -> None:
    cache: Cache[str, bytes] = Cache("hot", max_entries=100, max_bytes=1000, size=len)
    cache.put("p/1", b"x" * 10)
    cache.put("p/1", b"x" * 20)
    cache.put("p/2", b"x" * 5)
    cache.put("q/1", b"x" * 7)
    assert cache.bytes == 32
    cache.discard_where(lambda key: key.startswith("p/"))
    assert cache.bytes == 7 and len(cache) == 1 and cache.evictions == 0


def test_idle_entries_expire_after_their_last_use() -> None:
    clock = FakeClock()
    cache: Cache[str, int] = Cache("i", max_entries=10, idle=10.0, clock=clock)
    cache.put("used", 1)
    cache.put("unused", 2)
    for _ in range(3):
        clock.advance(6.0)
        assert cache.get("used") == 1  # each use keeps it another 10 s
    assert cache.get("unused") is None
    clock.advance(10.0)
    assert cache.expire() == 1 and len(cache) == 0
    with pytest.raises(ValueError):
        Cache("both", max_entries=1, ttl=1.0, idle=1.0)


class _Budget:
    name = "tempdir"
    used = 5
    limit = 10


def test_caches_make_register_and_list_caches_and_budgets() -> None:
    caches = Caches()
    made: Cache[str, bytes] = caches.new("made", max_entries=3, max_bytes=10, size=len)
    other: Cache[str, int] = Cache("other", max_entries=1)
    assert caches.add(other) is other
    budget = caches.budget(_Budget())
    assert [c.name for c in caches] == ["made", "other"] and caches.budgets == (budget,)
    assert made.max_bytes == 10
    with pytest.raises(ValueError):
        caches.new("tempdir", max_entries=1)  # a budget's name is taken too
