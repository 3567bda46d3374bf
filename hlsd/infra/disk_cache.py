"""`DiskLRU`: a directory of files bounded in bytes and entries, evicting least recently
used, registered with the app's `Caches` for `/metrics` like the in-memory ones.

Used for fetched sources (``cache.dir``: ``cache.size``, ``cache.limit``) and produced
segments (``cache.static``: ``cache.killsize.static``). Files enter whole by rename, so a
reader never sees a partial file. Several server processes may share one directory:
each keeps its own recency order and trusts the disk for existence.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hlsd.infra.disk_budget import DiskFull

__all__ = ["DiskLRU"]

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_.-]{1,80})?$")
_TOUCH_EVERY = 60.0
"""Seconds between mtime updates of a hot entry: recency survives a restart without a
syscall on every hit."""


@dataclass(slots=True)
class _Entry:
    size: int
    used: float
    touched: float


class DiskLRU:
    """Staleness: entries are immutable files under keys that name their content (a
    source's digest, a segment of it); idle ones are removed by `expire`."""

    def __init__(self, root: Path, *, name: str, max_bytes: int, max_entries: int,
                 clock: Callable[[], float] = time.time,
                 on_evict: Callable[[str, int], None] | None = None) -> None:
        self.root = root
        self.name = name
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._clock = clock
        self._on_evict = on_evict
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0
        self.evictions = 0
        self.root.mkdir(parents=True, exist_ok=True)
        self._scan()

    def __len__(self) -> int:
        return len(self._entries)

    def path_for(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"invalid cache key: {key!r}")
        return self.root / key

    def get(self, key: str) -> Path | None:
        """The file for `key`, marking it used; None when absent."""
        path = self.path_for(key)
        entry = self._entries.get(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            if entry is not None:
                self._forget(key)
            return None
        now = self._clock()
        if entry is None:
            # Another process put it there.
            entry = _Entry(size=size, used=now, touched=now)
            self._entries[key] = entry
            self.bytes += size
        else:
            entry.used = now
            self._entries.move_to_end(key)
        if now - entry.touched > _TOUCH_EVERY:
            entry.touched = now
            os.utime(path, (now, now))
        return path

    def put(self, key: str, source: Path) -> Path:
        """Move `source` (same filesystem) in as `key`, evicting others to fit."""
        size = source.stat().st_size
        if size > self.max_bytes:
            source.unlink(missing_ok=True)
            raise DiskFull(
                f"{self.name}: an entry of {size} bytes exceeds the limit of {self.max_bytes}")
        path = self.path_for(key)
        self._make_room(size, keep=key)
        # After eviction: it may have removed the last entry of this key's folder.
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, path)
        if key in self._entries:
            self.bytes -= self._entries.pop(key).size
        now = self._clock()
        self._entries[key] = _Entry(size=size, used=now, touched=now)
        self.bytes += size
        return path

    def remove(self, key: str) -> None:
        if key in self._entries:
            self._forget(key)
        self.path_for(key).unlink(missing_ok=True)

    def expire(self, idle: float) -> int:
        """Delete entries unused for `idle` seconds; returns how many went."""
        cutoff = self._clock() - idle
        stale = [k for k, e in self._entries.items() if e.used < cutoff]
        for key in stale:
            self._evict(key)
        return len(stale)

    def _make_room(self, incoming: int, *, keep: str) -> None:
        for key in list(self._entries):
            over_bytes = self.bytes + incoming > self.max_bytes
            over_count = len(self._entries) + 1 > self.max_entries
            if not (over_bytes or over_count):
                return
            if key != keep:
                self._evict(key)

    def _evict(self, key: str) -> None:
        size = self._entries[key].size
        self._forget(key)
        path = self.path_for(key)
        path.unlink(missing_ok=True)
        if path.parent != self.root:
            with contextlib.suppress(OSError):  # not empty: the group has other entries
                path.parent.rmdir()
        self.evictions += 1
        if self._on_evict is not None:
            self._on_evict(key, size)

    def _forget(self, key: str) -> None:
        self.bytes -= self._entries.pop(key).size

    def _scan(self) -> None:
        found: list[tuple[float, str, int]] = []
        for path in self.root.rglob("*"):
            if not path.is_file():
                continue
            key = path.relative_to(self.root).as_posix()
            if not _KEY.match(key):
                continue  # not ours: an operator's file in a shared folder stays put
            st = path.stat()
            found.append((st.st_mtime, key, st.st_size))
        for mtime, key, size in sorted(found):
            self._entries[key] = _Entry(size=size, used=mtime, touched=mtime)
            self.bytes += size
        if found:
            log.info("%s: %d entries, %d bytes on disk", self.name, len(found), self.bytes)

