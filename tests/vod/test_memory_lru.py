from hlsd.vod.memory_lru import MemoryLRU


def test_bounded_by_bytes_lru_first() -> None:
    cache = MemoryLRU(name="hot", max_bytes=300, max_entry=200)
    for key in "abc":
        cache.put(key, key.encode() * 100)
    assert cache.get("a") is not None
    cache.put("d", b"d" * 100)
    assert cache.get("b") is None and cache.get("a") and cache.get("d")
    assert cache.bytes == 300 and cache.evictions == 1


def test_oversized_entries_are_not_kept() -> None:
    cache = MemoryLRU(name="hot", max_bytes=1000, max_entry=10)
    cache.put("big", b"x" * 11)
    assert cache.get("big") is None and cache.bytes == 0


def test_the_same_object_is_shared() -> None:
    cache = MemoryLRU(name="hot", max_bytes=1000, max_entry=100)
    data = b"segment"
    cache.put("k", data)
    assert cache.get("k") is data


def test_replacing_and_discarding_keep_the_count_right() -> None:
    cache = MemoryLRU(name="hot", max_bytes=1000, max_entry=100)
    cache.put("p/1", b"x" * 10)
    cache.put("p/1", b"x" * 20)
    cache.put("p/2", b"x" * 5)
    cache.put("q/1", b"x" * 7)
    assert cache.bytes == 32
    cache.discard_prefix("p/")
    assert cache.bytes == 7 and len(cache) == 1


def test_bounded_by_entries_too() -> None:
    cache = MemoryLRU(name="hot", max_bytes=1000, max_entry=100, max_entries=2)
    for key in "abc":
        cache.put(key, b"x")
    assert len(cache) == 2 and cache.get("a") is None
