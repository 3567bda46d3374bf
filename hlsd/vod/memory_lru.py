"""Hot segment bytes in memory, bounded in bytes, least recently used out.

Every listener of a segment is sent the same ``bytes`` object: no copy per request.
"""

from __future__ import annotations

from collections import OrderedDict


class MemoryLRU:
    def __init__(self, *, name: str, max_bytes: int, max_entry: int,
                 max_entries: int = 100_000) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.max_entry = min(max_entry, max_bytes)
        self.max_entries = max_entries
        self.bytes = 0
        self.evictions = 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        data = self._entries.get(key)
        if data is not None:
            self._entries.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Keep `data` unless it alone is too big to be worth a place."""
        if len(data) > self.max_entry:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old)
        while self._entries and (self.bytes + len(data) > self.max_bytes
                                 or len(self._entries) >= self.max_entries):
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted)
            self.evictions += 1
        self._entries[key] = data
        self.bytes += len(data)

    def discard_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            self.bytes -= len(self._entries.pop(key))
