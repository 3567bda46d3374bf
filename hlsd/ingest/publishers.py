"""Who pushes a stream, and how many stream ids one publish key may push at once.

A publish key is never kept, logged or shown: a publisher carries the key's
fingerprint, a short keyed hash (`hlsd.auth.keys.fingerprint`), which tells keys apart
without revealing any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hlsd.ingest.errors import PushQuota
from hlsd.streams import PublisherKind

MAX_STREAMS_PER_KEY_SETTING = "live.max_streams_per_key"


@dataclass(frozen=True, slots=True)
class Publisher:
    """`identity` is what the stream hub compares (its publish policy): the client's
    address and its key's fingerprint. `key` is the fingerprint alone, None for a
    keyless publisher (loopback, with no keys configured), which no per-key limit
    counts. `kind`: HTTP push, or LiveMix's playlist API (which commits through it)."""

    identity: str
    key: str | None = None
    kind: PublisherKind = PublisherKind.HTTP


class KeyQuota:
    """Stream ids held per publish key, at most `limit` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, set[str]] = {}

    def held(self, key: str) -> int:
        return len(self._held.get(key, ()))

    def full(self, stream_id: str, key: str | None) -> bool:
        """Whether `key` may not take `stream_id` on (it holds its limit of others)."""
        if key is None:
            return False
        held = self._held.get(key, set())
        return stream_id not in held and len(held) >= self.limit

    def claim(self, stream_id: str, key: str | None) -> None:
        """Count `stream_id` against `key`; refused (429) past the limit."""
        if key is None:
            return
        if self.full(stream_id, key):
            raise PushQuota(
                f"this publish key already pushes {self.limit} streams, the most one key "
                f"may push at once ({MAX_STREAMS_PER_KEY_SETTING})",
                limit=MAX_STREAMS_PER_KEY_SETTING)
        self._held.setdefault(key, set()).add(stream_id)

    def release(self, stream_id: str, key: str | None) -> None:
        if key is None:
            return
        held = self._held.get(key)
        if held is not None:
            held.discard(stream_id)
            if not held:
                del self._held[key]
