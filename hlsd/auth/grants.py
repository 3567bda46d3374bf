"""Verified (subject, token) pairs, remembered until they expire.

Playback repeats the same pair every few seconds; the HMACs need not repeat. Only
successful verifications are kept, keyed by the exact strings, bounded in count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class GrantCache(Generic[V]):
    def __init__(self, *, now: Callable[[], float], max_entries: int = 10_000) -> None:
        self._now = now
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, V]] = OrderedDict()

    def get(self, subject: str, token: str) -> V | None:
        entry = self._entries.get((subject, token))
        if entry is None:
            return None
        if self._now() >= entry[0]:
            del self._entries[(subject, token)]
            return None
        return entry[1]

    def put(self, subject: str, token: str, until: float, value: V) -> None:
        self._entries[(subject, token)] = (until, value)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
