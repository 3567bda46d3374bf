"""The one in-memory cache type: bounded in entries (and in bytes when told how to size
a value), least recently used out, optionally expiring; built on cachetools.

Every cache is named and registered with a `Caches` collection, which `/metrics` reads
at scrape time (bytes, bounds, entries, evictions), so no cache goes unreported.
Not thread-safe: caches live on the event loop (as every caller does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

import cachetools

__all__ = ["Cache", "Caches"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")


class _Timed(NamedTuple):
    value: Any
    expires: float


class _Evicting(cachetools.LRUCache[Any, Any]):
    """Counts what it evicts to make room (not what is removed or replaced)."""

    evictions = 0

    def popitem(self) -> tuple[Any, Any]:
        item = super().popitem()
        self.evictions += 1
        return item


class _EvictingTimed(cachetools.TLRUCache[Any, Any]):
    evictions = 0

    def popitem(self) -> tuple[Any, Any]:
        item = super().popitem()
        self.evictions += 1
        return item


class Cache(Generic[K, V]):
    """`max_entries` always bounds it; `max_bytes` with `size` bounds the sum of
    ``size(value)`` too, and a value larger than `max_entry` is not kept (one huge
    entry would flush everything else). With `ttl` (seconds) or a per-entry expiry
    given to `put`, entries expire on the cache's `clock`."""

    def __init__(self, name: str, *, max_entries: int, max_bytes: int | None = None,
                 size: Callable[[V], int] | None = None, max_entry: int | None = None,
                 ttl: float | None = None, timed: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if (max_bytes is None) != (size is None):
            raise ValueError("a byte bound needs a size function, and the other way round")
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes if max_bytes is not None else 0
        self.max_entry = min(max_entry or self.max_bytes, self.max_bytes) if size else 0
        self._size = size
        self._ttl = ttl
        self._timed = timed or ttl is not None
        inner_size = max_bytes if max_bytes is not None else max_entries
        self._inner: _Evicting | _EvictingTimed
        if self._timed:
            measure = (lambda entry: size(entry.value)) if size is not None else None
            self._inner = _EvictingTimed(inner_size, ttu=lambda _k, entry, _now: entry.expires,
                                         timer=clock, getsizeof=measure)
        else:
            self._inner = _Evicting(inner_size, getsizeof=size)
        self._clock = clock

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, key: K) -> bool:
        return key in self._inner

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._inner))

    @property
    def bytes(self) -> int:
        return int(self._inner.currsize) if self._size is not None else 0

    @property
    def evictions(self) -> int:
        return self._inner.evictions

    def get(self, key: K) -> V | None:
        try:
            found = self._inner[key]  # one lookup (cachetools' get makes two)
        except KeyError:
            return None
        if not self._timed:
            return found  # type: ignore[no-any-return]
        return found.value  # type: ignore[no-any-return]

    def put(self, key: K, value: V, *, expires: float | None = None) -> bool:
        """Keep `value` (False when it is too big to be worth a place). `expires`, on
        the cache's clock, overrides the cache's `ttl` for this entry."""
        if self._size is not None and self._size(value) > self.max_entry:
            self._inner.pop(key, None)  # an older, smaller value would now be wrong
            return False
        if self._timed:
            if expires is None:
                expires = self._clock() + self._ttl if self._ttl is not None else _NEVER
            self._inner[key] = _Timed(value, expires)
        else:
            self._inner[key] = value
        while len(self._inner) > self.max_entries:
            self._inner.popitem()
        return True

    def pop(self, key: K) -> V | None:
        found = self._inner.pop(key, None)
        if found is None or not self._timed:
            return found  # type: ignore[no-any-return]
        return found.value  # type: ignore[no-any-return]

    def discard_where(self, doomed: Callable[[K], bool]) -> int:
        """Remove every entry whose key `doomed` picks; how many went."""
        keys = [key for key in list(self._inner) if doomed(key)]
        for key in keys:
            self._inner.pop(key, None)
        return len(keys)

    def expire(self) -> int:
        """Drop expired entries now (they are dropped on access anyway)."""
        if isinstance(self._inner, _EvictingTimed):
            return len(self._inner.expire())
        return 0

    def clear(self) -> None:
        self._inner.clear()


class Caches:
    """Every cache of one app, for `/metrics`: `add` registers and returns it."""

    def __init__(self) -> None:
        self._all: list[Cache[Any, Any]] = []

    def add(self, cache: Cache[K, V]) -> Cache[K, V]:
        if any(c.name == cache.name for c in self._all):
            raise ValueError(f"two caches named {cache.name!r}")
        self._all.append(cache)
        return cache

    def __iter__(self) -> Iterator[Cache[Any, Any]]:
        return iter(self._all)
