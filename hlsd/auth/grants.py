"""Verified (subject, token) pairs, remembered until they expire.

Playback repeats the same pair every few seconds; the HMACs need not repeat. Only
successful verifications are kept, keyed by the exact strings, bounded in count; each
expires with its token (staleness: the token's own expiry, on the signer's clock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from hlsd.infra.cache import Cache, Caches

V = TypeVar("V")


class GrantCache(Generic[V]):
    """With `caches`, registered there under `name` (so `/metrics` shows it)."""

    def __init__(self, *, now: Callable[[], float], max_entries: int = 10_000,
                 caches: Caches | None = None, name: str = "grants") -> None:
        self._entries: Cache[tuple[str, str], V] = Cache(name, max_entries=max_entries,
                                                          timed=True, clock=now)
        if caches is not None:
            caches.add(self._entries)

    def get(self, subject: str, token: str) -> V | None:
        return self._entries.get((subject, token))

    def put(self, subject: str, token: str, until: float, value: V) -> None:
        self._entries.put((subject, token), value, expires=until)
