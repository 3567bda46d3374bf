"""The one in-memory cache type: bounded in entries (and in bytes when told how to size
a value), least recently used out, optionally expiring; built on cachetools.

Every cache is named and registered with a `Caches` collection (one per app, held by
`hlsd.metrics.Metrics`), which `/metrics` reads at scrape time (bytes, bounds, entries,
evictions), so no cache goes unreported; the disk caches (`infra.disk_cache.DiskLRU`)
and disk budgets (`infra.disk_budget.DiskBudget`) are registered there too.

Staleness is always explicit: a cache either holds what cannot go stale (immutable bytes
under a unique key), or expires entries (`ttl`, or an `expires` per entry), or its owner
invalidates them (`pop`, `discard_where`). Not thread-safe: caches live on the event loop
(as every caller does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import cachetools

__all__ = ["Budget", "Cache", "Caches", "Reported"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")


class _Entry:
    """A value of a cache that expires: when (`expires`, on the cache's clock), or,
    for an idle-expiring cache, when it was last used. Mutable, so that a use is one
    float stored, not the entry put again."""

    __slots__ = ("stamp", "value")

    def __init__(self, value: Any, stamp: float) -> None:
        self.value = value
        self.stamp = stamp


class _Evicting(cachetools.LRUCache[Any, Any]):
    """Counts what it evicts to make room (not what is removed or replaced)."""

    evictions = 0

    def popitem(self) -> tuple[Any, Any]:
        item = super().popitem()
        self.evictions += 1
        return item


class Cache(Generic[K, V]):
    """`max_entries` always bounds it; `max_bytes` with `size` bounds the sum of
    ``size(value)`` too, and a value larger than `max_entry` is not kept (one huge
    entry would flush everything else). With `ttl` (seconds) or a per-entry expiry
    given to `put`, entries expire on the cache's `clock`; with `idle` (seconds), an
    entry expires that long after its last use (`get` or `put`).

    One least-recently-used store for every kind: an entry that expires carries its
    deadline (or last use) and is dropped when it is next looked at, or by `expire`;
    a use costs a clock read and a float stored, never a re-insertion (playback looks
    caches up on every request)."""

    def __init__(self, name: str, *, max_entries: int, max_bytes: int | None = None,
                 size: Callable[[V], int] | None = None, max_entry: int | None = None,
                 ttl: float | None = None, idle: float | None = None, timed: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if (max_bytes is None) != (size is None):
            raise ValueError("a byte bound needs a size function, and the other way round")
        if ttl is not None and idle is not None:
            raise ValueError("an entry expires after a fixed time (ttl) or when idle, not both")
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes if max_bytes is not None else 0
        self.max_entry = min(max_entry or self.max_bytes, self.max_bytes) if size else 0
        self._size = size
        self._ttl = ttl
        self._idle = idle
        self._timed = timed or ttl is not None or idle is not None
        inner_size = max_bytes if max_bytes is not None else max_entries
        measure: Callable[[Any], int] | None = size
        if self._timed and size is not None:
            measure = lambda entry: size(entry.value)  # noqa: E731
        self._inner = _Evicting(inner_size, getsizeof=measure)
        self._clock = clock

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, key: K) -> bool:
        found = self._inner.get(key)
        return found is not None and (not self._timed or not self._stale(found, self._clock()))

    def __iter__(self) -> Iterator[K]:
        return iter([key for key in list(self._inner) if key in self])

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
        now = self._clock()
        if self._stale(found, now):
            del self._inner[key]
            return None
        if self._idle is not None:  # a use: it lives on from now
            found.stamp = now
        return found.value  # type: ignore[no-any-return]

    def put(self, key: K, value: V, *, expires: float | None = None) -> bool:
        """Keep `value` (False when it is too big to be worth a place). `expires`, on
        the cache's clock, overrides the cache's `ttl` for this entry."""
        if self._size is not None and self._size(value) > self.max_entry:
            self._inner.pop(key, None)  # an older, smaller value would now be wrong
            return False
        if self._timed:
            now = self._clock()
            if self._idle is not None:
                self._inner[key] = _Entry(value, now)
            else:
                if expires is None:
                    expires = now + self._ttl if self._ttl is not None else _NEVER
                if expires <= now:  # already over: nothing to keep
                    self._inner.pop(key, None)
                    return True
                self._inner[key] = _Entry(value, expires)
        else:
            self._inner[key] = value
        while len(self._inner) > self.max_entries:
            self._inner.popitem()
        return True

    def pop(self, key: K) -> V | None:
        found = self._inner.pop(key, None)
        if found is None or not self._timed:
            return found  # type: ignore[no-any-return]
        return None if self._stale(found, self._clock()) else found.value

    def discard_where(self, doomed: Callable[[K], bool]) -> int:
        """Remove every entry whose key `doomed` picks; how many went."""
        keys = [key for key in list(self._inner) if doomed(key)]
        for key in keys:
            self._inner.pop(key, None)
        return len(keys)

    def expire(self) -> int:
        """Drop expired entries now (they are dropped when looked at anyway)."""
        if not self._timed:
            return 0
        now = self._clock()
        stale = [key for key, entry in list(self._inner.items()) if self._stale(entry, now)]
        for key in stale:
            del self._inner[key]
        return len(stale)

    def clear(self) -> None:
        self._inner.clear()

    def _stale(self, entry: _Entry, now: float) -> bool:
        if self._idle is not None:
            return now - entry.stamp >= self._idle
        return now >= entry.stamp


class Reported(Protocol):
    """What `/metrics` reads of a cache, in memory (`Cache`) or on disk (`DiskLRU`)."""

    name: str

    @property
    def bytes(self) -> int: ...

    @property
    def max_bytes(self) -> int: ...

    @property
    def max_entries(self) -> int: ...

    @property
    def evictions(self) -> int: ...

    def __len__(self) -> int: ...


class Budget(Protocol):
    """What `/metrics` reads of a byte ceiling for work in progress (`DiskBudget`)."""

    name: str

    @property
    def used(self) -> int: ...

    @property
    def limit(self) -> int: ...


R = TypeVar("R", bound=Reported)
B = TypeVar("B", bound=Budget)


class Caches:
    """Every cache and disk budget of one app, for `/metrics`: `new` makes an in-memory
    cache and registers it, `add` registers one made elsewhere (a `DiskLRU`), `budget`
    a `DiskBudget`. Names are unique: they are the metrics' ``cache`` label."""

    def __init__(self) -> None:
        self._all: list[Reported] = []
        self._budgets: list[Budget] = []

    def new(self, name: str, *, max_entries: int, max_bytes: int | None = None,
            size: Callable[[V], int] | None = None, max_entry: int | None = None,
            ttl: float | None = None, idle: float | None = None, timed: bool = False,
            clock: Callable[[], float] = time.monotonic) -> Cache[K, V]:
        """A `Cache` (see its arguments), registered."""
        return self.add(Cache(name, max_entries=max_entries, max_bytes=max_bytes, size=size,
                              max_entry=max_entry, ttl=ttl, idle=idle, timed=timed,
                              clock=clock))

    def for_bytes(self, name: str, max_bytes: int, *,
                  max_entries: int = 100_000) -> Cache[K, bytes]:
        """A registered cache of `bytes` values (segments, files): bounded by their total
        length, an entry at most an eighth of it, `max_entries` (the bytes bind first)."""
        return self.new(name, max_entries=max_entries, max_bytes=max_bytes, size=len,
                        max_entry=max(1, max_bytes // 8))

    def add(self, cache: R) -> R:
        self._check(cache.name)
        self._all.append(cache)
        return cache

    def budget(self, budget: B) -> B:
        self._check(budget.name)
        self._budgets.append(budget)
        return budget

    def _check(self, name: str) -> None:
        if any(c.name == name for c in self._all) or any(b.name == name
                                                         for b in self._budgets):
            raise ValueError(f"two caches named {name!r}")

    def __iter__(self) -> Iterator[Reported]:
        return iter(list(self._all))

    @property
    def budgets(self) -> tuple[Budget, ...]:
        return tuple(self._budgets)
